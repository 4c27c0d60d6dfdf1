//! Dependency-Track as a system of record (feature `dependency-track`):
//! SBOMs uploaded to a project, their processing awaited, and the policy's
//! VEX decisions uploaded as CycloneDX VEX.
//!
//! As Dependency-Track's REST API (v4) documents:
//!
//! - [`DependencyTrack::upload_bom`]: `POST /api/v1/bom`,
//!   `multipart/form-data` with `projectName`, `projectVersion`,
//!   `autoCreate` and the document as `bom`; the answer's `token`.
//! - [`DependencyTrack::wait`]: `GET /api/v1/event/token/{token}` until
//!   `processing` is `false`, every poll interval, up to a timeout (an
//!   error naming the token, never a report of success that did not
//!   happen).
//! - [`DependencyTrack::upload_vex`]: `POST /api/v1/vex`, with `vex`; the
//!   document from [`vex_document`]: each finding the verdict suppressed
//!   (by an ignore rule, a Rego policy or a VEX statement) with its
//!   reason as CycloneDX `analysis`.
//!
//! Every request carries `X-Api-Key`; reads are retried by the
//! [`RetryPolicy`], uploads only when Dependency-Track did not take them
//! (no connection, 429, 503).

use std::time::Duration;

use bytes::Bytes;
use paragon_core::gate::policy::SuppressedBy;
use paragon_core::retry::{poll, Polled, RetryPolicy};
use paragon_core::{CallContext, Error as CoreError, Report, Secret};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

const SERVICE: &str = "dependency-track";

/// A client of Dependency-Track's REST API.
#[derive(Clone)]
pub struct DependencyTrack {
    url: Url,
    key: Secret,
    client: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
    poll: Duration,
}

impl std::fmt::Debug for DependencyTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DependencyTrack")
            .field("url", &self.url.as_str())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DependencyTrack`] client.
#[derive(Clone, Default)]
#[must_use]
pub struct DependencyTrackBuilder {
    url: Option<String>,
    key: Option<Secret>,
    allow_http: bool,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
    poll: Option<Duration>,
}

impl std::fmt::Debug for DependencyTrackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DependencyTrackBuilder")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl DependencyTrackBuilder {
    /// The API server, e.g. `https://dtrack.example.internal`. Required.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// An API key with `BOM_UPLOAD` (and `PROJECT_CREATION_UPLOAD` to
    /// create projects, `VULNERABILITY_ANALYSIS` for VEX). Required.
    pub fn with_key(mut self, key: Secret) -> Self {
        self.key = Some(key);
        self
    }

    /// Allows plain http to a host other than this machine. Default: no.
    pub fn allow_http(mut self, yes: bool) -> Self {
        self.allow_http = yes;
        self
    }

    /// How failed reads, and uploads Dependency-Track did not take, are
    /// retried. Default: [`RetryPolicy::default`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Each request's timeout. Default: 2 min.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How often [`DependencyTrack::wait`] asks. Default: 1 s.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = Some(poll);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for a missing or invalid URL or key,
    /// plain http beyond this machine without
    /// [`allow_http`](Self::allow_http), or a zero timeout.
    pub fn build(self) -> Result<DependencyTrack, CoreError> {
        let url = crate::http::server_url(
            SERVICE,
            self.url,
            self.allow_http,
            "DependencyTrack::builder().allow_http(true)",
        )?;
        let key = self
            .key
            .filter(|k| !k.expose().trim().is_empty())
            .ok_or_else(|| crate::http::invalid(SERVICE, "an API key is required".into()))?;
        let timeout = self.timeout.unwrap_or(Duration::from_secs(120));
        if timeout.is_zero() {
            return Err(crate::http::invalid(
                SERVICE,
                "the timeout must be above zero".into(),
            ));
        }
        Ok(DependencyTrack {
            url,
            key,
            client: crate::http::client(SERVICE)?,
            retry: self.retry.unwrap_or_default(),
            timeout,
            poll: self.poll.unwrap_or(Duration::from_secs(1)),
        })
    }
}

/// A project and version in Dependency-Track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `projectName`.
    pub name: String,
    /// `projectVersion`.
    pub version: String,
    /// Create the project when missing (`autoCreate`, default yes).
    pub auto_create: bool,
}

impl Project {
    /// A project version, created when missing.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Project {
        Project {
            name: name.into(),
            version: version.into(),
            auto_create: true,
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
}

#[derive(Deserialize)]
struct Processing {
    processing: bool,
}

impl DependencyTrack {
    /// A builder; the URL and the API key are required.
    pub fn builder() -> DependencyTrackBuilder {
        DependencyTrackBuilder::default()
    }

    /// Uploads an SBOM (CycloneDX JSON or XML) to `project`; the token of
    /// its processing.
    ///
    /// # Errors
    ///
    /// [`CoreError::Http`] naming Dependency-Track's host and what it said
    /// (an unknown project without `auto_create` is a 404);
    /// [`CoreError::Cancelled`] when `ctx` is cancelled.
    pub async fn upload_bom(
        &self,
        bom: Bytes,
        project: &Project,
        ctx: &CallContext,
    ) -> Result<String, CoreError> {
        let fields = [
            ("projectName", project.name.clone()),
            ("projectVersion", project.version.clone()),
            ("autoCreate", project.auto_create.to_string()),
        ];
        self.upload("api/v1/bom", "bom", bom, &fields, ctx).await
    }

    /// Uploads a CycloneDX VEX document to `project`; the token of its
    /// processing.
    ///
    /// # Errors
    ///
    /// As [`DependencyTrack::upload_bom`].
    pub async fn upload_vex(
        &self,
        vex: Bytes,
        project: &Project,
        ctx: &CallContext,
    ) -> Result<String, CoreError> {
        let fields = [
            ("projectName", project.name.clone()),
            ("projectVersion", project.version.clone()),
        ];
        self.upload("api/v1/vex", "vex", vex, &fields, ctx).await
    }

    /// Waits until Dependency-Track has processed the upload of `token`,
    /// asking every poll interval, for at most `limit`.
    ///
    /// # Errors
    ///
    /// [`CoreError::TimedOut`] naming the token when it is still being
    /// processed after `limit`; [`CoreError::Http`] for a failed request.
    pub async fn wait(
        &self,
        token: &str,
        limit: Duration,
        ctx: &CallContext,
    ) -> Result<(), CoreError> {
        let mut url = self.join("api/v1/event/token/")?;
        url.path_segments_mut()
            .map_err(|()| {
                crate::http::invalid(SERVICE, "the server URL cannot take a path".into())
            })?
            .pop_if_empty()
            .push(token);
        let what = format!("{SERVICE} {}", self.url.host_str().unwrap_or_default());
        let job = format!("{SERVICE} processing of upload {token}");
        poll(ctx, &job, self.poll, Some(limit), || async {
            let body = self
                .retry
                .run(ctx, &what, |_| self.get_once(&url, ctx))
                .await?;
            let answer: Processing = serde_json::from_slice(&body).map_err(|e| {
                self.error(
                    "GET",
                    &url,
                    200,
                    format!("not a token's processing status: {e}"),
                )
            })?;
            Ok(if answer.processing {
                Polled::Waiting(String::new())
            } else {
                Polled::Done(())
            })
        })
        .await
    }

    fn join(&self, path: &str) -> Result<Url, CoreError> {
        self.url
            .join(path)
            .map_err(|e| crate::http::invalid(SERVICE, e.to_string()))
    }

    fn error(&self, method: &str, url: &Url, status: u16, message: String) -> CoreError {
        CoreError::Http {
            service: SERVICE.into(),
            method: method.into(),
            url: url.as_str().to_owned(),
            status,
            message: self.key.redact(&message),
            source: None,
        }
    }

    async fn upload(
        &self,
        path: &str,
        part_name: &'static str,
        document: Bytes,
        fields: &[(&'static str, String)],
        ctx: &CallContext,
    ) -> Result<String, CoreError> {
        let url = self.join(path)?;
        let what = format!("{SERVICE} {}", self.url.host_str().unwrap_or_default());
        let body = self
            .retry
            .run(ctx, &what, |_| {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in fields {
                    form = form.text(*k, v.clone());
                }
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::from(document.clone()),
                    document.len() as u64,
                )
                .file_name(format!("{part_name}.json"));
                let request = self
                    .client
                    .post(url.clone())
                    .multipart(form.part(part_name, part));
                self.send_once("POST", &url, request, true, ctx)
            })
            .await?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            self.error("POST", &url, 200, format!("the answer holds no token: {e}"))
        })?;
        Ok(answer.token)
    }

    async fn get_once(&self, url: &Url, ctx: &CallContext) -> Result<Vec<u8>, CoreError> {
        let request = self.client.get(url.clone());
        self.send_once("GET", url, request, false, ctx).await
    }

    /// One request. For a `write`, only a failure Dependency-Track did not
    /// act on (no connection, 429, 503) may be retried.
    async fn send_once(
        &self,
        method: &str,
        url: &Url,
        request: reqwest::RequestBuilder,
        write: bool,
        ctx: &CallContext,
    ) -> Result<Vec<u8>, CoreError> {
        let request = request
            .header("x-api-key", self.key.expose())
            .header("accept", "application/json")
            .timeout(self.timeout)
            .send();
        let what = format!("{SERVICE} {method} {}", url.path());
        let sent = ctx.run(&what, async { Ok(request.await) }).await?;
        crate::http::finish(SERVICE, method, url, &self.key, sent, write).await
    }
}

/// The policy's decisions on `report` (its verdict's suppressions of
/// vulnerabilities) as a CycloneDX 1.5 VEX document, for
/// [`DependencyTrack::upload_vex`]: one `vulnerabilities` entry per
/// suppressed vulnerability, `affects` naming the package's purl, and an
/// `analysis` whose `state` is the VEX statement's own (`not_affected`,
/// `false_positive`, `resolved`…) or, for an ignore rule or a Rego policy,
/// `not_affected` with `response` `will_not_fix` and the rule's reason as
/// `detail`. `None` when nothing was suppressed.
pub fn vex_document(report: &Report) -> Option<Value> {
    let verdict = report.verdict.as_ref()?;
    let mut entries = Vec::new();
    for s in &verdict.suppressed {
        let Some(f) = report.findings.get(s.finding) else {
            continue;
        };
        if f.kind != paragon_core::FindingKind::Vulnerability {
            continue;
        }
        let analysis = match &s.by {
            SuppressedBy::Vex {
                document,
                status,
                justification,
            } => {
                let mut a = json!({
                    "state": cdx_state(status),
                    "detail": format!("VEX {document}: {status}"),
                });
                if let Some(j) = justification {
                    a["justification"] = json!(j);
                }
                a
            }
            SuppressedBy::Ignore { rule } => json!({
                "state": "not_affected",
                "response": ["will_not_fix"],
                "detail": match rule.expires {
                    Some(d) => format!("{} (accepted until {d})", rule.reason),
                    None => rule.reason.clone(),
                },
            }),
            SuppressedBy::Rego { file } => json!({
                "state": "not_affected",
                "response": ["will_not_fix"],
                "detail": format!("ignored by the Rego policy {file}"),
            }),
            other => json!({"state": "not_affected", "detail": other.to_string()}),
        };
        let mut entry = json!({"id": f.id, "analysis": analysis});
        if let Some(purl) = f.package.as_ref().and_then(|p| p.purl.as_ref()) {
            entry["affects"] = json!([{"ref": purl.as_str()}]);
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return None;
    }
    Some(json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "vulnerabilities": entries,
    }))
}

/// CycloneDX's analysis state for an OpenVEX or CycloneDX VEX status.
fn cdx_state(status: &str) -> &'static str {
    match status.to_ascii_lowercase().replace('-', "_").as_str() {
        "fixed" | "resolved" => "resolved",
        "false_positive" => "false_positive",
        "affected" | "exploitable" => "exploitable",
        "under_investigation" | "in_triage" => "in_triage",
        "resolved_with_pedigree" => "resolved_with_pedigree",
        _ => "not_affected",
    }
}
