//! The read-access gate: under `--read-access login`, every request except the login and
//! password-reset pages, the static assets, the health check and ingest needs a valid session,
//! or for the JSON API and WebSockets a live machine token.
//!
//! A refused request is re-routed to [`denied`], which answers 401 `{"error","detail"}` for
//! the API and WebSockets and redirects pages to `/login/`. Being a fairing, the gate also
//! covers routes added later: nothing is public unless listed here.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Header, Method, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{Redirect, Responder};
use rocket::{Data, Request, get, routes};

use super::session::user_of;
use super::{Bearer, Security};
use crate::api::ApiError;
use crate::config::ReadAccess;
use crate::db::TokenCheck;
use crate::state::AppState;

/// Where refused requests are sent.
const DENIED_PATH: &str = "/_access/denied";

/// The request as it was before the gate re-routed it.
#[derive(Debug, Clone, Default)]
struct Refused {
    path: String,
    api: bool,
}

/// Paths anyone may use: the way in, the assets it needs and the health check. Ingest
/// (`POST /tm_api/<kind>`) has its own rule.
fn public(method: Method, segments: &[&str]) -> bool {
    match segments {
        ["login" | "logout" | "password-reset" | "password-reset-complete" | "healthz"] => true,
        ["password-reset", "done"] => true,
        ["password-reset-confirm", _, _] => true,
        ["static", _] => true,
        // A refusal of the origin checks, answered as it is.
        ["_access", "refused"] => true,
        ["tm_api", "dry_run" | "test_start" | "test_stop"] => method == Method::Post,
        _ => false,
    }
}

/// Paths answered with JSON (or a WebSocket, or the Prometheus text of `/metrics`), where a
/// token may stand in for a session and a refusal is a 401 rather than the login page.
fn api(segments: &[&str]) -> bool {
    matches!(
        segments.first(),
        Some(&("tm_api" | "api" | "ws" | "page_api" | "_access" | "metrics"))
    ) || segments == ["docs", "openapi.json"]
}

/// Whether the request may read.
async fn allowed(request: &Request<'_>, security: &Security, api: bool) -> bool {
    if user_of(request, security).await.is_some() {
        return true;
    }
    if !api {
        return false;
    }
    match Bearer::of(request).0 {
        Some(token) => matches!(
            security.check_token(&token).await,
            Ok(TokenCheck::Valid { .. } | TokenCheck::Personal { .. })
        ),
        None => false,
    }
}

/// The gate.
pub(crate) struct ReadGate;

#[rocket::async_trait]
impl Fairing for ReadGate {
    fn info(&self) -> Info {
        Info {
            name: "read access gate",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let Some(state) = request.rocket().state::<AppState>() else {
            return;
        };
        // Outside the base path: answered 404 whoever asks.
        if state.security.read_access == ReadAccess::Public || crate::base_path::outside(request) {
            return;
        }
        let path = request.uri().path();
        let segments: Vec<&str> = path.segments().collect();
        if public(request.method(), &segments) {
            return;
        }
        let api = api(&segments);
        let refused = Refused {
            path: path.as_str().to_owned(),
            api,
        };
        if allowed(request, &state.security, api).await {
            return;
        }
        request.local_cache(|| refused);
        request.set_method(Method::Get);
        if let Ok(origin) = Origin::parse(DENIED_PATH) {
            request.set_uri(origin);
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Refused {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(request.local_cache(Refused::default).clone())
    }
}

/// A 401 for the API, a redirect to the login page otherwise.
enum Denial {
    Api(ApiError),
    Page(Redirect),
}

impl<'r> Responder<'r, 'static> for Denial {
    fn respond_to(self, request: &'r Request<'_>) -> rocket::response::Result<'static> {
        match self {
            Denial::Api(error) => {
                let mut response = error.respond_to(request)?;
                response.set_header(Header::new("WWW-Authenticate", "Bearer"));
                Ok(response)
            }
            Denial::Page(redirect) => redirect.respond_to(request),
        }
    }
}

#[get("/_access/denied")]
fn denied(refused: Refused) -> Denial {
    if refused.api || refused.path.is_empty() {
        return Denial::Api(ApiError {
            status: Status::Unauthorized,
            error: "unauthorized",
            detail: "this server needs a login session or a token to read: send \
                     `Authorization: Bearer <token>` (stpt's --token flag or the STPT_TOKEN \
                     variable)"
                .to_owned(),
            field: None,
        });
    }
    let next = crate::pages::login_target(&refused.path);
    Denial::Page(Redirect::to(format!("/login/?next={next}")))
}

pub(crate) fn routes() -> Vec<rocket::Route> {
    routes![denied]
}
