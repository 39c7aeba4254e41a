//! Server-rendered HTML pages: machines, a machine's runs, runs of every machine by filters, the live newest run and one run,
//! a test's history, run comparison and trends, with their stylesheet and script embedded in
//! the binary; the API and protocol documentation (`/docs/`, routed with the OpenAPI document);
//! and the account pages (login, logout, password reset).

mod account;
mod assets;
mod chart;
pub(crate) mod docs;
mod estimate;
mod history;
pub(crate) mod live;
mod machines;
mod markdown;
mod paging;
mod rendering;
pub(crate) mod run;
mod runs;

/// Every page route.
pub fn routes() -> Vec<rocket::Route> {
    let mut routes = assets::routes();
    routes.extend(machines::routes());
    routes.extend(live::routes());
    routes.extend(run::routes());
    routes.extend(runs::routes());
    routes.extend(history::routes());
    routes.extend(account::routes());
    routes
}

pub(crate) use account::login_target;
