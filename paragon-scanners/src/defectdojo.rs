//! DefectDojo as a system of record (feature `defectdojo`): reports sent
//! to `POST /api/v2/import-scan/` or `/api/v2/reimport-scan/`.
//!
//! Each report goes as DefectDojo's API documents it: a
//! `multipart/form-data` request with the original file (`file`), its
//! DefectDojo scan type (`scan_type`, from the format Paragon detects:
//!
//! | format | `scan_type` |
//! |---|---|
//! | Trivy JSON | `Trivy Scan` |
//! | Grype JSON | `Anchore Grype` |
//! | Dependency-Check XML | `Dependency Check Scan` |
//! | CycloneDX JSON or XML | `CycloneDX Scan` |
//! | SARIF | `SARIF` |
//! | any other Paragon reads | `SARIF`, the report converted by Paragon |
//!
//! ), `product_name`, `engagement_name`, `test_title` when given,
//! `auto_create_context`, `close_old_findings`, `minimum_severity` and the
//! optional build fields, with `Authorization: Token …`. DefectDojo takes
//! one file per request: reports are sent one by one, and a file over the
//! size DefectDojo accepts (its `SCAN_FILE_MAX_SIZE`, 100 MB by default;
//! [`DefectDojoBuilder::with_max_file_mib`]) is refused before it is sent,
//! naming the file. The answer's test, engagement and product ids and,
//! for a re-import, the counts of created, closed, reactivated and
//! untouched findings are returned as [`Imported`].
//!
//! A request is retried, by the [`RetryPolicy`], only when DefectDojo did
//! not take it: no connection, or an answer of 429 or 503. An import whose
//! answer was lost is not sent again, since DefectDojo may have made its
//! test already.
//!
//! [`DefectDojoSink`] sends each pipeline run's merged report (as SARIF)
//! after the gate.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use paragon_core::pipeline::RunRecord;
use paragon_core::plugin::notify::Notifier;
use paragon_core::retry::RetryPolicy;
use paragon_core::{async_trait, CallContext, Error as CoreError, Report, Secret, Severity};
use serde::Deserialize;
use url::Url;

use crate::Format;

const SERVICE: &str = "defectdojo";

/// DefectDojo's own default `SCAN_FILE_MAX_SIZE`, in MiB.
const DEFAULT_MAX_FILE_MIB: u64 = 100;

/// A client of DefectDojo's import API.
#[derive(Clone)]
pub struct DefectDojo {
    url: Url,
    token: Secret,
    client: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
    max_file_bytes: u64,
}

impl std::fmt::Debug for DefectDojo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefectDojo")
            .field("url", &self.url.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DefectDojo`] client.
#[derive(Clone, Default)]
#[must_use]
pub struct DefectDojoBuilder {
    url: Option<String>,
    token: Option<Secret>,
    allow_http: bool,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
    max_file_mib: Option<u64>,
}

impl std::fmt::Debug for DefectDojoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefectDojoBuilder")
            .field("url", &self.url)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl DefectDojoBuilder {
    /// The server, e.g. `https://defectdojo.example.internal`. Required.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// An API v2 key (sent as `Authorization: Token …`). Required.
    pub fn with_token(mut self, token: Secret) -> Self {
        self.token = Some(token);
        self
    }

    /// Allows plain http to a host other than this machine. Default: no.
    pub fn allow_http(mut self, yes: bool) -> Self {
        self.allow_http = yes;
        self
    }

    /// How refused requests (no connection, 429, 503) are retried.
    /// Default: [`RetryPolicy::default`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Each request's timeout (an import of a large report takes
    /// DefectDojo a while). Default: 5 min.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The largest file sent, in MiB: set it to the server's
    /// `DD_SCAN_FILE_MAX_SIZE`. Default: 100.
    pub fn with_max_file_mib(mut self, mib: u64) -> Self {
        self.max_file_mib = Some(mib);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for a missing or invalid URL or token,
    /// plain http beyond this machine without
    /// [`allow_http`](Self::allow_http), or a zero timeout or size.
    pub fn build(self) -> Result<DefectDojo, CoreError> {
        let invalid = |message: String| crate::http::invalid(SERVICE, message);
        let url = crate::http::server_url(
            SERVICE,
            self.url,
            self.allow_http,
            "DefectDojo::builder().allow_http(true)",
        )?;
        let token = self
            .token
            .filter(|t| !t.expose().trim().is_empty())
            .ok_or_else(|| invalid("an API key is required".into()))?;
        let timeout = self.timeout.unwrap_or(Duration::from_secs(300));
        let mib = self.max_file_mib.unwrap_or(DEFAULT_MAX_FILE_MIB);
        if timeout.is_zero() || mib == 0 {
            return Err(invalid(
                "the timeout and the maximum file size must be above zero".into(),
            ));
        }
        let client = crate::http::client(SERVICE)?;
        Ok(DefectDojo {
            url,
            token,
            client,
            retry: self.retry.unwrap_or_default(),
            timeout,
            max_file_bytes: mib << 20,
        })
    }
}

/// A report file as DefectDojo takes it: its name, bytes and scan type.
#[derive(Debug, Clone)]
pub struct ReportFile {
    /// The file name sent (`trivy.json`).
    pub name: String,
    /// DefectDojo's scan type (`Trivy Scan`).
    pub scan_type: String,
    /// The content.
    pub bytes: Bytes,
}

impl ReportFile {
    /// Reads `path` and finds its scan type from its content; a format
    /// DefectDojo has no parser for is converted to SARIF by Paragon.
    ///
    /// # Errors
    ///
    /// [`CoreError::Io`] when the file cannot be read;
    /// [`CoreError::ToolOutput`] when it is no report Paragon reads.
    pub fn from_path(path: &Path) -> Result<ReportFile, CoreError> {
        let bytes = std::fs::read(path).map_err(|source| CoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        ReportFile::from_bytes(&name, bytes.into())
    }

    /// As [`ReportFile::from_path`], for content already read.
    ///
    /// # Errors
    ///
    /// [`CoreError::ToolOutput`] when `bytes` are no report Paragon reads.
    pub fn from_bytes(name: &str, bytes: Bytes) -> Result<ReportFile, CoreError> {
        let unreadable = |source: Box<dyn std::error::Error + Send + Sync>| CoreError::ToolOutput {
            tool: format!("{SERVICE} upload of `{name}`"),
            version: None,
            source,
        };
        let format = crate::detect(&bytes).ok_or_else(|| {
            unreadable(format!("`{name}` is not a report format Paragon reads").into())
        })?;
        let native = match format {
            Format::TrivyJson => Some("Trivy Scan"),
            Format::GrypeJson => Some("Anchore Grype"),
            Format::DependencyCheckXml => Some("Dependency Check Scan"),
            Format::CycloneDxJson | Format::CycloneDxXml => Some("CycloneDX Scan"),
            Format::Sarif => Some("SARIF"),
            _ => None,
        };
        if let Some(scan_type) = native {
            return Ok(ReportFile {
                name: name.to_owned(),
                scan_type: scan_type.to_owned(),
                bytes,
            });
        }
        let scan = format.parse(&bytes).map_err(|e| unreadable(Box::new(e)))?;
        ReportFile::sarif(&format!("{name}.sarif"), &Report::concat([scan]))
    }

    /// Paragon's report as a SARIF file.
    ///
    /// # Errors
    ///
    /// [`CoreError::Json`] if the export fails.
    pub fn sarif(name: &str, report: &Report) -> Result<ReportFile, CoreError> {
        Ok(ReportFile {
            name: name.to_owned(),
            scan_type: "SARIF".to_owned(),
            bytes: paragon_core::export::to_sarif(report)?.into(),
        })
    }
}

/// Where a report goes in DefectDojo, and how it is taken.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Destination {
    /// The product (DefectDojo's "asset").
    pub product_name: String,
    /// The engagement.
    pub engagement_name: String,
    /// The product type, for a product DefectDojo creates.
    pub product_type_name: Option<String>,
    /// The test's title (a re-import finds its test by it).
    pub test_title: Option<String>,
    /// Create the product and engagement when missing (default yes).
    pub auto_create_context: bool,
    /// Close the findings the report no longer has (default yes).
    pub close_old_findings: bool,
    /// The least severity imported (default all).
    pub minimum_severity: Option<Severity>,
    /// The build, commit, branch and version scanned, when known.
    pub build_id: Option<String>,
    /// The commit scanned.
    pub commit_hash: Option<String>,
    /// The branch or tag scanned.
    pub branch_tag: Option<String>,
    /// The version scanned.
    pub version: Option<String>,
}

impl Destination {
    /// A product and an engagement, created when missing, old findings
    /// closed, every severity imported.
    pub fn new(product: impl Into<String>, engagement: impl Into<String>) -> Destination {
        Destination {
            product_name: product.into(),
            engagement_name: engagement.into(),
            product_type_name: None,
            test_title: None,
            auto_create_context: true,
            close_old_findings: true,
            minimum_severity: None,
            build_id: None,
            commit_hash: None,
            branch_tag: None,
            version: None,
        }
    }

    /// The test's title.
    #[must_use]
    pub fn with_test_title(mut self, title: impl Into<String>) -> Destination {
        self.test_title = Some(title.into());
        self
    }

    /// The least severity imported.
    #[must_use]
    pub fn with_minimum_severity(mut self, severity: Severity) -> Destination {
        self.minimum_severity = Some(severity);
        self
    }

    /// The form fields, in the order sent.
    fn fields(&self, scan_type: &str) -> Vec<(&'static str, String)> {
        let yes_no = |b: bool| if b { "true" } else { "false" }.to_owned();
        let mut f = vec![
            ("scan_type", scan_type.to_owned()),
            ("product_name", self.product_name.clone()),
            ("engagement_name", self.engagement_name.clone()),
            ("auto_create_context", yes_no(self.auto_create_context)),
            ("close_old_findings", yes_no(self.close_old_findings)),
        ];
        if let Some(s) = self.minimum_severity {
            let name = match s {
                Severity::Critical => "Critical",
                Severity::High => "High",
                Severity::Medium => "Medium",
                Severity::Low => "Low",
                Severity::Info | Severity::Unknown => "Info",
            };
            f.push(("minimum_severity", name.to_owned()));
        }
        let optional = [
            ("product_type_name", &self.product_type_name),
            ("test_title", &self.test_title),
            ("build_id", &self.build_id),
            ("commit_hash", &self.commit_hash),
            ("branch_tag", &self.branch_tag),
            ("version", &self.version),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                f.push((key, v.clone()));
            }
        }
        f
    }
}

/// What DefectDojo answered to an import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The file sent.
    pub file: String,
    /// Its scan type.
    pub scan_type: String,
    /// The test the findings went into.
    pub test_id: u64,
    /// Its engagement.
    pub engagement_id: Option<u64>,
    /// Its product.
    pub product_id: Option<u64>,
    /// Findings created (a re-import's statistics, when given).
    pub created: Option<u64>,
    /// Findings closed.
    pub closed: Option<u64>,
    /// Findings reactivated.
    pub reactivated: Option<u64>,
    /// Findings left as they were.
    pub untouched: Option<u64>,
    /// The test's findings after the import.
    pub total: Option<u64>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    test_id: Option<u64>,
    #[serde(default)]
    test: Option<u64>,
    #[serde(default)]
    engagement_id: Option<u64>,
    #[serde(default)]
    product_id: Option<u64>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    after: Option<Counts>,
    #[serde(default)]
    delta: Option<Delta>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    created: Option<Counts>,
    #[serde(default)]
    closed: Option<Counts>,
    #[serde(default)]
    reactivated: Option<Counts>,
    #[serde(default)]
    untouched: Option<Counts>,
}

/// DefectDojo's severity-by-status counts; only the grand total is read.
#[derive(Deserialize)]
struct Counts {
    #[serde(default)]
    total: Option<Total>,
}

#[derive(Deserialize)]
struct Total {
    #[serde(default)]
    total: Option<u64>,
}

fn total(c: Option<Counts>) -> Option<u64> {
    c.and_then(|c| c.total).and_then(|t| t.total)
}

/// Which endpoint a report goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Import,
    Reimport,
}

impl DefectDojo {
    /// A builder; the URL and the API key are required.
    pub fn builder() -> DefectDojoBuilder {
        DefectDojoBuilder::default()
    }

    /// Sends `report` to `POST /api/v2/reimport-scan/`: into the test of
    /// its scan type (and title) in the engagement, created when missing.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] naming the file when it is over the
    /// size limit; [`CoreError::Http`] naming DefectDojo's host and what it
    /// said; [`CoreError::Cancelled`] when `ctx` is cancelled.
    pub async fn reimport(
        &self,
        report: &ReportFile,
        to: &Destination,
        ctx: &CallContext,
    ) -> Result<Imported, CoreError> {
        self.send(Endpoint::Reimport, report, to, ctx).await
    }

    /// Sends `report` to `POST /api/v2/import-scan/`: a new test each
    /// time.
    ///
    /// # Errors
    ///
    /// As [`DefectDojo::reimport`].
    pub async fn import(
        &self,
        report: &ReportFile,
        to: &Destination,
        ctx: &CallContext,
    ) -> Result<Imported, CoreError> {
        self.send(Endpoint::Import, report, to, ctx).await
    }

    /// Re-imports each report, one by one; stops at the first error.
    ///
    /// # Errors
    ///
    /// As [`DefectDojo::reimport`], for the first report that fails.
    pub async fn reimport_all(
        &self,
        reports: &[ReportFile],
        to: &Destination,
        ctx: &CallContext,
    ) -> Result<Vec<Imported>, CoreError> {
        let mut out = Vec::with_capacity(reports.len());
        for r in reports {
            out.push(self.reimport(r, to, ctx).await?);
        }
        Ok(out)
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        report: &ReportFile,
        to: &Destination,
        ctx: &CallContext,
    ) -> Result<Imported, CoreError> {
        if report.bytes.len() as u64 > self.max_file_bytes {
            return Err(CoreError::InvalidConfig {
                component: SERVICE.into(),
                message: format!(
                    "`{}` is {} MiB, over the {} MiB DefectDojo takes; raise its \
                     DD_SCAN_FILE_MAX_SIZE and `with_max_file_mib`, or send fewer findings",
                    report.name,
                    report.bytes.len() >> 20,
                    self.max_file_bytes >> 20
                ),
            });
        }
        let path = match endpoint {
            Endpoint::Import => "api/v2/import-scan/",
            Endpoint::Reimport => "api/v2/reimport-scan/",
        };
        let url = self.url.join(path).map_err(|e| CoreError::InvalidConfig {
            component: SERVICE.into(),
            message: e.to_string(),
        })?;
        let what = format!("{SERVICE} {}", self.url.host_str().unwrap_or_default());
        let body = self
            .retry
            .run(ctx, &what, |_| self.post_once(&url, report, to, ctx))
            .await?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            self.error(
                &url,
                201,
                format!("the answer is not DefectDojo's import answer: {e}"),
            )
        })?;
        let test_id = answer
            .test_id
            .or(answer.test)
            .ok_or_else(|| self.error(&url, 201, "the answer names no test".into()))?;
        let statistics = answer.statistics;
        let (after, delta) = match statistics {
            Some(s) => (s.after, s.delta),
            None => (None, None),
        };
        let delta = delta.unwrap_or(Delta {
            created: None,
            closed: None,
            reactivated: None,
            untouched: None,
        });
        Ok(Imported {
            file: report.name.clone(),
            scan_type: report.scan_type.clone(),
            test_id,
            engagement_id: answer.engagement_id,
            product_id: answer.product_id,
            created: total(delta.created),
            closed: total(delta.closed),
            reactivated: total(delta.reactivated),
            untouched: total(delta.untouched),
            total: total(after),
        })
    }

    fn error(&self, url: &Url, status: u16, message: String) -> CoreError {
        CoreError::Http {
            service: SERVICE.into(),
            method: "POST".into(),
            url: url.as_str().to_owned(),
            status,
            message: self.token.redact(&message),
            source: None,
        }
    }

    /// One attempt; a failure DefectDojo did not act on is retryable
    /// (no connection, 429, 503), any other is final.
    async fn post_once(
        &self,
        url: &Url,
        report: &ReportFile,
        to: &Destination,
        ctx: &CallContext,
    ) -> Result<Vec<u8>, CoreError> {
        let mut form = reqwest::multipart::Form::new();
        for (key, value) in to.fields(&report.scan_type) {
            form = form.text(key, value);
        }
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::from(report.bytes.clone()),
            report.bytes.len() as u64,
        )
        .file_name(report.name.clone())
        .mime_str("application/octet-stream")
        .map_err(|e| self.error(url, 0, e.to_string()))?;
        form = form.part("file", part);
        let request = self
            .client
            .post(url.clone())
            .header("authorization", format!("Token {}", self.token.expose()))
            .header("accept", "application/json")
            .timeout(self.timeout)
            .multipart(form)
            .send();
        let what = format!("{SERVICE} upload of `{}`", report.name);
        let sent = ctx.run(&what, async { Ok(request.await) }).await?;
        // An import is not idempotent: only what DefectDojo did not take
        // is sent again.
        crate::http::finish(SERVICE, "POST", url, &self.token, sent, true).await
    }
}

/// A pipeline notifier that re-imports each run's merged report, as SARIF,
/// into DefectDojo after the gate: product and engagement from its
/// [`Destination`], the test titled `paragon <application>`.
#[derive(Debug, Clone)]
pub struct DefectDojoSink {
    client: DefectDojo,
    to: Destination,
}

impl DefectDojoSink {
    /// A sink into `to`.
    pub fn new(client: DefectDojo, to: Destination) -> DefectDojoSink {
        DefectDojoSink { client, to }
    }
}

#[async_trait]
impl Notifier for DefectDojoSink {
    fn name(&self) -> &str {
        SERVICE
    }

    /// Sends the run's merged report; a run that stopped before the gate
    /// has none, and nothing is sent.
    async fn notify(&self, run: &RunRecord, ctx: &CallContext) -> paragon_core::Result<()> {
        let Some(report) = &run.report else {
            return Ok(());
        };
        let file = ReportFile::sarif(&format!("paragon-{}.sarif", run.application), report)?;
        let mut to = self.to.clone();
        if to.test_title.is_none() {
            to.test_title = Some(format!("paragon {}", run.application));
        }
        if to.version.is_none() {
            to.version.clone_from(&run.version);
        }
        self.client.reimport(&file, &to, ctx).await.map(|_| ())
    }
}
