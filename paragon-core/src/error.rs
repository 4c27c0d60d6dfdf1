//! The error type of `paragon-core`.

/// A specialised `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by the model and the engine in `paragon-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not a valid package URL.
    #[error("invalid package URL `{purl}`")]
    InvalidPurl {
        /// The rejected input.
        purl: String,
        /// Why `packageurl` rejected it.
        #[source]
        source: packageurl::Error,
    },
    /// A severity name is not one Paragon knows.
    #[error("unknown severity `{0}` (expected critical, high, medium, low, info or unknown)")]
    InvalidSeverity(String),
    /// A policy file is invalid.
    #[error("invalid policy{}{}{}: {message}", file.as_ref().map(|f| format!(" `{}`", f.display())).unwrap_or_default(), field.as_ref().map(|f| format!(" at `{f}`")).unwrap_or_default(), line.map(|l| format!(" (line {l}{})", column.map(|c| format!(", column {c}")).unwrap_or_default())).unwrap_or_default())]
    Policy {
        /// The policy file, when read from one.
        file: Option<std::path::PathBuf>,
        /// The path of the offending field (`ignore[1].expires`), when known.
        field: Option<String>,
        /// The line (1-based), when the parser knows it.
        line: Option<usize>,
        /// The column (1-based), when the parser knows it.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A VEX document is invalid.
    #[error("invalid VEX document `{document}`: {message}")]
    Vex {
        /// The document's name (its file).
        document: String,
        /// What is wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A file could not be read or written.
    #[error("cannot access `{}`", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A report could not be exported.
    #[error("cannot export the report as {format}: {message}")]
    Export {
        /// The export format.
        format: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A report could not be serialized or deserialized in its JSON form.
    #[error("invalid Paragon JSON report")]
    Json {
        /// The serde error, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }
}
