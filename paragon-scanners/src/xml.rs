//! Helpers shared by the XML readers (roxmltree).

use roxmltree::{Document, Node};

use crate::error::{Error, Result};
use crate::format::trim_start;
use crate::{Format, Position};

/// The document's text, checked to be non-empty UTF-8.
pub(crate) fn text_of(format: Format, bytes: &[u8]) -> Result<&str> {
    let text = trim_start(bytes);
    if text.is_empty() {
        return Err(Error::Empty {
            format: Some(format),
            file: None,
        });
    }
    std::str::from_utf8(text).map_err(|e| Error::Malformed {
        format,
        file: None,
        position: Some(Position::of_offset(text, e.valid_up_to())),
        reason: "not UTF-8 text".to_owned(),
        source: Some(Box::new(e)),
    })
}

/// Parses the text and checks the root element's local name.
pub(crate) fn parse<'i>(
    format: Format,
    text: &'i str,
    root: &str,
    what: &str,
) -> Result<Document<'i>> {
    let doc = Document::parse(text).map_err(|e| Error::xml(format, e, text))?;
    let name = doc.root_element().tag_name().name();
    if name != root {
        return Err(Error::malformed(
            format,
            format!("not {what}: the root element is `{name}`, not `{root}`"),
        ));
    }
    Ok(doc)
}

/// Whether `n` is an element with local name `name`.
pub(crate) fn is(n: &Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name
}

/// The child elements named `name`.
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |n| is(n, name))
}

/// The first child element named `name`.
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// The element's trimmed text, when not empty.
pub(crate) fn text(node: Node<'_, '_>) -> Option<String> {
    node.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The trimmed text of the first child named `name`.
pub(crate) fn child_text(node: Node<'_, '_>, name: &'static str) -> Option<String> {
    child(node, name).and_then(text)
}

/// The texts of the children named `name` of an optional node.
#[cfg_attr(not(feature = "cyclonedx"), allow(dead_code))]
pub(crate) fn texts(node: Option<Node<'_, '_>>, name: &'static str) -> Vec<String> {
    node.into_iter()
        .flat_map(|n| children(n, name))
        .filter_map(text)
        .collect()
}
