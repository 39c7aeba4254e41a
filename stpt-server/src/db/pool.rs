//! Database URLs, connection pools and migrations for both backends.
//!
//! The main types here are [`DatabaseUrl`], which picks the backend strictly from the URL's
//! scheme (a bare path means an SQLite file; an unknown scheme is an error, so a typo never
//! creates an empty database), and [`DbPool`], an r2d2 pool of either backend with its
//! migrations applied.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Which database to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (created if missing).
    Sqlite(String),
    /// A PostgreSQL server, as a libpq URL.
    Postgres(String),
}

/// A database URL this server cannot use.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    /// The scheme names no supported backend.
    #[error(
        "unsupported database URL scheme {scheme:?}: use postgres://…, sqlite://PATH or a file path"
    )]
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// Nothing was given.
    #[error("empty database URL")]
    Empty,
}

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DatabaseUrlError::Empty);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(s.to_owned()));
        }
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            return Ok(DatabaseUrl::Sqlite(path.to_owned()));
        }
        match s.split_once("://") {
            Some((scheme, _)) => Err(DatabaseUrlError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            }),
            None => Ok(DatabaseUrl::Sqlite(s.to_owned())),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    /// Shows the backend and where it is, without a PostgreSQL password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "SQLite file {path}"),
            DatabaseUrl::Postgres(url) => {
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(scheme_end), Some(at)) if at > scheme_end => {
                        format!("{}://…@{}", &url[..scheme_end], &url[at + 1..])
                    }
                    _ => url.clone(),
                };
                write!(f, "PostgreSQL {shown}")
            }
        }
    }
}

/// A pool of connections to one backend, migrated.
#[derive(Clone)]
pub enum DbPool {
    /// SQLite connections.
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    /// PostgreSQL connections.
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

impl fmt::Debug for DbPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbPool::Sqlite(pool) => write!(f, "DbPool::Sqlite({:?})", pool.state()),
            DbPool::Postgres(pool) => write!(f, "DbPool::Postgres({:?})", pool.state()),
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The folder an SQLite file would be in does not exist (nothing creates it).
    #[error(
        "cannot open SQLite file {path}: the folder {folder} does not exist; create it, or \
         name another file with --database-url"
    )]
    MissingFolder {
        /// The file.
        path: String,
        /// Its folder.
        folder: String,
    },
    /// The first connection failed: the database is missing, refuses us or is out of reach.
    #[error("cannot connect to {target}")]
    Open {
        /// The database, as displayed.
        target: String,
        /// What the database said.
        #[source]
        source: diesel::ConnectionError,
    },
    /// The pool could not open its connections.
    #[error("cannot connect to {target}")]
    Pool {
        /// The database, as displayed.
        target: String,
        /// The pool's error.
        #[source]
        source: diesel::r2d2::PoolError,
    },
    /// The SQLite writer's connection could not be opened.
    #[error("cannot open the writer connection to {target}")]
    Writer {
        /// The database, as displayed.
        target: String,
        /// The connection error.
        #[source]
        source: diesel::ConnectionError,
    },
    /// Migrations failed.
    #[error("cannot migrate {target}")]
    Migrate {
        /// The database, as displayed.
        target: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The session key kept in the database cannot be read or stored.
    #[error("cannot load the session key from {target}")]
    SessionKey {
        /// The database, as displayed.
        target: String,
        /// The access store's error.
        #[source]
        source: crate::db::AccessError,
    },
    /// PostgreSQL change notifications (the live relay between instances) cannot start.
    #[error("cannot listen for changes on {target}")]
    Notifications {
        /// The database, as displayed.
        target: String,
        /// The relay's error.
        #[source]
        source: crate::live::RelayError,
    },
}

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a request waits for a connection before the server answers 503.
    pub timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Per-connection SQLite settings: WAL so readers never block the writer, a busy timeout so
/// writers queue instead of failing with "database is locked", foreign keys for cascades.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // One batch: `sql_query` would run only the first statement.
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Opens a pool on `url` and applies pending migrations.
///
/// One connection is made first, outside the pool: a database that cannot be opened (a missing
/// folder or PostgreSQL database, a refused login) fails at once with its cause, instead of
/// after the pool's connection timeout.
pub fn connect(url: &DatabaseUrl, options: PoolOptions) -> Result<DbPool, ConnectError> {
    let target = url.to_string();
    let migrate_error = |source| ConnectError::Migrate {
        target: target.clone(),
        source,
    };
    let open_error = |source| ConnectError::Open {
        target: target.clone(),
        source,
    };
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(folder) = missing_folder(path) {
                return Err(ConnectError::MissingFolder {
                    path: path.clone(),
                    folder,
                });
            }
            SqliteConnection::establish(path).map_err(open_error)?;
            let pool = Pool::builder()
                .max_size(options.max_size)
                .connection_timeout(options.timeout)
                .connection_customizer(Box::new(SqlitePragmas))
                .build(ConnectionManager::<SqliteConnection>::new(path))
                .map_err(|source| ConnectError::Pool {
                    target: target.clone(),
                    source,
                })?;
            let mut conn = pool.get().map_err(|source| ConnectError::Pool {
                target: target.clone(),
                source,
            })?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migrate_error)?;
            Ok(DbPool::Sqlite(pool))
        }
        DatabaseUrl::Postgres(url) => {
            PgConnection::establish(url).map_err(open_error)?;
            let pool = Pool::builder()
                .max_size(options.max_size)
                .connection_timeout(options.timeout)
                .build(ConnectionManager::<PgConnection>::new(url))
                .map_err(|source| ConnectError::Pool {
                    target: target.clone(),
                    source,
                })?;
            let mut conn = pool.get().map_err(|source| ConnectError::Pool {
                target: target.clone(),
                source,
            })?;
            migrate_postgres(&mut conn).map_err(|e| migrate_error(e.into()))?;
            Ok(DbPool::Postgres(pool))
        }
    }
}

/// The folder of the SQLite file at `path` when it does not exist (not for `:memory:` or
/// `file:` URIs, whose folder SQLite works out itself).
fn missing_folder(path: &str) -> Option<String> {
    if path == ":memory:" || path.starts_with("file:") {
        return None;
    }
    let folder = std::path::Path::new(path).parent()?;
    if folder.as_os_str().is_empty() || folder.exists() {
        return None;
    }
    Some(folder.display().to_string())
}

/// Any number of instances may start together on one database (a rolling deploy): each
/// migrates under a database-wide advisory lock, so one runs the migrations and the others
/// then find nothing pending. Without it, two concurrent `CREATE TABLE`s collide in
/// PostgreSQL's catalog and one instance fails to start.
fn migrate_postgres(conn: &mut PgConnection) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    /// The lock's key: "stpt" in ASCII, the same in every instance.
    const MIGRATION_LOCK: i64 = 0x7374_7074;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(|e| format!("cannot take the migration lock: {e}"))?;
    let migrated = conn
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let unlocked = conn
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .map_err(|e| format!("cannot release the migration lock: {e}"));
    migrated.and(unlocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_comes_from_the_scheme() {
        assert_eq!(
            "postgres://u:p@127.0.0.1/test"
                .parse::<DatabaseUrl>()
                .unwrap(),
            DatabaseUrl::Postgres("postgres://u:p@127.0.0.1/test".into())
        );
        assert_eq!(
            "sqlite://data/stpt.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("data/stpt.db".into())
        );
        assert_eq!(
            "stpt.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("stpt.db".into())
        );
        assert!(matches!(
            "postgress://x".parse::<DatabaseUrl>(),
            Err(DatabaseUrlError::UnsupportedScheme { scheme }) if scheme == "postgress"
        ));
        assert!("".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn display_hides_the_password() {
        let url: DatabaseUrl = "postgres://me:secret@db:5432/stpt".parse().unwrap();
        assert_eq!(url.to_string(), "PostgreSQL postgres://…@db:5432/stpt");
    }

    #[test]
    fn a_database_that_cannot_be_opened_fails_at_once_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder").join("stpt.db");
        let url = DatabaseUrl::Sqlite(missing.to_string_lossy().into_owned());
        let started = std::time::Instant::now();
        let error = connect(&url, PoolOptions::default()).unwrap_err();
        assert!(
            matches!(error, ConnectError::MissingFolder { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("no-such-folder does not exist"),
            "{error}"
        );
        assert!(!missing.parent().unwrap().exists());
        // A file SQLite cannot open (here a folder) is refused by the first connection.
        let url = DatabaseUrl::Sqlite(dir.path().to_string_lossy().into_owned());
        let error = connect(&url, PoolOptions::default()).unwrap_err();
        assert!(matches!(error, ConnectError::Open { .. }), "{error:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
