//! Turning a template into a response, the friendly 404 page, store reads for the pages and
//! the small view values templates share.
//!
//! The main types here are [`PageError`] (404 or 500 as an HTML page), [`Badge`] and
//! [`Staleness`].

use askama::Template;
use rocket::Request;
use rocket::http::Status as HttpStatus;
use rocket::response::content::RawHtml;
use rocket::response::{self, Responder};
use stpt_core::{Closure, RunSummary, Status, Store, StoreError, Timestamp};

use crate::app::AppState;

/// A page that could not be shown.
#[derive(Debug)]
pub(super) enum PageError {
    /// The id names nothing.
    NotFound(String),
    /// The store or a template failed.
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    detail: &'a str,
}

impl<'r> Responder<'r, 'static> for PageError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let (status, title, detail) = match &self {
            PageError::NotFound(detail) => (HttpStatus::NotFound, "Not found", detail.as_str()),
            PageError::Internal(detail) => (
                HttpStatus::InternalServerError,
                "Something went wrong",
                detail.as_str(),
            ),
        };
        let html = ErrorPage { title, detail }
            .render()
            .unwrap_or_else(|_| title.to_owned());
        let mut response = RawHtml(html).respond_to(request)?;
        response.set_status(status);
        Ok(response)
    }
}

/// Renders a template into a page.
pub(super) fn html(template: &impl Template) -> Result<RawHtml<String>, PageError> {
    template
        .render()
        .map(RawHtml)
        .map_err(|e| PageError::Internal(format!("the page could not be rendered: {e}")))
}

/// Runs a store call on the blocking pool.
pub(super) async fn read<T, F>(state: &AppState, f: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    rocket::tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| PageError::Internal(format!("the query task failed: {e}")))?
        .map_err(|e| PageError::Internal(format!("the store failed: {e}")))
}

/// A status as shown: its name and the CSS class that colours it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Badge {
    /// The status's name (`running`, `not-available`).
    pub(super) name: &'static str,
}

impl Badge {
    pub(super) fn of(status: Option<Status>) -> Badge {
        Badge {
            name: status.map_or("not-available", Status::as_str),
        }
    }
}

/// A timestamp as the pages show it (UTC), with the ISO form for the browser.
pub(super) fn shown(at: Option<Timestamp>) -> String {
    at.map(|t| t.as_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// What a page says about a stale run: the "stale" badge goes with this note.
#[derive(Debug, Clone)]
pub(super) struct Staleness {
    /// "last event …", or "closed as stale at … · last event …".
    pub(super) note: String,
}

impl Staleness {
    /// The note for `run` (already marked against the stale limit), if it is stale.
    pub(super) fn of(run: &RunSummary) -> Option<Staleness> {
        if !run.stale {
            return None;
        }
        let last_event = match run.last_event_at {
            Some(at) => format!("last event {}", shown(Some(at))),
            None => "no event heard".to_owned(),
        };
        let note = match (run.closed_as, run.closed_at) {
            (Some(Closure::Stale), Some(at)) => {
                format!("closed as stale at {} · {last_event}", shown(Some(at)))
            }
            _ => last_event,
        };
        Some(Staleness { note })
    }
}
