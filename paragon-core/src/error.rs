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
    /// A registry operation failed (other than by refusing the credentials).
    #[error("registry {host}: {operation} failed{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Registry {
        /// The registry's host (and port), or the layout's path.
        host: String,
        /// What was being done (`push blob sha256:…`, `list tags of app`).
        operation: String,
        /// The HTTP status, when one came back.
        status: Option<u16>,
        /// What went wrong.
        message: String,
        /// Whether trying again may succeed (no answer, a 5xx or 429).
        retryable: bool,
        /// How long the registry asked to wait before trying again (its
        /// `Retry-After` header), when it said.
        retry_after: Option<std::time::Duration>,
        /// The HTTP client's error (a `reqwest::Error`, without its URL)
        /// when the request itself failed: ask it `is_timeout()` or
        /// `is_connect()` through [`std::error::Error::source`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An adapter does not support an operation (deleting tags, say).
    #[error("{component} does not support {operation}")]
    Unsupported {
        /// The adapter.
        component: String,
        /// The operation.
        operation: String,
    },
    /// A YAML file could not be parsed.
    #[error("invalid YAML in `{}` at line {line}, column {column}: {message}", file.display())]
    Yaml {
        /// The file (relative to its repository where there is one).
        file: std::path::PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A path in a YAML file cannot be read or set.
    #[error("`{}`: cannot {operation} `{path}`: {message}", file.display())]
    YamlPath {
        /// The file.
        file: std::path::PathBuf,
        /// The path (`image.tag`, `a.b[0].c`).
        path: String,
        /// `set` or `read`.
        operation: &'static str,
        /// Why (naming the nearest existing path when the path is missing).
        message: String,
    },
    /// A git operation failed.
    #[error("git {operation} on {remote} failed{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Git {
        /// The remote, without credentials.
        remote: String,
        /// What was being done (`clone`, `push main`, `revert 1a2b3c`).
        operation: String,
        /// What git said (the tail of its stderr, redacted).
        message: String,
    },
    /// A push kept being rejected because others pushed first.
    #[error("git push to {remote} ({branch}) was rejected {attempts} times because the branch moved; giving up")]
    Conflict {
        /// The remote, without credentials.
        remote: String,
        /// The branch.
        branch: String,
        /// How many pushes were tried.
        attempts: u32,
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
    /// A report could not be serialized or deserialized in its JSON form.
    #[error("invalid Paragon JSON report")]
    Json {
        /// The serde error, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// This error with `cause` as its [`source`](std::error::Error::source),
    /// for the variants that carry one ([`Error::Http`] and
    /// [`Error::Registry`]); any other error is returned as it is.
    #[must_use]
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        if let Error::Http { source, .. } | Error::Registry { source, .. } = &mut self {
            *source = Some(Box::new(cause));
        }
        self
    }

    /// True when something was not found: a tool, a target, a file.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::ToolNotFound { .. } | Error::TargetNotFound { .. } => true,
            Error::Http { status: 404, .. } => true,
            Error::Registry {
                status: Some(404), ..
            } => true,
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }

    /// True when trying again may succeed (a timeout, a 5xx or 429 answer,
    /// no answer at all).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::TimedOut { .. } => true,
            Error::Http { status, .. } => *status == 0 || *status == 429 || *status >= 500,
            Error::Registry { retryable, .. } => *retryable,
            Error::Conflict { .. } => true,
            _ => false,
        }
    }

    /// How long the service asked to wait before trying again (an HTTP
    /// `Retry-After`), when it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Registry { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when a service refused the credentials (HTTP 401 or 403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Error::Http {
                status: 401 | 403,
                ..
            } | Error::Unauthorized { .. }
        )
    }

    /// True when the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
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
}
