//! Conformance suites for the plugin traits (feature `conformance`).
//!
//! Each function checks one behaviour the trait's contract requires and
//! panics, naming the adapter, when it is missing. Every adapter's tests
//! call all of them, so a new check reaches every adapter at once.
//!
//! ```toml
//! [dev-dependencies]
//! paragon-core = { version = "0.1", features = ["conformance"] }
//! ```

/// The [`Scanner`](crate::Scanner) contract.
pub mod scanner {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use crate::error::Error;
    use crate::report::ScanReport;
    use crate::scanner::{ScanContext, ScanTarget, Scanner, TargetKind};

    /// The name is non-empty, lower-case and stable.
    pub async fn names_itself(s: &dyn Scanner) {
        let name = s.name();
        assert!(!name.is_empty(), "{s:?}: empty name");
        assert_eq!(
            name,
            name.to_lowercase(),
            "{s:?}: the name must be lower-case"
        );
        assert_eq!(s.name(), name, "{s:?}: the name must be stable");
        assert!(!s.targets().is_empty(), "{name}: scans no kind of target");
    }

    /// Kinds it does not list are refused with `UnsupportedTarget`, at once.
    /// `existing` is any existing path (a kind's check must come first).
    pub async fn rejects_unsupported_targets(s: &dyn Scanner, existing: &Path) {
        for (kind, target) in [
            (
                TargetKind::Directory,
                ScanTarget::Directory(existing.to_owned()),
            ),
            (
                TargetKind::OciLayout,
                ScanTarget::OciLayout(existing.to_owned()),
            ),
            (TargetKind::Sbom, ScanTarget::Sbom(existing.to_owned())),
        ] {
            if s.targets().contains(&kind) {
                continue;
            }
            match s.scan(&target, &ScanContext::new()).await {
                Err(Error::UnsupportedTarget { target: k, .. }) => assert_eq!(k, kind),
                other => panic!("{}: {kind} should be unsupported, got {other:?}", s.name()),
            }
        }
    }

    /// A missing target is `TargetNotFound`, for every kind it scans.
    pub async fn rejects_missing_targets(s: &dyn Scanner) {
        let missing = Path::new("/nonexistent/paragon-conformance/target");
        for kind in s.targets() {
            let target = match kind {
                TargetKind::Directory => ScanTarget::Directory(missing.to_owned()),
                TargetKind::OciLayout => ScanTarget::OciLayout(missing.to_owned()),
                TargetKind::Sbom => ScanTarget::Sbom(missing.to_owned()),
            };
            match s.scan(&target, &ScanContext::new()).await {
                Err(e) if e.is_not_found() => {
                    assert!(
                        e.to_string().contains("/nonexistent/paragon-conformance"),
                        "{e}"
                    );
                }
                other => panic!("{}: a missing {kind} gave {other:?}", s.name()),
            }
        }
    }

    /// A cancelled context stops the scan with `Cancelled`, promptly — both
    /// when cancelled before the scan and while it runs (a scan that ends
    /// within 100 ms may finish instead).
    pub async fn honours_cancellation(s: &dyn Scanner, target: &ScanTarget) {
        let ctx = ScanContext::new();
        ctx.cancel.cancel();
        match s.scan(target, &ctx).await {
            Err(e) if e.is_cancelled() => {}
            other => panic!(
                "{}: scanning with a cancelled context gave {other:?}",
                s.name()
            ),
        }
        let ctx = ScanContext::new();
        let cancel = ctx.cancel.clone();
        let started = Instant::now();
        let canceller = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cancel.cancel();
        };
        let (result, ()) = tokio::join!(s.scan(target, &ctx), canceller);
        match result {
            Err(e) if e.is_cancelled() => assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}: took {:?} to stop",
                s.name(),
                started.elapsed()
            ),
            // A scan that is over (nearly) as soon as it starts cannot be
            // cancelled midway; cancellation matters for long scans.
            Ok(_) if started.elapsed() < Duration::from_millis(100) => {}
            other => panic!("{}: cancelling mid-scan gave {other:?}", s.name()),
        }
    }

    /// A timeout shorter than the scan stops it with `TimedOut`. The target
    /// must take the scanner longer than 1 ms.
    pub async fn honours_timeout(s: &dyn Scanner, target: &ScanTarget) {
        let ctx = ScanContext::new().with_timeout(Duration::from_millis(1));
        let started = Instant::now();
        match s.scan(target, &ctx).await {
            Err(Error::TimedOut { after, .. }) => {
                assert_eq!(after, Duration::from_millis(1));
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "{}: slow to stop",
                    s.name()
                );
            }
            other => panic!("{}: a 1 ms timeout gave {other:?}", s.name()),
        }
    }

    /// A supported target scans, and every source names the scanner.
    pub async fn scans(s: &dyn Scanner, target: &ScanTarget) -> ScanReport {
        let report = s
            .scan(target, &ScanContext::new())
            .await
            .unwrap_or_else(|e| panic!("{}: scanning {target:?} failed: {e}", s.name()));
        assert_eq!(
            report.scanner.name,
            s.name(),
            "report names another scanner"
        );
        for f in &report.findings {
            assert!(
                f.sources.iter().all(|src| src.scanner == s.name()),
                "{}: finding {} names another scanner",
                s.name(),
                f.id
            );
        }
        report
    }

    /// Every check above, on one supported target that takes over 1 ms.
    pub async fn all(s: &dyn Scanner, target: &ScanTarget) -> ScanReport {
        names_itself(s).await;
        rejects_unsupported_targets(s, target.path()).await;
        rejects_missing_targets(s).await;
        honours_cancellation(s, target).await;
        honours_timeout(s, target).await;
        scans(s, target).await
    }
}
