//! The registry's answers as errors: status, `Retry-After`, what the
//! registry said, with every credential redacted.

use std::time::Duration;

use paragon_core::{Error, ErrorKind};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use super::DistributionRegistry;

impl DistributionRegistry {
    pub(super) fn redact(&self, text: &str) -> String {
        let mut t = text.to_owned();
        if let Some(s) = self.credentials.secret() {
            t = s.redact(&t);
        }
        if t.chars().count() > 300 {
            t = t.chars().take(297).collect::<String>() + "...";
        }
        t
    }

    /// A [`Distribution`](crate::Error::Distribution) error of
    /// `operation` on this registry that no HTTP status explains (what the
    /// registry holds is not what the protocol allows): of `kind`.
    pub(super) fn protocol_error(
        &self,
        operation: impl Into<String>,
        message: String,
        kind: ErrorKind,
    ) -> Error {
        crate::Error::Distribution {
            host: self.host.clone(),
            operation: operation.into(),
            status: None,
            message,
            kind,
            retry_after: None,
            source: None,
        }
        .into()
    }

    /// A [`Distribution`](crate::Error::Distribution) error of
    /// `operation` on this registry: retryable (no answer, a 5xx or a 429)
    /// or of the kind its status says.
    pub(super) fn registry_error(
        &self,
        operation: impl Into<String>,
        status: Option<u16>,
        message: String,
        retryable: bool,
    ) -> Error {
        crate::Error::Distribution {
            host: self.host.clone(),
            operation: operation.into(),
            status,
            message,
            kind: kind_of(status, retryable),
            retry_after: None,
            source: None,
        }
        .into()
    }

    /// An [`Error::Unauthorized`] from this registry.
    pub(super) fn unauthorized(&self, message: String) -> Error {
        Error::Unauthorized {
            service: "registry".into(),
            host: self.host.clone(),
            message,
        }
    }

    /// The error of a request that got no usable answer; the `reqwest`
    /// error, without its URL, is its source.
    pub(super) fn request_error(&self, operation: &str, e: reqwest::Error) -> Error {
        let status = e.status().map(|s| s.as_u16());
        if matches!(status, Some(401 | 403)) {
            return self.unauthorized(String::new());
        }
        // reqwest's own message holds the URL, which for an upload is long
        // (its session state): say what happened, then the causes.
        let mut message = if e.is_timeout() {
            "no answer before the timeout"
        } else if e.is_connect() {
            "cannot connect"
        } else if e.is_body() {
            "the request or answer body broke off"
        } else if e.is_decode() {
            "the answer could not be read"
        } else {
            "the request failed"
        }
        .to_owned();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        let retryable = status.is_none_or(is_transient);
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else {
            kind_of(status, retryable)
        };
        crate::Error::Distribution {
            host: self.host.clone(),
            operation: operation.into(),
            status,
            message: self.redact(&message),
            kind,
            retry_after: None,
            source: Some(e.without_url()),
        }
        .into()
    }

    /// An error for an answer with `status`, `body` and the registry's
    /// `Retry-After`, when it gave one.
    pub(super) fn answer_error(
        &self,
        operation: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &str,
    ) -> Error {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.unauthorized(self.redact(body.trim()));
        }
        let code = status.as_u16();
        crate::Error::Distribution {
            host: self.host.clone(),
            operation: operation.into(),
            status: Some(code),
            message: self.redact(body.trim()),
            kind: kind_of(Some(code), is_transient(code)),
            retry_after,
            source: None,
        }
        .into()
    }

    /// The error of an answer that is not a success (its body read).
    pub(super) async fn response_error(&self, operation: &str, res: reqwest::Response) -> Error {
        let status = res.status();
        let wait = retry_after(res.headers());
        let body = res.text().await.unwrap_or_default();
        self.answer_error(operation, status, wait, &body)
    }

    /// The error of a cancelled operation.
    pub(super) fn cancelled(&self) -> Error {
        Error::Cancelled {
            tool: format!("registry {}", self.host),
        }
    }
}

/// The wait a `Retry-After` header asks for: delta-seconds, or an HTTP
/// date (counted from now; a date in the past is no wait).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The kind of a registry failure with `status` (none when no answer
/// came or the answer broke the protocol).
fn kind_of(status: Option<u16>, retryable: bool) -> ErrorKind {
    match status {
        _ if retryable => ErrorKind::Unavailable,
        Some(code) => ErrorKind::of_status(code),
        None => ErrorKind::Other,
    }
}

/// A status worth retrying: the registry is busy (429) or failing (5xx).
pub(super) fn is_transient(code: u16) -> bool {
    code == 429 || code >= 500
}
