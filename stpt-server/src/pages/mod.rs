//! Server-rendered HTML pages.

/// Every page route.
pub fn routes() -> Vec<rocket::Route> {
    Vec::new()
}
