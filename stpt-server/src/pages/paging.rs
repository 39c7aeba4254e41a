//! Pagination of the list pages: `?page=N&size=M`, the size remembered in a cookie.
//!
//! The main type here is [`Paging`], which also builds the links the templates show.

use rocket::http::{Cookie, CookieJar, SameSite};
use stpt_core::{Page, PageRequest};

/// The cookie that remembers the chosen page size.
const SIZE_COOKIE: &str = "stpt_page_size";
/// The page sizes offered.
pub(super) const SIZES: [u64; 4] = [10, 25, 50, 100];
const DEFAULT_SIZE: u64 = 10;

/// Where a list page is and how to get elsewhere.
#[derive(Debug, Clone)]
pub(super) struct Paging {
    /// 1-based page number.
    pub(super) page: u64,
    /// Items per page.
    pub(super) size: u64,
    /// Total pages (at least 1).
    pub(super) pages: u64,
    /// Total items.
    pub(super) total: u64,
}

impl Paging {
    /// The request for `page`/`size` from the query, the size falling back to the cookie; a
    /// size given in the query is remembered (in a `Secure` cookie when `secure`).
    pub(super) fn request(
        page: Option<u64>,
        size: Option<u64>,
        cookies: &CookieJar<'_>,
        secure: bool,
    ) -> PageRequest {
        let asked = size.filter(|s| SIZES.contains(s));
        if let Some(asked) = asked {
            let mut cookie = Cookie::new(SIZE_COOKIE, asked.to_string());
            cookie.set_path("/");
            cookie.set_same_site(SameSite::Lax);
            cookie.set_secure(secure);
            cookie.set_max_age(rocket::time::Duration::days(365));
            cookies.add(cookie);
        }
        let remembered = cookies
            .get(SIZE_COOKIE)
            .and_then(|c| c.value().parse::<u64>().ok())
            .filter(|s| SIZES.contains(s));
        let size = asked.or(remembered).unwrap_or(DEFAULT_SIZE);
        PageRequest::new(page.unwrap_or(1), size)
    }

    /// The paging of `page`, fetched with `request`.
    pub(super) fn of<T>(page: &Page<T>, request: PageRequest) -> Paging {
        Paging {
            page: request.page,
            size: request.size,
            pages: page.total_pages(request).max(1),
            total: page.total,
        }
    }

    /// The previous page's number, if any.
    pub(super) fn previous(&self) -> Option<u64> {
        (self.page > 1).then(|| (self.page - 1).min(self.pages))
    }

    /// The next page's number, if any.
    pub(super) fn next(&self) -> Option<u64> {
        (self.page < self.pages).then_some(self.page + 1)
    }

    /// The offered sizes.
    pub(super) fn sizes(&self) -> &'static [u64] {
        &SIZES
    }
}
