//! The small part of Markdown the project's documents use, read into blocks a template renders
//! (and escapes): headings, paragraphs, lists, tables and fenced code, with inline code,
//! `**strong**` text and plain text within them. No HTML is produced here, so nothing from a
//! document reaches a page but through the template's escaping.
//!
//! The main items here are [`blocks`] and [`inlines`]; `/docs/` shows `docs/protocol.md`
//! with them, so the page and the document never differ.

/// A piece of a line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inline {
    /// Plain text.
    Text(String),
    /// `code`.
    Code(String),
    /// **strong** text.
    Strong(String),
}

/// A heading with the anchor the page gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heading {
    /// 1 for `#`, 2 for `##`, …
    pub(crate) level: u8,
    /// Its anchor: the words of its text, lowercase, joined by `-`.
    pub(crate) id: String,
    /// Its text.
    pub(crate) text: Vec<Inline>,
}

/// A table: a header row and body rows of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) head: Vec<Vec<Inline>>,
    pub(crate) rows: Vec<Vec<Vec<Inline>>>,
}

/// A block of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    Heading(Heading),
    Paragraph(Vec<Inline>),
    List(Vec<Vec<Inline>>),
    Table(Table),
    Code(String),
}

/// The anchor of a heading reading `text`: `"Optional fields (extensions)"` →
/// `"optional-fields-extensions"`.
pub(crate) fn anchor(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// `text` split into plain, `code` and `**strong**` pieces. An unclosed marker is kept as
/// plain text.
pub(crate) fn inlines(text: &str) -> Vec<Inline> {
    let mut parts = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(['`', '*']) {
        let (before, from) = rest.split_at(at);
        plain.push_str(before);
        let (marker, wrap): (&str, fn(String) -> Inline) = if from.starts_with('`') {
            ("`", Inline::Code)
        } else if from.starts_with("**") {
            ("**", Inline::Strong)
        } else {
            ("*", Inline::Text)
        };
        let inner = &from[marker.len()..];
        match inner.find(marker) {
            Some(end) if marker != "*" => {
                if !plain.is_empty() {
                    parts.push(Inline::Text(std::mem::take(&mut plain)));
                }
                parts.push(wrap(inner[..end].to_owned()));
                rest = &inner[end + marker.len()..];
            }
            _ => {
                plain.push_str(marker);
                rest = inner;
            }
        }
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        parts.push(Inline::Text(plain));
    }
    parts
}

/// The cells of a table row `| a | b |`; a `|` inside `code` does not split.
fn cells(line: &str) -> Vec<Vec<Inline>> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    for c in inner.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                cell.push(c);
            }
            '|' if !in_code => cells.push(inlines(std::mem::take(&mut cell).trim())),
            _ => cell.push(c),
        }
    }
    cells.push(inlines(cell.trim()));
    cells
}

fn is_separator(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('|') && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// What is being read.
enum Open {
    Nothing,
    Paragraph(String),
    List(Vec<String>),
    Table(Vec<String>),
    Code(Vec<String>),
}

fn close(open: Open, blocks: &mut Vec<Block>) {
    match open {
        Open::Nothing => {}
        Open::Paragraph(text) => blocks.push(Block::Paragraph(inlines(&text))),
        Open::List(items) => blocks.push(Block::List(
            items.iter().map(|item| inlines(item)).collect(),
        )),
        Open::Table(lines) => {
            let mut rows = lines.iter().filter(|l| !is_separator(l)).map(|l| cells(l));
            let head = rows.next().unwrap_or_default();
            blocks.push(Block::Table(Table {
                head,
                rows: rows.collect(),
            }));
        }
        Open::Code(lines) => blocks.push(Block::Code(lines.join("\n"))),
    }
}

/// The blocks of `document`.
pub(crate) fn blocks(document: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open = Open::Nothing;
    for line in document.lines() {
        if let Open::Code(lines) = &mut open {
            if line.trim_start().starts_with("```") {
                close(std::mem::replace(&mut open, Open::Nothing), &mut blocks);
            } else {
                lines.push(line.to_owned());
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            close(
                std::mem::replace(&mut open, Open::Code(Vec::new())),
                &mut blocks,
            );
        } else if trimmed.is_empty() {
            close(std::mem::replace(&mut open, Open::Nothing), &mut blocks);
        } else if let Some(heading) = heading(trimmed) {
            close(std::mem::replace(&mut open, Open::Nothing), &mut blocks);
            blocks.push(Block::Heading(heading));
        } else if trimmed.starts_with('|') {
            match &mut open {
                Open::Table(lines) => lines.push(trimmed.to_owned()),
                _ => close(
                    std::mem::replace(&mut open, Open::Table(vec![trimmed.to_owned()])),
                    &mut blocks,
                ),
            }
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            match &mut open {
                Open::List(items) => items.push(item.to_owned()),
                _ => close(
                    std::mem::replace(&mut open, Open::List(vec![item.to_owned()])),
                    &mut blocks,
                ),
            }
        } else {
            match &mut open {
                // An indented line goes on with the list item above it.
                Open::List(items) if line.starts_with(' ') => {
                    if let Some(last) = items.last_mut() {
                        last.push(' ');
                        last.push_str(trimmed);
                    }
                }
                Open::Paragraph(text) => {
                    text.push(' ');
                    text.push_str(trimmed);
                }
                _ => close(
                    std::mem::replace(&mut open, Open::Paragraph(trimmed.to_owned())),
                    &mut blocks,
                ),
            }
        }
    }
    close(open, &mut blocks);
    blocks
}

fn heading(line: &str) -> Option<Heading> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let text = line.get(level..)?.strip_prefix(' ')?.trim();
    if level == 0 || level > 6 {
        return None;
    }
    Some(Heading {
        level: u8::try_from(level).ok()?,
        id: anchor(text),
        text: inlines(text),
    })
}

#[cfg(test)]
mod tests {
    use super::{Block, Inline, anchor, blocks, inlines};

    fn text(s: &str) -> Inline {
        Inline::Text(s.to_owned())
    }

    fn code(s: &str) -> Inline {
        Inline::Code(s.to_owned())
    }

    #[test]
    fn inline_code_and_strong_text_are_split_out() {
        assert_eq!(
            inlines("a `b|c` and **d** e"),
            [
                text("a "),
                code("b|c"),
                text(" and "),
                Inline::Strong("d".into()),
                text(" e")
            ]
        );
        assert_eq!(inlines("2 * 3 and `open"), [text("2 * 3 and `open")]);
        assert_eq!(inlines("`<script>`"), [code("<script>")]);
    }

    #[test]
    fn a_document_reads_into_headings_paragraphs_lists_tables_and_code() {
        let doc = "# Title\nOne line\ngoes on.\n\n- **a** — first\n  still first\n- second\n\n\
                   | k | v |\n| --- | --- |\n| `x|y` | 1 |\n\n```\nraw <b>\n```\n### Optional fields (extensions)\n";
        let read = blocks(doc);
        let Block::Heading(title) = &read[0] else {
            panic!("{read:?}")
        };
        assert_eq!((title.level, title.id.as_str()), (1, "title"));
        assert_eq!(read[1], Block::Paragraph(vec![text("One line goes on.")]));
        assert_eq!(
            read[2],
            Block::List(vec![
                vec![Inline::Strong("a".into()), text(" — first still first")],
                vec![text("second")],
            ])
        );
        let Block::Table(table) = &read[3] else {
            panic!("{read:?}")
        };
        assert_eq!(table.head, [vec![text("k")], vec![text("v")]]);
        assert_eq!(table.rows, [vec![vec![code("x|y")], vec![text("1")]]]);
        assert_eq!(read[4], Block::Code("raw <b>".into()));
        let Block::Heading(last) = &read[5] else {
            panic!("{read:?}")
        };
        assert_eq!(last.id, "optional-fields-extensions");
        assert_eq!(read.len(), 6);
    }

    #[test]
    fn anchors_are_lowercase_words() {
        assert_eq!(anchor("Read API"), "read-api");
        assert_eq!(anchor("  Late events! "), "late-events");
    }
}
