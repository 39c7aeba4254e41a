//! A real stpt server (the app `stpt serve` runs, behind the same connection guard) on a
//! background thread, stopped and started again on demand.
//!
//! The main type here is [`RunningServer`]. `start` returns once `/healthz` answers 200, and
//! `stop` (or dropping it) returns once the server has let go of its port, so a new server can
//! be started on the same port and the same database right away.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rocket::Shutdown;
use rocket::tokio::net::TcpSocket;
use stpt_server::Config;

use crate::database::TempDatabase;

/// Longest wait for a server to answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A port on 127.0.0.1 held by a socket that is bound but does not listen, for as long as the
/// test keeps it: connecting to it is refused while no server runs there, and no other socket
/// (another test's, another process's) picks it for itself in the meantime, so a test can stop
/// a server and start another on the same port without racing anyone for it.
pub struct ReservedPort {
    port: u16,
    _socket: TcpSocket,
}

impl ReservedPort {
    /// Reserves a free port.
    pub fn new() -> ReservedPort {
        let reserve = || -> std::io::Result<(u16, TcpSocket)> {
            // A plain socket: no runtime is needed until it listens or connects, which it never
            // does.
            let socket = TcpSocket::new_v4()?;
            // The server binds with SO_REUSEADDR too; two such sockets may share a port as
            // long as only one listens.
            socket.set_reuseaddr(true)?;
            socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            Ok((socket.local_addr()?.port(), socket))
        };
        let (port, socket) = reserve().expect("reserve a free port");
        ReservedPort {
            port,
            _socket: socket,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        ReservedPort::new()
    }
}

/// A server listening on 127.0.0.1.
pub struct RunningServer {
    port: u16,
    shutdown: Shutdown,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl RunningServer {
    /// Starts a server on `database` and `port` and waits until it answers.
    pub fn start(database: &TempDatabase, port: &ReservedPort) -> RunningServer {
        RunningServer::start_with(database, port, |_| {})
    }

    /// Like [`RunningServer::start`], with the configuration adjusted by `adjust`.
    pub fn start_with(
        database: &TempDatabase,
        port: &ReservedPort,
        adjust: impl FnOnce(&mut Config),
    ) -> RunningServer {
        let port = port.port();
        let mut config = Config {
            database_url: database.url().clone(),
            port,
            log: false,
            ..Config::default()
        };
        adjust(&mut config);
        let (ignited, ready) = mpsc::channel();
        let thread = std::thread::spawn(move || launch(&config, &ignited));
        let shutdown = match ready.recv() {
            Ok(shutdown) => shutdown,
            Err(_) => panic!("the server did not start: {:?}", thread.join()),
        };
        let mut server = RunningServer {
            port,
            shutdown,
            thread: Some(thread),
        };
        server.wait_until_healthy();
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` answered 200 with a JSON body.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.url());
        let response = ureq::get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        assert_eq!(response.status(), 200, "GET {url}");
        response
            .into_json()
            .unwrap_or_else(|e| panic!("GET {url} answered no JSON: {e}"))
    }

    /// Stops the server and waits until its port is free.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.shutdown.clone().notify();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let outcome = thread.join();
        // Unwinding already: a second panic would abort the whole test binary.
        if std::thread::panicking() {
            return;
        }
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the server on port {} failed: {e}", self.port),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn wait_until_healthy(&mut self) {
        let url = format!("{}/healthz", self.url());
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if agent.get(&url).call().is_ok_and(|r| r.status() == 200) {
                return;
            }
            if self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
                self.shut_down();
                panic!("the server on port {} stopped before answering", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "the server on port {} did not answer {url} within {READY_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Runs the app until it is shut down, on a runtime of its own; hands back the shutdown handle
/// once the app is ignited.
fn launch(config: &Config, ignited: &mpsc::Sender<Shutdown>) -> Result<(), String> {
    let app = stpt_server::build(config).map_err(|e| format!("cannot build the app: {e}"))?;
    // Not Ctrl-C: several servers run in one test process. No grace period: tests stop a
    // server between requests, and a sink's idle keep-alive connection must not hold it up.
    let figment = app
        .figment()
        .clone()
        .merge(("shutdown.ctrlc", false))
        .merge(("shutdown.grace", 0))
        .merge(("shutdown.mercy", 1));
    let app = app.configure(figment);
    rocket::execute(async move {
        // Served as `stpt serve` serves it: behind the connection guard.
        let launch = stpt_server::Launch::bind(app, config)
            .await
            .map_err(|e| format!("bind: {e}"))?;
        // The receiver is gone only if the test itself is gone; launching is then moot.
        ignited
            .send(launch.shutdown())
            .map_err(|_| "nobody waits for the server".to_owned())?;
        launch.run().await.map_err(|e| format!("launch: {e}"))
    })
}
