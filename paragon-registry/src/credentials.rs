//! Registry credentials: given through the API, or read from a Docker
//! `config.json`. Secrets are [`Secret`]s: they never appear in `Debug`
//! output, errors or logs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use paragon_core::tool::is_credential_variable;
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

    /// The credentials for `host` (`host[:port]`) in a Docker
    /// `config.json`, found as Docker finds them: the helper named for the
    /// host in `credHelpers`, else the `credsStore` helper, else the
    /// `auths` entry (`auth`, base64 of `user:password`, or `username` /
    /// `password`, or `registrytoken`; keys may carry a scheme or a path,
    /// as `https://index.docker.io/v1/` does). `None` when none has an
    /// entry for the host.
    ///
    /// A helper is the program `docker-credential-NAME` on `PATH`, run as
    /// `docker-credential-NAME get` with the host on its standard input
    /// (the protocol of `docker-credential-helpers`). It inherits no
    /// credential variable of this process's environment and is killed
    /// after [`HELPER_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidConfig`]
    /// naming the file when it is not JSON or an entry is malformed, and
    /// naming the helper when it is missing, fails, times out, answers
    /// something other than its protocol's JSON or gives an identity token.
    pub fn from_docker_config(path: &Path, host: &str) -> Result<Option<Credentials>> {
        read_docker_config(path, host, None)
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

/// [`Credentials::from_docker_config`], with helpers looked up in
/// `helper_path` (`PATH` when `None`).
fn read_docker_config(
    path: &Path,
    host: &str,
    helper_path: Option<&std::ffi::OsStr>,
) -> Result<Option<Credentials>> {
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
    let wanted = normalize_host(host);
    let helper = doc
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| h.iter().find(|(key, _)| normalize_host(key) == wanted))
        .map(|(_, name)| name)
        .or_else(|| doc.get("credsStore"));
    if let Some(name) = helper {
        let name = name
            .as_str()
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            })
            .ok_or_else(|| {
                invalid(format!(
                    "the credential helper named for `{host}` is not a helper name"
                ))
            })?;
        return from_helper(name, host, helper_path);
    }
    let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
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
            let (user, pass) = decoded
                .split_once(':')
                .ok_or_else(|| invalid(format!("the `auth` of `{key}` is not `user:password`")))?;
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

/// How long a Docker credential helper may take to answer.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// What `docker-credential-NAME get` answers.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// Asks the Docker credential helper `name` for `host`'s credentials.
fn from_helper(
    name: &str,
    host: &str,
    helper_path: Option<&std::ffi::OsStr>,
) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{name}");
    // Docker asks for Docker Hub under its historical address.
    let server = match normalize_host(host).as_str() {
        "index.docker.io" => "https://index.docker.io/v1/",
        _ => host,
    };
    let fail = |message: String| Error::InvalidConfig {
        component: format!("docker credential helper {program}"),
        message,
    };
    let found = match helper_path {
        Some(dirs) => which::which_in(&program, Some(dirs), "/"),
        None => which::which(&program),
    };
    let path = found.map_err(|_| fail(format!("`{program}` is not on PATH")))?;
    let mut command = std::process::Command::new(path);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(is_credential_variable) {
            command.env_remove(key);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe: its exit
        // status says why.
        let _ = stdin.write_all(server.as_bytes());
    }
    let began = Instant::now();
    while child
        .try_wait()
        .map_err(|e| fail(format!("cannot wait for it: {e}")))?
        .is_none()
    {
        if began.elapsed() > HELPER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "no answer within {} s",
                HELPER_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot read its answer: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        // The helpers' own words for a host they hold nothing for.
        if said.contains("credentials not found") {
            return Ok(None);
        }
        let said = format!("{said} {}", String::from_utf8_lossy(&out.stderr));
        let said: String = said.trim().chars().take(200).collect();
        return Err(fail(format!("it failed ({}): {said}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("its answer is not the helper protocol's JSON: {e}")))?;
    if answer.username == "<token>" {
        return Err(fail(format!(
            "it gives an identity token for `{host}`, which Paragon does not exchange; log in with a user name and password or token"
        )));
    }
    Ok(Some(Credentials::basic(
        answer.username,
        Secret::new(answer.secret),
    )))
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

    /// Writes `docker-credential-NAME` into `dir`: a shell script.
    #[cfg(unix)]
    fn helper(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn credential_helpers_are_asked_as_docker_asks_them() {
        let dir = tempfile::tempdir().unwrap();
        helper(
            dir.path(),
            "pass",
            r#"[ "$1" = get ] || exit 3
read server
printf '{"ServerURL":"%s","Username":"u-%s","Secret":"s3cret"}' "$server" "$server""#,
        );
        helper(
            dir.path(),
            "empty",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        helper(dir.path(), "broken", "echo boom >&2; exit 2");
        helper(
            dir.path(),
            "token",
            r#"printf '{"Username":"<token>","Secret":"t"}'"#,
        );
        helper(dir.path(), "garbage", "echo not-json");
        let config = dir.path().join("config.json");
        let read = |json: &str, host: &str| {
            std::fs::write(&config, json).unwrap();
            read_docker_config(&config, host, Some(dir.path().as_os_str()))
        };
        let user = |c: Credentials| match c {
            Credentials::Basic { username, password } => {
                assert_eq!(password.expose(), "s3cret");
                username
            }
            other => panic!("{other:?}"),
        };
        // `credHelpers` for the host comes first, then `credsStore`, then `auths`.
        let both = r#"{"auths":{"r.test:5000":{"auth":"dTpw"}},"credsStore":"empty",
                       "credHelpers":{"https://r.test:5000":"pass"}}"#;
        let found = read(both, "r.test:5000").unwrap().unwrap();
        assert_eq!(user(found), "u-r.test:5000");
        assert!(read(both, "other.test").unwrap().is_none());
        let store = r#"{"auths":{"docker.io":{}},"credsStore":"pass"}"#;
        let hub = read(store, "docker.io").unwrap().unwrap();
        assert_eq!(user(hub), "u-https://index.docker.io/v1/");
        for (name, words) in [
            ("broken", "boom"),
            ("token", "identity token"),
            ("garbage", "protocol"),
            ("missing", "not on PATH"),
        ] {
            let err = read(&format!(r#"{{"credsStore":"{name}"}}"#), "h").unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("docker-credential-{name}")),
                "{text}"
            );
            assert!(text.contains(words), "{text}");
        }
        let err = read(r#"{"credsStore":"../x"}"#, "h").unwrap_err();
        assert!(err.to_string().contains("not a helper name"), "{err}");
    }
}
