//! The token flow: `WWW-Authenticate` challenges, scopes, and the cache
//! of tokens per scope.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use paragon_core::transport::clear_text_refusal;
use paragon_core::{Result, Secret};
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::StatusCode;

use crate::credentials::Credentials;

use super::errors::is_transient;
use super::DistributionRegistry;

impl DistributionRegistry {
    /// The token cache (a panic elsewhere while it was held leaves it
    /// usable: it only holds whole entries).
    pub(super) fn held_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token held for `key`, unless it is due for renewal.
    pub(super) fn held_token(&self, key: &str) -> Option<Secret> {
        let mut tokens = self.held_tokens();
        match tokens.get(key) {
            Some(t) if t.renew_at > Instant::now() => Some(t.value.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    /// Asks the token service of `challenge` for a token covering
    /// `scopes`, with the basic credentials when there are some. A refusal
    /// (401/403) is [`Error::Unauthorized`]; no answer or a 5xx/429 is a
    /// retryable [`Error::Distribution`](crate::Error::Distribution); an answer that holds no token, or a
    /// token service on plain http beyond this machine when http is not
    /// allowed (asked nothing), is a final one. Errors name the token
    /// service, never the answer's body.
    pub(super) async fn fetch_token(
        &self,
        op: &str,
        challenge: &Challenge,
        scopes: &[String],
    ) -> Result<(Secret, Duration)> {
        let realm_name = &challenge.realm;
        let failed = |status: Option<u16>, message: String, retryable: bool| {
            self.registry_error(
                op,
                status,
                format!("token service {realm_name}: {message}"),
                retryable,
            )
        };
        let realm = url::Url::parse(realm_name)
            .map_err(|e| failed(None, format!("not a URL: {e}"), false))?;
        if !matches!(realm.scheme(), "https" | "http") {
            return Err(failed(None, "refused: not an http(s) URL".into(), false));
        }
        // The rule the registry's own address is held to. What is refused
        // is the registry's answer, not the caller's configuration: a
        // registry error rather than a configuration one.
        if let Some(reason) = clear_text_refusal(
            realm.scheme(),
            realm.host_str(),
            self.allow_http,
            super::ALLOWING,
        ) {
            return Err(failed(None, format!("refused: {reason}"), false));
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = &challenge.service {
            query.push(("service", service));
        }
        for s in scopes {
            query.push(("scope", s));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Credentials::Basic { username, password } = &self.credentials {
            req = req.basic_auth(username, Some(password.expose()));
        }
        let res = req
            .send()
            .await
            .map_err(|e| failed(None, format!("no answer: {e}"), true))?;
        let status = res.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(format!(
                "the token service {realm_name} refused the credentials ({status})"
            )));
        }
        if !status.is_success() {
            let code = status.as_u16();
            return Err(failed(
                Some(code),
                format!("answered {status}"),
                is_transient(code),
            ));
        }
        let body = res.bytes().await.map_err(|e| {
            failed(
                Some(status.as_u16()),
                format!("the answer broke off: {e}"),
                true,
            )
        })?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            failed(
                Some(status.as_u16()),
                format!("the answer is not a token: {e}"),
                false,
            )
        })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                failed(
                    Some(status.as_u16()),
                    "the answer holds no token".into(),
                    false,
                )
            })?;
        // The spec's default lifetime, and its floor, is 60 s.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60).max(60));
        Ok((Secret::new(token), lifetime))
    }
}

/// What a request does to a repository: the actions of its token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Pull,
    Push,
}

/// The token scope of `access` to `repository`.
pub(super) fn scope(repository: &str, access: Access) -> String {
    match access {
        Access::Pull => format!("repository:{repository}:pull"),
        Access::Push => format!("repository:{repository}:pull,push"),
    }
}

/// A bearer token from a token service.
pub(super) struct Token {
    pub(super) value: Secret,
    /// When to stop using it: a tenth of its lifetime before it expires.
    pub(super) renew_at: Instant,
}

/// A `WWW-Authenticate: Bearer` challenge: where to ask for a token.
#[derive(Debug, PartialEq)]
pub(super) struct Challenge {
    pub(super) realm: String,
    pub(super) service: Option<String>,
}

/// The bearer challenge among the `WWW-Authenticate` headers, if any.
pub(super) fn bearer_challenge(headers: &HeaderMap) -> Option<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| http_auth::parse_challenges(v).ok())
        .flatten()
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|c| {
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some(Challenge {
                realm: param("realm").filter(|r| !r.is_empty())?,
                service: param("service").filter(|s| !s.is_empty()),
            })
        })
}

/// A token service's answer (the distribution token spec).
#[derive(serde::Deserialize)]
pub(super) struct TokenAnswer {
    pub(super) token: Option<String>,
    pub(super) access_token: Option<String>,
    pub(super) expires_in: Option<u64>,
}
