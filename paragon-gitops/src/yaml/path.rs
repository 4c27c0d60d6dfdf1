//! Paths into a YAML document: `image.tag`, `a.b[0].c`, with `\.` for a
//! dot inside a key.

use std::path::Path;

use paragon_core::{Error, Result};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

/// Makes [`Error::YamlPath`](crate::Error::YamlPath)s about `path` in `file`.
pub(super) fn path_error(
    file: &Path,
    path: impl Into<String>,
    operation: &'static str,
) -> impl Fn(String) -> Error {
    let file = file.to_owned();
    let path = path.into();
    move |message| {
        crate::Error::YamlPath {
            file: file.clone(),
            path: path.clone(),
            operation,
            message,
        }
        .into()
    }
}

pub(super) fn parse_path(file: &Path, path: &str, operation: &'static str) -> Result<Vec<Segment>> {
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

pub(super) fn render_path(segments: &[Segment]) -> String {
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
