//! Argo CD's REST API (feature `argocd`): an application's sync and health
//! status, triggering a sync, waiting until it is Synced and Healthy.
//!
//! Requests: `GET /api/v1/applications/{name}` (with `refresh=normal` to
//! make Argo CD look at git now) and `POST /api/v1/applications/{name}/sync`,
//! with `Authorization: Bearer <token>` (an API token of a local account
//! or a project role).

use std::fmt;
use std::time::Duration;

use paragon_core::retry::{poll, Polled, RetryPolicy};
use paragon_core::transport::require_https_beyond_loopback;
use paragon_core::{CallContext, Error, Result, Secret};
use serde::Deserialize;

/// What Argo CD says of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or
    /// `Unknown`.
    pub health: String,
    /// The git revision it is synced to.
    pub revision: Option<String>,
    /// The phase of the last operation (`Running`, `Succeeded`, `Failed`,
    /// `Error`, `Terminating`).
    pub operation: Option<String>,
    /// The last operation's message.
    pub message: Option<String>,
}

impl AppStatus {
    /// Synced and Healthy (at `revision`, when one is given).
    pub fn is_ready(&self, revision: Option<&str>) -> bool {
        self.sync == "Synced"
            && self.health == "Healthy"
            && revision.is_none_or(|r| self.revision.as_deref() == Some(r))
    }
}

#[derive(Deserialize)]
struct Application {
    #[serde(default)]
    status: Status,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    sync: Sync,
    #[serde(default)]
    health: Health,
    operation_state: Option<OperationState>,
}

#[derive(Deserialize, Default)]
struct Sync {
    #[serde(default)]
    status: Option<String>,
    revision: Option<String>,
}

#[derive(Deserialize, Default)]
struct Health {
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct OperationState {
    phase: Option<String>,
    message: Option<String>,
}

/// A client of one Argo CD server.
pub struct ArgoCd {
    base: url::Url,
    token: Secret,
    http: reqwest::Client,
    poll: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    allow_http: bool,
}

impl fmt::Debug for ArgoCd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArgoCd")
            .field("base", &self.base.as_str())
            .field("token", &"***")
            .finish_non_exhaustive()
    }
}

impl ArgoCd {
    /// A client of the server at `base` (`https://argocd.example`) with an
    /// API token. Polls every 2 s while waiting. Plain http to a host
    /// other than this machine is refused at the first request unless
    /// [`allow_http`](Self::allow_http) allows it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `base` is not an http(s) URL.
    pub fn new(base: &str, token: Secret) -> Result<ArgoCd> {
        ArgoCd::create(base, token)
    }

    /// Allows (or, with `false`, refuses again) plain http to a host other
    /// than this machine (an Argo CD server run with `--insecure` inside a
    /// network the caller trusts): the token then crosses the network in
    /// clear.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> ArgoCd {
        self.allow_http = yes;
        self
    }

    fn create(base: &str, token: Secret) -> Result<ArgoCd> {
        let bad = |m: String| Error::InvalidConfig {
            component: "argocd".into(),
            message: m,
        };
        let mut url = url::Url::parse(base).map_err(|e| bad(format!("`{base}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad(format!("`{base}` is not an http(s) URL")));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(ArgoCd {
            base: url,
            token,
            http,
            poll: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            allow_http: false,
        })
    }

    /// The timeout of one request to Argo CD's API (default 30 s): a
    /// service that accepts the connection and never answers fails the
    /// call with an error naming it, instead of holding it.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> ArgoCd {
        self.request_timeout = timeout;
        self
    }

    /// How reads of an application's status are retried after no answer,
    /// a 429 or a 5xx (default [`RetryPolicy::default`]); a sync request
    /// is never retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> ArgoCd {
        self.retry = retry;
        self
    }

    /// How often to ask while waiting (default 2 s).
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> ArgoCd {
        self.poll = every;
        self
    }

    fn url(&self, app: &str, suffix: &str) -> String {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .map(|mut s| {
                s.pop_if_empty().extend(["api", "v1", "applications", app]);
                if !suffix.is_empty() {
                    s.push(suffix);
                }
            })
            .ok();
        u.to_string()
    }

    /// One call, under `ctx`; a read (`GET`) is retried by the retry
    /// policy.
    async fn request(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<serde_json::Value>,
        ctx: &CallContext,
    ) -> Result<Application> {
        let what = format!("argocd {}", self.base.host_str().unwrap_or_default());
        if method != reqwest::Method::GET {
            return ctx.run(&what, self.request_once(method, &url, body)).await;
        }
        self.retry
            .run(ctx, &what, |_| {
                ctx.run(&what, self.request_once(reqwest::Method::GET, &url, None))
            })
            .await
    }

    /// One attempt of [`request`](ArgoCd::request).
    async fn request_once(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Application> {
        require_https_beyond_loopback(
            "argocd",
            self.base.scheme(),
            self.base.host_str(),
            self.allow_http,
            "ArgoCd::allow_http(true)",
        )?;
        let host = self.base.host_str().unwrap_or_default().to_owned();
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(self.request_timeout)
            .bearer_auth(self.token.expose())
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let http_error = |status: u16, message: String| Error::Http {
            service: "argocd".into(),
            method: method.to_string(),
            url: url.to_owned(),
            status,
            message: self.token.redact(&message),
            source: None,
        };
        let (status, text) = crate::http::send_text(req, &http_error).await?;
        if status == 401 {
            return Err(Error::Unauthorized {
                service: "argocd".into(),
                host,
                message: self.token.redact(&error_message(&text)),
            });
        }
        if !(200..300).contains(&status) {
            return Err(http_error(status, error_message(&text)));
        }
        serde_json::from_str(&text)
            .map_err(|e| http_error(status, format!("the answer is not an Application: {e}")))
    }

    /// The application's status; with `refresh`, Argo CD compares with
    /// git first.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] on a 401; [`Error::Http`] on other error
    /// answers (403 also for applications the token cannot see), no answer,
    /// or an answer that is not an application.
    pub async fn status(&self, app: &str, refresh: bool, ctx: &CallContext) -> Result<AppStatus> {
        let mut url = self.url(app, "");
        if refresh {
            url.push_str("?refresh=normal");
        }
        let a = self.request(reqwest::Method::GET, url, None, ctx).await?;
        Ok(status_of(a))
    }

    /// Asks Argo CD to sync the application (to `revision`, or the
    /// branch's head).
    ///
    /// # Errors
    /// As [`status`](ArgoCd::status).
    pub async fn sync(
        &self,
        app: &str,
        revision: Option<&str>,
        ctx: &CallContext,
    ) -> Result<AppStatus> {
        let mut body = serde_json::json!({ "prune": false, "dryRun": false });
        if let Some(r) = revision {
            body["revision"] = r.into();
        }
        let a = self
            .request(
                reqwest::Method::POST,
                self.url(app, "sync"),
                Some(body),
                ctx,
            )
            .await?;
        Ok(status_of(a))
    }

    /// Waits until the application is Synced and Healthy (at `revision`,
    /// when given), refreshing on every poll.
    ///
    /// # Errors
    /// [`Error::TimedOut`] (naming the last status) after `timeout`;
    /// [`Error::ToolFailed`] when the sync operation failed;
    /// [`Error::Cancelled`]; otherwise as [`status`](ArgoCd::status).
    pub async fn wait_until_ready(
        &self,
        app: &str,
        revision: Option<&str>,
        timeout: Duration,
        ctx: &CallContext,
    ) -> Result<AppStatus> {
        let job = format!("argocd wait for {app}");
        poll(ctx, &job, self.poll, Some(timeout), || async {
            let s = self.status(app, true, ctx).await?;
            if s.is_ready(revision) {
                return Ok(Polled::Done(s));
            }
            if matches!(s.operation.as_deref(), Some("Failed" | "Error")) {
                return Err(Error::ToolFailed {
                    tool: format!("argocd sync of {app}"),
                    status: s.operation.clone().unwrap_or_default(),
                    stderr_tail: s.message.clone().unwrap_or_default(),
                });
            }
            Ok(Polled::Waiting(format!("{}, {}", s.sync, s.health)))
        })
        .await
    }
}

fn status_of(a: Application) -> AppStatus {
    let op = a.status.operation_state;
    AppStatus {
        sync: a.status.sync.status.unwrap_or_else(|| "Unknown".into()),
        health: a.status.health.status.unwrap_or_else(|| "Unknown".into()),
        revision: a.status.sync.revision,
        operation: op.as_ref().and_then(|o| o.phase.clone()),
        message: op.and_then(|o| o.message),
    }
}

/// Argo CD's error body is `{"error": …, "code": …, "message": …}`.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// A post-deploy [`Check`](paragon_core::plugin::check::Check): asks Argo CD to
/// sync the environment's application (optionally) and waits until it is
/// Synced and Healthy at the deployment commit.
#[derive(Debug)]
pub struct ArgoCdCheck {
    client: ArgoCd,
    application: String,
    timeout: Duration,
    sync: bool,
}

impl ArgoCdCheck {
    /// Waits for `application` (`{env}` is replaced by the environment:
    /// `shop-{env}`) for up to 10 minutes, without triggering a sync.
    pub fn new(client: ArgoCd, application: impl Into<String>) -> ArgoCdCheck {
        ArgoCdCheck {
            client,
            application: application.into(),
            timeout: Duration::from_secs(600),
            sync: false,
        }
    }

    /// How long to wait (default 10 minutes).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> ArgoCdCheck {
        self.timeout = timeout;
        self
    }

    /// Triggers a sync to the deployment commit first (default off: Argo
    /// CD's automated sync picks the commit up).
    #[must_use]
    pub fn with_sync(mut self) -> ArgoCdCheck {
        self.sync = true;
        self
    }
}

#[async_trait::async_trait]
impl paragon_core::plugin::check::Check for ArgoCdCheck {
    fn name(&self) -> &str {
        "argocd"
    }

    async fn run(
        &self,
        target: &paragon_core::plugin::check::CheckTarget,
        ctx: &CallContext,
    ) -> Result<paragon_core::plugin::check::CheckResult> {
        let app = self.application.replace("{env}", &target.environment);
        let revision = Some(target.commit.as_str()).filter(|c| !c.is_empty());
        if self.sync {
            self.client.sync(&app, revision, ctx).await?;
        }
        let limit = ctx.timeout.map_or(self.timeout, |t| t.min(self.timeout));
        let s = self
            .client
            .wait_until_ready(&app, revision, limit, ctx)
            .await?;
        Ok(paragon_core::plugin::check::CheckResult {
            passed: true,
            detail: format!(
                "{app}: {} and {} at {}",
                s.sync,
                s.health,
                s.revision.unwrap_or_default()
            ),
        })
    }
}
