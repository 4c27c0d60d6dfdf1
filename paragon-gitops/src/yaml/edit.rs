//! [`YamlFile`]: values read and set by splicing bytes into the original
//! text, and the unified diff of an edit.

use std::path::{Path, PathBuf};

use paragon_core::{Error, Result};
use saphyr_parser::ScalarStyle;

use super::path::{parse_path, path_error, render_path, Segment};
use super::render::{double_quoted, loads_as_non_string, render};
use super::tree::{find, is_null, lookup, parse, resolve, Kind, Node};

/// A YAML file held as text, edited in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlFile {
    pub(super) file: PathBuf,
    pub(super) text: String,
}

pub(super) enum Found<'t> {
    Node(&'t Node, bool),
    /// The mapping at `segments[..depth]` has no key `segments[depth]`.
    Missing {
        map: &'t Node,
        depth: usize,
    },
}

impl YamlFile {
    /// Parses `text`; `file` names it in errors.
    ///
    /// # Errors
    /// [`Error::Yaml`](crate::Error::Yaml) (with line and column) when the text is not YAML.
    pub fn parse(file: impl Into<PathBuf>, text: impl Into<String>) -> Result<YamlFile> {
        let file = file.into();
        let text = text.into();
        parse(&file, &text)?;
        Ok(YamlFile { file, text })
    }

    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Yaml`](crate::Error::Yaml) as
    /// [`YamlFile::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<YamlFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        YamlFile::parse(path, text)
    }

    /// The text, with every edit made so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The file name used in errors.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Makes [`Error::YamlPath`](crate::Error::YamlPath)s about `path` in this file.
    pub(super) fn path_error(
        &self,
        path: impl Into<String>,
        operation: &'static str,
    ) -> impl Fn(String) -> Error {
        path_error(&self.file, path, operation)
    }

    /// The scalar at `path` in the first document, following aliases and
    /// merge keys (`<<`); `None` when the last key (or index) is missing,
    /// when a mapping on the way is missing, or when the value is null.
    ///
    /// # Errors
    /// [`Error::YamlPath`](crate::Error::YamlPath) when the path is malformed, names a mapping or
    /// sequence, or steps through something else than a mapping (or a
    /// sequence, for `[N]`): `image.tag` when `image` is a string is a typo
    /// or a different layout, not an image that is not there yet.
    pub fn get(&self, path: &str) -> Result<Option<String>> {
        self.get_in(0, path)
    }

    /// [`get`](YamlFile::get) in document `document` (0-based).
    ///
    /// # Errors
    /// As [`get`](YamlFile::get).
    pub fn get_in(&self, document: usize, path: &str) -> Result<Option<String>> {
        let segments = parse_path(&self.file, path, "read")?;
        let tree = parse(&self.file, &self.text)?;
        let Some(mut node) = tree.documents.get(document) else {
            return Ok(None);
        };
        for (depth, seg) in segments.iter().enumerate() {
            node = resolve(&tree, node);
            let next = match (seg, &node.kind) {
                (Segment::Key(k), Kind::Map { .. }) => lookup(&tree, node, k),
                (Segment::Index(i), Kind::Seq { items, .. }) => items.get(*i),
                // A plain null (`image:` with nothing under it) holds
                // nothing yet.
                (
                    _,
                    Kind::Scalar {
                        value,
                        style: ScalarStyle::Plain,
                    },
                ) if is_null(value) => None,
                (seg, _) => {
                    let here = if depth == 0 {
                        "the document root".to_owned()
                    } else {
                        format!("`{}`", render_path(&segments[..depth]))
                    };
                    let wanted = match seg {
                        Segment::Key(_) => "a mapping",
                        Segment::Index(_) => "a sequence",
                    };
                    return Err(self.path_error(path, "read")(format!(
                        "{here} is {}, not {wanted}",
                        node.what()
                    )));
                }
            };
            match next {
                Some(n) => node = n,
                None => return Ok(None),
            }
        }
        match &resolve(&tree, node).kind {
            Kind::Scalar { value, style } => {
                if *style == ScalarStyle::Plain && is_null(value) {
                    Ok(None)
                } else {
                    Ok(Some(value.clone()))
                }
            }
            _ => Err(self.path_error(path, "read")(format!(
                "it is {}, not a scalar",
                node.what()
            ))),
        }
    }

    /// Sets the scalar at `path` in the first document to the string
    /// `value`, inserting the last key when its mapping exists. Returns
    /// whether the text changed.
    ///
    /// # Errors
    /// [`Error::YamlPath`](crate::Error::YamlPath) when the path is malformed, a step goes through
    /// something other than a mapping (or a sequence, for `[N]`), more
    /// than the last key is missing (the message names the nearest path
    /// that exists), or the path names a mapping, a sequence or an alias.
    pub fn set(&mut self, path: &str, value: &str) -> Result<bool> {
        self.set_in(0, path, value)
    }

    /// [`set`](YamlFile::set) in document `document` (0-based).
    ///
    /// # Errors
    /// As [`set`](YamlFile::set).
    pub fn set_in(&mut self, document: usize, path: &str, value: &str) -> Result<bool> {
        self.set_with(document, path, value, false)
    }

    /// [`set`](YamlFile::set), always quoting the value (double quotes,
    /// or single where it was single-quoted): for fields such as
    /// `appVersion` that must be quoted whatever they hold.
    ///
    /// # Errors
    /// As [`set`](YamlFile::set).
    pub fn set_quoted(&mut self, path: &str, value: &str) -> Result<bool> {
        self.set_with(0, path, value, true)
    }

    /// Whether something (of any kind) is at `path` in the first document.
    ///
    /// # Errors
    /// [`Error::YamlPath`](crate::Error::YamlPath) when the path is malformed.
    pub fn has(&self, path: &str) -> Result<bool> {
        let segments = parse_path(&self.file, path, "read")?;
        let tree = parse(&self.file, &self.text)?;
        let Some(root) = tree.documents.first() else {
            return Ok(false);
        };
        let err = self.path_error(path, "read");
        Ok(matches!(find(root, &segments, &err), Ok(Found::Node(..))))
    }

    /// The index of the first item of the sequence at `path` (first
    /// document) whose `key` is the scalar `value`, in one parse; `None`
    /// when no item matches or `path` holds no sequence.
    ///
    /// # Errors
    /// [`Error::YamlPath`](crate::Error::YamlPath) when the path is malformed or an item's `key`
    /// is not a scalar.
    pub fn position(&self, path: &str, key: &str, value: &str) -> Result<Option<usize>> {
        let segments = parse_path(&self.file, path, "read")?;
        let tree = parse(&self.file, &self.text)?;
        let Some(root) = tree.documents.first() else {
            return Ok(None);
        };
        let err = self.path_error(path, "read");
        let Ok(Found::Node(node, _)) = find(root, &segments, &err) else {
            return Ok(None);
        };
        let Kind::Seq { items, .. } = &resolve(&tree, node).kind else {
            return Ok(None);
        };
        for (i, item) in items.iter().enumerate() {
            let item = resolve(&tree, item);
            if !matches!(item.kind, Kind::Map { .. }) {
                continue;
            }
            match lookup(&tree, item, key).map(|n| resolve(&tree, n)) {
                Some(Node {
                    kind: Kind::Scalar { value: v, .. },
                    ..
                }) if v == value => return Ok(Some(i)),
                Some(
                    n @ Node {
                        kind: Kind::Map { .. } | Kind::Seq { .. },
                        ..
                    },
                ) => {
                    return Err(self.path_error(format!("{path}[{i}].{key}"), "read")(
                        format!("it is {}, not a scalar", n.what()),
                    ))
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Appends a mapping of `entries` to the block sequence at the
    /// top-level key `key` of the first document (creating the key at the
    /// end of a single-document file when it is missing); returns the new
    /// item's index.
    ///
    /// # Errors
    /// [`Error::YamlPath`](crate::Error::YamlPath) when `key` holds something else, a flow
    /// sequence, or the file has several documents and no such key.
    pub fn append_item(&mut self, key: &str, entries: &[(&str, &str)]) -> Result<usize> {
        let tree = parse(&self.file, &self.text)?;
        let err = self.path_error(key, "set");
        let newline = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let root = tree.documents.first();
        let found = match root {
            Some(root) => find(root, &[Segment::Key(key.into())], &err)?,
            None => return Err(err("the file is empty".into())),
        };
        let item = |indent: &str| {
            let mut out = String::new();
            for (i, (k, v)) in entries.iter().enumerate() {
                out.push_str(newline);
                out.push_str(indent);
                out.push_str(if i == 0 { "- " } else { "  " });
                out.push_str(&render(k, ScalarStyle::Plain, false));
                out.push_str(": ");
                out.push_str(&render(v, ScalarStyle::Plain, false));
            }
            out
        };
        let (at, insert, index) = match found {
            Found::Node(node, _) => match &node.kind {
                Kind::Seq { items, flow: false } if !items.is_empty() => {
                    let first = &items[0];
                    let line_start = self.text[..first.start].rfind('\n').map_or(0, |i| i + 1);
                    let dash = self.text[line_start..first.start].find('-').unwrap_or(0);
                    let indent = self.text[line_start..line_start + dash].to_owned();
                    let eol = line_end(&self.text, node.content_end(&self.text));
                    (eol, item(&indent), items.len())
                }
                _ => {
                    return Err(err(format!(
                        "it is {}, not a block sequence with items",
                        node.what()
                    )))
                }
            },
            Found::Missing { .. } if tree.documents.len() == 1 => {
                let mut insert = String::new();
                if !self.text.is_empty() && !self.text.ends_with('\n') {
                    insert.push_str(newline);
                }
                insert.push_str(&render(key, ScalarStyle::Plain, false));
                insert.push(':');
                insert.push_str(&item(""));
                insert.push_str(newline);
                (self.text.len(), insert, 0)
            }
            Found::Missing { .. } => {
                return Err(err("the file has several documents and no such key".into()))
            }
        };
        let mut text = self.text.clone();
        text.insert_str(at, &insert);
        *self = YamlFile::parse(self.file.clone(), text)?;
        Ok(index)
    }

    pub(super) fn set_with(
        &mut self,
        document: usize,
        path: &str,
        value: &str,
        quote: bool,
    ) -> Result<bool> {
        let segments = parse_path(&self.file, path, "set")?;
        let tree = parse(&self.file, &self.text)?;
        let err = self.path_error(path, "set");
        let Some(root) = tree.documents.get(document) else {
            return Err(err(format!(
                "the file has {} document(s), not {}",
                tree.documents.len(),
                document + 1
            )));
        };
        let (start, end, replacement) = match find(root, &segments, &err)? {
            Found::Node(node, flow) => match self.replacement(node, flow, value, quote, &err)? {
                Some(edit) => edit,
                None => return Ok(false),
            },
            Found::Missing { map, depth } => {
                self.missing_key(map, &segments, depth, value, quote, &err)?
            }
        };
        let mut text = String::with_capacity(self.text.len() + replacement.len());
        text.push_str(&self.text[..start]);
        text.push_str(&replacement);
        text.push_str(&self.text[end..]);
        let edited = YamlFile {
            file: self.file.clone(),
            text,
        };
        edited.reads_back(document, path, value, &err)?;
        let changed = edited.text != self.text;
        *self = edited;
        Ok(changed)
    }

    /// The edit that writes `value` over the scalar `node`: the bytes to
    /// replace and their replacement; `None` when the node already holds
    /// `value` as a string.
    fn replacement(
        &self,
        node: &Node,
        flow: bool,
        value: &str,
        quote: bool,
        err: &dyn Fn(String) -> Error,
    ) -> Result<Option<(usize, usize, String)>> {
        let Kind::Scalar { value: old, style } = &node.kind else {
            return Err(err(match node.kind {
                Kind::Alias(_) => "it is an alias (`*…`); set the anchored value instead".into(),
                _ => format!("it is {}, not a scalar", node.what()),
            }));
        };
        let plain = matches!(
            style,
            ScalarStyle::Plain | ScalarStyle::Literal | ScalarStyle::Folded
        );
        if old == value && !(plain && (quote || loads_as_non_string(old))) {
            return Ok(None);
        }
        let (mut start, mut end) = self.scalar_region(node, *style);
        let mut rendered = if quote && *style != ScalarStyle::SingleQuoted {
            double_quoted(value)
        } else {
            render(value, *style, flow)
        };
        if start == end {
            // An empty value (`tag:`): the parser puts it before the colon;
            // write it after, with a space.
            let rest = &self.text[start..];
            let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            if rest[spaces..].starts_with(':') {
                start += spaces + 1;
                end = start;
            }
            rendered.insert(0, ' ');
        }
        Ok(Some((start, end, rendered)))
    }

    /// The edit that adds the last key of `segments` to `map`, when only
    /// that key is missing (the path's `depth` first segments exist).
    fn missing_key(
        &self,
        map: &Node,
        segments: &[Segment],
        depth: usize,
        value: &str,
        quote: bool,
        err: &dyn Fn(String) -> Error,
    ) -> Result<(usize, usize, String)> {
        if depth + 1 != segments.len() {
            let (parent, nearest) = if depth == 0 {
                ("the document".to_owned(), "(the document root)".to_owned())
            } else {
                let existing = render_path(&segments[..depth]);
                (existing.clone(), existing)
            };
            return Err(err(format!(
                "`{parent}` has no `{}` (the nearest existing path is `{nearest}`)",
                render_path(&segments[depth..depth + 1]),
            )));
        }
        let Segment::Key(key) = &segments[depth] else {
            return Err(err("an index cannot be inserted".into()));
        };
        self.insertion(map, key, value, quote)
            .ok_or_else(|| err("the mapping to insert into is empty".into()))
    }

    /// Checks that an edit reads back as the string `value`, in a
    /// document that parses.
    fn reads_back(
        &self,
        document: usize,
        path: &str,
        value: &str,
        err: &dyn Fn(String) -> Error,
    ) -> Result<()> {
        match self.get_in(document, path) {
            Ok(Some(v)) if v == value => Ok(()),
            other => Err(err(format!(
                "the edit would not read back as the string `{value}` ({other:?}); the file was not changed"
            ))),
        }
    }

    /// The bytes to replace for a scalar: after its anchor and tag; for a
    /// block scalar, from its indicator to the end of its content.
    pub(super) fn scalar_region(&self, node: &Node, style: ScalarStyle) -> (usize, usize) {
        let text = &self.text;
        match style {
            ScalarStyle::Literal | ScalarStyle::Folded => {
                let indicator = text[..node.start].rfind(['|', '>']).unwrap_or(node.start);
                (indicator, node.content_end(text))
            }
            _ => {
                let mut start = node.start;
                while text[start..node.end].starts_with(['&', '!']) {
                    let rest = &text[start..node.end];
                    let token = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    let spaces = rest[token..].len() - rest[token..].trim_start().len();
                    start += token + spaces;
                }
                (start, node.end)
            }
        }
    }

    /// Where and what to insert for `key: value` as the last entry of
    /// `map`.
    pub(super) fn insertion(
        &self,
        map: &Node,
        key: &str,
        value: &str,
        quote: bool,
    ) -> Option<(usize, usize, String)> {
        let style = if quote {
            ScalarStyle::DoubleQuoted
        } else {
            ScalarStyle::Plain
        };
        let Kind::Map { entries, flow } = &map.kind else {
            return None;
        };
        let (first_key, _) = entries.first()?;
        let (_, last_value) = entries.last()?;
        if *flow {
            let at = last_value.content_end(&self.text);
            let entry = format!(
                ", {}: {}",
                render(key, ScalarStyle::Plain, true),
                render(value, style, true)
            );
            return Some((at, at, entry));
        }
        let line_start = self.text[..first_key.start]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let indent = &self.text[line_start..first_key.start];
        let indent: String = indent
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let eol = line_end(&self.text, last_value.content_end(&self.text));
        let newline = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let entry = format!(
            "{newline}{indent}{}: {}",
            render(key, ScalarStyle::Plain, false),
            render(value, style, false)
        );
        Some((eol, eol, entry))
    }
}

/// A unified diff of `old` into `new` for the file at `path` (relative to
/// its repository), as `git diff` writes one (`--- a/PATH`, `+++ b/PATH`,
/// hunks with three lines of context): `git apply` takes it. Empty when the
/// texts are equal.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// Where the line holding byte `at` of `text` ends: before its `\n` (and
/// the `\r` of a `\r\n`), or at the end of the text.
fn line_end(text: &str, at: usize) -> usize {
    let eol = text[at..].find('\n').map_or(text.len(), |i| at + i);
    if text[..eol].ends_with('\r') {
        eol - 1
    } else {
        eol
    }
}
