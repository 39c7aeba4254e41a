//! The account pages: `/login/`, `/logout/` and the password reset of the seed
//! (`/password-reset/`, `/password-reset/done`, `/password-reset-confirm/<uid>/<token>/`,
//! `/password-reset-complete/`).
//!
//! Every form carries a CSRF value; logins are rate-limited per user name and per client
//! address; the reset form answers the same whether or not the account exists.

use std::time::Instant;

use askama::Template;
use rocket::form::{Form, FromForm};
use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::response::content::RawHtml;
use rocket::{Responder, State, get, post, routes};

use crate::access::client_addr::ClientAddr;
use crate::access::session::{self, SessionUser};
use crate::access::{csrf, mail};
use crate::db::{AccessError, AccessStore};
use crate::state::AppState;

/// One input of a form.
struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
}

/// A form on an account page.
struct FormView {
    action: String,
    csrf: String,
    next: Option<String>,
    fields: Vec<Field>,
    submit: &'static str,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    title: &'static str,
    error: Option<String>,
    intro: Vec<String>,
    form: Option<FormView>,
    links: Vec<(&'static str, &'static str)>,
}

impl AccountPage {
    fn new(title: &'static str) -> Self {
        AccountPage {
            title,
            error: None,
            intro: Vec::new(),
            form: None,
            links: Vec::new(),
        }
    }
}

/// A page with a status, or a redirect.
#[derive(Responder)]
enum Answer {
    Page((Status, RawHtml<String>)),
    Go(Box<Redirect>),
}

fn page(status: Status, view: &AccountPage) -> Answer {
    let html = view
        .render()
        .unwrap_or_else(|_| "the page could not be rendered".to_owned());
    Answer::Page((status, RawHtml(html)))
}

/// "30 seconds", "2 minutes": a wait as a person reads it, rounded up.
fn human_wait(wait: std::time::Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if seconds < 60 {
        format!("{seconds} second{}", if seconds == 1 { "" } else { "s" })
    } else {
        let minutes = seconds.div_ceil(60);
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

/// A path the browser may be sent to after logging in: local to this server only, so the
/// login page is no open redirect, and always a valid URI (a decoded `next` such as `/a b` or
/// `/ä` is encoded again); anything else goes to `/`.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else {
        return "/".to_owned();
    };
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if !local {
        return "/".to_owned();
    }
    let encoded: String = next
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'/'
            | b'?'
            | b'='
            | b'&' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    match rocket::http::uri::Origin::parse(&encoded) {
        Ok(_) => encoded,
        Err(_) => "/".to_owned(),
    }
}

/// `path`, percent-encoded for the `next` query parameter of the login page.
pub(crate) fn login_target(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn login_form(csrf: String, next: String) -> FormView {
    FormView {
        action: "/login/".to_owned(),
        csrf,
        next: Some(next),
        fields: vec![
            Field {
                name: "username",
                label: "User name",
                kind: "text",
                autocomplete: "username",
            },
            Field {
                name: "password",
                label: "Password",
                kind: "password",
                autocomplete: "current-password",
            },
        ],
        submit: "Log in",
    }
}

fn login_page(cookies: &CookieJar<'_>, secure: bool, next: String) -> AccountPage {
    AccountPage {
        form: Some(login_form(csrf::token(cookies, secure), next)),
        links: vec![("/password-reset/", "Forgot your password?")],
        ..AccountPage::new("Log in")
    }
}

fn expired_form(mut view: AccountPage) -> Answer {
    view.error = Some("The form has expired. Please try again.".to_owned());
    page(Status::Forbidden, &view)
}

async fn blocking<T: Send + 'static>(
    access: Option<AccessStore>,
    f: impl FnOnce(&AccessStore) -> Result<T, AccessError> + Send + 'static,
) -> Result<T, String> {
    let access = access.ok_or_else(|| "this server keeps no users".to_owned())?;
    crate::state::blocking(move || f(&access))
        .await
        .map_err(|e| format!("the task failed: {}", e.0))?
        .map_err(|e| match e {
            AccessError::WeakPassword | AccessError::InvalidName { .. } => e.to_string(),
            other => {
                tracing::error!(
                    "account operation failed: {}",
                    crate::api::DisplayChain(&other)
                );
                "The server could not do that; its log has the cause.".to_owned()
            }
        })
}

#[get("/login?<next>")]
fn get_login(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    next: Option<&str>,
    user: Option<SessionUser>,
) -> Answer {
    let mut view = login_page(cookies, state.security.secure_cookies, safe_next(next));
    if let Some(SessionUser(user)) = user {
        view.intro = vec![format!("You are logged in as {}.", user.name)];
        view.links.push(("/logout/", "Log out"));
    }
    page(Status::Ok, &view)
}

#[derive(FromForm)]
struct LoginForm<'r> {
    csrf: &'r str,
    username: &'r str,
    password: &'r str,
    next: Option<&'r str>,
}

#[post("/login", data = "<form>")]
async fn post_login(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    client: ClientAddr,
    form: Form<LoginForm<'_>>,
) -> Answer {
    let security = &state.security;
    let next = safe_next(form.next);
    let mut view = login_page(cookies, security.secure_cookies, next.clone());
    if !csrf::verify(cookies, form.csrf) {
        return expired_form(view);
    }
    let (address, user) = (client.key(), form.username.to_owned());
    if let Some(wait) = security.limiter.login_wait(&address, &user, Instant::now()) {
        view.error = Some(format!(
            "Too many failed attempts. Please wait {} and try again.",
            human_wait(wait)
        ));
        return page(Status::TooManyRequests, &view);
    }
    let (name, password) = (form.username.to_owned(), form.password.to_owned());
    let login = blocking(security.access.clone(), move |a| {
        let Some(user) = a.login(&name, &password)? else {
            return Ok(None);
        };
        a.start_session(user.id, session::SESSION_LIFETIME)
            .map(Some)
    })
    .await;
    match login {
        Ok(Some(token)) => {
            security.limiter.login_succeeded(&address, &user);
            session::set_cookie(cookies, token, security.secure_cookies);
            Answer::Go(Box::new(Redirect::to(next)))
        }
        Ok(None) => {
            security
                .limiter
                .login_failed(&address, &user, Instant::now());
            view.error = Some("Wrong user name or password.".to_owned());
            page(Status::Unauthorized, &view)
        }
        Err(error) => {
            view.error = Some(error);
            page(Status::ServiceUnavailable, &view)
        }
    }
}

fn logout_page(cookies: &CookieJar<'_>, secure: bool) -> AccountPage {
    AccountPage {
        intro: vec!["End this browser's session?".to_owned()],
        form: Some(FormView {
            action: "/logout/".to_owned(),
            csrf: csrf::token(cookies, secure),
            next: None,
            fields: Vec::new(),
            submit: "Log out",
        }),
        ..AccountPage::new("Log out")
    }
}

#[get("/logout")]
fn get_logout(state: &State<AppState>, cookies: &CookieJar<'_>) -> Answer {
    page(
        Status::Ok,
        &logout_page(cookies, state.security.secure_cookies),
    )
}

#[derive(FromForm)]
struct CsrfOnly<'r> {
    csrf: &'r str,
}

#[post("/logout", data = "<form>")]
async fn post_logout(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    form: Form<CsrfOnly<'_>>,
) -> Answer {
    if !csrf::verify(cookies, form.csrf) {
        return expired_form(logout_page(cookies, state.security.secure_cookies));
    }
    if let Some(token) = session::token(cookies) {
        // Ended on the server: a copy of the cookie saved before is worthless now.
        if let Err(error) = blocking(state.security.access.clone(), move |access| {
            access.end_session(&token)
        })
        .await
        {
            let mut view = logout_page(cookies, state.security.secure_cookies);
            view.error = Some(error);
            return page(Status::ServiceUnavailable, &view);
        }
    }
    session::clear_cookie(cookies);
    Answer::Go(Box::new(Redirect::to("/login/")))
}

fn reset_request_page(cookies: &CookieJar<'_>, secure: bool) -> AccountPage {
    AccountPage {
        intro: vec![
            "Enter your user name. If the account has a mail address, a link to choose a new \
             password is sent to it."
                .to_owned(),
        ],
        form: Some(FormView {
            action: "/password-reset/".to_owned(),
            csrf: csrf::token(cookies, secure),
            next: None,
            fields: vec![Field {
                name: "username",
                label: "User name",
                kind: "text",
                autocomplete: "username",
            }],
            submit: "Send the link",
        }),
        ..AccountPage::new("Reset your password")
    }
}

#[get("/password-reset")]
fn get_password_reset(state: &State<AppState>, cookies: &CookieJar<'_>) -> Answer {
    page(
        Status::Ok,
        &reset_request_page(cookies, state.security.secure_cookies),
    )
}

#[derive(FromForm)]
struct ResetRequest<'r> {
    csrf: &'r str,
    username: &'r str,
}

#[post("/password-reset", data = "<form>")]
async fn post_password_reset(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    client: ClientAddr,
    form: Form<ResetRequest<'_>>,
) -> Answer {
    let security = &state.security;
    if !csrf::verify(cookies, form.csrf) {
        return expired_form(reset_request_page(cookies, security.secure_cookies));
    }
    // Every request counts, so the form cannot be used to flood a mailbox.
    let keys = [
        format!("reset-user:{}", form.username),
        format!("reset-ip:{}", client.key()),
    ];
    if security.limiter.blocked(&keys) {
        return Answer::Go(Box::new(Redirect::to("/password-reset/done")));
    }
    security.limiter.failed(&keys);
    let (Some(smtp), Some(base)) = (security.smtp.clone(), security.public_url.clone()) else {
        if security.smtp.is_some() {
            tracing::warn!("reset mail needs the public URL (STPT_PUBLIC_URL); not sent");
        }
        return Answer::Go(Box::new(Redirect::to("/password-reset/done")));
    };
    let name = form.username.to_owned();
    let ca_cert = security.ca_cert.clone();
    let sent = blocking(security.access.clone(), move |access| {
        let Some(user) = access.user_named(&name)? else {
            return Ok(());
        };
        let Some(email) = user.email.clone() else {
            return Ok(());
        };
        let Some(link) = access.create_reset_link(&name)? else {
            return Ok(());
        };
        let url = format!("{base}{}", link.path());
        if let Err(e) = mail::send_reset_link(&smtp, ca_cert.as_deref(), &email, &user.name, &url) {
            tracing::error!("cannot mail a reset link: {}", crate::api::DisplayChain(&e));
        }
        Ok(())
    })
    .await;
    if let Err(e) = sent {
        tracing::error!("reset request failed: {e}");
    }
    Answer::Go(Box::new(Redirect::to("/password-reset/done")))
}

#[get("/password-reset/done")]
fn get_password_reset_done() -> Answer {
    let view = AccountPage {
        intro: vec![
            "If the account exists and has a mail address, a link to choose a new password is \
             on its way. It works once, within the hour."
                .to_owned(),
            "No mail? Ask an administrator to run `stpt user reset-link <user>`.".to_owned(),
        ],
        links: vec![("/login/", "Back to the login")],
        ..AccountPage::new("Check your mail")
    };
    page(Status::Ok, &view)
}

fn new_password_page(cookies: &CookieJar<'_>, secure: bool, uid: i64, token: &str) -> AccountPage {
    AccountPage {
        form: Some(FormView {
            action: format!("/password-reset-confirm/{uid}/{token}/"),
            csrf: csrf::token(cookies, secure),
            next: None,
            fields: vec![
                Field {
                    name: "password",
                    label: "New password",
                    kind: "password",
                    autocomplete: "new-password",
                },
                Field {
                    name: "confirm",
                    label: "New password again",
                    kind: "password",
                    autocomplete: "new-password",
                },
            ],
            submit: "Set the password",
        }),
        ..AccountPage::new("Choose a new password")
    }
}

fn invalid_link() -> Answer {
    let view = AccountPage {
        intro: vec!["This link is not valid: it was used already, has expired or is wrong.".into()],
        links: vec![("/password-reset/", "Ask for a new link")],
        ..AccountPage::new("Invalid link")
    };
    page(Status::NotFound, &view)
}

#[get("/password-reset-confirm/<uid>/<token>")]
async fn get_reset_confirm(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    uid: i64,
    token: &str,
) -> Answer {
    let owned = token.to_owned();
    let usable = blocking(state.security.access.clone(), move |access| {
        access.reset_link_usable(uid, &owned)
    })
    .await;
    match usable {
        Ok(true) => page(
            Status::Ok,
            &new_password_page(cookies, state.security.secure_cookies, uid, token),
        ),
        _ => invalid_link(),
    }
}

#[derive(FromForm)]
struct NewPassword<'r> {
    csrf: &'r str,
    password: &'r str,
    confirm: &'r str,
}

#[post("/password-reset-confirm/<uid>/<token>", data = "<form>")]
async fn post_reset_confirm(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    uid: i64,
    token: &str,
    form: Form<NewPassword<'_>>,
) -> Answer {
    let mut view = new_password_page(cookies, state.security.secure_cookies, uid, token);
    if !csrf::verify(cookies, form.csrf) {
        return expired_form(view);
    }
    if form.password != form.confirm {
        view.error = Some("The two passwords differ.".to_owned());
        return page(Status::BadRequest, &view);
    }
    let (owned, password) = (token.to_owned(), form.password.to_owned());
    let done = blocking(state.security.access.clone(), move |access| {
        access.complete_reset(uid, &owned, &password)
    })
    .await;
    match done {
        Ok(true) => {
            // The new password ended every session of the user on the server already.
            session::clear_cookie(cookies);
            Answer::Go(Box::new(Redirect::to("/password-reset-complete/")))
        }
        Ok(false) => invalid_link(),
        Err(error) => {
            view.error = Some(error);
            page(Status::BadRequest, &view)
        }
    }
}

#[get("/password-reset-complete")]
fn get_password_reset_complete() -> Answer {
    let view = AccountPage {
        intro: vec!["Your password has been set. Every earlier login has ended.".to_owned()],
        links: vec![("/login/", "Log in")],
        ..AccountPage::new("Password set")
    };
    page(Status::Ok, &view)
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![
        get_login,
        post_login,
        get_logout,
        post_logout,
        get_password_reset,
        post_password_reset,
        get_password_reset_done,
        get_reset_confirm,
        post_reset_confirm,
        get_password_reset_complete
    ]
}
