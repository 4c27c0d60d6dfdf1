//! Change requests on forges (feature `forges`, on by default): the
//! [`ChangeRequests`] a [`GitOps`](crate::GitOps) target in
//! [`WriteMode::ChangeRequest`](crate::WriteMode::ChangeRequest) opens its
//! requests with.
//!
//! - [`PullRequests`]: GitHub (github.com and Enterprise Server), Gitea and
//!   Forgejo. `POST /repos/{owner}/{repo}/pulls` with `title`, `head`,
//!   `base` and `body`; GitHub is sent `Authorization: Bearer <token>`,
//!   Gitea and Forgejo `Authorization: token <token>`, as each documents.
//! - [`CodeScanning`]: a SARIF log uploaded to GitHub code scanning, and
//!   its processing awaited.
//! - [`MergeRequests`]: GitLab (gitlab.com and self-managed).
//!   `POST /projects/{id}/merge_requests` with `source_branch`,
//!   `target_branch`, `title`, `description` and `remove_source_branch`,
//!   sent with `PRIVATE-TOKEN: <token>` (a personal, project or group
//!   access token with the `api` scope).
//!
//! A request that already exists for the branch (GitHub answers 422,
//! Gitea, Forgejo and GitLab 409) is looked up among the open ones, page
//! by page, and its URL returned, so opening the same change twice is not
//! an error. A 401 is [`Error::Unauthorized`] naming the host; other
//! failures are [`Error::Http`] with the method, the URL and what the forge
//! said. The token never appears in errors, logs or `Debug` output, and is
//! sent over https only: plain http goes to this machine (a loopback host,
//! as [`is_loopback`](paragon_core::transport::is_loopback) tells) and, for a
//! forge on a private network that only speaks http, to another host once
//! [`PullRequests::allow_http`] or [`MergeRequests::allow_http`] allows
//! it. Otherwise each use is refused, before anything is sent, with
//! [`Error::InvalidConfig`] naming that call.
//!
//! ```no_run
//! # async fn demo() -> paragon_core::Result<()> {
//! use std::sync::Arc;
//! use paragon_core::Secret;
//! use paragon_gitops::forge::{MergeRequests, PullRequests};
//! use paragon_gitops::{GitOps, HelmValues, WriteMode};
//!
//! let github = PullRequests::github("shop/deploy", Secret::new("ghp_…"))?;
//! let target = GitOps::new("https://github.com/shop/deploy.git", HelmValues::new("charts/shop"))
//!     .with_mode(WriteMode::ChangeRequest)
//!     .with_change_requests(Arc::new(github));
//! // Or GitLab, self-managed:
//! let gitlab = MergeRequests::with_api(
//!     "https://gitlab.example.com/api/v4",
//!     "platform/deploy",
//!     Secret::new("glpat-…"),
//! )?;
//! # let _ = (target, gitlab);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::retry::{poll, Polled, RetryPolicy};
use paragon_core::transport::require_https_beyond_loopback;
use paragon_core::{CallContext, Error, Result, Secret};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::target::{ChangeRequest, ChangeRequests};

/// Items asked for per page (GitHub's and GitLab's `per_page`, Gitea's
/// `limit`; Gitea caps it at its `MAX_RESPONSE_ITEMS`, 50 by default).
const PAGE_SIZE: usize = 50;

/// Pages read at most when looking for an existing request.
const MAX_PAGES: usize = 20;

/// The calls that allow plain http, which refusals name.
const ALLOW_PULLS: &str = "PullRequests::allow_http(true)";
const ALLOW_MERGES: &str = "MergeRequests::allow_http(true)";

/// One forge's REST API: its root URL, how the token is sent, and the
/// service name errors carry. (`Secret` prints as `***`.)
#[derive(Debug)]
struct Api {
    root: url::Url,
    service: &'static str,
    token: Secret,
    auth: Auth,
    http: reqwest::Client,
    request_timeout: Duration,
    /// How reads (`GET`) are retried after no answer, a 429 or a 5xx.
    retry: RetryPolicy,
    /// Whether the token may go over plain http to a host other than this
    /// machine.
    allow_http: bool,
    /// The call that allows it, which a refusal names.
    allowing: &'static str,
}

/// How a forge wants its token.
#[derive(Debug, Clone, Copy)]
enum Auth {
    /// `Authorization: Bearer <token>` (GitHub).
    Bearer,
    /// `Authorization: token <token>` (Gitea, Forgejo).
    Token,
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
}

impl Api {
    fn new(
        root: &str,
        service: &'static str,
        token: Secret,
        auth: Auth,
        allowing: &'static str,
    ) -> Result<Api> {
        let bad = |message: String| Error::InvalidConfig {
            component: service.into(),
            message,
        };
        let mut url = url::Url::parse(root).map_err(|e| bad(format!("`{root}`: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad(format!("`{root}` is not an http(s) URL")));
        }
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad(format!(
                "`{root}` must be an API root without credentials in it"
            )));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // GitHub refuses requests without a User-Agent.
            .user_agent(concat!("paragon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(format!("cannot create the HTTP client: {e}")))?;
        Ok(Api {
            root: url,
            service,
            token,
            auth,
            http,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            allow_http: false,
            allowing,
        })
    }

    /// Refuses to send the token over plain http to a host other than this
    /// machine, unless allowed.
    fn check_scheme(&self) -> Result<()> {
        require_https_beyond_loopback(
            self.service,
            self.root.scheme(),
            self.root.host_str(),
            self.allow_http,
            self.allowing,
        )
    }

    fn host(&self) -> String {
        self.root.host_str().unwrap_or_default().to_owned()
    }

    /// The URL of `segments` under the root (each segment percent-encoded,
    /// so `group/project` becomes `group%2Fproject`).
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> url::Url {
        let mut u = self.root.clone();
        if let Ok(mut s) = u.path_segments_mut() {
            s.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            u.query_pairs_mut().extend_pairs(query);
        }
        u
    }

    /// One call; the answer's status and JSON body. Non-2xx answers are
    /// returned too (the caller decides about 409/422), except 401, and,
    /// for a read (`GET`), a 429 or a 5xx that lasts through the retry
    /// policy: reads are retried, writes never are (a lost answer may
    /// hide a write that happened).
    async fn call(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
        ctx: &CallContext,
    ) -> Result<(u16, Value)> {
        if method != Method::GET {
            return self.call_once(method, url, body, ctx).await;
        }
        let what = format!("{} {}", self.service, self.host());
        self.retry
            .run(ctx, &what, |_| async {
                let (status, answer) = self.call_once(Method::GET, url.clone(), None, ctx).await?;
                if status == 429 || status >= 500 {
                    return Err(Error::Http {
                        service: self.service.into(),
                        method: Method::GET.to_string(),
                        url: url.to_string(),
                        status,
                        message: self.token.redact(&said(&answer)),
                        source: None,
                    });
                }
                Ok((status, answer))
            })
            .await
    }

    /// One attempt of [`call`](Api::call).
    async fn call_once(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
        ctx: &CallContext,
    ) -> Result<(u16, Value)> {
        self.check_scheme()?;
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .timeout(self.request_timeout);
        req = match self.auth {
            Auth::Bearer => req
                .bearer_auth(self.token.expose())
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28"),
            Auth::Token => req
                .header("authorization", format!("token {}", self.token.expose()))
                .header("accept", "application/json"),
            Auth::PrivateToken => req
                .header("private-token", self.token.expose())
                .header("accept", "application/json"),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let http_error = |status: u16, message: String| Error::Http {
            service: self.service.into(),
            method: method.to_string(),
            url: url.to_string(),
            status,
            message: self.token.redact(&message),
            source: None,
        };
        let (status, text) = tokio::select! {
            r = crate::http::send_text(req, http_error) => r?,
            _ = ctx.cancel.cancelled() => {
                return Err(Error::Cancelled { tool: format!("{} {}", self.service, self.host()) })
            }
        };
        let answer = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v,
            Err(_) if !(200..300).contains(&status) => Value::String(text),
            Err(e) => return Err(http_error(status, format!("the answer is not JSON: {e}"))),
        };
        if status == 401 {
            return Err(Error::Unauthorized {
                service: self.service.into(),
                host: self.host(),
                message: self.token.redact(&said(&answer)),
            });
        }
        Ok((status, answer))
    }

    /// The first request listed at `segments` with `query` that `wanted`
    /// accepts, reading page after page (`page=1, 2, …`) until one is
    /// found, a page comes back empty or short, or [`MAX_PAGES`] were read.
    async fn find<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        wanted: impl Fn(&T) -> bool,
        ctx: &CallContext,
    ) -> Result<Option<T>> {
        for page in 1..=MAX_PAGES {
            let page = page.to_string();
            let mut q = query.to_vec();
            q.push(("page", &page));
            let url = self.url(segments, &q);
            let (status, body) = self.call(Method::GET, url.clone(), None, ctx).await?;
            if !(200..300).contains(&status) {
                return Err(self.failed(&Method::GET, &url, status, said(&body)));
            }
            let items: Vec<T> = serde_json::from_value(body).map_err(|e| {
                let what = format!("the answer is not a list of requests: {e}");
                self.failed(&Method::GET, &url, status, what)
            })?;
            let last = items.len() < PAGE_SIZE;
            if let Some(found) = items.into_iter().find(|i| wanted(i)) {
                return Ok(Some(found));
            }
            if last {
                break;
            }
        }
        Ok(None)
    }

    /// Creates a request (`POST` of `body` at `segments`) and returns the
    /// answer's `url_field`; when the forge answers one of `exists`, the
    /// URL `find` gives instead.
    async fn open<F, Fut>(
        &self,
        segments: &[&str],
        body: &Value,
        url_field: &str,
        exists: &[u16],
        find: F,
        ctx: &CallContext,
    ) -> Result<String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<String>>>,
    {
        let url = self.url(segments, &[]);
        let (status, answer) = self
            .call(Method::POST, url.clone(), Some(body), ctx)
            .await?;
        if (200..300).contains(&status) {
            return answer[url_field]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    let what = format!("the answer has no `{url_field}`");
                    self.failed(&Method::POST, &url, status, what)
                });
        }
        if exists.contains(&status) {
            if let Some(found) = find().await? {
                return Ok(found);
            }
        }
        Err(self.failed(&Method::POST, &url, status, said(&answer)))
    }

    /// The error of a call: `message` is what the forge said ([`said`])
    /// or why its answer is of no use.
    fn failed(&self, method: &Method, url: &url::Url, status: u16, message: String) -> Error {
        Error::Http {
            service: self.service.into(),
            method: method.to_string(),
            url: url.to_string(),
            status,
            message: self.token.redact(&message),
            source: None,
        }
    }
}

fn body_text(body: &Value) -> String {
    match body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a forge said in its answer `v` (its JSON, or its text when it was not
/// JSON): GitHub's `message` and `errors[].message`, GitLab's `message` (a
/// string, a list or a map of lists), Gitea's `message`; otherwise the
/// start of the answer.
fn said(v: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |v: &Value| match v {
        Value::String(s) => parts.push(s.clone()),
        Value::Array(items) => parts.extend(items.iter().map(body_text)),
        Value::Object(map) => {
            parts.extend(map.iter().map(|(k, v)| format!("{k}: {}", body_text(v))))
        }
        _ => {}
    };
    push(&v["message"]);
    if let Some(errors) = v["errors"].as_array() {
        for e in errors {
            match e.get("message") {
                Some(m) => push(m),
                None => push(e),
            }
        }
    }
    push(&v["error"]);
    if parts.is_empty() {
        body_text(v).chars().take(300).collect()
    } else {
        parts.join("; ")
    }
}

/// Pull requests on GitHub, Gitea or Forgejo (see the [module docs](self)).
#[derive(Debug)]
pub struct PullRequests {
    api: Api,
    owner: String,
    repo: String,
}

/// Splits `owner/repo`.
fn owner_repo(repository: &str, service: &'static str) -> Result<(String, String)> {
    let trimmed = repository.trim().trim_end_matches(".git");
    match trimmed.split_once('/') {
        Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') => {
            Ok((o.to_owned(), r.to_owned()))
        }
        _ => Err(Error::InvalidConfig {
            component: service.into(),
            message: format!("`{repository}` is not `owner/repository`"),
        }),
    }
}

impl PullRequests {
    /// Pull requests on github.com (`https://api.github.com`) in
    /// `owner/repo`, with a token allowed to write pull requests.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `repository` is not `owner/repo`.
    pub fn github(repository: &str, token: Secret) -> Result<PullRequests> {
        PullRequests::github_enterprise("https://api.github.com", repository, token)
    }

    /// Pull requests on a GitHub Enterprise Server, whose API root is
    /// `https://HOST/api/v3`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `api` is not an http(s) URL, holds
    /// credentials, or `repository` is not `owner/repo`. An `http://` root
    /// on another host than this machine is accepted here and refused at
    /// each use unless [`allow_http`](PullRequests::allow_http) allows it.
    pub fn github_enterprise(api: &str, repository: &str, token: Secret) -> Result<PullRequests> {
        let (owner, repo) = owner_repo(repository, "github")?;
        Ok(PullRequests {
            api: Api::new(api, "github", token, Auth::Bearer, ALLOW_PULLS)?,
            owner,
            repo,
        })
    }

    /// Pull requests on Gitea or Forgejo, whose API root is
    /// `https://HOST/api/v1`.
    ///
    /// # Errors
    /// As [`github_enterprise`](PullRequests::github_enterprise).
    pub fn gitea(api: &str, repository: &str, token: Secret) -> Result<PullRequests> {
        let (owner, repo) = owner_repo(repository, "gitea")?;
        Ok(PullRequests {
            api: Api::new(api, "gitea", token, Auth::Token, ALLOW_PULLS)?,
            owner,
            repo,
        })
    }

    /// Lets the token go over plain `http://` to a host other than this
    /// machine (a forge on a private network that does not speak https);
    /// off by default, when such a root is refused at each use.
    #[must_use]
    pub fn allow_http(mut self, allow: bool) -> PullRequests {
        self.api.allow_http = allow;
        self
    }

    /// The timeout of one request to the forge's API (default 30 s): a
    /// service that accepts the connection and never answers fails the
    /// call with an error naming it, instead of holding it.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> PullRequests {
        self.api.request_timeout = timeout;
        self
    }

    /// How reads are retried after no answer, a 429 or a 5xx (default
    /// [`RetryPolicy::default`]); writes are never retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> PullRequests {
        self.api.retry = retry;
        self
    }

    /// The open pull request from `head` into `base`, if there is one.
    async fn find_open(&self, head: &str, base: &str, ctx: &CallContext) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Branch {
            #[serde(rename = "ref")]
            name: String,
        }
        #[derive(Deserialize)]
        struct Pull {
            html_url: String,
            head: Branch,
            base: Branch,
        }
        let owner_head = format!("{}:{head}", self.owner);
        // GitHub filters by `head` and `base`; Gitea ignores them, so the
        // list is filtered here too.
        let query = [
            ("state", "open"),
            ("head", owner_head.as_str()),
            ("base", base),
            ("per_page", "50"),
            ("limit", "50"),
        ];
        let wanted = |p: &Pull| p.head.name == head && p.base.name == base;
        Ok(self
            .api
            .find(
                &["repos", &self.owner, &self.repo, "pulls"],
                &query,
                wanted,
                ctx,
            )
            .await?
            .map(|p| p.html_url))
    }
}

#[async_trait]
impl ChangeRequests for PullRequests {
    /// Opens the pull request, or finds the open one for the branch; its
    /// web URL.
    async fn open(&self, request: &ChangeRequest, ctx: &CallContext) -> Result<String> {
        let body = json!({
            "title": request.title,
            "head": request.source_branch,
            "base": request.target_branch,
            "body": request.description,
        });
        let find = || self.find_open(&request.source_branch, &request.target_branch, ctx);
        let segments = ["repos", &self.owner, &self.repo, "pulls"];
        self.api
            .open(&segments, &body, "html_url", &[409, 422], find, ctx)
            .await
    }
}

/// Merge requests on GitLab (see the [module docs](self)).
#[derive(Debug)]
pub struct MergeRequests {
    api: Api,
    project: String,
    remove_source_branch: bool,
}

impl MergeRequests {
    /// Merge requests on gitlab.com (`https://gitlab.com/api/v4`) in
    /// `project` (its path, `group/subgroup/project`, or its numeric id).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `project` is empty.
    pub fn gitlab(project: &str, token: Secret) -> Result<MergeRequests> {
        MergeRequests::with_api("https://gitlab.com/api/v4", project, token)
    }

    /// Merge requests on a self-managed GitLab, whose API root is
    /// `https://HOST/api/v4`. The source branch is removed when the
    /// request is merged (see
    /// [`keep_source_branch`](MergeRequests::keep_source_branch)).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `api` is not an http(s) URL, holds
    /// credentials, or `project` is empty. An `http://` root on another
    /// host than this machine is accepted here and refused at each use
    /// unless [`allow_http`](MergeRequests::allow_http) allows it.
    pub fn with_api(api: &str, project: &str, token: Secret) -> Result<MergeRequests> {
        let project = project.trim().trim_matches('/').trim_end_matches(".git");
        if project.is_empty() {
            return Err(Error::InvalidConfig {
                component: "gitlab".into(),
                message: "the project is empty (give its path or its numeric id)".into(),
            });
        }
        Ok(MergeRequests {
            api: Api::new(api, "gitlab", token, Auth::PrivateToken, ALLOW_MERGES)?,
            project: project.to_owned(),
            remove_source_branch: true,
        })
    }

    /// Lets the token go over plain `http://` to a host other than this
    /// machine (a GitLab on a private network that does not speak https);
    /// off by default, when such a root is refused at each use.
    #[must_use]
    pub fn allow_http(mut self, allow: bool) -> MergeRequests {
        self.api.allow_http = allow;
        self
    }

    /// The timeout of one request to GitLab's API (default 30 s): a
    /// service that accepts the connection and never answers fails the
    /// call with an error naming it, instead of holding it.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> MergeRequests {
        self.api.request_timeout = timeout;
        self
    }

    /// How reads are retried after no answer, a 429 or a 5xx (default
    /// [`RetryPolicy::default`]); writes are never retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> MergeRequests {
        self.api.retry = retry;
        self
    }

    /// Keeps the source branch when the request is merged.
    #[must_use]
    pub fn keep_source_branch(mut self) -> MergeRequests {
        self.remove_source_branch = false;
        self
    }

    /// The open merge request from `source` into `target`, if any.
    async fn find_open(
        &self,
        source: &str,
        target: &str,
        ctx: &CallContext,
    ) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Mr {
            web_url: String,
            source_branch: String,
            target_branch: String,
        }
        let query = [
            ("state", "opened"),
            ("source_branch", source),
            ("target_branch", target),
            ("per_page", "50"),
        ];
        let wanted = |m: &Mr| m.source_branch == source && m.target_branch == target;
        Ok(self
            .api
            .find(
                &["projects", &self.project, "merge_requests"],
                &query,
                wanted,
                ctx,
            )
            .await?
            .map(|m| m.web_url))
    }
}

#[async_trait]
impl ChangeRequests for MergeRequests {
    /// Opens the merge request, or finds the open one for the branch; its
    /// web URL.
    async fn open(&self, request: &ChangeRequest, ctx: &CallContext) -> Result<String> {
        let body = json!({
            "source_branch": request.source_branch,
            "target_branch": request.target_branch,
            "title": request.title,
            "description": request.description,
            "remove_source_branch": self.remove_source_branch,
        });
        let find = || self.find_open(&request.source_branch, &request.target_branch, ctx);
        let segments = ["projects", &self.project, "merge_requests"];
        self.api
            .open(&segments, &body, "web_url", &[409], find, ctx)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors() {
        let token = || Secret::new("t");
        assert!(PullRequests::github("shop/deploy", token()).is_ok());
        assert!(PullRequests::github("shop/deploy.git", token()).is_ok());
        for bad in ["shop", "/deploy", "shop/", "a/b/c", ""] {
            let err = PullRequests::github(bad, token()).unwrap_err();
            assert!(err.to_string().contains("owner/repository"), "{bad}: {err}");
        }
        // Plain http beyond this machine is refused at use (see the
        // integration tests), so that `allow_http` can allow it.
        assert!(PullRequests::gitea("http://gitea.example/api/v1", "a/b", token()).is_ok());
        assert!(PullRequests::gitea("http://127.0.0.1:3000/api/v1", "a/b", token()).is_ok());
        let gitea = PullRequests::gitea("http://gitea.example/api/v1", "a/b", token()).unwrap();
        let err = gitea.api.check_scheme().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        assert!(err.to_string().contains(ALLOW_PULLS), "{err}");
        assert!(gitea.allow_http(true).api.check_scheme().is_ok());
        let local = PullRequests::gitea("http://localhost:3000/api/v1", "a/b", token()).unwrap();
        assert!(local.api.check_scheme().is_ok());
        let gitlab = MergeRequests::with_api("http://gitlab.lan/api/v4", "g/p", token()).unwrap();
        let err = gitlab.api.check_scheme().unwrap_err();
        assert!(err.to_string().contains(ALLOW_MERGES), "{err}");
        assert!(MergeRequests::with_api("ftp://x", "g/p", token()).is_err());
        assert!(
            MergeRequests::with_api("https://u:p@gitlab.example/api/v4", "g/p", token()).is_err()
        );
        assert!(MergeRequests::gitlab(" / ", token()).is_err());
    }

    #[test]
    fn project_paths_are_encoded_as_one_segment() {
        let gl = MergeRequests::gitlab("group/sub/project", Secret::new("t")).unwrap();
        let url = gl
            .api
            .url(&["projects", &gl.project, "merge_requests"], &[]);
        assert_eq!(
            url.as_str(),
            "https://gitlab.com/api/v4/projects/group%2Fsub%2Fproject/merge_requests"
        );
        let gh =
            PullRequests::github_enterprise("https://ghe.example/api/v3", "o/r", Secret::new("t"))
                .unwrap();
        assert_eq!(
            gh.api
                .url(&["repos", "o", "r", "pulls"], &[("head", "o:b")])
                .as_str(),
            "https://ghe.example/api/v3/repos/o/r/pulls?head=o%3Ab"
        );
    }

    /// What a forge said in the answer `body`.
    fn forge_message(body: &str) -> String {
        said(&serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.into())))
    }

    #[test]
    fn forge_messages() {
        let github = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."}]}"#;
        assert_eq!(
            forge_message(github),
            "Validation Failed; A pull request already exists for o:b."
        );
        let gitlab = r#"{"message":["Another open merge request already exists for this source branch: !7"]}"#;
        assert!(forge_message(gitlab).contains("!7"));
        let gitlab_map = r#"{"message":{"source_branch":["is invalid"]}}"#;
        assert_eq!(
            forge_message(gitlab_map),
            r#"source_branch: ["is invalid"]"#
        );
        assert_eq!(
            forge_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(
            forge_message(r#"{"error":"invalid_token"}"#),
            "invalid_token"
        );
    }

    #[test]
    fn the_token_stays_out_of_debug() {
        let gh = PullRequests::github("o/r", Secret::new("ghp_secret_value")).unwrap();
        assert!(!format!("{gh:?}").contains("ghp_secret_value"));
        let gl = MergeRequests::gitlab("g/p", Secret::new("glpat-secret")).unwrap();
        assert!(!format!("{gl:?}").contains("glpat-secret"));
    }
}

/// GitHub code scanning: a SARIF log uploaded for a commit
/// (`POST /repos/{owner}/{repo}/code-scanning/sarifs` with `commit_sha`,
/// `ref`, `tool_name` and the log gzip-compressed and base64-encoded, as
/// GitHub documents), and its processing awaited
/// (`GET …/code-scanning/sarifs/{id}` until `processing_status` is
/// `complete`, or `failed` with its `errors`). The token needs the
/// `security_events` scope (or, for a GitHub App, "Code scanning alerts"
/// write).
///
/// ```no_run
/// # async fn demo(sarif: String) -> paragon_core::Result<()> {
/// use std::time::Duration;
/// use paragon_core::{CallContext, Secret};
/// use paragon_gitops::forge::CodeScanning;
///
/// let github = CodeScanning::github("shop/app", Secret::new("ghp_…"))?;
/// let ctx = CallContext::new();
/// let upload = github
///     .upload_sarif(&sarif, "4b6f0e5c1f0d9c3a2b7e8f6d5c4b3a2918171615", "refs/heads/main", &ctx)
///     .await?;
/// github.wait(&upload.id, Duration::from_secs(120), &ctx).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CodeScanning {
    api: Api,
    owner: String,
    repo: String,
    poll: Duration,
}

/// GitHub's limit on an uploaded SARIF log, gzip-compressed.
const SARIF_LIMIT: usize = 10 << 20;

/// The call that allows plain http for code scanning.
const ALLOW_CODE_SCANNING: &str = "CodeScanning::allow_http(true)";

/// A SARIF upload GitHub accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SarifUpload {
    /// The upload's id, for [`CodeScanning::wait`].
    pub id: String,
    /// The API URL of its status.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize)]
struct SarifStatus {
    processing_status: String,
    #[serde(default)]
    analyses_url: Option<String>,
    #[serde(default)]
    errors: Option<Vec<String>>,
}

impl CodeScanning {
    /// Code scanning on github.com in `owner/repo`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `repository` is not `owner/repo`.
    pub fn github(repository: &str, token: Secret) -> Result<CodeScanning> {
        CodeScanning::github_enterprise("https://api.github.com", repository, token)
    }

    /// Code scanning on a GitHub Enterprise Server (`https://HOST/api/v3`).
    ///
    /// # Errors
    /// As [`PullRequests::github_enterprise`].
    pub fn github_enterprise(api: &str, repository: &str, token: Secret) -> Result<CodeScanning> {
        let (owner, repo) = owner_repo(repository, "github")?;
        Ok(CodeScanning {
            api: Api::new(api, "github", token, Auth::Bearer, ALLOW_CODE_SCANNING)?,
            owner,
            repo,
            poll: Duration::from_secs(5),
        })
    }

    /// Allows plain http to a host other than this machine.
    #[must_use]
    pub fn allow_http(mut self, allow: bool) -> CodeScanning {
        self.api.allow_http = allow;
        self
    }

    /// Each request's timeout (default 30 s).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> CodeScanning {
        self.api.request_timeout = timeout;
        self
    }

    /// How status reads are retried (the upload is never sent twice).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> CodeScanning {
        self.api.retry = retry;
        self
    }

    /// How often [`wait`](CodeScanning::wait) asks (default 5 s).
    #[must_use]
    pub fn with_poll_interval(mut self, poll: Duration) -> CodeScanning {
        self.poll = poll;
        self
    }

    /// Uploads `sarif` (a SARIF 2.1.0 log, as
    /// `paragon_core::export::to_sarif` writes) for `commit_sha` on
    /// `git_ref` (`refs/heads/main`, `refs/pull/42/merge`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a `commit_sha` that is not 40 hex
    /// digits, a `git_ref` not under `refs/`, or a log over GitHub's
    /// 10 MiB once compressed; [`Error::Unauthorized`] for a refused
    /// token; [`Error::Http`] with what GitHub said otherwise (403 when
    /// code scanning is not enabled, 413 for a log too large).
    pub async fn upload_sarif(
        &self,
        sarif: &str,
        commit_sha: &str,
        git_ref: &str,
        ctx: &CallContext,
    ) -> Result<SarifUpload> {
        use base64::Engine as _;
        use std::io::Write as _;
        let bad = |message: String| Error::InvalidConfig {
            component: "github".into(),
            message,
        };
        if commit_sha.len() != 40 || !commit_sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "`{commit_sha}` is not a full commit SHA (40 hex digits)"
            )));
        }
        if !git_ref.starts_with("refs/") {
            return Err(bad(format!(
                "`{git_ref}` is not a full ref (`refs/heads/main`, `refs/pull/42/merge`)"
            )));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(sarif.as_bytes())
            .and_then(|()| gz.flush())
            .map_err(|e| bad(format!("cannot compress the SARIF log: {e}")))?;
        let compressed = gz
            .finish()
            .map_err(|e| bad(format!("cannot compress the SARIF log: {e}")))?;
        if compressed.len() > SARIF_LIMIT {
            return Err(bad(format!(
                "the SARIF log is {} MiB compressed, over GitHub's 10 MiB",
                compressed.len() >> 20
            )));
        }
        let body = json!({
            "commit_sha": commit_sha,
            "ref": git_ref,
            "sarif": base64::engine::general_purpose::STANDARD.encode(&compressed),
            "tool_name": "paragon",
        });
        let segments = ["repos", &self.owner, &self.repo, "code-scanning", "sarifs"];
        let url = self.api.url(&segments, &[]);
        let (status, answer) = self
            .api
            .call(Method::POST, url.clone(), Some(&body), ctx)
            .await?;
        if !(200..300).contains(&status) {
            return Err(self.api.failed(&Method::POST, &url, status, said(&answer)));
        }
        serde_json::from_value(answer).map_err(|e| {
            let what = format!("the answer names no upload id: {e}");
            self.api.failed(&Method::POST, &url, status, what)
        })
    }

    /// Waits until GitHub has processed upload `id`, for at most `limit`;
    /// the URL of its analyses when GitHub gives one.
    ///
    /// # Errors
    /// [`Error::ToolFailed`] with GitHub's errors when processing failed;
    /// [`Error::TimedOut`] naming the upload when it is still pending after
    /// `limit`; [`Error::Http`] for a failed request.
    pub async fn wait(
        &self,
        id: &str,
        limit: Duration,
        ctx: &CallContext,
    ) -> Result<Option<String>> {
        let segments = [
            "repos",
            &self.owner,
            &self.repo,
            "code-scanning",
            "sarifs",
            id,
        ];
        let url = self.api.url(&segments, &[]);
        let job = format!("github code scanning of upload {id}");
        poll(ctx, &job, self.poll, Some(limit), || async {
            let (status, answer) = self.api.call(Method::GET, url.clone(), None, ctx).await?;
            if !(200..300).contains(&status) {
                return Err(self.api.failed(&Method::GET, &url, status, said(&answer)));
            }
            let s: SarifStatus = serde_json::from_value(answer).map_err(|e| {
                let what = format!("the answer has no processing status: {e}");
                self.api.failed(&Method::GET, &url, status, what)
            })?;
            match s.processing_status.as_str() {
                "complete" => Ok(Polled::Done(s.analyses_url)),
                "failed" => Err(Error::ToolFailed {
                    tool: job.clone(),
                    status: "processing failed".into(),
                    stderr_tail: s.errors.unwrap_or_default().join("; "),
                }),
                other => Ok(Polled::Waiting(other.to_owned())),
            }
        })
        .await
    }
}
