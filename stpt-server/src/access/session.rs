//! Login sessions in a private cookie: Rocket encrypts and authenticates it with the server's
//! secret key, so its value (`<user id>:<issued at>`) cannot be read or forged.
//!
//! A session is valid while its user exists, it was issued after the user's last password
//! change, and it is younger than [`SESSION_LIFETIME`]. The main type here is [`SessionUser`],
//! a request guard for the logged-in user.

use std::time::Duration;

use rocket::Request;
use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::request::{FromRequest, Outcome};
use stpt_core::Timestamp;

use super::Security;
use crate::app::AppState;
use crate::db::User;

pub(crate) const COOKIE: &str = "stpt_session";

/// How long a login lasts.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub(crate) struct SessionUser(pub(crate) User);

/// Starts a session for `user`.
pub(crate) fn start(cookies: &CookieJar<'_>, user: &User, secure: bool) {
    let value = format!("{}:{}", user.id, Timestamp::now().as_micros());
    let max_age = rocket::time::Duration::seconds(
        i64::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(i64::MAX),
    );
    // Lax: sent when following a link to the server, never on cross-site subrequests such as
    // a foreign page's WebSocket or form POST.
    let cookie = Cookie::build((COOKIE, value))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age);
    cookies.add_private(cookie);
}

/// Ends the session.
pub(crate) fn end(cookies: &CookieJar<'_>) {
    cookies.remove_private(Cookie::build(COOKIE).path("/"));
}

/// The user of a request's session, if the session is valid.
pub(crate) async fn user_of(request: &Request<'_>, security: &Security) -> Option<User> {
    let cookie = request.cookies().get_private(COOKIE)?;
    let (id, issued) = cookie.value().split_once(':')?;
    let id: i64 = id.parse().ok()?;
    let issued: i64 = issued.parse().ok()?;
    let lifetime = i64::try_from(SESSION_LIFETIME.as_micros()).unwrap_or(i64::MAX);
    if Timestamp::now().as_micros().saturating_sub(issued) > lifetime {
        return None;
    }
    let access = security.access.clone()?;
    let user = rocket::tokio::task::spawn_blocking(move || access.user(id))
        .await
        .ok()?
        .ok()??;
    (issued >= user.sessions_since).then_some(user)
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
