//! CSRF protection for the forms: a random value in a private (encrypted, signed) cookie,
//! repeated in a hidden form field; a POST whose field does not match is refused.
//!
//! A cross-site page can make the browser send the cookie but can neither read it nor the
//! form, so it cannot supply the matching field.

use rocket::http::{Cookie, CookieJar, SameSite};

use super::credentials::{constant_time_eq, new_token};

const COOKIE: &str = "stpt_csrf";

/// The value to put into a form, creating the cookie on first use.
pub(crate) fn token(cookies: &CookieJar<'_>, secure: bool) -> String {
    if let Some(cookie) = cookies.get_private(COOKIE) {
        return cookie.value().to_owned();
    }
    let value = new_token();
    let cookie = Cookie::build((COOKIE, value.clone()))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict);
    cookies.add_private(cookie);
    value
}

/// Whether a submitted form's value matches the cookie.
pub(crate) fn verify(cookies: &CookieJar<'_>, submitted: &str) -> bool {
    cookies
        .get_private(COOKIE)
        .is_some_and(|cookie| !submitted.is_empty() && constant_time_eq(cookie.value(), submitted))
}
