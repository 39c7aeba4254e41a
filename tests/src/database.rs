//! A temporary database that servers run on and tests read directly: an SQLite file, or a
//! schema of its own on the PostgreSQL server named by `STPT_TEST_POSTGRES_URL`.
//!
//! The main type here is [`TempDatabase`]; the file lives in its own temporary directory and is
//! removed with it (the PostgreSQL schema is dropped with it), so a server restarted on the
//! same database sees everything stored before.

// A skipped test's reason belongs in the test output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use stpt_core::{RunTree, Store};
use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions, connect};

/// An SQLite file in a temporary directory, or a PostgreSQL schema.
pub struct TempDatabase {
    url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    /// The server's URL and the schema to drop.
    postgres_schema: Option<(String, String)>,
}

impl TempDatabase {
    /// A new, empty database (created and migrated by the first server or store opened on it).
    pub fn new() -> TempDatabase {
        let dir = tempfile::tempdir().expect("temporary directory for the database");
        let url = DatabaseUrl::Sqlite(dir.path().join("stpt.db").to_string_lossy().into_owned());
        TempDatabase {
            url,
            _dir: Some(dir),
            postgres_schema: None,
        }
    }

    /// A new, empty schema on the test PostgreSQL server; `None` when `STPT_TEST_POSTGRES_URL`
    /// is not set (never in CI, where that is a failure).
    pub fn postgres() -> Option<TempDatabase> {
        let base = postgres_url()?;
        let schema = format!("stpt_e2e_{}", unique_suffix());
        run_admin_sql(&base, &format!("CREATE SCHEMA {schema}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!(
            "{base}{separator}options=-c%20search_path%3D{schema}"
        ));
        Some(TempDatabase {
            url,
            _dir: None,
            postgres_schema: Some((base, schema)),
        })
    }

    /// Its URL, for a server's [`Config`](stpt_server::Config).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A store on it, as a server would open it.
    pub fn store(&self) -> DieselStore {
        DieselStore::new(connect(&self.url, PoolOptions::default()).expect("open the database"))
    }

    /// Everything stored, read back through the store's queries (ids and timestamps included).
    pub fn dump(&self) -> serde_json::Value {
        stpt_core::testing::dump(&self.store())
    }

    /// Everything stored but the arrival times (`last_event_at`, read from the receiving
    /// server's clock): two databases fed the same events at different moments compare equal.
    pub fn dump_without_arrival(&self) -> serde_json::Value {
        let mut dump = self.dump();
        drop_arrival(&mut dump);
        dump
    }

    /// The newest run of the machine named `machine_name`, which must have one.
    pub fn last_run(&self, machine_name: &str) -> RunTree {
        let store = self.store();
        let machine = store
            .machine_by_name(machine_name)
            .expect("machine query")
            .unwrap_or_else(|| panic!("no machine {machine_name:?} is stored"));
        store
            .last_run(machine.id)
            .expect("run query")
            .unwrap_or_else(|| panic!("machine {machine_name:?} has no run"))
    }
}

impl Default for TempDatabase {
    fn default() -> Self {
        TempDatabase::new()
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.postgres_schema {
            run_admin_sql(base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// The PostgreSQL URL for tests. Unset: `None` locally, a failure in CI, so CI never skips.
fn postgres_url() -> Option<String> {
    match std::env::var("STPT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must set STPT_TEST_POSTGRES_URL so PostgreSQL tests run")
        }
        _ => {
            eprintln!("STPT_TEST_POSTGRES_URL is not set: skipping a PostgreSQL test");
            None
        }
    }
}

fn run_admin_sql(url: &str, sql: &str) {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut conn = diesel::PgConnection::establish(url).expect("connect to PostgreSQL");
    conn.batch_execute(sql).expect("run admin SQL");
}

/// Unique within this machine: the process, the time and a counter.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes every `last_event_at` from a dump.
fn drop_arrival(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("last_event_at");
            map.values_mut().for_each(drop_arrival);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_arrival),
        _ => {}
    }
}
