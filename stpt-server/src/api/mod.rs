//! The JSON API: the seed's ingest and read endpoints, the batch ingest, the OpenAPI document
//! and health.

mod batch;
mod catchers;
mod docs;
mod error;
mod health;
pub mod history;
mod ingest;
mod machines;
mod output;
mod pagination;
mod read;
pub(crate) mod runs;
mod v1;

pub(crate) use batch::is_ndjson;
pub use docs::openapi;
pub(crate) use error::DisplayChain;
pub use error::{ApiError, ErrorBody};
pub(crate) use read::query;

/// Every API route.
pub fn routes() -> Vec<rocket::Route> {
    let mut routes = ingest::routes();
    routes.extend(read::routes());
    routes.extend(docs::routes());
    routes.extend(health::routes());
    routes.extend(v1::routes());
    routes.extend(machines::routes());
    routes.extend(history::routes());
    routes.extend(runs::routes());
    routes.extend(output::routes());
    routes.extend(batch::routes());
    routes
}

/// JSON error answers for requests no route takes.
pub fn catchers() -> Vec<rocket::Catcher> {
    catchers::catchers()
}
