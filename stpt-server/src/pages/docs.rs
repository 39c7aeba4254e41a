//! `/docs/`: the protocol and every route as a page of the site.
//!
//! The protocol part is `docs/protocol.md` (compiled in and read by `markdown`); the routes
//! are the server's OpenAPI document (`api::openapi`, generated from the handlers), so
//! neither can drift from what it describes. Operations are grouped by their tag; a tag this
//! page has no title for still shows, under its own name. Everything reaches the page as text
//! through the template's escaping; `code` in descriptions becomes `<code>`.
//!
//! The main item here is [`page`].

use askama::Template;
use serde_json::Value;

use super::markdown::{self, Block, Inline, inlines};

/// The protocol, as the repository documents it.
const PROTOCOL: &str = include_str!("../../../docs/protocol.md");

/// The route groups in page order: tag, title and what they are for.
const GROUPS: [(&str, &str, &str); 6] = [
    (
        "seed",
        "The seed's API",
        "The original application's endpoints, with its paths, shapes and formats: what test rigs report and what its clients read.",
    ),
    (
        "v1",
        "stpt's API",
        "stpt's own answers under `/api/v1/`: runs in full and closing a run by hand.",
    ),
    (
        "history",
        "History",
        "How a machine's tests and runs behave over time.",
    ),
    (
        "live",
        "Live",
        "WebSockets that push every change as it is applied.",
    ),
    (
        "pages",
        "Behind the pages",
        "JSON made for the pages' script; it may change with the pages.",
    ),
    (
        "operations",
        "Operations",
        "Health, metrics and this documentation.",
    ),
];

const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// A parameter of an operation.
struct Param {
    name: String,
    location: String,
    kind: String,
    required: bool,
    description: Vec<Inline>,
}

/// One answer an operation can give.
struct Answer {
    status: String,
    /// `ok`, `redirect`, `refused` or `failed`, for its colour.
    class: &'static str,
    description: Vec<Inline>,
    /// The schema of its body, when it names one.
    body: Option<String>,
}

/// One operation: a method on a path.
struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: Vec<Inline>,
    description: Vec<Inline>,
    params: Vec<Param>,
    body: Option<String>,
    token: bool,
    answers: Vec<Answer>,
}

/// The operations of one tag.
struct Group {
    anchor: String,
    title: String,
    intro: Vec<Inline>,
    operations: Vec<Operation>,
}

#[derive(Template)]
#[template(path = "docs.html")]
struct DocsPage {
    version: String,
    intro: Vec<Inline>,
    protocol_title: Vec<Inline>,
    protocol: Vec<Block>,
    /// The protocol's sections for the contents: level, anchor, text.
    sections: Vec<(u8, String, Vec<Inline>)>,
    groups: Vec<Group>,
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A schema's short name: the component it refers to, or its type (`integer`, `string`).
fn schema_name(schema: &Value) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().map(str::to_owned);
    }
    if let Some(items) = schema.get("items") {
        return schema_name(items).map(|item| format!("array of {item}"));
    }
    match schema.get("type") {
        Some(Value::String(kind)) => Some(kind.clone()),
        Some(Value::Array(kinds)) => Some(
            kinds
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    }
}

/// The schema of a body (`content` of a request or an answer), with its content type when it
/// is not JSON.
fn body(content: Option<&Value>) -> Option<String> {
    let (kind, media) = content?.as_object()?.iter().next()?;
    let name = media.get("schema").and_then(schema_name);
    match (kind.as_str(), name) {
        ("application/json", Some(name)) => Some(name),
        (_, Some(name)) if name != "string" => Some(format!("{name} ({kind})")),
        (_, _) => Some(kind.clone()),
    }
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|param| Param {
            name: text(&param["name"]).to_owned(),
            location: text(&param["in"]).to_owned(),
            kind: param
                .get("schema")
                .and_then(schema_name)
                .unwrap_or_default(),
            required: param["required"] == true,
            description: inlines(text(&param["description"])),
        })
        .collect();
    let answers = op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(status, answer)| Answer {
            class: match status.chars().next() {
                Some('1' | '2') => "ok",
                Some('3') => "redirect",
                Some('4') => "refused",
                _ => "failed",
            },
            status: status.clone(),
            description: inlines(text(&answer["description"])),
            body: body(answer.get("content")),
        })
        .collect();
    let token = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|scheme| scheme.get("machine_token").is_some());
    Operation {
        anchor: markdown::anchor(&format!("{method} {path}")),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: inlines(text(&op["summary"])),
        description: inlines(text(&op["description"])),
        params,
        body: body(op.pointer("/requestBody/content")),
        token,
        answers,
    }
}

/// The operations of `document`, grouped by their first tag in the page's order.
fn groups(document: &Value) -> Vec<Group> {
    let mut tagged: Vec<(String, Operation)> = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let tag = op
                    .pointer("/tags/0")
                    .and_then(Value::as_str)
                    .unwrap_or("other");
                tagged.push((tag.to_owned(), operation(path, method, op)));
            }
        }
    }
    let mut order: Vec<(String, String, String)> = GROUPS
        .iter()
        .map(|(tag, title, intro)| ((*tag).to_owned(), (*title).to_owned(), (*intro).to_owned()))
        .collect();
    for (tag, _) in &tagged {
        if !order.iter().any(|(known, _, _)| known == tag) {
            order.push((tag.clone(), tag.clone(), String::new()));
        }
    }
    order
        .into_iter()
        .map(|(tag, title, intro)| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut tagged)
                .into_iter()
                .partition(|(t, _)| *t == tag);
            tagged = rest;
            Group {
                anchor: format!("routes-{}", markdown::anchor(&tag)),
                title,
                intro: inlines(&intro),
                operations: mine.into_iter().map(|(_, op)| op).collect(),
            }
        })
        .filter(|group| !group.operations.is_empty())
        .collect()
}

/// The page for the OpenAPI `document`.
pub(crate) fn page(document: &Value) -> Result<String, askama::Error> {
    let mut protocol = markdown::blocks(PROTOCOL);
    // The document's title heads the protocol part; its sections make the contents.
    let protocol_title = match protocol.first() {
        Some(Block::Heading(title)) if title.level == 1 => {
            let title = title.text.clone();
            protocol.remove(0);
            title
        }
        _ => inlines("The wire protocol"),
    };
    let sections = protocol
        .iter()
        .filter_map(|block| match block {
            Block::Heading(h) if h.level <= 3 => Some((h.level, h.id.clone(), h.text.clone())),
            _ => None,
        })
        .collect();
    DocsPage {
        version: text(&document["info"]["version"]).to_owned(),
        intro: inlines(text(&document["info"]["description"])),
        protocol_title,
        protocol,
        sections,
        groups: groups(document),
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::{GROUPS, groups, page};
    use crate::pages::markdown::{Block, blocks};

    #[test]
    fn every_operation_of_the_document_is_grouped_once() {
        let document = crate::api::openapi();
        let listed: usize = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, item)| item.as_object().map_or(0, |ops| ops.len()))
            .sum();
        let grouped = groups(&document);
        assert_eq!(
            grouped.iter().map(|g| g.operations.len()).sum::<usize>(),
            listed
        );
        // Every tag the handlers use has a title here.
        assert_eq!(grouped.len(), GROUPS.len());
    }

    #[test]
    fn the_protocol_document_reads_into_its_sections() {
        let read = blocks(super::PROTOCOL);
        let headings: Vec<String> = read
            .iter()
            .filter_map(|b| match b {
                Block::Heading(h) => Some(h.id.clone()),
                _ => None,
            })
            .collect();
        for wanted in [
            "statuses",
            "errors",
            "optional-fields-extensions",
            "read-api",
        ] {
            assert!(headings.iter().any(|h| h == wanted), "{headings:?}");
        }
        assert!(read.iter().any(|b| matches!(b, Block::Table(_))));
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let mut document = crate::api::openapi();
        document["info"]["description"] = "Try `<script>alert(1)</script>` & see".into();
        let html = page(&document).expect("renders");
        assert!(
            html.contains("<code>&#60;script&#62;alert(1)&#60;/script&#62;</code> &#38; see"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
    }
}
