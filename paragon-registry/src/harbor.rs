//! Harbor: images go through Harbor's OCI distribution endpoint
//! ([`DistributionRegistry`]); projects, robot accounts, tags, scans and
//! vulnerability reports through its REST API v2.0 ([`HarborApi`]).
//!
//! Harbor's REST conventions are followed exactly:
//! - a repository name containing `/` is URL-encoded twice in paths
//!   (`team/app` → `team%252Fapp`);
//! - no cookies are kept (Harbor's CSRF check rejects cookie sessions
//!   without a token), every request carries basic auth and an
//!   `X-Request-Id`;
//! - robot accounts are named `robot$<project>+<name>`, which is escaped
//!   wherever it appears in a URL;
//! - `POST …/tags` answers 409 for a tag that exists, so `latest` is moved
//!   by a manifest PUT through the distribution endpoint instead;
//! - an immutability rule answers 412, reported as such.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::model::oci::Digest;
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::{validate_repository, validate_tag, Pushed, Registry};
use paragon_core::transport::require_https_beyond_loopback;
use paragon_core::{
    CallContext, Cvss, CvssVersion, Error, Finding, FindingKind, Package, Result, ScanReport,
    ScanTarget, Scanner, ScannerInfo, Secret, Severity, Source, TargetKind,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::credentials::Credentials;
use crate::distribution::{next_link, DistributionRegistry};

/// The report MIME types asked for in `X-Accept-Vulnerabilities`.
pub const ACCEPT_VULNERABILITIES: &str = "application/vnd.security.vulnerability.report; version=1.1, application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";

/// A client of Harbor's REST API v2.0.
#[derive(Clone)]
pub struct HarborApi {
    base: String,
    host: String,
    username: String,
    password: Secret,
    http: reqwest::Client,
    request_timeout: Duration,
    page_size: usize,
    requests: Arc<AtomicU64>,
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

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Secret, D::Error> {
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
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (RFC 3986 unreserved characters kept).
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Harbor's repository path parameter: encoded twice.
fn repo_param(repository: &str) -> String {
    encode(&encode(repository))
}

/// Splits `project/repo/sub` into (`project`, `repo/sub`).
fn split_repository(repository: &str) -> Result<(&str, &str)> {
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
    /// a user's or robot's credentials.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `url` is not an http(s) URL, holds
    /// credentials, or is plain http to a host other than this machine
    /// (the credentials would cross the network in clear; see
    /// [`new_allowing_http`](Self::new_allowing_http)).
    pub fn new(url: &str, username: &str, password: Secret) -> Result<HarborApi> {
        HarborApi::create(url, username, password, false)
    }

    /// Like [`new`](Self::new), but plain http to any host is allowed
    /// (a Harbor inside a network the caller trusts).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `url` is not an http(s) URL or holds
    /// credentials.
    pub fn new_allowing_http(url: &str, username: &str, password: Secret) -> Result<HarborApi> {
        HarborApi::create(url, username, password, true)
    }

    fn create(url: &str, username: &str, password: Secret, allow_http: bool) -> Result<HarborApi> {
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
        require_https_beyond_loopback(
            "harbor",
            parsed.scheme(),
            parsed.host_str(),
            allow_http,
            "HarborApi::new_allowing_http",
        )?;
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
            base: format!("{}/api/v2.0", url.trim_end_matches('/')),
            host,
            username: username.to_owned(),
            password,
            http,
            request_timeout: Duration::from_secs(60),
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

    /// Sets the page size of listings (default 100; Harbor allows ≤ 100).
    pub fn with_page_size(mut self, n: usize) -> HarborApi {
        self.page_size = n.clamp(1, 100);
        self
    }

    /// The Harbor host (and port).
    pub fn host(&self) -> &str {
        &self.host
    }

    async fn request(
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
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("paragon-{}-{n}", std::process::id());
        let mut req = self
            .http
            .request(method.clone(), &url)
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
        req.send().await.map_err(|e| Error::Http {
            service: "harbor".into(),
            method: method.to_string(),
            url: url.clone(),
            status: e.status().map_or(0, |s| s.as_u16()),
            message: self.password.redact(&e.to_string()),
        })
    }

    async fn fail(&self, method: &str, url: &str, res: reqwest::Response) -> Error {
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
        Error::Http {
            service: "harbor".into(),
            method: method.into(),
            url: format!("{}{url}", self.base),
            status: status.as_u16(),
            message: self.password.redact(&message),
        }
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
            return Err(Error::Http {
                service: "harbor".into(),
                method: "HEAD".into(),
                url: format!("{}/projects?project_name={project}", self.base),
                status: 404,
                message: format!(
                    "project `{project}` does not exist and creating it is not allowed"
                ),
            });
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

    fn read_error(&self, path: &str, e: &reqwest::Error) -> Error {
        Error::Http {
            service: "harbor".into(),
            method: "GET".into(),
            url: format!("{}{path}", self.base),
            status: 0,
            message: format!("cannot read the answer: {e}"),
        }
    }

    fn artifact_path(&self, repository: &str, reference: &str) -> Result<String> {
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
        tag: &str,
    ) -> Result<TagOutcome> {
        validate_tag(tag)?;
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
    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<()> {
        validate_tag(tag)?;
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
                return Err(Error::Http {
                    service: "harbor".into(),
                    method: "GET".into(),
                    url: path,
                    status: 200,
                    message: format!(
                        "the artifact list did not end after {} pages",
                        crate::distribution::MAX_TAG_PAGES
                    ),
                });
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
    async fn get_with_reports(&self, path: &str) -> Result<bytes::Bytes> {
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
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
        what: &str,
    ) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| Error::Http {
            service: "harbor".into(),
            method: method.into(),
            url: format!("{}{path}", self.base),
            status,
            message: format!("unexpected {what}: {e}"),
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

fn harbor_message(body: &str) -> String {
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

#[derive(Deserialize)]
struct Artifact {
    #[serde(default)]
    tags: Option<Vec<Tag>>,
    #[serde(default)]
    scan_overview: Option<std::collections::BTreeMap<String, ScanOverview>>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}

#[derive(Deserialize)]
struct ScanOverview {
    #[serde(default)]
    scan_status: Option<String>,
}

#[derive(Deserialize)]
struct HarborReport {
    #[serde(default)]
    scanner: Option<HarborScannerInfo>,
    #[serde(default)]
    vulnerabilities: Option<Vec<HarborVuln>>,
}

#[derive(Deserialize)]
struct HarborScannerInfo {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct HarborVuln {
    id: String,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    fix_version: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    links: Option<Vec<String>>,
    #[serde(default)]
    preferred_cvss: Option<PreferredCvss>,
    #[serde(default)]
    cwe_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct PreferredCvss {
    #[serde(default)]
    score_v3: Option<f64>,
    #[serde(default)]
    vector_v3: Option<String>,
    #[serde(default)]
    score_v2: Option<f64>,
    #[serde(default)]
    vector_v2: Option<String>,
}

/// Parses Harbor's `additions/vulnerabilities` answer: an object keyed by
/// report MIME type, each a vulnerability report.
pub(crate) fn parse_vulnerabilities(
    bytes: &[u8],
    target: &str,
) -> std::result::Result<ScanReport, String> {
    let reports: std::collections::BTreeMap<String, HarborReport> =
        serde_json::from_slice(bytes)
            .map_err(|e| format!("invalid Harbor vulnerability report: {e}"))?;
    let (_, report) = reports
        .into_iter()
        .next()
        .ok_or("the Harbor vulnerability answer holds no report")?;
    let underlying = report.scanner.as_ref().and_then(|s| s.name.clone());
    let mut scan = ScanReport::new(ScannerInfo::new(
        "harbor",
        report.scanner.as_ref().and_then(|s| {
            let name = s.name.as_deref()?;
            Some(
                format!("{name} {}", s.version.clone().unwrap_or_default())
                    .trim()
                    .to_owned(),
            )
        }),
    ));
    scan.target = Some(target.to_owned());
    for v in report.vulnerabilities.unwrap_or_default() {
        let severity = Severity::from_lenient(v.severity.as_deref().unwrap_or("unknown"));
        let mut f = Finding::new(FindingKind::Vulnerability, v.id.trim(), severity);
        if let Some(name) = v.package.filter(|p| !p.is_empty()) {
            f.package = Some(Package::new(name).with_version(v.version.filter(|x| !x.is_empty())));
        }
        if let Some(fix) = v.fix_version.filter(|x| !x.is_empty()) {
            for part in fix.split(',') {
                f.add_fixed_version(part.trim());
            }
        }
        f.description = v.description.filter(|d| !d.is_empty());
        for l in v.links.unwrap_or_default() {
            f.add_reference(l);
        }
        for c in v.cwe_ids.unwrap_or_default() {
            f.add_cwe(&c);
        }
        if let Some(c) = v.preferred_cvss {
            for (score, vector, fallback) in [
                (c.score_v3, c.vector_v3, CvssVersion::V3_1),
                (c.score_v2, c.vector_v2, CvssVersion::V2),
            ] {
                if score.is_none() && vector.as_deref().is_none_or(str::is_empty) {
                    continue;
                }
                let vector = vector.filter(|x| !x.is_empty());
                let version = vector
                    .as_deref()
                    .and_then(CvssVersion::from_vector)
                    .unwrap_or(fallback);
                f.cvss.push(Cvss {
                    version,
                    score,
                    vector,
                    source: underlying.clone().map(|n| n.to_lowercase()),
                });
            }
        }
        f.sources
            .push(Source::new("harbor", severity, Some(target.into())));
        scan.findings.push(f);
    }
    Ok(scan)
}

/// Harbor as a registry: pushes through Harbor's distribution endpoint,
/// ensures the project first, lists and deletes tags through the REST API.
///
/// Repositories are `project/name…`.
#[derive(Debug, Clone)]
pub struct HarborRegistry {
    api: HarborApi,
    distribution: DistributionRegistry,
    create_projects: bool,
}

impl HarborRegistry {
    /// Harbor at `url`, pushing with `credentials` (a user or a robot
    /// account) through the distribution endpoint of the same host.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`HarborApi::new`] and
    /// [`DistributionRegistry::new`] give it: plain http only to this
    /// machine (see [`new_allowing_http`](Self::new_allowing_http)).
    pub fn new(url: &str, username: &str, password: Secret) -> Result<HarborRegistry> {
        let api = HarborApi::new(url, username, password.clone())?;
        let distribution = DistributionRegistry::new(url)?
            .with_credentials(Credentials::basic(username, password));
        Ok(HarborRegistry::from_parts(api, distribution))
    }

    /// Like [`new`](Self::new), but plain http to any host is allowed, for
    /// the REST API and the distribution endpoint both.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`HarborApi::new_allowing_http`] and
    /// [`DistributionRegistry::new_allowing_http`] give it.
    pub fn new_allowing_http(
        url: &str,
        username: &str,
        password: Secret,
    ) -> Result<HarborRegistry> {
        let api = HarborApi::new_allowing_http(url, username, password.clone())?;
        let distribution = DistributionRegistry::new_allowing_http(url)?
            .with_credentials(Credentials::basic(username, password));
        Ok(HarborRegistry::from_parts(api, distribution))
    }

    /// From a REST client and a distribution client (for Harbor behind a
    /// separate registry host, or for tests).
    pub fn from_parts(api: HarborApi, distribution: DistributionRegistry) -> HarborRegistry {
        HarborRegistry {
            api,
            distribution,
            create_projects: false,
        }
    }

    /// Creates missing projects before pushing (default: no, a missing
    /// project is an error).
    pub fn create_projects(mut self, yes: bool) -> HarborRegistry {
        self.create_projects = yes;
        self
    }

    /// The REST client.
    pub fn api(&self) -> &HarborApi {
        &self.api
    }

    /// Points `tag` at `digest`, already in the repository: through the
    /// tag API, or, when the tag exists (409), by a manifest PUT.
    pub async fn retag(&self, repository: &str, digest: &Digest, tag: &str) -> Result<()> {
        match self.api.add_tag(repository, digest.as_str(), tag).await? {
            TagOutcome::Created => Ok(()),
            TagOutcome::Exists => {
                self.distribution
                    .tag_existing(repository, digest, tag, &CallContext::new())
                    .await
            }
        }
    }
}

#[async_trait]
impl Registry for HarborRegistry {
    fn name(&self) -> &str {
        "harbor"
    }

    fn location(&self) -> String {
        self.api.host().to_owned()
    }

    async fn push(
        &self,
        image: &BuiltImage,
        repository: &str,
        tags: &[String],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        validate_repository(repository)?;
        let (project, _) = split_repository(repository)?;
        self.api
            .ensure_project(project, self.create_projects)
            .await?;
        self.distribution.push(image, repository, tags, ctx).await
    }

    async fn resolve(
        &self,
        repository: &str,
        tag: &str,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        self.distribution.resolve(repository, tag, ctx).await
    }

    async fn list_tags(&self, repository: &str, ctx: &CallContext) -> Result<Vec<String>> {
        validate_repository(repository)?;
        ctx.run("harbor", self.api.list_tags(repository)).await
    }

    /// Through Harbor's tag API, which refuses a tag that exists (409):
    /// atomic against every other writer.
    async fn create_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        validate_repository(repository)?;
        let added = ctx.run("harbor", self.api.add_tag(repository, digest.as_str(), tag));
        match added.await? {
            TagOutcome::Created => Ok(true),
            TagOutcome::Exists => Ok(false),
        }
    }

    async fn delete_tag(&self, repository: &str, tag: &str, ctx: &CallContext) -> Result<()> {
        validate_repository(repository)?;
        ctx.run("harbor", self.api.delete_tag(repository, tag))
            .await
    }
}

/// Harbor as a scanner: asks Harbor to scan the image that a layout holds
/// (by its digest, in the configured repository, where it must have been
/// pushed), waits for the scan, and reads the vulnerability report.
#[derive(Debug, Clone)]
pub struct HarborScanner {
    api: HarborApi,
    repository: String,
    reference: Option<String>,
    poll: Duration,
    timeout: Duration,
}

impl HarborScanner {
    /// Scans images of `repository` (`project/name`).
    pub fn new(api: HarborApi, repository: &str) -> HarborScanner {
        HarborScanner {
            api,
            repository: repository.to_owned(),
            reference: None,
            poll: Duration::from_secs(5),
            timeout: Duration::from_secs(900),
        }
    }

    /// Scans this tag or digest instead of the layout's image digest.
    pub fn with_reference(mut self, reference: impl Into<String>) -> HarborScanner {
        self.reference = Some(reference.into());
        self
    }

    /// How often to poll the scan status (default 5 s).
    pub fn with_poll_interval(mut self, poll: Duration) -> HarborScanner {
        self.poll = poll;
        self
    }

    /// How long to wait for the scan (default 15 min; the context's wins).
    pub fn with_timeout(mut self, timeout: Duration) -> HarborScanner {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl Scanner for HarborScanner {
    fn name(&self) -> &str {
        "harbor"
    }

    fn targets(&self) -> &[TargetKind] {
        &[TargetKind::OciLayout]
    }

    /// Every request counts against the timeout and stops at a
    /// cancellation, not only the wait for the scan.
    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport> {
        paragon_core::plugin::scan::check_target(self, target, ctx)?;
        let reference = match &self.reference {
            Some(r) => r.clone(),
            None => BuiltImage::from_layout(PathBuf::from(target.path()), None)?
                .digest
                .to_string(),
        };
        let timeout = ctx.timeout_or(self.timeout);
        let work = async {
            self.api.scan(&self.repository, &reference).await?;
            self.api
                .wait_for_scan(&self.repository, &reference, self.poll, timeout, ctx)
                .await?;
            self.api.vulnerabilities(&self.repository, &reference).await
        };
        tokio::select! {
            result = tokio::time::timeout(timeout, work) => result.unwrap_or(Err(Error::TimedOut {
                tool: "harbor".into(),
                after: timeout,
            })),
            () = ctx.cancel.cancelled() => Err(Error::Cancelled { tool: "harbor".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_double_encoded() {
        assert_eq!(repo_param("team/app"), "team%252Fapp");
        assert_eq!(repo_param("app"), "app");
        assert_eq!(encode("robot$ci+push"), "robot%24ci%2Bpush");
        assert!(split_repository("app").is_err());
        assert_eq!(split_repository("p/a/b").unwrap(), ("p", "a/b"));
    }

    #[test]
    fn vulnerability_reports_parse() {
        let body = br#"{"application/vnd.security.vulnerability.report; version=1.1": {
            "generated_at": "2024-01-01T00:00:00Z",
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.0"},
            "severity": "High",
            "vulnerabilities": [
              {"id": "CVE-2023-0464", "package": "libssl3", "version": "3.0.8-r0", "fix_version": "3.0.8-r1",
               "severity": "High", "description": "x", "links": ["https://avd.aquasec.com/nvd/cve-2023-0464"],
               "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
               "cwe_ids": ["CWE-295"]},
              {"id": "CVE-2023-1", "package": "zlib", "version": "1", "severity": "Unknown"}
            ]}}"#;
        let r = parse_vulnerabilities(body, "p/app@sha256:x").unwrap();
        assert_eq!(r.scanner.name, "harbor");
        assert_eq!(r.scanner.version.as_deref(), Some("Trivy v0.50.0"));
        assert_eq!(r.findings.len(), 2);
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.fixed_versions, ["3.0.8-r1"]);
        assert_eq!(f.cwes, ["CWE-295"]);
        assert_eq!(f.cvss[0].score, Some(7.5));
        assert!(parse_vulnerabilities(b"{}", "t").is_err());
        assert!(parse_vulnerabilities(b"{\"a\":", "t").is_err());
        assert!(parse_vulnerabilities(b"[]", "t").is_err());
    }
}
