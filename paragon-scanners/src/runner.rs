//! What the tool-running adapters share: a scratch directory per scan,
//! reading the report the tool wrote, asking the tool's version for errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use paragon_core::process::{self, ToolCommand};
use paragon_core::{Error as CoreError, ScanContext};

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
    let ctx = ScanContext::new().with_timeout(Duration::from_secs(20));
    let out = process::run(&cmd, &ctx).await.ok()?;
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

/// The binary to run: an explicit path, else `env` when set, else `name`
/// (looked up on `PATH`).
#[allow(dead_code)]
pub(crate) fn binary(explicit: Option<PathBuf>, env: &str, name: &str) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os(env).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(name))
}
