//! One request with the registry's auth, retried by the retry policy and
//! bounded by the call's context.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use paragon_core::{CallContext, Result, Secret};
use reqwest::header::{HeaderName, ACCEPT, CONTENT_LENGTH};
use reqwest::{Method, StatusCode};

use crate::credentials::Credentials;

use super::auth::{bearer_challenge, scope, Access, Token};
use super::blobs::{Payload, UPLOAD_RATE_FLOOR};
use super::DistributionRegistry;

impl DistributionRegistry {
    pub(super) fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// Runs `op` with the retry policy ([`RetryPolicy::run`]), warning
    /// every [`STILL_WAITING`] while an attempt has no answer and stopping
    /// when `ctx` is cancelled.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        operation: &str,
        ctx: &CallContext,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let what = format!("registry {}", self.host);
        self.retry
            .run(ctx, &what, |attempt| {
                let request = op();
                async move {
                    let started = Instant::now();
                    tokio::pin!(request);
                    let mut ticks = tokio::time::interval_at(
                        tokio::time::Instant::now() + STILL_WAITING,
                        STILL_WAITING,
                    );
                    loop {
                        tokio::select! {
                            r = &mut request => break r,
                            _ = ticks.tick() => tracing::warn!(
                                registry = %self.host,
                                %operation,
                                attempt,
                                waited_s = started.elapsed().as_secs(),
                                "no answer from the registry yet"
                            ),
                            _ = ctx.cancel.cancelled() => break Err(self.cancelled()),
                        }
                    }
                }
            })
            .await
    }

    /// One request to `repository` with the registry's auth (see the
    /// [module docs](self)).
    pub(super) async fn send(
        &self,
        op: &str,
        method: Method,
        url: &str,
        accept: Option<&str>,
        repository: &str,
        access: Access,
    ) -> Result<reqwest::Response> {
        let headers: Vec<(HeaderName, &str)> = accept.map(|a| (ACCEPT, a)).into_iter().collect();
        self.execute(
            op,
            method,
            url,
            &headers,
            None,
            &[scope(repository, access)],
            None,
        )
        .await
    }

    /// One request with the registry's auth. A token already held for
    /// `scopes` is sent at once; otherwise the request goes with the
    /// credentials, and on a bearer challenge a token is fetched and the
    /// request sent again (`body` is made afresh for it). `limit` bounds
    /// the whole request and answer (a download) instead of the client's
    /// timeout.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute(
        &self,
        op: &str,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Option<&Payload<'_>>,
        scopes: &[String],
        limit: Option<Duration>,
    ) -> Result<reqwest::Response> {
        self.check_transport()?;
        let key = scopes.join(" ");
        let send = |bearer: Option<Secret>| {
            let mut req = self.http.request(method.clone(), url);
            if let Some(limit) = limit {
                req = req.timeout(limit);
            }
            for (name, value) in headers {
                req = req.header(name, *value);
            }
            let body = match body {
                Some(p) => {
                    if let Payload::File { len, .. } = p {
                        req = req
                            .header(CONTENT_LENGTH, *len)
                            .timeout(self.timeout + Duration::from_secs(len / UPLOAD_RATE_FLOOR));
                    }
                    p.body(op)
                }
                // An explicit empty body: registries want a length on POST
                // and PUT.
                None => Ok(reqwest::Body::from(Bytes::new())),
            };
            req = match (&bearer, &self.credentials) {
                (Some(token), _) => req.bearer_auth(token.expose()),
                (None, Credentials::Basic { username, password }) => {
                    req.basic_auth(username, Some(password.expose()))
                }
                (None, Credentials::Bearer(token)) => req.bearer_auth(token.expose()),
                (None, _) => req,
            };
            let with_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
            async move {
                let req = if with_body { req.body(body?) } else { req };
                req.send().await.map_err(|e| self.request_error(op, e))
            }
        };
        if let Some(token) = self.held_token(&key) {
            let res = send(Some(token)).await?;
            if res.status() != StatusCode::UNAUTHORIZED {
                return Ok(res);
            }
            // Revoked or expired early: ask for a new one below.
            self.held_tokens().remove(&key);
        }
        let res = send(None).await?;
        if res.status() != StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        let Some(challenge) = bearer_challenge(res.headers()) else {
            return Ok(res);
        };
        let (token, lifetime) = self.fetch_token(op, &challenge, scopes).await?;
        let res = send(Some(token.clone())).await;
        let renew_at = Instant::now() + lifetime - lifetime / 10;
        self.held_tokens().insert(
            key,
            Token {
                value: token,
                renew_at,
            },
        );
        res
    }

    /// Runs `work` within the context's timeout, when it sets one (the
    /// retries stop on cancellation by themselves).
    pub(super) async fn bounded<T>(
        &self,
        ctx: &CallContext,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        ctx.run(&format!("registry {}", self.host), work).await
    }
}

/// How often a request with no answer yet is reported as still waiting.
pub(super) const STILL_WAITING: Duration = Duration::from_secs(15);
