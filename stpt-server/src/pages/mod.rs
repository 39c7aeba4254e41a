//! Server-rendered HTML pages: machines, a machine's runs, the live newest run and one run,
//! with their stylesheet and script embedded in the binary; and the account pages (login,
//! logout, password reset).

mod account;
mod assets;
mod chart;
mod estimate;
mod history;
pub(crate) mod live;
mod machines;
mod paging;
mod rendering;
pub(crate) mod run;

/// Every page route.
pub fn routes() -> Vec<rocket::Route> {
    let mut routes = assets::routes();
    routes.extend(machines::routes());
    routes.extend(live::routes());
    routes.extend(run::routes());
    routes.extend(history::routes());
    routes.extend(account::routes());
    routes
}

pub(crate) use account::login_target;
