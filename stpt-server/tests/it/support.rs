//! Test databases: a temporary SQLite file, or a fresh schema on the PostgreSQL server named by
//! `STPT_TEST_POSTGRES_URL`. Every test gets its own; nothing is shared between tests.
//!
//! PostgreSQL tests carry
//! `#[cfg_attr(not(stpt_postgres_tests), ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests")]`:
//! the build script sets that cfg when the variable is set (or `CI` is), so without a server
//! `cargo test` reports them as ignored instead of passing them unrun.

use std::ops::Deref;
use std::sync::OnceLock;

use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions, connect};

/// A store on a database that exists for one test and is removed afterwards.
pub(crate) struct TestDb {
    store: DieselStore,
    url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    postgres_schema: Option<(String, String)>,
}

impl TestDb {
    /// A store on a new SQLite file in a temporary directory.
    pub(crate) fn sqlite() -> TestDb {
        TestDb::sqlite_in(tempfile::tempdir().expect("temporary directory"))
    }

    /// A store on `stpt.db` in `dir` (migrated if it is not yet), which lives as long.
    fn sqlite_in(dir: tempfile::TempDir) -> TestDb {
        let path = dir.path().join("stpt.db");
        let url = DatabaseUrl::Sqlite(path.to_string_lossy().into_owned());
        let store = DieselStore::open(&url, PoolOptions::default()).expect("open SQLite");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            postgres_schema: None,
        }
    }

    /// A store on a new SQLite file copied from one migrated for the whole test binary: the
    /// same as [`TestDb::sqlite`] without migrating again, for tests that open many databases.
    #[allow(dead_code)]
    pub(crate) fn sqlite_from_template() -> TestDb {
        static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
        let template = TEMPLATE.get_or_init(|| {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url =
                DatabaseUrl::Sqlite(dir.path().join("stpt.db").to_string_lossy().into_owned());
            // Migrated, and closed again before anything copies it.
            drop(connect(&url, PoolOptions::default()).expect("migrate the SQLite template"));
            dir
        });
        let dir = tempfile::tempdir().expect("temporary directory");
        for entry in std::fs::read_dir(template.path()).expect("read the SQLite template") {
            let from = entry.expect("read the SQLite template").path();
            if let Some(name) = from.file_name() {
                std::fs::copy(&from, dir.path().join(name)).expect("copy the SQLite template");
            }
        }
        TestDb::sqlite_in(dir)
    }

    /// A store on a new schema of the test PostgreSQL server (see [`postgres_url`]).
    pub(crate) fn postgres() -> TestDb {
        let base = postgres_url();
        let schema = format!("stpt_test_{}", uuid_like());
        run_admin_sql(&base, &format!("CREATE SCHEMA {schema}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!(
            "{base}{separator}options=-c%20search_path%3D{schema}"
        ));
        let pool = connect(
            &url,
            PoolOptions {
                max_size: 4,
                ..PoolOptions::default()
            },
        )
        .expect("open PostgreSQL");
        TestDb {
            store: DieselStore::new(pool),
            url,
            _dir: None,
            postgres_schema: Some((base, schema)),
        }
    }

    /// The database's URL, for servers built on it.
    #[allow(dead_code)]
    pub(crate) fn url(&self) -> &DatabaseUrl {
        &self.url
    }
}

impl Deref for TestDb {
    type Target = DieselStore;

    fn deref(&self) -> &DieselStore {
        &self.store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.postgres_schema {
            run_admin_sql(base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// The PostgreSQL URL for tests. A PostgreSQL test runs only when it was set at build time
/// (or `CI` was, or the test was asked for with `--ignored`), so unset it is a failure: a test
/// never passes without running.
pub(crate) fn postgres_url() -> String {
    match std::env::var("STPT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must set STPT_TEST_POSTGRES_URL so PostgreSQL tests run")
        }
        _ => panic!(
            "STPT_TEST_POSTGRES_URL is not set: a PostgreSQL test cannot run \
             (e.g. STPT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test)"
        ),
    }
}

pub(crate) fn run_admin_sql(url: &str, sql: &str) {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut conn = diesel::PgConnection::establish(url).expect("connect to PostgreSQL");
    conn.batch_execute(sql).expect("run admin SQL");
}

pub(crate) fn uuid_like() -> String {
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
