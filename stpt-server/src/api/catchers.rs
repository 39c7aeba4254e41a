//! JSON answers for requests that no handler takes (unknown path, unparsable id, …), so even
//! those get `{"error", "detail"}` and never an HTML error page.

use rocket::http::Status;
use rocket::{Catcher, Request, catch, catchers};

use super::ApiError;

#[catch(default)]
fn any_error(status: Status, request: &Request<'_>) -> ApiError {
    let path = request.uri().path().to_string();
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
        _ => ("bad_request", format!("the request to {path} was refused")),
    };
    ApiError {
        status,
        error,
        detail,
        field: None,
    }
}

pub(super) fn catchers() -> Vec<Catcher> {
    catchers![any_error]
}
