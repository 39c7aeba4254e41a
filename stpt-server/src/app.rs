//! Building the Rocket application from a [`Config`].
//!
//! The main item here is [`build`] (open the configured database, then [`build_with_access`]):
//! it assembles the state (`state::AppState`), the fairings and every area's routes. Tests and
//! the CLI's `serve` run the same app. Nothing imports from here but the crate root.
//!
//! The session cookies' key comes from [`Config::secret_key`] when set, else from the one
//! generated once and kept in the database (so restarts keep users logged in), else (a store
//! without a database) from a key generated per process.

use std::sync::Arc;

use rocket::config::SecretKey;
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use sha2::{Digest, Sha512};
use stpt_core::Store;

use crate::access::Security;
use crate::access::credentials::random_bytes;
use crate::config::Config;
use crate::db::{AccessStore, ConnectError, DatabaseUrl, DieselStore, WebhookStore};
use crate::live::{LiveFeed, LiveHub, OutputHub};
use crate::metrics::Metrics;
use crate::routing::TrailingSlash;
use crate::stale::{StaleLimit, StaleSweep};
use crate::webhooks::WebhookDelivery;
use crate::{access, api, live, pages};

use crate::state::AppState;

/// Time between two polls of the webhook outbox.
const WEBHOOK_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Opens the configured database (migrating it) and builds the app on it.
pub fn build(config: &Config) -> Result<Rocket<Build>, ConnectError> {
    let store = DieselStore::open(&config.database_url, config.pool)?;
    // With PostgreSQL, changes travel through the database so every instance hears them.
    let hub = match &config.database_url {
        DatabaseUrl::Postgres(url) => {
            LiveHub::postgres(url, config.live_backlog).map_err(|source| {
                ConnectError::Notifications {
                    target: config.database_url.to_string(),
                    source,
                }
            })?
        }
        DatabaseUrl::Sqlite(_) => LiveHub::with_backlog(config.live_backlog),
    };
    let access = AccessStore::new(store.pool().clone());
    let key = secret_key(config, Some(&access)).map_err(|source| ConnectError::SessionKey {
        target: config.database_url.to_string(),
        source,
    })?;
    let metrics = Metrics::with_pool(Some(store.pool().clone()));
    let store: Arc<dyn Store> = Arc::new(store);
    // Output too: the others read the lines a notice announces from the database.
    let output = match &config.database_url {
        DatabaseUrl::Postgres(url) => {
            OutputHub::postgres(url, store.clone()).map_err(|source| {
                ConnectError::Notifications {
                    target: config.database_url.to_string(),
                    source,
                }
            })?
        }
        DatabaseUrl::Sqlite(_) => OutputHub::default(),
    };
    Ok(assemble(config, store, Live { hub, output }, Some(access), key).manage(metrics))
}

/// The live channels of one app: status changes and tests' output.
struct Live {
    hub: LiveHub,
    output: OutputHub,
}

impl Live {
    /// Channels local to this process.
    fn local(config: &Config) -> Live {
        Live {
            hub: LiveHub::with_backlog(config.live_backlog),
            output: OutputHub::default(),
        }
    }
}

/// Builds the app on any store (the diesel store in production, `MemoryStore` where no
/// database is wanted). Without an access store nobody can log in and no machine token is
/// valid.
pub fn build_with_store(config: &Config, store: Arc<dyn Store>) -> Rocket<Build> {
    let key = secret_key(config, None).unwrap_or_else(|_| SecretKey::from(&random_bytes::<64>()));
    assemble(config, store, Live::local(config), None, key).manage(Metrics::default())
}

/// Builds the app on a store and the access store holding its users and tokens.
pub fn build_with_access(
    config: &Config,
    store: Arc<dyn Store>,
    access: AccessStore,
) -> Result<Rocket<Build>, crate::db::AccessError> {
    let key = secret_key(config, Some(&access))?;
    Ok(assemble(config, store, Live::local(config), Some(access), key).manage(Metrics::default()))
}

/// The cookie key: the configured material (stretched to 64 bytes, so any length works; the
/// CLI insists on at least 32 characters), the database's, or a fresh one.
fn secret_key(
    config: &Config,
    access: Option<&AccessStore>,
) -> Result<SecretKey, crate::db::AccessError> {
    if let Some(material) = &config.secret_key {
        return Ok(SecretKey::from(
            Sha512::digest(material.as_bytes()).as_slice(),
        ));
    }
    Ok(match access {
        Some(access) => SecretKey::from(&access.secret_key()?),
        None => SecretKey::from(&random_bytes::<64>()),
    })
}

fn assemble(
    config: &Config,
    store: Arc<dyn Store>,
    live: Live,
    access: Option<AccessStore>,
    secret_key: SecretKey,
) -> Rocket<Build> {
    let Live { hub, output } = live;
    let webhooks = access
        .as_ref()
        .map(|access| WebhookStore::new(access.pool().clone()).with_link_base(&config.link_base()));
    let state = AppState {
        store,
        webhooks,
        hub,
        feed: Arc::new(LiveFeed::default()),
        body_limit: config.body_limit,
        batch_max_events: config.batch_max_events,
        output,
        output_limit: config.output_limit,
        security: Arc::new(Security::new(config, access)),
        clock: config.clock.clone(),
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
        // The client address comes from `access::client_addr`, which believes forwarding
        // headers only from trusted proxies; Rocket's own would take `X-Real-IP` from anyone.
        ip_header: None,
        secret_key,
        ..rocket::Config::default()
    });
    let hosts =
        access::origin::ServedHosts::new(&config.allowed_hosts, config.public_url.as_deref());
    rocket::custom(figment)
        // Before every other fairing: its clock starts first and it sees the path as sent.
        .attach(crate::request_log::RequestLog)
        // Next: everything after it sees paths without the prefix.
        .attach(crate::base_path::BasePath {
            prefix: config.base_path.clone(),
        })
        .manage(crate::base_path::Prefix(config.base_path.clone()))
        // First: a refused origin is answered before anything else looks at the request.
        .attach(access::origin::RequestOrigin {
            hosts: hosts.clone(),
        })
        .manage(hosts)
        .manage(access::client_addr::TrustedProxies(
            config.trusted_proxies.clone(),
        ))
        .manage(state)
        .manage(StaleLimit {
            after: config.stale_after,
            clock: config.clock.clone(),
        })
        .attach(access::revocation::RevisionWatch)
        .attach(live::feed::LiveFeedTask)
        .attach(StaleSweep {
            every: config.stale_sweep_every,
        })
        .attach(WebhookDelivery {
            every: WEBHOOK_POLL,
            ca_cert: config.ca_cert.clone(),
        })
        // The gate sees the path after the trailing slash is gone.
        .attach(TrailingSlash)
        .attach(access::gate::ReadGate)
        .attach(access::headers::SecurityHeaders)
        .mount("/", api::routes())
        .mount("/", access::gate::routes())
        .mount("/", access::origin::routes())
        .mount("/", pages::routes())
        .mount("/", live::routes())
        .mount("/", crate::metrics::routes())
        .register("/", api::catchers())
}
