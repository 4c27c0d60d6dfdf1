//! [`HarborApi`]: Harbor's REST API v2.0 (projects, robot accounts, tags,
//! scans and vulnerability reports).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paragon_core::plugin::registry::Tag;
use paragon_core::retry::RetryPolicy;
use paragon_core::transport::require_https_beyond_loopback;
use paragon_core::{CallContext, Error, Result, ScanReport, Secret};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::credentials::Credentials;
use crate::distribution::next_link;

use super::report::{parse_vulnerabilities, Artifact};

/// The report MIME types asked for in `X-Accept-Vulnerabilities`.
pub const ACCEPT_VULNERABILITIES: &str = "application/vnd.security.vulnerability.report; version=1.1, application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";

/// A client of Harbor's REST API v2.0.
#[derive(Clone)]
pub struct HarborApi {
    pub(super) base: String,
    pub(super) scheme: String,
    pub(super) allow_http: bool,
    pub(super) host: String,
    pub(super) username: String,
    pub(super) password: Secret,
    pub(super) http: reqwest::Client,
    pub(super) request_timeout: Duration,
    pub(super) retry: RetryPolicy,
    pub(super) page_size: usize,
    pub(super) requests: Arc<AtomicU64>,
}

impl fmt::Debug for HarborApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarborApi")
            .field("base", &self.base)
            .field("username", &self.username)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

/// A robot account Harbor created.
#[derive(Clone, Deserialize)]
pub struct RobotAccount {
    /// Its id.
    pub id: i64,
    /// Its full name (`robot$project+name`), the registry user name.
    pub name: String,
    /// Its secret (shown once by Harbor), the registry password.
    #[serde(deserialize_with = "secret")]
    pub secret: Secret,
}

impl fmt::Debug for RobotAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobotAccount")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &self.secret)
            .finish()
    }
}

pub(super) fn secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

impl RobotAccount {
    /// Registry credentials for this robot.
    pub fn credentials(&self) -> Credentials {
        Credentials::basic(self.name.clone(), self.secret.clone())
    }
}

/// The outcome of adding a tag through the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOutcome {
    /// The tag was created.
    Created,
    /// The tag already existed (Harbor answered 409).
    Exists,
}

/// Every byte but RFC 3986's unreserved characters (letters, digits, `-`,
/// `.`, `_`, `~`).
pub(super) const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (RFC 3986 unreserved characters kept).
pub(super) fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Harbor's repository path parameter: encoded twice.
pub(super) fn repo_param(repository: &str) -> String {
    encode(&encode(repository))
}

/// Splits `project/repo/sub` into (`project`, `repo/sub`).
pub(super) fn split_repository(repository: &str) -> Result<(&str, &str)> {
    repository
        .split_once('/')
        .filter(|(p, r)| !p.is_empty() && !r.is_empty())
        .ok_or_else(|| Error::InvalidConfig {
            component: "harbor".into(),
            message: format!(
                "`{repository}` has no project: Harbor repositories are `project/name`"
            ),
        })
}

impl HarborApi {
    /// A client of the Harbor at `url` (`https://harbor.example.com`), with
    /// a user's or robot's credentials. Plain http to a host other than
    /// this machine is refused at the first request unless
    /// [`allow_http`](Self::allow_http) allows it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `url` is not an http(s) URL or holds
    /// credentials.
    pub fn new(url: &str, username: &str, password: Secret) -> Result<HarborApi> {
        HarborApi::create(url, username, password)
    }

    /// Allows (or, with `false`, refuses again) plain http to a host other
    /// than this machine (a Harbor inside a network the caller trusts):
    /// the credentials then cross the network in clear.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> HarborApi {
        self.allow_http = yes;
        self
    }

    pub(super) fn create(url: &str, username: &str, password: Secret) -> Result<HarborApi> {
        let parsed = url::Url::parse(url).map_err(|e| Error::InvalidConfig {
            component: "harbor".into(),
            message: format!("`{url}` is not a URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
            return Err(Error::InvalidConfig {
                component: "harbor".into(),
                message: format!("`{url}`: use an http(s) URL without credentials in it"),
            });
        }
        let host = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_owned(),
        };
        let http = reqwest::Client::builder()
            // reqwest is built without its `cookies` feature: no cookie is ever kept.
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::InvalidConfig {
                component: "harbor".into(),
                message: format!("cannot create the HTTP client: {e}"),
            })?;
        Ok(HarborApi {
            scheme: parsed.scheme().to_owned(),
            allow_http: false,
            base: format!("{}/api/v2.0", url.trim_end_matches('/')),
            host,
            username: username.to_owned(),
            password,
            http,
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            page_size: 100,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The timeout of one request to Harbor's API (default 60 s): a
    /// service that accepts the connection and never answers fails the
    /// call with an error naming it, instead of holding it.
    pub fn with_request_timeout(mut self, timeout: Duration) -> HarborApi {
        self.request_timeout = timeout;
        self
    }

    /// How reads (`GET`, `HEAD`) are retried after no answer, a 429 or a
    /// 5xx (default [`RetryPolicy::default`]); writes are never retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> HarborApi {
        self.retry = retry;
        self
    }

    /// Sets the page size of listings (default 100; Harbor allows ≤ 100).
    pub fn with_page_size(mut self, n: usize) -> HarborApi {
        self.page_size = n.clamp(1, 100);
        self
    }

    /// The Harbor host (and port).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub(super) async fn request(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Result<reqwest::Response> {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else if path_or_url.starts_with("/api/") {
            let origin = self.base.trim_end_matches("/api/v2.0");
            format!("{origin}{path_or_url}")
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let read = method == Method::GET || method == Method::HEAD;
        let mut backoff = if read {
            self.retry
        } else {
            RetryPolicy::none()
        }
        .backoff();
        // The calls that ask are bounded by their own contexts, which stop
        // this one by dropping it.
        let ctx = CallContext::new();
        let what = format!("harbor {}", self.host);
        loop {
            let sent = self.send_once(&method, &url, body, extra).await;
            let asked = match &sent {
                Err(e) if e.is_retryable() => None,
                Ok(res) if res.status() == 429 || res.status().is_server_error() => {
                    crate::distribution::retry_after(res.headers())
                }
                _ => return sent,
            };
            if !backoff.pause(asked, &ctx, &what).await? {
                return sent;
            }
            tracing::warn!(service = %what, %url, "retrying");
        }
    }

    /// One attempt of [`request`](HarborApi::request).
    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Result<reqwest::Response> {
        require_https_beyond_loopback(
            "harbor",
            &self.scheme,
            Some(&self.host),
            self.allow_http,
            "HarborApi::allow_http(true)",
        )?;
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("paragon-{}-{n}", std::process::id());
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(self.request_timeout)
            .basic_auth(&self.username, Some(self.password.expose()))
            .header("X-Request-Id", &request_id)
            .header("Accept", "application/json");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.map_err(|e| {
            crate::Error::Harbor {
                method: method.to_string(),
                url: url.to_owned(),
                status: e.status().map_or(0, |s| s.as_u16()),
                message: self.password.redact(&e.to_string()),
                source: Some(e.without_url()),
            }
            .into()
        })
    }

    pub(super) async fn fail(&self, method: &str, url: &str, res: reqwest::Response) -> Error {
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        let said = harbor_message(&body);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Error::Unauthorized {
                service: "harbor".into(),
                host: self.host.clone(),
                message: self.password.redact(&said),
            };
        }
        let message = if status == StatusCode::PRECONDITION_FAILED {
            format!("refused by a tag immutability rule: {said}")
        } else {
            said
        };
        crate::Error::Harbor {
            method: method.into(),
            url: format!("{}{url}", self.base),
            status: status.as_u16(),
            message: self.password.redact(&message),
            source: None,
        }
        .into()
    }

    /// True when the project exists (`HEAD /projects?project_name=`).
    pub async fn project_exists(&self, project: &str) -> Result<bool> {
        let path = format!("/projects?project_name={}", encode(project));
        let res = self.request(Method::HEAD, &path, None, &[]).await?;
        match res.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail("HEAD", &path, res).await),
        }
    }

    /// Creates a private project (`POST /projects`); an existing project
    /// (409) is fine.
    pub async fn create_project(&self, project: &str) -> Result<()> {
        let body =
            serde_json::json!({ "project_name": project, "metadata": { "public": "false" } });
        let res = self
            .request(Method::POST, "/projects", Some(&body), &[])
            .await?;
        match res.status() {
            StatusCode::CREATED | StatusCode::CONFLICT => Ok(()),
            _ => Err(self.fail("POST", "/projects", res).await),
        }
    }

    /// Ensures the project exists, creating it when `create` is true.
    pub async fn ensure_project(&self, project: &str, create: bool) -> Result<()> {
        if self.project_exists(project).await? {
            return Ok(());
        }
        if !create {
            return Err(crate::Error::Harbor {
                method: "HEAD".into(),
                url: format!("{}/projects?project_name={project}", self.base),
                status: 404,
                message: format!(
                    "project `{project}` does not exist and creating it is not allowed"
                ),
                source: None,
            }
            .into());
        }
        self.create_project(project).await
    }

    /// Creates a project robot account allowed to push and pull
    /// (`POST /robots`), never expiring unless `days` is given.
    pub async fn create_robot(
        &self,
        project: &str,
        name: &str,
        days: Option<u32>,
    ) -> Result<RobotAccount> {
        let body = serde_json::json!({
            "name": name,
            "description": "created by paragon",
            "level": "project",
            "duration": days.map_or(-1, i64::from),
            "permissions": [{
                "kind": "project",
                "namespace": project,
                "access": [
                    { "resource": "repository", "action": "push" },
                    { "resource": "repository", "action": "pull" },
                    { "resource": "artifact", "action": "read" },
                    { "resource": "scan", "action": "create" }
                ]
            }]
        });
        let res = self
            .request(Method::POST, "/robots", Some(&body), &[])
            .await?;
        if res.status() != StatusCode::CREATED {
            return Err(self.fail("POST", "/robots", res).await);
        }
        let text = res
            .text()
            .await
            .map_err(|e| self.read_error("/robots", &e))?;
        self.decode(
            "POST",
            "/robots",
            201,
            text.as_bytes(),
            "robot account answer",
        )
    }

    pub(super) fn read_error(&self, path: &str, e: &reqwest::Error) -> Error {
        crate::Error::Harbor {
            method: "GET".into(),
            url: format!("{}{path}", self.base),
            status: 0,
            message: format!("cannot read the answer: {e}"),
            source: None,
        }
        .into()
    }

    pub(super) fn artifact_path(&self, repository: &str, reference: &str) -> Result<String> {
        let (project, repo) = split_repository(repository)?;
        Ok(format!(
            "/projects/{}/repositories/{}/artifacts/{}",
            encode(project),
            repo_param(repo),
            encode(reference)
        ))
    }

    /// Adds `tag` to the artifact `reference` (`POST …/tags`).
    pub async fn add_tag(
        &self,
        repository: &str,
        reference: &str,
        tag: &Tag,
    ) -> Result<TagOutcome> {
        let tag = tag.as_str();
        let path = format!("{}/tags", self.artifact_path(repository, reference)?);
        let body = serde_json::json!({ "name": tag });
        let res = self.request(Method::POST, &path, Some(&body), &[]).await?;
        match res.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(TagOutcome::Created),
            StatusCode::CONFLICT => Ok(TagOutcome::Exists),
            _ => Err(self.fail("POST", &path, res).await),
        }
    }

    /// Deletes a tag (`DELETE …/artifacts/{tag}/tags/{tag}`).
    pub async fn delete_tag(&self, repository: &str, tag: &Tag) -> Result<()> {
        let tag = tag.as_str();
        let path = format!(
            "{}/tags/{}",
            self.artifact_path(repository, tag)?,
            encode(tag)
        );
        let res = self.request(Method::DELETE, &path, None, &[]).await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(self.fail("DELETE", &path, res).await)
        }
    }

    /// Every tag of a repository, through the paginated artifact listing
    /// (`GET …/artifacts?with_tag=true&page=&page_size=`, following `Link:
    /// <…>; rel="next"`). Empty when the repository does not exist.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>> {
        let (project, repo) = split_repository(repository)?;
        let mut next = Some(format!(
            "/projects/{}/repositories/{}/artifacts?with_tag=true&page=1&page_size={}",
            encode(project),
            repo_param(repo),
            self.page_size
        ));
        let mut tags = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > crate::distribution::MAX_TAG_PAGES {
                // A `Link` that never ends (or loops): a short list would
                // be a false answer.
                return Err(crate::Error::Harbor {
                    method: "GET".into(),
                    url: path,
                    status: 200,
                    message: format!(
                        "the artifact list did not end after {} pages",
                        crate::distribution::MAX_TAG_PAGES
                    ),
                    source: None,
                }
                .into());
            }
            let res = self.request(Method::GET, &path, None, &[]).await?;
            if res.status() == StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            if !res.status().is_success() {
                return Err(self.fail("GET", &path, res).await);
            }
            next = res
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|h| h.to_str().ok())
                .and_then(next_link);
            let text = res.text().await.map_err(|e| self.read_error(&path, &e))?;
            let artifacts: Vec<Artifact> =
                self.decode("GET", &path, 200, text.as_bytes(), "artifact list")?;
            for a in artifacts {
                tags.extend(a.tags.unwrap_or_default().into_iter().map(|t| t.name));
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Asks Harbor to scan an artifact (`POST …/scan`, 202). A scan already
    /// running (409) is fine.
    pub async fn scan(&self, repository: &str, reference: &str) -> Result<()> {
        let path = format!("{}/scan", self.artifact_path(repository, reference)?);
        let res = self.request(Method::POST, &path, None, &[]).await?;
        match res.status() {
            StatusCode::ACCEPTED | StatusCode::CONFLICT => Ok(()),
            _ => Err(self.fail("POST", &path, res).await),
        }
    }

    /// `GET path` with `X-Accept-Vulnerabilities`; the body of a 2xx answer.
    pub(super) async fn get_with_reports(&self, path: &str) -> Result<bytes::Bytes> {
        let res = self
            .request(
                Method::GET,
                path,
                None,
                &[("X-Accept-Vulnerabilities", ACCEPT_VULNERABILITIES)],
            )
            .await?;
        if !res.status().is_success() {
            return Err(self.fail("GET", path, res).await);
        }
        res.bytes().await.map_err(|e| self.read_error(path, &e))
    }

    /// Decodes a JSON answer, naming the request when it is not what
    /// Harbor's API documents.
    pub(super) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
        what: &str,
    ) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| {
            crate::Error::Harbor {
                method: method.into(),
                url: format!("{}{path}", self.base),
                status,
                message: format!("unexpected {what}: {e}"),
                source: None,
            }
            .into()
        })
    }

    /// The scan status of an artifact (`GET …?with_scan_overview=true` with
    /// `X-Accept-Vulnerabilities`): `None` when no scan has started.
    pub async fn scan_status(&self, repository: &str, reference: &str) -> Result<Option<String>> {
        let path = format!(
            "{}?with_scan_overview=true",
            self.artifact_path(repository, reference)?
        );
        let body = self.get_with_reports(&path).await?;
        let artifact: Artifact = self.decode("GET", &path, 200, &body, "artifact")?;
        Ok(artifact
            .scan_overview
            .and_then(|o| o.into_values().next())
            .and_then(|s| s.scan_status))
    }

    /// Polls until the artifact's scan finishes (or `timeout` passes).
    pub async fn wait_for_scan(
        &self,
        repository: &str,
        reference: &str,
        poll: Duration,
        timeout: Duration,
        ctx: &CallContext,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.scan_status(repository, reference).await?;
            match status.as_deref() {
                Some("Success") => return Ok(()),
                Some(s @ ("Error" | "Stopped")) => {
                    return Err(Error::ToolFailed {
                        tool: "harbor".into(),
                        status: format!("scan of {repository}@{reference} ended `{s}`"),
                        stderr_tail: String::new(),
                    })
                }
                _ => {}
            }
            if tokio::time::Instant::now() + poll > deadline {
                return Err(Error::TimedOut {
                    tool: "harbor".into(),
                    after: timeout,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = ctx.cancel.cancelled() => return Err(Error::Cancelled { tool: "harbor".into() }),
            }
        }
    }

    /// The artifact's vulnerability report as a [`ScanReport`]
    /// (`GET …/additions/vulnerabilities`).
    pub async fn vulnerabilities(&self, repository: &str, reference: &str) -> Result<ScanReport> {
        let path = format!(
            "{}/additions/vulnerabilities",
            self.artifact_path(repository, reference)?
        );
        let bytes = self.get_with_reports(&path).await?;
        parse_vulnerabilities(&bytes, &format!("{repository}@{reference}")).map_err(|message| {
            Error::ToolOutput {
                tool: "harbor".into(),
                version: None,
                source: message.into(),
            }
        })
    }
}

pub(super) fn harbor_message(body: &str) -> String {
    // Harbor's errors: {"errors":[{"code":"CONFLICT","message":"…"}]}
    let parsed: Option<Vec<String>> = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.get("errors")?.as_array().map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.get("code").and_then(|c| c.as_str()).unwrap_or("ERROR"),
                        e.get("message").and_then(|m| m.as_str()).unwrap_or("")
                    )
                })
                .collect()
        })
    });
    let text = parsed.map_or_else(|| body.trim().to_owned(), |m| m.join("; "));
    text.chars().take(300).collect()
}
