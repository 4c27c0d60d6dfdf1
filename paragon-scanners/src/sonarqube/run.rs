//! SonarQube as a [`Scanner`]: after an analysis, read its results from
//! SonarQube's web API.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use paragon_core::plugin::scan::check_target;
use paragon_core::retry::{poll, Polled, RetryPolicy};
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{
    async_trait, CallContext, Error as CoreError, QualityGate, ScanReport, ScanTarget, Scanner,
    ScannerInfo, Secret, TargetKind,
};
use serde::Deserialize;
use url::Url;

use super::SCANNER;

/// SonarQube's search APIs return at most this many results per query.
const SEARCH_CAP: u64 = 10_000;
const SEVERITIES: [&str; 5] = ["BLOCKER", "CRITICAL", "MAJOR", "MINOR", "INFO"];

/// SonarQube as a scanner of a source directory.
///
/// 1. Optionally runs `sonar-scanner` in the directory (the token goes in
///    `SONAR_TOKEN`, never on the command line).
/// 2. Reads `report-task.txt` (by default `.scannerwork/report-task.txt` in
///    the directory) for the project key and the compute-engine task.
/// 3. Polls `api/ce/task` until the task succeeds, fails or the timeout
///    passes (a failed or cancelled task is [`CoreError::ToolFailed`] with
///    SonarQube's error message).
/// 4. Pages through `api/issues/search` (unresolved issues) and
///    `api/hotspots/search` (page size 500). SonarQube returns at most
///    10,000 results per query: above that, the search is narrowed to one
///    severity at a time; a severity that alone exceeds it is an error that
///    says so, never a silently short report.
/// 5. Reads `api/qualitygates/project_status` for the analysis; the result
///    is the report's [`QualityGate`].
///
/// The token is sent as HTTP basic credentials (the user name, with an
/// empty password), as every SonarQube version accepts; an answer of 401 or
/// 403 is [`CoreError::Http`] with [`CoreError::is_unauthorized`].
#[derive(Clone)]
pub struct SonarQube {
    url: Url,
    token: Secret,
    scanner_binary: Option<PathBuf>,
    report_task: PathBuf,
    branch: Option<String>,
    poll: Duration,
    page_size: u32,
    timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    client: reqwest::Client,
}

impl std::fmt::Debug for SonarQube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SonarQube")
            .field("url", &self.url.as_str())
            .field("token", &self.token)
            .field("scanner_binary", &self.scanner_binary)
            .field("branch", &self.branch)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SonarQube`] scanner.
#[derive(Clone, Default)]
#[must_use]
pub struct SonarQubeBuilder {
    url: Option<String>,
    token: Option<Secret>,
    scanner_binary: Option<PathBuf>,
    report_task: Option<PathBuf>,
    branch: Option<String>,
    poll: Option<Duration>,
    page_size: Option<u32>,
    timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    allow_http: bool,
}

impl std::fmt::Debug for SonarQubeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SonarQubeBuilder")
            .field("url", &self.url)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl SonarQube {
    /// A builder; the server URL and the token are required.
    pub fn builder() -> SonarQubeBuilder {
        SonarQubeBuilder::default()
    }

    /// A builder from the environment: `PARAGON_SONAR_URL`,
    /// `PARAGON_SONAR_TOKEN` (falling back to SonarQube's own `SONAR_HOST_URL`
    /// and `SONAR_TOKEN`).
    pub fn from_env() -> SonarQubeBuilder {
        let var = |a: &str, b: &str| std::env::var(a).or_else(|_| std::env::var(b)).ok();
        let mut b = SonarQubeBuilder::default();
        if let Some(url) = var("PARAGON_SONAR_URL", "SONAR_HOST_URL") {
            b = b.with_url(url);
        }
        if let Some(token) = var("PARAGON_SONAR_TOKEN", "SONAR_TOKEN") {
            b = b.with_token(Secret::new(token));
        }
        b
    }
}

impl SonarQubeBuilder {
    /// The server, e.g. `https://sonar.example.internal`. Required.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// A user or project analysis token. Required.
    pub fn with_token(mut self, token: Secret) -> Self {
        self.token = Some(token);
        self
    }

    /// Allows a plain http server URL whose host is not this machine (a
    /// server inside a network the caller trusts). Default: no, the token
    /// would cross the network in clear; plain http to `localhost` or a
    /// loopback address is always allowed.
    pub fn allow_http(mut self, yes: bool) -> Self {
        self.allow_http = yes;
        self
    }

    /// Run this `sonar-scanner` in the directory first. Default: do not run
    /// it (the analysis was done by the CI already).
    pub fn run_scanner(mut self, binary: impl Into<PathBuf>) -> Self {
        self.scanner_binary = Some(binary.into());
        self
    }

    /// Where `report-task.txt` is, relative to the scanned directory.
    /// Default: `.scannerwork/report-task.txt`.
    pub fn with_report_task(mut self, path: impl Into<PathBuf>) -> Self {
        self.report_task = Some(path.into());
        self
    }

    /// The branch (branch analysis, Developer Edition and up). Default: none.
    pub fn with_branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = Some(branch.into());
        self
    }

    /// How often to poll the compute-engine task. Default: 2 s.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = Some(poll);
        self
    }

    /// Search page size, 1–500. Default: 500 (the API's maximum).
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The whole scan's timeout when the context sets none. Default: 10 min.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long one API request may take, its answer read whole, before
    /// it counts as no answer (and is retried). Default: 30 s.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How the API's answers are retried after no answer, a 429 or a 5xx
    /// (every call is a read). Default: [`RetryPolicy::default`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for a missing or invalid URL, plain http
    /// to a host other than this machine without
    /// [`allow_http`](Self::allow_http), a missing token, a page size
    /// outside 1–500, or a zero timeout or request timeout.
    pub fn build(self) -> Result<SonarQube, CoreError> {
        let invalid = |message: String| CoreError::InvalidConfig {
            component: SCANNER.to_owned(),
            message,
        };
        let url = crate::http::server_url(
            SCANNER,
            self.url,
            self.allow_http,
            "SonarQube::builder().allow_http(true)",
        )?;
        let token = self
            .token
            .ok_or_else(|| invalid("a token is required".to_owned()))?;
        let page_size = self.page_size.unwrap_or(500);
        if !(1..=500).contains(&page_size) {
            return Err(invalid(format!(
                "page size {page_size} is not within 1–500"
            )));
        }
        let timeout = crate::runner::timeout(SCANNER, self.timeout, Duration::from_secs(600))?;
        let request_timeout =
            crate::runner::timeout(SCANNER, self.request_timeout, Duration::from_secs(30))?;
        let client = crate::http::client(SCANNER)?;
        Ok(SonarQube {
            url,
            token,
            scanner_binary: self.scanner_binary,
            report_task: self
                .report_task
                .unwrap_or_else(|| PathBuf::from(".scannerwork/report-task.txt")),
            branch: self.branch,
            poll: self.poll.unwrap_or(Duration::from_secs(2)),
            page_size,
            timeout,
            request_timeout,
            retry: self.retry.unwrap_or_default(),
            client,
        })
    }
}

#[derive(Deserialize)]
struct CeTaskResponse {
    task: CeTask,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CeTask {
    status: String,
    #[serde(default)]
    analysis_id: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

#[derive(Deserialize)]
struct Paged {
    #[serde(default)]
    paging: Option<Paging>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct Paging {
    total: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GateResponse {
    project_status: GateStatus,
}

#[derive(Deserialize)]
struct GateStatus {
    status: String,
    #[serde(default)]
    conditions: Vec<GateCondition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GateCondition {
    status: String,
    metric_key: String,
    #[serde(default)]
    comparator: Option<String>,
    #[serde(default)]
    error_threshold: Option<String>,
    #[serde(default)]
    actual_value: Option<String>,
}

impl SonarQube {
    /// GET `path?query` as JSON bytes, retried by the retry policy. The
    /// scan that asks is bounded by its own context, which stops this
    /// call by dropping it.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, CoreError> {
        let what = format!("{SCANNER} {}", self.url.host_str().unwrap_or_default());
        self.retry
            .run(&CallContext::new(), &what, |_| self.get_once(path, query))
            .await
    }

    /// One attempt of [`get`](SonarQube::get).
    async fn get_once(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, CoreError> {
        let mut url = self.url.join(path).map_err(|e| CoreError::InvalidConfig {
            component: SCANNER.to_owned(),
            message: e.to_string(),
        })?;
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        let shown = url.as_str().to_owned();
        let http = |status: u16, message: String| CoreError::Http {
            service: SCANNER.to_owned(),
            method: "GET".to_owned(),
            url: shown.clone(),
            status,
            message,
            source: None,
        };
        let late = |e: &reqwest::Error| {
            e.is_timeout()
                .then(|| format!("no whole answer within {:?}", self.request_timeout))
        };
        let response = self
            .client
            .get(url)
            .timeout(self.request_timeout)
            .basic_auth(self.token.expose(), Some(""))
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| http(0, late(&e).unwrap_or_else(|| format!("no answer: {e}"))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            let message = late(&e).unwrap_or_else(|| format!("the answer broke off: {e}"));
            http(status.as_u16(), message)
        })?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let said = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let message = match status.as_u16() {
            401 => "unauthorized: check the token".to_owned(),
            403 => "forbidden: the token lacks permission on the project".to_owned(),
            _ => self.token.redact(&said),
        };
        Err(http(status.as_u16(), message))
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, what: &str, bytes: &[u8]) -> Result<T, CoreError> {
        serde_json::from_slice(bytes).map_err(|e| CoreError::ToolOutput {
            tool: SCANNER.to_owned(),
            version: None,
            source: format!("unexpected answer from {what}: {e}").into(),
        })
    }

    /// Polls the compute-engine task to its end; returns the analysis id.
    async fn wait_for_task(
        &self,
        id: &str,
        ctx: &CallContext,
    ) -> Result<Option<String>, CoreError> {
        // Bounded by the scan's own limit, which wraps the whole run.
        poll(ctx, SCANNER, self.poll, None, || async {
            let bytes = self.get("api/ce/task", &[("id", id.to_owned())]).await?;
            let task: CeTaskResponse = self.json("api/ce/task", &bytes)?;
            match task.task.status.as_str() {
                "SUCCESS" => Ok(Polled::Done(task.task.analysis_id)),
                "FAILED" | "CANCELED" => Err(CoreError::ToolFailed {
                    tool: SCANNER.to_owned(),
                    status: format!("analysis task {id} {}", task.task.status),
                    stderr_tail: task.task.error_message.unwrap_or_default(),
                }),
                other => {
                    tracing::debug!(task = id, status = other, "waiting for the analysis");
                    Ok(Polled::Waiting(other.to_owned()))
                }
            }
        })
        .await
    }

    /// Every page of a search; `narrow` is a filter to split by when the
    /// total is over SonarQube's cap.
    async fn search(
        &self,
        path: &str,
        base: &[(&str, String)],
        narrow: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, CoreError> {
        let first = self.page(path, base, 1).await?;
        let total = self.total(path, &first)?;
        if total > SEARCH_CAP {
            let Some(filter) = narrow else {
                return Err(self.over_cap(path, total, None));
            };
            let mut pages = Vec::new();
            for severity in SEVERITIES {
                let mut query = base.to_vec();
                query.push((filter, severity.to_owned()));
                let first = self.page(path, &query, 1).await?;
                let total = self.total(path, &first)?;
                if total > SEARCH_CAP {
                    return Err(self.over_cap(path, total, Some(severity)));
                }
                pages.extend(self.rest(path, &query, first, total).await?);
            }
            return Ok(pages);
        }
        self.rest(path, base, first, total).await
    }

    async fn rest(
        &self,
        path: &str,
        query: &[(&str, String)],
        first: Vec<u8>,
        total: u64,
    ) -> Result<Vec<Vec<u8>>, CoreError> {
        let pages = total.div_ceil(u64::from(self.page_size)).max(1);
        let mut out = vec![first];
        for p in 2..=pages {
            out.push(self.page(path, query, p).await?);
        }
        Ok(out)
    }

    async fn page(
        &self,
        path: &str,
        query: &[(&str, String)],
        p: u64,
    ) -> Result<Vec<u8>, CoreError> {
        let mut q = query.to_vec();
        q.push(("ps", self.page_size.to_string()));
        q.push(("p", p.to_string()));
        self.get(path, &q).await
    }

    fn total(&self, path: &str, page: &[u8]) -> Result<u64, CoreError> {
        let paged: Paged = self.json(path, page)?;
        Ok(paged.paging.map(|p| p.total).or(paged.total).unwrap_or(0))
    }

    fn over_cap(&self, path: &str, total: u64, severity: Option<&str>) -> CoreError {
        CoreError::ToolOutput {
            tool: SCANNER.to_owned(),
            version: None,
            source: format!(
                "{path} has {total} results{}: more than the {SEARCH_CAP} SonarQube returns per query",
                severity.map(|s| format!(" of severity {s}")).unwrap_or_default()
            )
            .into(),
        }
    }

    async fn results(
        &self,
        project: &str,
        analysis: Option<String>,
        ctx: &CallContext,
    ) -> Result<ScanReport, CoreError> {
        let mut issues_query = vec![
            ("componentKeys", project.to_owned()),
            ("resolved", "false".to_owned()),
        ];
        let mut hotspots_query = vec![("projectKey", project.to_owned())];
        if let Some(b) = &self.branch {
            issues_query.push(("branch", b.clone()));
            hotspots_query.push(("branch", b.clone()));
        }
        let mut report =
            ScanReport::new(ScannerInfo::new(SCANNER, None::<String>)).with_target(Some(project));
        for (path, query, narrow) in [
            ("api/issues/search", &issues_query, Some("severities")),
            ("api/hotspots/search", &hotspots_query, None),
        ] {
            if ctx.cancel.is_cancelled() {
                return Err(CoreError::Cancelled {
                    tool: SCANNER.to_owned(),
                });
            }
            for page in self.search(path, query, narrow).await? {
                let parsed = super::parse(&page).map_err(|e| CoreError::ToolOutput {
                    tool: SCANNER.to_owned(),
                    version: None,
                    source: Box::new(e),
                })?;
                report.findings.extend(parsed.findings);
            }
        }
        if let Some(id) = analysis {
            let bytes = self
                .get("api/qualitygates/project_status", &[("analysisId", id)])
                .await?;
            let gate: GateResponse = self.json("api/qualitygates/project_status", &bytes)?;
            let failed = gate
                .project_status
                .conditions
                .iter()
                .filter(|c| c.status == "ERROR" || c.status == "WARN")
                .map(|c| {
                    format!(
                        "{} {} {} (actual {})",
                        c.metric_key,
                        c.comparator.as_deref().unwrap_or("?"),
                        c.error_threshold.as_deref().unwrap_or("?"),
                        c.actual_value.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            report.quality_gate = Some(QualityGate::new(gate.project_status.status, failed));
        }
        Ok(report)
    }

    async fn run(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        if let Some(binary) = &self.scanner_binary {
            let cmd = ToolCommand::new("sonar-scanner", binary)
                .install_hint("install SonarScanner CLI (https://docs.sonarsource.com/sonarqube/latest/analyzing-source-code/scanners/sonarscanner/)")
                .arg(format!("-Dsonar.host.url={}", self.url.as_str().trim_end_matches('/')))
                .secret_env("SONAR_TOKEN", self.token.clone())
                .current_dir(target.path());
            tool::run(&cmd, ctx)
                .await?
                .require_success("sonar-scanner")?;
        }
        let task_file = target.path().join(&self.report_task);
        let text = std::fs::read_to_string(&task_file).map_err(|source| CoreError::Io {
            path: task_file.clone(),
            source,
        })?;
        let props: HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let missing = |key: &str| CoreError::ToolOutput {
            tool: SCANNER.to_owned(),
            version: None,
            source: format!("`{}` has no `{key}`", task_file.display()).into(),
        };
        let project = props
            .get("projectKey")
            .ok_or_else(|| missing("projectKey"))?;
        let task = props.get("ceTaskId").ok_or_else(|| missing("ceTaskId"))?;
        let analysis = self.wait_for_task(task, ctx).await?;
        let mut report = self.results(project, analysis, ctx).await?;
        report.target = Some((*project).to_owned());
        Ok(report)
    }
}

#[async_trait]
impl Scanner for SonarQube {
    fn name(&self) -> &str {
        SCANNER
    }

    fn targets(&self) -> &[TargetKind] {
        &[TargetKind::Directory]
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        check_target(self, target, ctx)?;
        let limit = ctx.timeout_or(self.timeout);
        tokio::select! {
            r = self.run(target, ctx) => r,
            _ = tokio::time::sleep(limit) => Err(CoreError::TimedOut { tool: SCANNER.to_owned(), after: limit }),
            _ = ctx.cancel.cancelled() => Err(CoreError::Cancelled { tool: SCANNER.to_owned() }),
        }
    }
}
