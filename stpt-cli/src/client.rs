//! The HTTP client of the query commands: one stpt server, its URL and token.
//!
//! The main type here is [`Client`], built from [`ServerArgs`] (flattened into every command
//! that talks to a server); its calls answer
//! typed values or a [`RequestError`] saying what happened and what to do about it. Machines are
//! named by name or id ([`Client::resolve_machine`]); the seed's paginated lists are read whole
//! with [`Client::all_pages`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::de::DeserializeOwned;
use stpt_core::machine_key;
use stpt_core::wire::ErrorBody;
use stpt_core::wire::MachineListItem;

/// Where the server is and how to authenticate to it (flattened into the commands that talk
/// to one).
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    /// The stpt server's base URL.
    #[arg(
        long,
        env = "STPT_URL",
        default_value = "http://127.0.0.1:8000",
        value_parser = parse_server_url,
        global = true
    )]
    pub(crate) url: String,
    /// A token sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "STPT_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
    /// A PEM bundle of CA certificates to trust for an https:// server, besides the
    /// system's (a private CA).
    #[arg(long, env = "STPT_CA_CERT", value_name = "PATH", global = true)]
    pub(crate) ca_cert: Option<PathBuf>,
}

/// A server URL as `--url` and `STPT_URL` take it: `http[s]://HOST[:PORT][/PREFIX]`, kept
/// without its trailing slash. A URL without scheme is refused here, rather than blamed on
/// a server that is not running.
pub(crate) fn parse_server_url(given: &str) -> Result<String, String> {
    let url = given.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{given:?} lacks http:// at its start: write http://{url}"
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "{given:?}: {other}:// is not HTTP; write http://… or https://…"
            ));
        }
    }
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{given:?} names no host: write http://HOST:PORT"));
    }
    Ok(url.to_owned())
}

/// A request that did not give the expected answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No connection could be made, or it broke.
    #[error(
        "cannot reach the stpt server at {url}: {reason}; is `stpt serve` running there? \
         (set --url or STPT_URL)"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The server's certificate could not be verified (or it does not speak TLS).
    #[error("cannot reach the stpt server at {url} securely: {problem}")]
    Tls {
        /// The URL tried.
        url: String,
        /// What went wrong, naming the host ([`stpt_runner::tls::explain`]).
        problem: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status} {error}: {detail}")]
    Refused {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The `error` kind of the `{"error", "detail"}` body, or `error`.
        error: String,
        /// The `detail`, or the start of the body.
        detail: String,
    },
    /// Something answered, but not an stpt server: a page where stpt answers JSON.
    #[error(
        "{base} is not an stpt server: {url} answered HTTP {status} with {what} rather than \
         stpt's JSON; set --url or STPT_URL to the stpt server's address"
    )]
    NotStpt {
        /// The base URL given.
        base: String,
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// What came instead ("an HTML page", "text").
        what: String,
    },
    /// A server in front of stpt (a proxy) failed with a page of its own.
    #[error(
        "{url} answered HTTP {status} with {what}, not stpt's JSON: a proxy in front of the \
         stpt server may be failing"
    )]
    ProxyFailed {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// What came instead.
        what: String,
    },
    /// The answer is not the JSON expected.
    #[error("unexpected answer from {url}: {reason}")]
    Malformed {
        /// The URL asked.
        url: String,
        /// What did not parse.
        reason: String,
    },
}

impl RequestError {
    /// Whether the server said there is nothing there (HTTP 404).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, RequestError::Refused { status: 404, .. })
    }
}

/// A machine known to the server, resolved from a name or an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MachineRef {
    /// Its id.
    pub(crate) id: i64,
    /// Its name.
    pub(crate) name: String,
}

/// A machine that no name or id matched.
#[derive(Debug, thiserror::Error)]
#[error("unknown machine {given:?}: {known}")]
pub(crate) struct UnknownMachine {
    given: String,
    known: String,
}

/// Most machines an unknown machine's error names.
const MACHINES_NAMED: usize = 5;

/// What an unknown machine's error says about the machines there are: a few, those whose
/// name is closest to `given` first (containing it, or sharing its start), and how many more.
fn known_machines(given: &str, machines: &[MachineListItem]) -> String {
    if machines.is_empty() {
        return "the server knows no machine yet (a machine appears with its first dry run)"
            .to_owned();
    }
    let wanted = machine_key(given.trim());
    let closeness = |name: &str| {
        let name = machine_key(name);
        let shared = name
            .chars()
            .zip(wanted.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let contains = !wanted.is_empty() && (name.contains(&wanted) || wanted.contains(&name));
        (std::cmp::Reverse(contains), std::cmp::Reverse(shared))
    };
    let mut ranked: Vec<&MachineListItem> = machines.iter().collect();
    ranked.sort_by_key(|m| closeness(&m.machine_name));
    let names: Vec<String> = ranked
        .iter()
        .take(MACHINES_NAMED)
        .map(|m| format!("{} (#{})", m.machine_name, m.pk))
        .collect();
    let list = match machines.len() - names.len() {
        0 => names.join(", "),
        more => format!("{} and {more} more", names.join(", ")),
    };
    let noun = if machines.len() == 1 {
        "machine is"
    } else {
        "machines are"
    };
    format!("known {noun} {list}; see `stpt machines`")
}

/// The seed's pagination envelope, as the server declares it.
pub(crate) use stpt_core::wire::Paginated;

/// A blocking client for one server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// The TLS configuration of `agent`, for the WebSocket of `tail`.
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl Client {
    /// A client for the server named by `args`; fails only on a CA bundle that cannot be
    /// read.
    pub(crate) fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let tls = stpt_runner::tls::client_config(args.ca_cert.as_deref())?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls.clone())
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build();
        Ok(Client {
            base: args.url.trim_end_matches('/').to_owned(),
            token: args.token.clone().filter(|t| !t.is_empty()),
            agent,
            tls,
        })
    }

    /// The TLS configuration every connection of this client uses.
    pub(crate) fn tls(&self) -> &std::sync::Arc<rustls::ClientConfig> {
        &self.tls
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The token, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, parsed as `T`.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RequestError> {
        let url = self.url(path);
        let request = self.authorized(self.agent.get(&url));
        let response = self.answer(&url, request.call())?;
        self.parse(&url, response)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub(crate) fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, RequestError> {
        let url = self.url(path);
        let request = self.authorized(self.agent.post(&url));
        let response = self.answer(&url, request.send_json(body))?;
        let content_type = response.content_type().to_owned();
        let text = response
            .into_string()
            .map_err(|e| unreachable(&url, &ureq::Error::from(e)))?;
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| self.malformed(&url, 200, &content_type, &text, e))
    }

    /// `DELETE path`, answered with JSON. Sent as JSON, like every write the server takes.
    pub(crate) fn delete(&self, path: &str) -> Result<serde_json::Value, RequestError> {
        let url = self.url(path);
        let request = self
            .authorized(self.agent.delete(&url))
            .set("Content-Type", "application/json");
        let response = self.answer(&url, request.call())?;
        self.parse(&url, response)
    }

    /// Every item of a paginated list, page after page (100 a page).
    pub(crate) fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, RequestError> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let answer: Paginated<T> = self.get(&format!("{path}?page={page}&page_size=100"))?;
            items.extend(answer.results);
            if !answer.has_next {
                return Ok(items);
            }
            page += 1;
        }
    }

    /// Every machine, in the server's order.
    pub(crate) fn machines(&self) -> Result<Vec<MachineListItem>, RequestError> {
        self.all_pages("/tm_api/machines/")
    }

    /// The machine named `given`: a number is an id, anything else a name matched without
    /// regard to case.
    pub(crate) fn resolve_machine(&self, given: &str) -> anyhow::Result<MachineRef> {
        let machines = self.machines()?;
        let wanted_id = given.trim().parse::<i64>().ok();
        let found = machines.iter().find(|m| match wanted_id {
            Some(id) => m.pk == id,
            None => machine_key(&m.machine_name) == machine_key(given),
        });
        match found {
            Some(machine) => Ok(MachineRef {
                id: machine.pk,
                name: machine.machine_name.clone(),
            }),
            None => Err(UnknownMachine {
                given: given.to_owned(),
                known: known_machines(given, &machines),
            }
            .into()),
        }
    }

    fn authorized(&self, request: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }
}

impl Client {
    /// The response, or what its error status means.
    fn answer(
        &self,
        url: &str,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response, RequestError> {
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => Err(self.refused(url, status, response)),
            Err(error) => Err(unreachable(url, &error)),
        }
    }

    /// An error status: stpt's `{"error", "detail"}` read out; anything else with a body is
    /// not stpt talking.
    fn refused(&self, url: &str, status: u16, response: ureq::Response) -> RequestError {
        let content_type = response.content_type().to_owned();
        let text = response.into_string().unwrap_or_default();
        match ErrorBody::parse(&text) {
            Some(body) => RequestError::Refused {
                url: url.to_owned(),
                status,
                error: body.error,
                detail: body.detail,
            },
            // The HTTP layer's own refusals (an unparsable request) come without a body.
            _ if text.trim().is_empty() => RequestError::Refused {
                url: url.to_owned(),
                status,
                error: "error".to_owned(),
                detail: "(no body)".to_owned(),
            },
            _ => self.foreign(url, status, &content_type, &text),
        }
    }

    /// An answer in a shape stpt never gives: another server at this address, or a proxy's
    /// error page.
    fn foreign(&self, url: &str, status: u16, content_type: &str, text: &str) -> RequestError {
        let what = what_came(content_type, text);
        if status >= 500 {
            RequestError::ProxyFailed {
                url: url.to_owned(),
                status,
                what,
            }
        } else {
            RequestError::NotStpt {
                base: self.base.clone(),
                url: url.to_owned(),
                status,
                what,
            }
        }
    }

    /// A 2xx answer that is not the JSON expected: not stpt when it is not JSON at all.
    fn malformed(
        &self,
        url: &str,
        status: u16,
        content_type: &str,
        text: &str,
        error: serde_json::Error,
    ) -> RequestError {
        if serde_json::from_str::<serde_json::Value>(text).is_err() {
            return self.foreign(url, status, content_type, text);
        }
        RequestError::Malformed {
            url: url.to_owned(),
            reason: error.to_string(),
        }
    }

    fn parse<T: DeserializeOwned>(
        &self,
        url: &str,
        response: ureq::Response,
    ) -> Result<T, RequestError> {
        let status = response.status();
        let content_type = response.content_type().to_owned();
        let text = response
            .into_string()
            .map_err(|e| unreachable(url, &ureq::Error::from(e)))?;
        serde_json::from_str(&text)
            .map_err(|e| self.malformed(url, status, &content_type, &text, e))
    }
}

/// "an HTML page", "text/plain", …: what came instead of JSON.
fn what_came(content_type: &str, text: &str) -> String {
    let start = text
        .trim_start()
        .get(..15)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.contains("html")
        || start.starts_with("<!doctype html")
        || start.starts_with("<html")
    {
        "an HTML page".to_owned()
    } else if content_type.is_empty() {
        "a body that is not JSON".to_owned()
    } else {
        format!("a {content_type} body")
    }
}

fn unreachable(url: &str, error: &ureq::Error) -> RequestError {
    if let Some(problem) = stpt_runner::tls::explain_ureq(url, error) {
        return RequestError::Tls {
            url: url.to_owned(),
            problem,
        };
    }
    let reason = match error {
        ureq::Error::Transport(transport) => match transport.message() {
            Some(message) => format!("{} ({message})", transport.kind()),
            None => transport.kind().to_string(),
        },
        other => other.to_string(),
    };
    RequestError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

impl Client {
    /// Posts one event to its ingest endpoint; answers the server's echo (with `run_id` for a
    /// dry run).
    pub(crate) fn post_event(
        &self,
        event: &stpt_core::Event,
    ) -> Result<serde_json::Value, RequestError> {
        let body = serde_json::to_value(event).map_err(|e| RequestError::Malformed {
            url: self.url(event.kind().path()),
            reason: e.to_string(),
        })?;
        self.post(event.kind().path(), &body)
    }
}
