//! The Scanner trait through `Box<dyn _>` and `Arc<dyn _>`, and the
//! conformance suite on the canned scanner.

use std::sync::Arc;
use std::time::Duration;

use paragon_core::conformance;
use paragon_core::{
    CannedScanner, Finding, FindingKind, ScanReport, ScanTarget, Scanner, ScannerInfo, Severity,
    Source, TargetKind,
};

const FINDINGS: conformance::scanner::Capabilities = conformance::scanner::Capabilities::findings();

fn canned() -> CannedScanner {
    let mut r = ScanReport::new(ScannerInfo::new("canned", Some("1.0")));
    let mut f = Finding::new(FindingKind::Secret, "github-pat", Severity::Critical);
    f.sources
        .push(Source::new("canned", Severity::Critical, None));
    r.findings.push(f);
    CannedScanner::new(r)
        .with_targets(&[TargetKind::Directory])
        .with_delay(Duration::from_millis(50))
}

#[tokio::test]
async fn canned_scanner_conforms_behind_box_and_arc() {
    let dir = tempfile::tempdir().unwrap();
    let target = ScanTarget::Directory(dir.path().to_owned());
    let boxed: Box<dyn Scanner> = Box::new(canned());
    let report = conformance::scanner::all(boxed.as_ref(), &target, FINDINGS).await;
    assert_eq!(report.findings.len(), 1);
    let shared: Arc<dyn Scanner> = Arc::new(canned());
    conformance::scanner::all(&shared, &target, FINDINGS).await;
    conformance::scanner::all(&Box::new(canned()), &target, FINDINGS).await;
}
