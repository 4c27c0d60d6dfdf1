//! The error type of `paragon-core`, and the categories a pipeline acts
//! on.
//!
//! Core's [`Error`] names what core and the plugin contracts know: files,
//! tools, policies, services, the pipeline. What only an adapter crate
//! knows — a YAML path, a git remote, the registry protocol, Harbor's API —
//! is that crate's own error type, carried here as
//! [`Error::Adapter`] with the [`ErrorKind`] a pipeline acts on, in the way
//! `object_store::Error::Generic` carries a store's error. Ask any error
//! its [`kind`](Error::kind), and reach the adapter's error with
//! [`Error::downcast_ref`]:
//!
//! ```
//! use paragon_core::{Error, ErrorKind};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("branch `main` of origin moved")]
//! struct Moved;
//!
//! let err = Error::adapter("git", ErrorKind::Conflict, Moved);
//! assert_eq!(err.kind(), ErrorKind::Conflict);
//! assert!(err.is_retryable());
//! assert!(err.downcast_ref::<Moved>().is_some());
//! assert_eq!(err.to_string(), "branch `main` of origin moved");
//! ```

use std::fmt;
use std::time::Duration;

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
    /// A file could not be read or written. Its message shows the cause
    /// (which is also its `source`), since a path alone rarely says why.
    #[error("cannot access `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A component was configured wrongly (a builder's `build()` refused it).
    #[error("invalid {component} configuration: {message}")]
    InvalidConfig {
        /// The component (`trivy`, `syft`…).
        component: String,
        /// What is wrong.
        message: String,
    },
    /// A tool's executable was not found.
    #[error("{tool} not found (looked for `{}`); {hint}", program.display())]
    ToolNotFound {
        /// The tool (`trivy`, `syft`…).
        tool: String,
        /// The executable that was looked for.
        program: std::path::PathBuf,
        /// How to install it.
        hint: String,
    },
    /// A tool ran and failed.
    #[error("{tool} failed ({status}){}", if stderr_tail.is_empty() { String::new() } else { format!(": {stderr_tail}") })]
    ToolFailed {
        /// The tool.
        tool: String,
        /// Its exit status (`exit code 2`, `killed by signal 9`).
        status: String,
        /// The end of its standard error, with credentials redacted.
        stderr_tail: String,
    },
    /// A tool ran longer than allowed and was killed.
    #[error("{tool} timed out after {after:?} and was stopped")]
    TimedOut {
        /// The tool.
        tool: String,
        /// The limit.
        after: std::time::Duration,
    },
    /// The run was cancelled; the tool was stopped.
    #[error("{tool} was cancelled")]
    Cancelled {
        /// The tool.
        tool: String,
    },
    /// A scanner was given a kind of target it does not scan.
    #[error("{scanner} cannot scan {target}")]
    UnsupportedTarget {
        /// The scanner.
        scanner: String,
        /// The kind of target.
        target: crate::plugin::scan::TargetKind,
    },
    /// The target to scan does not exist.
    #[error("{scanner}: target `{}` does not exist", path.display())]
    TargetNotFound {
        /// The scanner.
        scanner: String,
        /// The missing path.
        path: std::path::PathBuf,
    },
    /// A tool ran but its output could not be read.
    #[error("the output of {tool}{} could not be read", version.as_ref().map(|v| format!(" {v}")).unwrap_or_default())]
    ToolOutput {
        /// The tool.
        tool: String,
        /// Its version, when it could be asked.
        version: Option<String>,
        /// Why the output could not be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A service answered an HTTP request with an error status.
    #[error("{service} answered {status} to {method} {url}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        /// The service (`sonarqube`, `harbor`…).
        service: String,
        /// The request method.
        method: String,
        /// The URL, without credentials or query secrets.
        url: String,
        /// The HTTP status code (0 when no response came).
        status: u16,
        /// What the service said, shortened.
        message: String,
        /// The HTTP client's error (a `reqwest::Error`, without its URL)
        /// when the request itself failed: ask it `is_timeout()` or
        /// `is_connect()` through [`std::error::Error::source`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An OCI image layout on disk is missing or invalid.
    #[error("OCI layout `{}`: {message}", path.display())]
    Layout {
        /// The layout directory (or the file in it).
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A registry refused the credentials (or required some and got none).
    #[error("{service} at {host} refused the credentials{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Unauthorized {
        /// The service (`registry`, `harbor`, `git`…).
        service: String,
        /// The host (and port) that refused.
        host: String,
        /// What it said, shortened and without credentials.
        message: String,
    },
    /// A registry operation failed (other than by refusing the credentials)
    /// in a way any registry adapter can say; the protocol's own failures
    /// are the adapter crate's error, as [`Error::Adapter`].
    #[error("registry {host}: {operation} failed: {message}")]
    Registry {
        /// The registry's host (and port), or the layout's path.
        host: String,
        /// What was being done (`tag app:1.0`, `delete tag app:old`).
        operation: String,
        /// What went wrong.
        message: String,
        /// What kind of failure it is ([`ErrorKind::NotFound`] for a
        /// missing image or tag, say).
        kind: ErrorKind,
    },
    /// An adapter does not support an operation (deleting tags, say).
    #[error("{component} does not support {operation}")]
    Unsupported {
        /// The adapter.
        component: String,
        /// The operation.
        operation: String,
    },
    /// Another writer got there first: a tag or a branch moved under a
    /// write that must not overwrite it.
    #[error("{target}: {message}")]
    Conflict {
        /// What was being written (`registry r.test`, `git origin`).
        target: String,
        /// What moved, and what was left as it was.
        message: String,
    },
    /// An environment a GitOps target does not know.
    #[error("{target} has no environment `{environment}` (it has: {})", known.join(", "))]
    UnknownEnvironment {
        /// The target.
        target: String,
        /// The environment asked for.
        environment: String,
        /// The environments it has.
        known: Vec<String>,
    },
    /// A secret could not be had.
    #[error("secret `{name}` from {store}: {message}")]
    Secret {
        /// The secret source (`env`, `vault at host`).
        store: String,
        /// The secret's name.
        name: String,
        /// Why.
        message: String,
    },
    /// An image carries no signature that verifies.
    #[error("{image} is not verified: {reason} (accepted keys: {})", accepted.join(", "))]
    NotVerified {
        /// `repository@sha256:…`.
        image: String,
        /// Why each signature failed, or that there is none.
        reason: String,
        /// The identities (key fingerprints) that would have been accepted.
        accepted: Vec<String>,
    },
    /// A pipeline is missing a part or has contradictory parts.
    #[error("invalid pipeline: {message}")]
    Pipeline {
        /// What is wrong.
        message: String,
    },
    /// A report could not be exported.
    #[error("cannot export the report as {format}: {message}")]
    Export {
        /// The export format.
        format: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A baseline report cannot be compared with this one: it is not a
    /// Paragon report, or is of another schema version.
    #[error("invalid baseline: {message}")]
    Baseline {
        /// What is wrong, naming the baseline's file when it came from one.
        message: String,
    },
    /// A report could not be serialized or deserialized in its JSON form.
    #[error("invalid Paragon JSON report")]
    Json {
        /// The serde error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// An adapter crate's own error (`paragon_gitops::Error`,
    /// `paragon_registry::Error`…), with the category a pipeline acts on.
    /// Its message is the adapter error's; the adapter error is its
    /// [`source`](std::error::Error::source), reached typed through
    /// [`Error::downcast_ref`].
    #[error("{source}")]
    Adapter {
        /// The adapter (`git`, `yaml`, `registry`, `harbor`).
        component: &'static str,
        /// What kind of failure it is.
        kind: ErrorKind,
        /// How long the service asked to wait before trying again, when it
        /// said.
        retry_after: Option<Duration>,
        /// The adapter's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The kind of a failure: the categories a pipeline acts on, whichever
/// adapter raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A tool, target, file, image, tag or path is not there.
    NotFound,
    /// A service refused the credentials or wanted some.
    Unauthorized,
    /// Another writer got there first; trying again on the new state may
    /// succeed.
    Conflict,
    /// No answer came before a timeout; trying again may succeed.
    Timeout,
    /// A service did not answer, or answered that it is busy or failing
    /// (429, 5xx); trying again may succeed.
    Unavailable,
    /// The run was cancelled.
    Cancelled,
    /// An input (a file, a name, a configuration) is invalid; trying again
    /// with the same input fails the same way.
    InvalidInput,
    /// A tool or service ran and failed.
    ToolFailed,
    /// An operation is not supported by the adapter.
    Unsupported,
    /// Anything else.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::ToolFailed => "tool failed",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        })
    }
}

impl ErrorKind {
    /// The kind of an HTTP answer's status (0 when no answer came).
    pub fn of_status(status: u16) -> ErrorKind {
        match status {
            0 | 429 | 500..=599 => ErrorKind::Unavailable,
            401 | 403 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            405 => ErrorKind::Unsupported,
            400..=499 => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    }
}

impl Error {
    /// An adapter crate's error `source`, of `kind`, from `component`.
    pub fn adapter(
        component: &'static str,
        kind: ErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Adapter {
            component,
            kind,
            retry_after: None,
            source: Box::new(source),
        }
    }

    /// This error with `wait` as the time its service asked to wait before
    /// trying again; only [`Error::Adapter`] carries one.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Error {
        if let Error::Adapter { retry_after, .. } = &mut self {
            *retry_after = wait;
        }
        self
    }

    /// This error with `cause` as its [`source`](std::error::Error::source),
    /// for [`Error::Http`]; any other error is returned as it is.
    #[must_use]
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        if let Error::Http { source, .. } = &mut self {
            *source = Some(Box::new(cause));
        }
        self
    }

    /// The adapter crate's error of type `E` that this error carries, when
    /// it is an [`Error::Adapter`] holding one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Error::Adapter { source, .. } => source.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Adapter { kind, .. } | Error::Registry { kind, .. } => *kind,
            Error::ToolNotFound { .. } | Error::TargetNotFound { .. } => ErrorKind::NotFound,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            // No answer (status 0) is `Unavailable`; whether the request
            // timed out, its `reqwest::Error` source says (`is_timeout()`).
            Error::Http { status, .. } => ErrorKind::of_status(*status),
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::TimedOut { .. } => ErrorKind::Timeout,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::ToolFailed { .. } | Error::ToolOutput { .. } => ErrorKind::ToolFailed,
            Error::Unsupported { .. } | Error::UnsupportedTarget { .. } => ErrorKind::Unsupported,
            Error::InvalidPurl { .. }
            | Error::InvalidSeverity(_)
            | Error::Policy { .. }
            | Error::Vex { .. }
            | Error::InvalidConfig { .. }
            | Error::Layout { .. }
            | Error::UnknownEnvironment { .. }
            | Error::Pipeline { .. }
            | Error::Baseline { .. }
            | Error::NotVerified { .. }
            | Error::Json { .. } => ErrorKind::InvalidInput,
            Error::Io { .. } | Error::Secret { .. } | Error::Export { .. } => ErrorKind::Other,
        }
    }

    /// True when something was not found: a tool, a target, a file, an
    /// image.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// True when trying again may succeed: a timeout, no answer, a 5xx or
    /// 429 answer, or a write that lost a race.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::Conflict
        )
    }

    /// How long the service asked to wait before trying again (an HTTP
    /// `Retry-After`), when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Adapter { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when a service refused the credentials (HTTP 401 or 403).
    pub fn is_unauthorized(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }

    /// True when the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }

    #[test]
    fn every_error_has_the_kind_a_pipeline_acts_on() {
        let http = |status| Error::Http {
            service: "svc".into(),
            method: "GET".into(),
            url: "https://svc.test/x".into(),
            status,
            message: String::new(),
            source: None,
        };
        assert_eq!(http(0).kind(), ErrorKind::Unavailable);
        assert_eq!(http(503).kind(), ErrorKind::Unavailable);
        assert_eq!(http(429).kind(), ErrorKind::Unavailable);
        assert_eq!(http(403).kind(), ErrorKind::Unauthorized);
        assert_eq!(http(404).kind(), ErrorKind::NotFound);
        assert_eq!(http(409).kind(), ErrorKind::Conflict);
        assert_eq!(http(422).kind(), ErrorKind::InvalidInput);
        assert!(http(503).is_retryable() && !http(404).is_retryable());
        let cancelled = Error::Cancelled { tool: "t".into() };
        assert!(cancelled.is_cancelled() && !cancelled.is_retryable());
        let timed_out = Error::TimedOut {
            tool: "t".into(),
            after: Duration::from_secs(1),
        };
        assert_eq!(timed_out.kind(), ErrorKind::Timeout);
        let missing = Error::ToolNotFound {
            tool: "trivy".into(),
            program: "trivy".into(),
            hint: String::new(),
        };
        assert!(missing.is_not_found());
        let failed = Error::ToolFailed {
            tool: "t".into(),
            status: "exit code 1".into(),
            stderr_tail: String::new(),
        };
        assert_eq!(failed.kind(), ErrorKind::ToolFailed);
    }

    #[test]
    fn an_adapter_error_keeps_its_type_kind_and_wait() {
        #[derive(Debug, thiserror::Error)]
        #[error("busy at r.test")]
        struct Busy;
        let err = Error::adapter("registry", ErrorKind::Unavailable, Busy)
            .with_retry_after(Some(Duration::from_secs(3)));
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(err.downcast_ref::<Busy>().is_some());
        assert!(err.downcast_ref::<std::io::Error>().is_none());
        assert_eq!(err.to_string(), "busy at r.test");
        let source = std::error::Error::source(&err).unwrap();
        assert!(source.is::<Busy>());
    }
}
