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
