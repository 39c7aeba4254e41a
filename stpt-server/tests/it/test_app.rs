//! `TestApp`: the server app on a database of its own, driven through Rocket's local client.
//!
//! A test says what it needs and gets it: `TestApp::sqlite()` or `TestApp::postgres()` (a
//! fresh temporary file or schema, see `support`), then `.with_access(read, ingest)` for users
//! and machine tokens, `.body_limit(n)`, `.stale(after, every)`, `.clock(&TestClock)` (time
//! that passes when the test says so) or any other `.config(..)`,
//! and `.build()` (Rocket's local client) or `.serve()` (a real server on a free port).
//! [`on_both_backends!`] runs test functions that take a [`TestAppBuilder`] on
//! both backends; [`snapshot!`] is the one JSON snapshot with the redactions the server's
//! answers need.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rocket::http::{ContentType, Header, Status};
use rocket::local::blocking::{Client, LocalResponse};
use serde_json::Value;
use stpt_core::{Store, Timestamp};
use stpt_server::clock::Clock;
use stpt_server::config::{IngestAuth, ReadAccess};
use stpt_server::db::AccessStore;
use stpt_server::{Config, build_with_access, build_with_store};

use crate::live::Server;
use crate::support::TestDb;

/// What a test wants of its app, before it is built.
pub(crate) struct TestAppBuilder {
    db: TestDb,
    config: Config,
    access: bool,
    untracked: bool,
}

/// A built app, its database and (with access) its access store.
pub(crate) struct TestApp {
    /// Rocket's local client (tracked cookies).
    pub(crate) client: Client,
    /// The app's database.
    pub(crate) db: TestDb,
    /// Users and tokens, when built `.with_access(..)`.
    pub(crate) access: Option<AccessStore>,
}

impl TestApp {
    /// An app on a new SQLite file.
    pub(crate) fn sqlite() -> TestAppBuilder {
        TestApp::on(TestDb::sqlite())
    }

    /// An app on a new PostgreSQL schema.
    pub(crate) fn postgres() -> TestAppBuilder {
        TestApp::on(TestDb::postgres())
    }

    /// An app on `db`, with the test defaults (no request log).
    pub(crate) fn on(db: TestDb) -> TestAppBuilder {
        let config = Config {
            database_url: db.url().clone(),
            log: false,
            ..Config::default()
        };
        TestAppBuilder {
            db,
            config,
            access: false,
            untracked: false,
        }
    }

    /// The access store of an app built `.with_access(..)`.
    pub(crate) fn access(&self) -> &AccessStore {
        self.access
            .as_ref()
            .expect("the app was built .with_access(..)")
    }

    /// POSTs a JSON body.
    pub(crate) fn post(&self, path: &str, body: &str) -> (Status, Value) {
        self.post_with(path, body, None)
    }

    /// POSTs a JSON body, with a machine token when given.
    pub(crate) fn post_with(&self, path: &str, body: &str, token: Option<&str>) -> (Status, Value) {
        let mut request = self.client.post(path).header(ContentType::JSON).body(body);
        if let Some(token) = token {
            request = request.header(Header::new("Authorization", format!("Bearer {token}")));
        }
        answer(request.dispatch())
    }

    /// GETs a path: its status and its body (JSON, or the text as a JSON string).
    pub(crate) fn get(&self, path: &str) -> (Status, Value) {
        answer(self.client.get(path).dispatch())
    }

    /// GETs a path, with a machine token when given.
    pub(crate) fn get_with(&self, path: &str, token: Option<&str>) -> LocalResponse<'_> {
        let mut request = self.client.get(path.to_owned());
        if let Some(token) = token {
            request = request.header(Header::new("Authorization", format!("Bearer {token}")));
        }
        request.dispatch()
    }
}

impl TestAppBuilder {
    /// Users, sessions and machine tokens on the app's database, with these rules.
    pub(crate) fn with_access(mut self, read_access: ReadAccess, ingest_auth: IngestAuth) -> Self {
        self.config.read_access = read_access;
        self.config.ingest_auth = Some(ingest_auth);
        self.access = true;
        self
    }

    /// The largest accepted request body.
    pub(crate) fn body_limit(mut self, bytes: u64) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How long a run may stay silent before it is stale, and how often the sweep looks.
    pub(crate) fn stale(mut self, after: Duration, sweep_every: Duration) -> Self {
        self.config.stale_after = after;
        self.config.stale_sweep_every = sweep_every;
        self
    }

    /// The app reads the time from `clock`, which the test moves.
    pub(crate) fn clock(mut self, clock: &TestClock) -> Self {
        self.config.clock = clock.clock();
        self
    }

    /// A client that keeps no cookies: each request carries only those it is given.
    pub(crate) fn untracked(mut self) -> Self {
        self.untracked = true;
        self
    }

    /// Any other setting.
    pub(crate) fn config(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        adjust(&mut self.config);
        self
    }

    /// The database the app is built on.
    pub(crate) fn db(&self) -> &TestDb {
        &self.db
    }

    /// Launches the app as `stpt serve` serves it (behind the connection guard) on a free
    /// port; the builder keeps the database, and can launch more servers on it.
    pub(crate) fn serve(&self) -> Server {
        Server::launch(self.config.clone())
    }

    /// Builds the app.
    pub(crate) fn build(self) -> TestApp {
        let store: Arc<dyn Store> = Arc::new((*self.db).clone());
        let (rocket, access) = if self.access {
            let access = AccessStore::new(self.db.pool().clone());
            let rocket =
                build_with_access(&self.config, store, access.clone()).expect("session key");
            (rocket, Some(access))
        } else {
            (build_with_store(&self.config, store), None)
        };
        let client = if self.untracked {
            Client::untracked(rocket)
        } else {
            Client::tracked(rocket)
        };
        TestApp {
            client: client.expect("valid rocket"),
            db: self.db,
            access,
        }
    }
}

/// A clock a test moves: the system clock, plus however far the test has advanced it.
#[derive(Clone, Default)]
pub(crate) struct TestClock {
    ahead_micros: Arc<AtomicI64>,
}

impl TestClock {
    /// Moves the clock `by` forward: to the app, that much time has passed.
    pub(crate) fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).expect("a test-sized duration");
        self.ahead_micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// The app's view of this clock.
    fn clock(&self) -> Clock {
        let ahead = Arc::clone(&self.ahead_micros);
        Clock::new(move || {
            let now = Timestamp::now();
            let micros = now.as_micros() + ahead.load(Ordering::SeqCst);
            Timestamp::from_micros(micros).unwrap_or(now)
        })
    }
}

/// A response's status and body (JSON, or the text as a JSON string).
pub(crate) fn answer(response: LocalResponse<'_>) -> (Status, Value) {
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Runs each named function, which takes a [`TestAppBuilder`], as a test on SQLite and on
/// PostgreSQL (`mod sqlite`, `mod postgres`; the latter ignored, with the reason, where no
/// server was configured). `|app| expr;` first turns the builder into what they take.
macro_rules! on_both_backends {
    (|$app:ident| $make:expr; $($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let $app = crate::test_app::TestApp::sqlite();
                    super::$case($make)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                #[cfg_attr(not(stpt_postgres_tests), ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests")]
                fn $case() {
                    let $app = crate::test_app::TestApp::postgres();
                    super::$case($make)
                }
            )*
        }
    };
    ($($case:ident),* $(,)?) => {
        on_both_backends!(|app| app; $($case),*);
    };
}
pub(crate) use on_both_backends;

/// A JSON snapshot of a server answer, shared by both backends (no module prefix), with the
/// values that differ from run to run redacted.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!($name, $value, {
                ".**.started_ago" => "[age]",
                ".**.finished_ago" => "[age]",
                ".current_site" => "[host]",
                ".**.last_event_at" => "[now]",
            });
        })
    };
}
pub(crate) use snapshot;
