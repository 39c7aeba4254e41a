//! Building the Rocket application from a [`Config`].
//!
//! The main items here are [`build`] (open the configured database, then [`build_with_store`])
//! and [`AppState`], the managed state every handler sees. Tests and the CLI's `serve` run the
//! same app.

use std::sync::Arc;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::figment::Figment;
use rocket::http::uri::Origin;
use rocket::{Build, Data, Request, Rocket};
use stpt_core::Store;

use crate::config::Config;
use crate::db::{ConnectError, DatabaseUrl, DieselStore};
use crate::live::LiveHub;
use crate::{api, live, pages};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Where runs live.
    pub store: Arc<dyn Store>,
    /// Where changes are announced.
    pub hub: LiveHub,
    /// Largest accepted request body.
    pub body_limit: u64,
}

/// Opens the configured database (migrating it) and builds the app on it.
pub fn build(config: &Config) -> Result<Rocket<Build>, ConnectError> {
    let store = DieselStore::open(&config.database_url, config.pool)?;
    // With PostgreSQL, changes travel through the database so every instance hears them.
    let hub = match &config.database_url {
        DatabaseUrl::Postgres(url) => {
            LiveHub::postgres(url).map_err(|e| ConnectError::Migrate {
                target: "PostgreSQL change notifications".to_owned(),
                reason: e.to_string(),
            })?
        }
        DatabaseUrl::Sqlite(_) => LiveHub::new(),
    };
    Ok(assemble(config, Arc::new(store), hub))
}

/// Builds the app on any store (the diesel store in production, `MemoryStore` where no
/// database is wanted).
pub fn build_with_store(config: &Config, store: Arc<dyn Store>) -> Rocket<Build> {
    assemble(config, store, LiveHub::new())
}

fn assemble(config: &Config, store: Arc<dyn Store>, hub: LiveHub) -> Rocket<Build> {
    let state = AppState {
        store,
        hub,
        body_limit: config.body_limit,
    };
    let log_level = if config.log {
        rocket::config::LogLevel::Normal
    } else {
        rocket::config::LogLevel::Off
    };
    let figment = Figment::from(rocket::Config {
        address: config.address,
        port: config.port,
        log_level,
        cli_colors: false,
        ..rocket::Config::default()
    });
    rocket::custom(figment)
        .manage(state)
        .attach(TrailingSlash)
        .mount("/", api::routes())
        .mount("/", pages::routes())
        .mount("/", live::routes())
        .register("/", api::catchers())
}

/// Accepts every path with and without its trailing slash, as the seed did: routes are
/// declared without it and requests are normalised before routing.
struct TrailingSlash;

#[rocket::async_trait]
impl Fairing for TrailingSlash {
    fn info(&self) -> Info {
        Info {
            name: "accept paths with a trailing slash",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
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
