//! What the tool-running adapters share: a scratch directory per scan,
//! reading the report the tool wrote, asking the tool's version for errors.

use std::path::Path;
use std::time::Duration;

use paragon_core::tool::{self, ToolCommand, ToolOutput};
use paragon_core::{CallContext, Error as CoreError, ScanReport};

/// A scratch directory for one scan's output, removed when dropped.
pub(crate) fn scratch(tool: &str) -> Result<tempfile::TempDir, CoreError> {
    tempfile::Builder::new()
        .prefix(&format!("paragon-{tool}-"))
        .tempdir()
        .map_err(|source| CoreError::Io {
            path: std::env::temp_dir(),
            source,
        })
}

/// Reads the report a tool wrote; a missing file is the tool's failure.
pub(crate) fn read_report(
    tool: &str,
    path: &Path,
    stderr_tail: String,
) -> Result<Vec<u8>, CoreError> {
    std::fs::read(path).map_err(|_| CoreError::ToolFailed {
        tool: tool.to_owned(),
        status: format!("exit code 0, but no report at `{}`", path.display()),
        stderr_tail,
    })
}

/// The tool's version (first line of `--version`), for error messages.
// Used by the feature-gated tool adapters.
#[allow(dead_code)]
pub(crate) async fn version(tool: &str, binary: &Path) -> Option<String> {
    let cmd = ToolCommand::new(tool, binary)
        .arg("--version")
        .capture(4096);
    let ctx = CallContext::new().with_timeout(Duration::from_secs(20));
    let out = tool::run(&cmd, &ctx).await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.trim_start_matches("Version:").trim().to_owned())
}

/// Wraps a parse error of the tool's output, with the tool's version.
#[allow(dead_code)]
pub(crate) async fn unreadable(tool: &str, binary: &Path, e: crate::Error) -> CoreError {
    CoreError::ToolOutput {
        tool: tool.to_owned(),
        version: version(tool, binary).await,
        source: Box::new(e),
    }
}

/// Runs a tool that writes its report to `output`, then parses the report:
/// the sequence every tool-running scanner shares. The context's timeout
/// (or `default_timeout`) applies; a non-zero exit is a failure unless
/// `accept` says it is a result (Trivy's `--exit-code`, Dependency-Check's
/// `--failOnCVSS`) and the report was written; unreadable output is
/// [`CoreError::ToolOutput`] with the tool's version.
#[allow(dead_code)] // used by the feature-gated tool adapters
pub(crate) async fn run_to_report(
    cmd: &ToolCommand,
    binary: &Path,
    ctx: &CallContext,
    default_timeout: Duration,
    output: &Path,
    accept: impl Fn(&ToolOutput) -> bool,
    parse: impl Fn(&[u8]) -> crate::Result<ScanReport>,
) -> Result<ScanReport, CoreError> {
    let tool = cmd.tool().to_owned();
    let ctx = ctx.clone().with_timeout(ctx.timeout_or(default_timeout));
    let out = tool::run(cmd, &ctx).await?;
    let out = if !out.success && accept(&out) && output.is_file() {
        tracing::info!(status = %out.status(), "a findings exit; the report is kept");
        out
    } else {
        out.require_success(&tool)?
    };
    let bytes = read_report(&tool, output, out.stderr_tail(20))?;
    match parse(&bytes) {
        Ok(report) => Ok(report),
        Err(e) => Err(unreadable(&tool, binary, e).await),
    }
}

/// A builder's timeout: the one set, or `default`; zero is refused.
#[allow(dead_code)] // used by the feature-gated tool adapters
pub(crate) fn timeout(
    component: &str,
    set: Option<Duration>,
    default: Duration,
) -> Result<Duration, CoreError> {
    let timeout = set.unwrap_or(default);
    if timeout.is_zero() {
        return Err(CoreError::InvalidConfig {
            component: component.to_owned(),
            message: "the timeout must be longer than zero".to_owned(),
        });
    }
    Ok(timeout)
}
