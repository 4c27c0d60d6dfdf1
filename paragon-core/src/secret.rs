//! Credentials that must never be shown.

use std::fmt;

/// A credential (token, password, API key). Its `Debug` and `Display`
/// print `***`; the value is only reachable through [`Secret::expose`], so
/// it cannot end up in logs, errors or reports by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the credential in `text` with `***`
    /// (credentials shorter than 4 characters are left alone: redacting them
    /// would garble ordinary text).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_owned();
        }
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("nvd-api-key-1234");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(
            s.redact("curl -H apiKey:nvd-api-key-1234 x"),
            "curl -H apiKey:*** x"
        );
        assert_eq!(s.expose(), "nvd-api-key-1234");
    }
}
