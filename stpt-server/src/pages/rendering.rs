//! Turning a template into a response, the friendly 404 page, store reads for the pages and
//! the small view values templates share.
//!
//! The main types here are [`PageError`] (404 or 500 as an HTML page), [`Badge`], [`When`] and
//! [`Staleness`]. Every page shows a moment in one format ([`shown`], `2018-12-30 13:01:57
//! UTC`) and a duration in one format ([`duration`], `0.5 s`, `1 min 05 s`); the live page's
//! script formats durations with the same rule (`duration` in `static/app.js`).

use askama::Template;
use rocket::Request;
use rocket::http::Status as HttpStatus;
use rocket::response::content::RawHtml;
use rocket::response::{self, Responder};
use stpt_core::{Closure, RunSummary, Status, Store, StoreError, Timestamp};

use crate::api::ApiError;
use crate::state::AppState;

/// A page that could not be shown.
#[derive(Debug)]
pub(super) enum PageError {
    /// The id names nothing.
    NotFound(String),
    /// A query parameter is malformed.
    BadRequest(String),
    /// A template failed (logged when made); its text is not shown.
    Internal,
    /// The store failed, answered with the status of `ApiError`'s one mapping of store
    /// errors (a 5xx is logged there and its text is not shown).
    Store(ApiError),
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        PageError::Store(ApiError::from(err))
    }
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
            PageError::BadRequest(detail) => {
                (HttpStatus::BadRequest, "Bad request", detail.as_str())
            }
            PageError::Internal => (
                HttpStatus::InternalServerError,
                "Something went wrong",
                "The page could not be shown; the server log has the cause.",
            ),
            PageError::Store(answer) if answer.status == HttpStatus::NotFound => {
                (answer.status, "Not found", answer.detail.as_str())
            }
            PageError::Store(answer) if answer.status == HttpStatus::ServiceUnavailable => (
                answer.status,
                "Busy",
                "The database is busy; reload the page in a moment.",
            ),
            PageError::Store(answer) => (
                answer.status,
                "Something went wrong",
                answer.detail.as_str(),
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
    template.render().map(RawHtml).map_err(|e| {
        tracing::error!("the page could not be rendered: {e}");
        PageError::Internal
    })
}

/// Runs a store call on the blocking pool.
pub(super) async fn read<T, F>(state: &AppState, f: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    Ok(state.read(f).await?)
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

/// A timestamp as the pages show it: `2018-12-30 13:01:57 UTC`, the zone joined to the time
/// by a no-break space so it never wraps onto a line of its own; empty for none.
pub(super) fn shown(at: Option<Timestamp>) -> String {
    at.map(|t| {
        t.as_datetime()
            .format("%Y-%m-%d %H:%M:%S\u{a0}UTC")
            .to_string()
    })
    .unwrap_or_default()
}

/// A moment for a template's `<time datetime="{{ iso }}">{{ text }}</time>`.
#[derive(Debug, Clone)]
pub(super) struct When {
    /// RFC 3339, for the `datetime` attribute.
    pub(super) iso: String,
    /// As [`shown`] writes it.
    pub(super) text: String,
}

impl When {
    /// The moment `at`, if any.
    pub(super) fn of(at: Option<Timestamp>) -> Option<When> {
        at.map(|at| When {
            iso: at.to_rfc3339(),
            text: shown(Some(at)),
        })
    }
}

/// A duration as every page shows it: `< 0.1 s` below a tenth of a second, tenths below a
/// minute (`0.5 s`, `30.1 s`), then `1 min 05 s` and `2 h 03 min`; `–` for a negative or
/// unknown one. `static/app.js` has the same rule as `duration`.
pub(super) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".to_owned();
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a finite, non-negative duration in tenths of a second fits an i64"
    )]
    let tenths = (seconds * 10.0).round() as i64;
    if tenths < 1 {
        return "< 0.1 s".to_owned();
    }
    if tenths < 600 {
        return format!("{}.{} s", tenths / 10, tenths % 10);
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a finite, non-negative duration in seconds fits an i64"
    )]
    let whole = seconds.round() as i64;
    let (hours, minutes, secs) = (whole / 3600, whole % 3600 / 60, whole % 60);
    if hours > 0 {
        format!("{hours} h {minutes:02} min")
    } else {
        format!("{minutes} min {secs:02} s")
    }
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

#[cfg(test)]
mod tests {
    use super::{duration, shown};
    use stpt_core::Timestamp;

    /// The browser test holds the same table for `duration` in `static/app.js`.
    const DURATIONS: [(f64, &str); 12] = [
        (0.0, "< 0.1 s"),
        (0.0002, "< 0.1 s"),
        (0.05, "0.1 s"),
        (0.5, "0.5 s"),
        (1.0, "1.0 s"),
        (30.14, "30.1 s"),
        (59.94, "59.9 s"),
        (59.96, "1 min 00 s"),
        (65.0, "1 min 05 s"),
        (3599.4, "59 min 59 s"),
        (3725.0, "1 h 02 min"),
        (-1.0, "–"),
    ];

    #[test]
    fn durations_read_the_same_everywhere() {
        for (seconds, text) in DURATIONS {
            assert_eq!(duration(seconds), text, "{seconds}");
        }
        assert_eq!(duration(f64::NAN), "–");
    }

    #[test]
    fn moments_show_in_one_format_that_keeps_the_zone_with_the_time() {
        let at: Timestamp = "2026-11-30 18:50:30.202494".parse().unwrap();
        assert_eq!(shown(Some(at)), "2026-11-30 18:50:30\u{a0}UTC");
        assert_eq!(shown(None), "");
    }
}
