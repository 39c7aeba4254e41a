//! The HTTP client of the query commands: one stpt server, its URL and token.
//!
//! The main type here is [`Client`], built from [`ServerArgs`] (flattened into every command
//! that talks to a server); its calls answer
//! typed values or a [`RequestError`] saying what happened and what to do about it. Machines are
//! named by name or id ([`Client::resolve_machine`]); the seed's paginated lists are read whole
//! with [`Client::all_pages`].

use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use stpt_server::api::shapes::MachineListItem;

/// Where the server is and how to authenticate to it (every subcommand but `serve`).
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    /// The stpt server's base URL.
    #[arg(
        long,
        env = "STPT_URL",
        default_value = "http://127.0.0.1:8000",
        global = true
    )]
    pub(crate) url: String,
    /// A token sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "STPT_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
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

/// The seed's pagination envelope (only the fields the CLI reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Paginated<T> {
    /// Items in the whole list.
    pub(crate) count: u64,
    /// This page's number, from 1.
    pub(crate) page_number: u64,
    /// Number of pages.
    pub(crate) total_pages: u64,
    /// Whether a next page exists.
    pub(crate) has_next: bool,
    /// This page's items.
    pub(crate) results: Vec<T>,
}

/// A blocking client for one server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client for the server named by `args`.
    pub(crate) fn new(args: &ServerArgs) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build();
        Client {
            base: args.url.trim_end_matches('/').to_owned(),
            token: args.token.clone().filter(|t| !t.is_empty()),
            agent,
        }
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
        let response = answer(&url, request.call())?;
        parse(&url, response)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub(crate) fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, RequestError> {
        let url = self.url(path);
        let request = self.authorized(self.agent.post(&url));
        let response = answer(&url, request.send_json(body))?;
        let text = response
            .into_string()
            .map_err(|e| unreachable(&url, &ureq::Error::from(e)))?;
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| RequestError::Malformed {
            url,
            reason: e.to_string(),
        })
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
            None => m.machine_name.to_lowercase() == given.to_lowercase(),
        });
        match found {
            Some(machine) => Ok(MachineRef {
                id: machine.pk,
                name: machine.machine_name.clone(),
            }),
            None => {
                let known = if machines.is_empty() {
                    "the server knows no machine yet (a machine appears with its first dry run)"
                        .to_owned()
                } else {
                    let names: Vec<String> = machines
                        .iter()
                        .take(10)
                        .map(|m| format!("{} (#{})", m.machine_name, m.pk))
                        .collect();
                    let more = if machines.len() > names.len() {
                        ", …"
                    } else {
                        ""
                    };
                    format!(
                        "known machines are {}{more}; see `stpt machines`",
                        names.join(", ")
                    )
                };
                Err(UnknownMachine {
                    given: given.to_owned(),
                    known,
                }
                .into())
            }
        }
    }

    fn authorized(&self, request: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }
}

fn answer(
    url: &str,
    result: Result<ureq::Response, ureq::Error>,
) -> Result<ureq::Response, RequestError> {
    match result {
        Ok(response) => Ok(response),
        Err(ureq::Error::Status(status, response)) => Err(refused(url, status, response)),
        Err(error) => Err(unreachable(url, &error)),
    }
}

fn unreachable(url: &str, error: &ureq::Error) -> RequestError {
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

fn refused(url: &str, status: u16, response: ureq::Response) -> RequestError {
    let text = response.into_string().unwrap_or_default();
    let (error, detail) = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(body)) => (
            body.get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("error")
                .to_owned(),
            match body.get("detail") {
                Some(serde_json::Value::String(detail)) => detail.clone(),
                Some(other) => other.to_string(),
                None => text.clone(),
            },
        ),
        _ => ("error".to_owned(), text.chars().take(300).collect()),
    };
    RequestError::Refused {
        url: url.to_owned(),
        status,
        error,
        detail,
    }
}

fn parse<T: DeserializeOwned>(url: &str, response: ureq::Response) -> Result<T, RequestError> {
    let text = response
        .into_string()
        .map_err(|e| unreachable(url, &ureq::Error::from(e)))?;
    serde_json::from_str(&text).map_err(|e| RequestError::Malformed {
        url: url.to_owned(),
        reason: e.to_string(),
    })
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
