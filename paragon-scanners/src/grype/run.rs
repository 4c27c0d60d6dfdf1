//! Running Grype as a [`Scanner`].

use std::path::PathBuf;
use std::time::Duration;

use paragon_core::plugin::scan::check_target;
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{
    async_trait, CallContext, Error as CoreError, ScanReport, ScanTarget, Scanner, TargetKind,
};

use super::SCANNER;
use crate::runner;

const INSTALL_HINT: &str = "install Grype (https://github.com/anchore/grype) or set PARAGON_GRYPE \
     to the binary";

/// Grype as a scanner: `grype dir:<path>`, `grype oci-dir:<path>` or
/// `grype sbom:<path>`, `-o json` to a scratch file read with
/// [`super::parse`].
///
/// Grype exits non-zero only on errors here (no `--fail-on` is passed: the
/// gate is Paragon's), so any non-zero exit is [`CoreError::ToolFailed`].
#[derive(Debug, Clone)]
pub struct Grype {
    binary: PathBuf,
    db_cache_dir: Option<PathBuf>,
    offline: bool,
    only_fixed: bool,
    timeout: Duration,
}

/// Builds a [`Grype`] scanner.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct GrypeBuilder {
    binary: Option<PathBuf>,
    db_cache_dir: Option<PathBuf>,
    offline: bool,
    only_fixed: bool,
    timeout: Option<Duration>,
}

impl Grype {
    /// A builder with the defaults documented on its setters.
    pub fn builder() -> GrypeBuilder {
        GrypeBuilder::default()
    }

    /// The command line for a target (exposed for inspection and tests).
    pub fn command(&self, target: &ScanTarget, output: &std::path::Path) -> ToolCommand {
        let source = match target {
            ScanTarget::OciLayout(p) => format!("oci-dir:{}", p.display()),
            ScanTarget::Sbom(p) => format!("sbom:{}", p.display()),
            other => format!("dir:{}", other.path().display()),
        };
        let mut cmd = ToolCommand::new(SCANNER, &self.binary)
            .install_hint(INSTALL_HINT)
            .args([source.as_str(), "--quiet", "--output", "json", "--file"])
            .arg(output.as_os_str())
            .env("GRYPE_CHECK_FOR_APP_UPDATE", "false");
        if self.only_fixed {
            cmd = cmd.arg("--only-fixed");
        }
        if let Some(dir) = &self.db_cache_dir {
            cmd = cmd.env("GRYPE_DB_CACHE_DIR", dir.as_os_str());
        }
        if self.offline {
            cmd = cmd.env("GRYPE_DB_AUTO_UPDATE", "false");
        }
        cmd
    }
}

impl GrypeBuilder {
    /// The `grype` binary. Default: `PARAGON_GRYPE`, else `grype` on `PATH`.
    pub fn with_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Grype's database directory (`GRYPE_DB_CACHE_DIR`). Default: Grype's own.
    pub fn with_db_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.db_cache_dir = Some(dir.into());
        self
    }

    /// Do not update the database (`GRYPE_DB_AUTO_UPDATE=false`). Default: off.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Report only vulnerabilities with a fix (`--only-fixed`). Default: off.
    pub fn only_fixed(mut self, only_fixed: bool) -> Self {
        self.only_fixed = only_fixed;
        self
    }

    /// Per-scan timeout when the context sets none. Default: 10 minutes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for a zero timeout.
    pub fn build(self) -> Result<Grype, CoreError> {
        let timeout = runner::timeout(SCANNER, self.timeout, Duration::from_secs(600))?;
        Ok(Grype {
            binary: paragon_core::tool::resolve_program(self.binary, "PARAGON_GRYPE", "grype"),
            db_cache_dir: self.db_cache_dir,
            offline: self.offline,
            only_fixed: self.only_fixed,
            timeout,
        })
    }
}

#[async_trait]
impl Scanner for Grype {
    fn name(&self) -> &str {
        SCANNER
    }

    fn targets(&self) -> &[TargetKind] {
        &[
            TargetKind::Directory,
            TargetKind::OciLayout,
            TargetKind::Sbom,
        ]
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        check_target(self, target, ctx)?;
        let scratch = runner::scratch(SCANNER)?;
        let output = scratch.path().join("grype.json");
        let cmd = self.command(target, &output);
        let never = |_: &tool::ToolOutput| false;
        let mut report = runner::run_to_report(
            &cmd,
            &self.binary,
            ctx,
            self.timeout,
            &output,
            never,
            super::parse,
        )
        .await?;
        if report.target.is_none() {
            report.target = Some(target.path().display().to_string());
        }
        Ok(report)
    }
}
