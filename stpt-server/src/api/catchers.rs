//! JSON answers for requests that no handler takes (unknown path, unparsable id, a method the
//! path does not take, …), so even those get `{"error", "detail"}` and never an HTML error
//! page.
//!
//! Rocket answers a method that no route of a known path takes with 404, and a method it does
//! not know at all (`QUERY`, `FOO`) with 400 before any fairing or route sees the request; on
//! a known path both become 405 with an `Allow` header naming the methods the path takes.
//!
//! Not everything reaches a catcher: the connection guard in front of Rocket (`guard`) refuses
//! a head it cannot parse (400), one that is too large (431) or too slow (408) itself, with the
//! same JSON body.

use rocket::http::{Header, Method, Status};
use rocket::response::{self, Responder};
use rocket::{Catcher, Request, catch, catchers};

use super::ApiError;
use crate::routing::Routed;

/// The methods answered by the mounted routes whose path matches the request's, in a fixed
/// order; `HEAD` wherever `GET` is (Rocket answers it with the GET route).
fn allowed_methods(request: &Request<'_>) -> Vec<Method> {
    let segments: Vec<&str> = request.uri().path().segments().collect();
    let mut methods: Vec<Method> = request
        .rocket()
        .routes()
        .filter(|route| path_matches(route.uri.path(), &segments))
        .map(|route| route.method)
        .collect();
    if methods.contains(&Method::Get) {
        methods.push(Method::Head);
    }
    let order = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];
    methods.sort_by_key(|m| order.iter().position(|o| o == m).unwrap_or(order.len()));
    methods.dedup();
    methods
}

/// Whether a route path (`/tm_api/test/<id>`, `/static/<file..>`) matches the request's path
/// segments, the way Rocket's router compares them (any value fills a dynamic segment).
fn path_matches(route_path: &str, request: &[&str]) -> bool {
    let route: Vec<&str> = route_path.split('/').filter(|s| !s.is_empty()).collect();
    let trailing = route.last().is_some_and(|s| s.ends_with("..>"));
    if trailing {
        if request.len() + 1 < route.len() {
            return false;
        }
    } else if route.len() != request.len() {
        return false;
    }
    route.iter().zip(request).all(|(segment, given)| {
        (segment.starts_with('<') && segment.ends_with('>')) || segment == given
    })
}

/// The catcher's answer: the JSON error, with `Allow` on a 405.
struct Caught {
    error: ApiError,
    allow: Option<String>,
}

impl<'r> Responder<'r, 'static> for Caught {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.error.respond_to(request)?;
        if let Some(allow) = self.allow {
            response.set_header(Header::new("Allow", allow));
        }
        Ok(response)
    }
}

#[catch(default)]
fn any_error(status: Status, request: &Request<'_>) -> Caught {
    // As sent: with the base path, if any.
    let path = crate::base_path::sent_path(request);
    // Rocket stands in GET for a method it does not know: such a request was never routed.
    let unknown_method = status == Status::BadRequest && !request.local_cache(Routed::default).0;
    if status == Status::NotFound || unknown_method {
        let allowed = allowed_methods(request);
        if !allowed.is_empty() && (unknown_method || !allowed.contains(&request.method())) {
            let allow = allowed
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Caught {
                error: ApiError {
                    status: Status::MethodNotAllowed,
                    error: "method_not_allowed",
                    detail: if unknown_method {
                        format!("the method is not allowed on {path}: use {allow}")
                    } else {
                        format!("{} is not allowed on {path}: use {allow}", request.method())
                    },
                    field: None,
                },
                allow: Some(allow),
            };
        }
    }
    let (error, detail) = match status.code {
        404 => ("not_found", format!("nothing at {path}")),
        405 => (
            "method_not_allowed",
            format!("{} is not allowed on {path}", request.method()),
        ),
        413 => (
            "payload_too_large",
            "the request body is too large".to_owned(),
        ),
        422 => (
            "unprocessable",
            format!("the request to {path} cannot be processed"),
        ),
        code if code >= 500 => (
            "internal",
            "the server failed; the server log has the cause".to_owned(),
        ),
        400 if unknown_method => (
            "bad_request",
            "the request method or URI is not understood".to_owned(),
        ),
        400 if request.uri().path().starts_with("/ws/")
            && request.headers().get_one("Upgrade").is_none() =>
        {
            (
                "websocket_required",
                format!("{path} is a WebSocket: send a GET with Upgrade: websocket"),
            )
        }
        _ => ("bad_request", format!("the request to {path} was refused")),
    };
    Caught {
        error: ApiError {
            status,
            error,
            detail,
            field: None,
        },
        allow: None,
    }
}

pub(super) fn catchers() -> Vec<Catcher> {
    catchers![any_error]
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn route_paths_match_like_the_router() {
        assert!(path_matches(
            "/tm_api/test/<id>",
            &["tm_api", "test", "abc"]
        ));
        assert!(path_matches("/", &[]));
        assert!(!path_matches("/", &["x"]));
        assert!(!path_matches("/tm_api/test/<id>", &["tm_api", "test"]));
        assert!(!path_matches("/tm_api/machines", &["tm_api", "dry_run"]));
        assert!(path_matches("/static/<file..>", &["static"]));
        assert!(path_matches("/static/<file..>", &["static", "a", "b"]));
    }
}
