//! The tree of a YAML document with the byte span of every node, built
//! from the parser's events, and lookups in it.

use std::collections::HashMap;
use std::path::Path;

use paragon_core::{Error, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::edit::Found;
use super::path::{render_path, Segment};

/// A parsed node with byte positions in the text.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) kind: Kind,
    /// Byte offset where the node (with its anchor and tag) starts.
    pub(super) start: usize,
    /// Byte offset where it ends (exclusive).
    pub(super) end: usize,
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Alias(usize),
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
}

impl Node {
    pub(super) fn what(&self) -> &'static str {
        match self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Alias(_) => "an alias",
            Kind::Map { .. } => "a mapping",
            Kind::Seq { .. } => "a sequence",
        }
    }

    /// Where the node's visible content ends: for a block scalar, before
    /// the trailing blank lines the parser includes.
    pub(super) fn content_end(&self, text: &str) -> usize {
        match &self.kind {
            Kind::Scalar {
                style: ScalarStyle::Literal | ScalarStyle::Folded,
                ..
            } => self.start + text[self.start..self.end].trim_end().len(),
            Kind::Map {
                entries,
                flow: false,
            } => entries
                .last()
                .map_or(self.end, |(_, v)| v.content_end(text)),
            Kind::Seq { items, flow: false } => {
                items.last().map_or(self.end, |v| v.content_end(text))
            }
            _ => self.end,
        }
    }
}

/// A parsed YAML stream: one tree per document.
pub(super) struct Tree {
    pub(super) documents: Vec<Node>,
    pub(super) anchors: HashMap<usize, Node>,
}

pub(super) struct TreeBuilder<'a> {
    pub(super) events: std::vec::IntoIter<(Event<'a>, Span)>,
    pub(super) offsets: Option<Vec<usize>>,
    pub(super) len: usize,
    pub(super) anchors: HashMap<usize, Node>,
}

impl TreeBuilder<'_> {
    pub(super) fn byte(&self, char_index: usize) -> usize {
        match &self.offsets {
            None => char_index.min(self.len),
            Some(o) => o.get(char_index).copied().unwrap_or(self.len),
        }
    }

    /// Builds the node starting with `event`.
    pub(super) fn node(&mut self, event: Event<'_>, span: Span) -> Option<Node> {
        let start = self.byte(span.start.index());
        let (kind, end, anchor) = match event {
            Event::Scalar(value, style, anchor, _) => (
                Kind::Scalar {
                    value: value.into_owned(),
                    style,
                },
                self.byte(span.end.index()),
                anchor,
            ),
            Event::Alias(id) => (Kind::Alias(id), self.byte(span.end.index()), 0),
            Event::MappingStart(anchor, _) => {
                let flow = span.end.index() > span.start.index();
                let mut entries = Vec::new();
                let end = loop {
                    let (e, s) = self.events.next()?;
                    if let Event::MappingEnd = e {
                        break self.byte(s.end.index());
                    }
                    let k = self.node(e, s)?;
                    let (e, s) = self.events.next()?;
                    let v = self.node(e, s)?;
                    entries.push((k, v));
                };
                (Kind::Map { entries, flow }, end, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let flow = span.end.index() > span.start.index();
                let mut items = Vec::new();
                let end = loop {
                    let (e, s) = self.events.next()?;
                    if let Event::SequenceEnd = e {
                        break self.byte(s.end.index());
                    }
                    items.push(self.node(e, s)?);
                };
                (Kind::Seq { items, flow }, end, anchor)
            }
            _ => return None,
        };
        let node = Node { kind, start, end };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Some(node)
    }
}

pub(super) fn parse(file: &Path, text: &str) -> Result<Tree> {
    let mut events = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        match next {
            Ok(e) => events.push(e),
            Err(e) => {
                return Err(crate::Error::Yaml {
                    file: file.to_owned(),
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    message: e.info().to_owned(),
                }
                .into())
            }
        }
    }
    let offsets = (!text.is_ascii()).then(|| {
        text.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect()
    });
    let mut b = TreeBuilder {
        events: events.into_iter(),
        offsets,
        len: text.len(),
        anchors: HashMap::new(),
    };
    let mut documents = Vec::new();
    let internal = || crate::Error::Yaml {
        file: file.to_owned(),
        line: 0,
        column: 0,
        message: "the parser's events do not nest".into(),
    };
    while let Some((e, s)) = b.events.next() {
        match e {
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                let (e, s) = b.events.next().ok_or_else(internal)?;
                documents.push(b.node(e, s).ok_or_else(internal)?);
            }
            other => {
                documents.push(b.node(other, s).ok_or_else(internal)?);
            }
        }
    }
    Ok(Tree {
        documents,
        anchors: b.anchors,
    })
}

pub(super) fn find<'t>(
    root: &'t Node,
    segments: &[Segment],
    err: &dyn Fn(String) -> Error,
) -> Result<Found<'t>> {
    let mut node = root;
    let mut flow = false;
    for (depth, seg) in segments.iter().enumerate() {
        let here = || {
            if depth == 0 {
                "the document root".to_owned()
            } else {
                format!("`{}`", render_path(&segments[..depth]))
            }
        };
        match (seg, &node.kind) {
            (Segment::Key(k), Kind::Map { entries, flow: f }) => {
                flow = *f;
                match entries
                    .iter()
                    .find(|(key, _)| matches!(&key.kind, Kind::Scalar { value, .. } if value == k))
                {
                    Some((_, v)) => node = v,
                    None => return Ok(Found::Missing { map: node, depth }),
                }
            }
            (Segment::Index(i), Kind::Seq { items, flow: f }) => {
                flow = *f;
                node = items.get(*i).ok_or_else(|| {
                    err(format!("{} has {} item(s), no [{i}]", here(), items.len()))
                })?;
            }
            (Segment::Key(_), _) => {
                return Err(err(format!("{} is {}, not a mapping", here(), node.what())))
            }
            (Segment::Index(_), _) => {
                return Err(err(format!(
                    "{} is {}, not a sequence",
                    here(),
                    node.what()
                )))
            }
        }
    }
    Ok(Found::Node(node, flow))
}

/// A plain scalar YAML reads as null.
pub(super) fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

pub(super) fn resolve<'t>(tree: &'t Tree, node: &'t Node) -> &'t Node {
    match node.kind {
        Kind::Alias(id) => tree.anchors.get(&id).unwrap_or(node),
        _ => node,
    }
}

/// The value of `key` in `map`, or in a mapping merged in with `<<`.
pub(super) fn lookup<'t>(tree: &'t Tree, map: &'t Node, key: &str) -> Option<&'t Node> {
    let Kind::Map { entries, .. } = &map.kind else {
        return None;
    };
    let key_is =
        |k: &Node, want: &str| matches!(&k.kind, Kind::Scalar { value, .. } if value == want);
    if let Some((_, v)) = entries.iter().find(|(k, _)| key_is(k, key)) {
        return Some(v);
    }
    entries
        .iter()
        .filter(|(k, _)| key_is(k, "<<"))
        .flat_map(|(_, v)| match &resolve(tree, v).kind {
            Kind::Seq { items, .. } => items.iter().collect::<Vec<_>>(),
            _ => vec![v],
        })
        .find_map(|m| lookup(tree, resolve(tree, m), key))
}
