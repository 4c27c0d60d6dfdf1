//! Registry credentials: given through the API, or read from a Docker
//! `config.json`. Secrets are [`Secret`]s: they never appear in `Debug`
//! output, errors or logs.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use paragon_core::{Error, Result, Secret};

/// How to authenticate to a registry.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// A user name and password (or token used as a password). Sent as HTTP
    /// basic auth, or exchanged for a bearer token when the registry asks
    /// for the token flow (`WWW-Authenticate: Bearer realm=…`).
    Basic {
        /// The user name (a Harbor robot account's is `robot$…`).
        username: String,
        /// The password.
        password: Secret,
    },
    /// A ready bearer token.
    Bearer(Secret),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `PARAGON_REGISTRY_USERNAME` and `PARAGON_REGISTRY_PASSWORD` when both
    /// are set, otherwise anonymous.
    pub fn from_env() -> Credentials {
        match (
            std::env::var("PARAGON_REGISTRY_USERNAME"),
            std::env::var("PARAGON_REGISTRY_PASSWORD"),
        ) {
            (Ok(u), Ok(p)) if !u.is_empty() => Credentials::basic(u, Secret::new(p)),
            _ => Credentials::Anonymous,
        }
    }

    /// The entry for `host` (`host[:port]`) in a Docker `config.json`
    /// (`auths.<host>.auth`, base64 of `user:password`, or
    /// `auths.<host>.username` / `password`; keys may carry a scheme or a
    /// path, as `https://index.docker.io/v1/` does). `None` when the file
    /// has no entry for the host. Credential helpers (`credsStore`) are not
    /// run.
    pub fn from_docker_config(path: &Path, host: &str) -> Result<Option<Credentials>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let invalid = |message: String| Error::InvalidConfig {
            component: format!("docker config {}", path.display()),
            message,
        };
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
        let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
            return Ok(None);
        };
        let wanted = normalize_host(host);
        for (key, entry) in auths {
            if normalize_host(key) != wanted {
                continue;
            }
            if let Some(token) = entry.get("registrytoken").and_then(|t| t.as_str()) {
                return Ok(Some(Credentials::Bearer(Secret::new(token))));
            }
            if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| invalid(format!("the `auth` of `{key}` is not base64")))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| invalid(format!("the `auth` of `{key}` is not UTF-8")))?;
                let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                    invalid(format!("the `auth` of `{key}` is not `user:password`"))
                })?;
                return Ok(Some(Credentials::basic(user, Secret::new(pass))));
            }
            if let (Some(u), Some(p)) = (
                entry.get("username").and_then(|u| u.as_str()),
                entry.get("password").and_then(|p| p.as_str()),
            ) {
                return Ok(Some(Credentials::basic(u, Secret::new(p))));
            }
        }
        Ok(None)
    }

    /// The default Docker config: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    pub fn docker_config_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
    }

    /// Every secret, for redaction.
    pub(crate) fn secret(&self) -> Option<&Secret> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { password, .. } => Some(password),
            Credentials::Bearer(t) => Some(t),
        }
    }
}

/// `https://Host:443/v1/` → `host:443`; `docker.io` and `index.docker.io`
/// are one host.
fn normalize_host(s: &str) -> String {
    let s = s
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or_default().to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".into(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries_are_found_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret:with:colons");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://registry.example.com/v1/":{{"auth":"{auth}"}},
                "127.0.0.1:5000":{{"username":"u","password":"p"}},
                "https://index.docker.io/v1/":{{"registrytoken":"tok"}}}}}}"#
            ),
        )
        .unwrap();
        match Credentials::from_docker_config(&path, "registry.example.com").unwrap() {
            Some(Credentials::Basic { username, password }) => {
                assert_eq!(username, "ci");
                assert_eq!(password.expose(), "s3cret:with:colons");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Credentials::from_docker_config(&path, "127.0.0.1:5000").unwrap(),
            Some(Credentials::Basic { .. })
        ));
        assert!(matches!(
            Credentials::from_docker_config(&path, "docker.io").unwrap(),
            Some(Credentials::Bearer(_))
        ));
        assert!(Credentials::from_docker_config(&path, "other.example")
            .unwrap()
            .is_none());
        let shown = format!(
            "{:?}",
            Credentials::from_docker_config(&path, "registry.example.com").unwrap()
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn broken_docker_configs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        let err = Credentials::from_docker_config(&path, "h").unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        std::fs::write(&path, "{").unwrap();
        assert!(Credentials::from_docker_config(&path, "h").is_err());
    }
}
