//! A small read-only XML tree, enough to read JUnit reports of any dialect.
//!
//! The main type here is [`Element`]: a name (without namespace prefix), its attributes
//! (unescaped) and its children, elements and text (entities resolved, CDATA taken as it is).
//! Comments, processing instructions and the declaration are dropped. Reports are read whole
//! into memory; they are files a CI job wrote, not streams.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// A document that is not well-formed XML.
#[derive(Debug, thiserror::Error)]
#[error("not well-formed XML near byte {position}: {reason}")]
pub(crate) struct XmlError {
    /// Where the reader was.
    position: u64,
    /// What it found.
    reason: String,
}

/// One element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// Its local name (`testsuite` for `<ns:testsuite>`).
    pub(crate) name: String,
    /// Its attributes in document order, local names and unescaped values.
    pub(crate) attributes: Vec<(String, String)>,
    /// Its children in document order.
    pub(crate) children: Vec<Child>,
}

/// An element's child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Child {
    /// A nested element.
    Element(Element),
    /// Character data.
    Text(String),
}

impl Element {
    /// The value of attribute `name`, if present.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of attribute `name`, trimmed, if present and not blank.
    pub(crate) fn non_blank(&self, name: &str) -> Option<&str> {
        self.attr(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The child elements.
    pub(crate) fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|child| match child {
            Child::Element(element) => Some(element),
            Child::Text(_) => None,
        })
    }

    /// The child elements named `name`.
    pub(crate) fn elements_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// The first child element named `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// The element's own text (its text children joined, not its descendants').
    pub(crate) fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|child| match child {
                Child::Text(text) => Some(text.as_str()),
                Child::Element(_) => None,
            })
            .collect()
    }
}

/// Parses `text` and answers its root element.
pub(crate) fn parse(text: &str) -> Result<Element, XmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let error = |reader: &Reader<&[u8]>, reason: String| XmlError {
        position: reader.buffer_position(),
        reason,
    };
    // The open elements, innermost last; the root is the first one closed at depth zero.
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| error(&reader, e.to_string()))?;
        match event {
            Event::Start(start) => open.push(element(&start).map_err(|e| error(&reader, e))?),
            Event::Empty(start) => {
                let element = element(&start).map_err(|e| error(&reader, e))?;
                close(&mut open, &mut root, element);
            }
            Event::End(_) => match open.pop() {
                Some(element) => close(&mut open, &mut root, element),
                None => return Err(error(&reader, "a closing tag opens nothing".to_owned())),
            },
            Event::Text(text) => {
                let text = text
                    .xml10_content()
                    .map_err(|e| error(&reader, e.to_string()))?;
                push_text(&mut open, &text);
            }
            Event::CData(data) => {
                let text = data
                    .xml10_content()
                    .map_err(|e| error(&reader, e.to_string()))?;
                push_text(&mut open, &text);
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|e| error(&reader, e.to_string()))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference
                            .decode()
                            .map_err(|e| error(&reader, e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| error(&reader, format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                push_text(&mut open, &resolved);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(error(
            &reader,
            format!("<{}> is never closed", unclosed.name),
        ));
    }
    root.ok_or_else(|| error(&reader, "the document has no element".to_owned()))
}

/// Ends `element`: a child of the innermost open element, or the root.
fn close(open: &mut [Element], root: &mut Option<Element>, element: Element) {
    match open.last_mut() {
        Some(parent) => parent.children.push(Child::Element(element)),
        None => {
            if root.is_none() {
                *root = Some(element);
            }
        }
    }
}

/// Appends text to the innermost open element, merging it with text just before.
fn push_text(open: &mut [Element], text: &str) {
    let Some(parent) = open.last_mut() else {
        return;
    };
    match parent.children.last_mut() {
        Some(Child::Text(previous)) => previous.push_str(text),
        _ => parent.children.push(Child::Text(text.to_owned())),
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        let value = attribute
            .unescape_value()
            .map_err(|e| format!("attribute {key} of <{name}>: {e}"))?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        attributes,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_attributes_text_entities_and_cdata() {
        let root = parse(
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- a report -->\
             <r a=\"x &amp; y&#10;z\"><c/><t>one &lt; two&#33;<![CDATA[ <raw> ]]></t></r>",
        )
        .unwrap();
        assert_eq!(root.name, "r");
        assert_eq!(root.attr("a"), Some("x & y\nz"));
        let names: Vec<&str> = root.elements().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["c", "t"]);
        assert_eq!(root.first("t").unwrap().text(), "one < two! <raw> ");
    }

    #[test]
    fn broken_documents_are_refused() {
        for text in ["", "just text", "<a><b></a>", "<a>", "<a x='1' x='2'/>"] {
            assert!(parse(text).is_err(), "{text:?} parsed");
        }
    }
}
