//! Format-preserving YAML edits: a value is set by splicing bytes into the
//! original text at the position the parser reports, so comments, blank
//! lines, key order, quoting, anchors, block scalars, other documents and
//! line endings stay exactly as they were.
//!
//! ```
//! use paragon_gitops::yaml::YamlFile;
//!
//! let text = "image:\n  repository: nginx # upstream\n  tag: 1.25.0\n\nreplicas: 2\n";
//! let mut values = YamlFile::parse("values.yaml", text)?;
//! assert!(values.set("image.tag", "1.26")?);
//! assert_eq!(
//!     values.text(),
//!     "image:\n  repository: nginx # upstream\n  tag: \"1.26\"\n\nreplicas: 2\n"
//! );
//! assert_eq!(values.get("image.tag")?.as_deref(), Some("1.26"));
//! # Ok::<(), paragon_core::Error>(())
//! ```
//!
//! Paths are keys separated by dots, with `[N]` for sequence items:
//! `image.tag`, `backend.image.tag`, `a.b[0].c`; a dot inside a key is
//! escaped with a backslash (`annotations.example\.com/team`).
//!
//! Values are always written so that they load as strings: a value any
//! YAML 1.1 or 1.2 loader could read as a number, boolean or null (`1.20`,
//! `1e3`, `yes`, `0x10`, `null`, `~`), or that is not a valid plain scalar,
//! is double-quoted; a value that was quoted keeps its quote style.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use paragon_core::{Error, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Makes [`Error::YamlPath`]s about `path` in `file`.
fn path_error(
    file: &Path,
    path: impl Into<String>,
    operation: &'static str,
) -> impl Fn(String) -> Error {
    let file = file.to_owned();
    let path = path.into();
    move |message| Error::YamlPath {
        file: file.clone(),
        path: path.clone(),
        operation,
        message,
    }
}

fn parse_path(file: &Path, path: &str, operation: &'static str) -> Result<Vec<Segment>> {
    let bad = path_error(file, path, operation);
    let mut segments = Vec::new();
    let mut key = String::new();
    let mut pending_key = false;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => {
                    key.push(n);
                    pending_key = true;
                }
                None => return Err(bad("the path ends with a lone backslash".into())),
            },
            '.' => {
                if pending_key {
                    segments.push(Segment::Key(std::mem::take(&mut key)));
                    pending_key = false;
                } else if !matches!(segments.last(), Some(Segment::Index(_))) {
                    return Err(bad("the path has an empty key".into()));
                }
            }
            '[' => {
                if pending_key {
                    segments.push(Segment::Key(std::mem::take(&mut key)));
                    pending_key = false;
                }
                let mut digits = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) if d.is_ascii_digit() => digits.push(d),
                        _ => return Err(bad("`[` must be followed by an index and `]`".into())),
                    }
                }
                let index = digits
                    .parse()
                    .map_err(|_| bad(format!("`[{digits}]` is not an index")))?;
                segments.push(Segment::Index(index));
            }
            c => {
                key.push(c);
                pending_key = true;
            }
        }
    }
    if pending_key {
        segments.push(Segment::Key(key));
    } else if path.ends_with('.') || segments.is_empty() {
        return Err(bad("the path is empty or ends with a dot".into()));
    }
    Ok(segments)
}

fn render_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&k.replace('\\', "\\\\").replace('.', "\\."));
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A parsed node with byte positions in the text.
#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// Byte offset where the node (with its anchor and tag) starts.
    start: usize,
    /// Byte offset where it ends (exclusive).
    end: usize,
}

#[derive(Debug, Clone)]
enum Kind {
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
    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Alias(_) => "an alias",
            Kind::Map { .. } => "a mapping",
            Kind::Seq { .. } => "a sequence",
        }
    }

    /// Where the node's visible content ends: for a block scalar, before
    /// the trailing blank lines the parser includes.
    fn content_end(&self, text: &str) -> usize {
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
struct Tree {
    documents: Vec<Node>,
    anchors: HashMap<usize, Node>,
}

struct Builder<'a> {
    events: std::vec::IntoIter<(Event<'a>, Span)>,
    offsets: Option<Vec<usize>>,
    len: usize,
    anchors: HashMap<usize, Node>,
}

impl Builder<'_> {
    fn byte(&self, char_index: usize) -> usize {
        match &self.offsets {
            None => char_index.min(self.len),
            Some(o) => o.get(char_index).copied().unwrap_or(self.len),
        }
    }

    /// Builds the node starting with `event`.
    fn node(&mut self, event: Event<'_>, span: Span) -> Option<Node> {
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

fn parse(file: &Path, text: &str) -> Result<Tree> {
    let mut events = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        match next {
            Ok(e) => events.push(e),
            Err(e) => {
                return Err(Error::Yaml {
                    file: file.to_owned(),
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    message: e.info().to_owned(),
                })
            }
        }
    }
    let offsets = (!text.is_ascii()).then(|| {
        text.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect()
    });
    let mut b = Builder {
        events: events.into_iter(),
        offsets,
        len: text.len(),
        anchors: HashMap::new(),
    };
    let mut documents = Vec::new();
    let internal = || Error::Yaml {
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

/// Whether some YAML 1.1 or 1.2 loader could read `v`, written plain, as
/// something other than a string: null, a boolean, an integer or a float.
///
/// The rules are the union of YAML 1.2's core schema and the YAML 1.1
/// types as loaders implement them (PyYAML, SnakeYAML, go-yaml): 1.1's
/// `yes`/`no`/`on`/`off`/`y`/`n`, octal `010`, binary `0b1`, sexagesimal
/// `1:20`, `_` separators, and floats with one decimal point (`1.20`,
/// `1e3`, `.5`), and 1.1 timestamps (`2024-01-15`). A version with
/// several dots (`1.29.3`) is a string to every one of them.
pub fn loads_as_non_string(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
        "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    WORDS.contains(&v) || is_int(v) || is_float(v) || is_timestamp(v)
}

/// A YAML 1.1 timestamp: `YYYY-MM-DD`, or `YYYY-M-D` followed by `T`, `t`
/// or spaces and a time.
fn is_timestamp(v: &str) -> bool {
    let date_end = v.find(['T', 't', ' ', '\t']).unwrap_or(v.len());
    let parts: Vec<&str> = v[..date_end].split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
    };
    if !digits(year, 4..=4) {
        return false;
    }
    if date_end == v.len() {
        return digits(month, 2..=2) && digits(day, 2..=2);
    }
    let time = v[date_end..].trim_start_matches(['T', 't', ' ', '\t']);
    digits(month, 1..=2)
        && digits(day, 1..=2)
        && time.split(':').take(3).count() == 3
        && time.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// `0b…`, `0o…`, `0x…`, octal or decimal digits (with `_`), or a 1.1
/// sexagesimal integer (`1:20`, `-3:25:45`), optionally signed.
fn is_int(v: &str) -> bool {
    let digits =
        |s: &str, ok: fn(char) -> bool| !s.is_empty() && s.chars().all(|c| ok(c) || c == '_');
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    for (prefix, ok) in [
        ("0x", (|c: char| c.is_ascii_hexdigit()) as fn(char) -> bool),
        ("0o", |c: char| matches!(c, '0'..='7')),
        ("0b", |c: char| matches!(c, '0' | '1')),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return digits(rest, ok);
        }
    }
    let decimal = |c: char| c.is_ascii_digit();
    match s.split_once(':') {
        None => s.starts_with(|c: char| c.is_ascii_digit()) && digits(s, decimal),
        Some((head, rest)) => {
            s.starts_with(|c: char| c.is_ascii_digit())
                && digits(head, decimal)
                && rest.split(':').all(sexagesimal_part)
        }
    }
}

/// One `:`-separated part after the first of a sexagesimal number: one or
/// two digits, at most 59.
fn sexagesimal_part(part: &str) -> bool {
    (1..=2).contains(&part.len())
        && part.chars().all(|c| c.is_ascii_digit())
        && part.parse::<u8>().is_ok_and(|n| n < 60)
}

/// A float: digits with at most one `.` and an optional exponent (YAML
/// 1.2 takes `1e3`, 1.1 loaders `1.0e+3`, `1.`, `.5`), or a 1.1
/// sexagesimal float (`1:20.5`), optionally signed.
fn is_float(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(exp) = exponent {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if exp.is_empty() || !exp.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if let Some((whole, fraction)) = mantissa.split_once('.') {
        if whole.contains(':') {
            // Sexagesimal: `1:20.5`.
            return exponent.is_none()
                && is_int(whole)
                && fraction.chars().all(|c| c.is_ascii_digit() || c == '_');
        }
        let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit() || c == '_');
        let has_digit = whole
            .chars()
            .chain(fraction.chars())
            .any(|c| c.is_ascii_digit());
        return has_digit
            && digits(whole)
            && digits(fraction)
            && !whole.starts_with('_')
            && !fraction.starts_with('_');
    }
    // No point: only with an exponent is it a float (`1e3`).
    exponent.is_some() && !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit())
}

/// Whether `v` can be written as a plain scalar and read back unchanged
/// as a string.
fn plain_ok(v: &str, flow: bool) -> bool {
    !loads_as_non_string(v)
        && !v.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c.is_whitespace())
        && !v.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !v.contains(": ")
        && !v.contains(" #")
        && !v.chars().any(char::is_control)
        && !(flow && v.contains(|c: char| ",[]{}".contains(c)))
}

fn double_quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `v` as a scalar that loads as the string `v`, in `style` where it can.
fn render(v: &str, style: ScalarStyle, flow: bool) -> String {
    match style {
        ScalarStyle::DoubleQuoted => double_quoted(v),
        ScalarStyle::SingleQuoted if !v.chars().any(char::is_control) => {
            format!("'{}'", v.replace('\'', "''"))
        }
        _ if plain_ok(v, flow) => v.to_owned(),
        _ => double_quoted(v),
    }
}

/// A YAML file held as text, edited in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlFile {
    file: PathBuf,
    text: String,
}

enum Found<'t> {
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
    /// [`Error::Yaml`] (with line and column) when the text is not YAML.
    pub fn parse(file: impl Into<PathBuf>, text: impl Into<String>) -> Result<YamlFile> {
        let file = file.into();
        let text = text.into();
        parse(&file, &text)?;
        Ok(YamlFile { file, text })
    }

    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Yaml`] as
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

    /// Makes [`Error::YamlPath`]s about `path` in this file.
    fn path_error(
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
    /// [`Error::YamlPath`] when the path is malformed, names a mapping or
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
    /// [`Error::YamlPath`] when the path is malformed, a step goes through
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
    /// [`Error::YamlPath`] when the path is malformed.
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
    /// [`Error::YamlPath`] when the path is malformed or an item's `key`
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
    /// [`Error::YamlPath`] when `key` holds something else, a flow
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
                    let after = node.content_end(&self.text);
                    let eol = self.text[after..]
                        .find('\n')
                        .map_or(self.text.len(), |i| after + i);
                    let eol = if self.text[..eol].ends_with('\r') {
                        eol - 1
                    } else {
                        eol
                    };
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

    fn set_with(&mut self, document: usize, path: &str, value: &str, quote: bool) -> Result<bool> {
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
            Found::Node(node, flow) => {
                let Kind::Scalar { value: old, style } = &node.kind else {
                    return Err(err(match node.kind {
                        Kind::Alias(_) => {
                            "it is an alias (`*…`); set the anchored value instead".into()
                        }
                        _ => format!("it is {}, not a scalar", node.what()),
                    }));
                };
                let plain = matches!(
                    style,
                    ScalarStyle::Plain | ScalarStyle::Literal | ScalarStyle::Folded
                );
                if old == value && !(plain && (quote || loads_as_non_string(old))) {
                    return Ok(false);
                }
                let (mut start, mut end) = self.scalar_region(node, *style);
                let mut rendered = if quote && *style != ScalarStyle::SingleQuoted {
                    double_quoted(value)
                } else {
                    render(value, *style, flow)
                };
                if start == end {
                    // An empty value (`tag:`): the parser puts it before
                    // the colon; write it after, with a space.
                    let rest = &self.text[start..];
                    let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                    if rest[spaces..].starts_with(':') {
                        start += spaces + 1;
                        end = start;
                    }
                    rendered.insert(0, ' ');
                }
                (start, end, rendered)
            }
            Found::Missing { map, depth } => {
                if depth + 1 != segments.len() {
                    return Err(err(format!(
                        "`{}` has no `{}` (the nearest existing path is `{}`)",
                        if depth == 0 {
                            "the document".to_owned()
                        } else {
                            render_path(&segments[..depth])
                        },
                        render_path(&segments[depth..depth + 1]),
                        if depth == 0 {
                            "(the document root)".to_owned()
                        } else {
                            render_path(&segments[..depth])
                        }
                    )));
                }
                let Segment::Key(key) = &segments[depth] else {
                    return Err(err("an index cannot be inserted".into()));
                };
                self.insertion(map, key, value, quote)
                    .ok_or_else(|| err("the mapping to insert into is empty".into()))?
            }
        };
        let mut text = String::with_capacity(self.text.len() + replacement.len());
        text.push_str(&self.text[..start]);
        text.push_str(&replacement);
        text.push_str(&self.text[end..]);
        // The edit must read back as the string, in a document that parses.
        let edited = YamlFile {
            file: self.file.clone(),
            text,
        };
        match edited.get_in(document, path) {
            Ok(Some(v)) if v == value => {}
            other => {
                return Err(err(format!(
                    "the edit would not read back as the string `{value}` ({other:?}); the file was not changed"
                )))
            }
        }
        let changed = edited.text != self.text;
        *self = edited;
        Ok(changed)
    }

    /// The bytes to replace for a scalar: after its anchor and tag; for a
    /// block scalar, from its indicator to the end of its content.
    fn scalar_region(&self, node: &Node, style: ScalarStyle) -> (usize, usize) {
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
    fn insertion(
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
        let after = last_value.content_end(&self.text);
        let eol = self.text[after..]
            .find('\n')
            .map_or(self.text.len(), |i| after + i);
        let eol = if self.text[..eol].ends_with('\r') {
            eol - 1
        } else {
            eol
        };
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

fn find<'t>(
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
fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

fn resolve<'t>(tree: &'t Tree, node: &'t Node) -> &'t Node {
    match node.kind {
        Kind::Alias(id) => tree.anchors.get(&id).unwrap_or(node),
        _ => node,
    }
}

/// The value of `key` in `map`, or in a mapping merged in with `<<`.
fn lookup<'t>(tree: &'t Tree, map: &'t Node, key: &str) -> Option<&'t Node> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, path: &str, value: &str) -> String {
        let mut f = YamlFile::parse("t.yaml", text).unwrap();
        f.set(path, value).unwrap();
        f.text().to_owned()
    }

    #[test]
    fn paths_parse() {
        let p = |s| parse_path(Path::new("f"), s, "set");
        assert_eq!(
            p("a.b[0].c").unwrap(),
            vec![
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(0),
                Segment::Key("c".into())
            ]
        );
        assert_eq!(
            p("ann.example\\.com/team").unwrap(),
            vec![
                Segment::Key("ann".into()),
                Segment::Key("example.com/team".into())
            ]
        );
        assert_eq!(p("[1]").unwrap(), vec![Segment::Index(1)]);
        for bad in ["", "a..b", "a.", "a[x]", "a[1", "a\\"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(render_path(&p("a.b\\.c[2]").unwrap()), "a.b\\.c[2]");
    }

    #[test]
    fn non_strings_are_recognised() {
        for v in [
            "1.20",
            "1e3",
            "1E-3",
            "1.0e+3",
            "yes",
            "No",
            "0x10",
            "null",
            "~",
            "",
            "010",
            "1_000",
            "1:20",
            "1:20.5",
            "-3:25:45",
            "-1",
            "+.5",
            "1.",
            ".inf",
            "-.Inf",
            ".NaN",
            "0o17",
            "0b101",
            "on",
            "Y",
            "42",
            "2024-01-15",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
        ] {
            assert!(loads_as_non_string(v), "{v}");
        }
        for v in [
            "1.2.3",
            "1.29.3",
            "10.0.0",
            "v1.2.3",
            "1.2.3-alpha",
            "1.27.4-debian-12-r6",
            "latest",
            "sha256:abc",
            "abc123",
            "0xZZ",
            "e3",
            "1e",
            "1:60",
            "12:345",
            "yEs",
            "20240101T000000",
            "1.2e3.4",
            ".",
            "2024-01",
            "2024-1-15",
            "release-2024-01-15",
        ] {
            assert!(!loads_as_non_string(v), "{v}");
        }
    }

    #[test]
    fn styles_are_kept() {
        assert_eq!(set("tag: \"1.0\"\n", "tag", "2.0"), "tag: \"2.0\"\n");
        assert_eq!(set("tag: 'v1'\n", "tag", "it's"), "tag: 'it''s'\n");
        assert_eq!(set("tag: v1\n", "tag", "v2"), "tag: v2\n");
        assert_eq!(set("tag: v1\n", "tag", "1.20"), "tag: \"1.20\"\n");
        assert_eq!(set("tag: v1\n", "tag", "a: b"), "tag: \"a: b\"\n");
        assert_eq!(set("tag: v1 # c\n", "tag", "v2"), "tag: v2 # c\n");
        assert_eq!(set("a: &x v1\nb: *x\n", "a", "v2"), "a: &x v2\nb: *x\n");
        assert_eq!(set("a: !!str v1\n", "a", "v2"), "a: !!str v2\n");
        assert_eq!(
            set("a: |\n  x\n  y\n\nb: 1\n", "a", "v2"),
            "a: v2\n\nb: 1\n"
        );
        assert_eq!(
            set("a: {t: v1, u: 2}\n", "a.t", "x,y"),
            "a: {t: \"x,y\", u: 2}\n"
        );
        assert_eq!(set("l:\n  - x\n  - y\n", "l[1]", "z"), "l:\n  - x\n  - z\n");
        assert_eq!(set("a: v1\r\nb: c\r\n", "b", "d"), "a: v1\r\nb: d\r\n");
        assert_eq!(set("é: ü\nb: c\n", "b", "d"), "é: ü\nb: d\n");
        assert_eq!(set("a:\nb: 1\n", "a", "x"), "a: x\nb: 1\n");
        assert_eq!(set("a: ~\n", "a", "x"), "a: x\n");
    }

    #[test]
    fn a_number_like_tag_is_quoted_even_when_equal() {
        let mut f = YamlFile::parse("t", "tag: 1.20\n").unwrap();
        assert!(f.set("tag", "1.20").unwrap());
        assert_eq!(f.text(), "tag: \"1.20\"\n");
        assert!(!f.set("tag", "1.20").unwrap());
    }

    #[test]
    fn missing_keys_are_inserted_with_their_siblings_indentation() {
        assert_eq!(
            set(
                "image:\n  repository: r # c\n\nother: 1\n",
                "image.tag",
                "1.0"
            ),
            "image:\n  repository: r # c\n  tag: \"1.0\"\n\nother: 1\n"
        );
        assert_eq!(
            set("a:\n    b:\n        c: 1\nz: 2\n", "a.d", "x"),
            "a:\n    b:\n        c: 1\n    d: x\nz: 2\n"
        );
        assert_eq!(set("a: {b: 1}\n", "a.c", "x"), "a: {b: 1, c: x}\n");
        assert_eq!(set("a: 1\r\n", "b", "x"), "a: 1\r\nb: x\r\n");
        assert_eq!(set("a: 1", "b", "x"), "a: 1\nb: x");
    }

    #[test]
    fn errors_name_the_problem() {
        let f = YamlFile::parse(
            "v.yaml",
            "image:\n  tag: 1\nlist: [1]\nal: &x {a: 1}\nb: *x\n",
        )
        .unwrap();
        let msg = |path: &str| {
            let mut g = f.clone();
            g.set(path, "v").unwrap_err().to_string()
        };
        assert!(msg("image.registry.host").contains("nearest existing path is `image`"));
        assert!(msg("nope.x").contains("the document root"));
        assert!(msg("image.tag.x").contains("`image.tag` is a scalar, not a mapping"));
        assert!(msg("list[3]").contains("has 1 item(s)"));
        assert!(msg("image").contains("a mapping, not a scalar"));
        assert!(msg("b").contains("alias"));
        let e = YamlFile::parse("bad.yaml", "a: [1,\nb: c\n").unwrap_err();
        assert!(
            matches!(e, Error::Yaml { line: 2, .. } | Error::Yaml { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("bad.yaml"));
    }

    #[test]
    fn reads_through_aliases_and_merge_keys() {
        let f = YamlFile::parse(
            "t",
            "base: &b\n  tag: \"1.0\"\nprod:\n  <<: *b\n  name: x\nnull: ~\n",
        )
        .unwrap();
        assert_eq!(f.get("prod.tag").unwrap().as_deref(), Some("1.0"));
        assert_eq!(f.get("prod.missing").unwrap(), None);
        assert_eq!(f.get("null").unwrap(), None);
        assert!(f.get("base").is_err());
    }

    #[test]
    fn other_documents_stay() {
        let text = "a: 1\n---\n# second\na: 2\n";
        let mut f = YamlFile::parse("t", text).unwrap();
        f.set_in(1, "a", "x").unwrap();
        assert_eq!(f.text(), "a: 1\n---\n# second\na: x\n");
        assert!(f.set_in(2, "a", "x").is_err());
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let text = "image:\n  repository: r\n  tag: \"1.0\"\n  list:\n    - a\n    - {b: [1, 2]}\n";
        for cut in 0..text.len() {
            if let Ok(mut f) = YamlFile::parse("t", &text[..cut]) {
                let _ = f.set("image.tag", "2.0");
                let _ = f.get("image.list[1].b");
            }
        }
        for garbage in ["{{{{", "- - - :", "\u{0}\u{1}", "a: 'unterminated", "? ? ?"] {
            if let Ok(mut f) = YamlFile::parse("t", garbage) {
                let _ = f.set("a", "b");
            }
        }
    }

    #[test]
    fn items_are_appended_to_sequences() {
        let mut f = YamlFile::parse(
            "k",
            "resources:\n  - a.yaml\nimages:\n  - name: x\n    newTag: \"1\"\n# end\n",
        )
        .unwrap();
        assert_eq!(
            f.append_item("images", &[("name", "web"), ("newTag", "2")])
                .unwrap(),
            1
        );
        assert_eq!(
            f.text(),
            "resources:\n  - a.yaml\nimages:\n  - name: x\n    newTag: \"1\"\n  - name: web\n    newTag: \"2\"\n# end\n"
        );
        let mut g = YamlFile::parse("k", "resources:\n- a.yaml").unwrap();
        assert_eq!(g.append_item("images", &[("name", "web")]).unwrap(), 0);
        assert_eq!(g.text(), "resources:\n- a.yaml\nimages:\n- name: web\n");
        assert_eq!(g.get("images[0].name").unwrap().as_deref(), Some("web"));
        assert!(g.has("images[0]").unwrap() && !g.has("images[1]").unwrap());
        assert_eq!(f.position("images", "name", "web").unwrap(), Some(1));
        assert_eq!(f.position("images", "name", "none").unwrap(), None);
        assert_eq!(f.position("resources", "name", "x").unwrap(), None);
    }

    #[test]
    fn quoted_sets_quote() {
        let mut f = YamlFile::parse("c", "appVersion: 1.0.0\nname: x\n").unwrap();
        assert!(f.set_quoted("appVersion", "v1").unwrap());
        assert_eq!(f.text(), "appVersion: \"v1\"\nname: x\n");
        assert!(!f.set_quoted("appVersion", "v1").unwrap());
    }

    #[test]
    fn diffs_are_unified() {
        assert_eq!(
            unified_diff("v.yaml", "a\nb\nc\n", "a\nB\nc\n"),
            "--- a/v.yaml\n+++ b/v.yaml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(unified_diff("v.yaml", "a\n", "a\n"), "");
    }

    #[test]
    fn reading_through_a_scalar_is_an_error() {
        let f = YamlFile::parse("v.yaml", "image: nginx:1.25\nempty:\nlist: [a]\n").unwrap();
        let err = f.get("image.tag").unwrap_err().to_string();
        assert!(err.contains("`image` is a scalar, not a mapping"), "{err}");
        assert!(f.get("list.x").is_err());
        assert!(f.get("image[0]").is_err());
        assert_eq!(f.get("empty.tag").unwrap(), None);
        assert_eq!(f.get("missing.tag").unwrap(), None);
        assert_eq!(f.get("list[3]").unwrap(), None);
    }
}
