//! One log line per request: method, path, status, duration, the client and, where the
//! handler learned it, the machine.
//!
//! The main type here is [`RequestLog`], a fairing attached before every other one so its
//! clock starts first and the path it logs is the one the client sent (later fairings may
//! rewrite it). A handler that knows the machine (ingest) names it through [`LoggedMachine`].
//! Answers of the server's own failures (5xx) are logged as errors, the rest at `info`.

use std::sync::OnceLock;
use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::request::{FromRequest, Outcome};
use rocket::{Data, Request, Response};

use crate::access::client_addr::ClientAddr;

/// The fairing writing the request lines.
pub(crate) struct RequestLog;

/// What the fairing noted when the request arrived.
struct Arrival {
    at: Instant,
    /// The path as sent, without its query (which may carry a reset token).
    path: String,
}

/// The machine a request was about, once its handler knows it.
#[derive(Default)]
struct MachineSlot(OnceLock<String>);

/// A request guard through which a handler names the request's machine in its log line.
pub(crate) struct LoggedMachine<'r>(&'r MachineSlot);

impl LoggedMachine<'_> {
    /// Names the machine (the first name given wins).
    pub(crate) fn set(&self, machine: &str) {
        let _ = self.0.0.set(machine.to_owned());
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LoggedMachine<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(LoggedMachine(request.local_cache(MachineSlot::default)))
    }
}

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "one log line per request",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let path = request.uri().path().as_str().to_owned();
        request.local_cache(|| {
            Some(Arrival {
                at: Instant::now(),
                path,
            })
        });
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        // A request Rocket refused before the fairings ran has no arrival: its path is the
        // one it has.
        let arrival = request.local_cache(|| None::<Arrival>);
        let (path, elapsed) = match arrival {
            Some(arrival) => (arrival.path.as_str(), arrival.at.elapsed()),
            None => (request.uri().path().as_str(), std::time::Duration::ZERO),
        };
        let machine = request
            .local_cache(MachineSlot::default)
            .0
            .get()
            .map(String::as_str);
        let client = request
            .guard::<ClientAddr>()
            .await
            .succeeded()
            .and_then(|client| client.0)
            .map(tracing::field::display);
        let status = response.status().code;
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let method = request.method().as_str();
        if status >= 500 {
            tracing::error!(
                method,
                path,
                status,
                duration_ms,
                machine,
                client,
                "{method} {path} {status}"
            );
        } else {
            tracing::info!(
                method,
                path,
                status,
                duration_ms,
                machine,
                client,
                "{method} {path} {status}"
            );
        }
    }
}
