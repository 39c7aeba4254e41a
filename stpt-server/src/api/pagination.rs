//! The seed's page-number pagination: `page` and `page_size` query parameters (default 10,
//! at most 100) and its response envelope.
//!
//! Like the seed, a page number that is not a positive integer or lies past the end is a 404;
//! a bad `page_size` falls back to the default.

use rocket::FromForm;
use rocket::request::{FromRequest, Outcome, Request};
use serde::Serialize;
use stpt_core::wire::Paginated;
use stpt_core::{Page, PageRequest};

use super::ApiError;

/// The raw query parameters; parsed leniently so a bad value is answered, not routed away.
#[derive(Debug, Default, FromForm, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// Page number, from 1; a page that is not a positive integer or lies past the end is
    /// a 404.
    #[param(value_type = Option<u64>, minimum = 1)]
    page: Option<String>,
    /// Items per page (default 10, at most 100); a bad value falls back to the default.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
}

impl PageQuery {
    pub(super) fn request(&self) -> Result<PageRequest, ApiError> {
        let page = match self.page.as_deref() {
            None => 1,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid_page(text))?,
        };
        let size = self
            .page_size
            .as_deref()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|n| *n >= 1)
            .map_or(PageRequest::DEFAULT_SIZE, |n| n.min(PageRequest::MAX_SIZE));
        Ok(PageRequest::new(page, size))
    }
}

fn invalid_page(page: &str) -> ApiError {
    ApiError::not_found(
        "invalid_page",
        format!("invalid page {page:?}: pages are numbered from 1"),
    )
}

/// The `Host` the client used, for the envelope's `current_site`.
pub(super) struct SiteHost(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SiteHost {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let host = request.host().map(|h| h.to_string()).unwrap_or_default();
        Outcome::Success(SiteHost(host))
    }
}

/// Wraps one page in the seed's envelope; a page past the end is a 404.
pub(super) fn envelope<T: Serialize>(
    host: &SiteHost,
    request: PageRequest,
    page: Page<T>,
) -> Result<Paginated<T>, ApiError> {
    let total_pages = page.total_pages(request);
    if request.page > total_pages {
        return Err(invalid_page(&request.page.to_string()));
    }
    let has_previous = request.page > 1;
    let has_next = request.page < total_pages;
    Ok(Paginated {
        current_site: host.0.clone(),
        page_size: request.size,
        count: page.total,
        page_number: request.page,
        total_pages,
        has_previous,
        previous_page_number: has_previous.then(|| request.page - 1),
        has_next,
        next_page_number: has_next.then(|| request.page + 1),
        results: page.items,
    })
}
