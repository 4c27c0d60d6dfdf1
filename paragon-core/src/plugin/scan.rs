//! The `Scanner` plugin trait: what a scanner scans and what it returns.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::model::scan_report::ScanReport;
use crate::plugin::context::CallContext;

/// The kinds of target a scanner can scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TargetKind {
    /// A source directory.
    Directory,
    /// An OCI image layout on disk.
    OciLayout,
    /// An SBOM document.
    Sbom,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Directory => "a source directory",
            TargetKind::OciLayout => "an OCI image layout",
            TargetKind::Sbom => "an SBOM",
        })
    }
}

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanTarget {
    /// A source directory.
    Directory(PathBuf),
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`):
    /// the currency between builders, scanners and registries.
    OciLayout(PathBuf),
    /// An SBOM file (CycloneDX or SPDX).
    Sbom(PathBuf),
}

impl ScanTarget {
    /// Its kind.
    pub fn kind(&self) -> TargetKind {
        match self {
            ScanTarget::Directory(_) => TargetKind::Directory,
            ScanTarget::OciLayout(_) => TargetKind::OciLayout,
            ScanTarget::Sbom(_) => TargetKind::Sbom,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        match self {
            ScanTarget::Directory(p) | ScanTarget::OciLayout(p) | ScanTarget::Sbom(p) => p,
        }
    }
}

/// A scanner: SAST, SBOM, dependency or image scanning behind one interface.
///
/// # Contract
///
/// An implementation must:
///
/// - return a stable, lower-case [`name`](Scanner::name), which is also the
///   `scanner` of every [`Source`](crate::Source) it reports;
/// - list the [`TargetKind`]s it scans in [`targets`](Scanner::targets), and
///   answer any other kind with [`Error::UnsupportedTarget`] without running
///   anything;
/// - answer a target that does not exist with [`Error::TargetNotFound`];
/// - honour the context: stop (killing any tool it runs) and return
///   [`Error::Cancelled`] once the token is cancelled, [`Error::TimedOut`]
///   once the timeout has passed;
/// - report a missing tool as [`Error::ToolNotFound`], a failed one as
///   [`Error::ToolFailed`], output it cannot read as [`Error::ToolOutput`] —
///   never a panic, never an empty report in place of an error;
/// - keep credentials out of reports, errors and `Debug` output.
///
/// `paragon_core::conformance::scanner` (feature `conformance`) checks
/// these behaviours; every adapter's tests run it.
#[async_trait]
pub trait Scanner: fmt::Debug + Send + Sync + 'static {
    /// The scanner's name (`trivy`, `syft`…).
    fn name(&self) -> &str;

    /// The kinds of target it scans.
    fn targets(&self) -> &[TargetKind];

    /// Scans a target.
    ///
    /// # Errors
    ///
    /// See the trait's contract.
    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport>;
}

macro_rules! forward_scanner {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<T: Scanner + ?Sized> Scanner for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn targets(&self) -> &[TargetKind] {
                (**self).targets()
            }
            async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport> {
                (**self).scan(target, ctx).await
            }
        }
    )+};
}
forward_scanner!(Box<T>, Arc<T>, &'static T);

/// Checks the parts of the contract every scanner shares before it runs
/// anything: the kind is supported, the target exists, the run is not
/// cancelled. Adapters call it first.
///
/// # Errors
///
/// [`Error::UnsupportedTarget`], [`Error::TargetNotFound`], [`Error::Cancelled`].
pub fn check_target(scanner: &dyn Scanner, target: &ScanTarget, ctx: &CallContext) -> Result<()> {
    if !scanner.targets().contains(&target.kind()) {
        return Err(Error::UnsupportedTarget {
            scanner: scanner.name().to_owned(),
            target: target.kind(),
        });
    }
    if !target.path().exists() {
        return Err(Error::TargetNotFound {
            scanner: scanner.name().to_owned(),
            path: target.path().to_owned(),
        });
    }
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled {
            tool: scanner.name().to_owned(),
        });
    }
    Ok(())
}

/// A scanner that returns a fixed report: a real implementation of the
/// trait for engine tests and examples (it honours the contract, with no
/// tool behind it).
#[derive(Debug, Clone)]
pub struct CannedScanner {
    name: String,
    targets: Vec<TargetKind>,
    report: ScanReport,
    delay: Duration,
}

impl CannedScanner {
    /// A scanner named like the report's scanner, for every kind of target.
    pub fn new(report: ScanReport) -> CannedScanner {
        CannedScanner {
            name: report.scanner.name.clone(),
            targets: vec![
                TargetKind::Directory,
                TargetKind::OciLayout,
                TargetKind::Sbom,
            ],
            report,
            delay: Duration::ZERO,
        }
    }

    /// Limits the kinds of target it accepts.
    #[must_use]
    pub fn with_targets(mut self, targets: &[TargetKind]) -> CannedScanner {
        self.targets = targets.to_vec();
        self
    }

    /// Makes each scan take this long (to exercise timeouts and cancellation).
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> CannedScanner {
        self.delay = delay;
        self
    }
}

#[async_trait]
impl Scanner for CannedScanner {
    fn name(&self) -> &str {
        &self.name
    }

    fn targets(&self) -> &[TargetKind] {
        &self.targets
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport> {
        check_target(self, target, ctx)?;
        let limit = ctx.timeout.unwrap_or(Duration::MAX);
        tokio::select! {
            _ = tokio::time::sleep(self.delay) => {}
            _ = tokio::time::sleep(limit) => {
                return Err(Error::TimedOut { tool: self.name.clone(), after: limit });
            }
            _ = ctx.cancel.cancelled() => {
                return Err(Error::Cancelled { tool: self.name.clone() });
            }
        }
        let mut report = self.report.clone();
        report.target = Some(target.path().display().to_string());
        Ok(report)
    }
}
