//! `GET /api/v1/runs`: runs of every machine, found by machine, status, labels and dates.
//!
//! The query parameters are `machine` (id or name), `status` (a run's aggregate status),
//! `label=KEY:VALUE` (repeatable; every label must match), `since` (inclusive) and `until`
//! (exclusive), both RFC 3339, the seed's `YYYY-MM-DD HH:MM:SS` or a plain `YYYY-MM-DD` (UTC
//! midnight), bounding the dry run's timestamp. Answers come newest first in the seed's page
//! envelope (`page`, `page_size`). A bad value is a 400 naming its parameter in `field`; an
//! empty value counts as absent, as an HTML form sends it. The runs page (`/runs`) and `stpt
//! runs` read the same parameters through [`RunQuery`].

use rocket::serde::json::Json;
use rocket::{State, get, routes};
use stpt_core::wire::{FoundRun, MAX_LABEL_KEY_CHARS, is_label_key};
use stpt_core::{RunFilter, Status, Store, StoreError, Timestamp};

use super::ApiError;
use super::error::ErrorBody;
use super::pagination::{PageQuery, SiteHost, envelope};
use super::read::query;
use crate::stale::StaleLimit;
use crate::state::AppState;
use stpt_core::wire::Paginated;

/// The search's query parameters as sent; [`RunQuery::parse`] checks them.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunQuery {
    /// Only this machine's runs: its id, or its name (any case).
    pub(crate) machine: Option<String>,
    /// Only runs with this aggregate status.
    pub(crate) status: Option<String>,
    /// `KEY:VALUE` each; all must match.
    pub(crate) label: Vec<String>,
    /// Runs whose dry run is at or after this time.
    pub(crate) since: Option<String>,
    /// Runs whose dry run is before this time.
    pub(crate) until: Option<String>,
}

/// The machine a search names, before the store resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MachineRef {
    /// By id.
    Id(i64),
    /// By name.
    Name(String),
}

/// A checked search: the filter but for the machine, and the machine as named.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunSearch {
    pub(crate) machine: Option<MachineRef>,
    pub(crate) filter: RunFilter,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn invalid(field: &str, detail: String) -> ApiError {
    ApiError {
        field: Some(field.to_owned()),
        ..ApiError::bad_request("invalid_parameter", detail)
    }
}

/// Parses `KEY:VALUE` (the key as labels allow it; the value after the first `:`).
pub(crate) fn parse_label(text: &str) -> Result<(String, String), ApiError> {
    let Some((key, value)) = text.split_once(':') else {
        return Err(invalid(
            "label",
            format!("label {text:?} must be KEY:VALUE, e.g. branch:main"),
        ));
    };
    if !is_label_key(key) {
        return Err(invalid(
            "label",
            format!(
                "label key {key:?} must be 1 to {MAX_LABEL_KEY_CHARS} characters among A-Z a-z 0-9 _ . - /"
            ),
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Parses a `since`/`until` bound.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    let text = text.trim();
    text.parse::<Timestamp>()
        .or_else(|_| format!("{text} 00:00:00").parse::<Timestamp>())
        .map_err(|_| {
            invalid(
                field,
                format!(
                    "{field} {text:?} is not a time: use RFC 3339 (2024-06-01T12:00:00Z), 2024-06-01 12:00:00 or 2024-06-01 (UTC)"
                ),
            )
        })
}

impl RunQuery {
    /// Checks every parameter; the error names the first bad one.
    pub(crate) fn parse(&self) -> Result<RunSearch, ApiError> {
        let machine = present(&self.machine).map(|m| match m.parse::<i64>() {
            Ok(id) => MachineRef::Id(id),
            Err(_) => MachineRef::Name(m.to_owned()),
        });
        let status = present(&self.status)
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|e| invalid("status", format!("status {s:?}: {e}")))
            })
            .transpose()?;
        let labels = self
            .label
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .map(parse_label)
            .collect::<Result<Vec<_>, _>>()?;
        let since = present(&self.since)
            .map(|t| parse_time("since", t))
            .transpose()?;
        let until = present(&self.until)
            .map(|t| parse_time("until", t))
            .transpose()?;
        Ok(RunSearch {
            machine,
            filter: RunFilter {
                machine: None,
                status,
                labels,
                since,
                until,
                before: None,
            },
        })
    }
}

impl RunSearch {
    /// The filter with the machine resolved; `None` when no machine has the name or id given
    /// (so nothing passes).
    pub(crate) fn resolve(&self, store: &dyn Store) -> Result<Option<RunFilter>, StoreError> {
        let machine = match &self.machine {
            None => None,
            Some(MachineRef::Id(id)) => match store.machine(*id)? {
                Some(m) => Some(m.id),
                None => return Ok(None),
            },
            Some(MachineRef::Name(name)) => match store.machine_by_name(name)? {
                Some(m) => Some(m.id),
                None => return Ok(None),
            },
        };
        Ok(Some(RunFilter {
            machine,
            ..self.filter.clone()
        }))
    }
}

/// Runs the search: one page of summaries with their machines' names.
pub(crate) fn find(
    store: &dyn Store,
    search: &RunSearch,
    page: stpt_core::PageRequest,
) -> Result<stpt_core::Page<FoundRun>, StoreError> {
    let Some(filter) = search.resolve(store)? else {
        return Ok(stpt_core::Page {
            items: Vec::new(),
            total: 0,
        });
    };
    let found = store.find_runs(&filter, page)?;
    let mut names: Vec<(i64, String)> = Vec::new();
    let mut items = Vec::with_capacity(found.items.len());
    for run in found.items {
        let name = match names.iter().find(|(id, _)| *id == run.machine_id) {
            Some((_, name)) => name.clone(),
            None => {
                let name = store
                    .machine(run.machine_id)?
                    .map(|m| m.name)
                    .unwrap_or_default();
                names.push((run.machine_id, name.clone()));
                name
            }
        };
        items.push(FoundRun {
            run,
            machine_name: name,
        });
    }
    Ok(stpt_core::Page {
        items,
        total: found.total,
    })
}

#[utoipa::path(
    tag = "v1",
    summary = "Runs of every machine by machine, status, labels and dates, newest first",
    description = "Every parameter given must hold; `label` may be repeated (all must match, exactly). An unknown machine finds nothing. Answers use the seed's page envelope. The search reads the `run_labels_by_label` index once per label and counts every match.",
    params(
        ("machine" = Option<String>, Query, description = "only this machine's runs: its id, or its name (any case)", example = "lamp-rig"),
        ("status" = Option<Status>, Query, description = "only runs with this aggregate status"),
        ("label" = Option<Vec<String>>, Query, explode = true, description = "`KEY:VALUE`; repeat it for more labels, which must all match exactly", example = json!(["branch:main"])),
        ("since" = Option<String>, Query, description = "runs whose dry run is at or after this time: RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (UTC)", example = "2024-06-01"),
        ("until" = Option<String>, Query, description = "runs whose dry run is before this time (same forms as `since`)"),
        PageQuery
    ),
    responses(
        (status = 200, description = "one page of runs, newest first", body = Paginated<FoundRun>),
        (status = 400, description = "a parameter is malformed (`field` names it: `machine`, `status`, `label`, `since`, `until`)", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "the page is not a positive integer or lies past the end", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/runs?<machine>&<status>&<label>&<since>&<until>&<page..>")]
#[allow(clippy::too_many_arguments)]
async fn list_runs(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    host: SiteHost,
    machine: Option<String>,
    status: Option<String>,
    label: Vec<String>,
    since: Option<String>,
    until: Option<String>,
    page: PageQuery,
) -> Result<Json<Paginated<FoundRun>>, ApiError> {
    let search = RunQuery {
        machine,
        status,
        label,
        since,
        until,
    }
    .parse()?;
    let request = page.request()?;
    let found = query(state, move |store| find(store, &search, request)).await?;
    let found = found.map(|mut f| {
        limit.mark(&mut f.run);
        f
    });
    Ok(Json(envelope(&host, request, found)?))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![list_runs]
}
