//! The seed's pagination envelope around a list.
//!
//! The main type here is [`Paginated`]: the server wraps each page of machines and runs in it,
//! the CLI reads it back to walk the pages.

use serde::{Deserialize, Serialize};

/// The seed's page envelope around a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Paginated<T> {
    /// The `Host` the request was sent to.
    pub current_site: String,
    /// Items per page.
    pub page_size: u64,
    /// Items in the whole list.
    pub count: u64,
    /// This page's number, from 1.
    pub page_number: u64,
    /// Number of pages (at least 1).
    pub total_pages: u64,
    /// Whether a page comes before this one.
    pub has_previous: bool,
    /// The previous page's number.
    pub previous_page_number: Option<u64>,
    /// Whether a page comes after this one.
    pub has_next: bool,
    /// The next page's number.
    pub next_page_number: Option<u64>,
    /// The items of this page.
    pub results: Vec<T>,
}
