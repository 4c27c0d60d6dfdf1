//! Where credentials come from: the [`SecretSource`] trait, [`EnvSecrets`],
//! and with the `vault` feature `VaultKv2` (HashiCorp Vault's KV v2).
//!
//! Names are `path#key` (`registry#password`, `ci/slack#webhook`); the
//! environment source maps them to `PARAGON_REGISTRY_PASSWORD`,
//! `PARAGON_CI_SLACK_WEBHOOK`. Adapters take the [`Secret`]s a source
//! gives when they are built (registry, git, SonarQube, Slack).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::plugin::context::CallContext;
use crate::secret::Secret;

/// Gives secrets by name.
///
/// # Contract
/// A missing secret is [`Error::Secret`] naming the source and the name,
/// never an empty value; values never appear in errors or `Debug`.
#[async_trait]
pub trait SecretSource: fmt::Debug + Send + Sync + 'static {
    /// Its name (`env`, `vault`).
    fn name(&self) -> &str;

    /// The secret called `name` (`path#key`).
    async fn secret(&self, name: &str, ctx: &CallContext) -> Result<Secret>;
}

macro_rules! forward_secret_source {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<T: SecretSource + ?Sized> SecretSource for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn secret(&self, name: &str, ctx: &CallContext) -> Result<Secret> {
                (**self).secret(name, ctx).await
            }
        }
    )+};
}
forward_secret_source!(Box<T>, Arc<T>, &'static T);

/// Secrets from environment variables: `path#key` → `PREFIX_PATH_KEY`,
/// upper-cased, every other character than letters and digits turned
/// into `_`.
#[derive(Debug, Clone)]
pub struct EnvSecrets {
    prefix: String,
}

impl Default for EnvSecrets {
    fn default() -> EnvSecrets {
        EnvSecrets::new("PARAGON_")
    }
}

impl EnvSecrets {
    /// Variables named `prefix` + the name (default prefix `PARAGON_`).
    pub fn new(prefix: impl Into<String>) -> EnvSecrets {
        EnvSecrets {
            prefix: prefix.into(),
        }
    }

    /// The variable a name maps to.
    pub fn variable(&self, name: &str) -> String {
        let body: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}{body}", self.prefix)
    }
}

#[async_trait]
impl SecretSource for EnvSecrets {
    fn name(&self) -> &str {
        "env"
    }

    async fn secret(&self, name: &str, ctx: &CallContext) -> Result<Secret> {
        if ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled { tool: "env".into() });
        }
        let var = self.variable(name);
        match std::env::var(&var) {
            Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
            _ => Err(Error::Secret {
                store: "env".into(),
                name: name.into(),
                message: format!("`{var}` is not set"),
            }),
        }
    }
}

#[cfg(feature = "vault")]
pub use vault::VaultKv2;

#[cfg(feature = "vault")]
mod vault {
    use super::*;

    /// HashiCorp Vault's KV secrets engine, version 2: `path#key` is read
    /// with `GET {addr}/v1/{mount}/data/{path}` and the header
    /// `X-Vault-Token`; the value is `data.data.{key}` of the answer.
    pub struct VaultKv2 {
        addr: url::Url,
        token: Secret,
        mount: String,
        namespace: Option<String>,
        http: reqwest::Client,
        timeout: std::time::Duration,
        allow_http: bool,
    }

    impl fmt::Debug for VaultKv2 {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("VaultKv2")
                .field("addr", &self.addr.as_str())
                .field("mount", &self.mount)
                .field("token", &"***")
                .finish()
        }
    }

    impl VaultKv2 {
        /// Vault at `addr` (`https://vault.example:8200`), the engine
        /// mounted at `secret`. Plain http to a host other than this
        /// machine is refused at the first read unless
        /// [`allow_http`](Self::allow_http) allows it.
        ///
        /// # Errors
        /// [`Error::InvalidConfig`] when `addr` is not an http(s) URL.
        pub fn new(addr: &str, token: Secret) -> Result<VaultKv2> {
            VaultKv2::create(addr, token)
        }

        /// Allows (or, with `false`, refuses again) plain http to a host
        /// other than this machine (a Vault inside a network the caller
        /// trusts): the token then crosses the network in clear.
        #[must_use]
        pub fn allow_http(mut self, yes: bool) -> VaultKv2 {
            self.allow_http = yes;
            self
        }

        fn create(addr: &str, token: Secret) -> Result<VaultKv2> {
            let url = url::Url::parse(addr)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| Error::InvalidConfig {
                    component: "vault".into(),
                    message: format!("`{addr}` is not an http(s) URL"),
                })?;
            Ok(VaultKv2 {
                allow_http: false,
                addr: url,
                token,
                mount: "secret".into(),
                namespace: None,
                http: reqwest::Client::new(),
                timeout: std::time::Duration::from_secs(30),
            })
        }

        /// From `VAULT_ADDR` and `VAULT_TOKEN` (and `VAULT_NAMESPACE`),
        /// as [`new`](Self::new) takes them.
        ///
        /// # Errors
        /// [`Error::InvalidConfig`] when they are not set, or as
        /// [`new`](Self::new) gives it.
        pub fn from_env() -> Result<VaultKv2> {
            let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let (Some(addr), Some(token)) = (get("VAULT_ADDR"), get("VAULT_TOKEN")) else {
                return Err(Error::InvalidConfig {
                    component: "vault".into(),
                    message: "VAULT_ADDR and VAULT_TOKEN must be set".into(),
                });
            };
            let v = VaultKv2::new(&addr, Secret::new(token))?;
            Ok(match get("VAULT_NAMESPACE") {
                Some(ns) => v.with_namespace(ns),
                None => v,
            })
        }

        /// The KV v2 mount (default `secret`).
        #[must_use]
        pub fn with_mount(mut self, mount: impl Into<String>) -> VaultKv2 {
            self.mount = mount.into().trim_matches('/').to_owned();
            self
        }

        /// The timeout of one read (default 30 s): a Vault that accepts
        /// the connection and never answers fails the read instead of
        /// holding the run.
        #[must_use]
        pub fn with_timeout(mut self, timeout: std::time::Duration) -> VaultKv2 {
            self.timeout = timeout;
            self
        }

        /// A Vault Enterprise namespace (`X-Vault-Namespace`).
        #[must_use]
        pub fn with_namespace(mut self, ns: impl Into<String>) -> VaultKv2 {
            self.namespace = Some(ns.into());
            self
        }
    }

    #[async_trait]
    impl SecretSource for VaultKv2 {
        fn name(&self) -> &str {
            "vault"
        }

        async fn secret(&self, name: &str, ctx: &CallContext) -> Result<Secret> {
            crate::transport::require_https_beyond_loopback(
                "vault",
                self.addr.scheme(),
                self.addr.host_str(),
                self.allow_http,
                "VaultKv2::allow_http(true)",
            )?;
            let fail = |message: String| Error::Secret {
                store: format!("vault at {}", self.addr.host_str().unwrap_or_default()),
                name: name.into(),
                message,
            };
            let Some((path, key)) = name.split_once('#') else {
                return Err(fail("the name must be `path#key`".into()));
            };
            let mut url = self.addr.clone();
            url.path_segments_mut()
                .map_err(|_| fail("the address cannot take a path".into()))?
                .pop_if_empty()
                .extend(["v1", self.mount.as_str(), "data"])
                .extend(path.split('/').filter(|s| !s.is_empty()));
            let mut req = self
                .http
                .get(url.clone())
                .timeout(self.timeout)
                .header("X-Vault-Token", self.token.expose());
            if let Some(ns) = &self.namespace {
                req = req.header("X-Vault-Namespace", ns);
            }
            let (status, text) = ctx
                .run("vault", async {
                    let res = req
                        .send()
                        .await
                        .map_err(|e| fail(e.without_url().to_string()))?;
                    let status = res.status().as_u16();
                    let text = res
                        .text()
                        .await
                        .map_err(|e| fail(e.without_url().to_string()))?;
                    Ok((status, text))
                })
                .await?;
            let parsed = serde_json::from_str::<serde_json::Value>(&text);
            if status == 200 {
                if let Err(e) = &parsed {
                    return Err(fail(format!("the answer is not JSON: {e}")));
                }
            }
            let body = parsed.unwrap_or_default();
            let said = || {
                body["errors"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .filter_map(|m| m.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default()
            };
            match status {
                200 => {}
                403 => {
                    return Err(Error::Unauthorized {
                        service: "vault".into(),
                        host: self.addr.host_str().unwrap_or_default().into(),
                        message: self.token.redact(&said()),
                    })
                }
                404 => return Err(fail(format!("no secret at `{}/{path}`", self.mount))),
                s => {
                    return Err(fail(format!(
                        "vault answered {s}: {}",
                        self.token.redact(&said())
                    )))
                }
            }
            match body["data"]["data"][key].as_str() {
                Some(v) => Ok(Secret::new(v)),
                None => Err(fail(format!("`{}/{path}` has no key `{key}`", self.mount))),
            }
        }
    }
}
