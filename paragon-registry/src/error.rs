//! What only the registry adapters know can go wrong: the distribution
//! protocol's answers, Harbor's API, cosign keys.
//!
//! Every function of the crate returns [`paragon_core::Result`]; these
//! errors reach callers as [`paragon_core::Error::Adapter`] with the
//! [`ErrorKind`] a pipeline acts on (and the registry's `Retry-After`,
//! for [`retry_after`](paragon_core::Error::retry_after)), and are had
//! back typed with [`paragon_core::Error::downcast_ref`]. The
//! `reqwest::Error` of a request that got no answer is the error's
//! [`source`](std::error::Error::source), without its URL: ask it
//! `is_timeout()` or `is_connect()`.

use std::time::Duration;

use paragon_core::ErrorKind;

/// An error only the registry adapters know.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A registry's distribution API answered an error, answered something
    /// that breaks the protocol, or did not answer.
    #[error("registry {host}: {operation} failed{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Distribution {
        /// The registry's host (and port).
        host: String,
        /// What was being done (`push blob sha256:…`, `list tags of app`).
        operation: String,
        /// The HTTP status, when one came back.
        status: Option<u16>,
        /// What went wrong, with every credential redacted.
        message: String,
        /// What kind of failure it is ([`ErrorKind::Unavailable`] for no
        /// answer, a 5xx or a 429, [`ErrorKind::Timeout`] for a timeout).
        kind: ErrorKind,
        /// How long the registry asked to wait before trying again (its
        /// `Retry-After` header), when it said.
        retry_after: Option<Duration>,
        /// The HTTP client's error, without its URL, when the request
        /// itself failed.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// Harbor's REST API answered an error, or did not answer.
    #[error("harbor answered {status} to {method} {url}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Harbor {
        /// The request method.
        method: String,
        /// The URL, without credentials.
        url: String,
        /// The HTTP status code (0 when no answer came).
        status: u16,
        /// What Harbor said, with the credentials redacted.
        message: String,
        /// The HTTP client's error, without its URL, when the request
        /// itself failed.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// A signing key or public key could not be used.
    #[error("key {what}: {message}")]
    Key {
        /// The key (its file, or what it is).
        what: String,
        /// What is wrong with it (never the key or its password).
        message: String,
    },
}

impl Error {
    /// The category a pipeline acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Distribution { kind, .. } => *kind,
            Error::Harbor {
                source: Some(e), ..
            } if e.is_timeout() => ErrorKind::Timeout,
            Error::Harbor { status, .. } => ErrorKind::of_status(*status),
            Error::Key { .. } => ErrorKind::InvalidInput,
        }
    }

    /// The HTTP status of the answer (`None` when none came).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Distribution { status, .. } => *status,
            Error::Harbor { status: 0, .. } => None,
            Error::Harbor { status, .. } => Some(*status),
            Error::Key { .. } => None,
        }
    }
}

impl From<Error> for paragon_core::Error {
    fn from(e: Error) -> paragon_core::Error {
        let (component, retry_after) = match &e {
            Error::Distribution { retry_after, .. } => ("registry", *retry_after),
            Error::Harbor { .. } => ("harbor", None),
            Error::Key { .. } => ("cosign", None),
        };
        paragon_core::Error::adapter(component, e.kind(), e).with_retry_after(retry_after)
    }
}
