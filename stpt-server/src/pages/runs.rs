//! The runs page, `/runs`: runs of every machine, newest first, found by machine, status,
//! labels and dates with a form; the same parameters and answers as `GET /api/v1/runs`
//! (`api::runs`), so the page and the API agree. Its links keep the filters.

use askama::Template;
use rocket::http::CookieJar;
use rocket::response::content::RawHtml;
use rocket::{State, get, routes};
use stpt_core::Status;
use stpt_core::wire::FoundRun;

use super::paging::Paging;
use super::rendering::{Badge, PageError, Staleness, When, html, read};
use crate::api::runs::{RunQuery, find};
use crate::stale::StaleLimit;
use crate::state::AppState;

/// One row of the runs page.
struct FoundRow {
    id: i64,
    machine_id: i64,
    machine_name: String,
    timestamp: Option<When>,
    tests: u64,
    finished: u64,
    status: Badge,
    stale: Option<Staleness>,
    labels: Vec<(String, String)>,
}

impl From<&FoundRun> for FoundRow {
    fn from(found: &FoundRun) -> Self {
        let run = &found.run;
        FoundRow {
            id: run.id,
            machine_id: run.machine_id,
            machine_name: found.machine_name.clone(),
            timestamp: When::of(Some(run.timestamp)),
            tests: run.tests(),
            finished: run.counts.finished(),
            status: Badge::of(Some(run.status)),
            stale: Staleness::of(run),
            labels: run.labels.clone().into_iter().collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    /// The form's values, as sent.
    machine: String,
    status: String,
    labels: Vec<String>,
    since: String,
    until: String,
    statuses: Vec<&'static str>,
    /// The filters as a query string ending in `&` (or empty), for the pager's links.
    query: String,
    runs: Vec<FoundRow>,
    paging: Paging,
    /// Why the filters were refused, if they were.
    error: Option<String>,
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn query_string(query: &RunQuery) -> String {
    let mut parts = Vec::new();
    let mut add = |name: &str, value: &str| {
        if !value.trim().is_empty() {
            parts.push(format!("{name}={}", encode(value.trim())));
        }
    };
    add("machine", query.machine.as_deref().unwrap_or(""));
    add("status", query.status.as_deref().unwrap_or(""));
    for label in &query.label {
        add("label", label);
    }
    add("since", query.since.as_deref().unwrap_or(""));
    add("until", query.until.as_deref().unwrap_or(""));
    parts.iter().map(|p| format!("{p}&")).collect()
}

#[get("/runs?<machine>&<status>&<label>&<since>&<until>&<page>&<size>")]
#[allow(clippy::too_many_arguments)]
async fn list_runs(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    cookies: &CookieJar<'_>,
    machine: Option<String>,
    status: Option<String>,
    label: Vec<String>,
    since: Option<String>,
    until: Option<String>,
    page: Option<u64>,
    size: Option<u64>,
) -> Result<RawHtml<String>, PageError> {
    let request = Paging::request(page, size, cookies, state.security.secure_cookies);
    let query = RunQuery {
        machine,
        status,
        label: label.into_iter().filter(|l| !l.trim().is_empty()).collect(),
        since,
        until,
    };
    let (found, error) = match query.parse() {
        Ok(search) => (
            read(state, move |store| find(store, &search, request)).await?,
            None,
        ),
        Err(e) => (
            stpt_core::Page {
                items: Vec::new(),
                total: 0,
            },
            Some(e.detail),
        ),
    };
    let found = found.map(|mut f| {
        limit.mark(&mut f.run);
        f
    });
    let mut labels = query.label.clone();
    labels.push(String::new());
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    html(&RunsPage {
        machine: text(&query.machine),
        status: text(&query.status),
        labels,
        since: text(&query.since),
        until: text(&query.until),
        statuses: Status::PRIORITY.iter().map(|s| s.as_str()).collect(),
        query: query_string(&query),
        paging: Paging::of(&found, request),
        runs: found.items.iter().map(FoundRow::from).collect(),
        error,
    })
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![list_runs]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_keeps_every_filter_encoded() {
        let query = RunQuery {
            machine: Some("lamp rig".to_owned()),
            status: Some(String::new()),
            label: vec!["branch:main".to_owned(), "fw:1&2".to_owned()],
            since: Some("2024-06-01".to_owned()),
            until: None,
        };
        assert_eq!(
            query_string(&query),
            "machine=lamp%20rig&label=branch%3Amain&label=fw%3A1%262&since=2024-06-01&"
        );
    }
}
