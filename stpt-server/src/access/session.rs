//! Login sessions, held by the server: the browser's private cookie (encrypted and
//! authenticated with the server's secret key) carries a random session token, and the
//! database keeps its digest, its user and when it expires.
//!
//! A session is valid while its row exists and has not expired: a logout deletes it, a new
//! password deletes the user's sessions, and removing the user removes them (a cascade), so
//! a cookie saved earlier is worthless from that moment on. The main type here is
//! [`SessionUser`], a request guard for the logged-in user.

use std::time::Duration;

use rocket::Request;
use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::request::{FromRequest, Outcome};

use super::Security;
use crate::db::User;
use crate::state::AppState;

pub(crate) const COOKIE: &str = "stpt_session";

/// How long a login lasts.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub(crate) struct SessionUser(pub(crate) User);

/// Puts a session's token into the browser: `Max-Age` and `Expires` both say
/// [`SESSION_LIFETIME`], as the server does.
pub(crate) fn set_cookie(cookies: &CookieJar<'_>, token: String, secure: bool) {
    let seconds = i64::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(i64::MAX);
    let lifetime = rocket::time::Duration::seconds(seconds);
    // Lax: sent when following a link to the server, never on cross-site subrequests such as
    // a foreign page's WebSocket or form POST.
    let cookie = Cookie::build((COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(lifetime)
        .expires(rocket::time::OffsetDateTime::now_utc() + lifetime);
    cookies.add_private(cookie);
}

/// The session token a request's cookie carries, if any.
pub(crate) fn token(cookies: &CookieJar<'_>) -> Option<String> {
    cookies
        .get_private(COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

/// Forgets the session in the browser (the caller ends it on the server).
pub(crate) fn clear_cookie(cookies: &CookieJar<'_>) {
    cookies.remove_private(Cookie::build(COOKIE).path("/"));
}

/// The user of a request's session, if the session is live.
pub(crate) async fn user_of(request: &Request<'_>, security: &Security) -> Option<User> {
    let token = token(request.cookies())?;
    let access = security.access.clone()?;
    crate::state::blocking(move || access.session_user(&token))
        .await
        .ok()?
        .ok()?
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionUser {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let Some(state) = request.rocket().state::<AppState>() else {
            return Outcome::Forward(rocket::http::Status::Unauthorized);
        };
        // Computed once per request: the gate and a handler may both ask.
        let user = request
            .local_cache_async(async { user_of(request, &state.security).await })
            .await;
        match user {
            Some(user) => Outcome::Success(SessionUser(user.clone())),
            None => Outcome::Forward(rocket::http::Status::Unauthorized),
        }
    }
}
