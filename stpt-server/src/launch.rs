//! Serving the app on a real port, behind the connection guard.
//!
//! [`Launch::bind`] listens on the configured public address and ignites the app on an
//! ephemeral port of 127.0.0.1 (Rocket reports the port it got once it is up); [`Launch::run`]
//! starts both and relays every public connection to the app through the
//! [`guard`](crate::guard) until Rocket's shutdown is triggered (Ctrl-C, or
//! [`Launch::shutdown`]). `stpt serve` and the tests that need a real socket use this, so they
//! all exercise the guard.
//!
//! With [`Config::tls_cert`] and [`Config::tls_key`] the guard serves HTTPS (see
//! [`crate::guard::tls`]); the certificate, the key and [`Config::ca_cert`] are read here, so
//! a bad file stops the start with an error naming it.
//!
//! Rocket 0.5 cannot serve on a listener it is given, so it listens on loopback itself; only
//! the guard's relays connect there (anything else on the host could too, and it would be
//! trusted as the guard is: see [`crate::access::ClientAddr`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::{Build, Ignite, Rocket, Shutdown};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::guard::tls::{TlsSetupError, server_config};
use crate::guard::{Guard, GuardError, Limits};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The public address cannot be listened on.
    #[error("cannot listen on {address}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The connection limits are invalid.
    #[error(transparent)]
    Limits(#[from] GuardError),
    /// One body at the body limit would not fit the body budget, so it could never be relayed.
    #[error("the body budget ({budget} bytes) must be at least the body limit ({limit} bytes)")]
    BudgetBelowBodyLimit {
        /// [`Limits::body_budget`].
        budget: u64,
        /// [`Config::body_limit`].
        limit: u64,
    },
    /// The certificate or key to serve HTTPS with cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The CA bundle for the server's own HTTPS clients (webhooks, mail) cannot be used.
    #[error("the CA bundle for webhooks and mail cannot be used")]
    CaCert(#[source] stpt_runner::tls::TlsError),
    /// Rocket refused to start (its own message).
    #[error("the app cannot start: {0}")]
    Ignite(String),
    /// Rocket stopped with an error (its own message).
    #[error("the app stopped with an error: {0}")]
    Serve(String),
}

/// A server bound to its public address, ready to run.
#[derive(Debug)]
pub struct Launch {
    listener: TcpListener,
    address: SocketAddr,
    app: Rocket<Ignite>,
    app_address: oneshot::Receiver<SocketAddr>,
    limits: Limits,
    body_limit: u64,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Launch {
    /// Listens on `config`'s address and port (port 0 picks a free one; see
    /// [`Launch::local_addr`]) and ignites `app`, which is moved to a loopback port of its own.
    /// `app` is normally [`crate::build`]`(config)`, possibly reconfigured (shutdown settings).
    pub async fn bind(app: Rocket<Build>, config: &Config) -> Result<Launch, LaunchError> {
        config.guard.validate()?;
        if config.guard.body_budget < config.body_limit {
            return Err(LaunchError::BudgetBelowBodyLimit {
                budget: config.guard.body_budget,
                limit: config.body_limit,
            });
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(server_config(cert, key)?),
            (None, None) => None,
            (Some(_), None) => {
                return Err(TlsSetupError::Half {
                    given: "certificate",
                }
                .into());
            }
            (None, Some(_)) => return Err(TlsSetupError::Half { given: "key" }.into()),
        };
        if let Some(bundle) = &config.ca_cert {
            stpt_runner::tls::client_config(Some(bundle)).map_err(LaunchError::CaCert)?;
        }
        let requested = SocketAddr::new(config.address, config.port);
        let listener = listen(requested).map_err(|source| LaunchError::Bind {
            address: requested,
            source,
        })?;
        let address = listener.local_addr().map_err(|source| LaunchError::Bind {
            address: requested,
            source,
        })?;
        let (report, app_address) = oneshot::channel();
        let figment = app
            .figment()
            .clone()
            .merge(("address", Ipv4Addr::LOCALHOST))
            .merge(("port", 0));
        let app = app
            .configure(figment)
            .attach(AdHoc::on_liftoff("report the app's port", move |rocket| {
                Box::pin(async move {
                    let config = rocket.config();
                    // Nobody listens any more only if the launch was abandoned.
                    let _ = report.send(SocketAddr::new(config.address, config.port));
                })
            }))
            .ignite()
            .await
            .map_err(|e| LaunchError::Ignite(e.to_string()))?;
        Ok(Launch {
            listener,
            address,
            app,
            app_address,
            limits: config.guard.clone(),
            body_limit: config.body_limit,
            tls,
        })
    }

    /// The public address, with the port actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The handle that stops the server (the guard at once, Rocket after its grace period).
    pub fn shutdown(&self) -> Shutdown {
        self.app.shutdown()
    }

    /// Serves until shut down.
    pub async fn run(self) -> Result<(), LaunchError> {
        let Launch {
            listener,
            app,
            app_address,
            limits,
            body_limit,
            tls,
            ..
        } = self;
        let shutdown = app.shutdown();
        let launch = app.launch();
        tokio::pin!(launch);
        let app_address = tokio::select! {
            address = app_address => match address {
                Ok(address) => address,
                Err(_) => return ended(launch.await),
            },
            result = &mut launch => return ended(result),
        };
        let guard = Guard::new(limits, body_limit, app_address, tls)?;
        let serving = guard.run(listener, shutdown);
        tokio::pin!(serving);
        tokio::select! {
            () = &mut serving => {}
            result = &mut launch => return ended(result),
        }
        // The guard has stopped taking connections; Rocket finishes within its grace period,
        // then the guard relays what it answered last.
        let result = launch.await;
        guard.settle(SETTLE).await;
        ended(result)
    }
}

/// Longest wait, once Rocket has stopped, for the guard to relay its last answers.
const SETTLE: Duration = Duration::from_secs(1);

/// Connections the kernel queues for the guard before it accepts them (capped by the system's
/// `somaxconn`): bursts of new connections at the cap are refused by the guard with a 503
/// rather than dropped by the kernel, which would leave clients retrying for a second.
const BACKLOG: u32 = 4096;

/// A listener on `address`, as Rocket's would be (address reuse, so a restart can bind the
/// port at once), with a deeper queue.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

fn ended(result: Result<Rocket<Ignite>, rocket::Error>) -> Result<(), LaunchError> {
    result
        .map(drop)
        .map_err(|e| LaunchError::Serve(e.to_string()))
}
