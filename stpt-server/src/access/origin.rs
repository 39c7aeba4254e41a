//! Where a request may come from: the `Host` it names and, for writes, whether a browser on
//! another site could have sent it.
//!
//! - **Host.** A request whose `Host` is not one this server serves is refused with 421
//!   `misdirected_request`, so a DNS-rebinding page (a name of the attacker's pointing at this
//!   server) reads nothing. Served are: IP addresses (a browser reaches those only by asking
//!   for them), `localhost` and its subdomains, the host of `--public-url`, and every
//!   `--allowed-host`.
//! - **Writes.** A `POST` to the JSON API (`/tm_api/…`, `/api/…`)
//!   must carry `Content-Type: application/json` (or `application/x-ndjson`, a batch of
//!   events) or an `Authorization` header: a page on
//!   another site can send neither without the browser asking this server first (a CORS
//!   preflight, which it never grants), while a plain form or `text/plain` post it can. Such a
//!   request carrying the browser's login session and no `Authorization` must also repeat the
//!   session's CSRF value in `X-CSRF-Token`. A request whose `Origin` names another site is
//!   refused outright: a page's origin must be the host the request is sent to, or a host the
//!   server is named by (`--allowed-host`, `--public-url`); an address or a `localhost` name
//!   is not enough, since any site can be reached by one.
//!
//! The Host check is a fairing, so it covers every route; it re-routes a refused request to
//! [`refused`], which answers the JSON error. The write checks are a request guard,
//! [`SameSiteWrite`], on the handlers that write, so a method or path that takes no write
//! still answers 405 or 404 as it would.

use std::net::IpAddr;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Data, Request, get, routes};

use super::{csrf, session};
use crate::api::ApiError;

/// Where refused requests are sent.
pub(crate) const REFUSED_PATH: &str = "/_access/refused";

/// The hosts a server answers for, besides IP addresses and `localhost`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServedHosts {
    names: Vec<String>,
}

impl ServedHosts {
    /// `allowed` names plus the host of `public_url`, if any.
    pub(crate) fn new(allowed: &[String], public_url: Option<&str>) -> ServedHosts {
        let mut names: Vec<String> = allowed
            .iter()
            .map(|name| name.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        if let Some(host) = public_url.and_then(url_host) {
            names.push(host);
        }
        ServedHosts { names }
    }

    /// Whether `host` (a `Host` header's name, without the port) is served.
    pub(crate) fn serves(&self, host: &str) -> bool {
        let host = normal(host);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
            || self.named(&host)
    }

    /// Whether `host` (normalised) is one the server is named by: an `--allowed-host` or the
    /// host of `--public-url`. Addresses and `localhost` names are served but not named: any
    /// site may be reached by an address, so a page there is not this server's.
    fn named(&self, host: &str) -> bool {
        self.names.iter().any(|name| {
            name == host
                || name
                    .strip_prefix("*.")
                    .is_some_and(|domain| host.ends_with(&format!(".{domain}")))
        })
    }

    /// Whether a page of `origin` (an `Origin` header) is this server's own: its host is the
    /// one the request was sent to (`request_host`, a `Host` header's name), or one the server
    /// is named by.
    fn own_page(&self, origin: &str, request_host: Option<&str>) -> bool {
        url_host(origin).is_some_and(|host| {
            let host = normal(&host);
            request_host.is_some_and(|to| normal(to) == host) || self.named(&host)
        })
    }
}

/// A host name as compared: lowercase, without a trailing dot.
fn normal(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The name in a `Host` header, without its port (`[::1]` stays bracketed).
fn host_name(header: &str) -> &str {
    let header = header.trim();
    if header.starts_with('[') {
        return header.split_inclusive(']').next().unwrap_or(header);
    }
    header.split(':').next().unwrap_or(header)
}

/// The host name of a URL such as `https://stpt.example.com:8443/base`.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Why a request was refused, kept for [`refused`].
#[derive(Debug, Clone)]
struct Refusal(ApiError);

/// The fairing.
pub(crate) struct RequestOrigin {
    pub(crate) hosts: ServedHosts,
}

/// Why `request` names a host this server does not serve, if it does.
fn check_host(request: &Request<'_>, hosts: &ServedHosts) -> Option<ApiError> {
    let host = request.headers().get_one("Host").map(host_name)?;
    if hosts.serves(host) {
        return None;
    }
    Some(ApiError {
        status: Status::MisdirectedRequest,
        error: "misdirected_request",
        detail: format!(
            "this server does not serve the host {host:?}: reach it by its address, or name \
             the host with --allowed-host"
        ),
        field: None,
    })
}

/// Why a write could have come from a page of another site, if it could.
fn check_write(request: &Request<'_>, hosts: &ServedHosts) -> Result<(), ApiError> {
    // `null` (a sandboxed frame, a local file) is another site too.
    let request_host = request.headers().get_one("Host").map(host_name);
    if let Some(origin) = request.headers().get_one("Origin")
        && !hosts.own_page(origin, request_host)
    {
        return Err(ApiError {
            status: Status::Forbidden,
            error: "cross_origin",
            detail: format!("writes from pages of {origin} are not accepted"),
            field: None,
        });
    }
    let authorized = request.headers().get_one("Authorization").is_some();
    // NDJSON (a batch of events) needs a preflight from another site's page just as JSON.
    let json = request.content_type().is_some_and(|ct| {
        ct.is_json()
            || (ct.top() == "application" && ct.sub().as_str().ends_with("+json"))
            || crate::api::is_ndjson(ct)
    });
    if !json && !authorized {
        return Err(ApiError {
            status: Status::UnsupportedMediaType,
            error: "unsupported_media_type",
            detail: "send the request as JSON (Content-Type: application/json)".to_owned(),
            field: None,
        });
    }
    if !authorized && request.cookies().get(session::COOKIE).is_some() {
        let token = request
            .headers()
            .get_one("X-CSRF-Token")
            .unwrap_or_default();
        if !csrf::verify(request.cookies(), token) {
            return Err(ApiError {
                status: Status::Forbidden,
                error: "csrf",
                detail: "a write with a login session needs the page's CSRF value in \
                         X-CSRF-Token, or a token in Authorization"
                    .to_owned(),
                field: None,
            });
        }
    }
    Ok(())
}

/// A request guard for the API's writes (ingest, abort): `Err` when a page of another site
/// could have made a browser send the request. The handler answers the error first.
#[derive(Debug)]
pub(crate) struct SameSiteWrite(pub(crate) Result<(), ApiError>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SameSiteWrite {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let hosts = request
            .rocket()
            .state::<ServedHosts>()
            .cloned()
            .unwrap_or_default();
        Outcome::Success(SameSiteWrite(check_write(request, &hosts)))
    }
}

#[rocket::async_trait]
impl Fairing for RequestOrigin {
    fn info(&self) -> Info {
        Info {
            name: "request origin checks",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        if let Some(error) = check_host(request, &self.hosts) {
            request.local_cache(|| Some(Refusal(error)));
            request.set_method(Method::Get);
            if let Ok(origin) = Origin::parse(REFUSED_PATH) {
                request.set_uri(origin);
            }
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Refusal {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match request.local_cache(|| None::<Refusal>) {
            Some(refusal) => Outcome::Success(refusal.clone()),
            None => Outcome::Forward(Status::NotFound),
        }
    }
}

#[get("/_access/refused")]
fn refused(refusal: Refusal) -> ApiError {
    refusal.0
}

pub(crate) fn routes() -> Vec<rocket::Route> {
    routes![refused]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_named_hosts_are_served() {
        let hosts = ServedHosts::new(
            &["stpt.lab".to_owned(), "*.example.org".to_owned()],
            Some("https://Tracker.Example.com:8443/stpt"),
        );
        for host in [
            "127.0.0.1",
            "10.1.2.3",
            "[::1]",
            "localhost",
            "app.localhost",
            "stpt.lab",
            "STPT.LAB.",
            "rig.example.org",
            "tracker.example.com",
        ] {
            assert!(hosts.serves(host), "{host}");
        }
        for host in [
            "evil.com",
            "stpt.lab.evil.com",
            "example.org",
            "localhost.evil",
        ] {
            assert!(!hosts.serves(host), "{host}");
        }
    }

    #[test]
    fn url_hosts_are_found() {
        assert_eq!(url_host("http://a.b:80/x"), Some("a.b".to_owned()));
        assert_eq!(url_host("https://[::1]:8000"), Some("[::1]".to_owned()));
        assert_eq!(
            url_host("https://user@h.example"),
            Some("h.example".to_owned())
        );
        assert!(!ServedHosts::default().serves(&url_host("null").unwrap_or_default()));
    }
}
