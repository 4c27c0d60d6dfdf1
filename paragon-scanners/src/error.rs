//! The error type of `paragon-scanners`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Format;

/// A specialised `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A position in an input document (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `bytes` (clamped to the input).
    pub fn of_offset(bytes: &[u8], offset: usize) -> Position {
        let head = &bytes[..offset.min(bytes.len())];
        let line = head.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = head.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Errors from reading scanner reports.
///
/// Every variant names the input: the file when it is known (set by
/// [`crate::parse_file`] or [`Error::with_file`]), otherwise "input".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input holds nothing but white space.
    #[error("{} is empty{}", origin(.file), expected(.format))]
    Empty {
        /// The format that was expected, when one was.
        format: Option<Format>,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// The content matches no supported report format.
    #[error("{} is not a report format Paragon recognises (starts with {start:?})", origin(.file))]
    UnknownFormat {
        /// The file, when known.
        file: Option<PathBuf>,
        /// The first few characters, for the message.
        start: String,
    },
    /// The input is of a different supported format than the parser's.
    #[error("{} is a {found} report, not {expected}", origin(.file))]
    WrongFormat {
        /// The format the parser reads.
        expected: Format,
        /// The format detected in the input.
        found: Format,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// The document declares a version of its format that is not supported.
    #[error("{} is {format} version `{version}`, which is not supported (supported: {supported})", origin(.file))]
    UnsupportedVersion {
        /// The format.
        format: Format,
        /// The version the document declares.
        version: String,
        /// The versions that are supported.
        supported: &'static str,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// The input is not a well-formed report of the format: bad syntax,
    /// truncation, or a missing or mistyped field.
    #[error("malformed {format} in {}{}: {reason}", origin(.file), at(.position))]
    Malformed {
        /// The format being read.
        format: Format,
        /// The file, when known.
        file: Option<PathBuf>,
        /// Where the problem is, when the parser knows.
        position: Option<Position>,
        /// What is wrong, in a few words (the detail is in `source`).
        reason: String,
        /// The underlying parser error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Support for the format was not compiled in.
    #[error("{} is a {format} report, but support for it is not compiled in (enable the `{feature}` feature of paragon-scanners)", origin(.file))]
    FeatureDisabled {
        /// The format.
        format: Format,
        /// The cargo feature that enables it.
        feature: &'static str,
        /// The file, when known.
        file: Option<PathBuf>,
    },
    /// A report file could not be read. The message shows the cause (also
    /// its `source`).
    #[error("cannot read report `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A report file is larger than the reader allows
    /// ([`ReadLimits::max_bytes`](crate::ReadLimits::max_bytes)).
    #[error("report `{}` is larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The path names something other than a file or a pipe (a device, a
    /// socket, a directory).
    #[error("`{}` is {what}, not a report file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is (`a character device`, `a directory`…).
        what: &'static str,
    },
    /// A pipe gave no data for longer than the reader waits
    /// ([`ReadLimits::idle_timeout`](crate::ReadLimits::idle_timeout)):
    /// nothing opened it for writing, or its writer stalled.
    #[error("`{}` gave no data for {waited:?} (a pipe with no writer, or a stalled one)", path.display())]
    NoData {
        /// The pipe.
        path: PathBuf,
        /// How long the reader waited.
        waited: std::time::Duration,
    },
}

fn origin(file: &Option<PathBuf>) -> String {
    match file {
        Some(path) => format!("`{}`", path.display()),
        None => "input".to_owned(),
    }
}

fn expected(format: &Option<Format>) -> String {
    match format {
        Some(f) => format!(" (expected a {f} report)"),
        None => String::new(),
    }
}

fn at(position: &Option<Position>) -> String {
    match position {
        Some(p) => format!(" at {p}"),
        None => String::new(),
    }
}

impl Error {
    /// Names the file the input came from (replacing any file already set).
    #[must_use]
    pub fn with_file(mut self, path: &Path) -> Error {
        match &mut self {
            Error::Empty { file, .. }
            | Error::UnknownFormat { file, .. }
            | Error::WrongFormat { file, .. }
            | Error::UnsupportedVersion { file, .. }
            | Error::Malformed { file, .. }
            | Error::FeatureDisabled { file, .. } => *file = Some(path.to_owned()),
            Error::Io { .. }
            | Error::TooLarge { .. }
            | Error::NotAFile { .. }
            | Error::NoData { .. } => {}
        }
        self
    }

    /// The file the error is about, when known.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Error::Empty { file, .. }
            | Error::UnknownFormat { file, .. }
            | Error::WrongFormat { file, .. }
            | Error::UnsupportedVersion { file, .. }
            | Error::Malformed { file, .. }
            | Error::FeatureDisabled { file, .. } => file.as_deref(),
            Error::Io { path, .. }
            | Error::TooLarge { path, .. }
            | Error::NotAFile { path, .. }
            | Error::NoData { path, .. } => Some(path),
        }
    }

    /// The position in the input, for malformed input.
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Malformed { position, .. } => *position,
            _ => None,
        }
    }

    /// True when the input ended early (a truncated file).
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Malformed { reason, .. } if reason.starts_with(TRUNCATED))
    }

    // Used by every parser but SARIF's (serde-sarif reports its own errors).
    #[allow(dead_code)]
    pub(crate) fn malformed(format: Format, reason: impl Into<String>) -> Error {
        Error::Malformed {
            format,
            file: None,
            position: None,
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn json(format: Format, err: serde_json::Error) -> Error {
        use serde_json::error::Category;
        let reason = match err.classify() {
            Category::Eof => TRUNCATED,
            Category::Syntax => "invalid JSON syntax",
            Category::Data => "unexpected content for this format",
            Category::Io => "read error",
        };
        let position = (err.line() > 0).then(|| Position {
            line: err.line(),
            column: err.column(),
        });
        Error::Malformed {
            format,
            file: None,
            position,
            reason: reason.to_owned(),
            source: Some(Box::new(err)),
        }
    }

    #[cfg(any(feature = "dependency-check", feature = "cyclonedx"))]
    /// An XML error in `text`. A document that ends before its root element
    /// closes is truncated, at its end (the parser places it at 1:1).
    pub(crate) fn xml(format: Format, err: roxmltree::Error, text: &str) -> Error {
        let truncated = matches!(
            err,
            roxmltree::Error::UnexpectedEndOfStream | roxmltree::Error::UnclosedRootNode
        );
        let dtd = matches!(err, roxmltree::Error::DtdDetected);
        let position = if truncated {
            Position::of_offset(text.as_bytes(), text.len())
        } else if dtd {
            Position::of_offset(text.as_bytes(), text.find("<!DOCTYPE").unwrap_or(0))
        } else {
            let pos = err.pos();
            Position {
                line: pos.row as usize,
                column: pos.col as usize,
            }
        };
        let reason = if truncated {
            TRUNCATED
        } else if dtd {
            "a document type definition (`<!DOCTYPE`) is refused: its entities could expand without bound"
        } else {
            "invalid XML"
        };
        Error::Malformed {
            format,
            file: None,
            position: Some(position),
            reason: reason.to_owned(),
            source: Some(Box::new(err)),
        }
    }
}

const TRUNCATED: &str = "unexpected end of input (truncated?)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }

    #[test]
    fn messages_name_file_format_and_position() {
        let err = serde_json::from_slice::<serde_json::Value>(b"{\n  \"a\": [1,").unwrap_err();
        let err = Error::json(Format::TrivyJson, err).with_file(Path::new("scan.json"));
        let msg = err.to_string();
        assert!(msg.contains("`scan.json`"), "{msg}");
        assert!(msg.contains("Trivy JSON"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(err.is_truncated());
        assert_eq!(err.file(), Some(Path::new("scan.json")));
    }

    #[test]
    fn position_of_offset() {
        assert_eq!(
            Position::of_offset(b"ab\ncd", 4),
            Position { line: 2, column: 2 }
        );
        assert_eq!(
            Position::of_offset(b"ab", 99),
            Position { line: 1, column: 3 }
        );
    }
}
