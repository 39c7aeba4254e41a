//! Request normalisation before routing: every path works with and without its trailing slash.
//!
//! The main type here is [`TrailingSlash`], a request fairing; [`Routed`] marks the requests it
//! saw, so the catchers can tell a request Rocket refused as it arrived.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::{Data, Request};

/// Accepts every path with and without its trailing slash, as the seed did: routes are
/// declared without it and requests are normalised before routing.
///
/// It also marks every request it sees as [`Routed`]: a request Rocket refused before request
/// fairings and routing (a method it does not know) reaches the catchers without the mark.
pub(crate) struct TrailingSlash;

/// Whether a request went through the request fairings (and so was routed); absent from a
/// request Rocket refused as it arrived.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Routed(pub(crate) bool);

#[rocket::async_trait]
impl Fairing for TrailingSlash {
    fn info(&self) -> Info {
        Info {
            name: "accept paths with a trailing slash",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        request.local_cache(|| Routed(true));
        let path = request.uri().path().as_str();
        if path.len() > 1 && path.ends_with('/') {
            let trimmed = path.trim_end_matches('/');
            let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
            let rebuilt = match request.uri().query() {
                Some(query) => format!("{trimmed}?{query}"),
                None => trimmed.to_owned(),
            };
            if let Ok(origin) = Origin::parse_owned(rebuilt) {
                request.set_uri(origin);
            }
        }
    }
}
