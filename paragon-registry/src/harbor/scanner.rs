//! [`HarborScanner`]: the `Scanner` plugin on Harbor's scans.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::plugin::build::BuiltImage;
use paragon_core::{CallContext, Error, Result, ScanReport, ScanTarget, Scanner, TargetKind};

use super::api::HarborApi;

/// Harbor as a scanner: asks Harbor to scan the image that a layout holds
/// (by its digest, in the configured repository, where it must have been
/// pushed), waits for the scan, and reads the vulnerability report.
#[derive(Debug, Clone)]
pub struct HarborScanner {
    pub(super) api: HarborApi,
    pub(super) repository: String,
    pub(super) reference: Option<String>,
    pub(super) poll: Duration,
    pub(super) timeout: Duration,
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
