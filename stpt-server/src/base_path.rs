//! Serving under a path prefix, for a reverse proxy that forwards `https://host/stpt/…` as
//! is (`--base-path /stpt`).
//!
//! The main items here are [`normalise`] (the one accepted spelling of a prefix) and the
//! [`BasePath`] fairing. The routes, the gate, the catchers and the page code all keep
//! speaking in paths without the prefix; the prefix is handled at the edge only:
//! - on the way in, a request under the prefix has it removed before anything else looks at
//!   the path; a request outside it is routed to nothing, so it gets the JSON 404 (a proxy
//!   that forwards the whole host does not expose stray paths);
//! - on the way out, a redirect's `Location`, a cookie's `Path` and, in an HTML page, every
//!   root-relative `href`, `src`, `action` and `data-*` URL gain the prefix, and the page's
//!   `<body>` carries it as `data-base` for the script (which builds its fetch and WebSocket
//!   URLs from it).
//!
//! Doing it at the edge keeps every page, template and redirect prefix-free, so a new page is
//! right under a prefix without knowing about it. Askama escapes `"` in values, so the rewrite
//! only ever sees attributes the templates wrote.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Header};
use rocket::{Data, Request, Response};

/// Where a request outside the prefix is sent: no route answers it.
const OUTSIDE_PATH: &str = "/_base/outside";

/// A prefix that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BasePathError {
    /// A character outside the URL path characters stpt accepts.
    #[error(
        "base path {0:?} has a character other than letters, digits, `-`, `_`, `.`, `~` and `/`"
    )]
    Character(String),
    /// An empty, `.` or `..` segment (`/a//b`, `/a/../b`).
    #[error("base path {0:?} has an empty, `.` or `..` segment")]
    Segment(String),
}

/// The prefix in its one spelling: a leading slash and no trailing one (`stpt/` →
/// `/stpt`); empty for none (`""` or `/`).
pub fn normalise(given: &str) -> Result<String, BasePathError> {
    let trimmed = given.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '/'))
    {
        return Err(BasePathError::Character(given.to_owned()));
    }
    if trimmed
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(BasePathError::Segment(given.to_owned()));
    }
    Ok(format!("/{trimmed}"))
}

/// The path a request was sent with, before the prefix was removed (for messages).
#[derive(Debug, Clone, Default)]
pub(crate) struct SentPath(pub(crate) Option<String>);

/// The path as the client sent it: with the prefix, or outside it.
pub(crate) fn sent_path(request: &Request<'_>) -> String {
    match &request.local_cache(SentPath::default).0 {
        Some(path) => path.clone(),
        None => request.uri().path().to_string(),
    }
}

/// Whether the request was outside the prefix (and is being answered 404).
pub(crate) fn outside(request: &Request<'_>) -> bool {
    request.local_cache(Outside::default).0
}

#[derive(Debug, Clone, Copy, Default)]
struct Outside(bool);

/// The prefix, managed as state (empty: none).
#[derive(Debug, Clone, Default)]
pub struct Prefix(pub String);

/// Removes the prefix from requests and adds it to what responses point at; does nothing
/// without a prefix.
pub(crate) struct BasePath {
    /// The normalised prefix, `/stpt`.
    pub(crate) prefix: String,
}

#[rocket::async_trait]
impl Fairing for BasePath {
    fn info(&self) -> Info {
        Info {
            name: "serve under a base path",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        if self.prefix.is_empty() {
            return;
        }
        let path = request.uri().path().as_str().to_owned();
        request.local_cache(|| SentPath(Some(path.clone())));
        let inner = match path.strip_prefix(&self.prefix) {
            Some("") => Some("/"),
            Some(rest) if rest.starts_with('/') => Some(rest),
            _ => None,
        };
        let rebuilt = match inner {
            Some(inner) => match request.uri().query() {
                Some(query) => format!("{inner}?{query}"),
                None => inner.to_owned(),
            },
            None => {
                request.local_cache(|| Outside(true));
                OUTSIDE_PATH.to_owned()
            }
        };
        if let Ok(origin) = Origin::parse_owned(rebuilt) {
            request.set_uri(origin);
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        if self.prefix.is_empty() {
            return;
        }
        if let Some(location) = response.headers().get_one("Location")
            && let Some(prefixed) = prefixed(&self.prefix, location)
        {
            response.set_header(Header::new("Location", prefixed));
        }
        let cookies: Vec<String> = response
            .headers()
            .get("Set-Cookie")
            .map(str::to_owned)
            .collect();
        if !cookies.is_empty() {
            response.remove_header("Set-Cookie");
            for cookie in cookies {
                response.adjoin_header(Header::new(
                    "Set-Cookie",
                    cookie_path(&self.prefix, &cookie),
                ));
            }
        }
        let html = response
            .content_type()
            .is_some_and(|content| content == ContentType::HTML);
        if html && request.method() != rocket::http::Method::Head {
            match response.body_mut().to_string().await {
                Ok(body) => response.set_sized_body(
                    None,
                    std::io::Cursor::new(rewrite_html(&self.prefix, &body)),
                ),
                Err(e) => tracing::error!("cannot read a page to add the base path: {e}"),
            }
        }
    }
}

/// `url` with the prefix when it is root-relative (`/x`, not `//host/x` nor `https://…`).
fn prefixed(prefix: &str, url: &str) -> Option<String> {
    (url.starts_with('/') && !url.starts_with("//")).then(|| format!("{prefix}{url}"))
}

/// A `Set-Cookie` value with its `Path` under the prefix.
fn cookie_path(prefix: &str, cookie: &str) -> String {
    cookie
        .split(';')
        .map(|part| {
            let trimmed = part.trim_start();
            let lead = &part[..part.len() - trimmed.len()];
            match trimmed.split_once('=') {
                Some((name, value))
                    if name.eq_ignore_ascii_case("path") && value.starts_with('/') =>
                {
                    let value = if value == "/" { "" } else { value };
                    format!("{lead}{name}={prefix}{value}")
                }
                _ => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Whether an attribute holds a URL the prefix applies to.
fn url_attribute(name: &str) -> bool {
    matches!(name, "href" | "src" | "action") || name.starts_with("data-")
}

/// A page with the prefix on every root-relative URL attribute, and as `data-base` on its
/// `<body>`.
fn rewrite_html(prefix: &str, page: &str) -> String {
    let mut out = String::with_capacity(page.len() + 256);
    let mut rest = page;
    while let Some(at) = rest.find("=\"/") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(0, |i| i + 1);
        let name = &before[name_start..];
        out.push_str("=\"");
        let url = &after[2..];
        if url_attribute(name) && !url.starts_with("//") {
            out.push_str(prefix);
        }
        rest = url;
    }
    out.push_str(rest);
    out.replacen("<body", &format!("<body data-base=\"{prefix}\""), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised_or_refused() {
        assert_eq!(normalise("/stpt").as_deref(), Ok("/stpt"));
        assert_eq!(normalise("stpt/").as_deref(), Ok("/stpt"));
        assert_eq!(normalise("/a/b/").as_deref(), Ok("/a/b"));
        assert_eq!(normalise("/").as_deref(), Ok(""));
        assert_eq!(normalise("").as_deref(), Ok(""));
        assert!(matches!(
            normalise("/st pt"),
            Err(BasePathError::Character(_))
        ));
        assert!(matches!(
            normalise("/a?b"),
            Err(BasePathError::Character(_))
        ));
        assert!(matches!(normalise("/a//b"), Err(BasePathError::Segment(_))));
        assert!(matches!(
            normalise("/a/../b"),
            Err(BasePathError::Segment(_))
        ));
    }

    #[test]
    fn pages_point_under_the_prefix() {
        let page = r##"<body data-page="x"><a href="/machine/1">m</a><img src="/static/i.svg"><form action="/login/"><a href="//cdn.example/x">c</a><a href="https://x/y">e</a><a href="#top">t</a><p title="/not-a-url">q</p><tr data-url="/runs">"##;
        assert_eq!(
            rewrite_html("/stpt", page),
            r##"<body data-base="/stpt" data-page="x"><a href="/stpt/machine/1">m</a><img src="/stpt/static/i.svg"><form action="/stpt/login/"><a href="//cdn.example/x">c</a><a href="https://x/y">e</a><a href="#top">t</a><p title="/not-a-url">q</p><tr data-url="/stpt/runs">"##
        );
    }

    #[test]
    fn redirects_and_cookies_stay_under_the_prefix() {
        assert_eq!(
            prefixed("/stpt", "/login/?next=/x").as_deref(),
            Some("/stpt/login/?next=/x")
        );
        assert_eq!(prefixed("/stpt", "//evil.example/"), None);
        assert_eq!(prefixed("/stpt", "https://x/"), None);
        assert_eq!(
            cookie_path("/stpt", "stpt_session=abc; HttpOnly; Path=/; SameSite=Lax"),
            "stpt_session=abc; HttpOnly; Path=/stpt; SameSite=Lax"
        );
        assert_eq!(cookie_path("/stpt", "a=b; Path=/x"), "a=b; Path=/stpt/x");
        assert_eq!(cookie_path("/stpt", "a=b"), "a=b");
    }
}
