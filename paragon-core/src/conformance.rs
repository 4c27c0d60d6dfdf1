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

/// The [`Registry`](crate::image::Registry) contract.
///
/// The checks create their own small images (see
/// [`image::testing`](crate::image::testing)) under `scratch` and push to
/// `repository`, which should be fresh for each run (a registry can be
/// shared between tests when each uses its own repository).
pub mod registry {
    use std::path::Path;

    use crate::error::Error;
    use crate::image::testing::minimal_image;
    use crate::image::{BuiltImage, Registry};
    use crate::oci::OciLayout;
    use crate::scanner::ScanContext;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    fn image(scratch: &Path, seed: &str) -> BuiltImage {
        let dir = scratch.join(format!("conformance-{seed}"));
        minimal_image(&dir, seed).expect("a minimal image can be written")
    }

    /// The name is non-empty and lower-case; the location is non-empty.
    pub async fn names_itself(r: &dyn Registry) {
        assert!(!r.name().is_empty(), "{r:?}: empty name");
        assert_eq!(r.name(), r.name().to_lowercase(), "{r:?}: upper-case name");
        assert!(!r.location().is_empty(), "{}: empty location", r.name());
    }

    /// A push lands under every tag at the layout's digest; a second push
    /// moves `latest` and leaves the first version's tag alone; pushing the
    /// same image again changes nothing.
    pub async fn pushes_tags_and_moves_latest(r: &dyn Registry, scratch: &Path, repository: &str) {
        let name = r.name().to_owned();
        let ctx = ScanContext::new();
        let a = image(scratch, "a");
        let b = image(scratch, "b");
        assert_ne!(a.digest, b.digest);
        let pushed = r
            .push(&a, repository, &tags(&["1.0.0", "latest"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        assert_eq!(pushed.digest, a.digest, "{name}: pushed digest");
        assert_eq!(pushed.repository, repository);
        for t in ["1.0.0", "latest"] {
            assert_eq!(
                r.resolve(repository, t).await.unwrap(),
                Some(a.digest.clone()),
                "{name}: {t} after the first push"
            );
        }
        r.push(&b, repository, &tags(&["1.0.1", "latest"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: second push failed: {e}"));
        assert_eq!(
            r.resolve(repository, "latest").await.unwrap(),
            Some(b.digest.clone())
        );
        assert_eq!(
            r.resolve(repository, "1.0.0").await.unwrap(),
            Some(a.digest.clone())
        );
        let again = r
            .push(&b, repository, &tags(&["1.0.1"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: repeated push failed: {e}"));
        assert_eq!(again.digest, b.digest);
        let listed = r.list_tags(repository).await.unwrap();
        assert_eq!(listed, tags(&["1.0.0", "1.0.1", "latest"]), "{name}: tags");
    }

    /// Unknown tags resolve to `None`; unknown repositories have no tags.
    pub async fn unknown_is_empty(r: &dyn Registry, repository: &str) {
        let name = r.name();
        assert_eq!(
            r.resolve(repository, "no-such-tag").await.unwrap(),
            None,
            "{name}: an unknown tag"
        );
        let missing = format!("{repository}-missing");
        assert_eq!(
            r.list_tags(&missing).await.unwrap(),
            Vec::<String>::new(),
            "{name}: an unknown repository"
        );
    }

    /// Invalid tags and repository names are refused before anything is
    /// pushed.
    pub async fn rejects_invalid_names(r: &dyn Registry, scratch: &Path, repository: &str) {
        let name = r.name();
        let a = image(scratch, "invalid");
        let ctx = ScanContext::new();
        match r.push(&a, repository, &tags(&["bad tag"]), &ctx).await {
            Err(Error::InvalidConfig { .. }) => {}
            other => panic!("{name}: an invalid tag should be refused, got {other:?}"),
        }
        match r.push(&a, "Bad/Name", &tags(&["1"]), &ctx).await {
            Err(Error::InvalidConfig { .. }) => {}
            other => panic!("{name}: an invalid repository should be refused, got {other:?}"),
        }
        assert!(
            r.list_tags(repository).await.unwrap().is_empty(),
            "{name}: a refused push created tags"
        );
    }

    /// An image whose layout lacks a blob is refused and no tag names it.
    pub async fn rejects_incomplete_layouts(r: &dyn Registry, scratch: &Path, repository: &str) {
        let name = r.name();
        let broken = image(scratch, "broken");
        let layout = OciLayout::open(&broken.layout).unwrap();
        std::fs::remove_file(layout.blob_path(&broken.config_digest)).unwrap();
        let res = r
            .push(&broken, repository, &tags(&["broken"]), &ScanContext::new())
            .await;
        assert!(res.is_err(), "{name}: an incomplete image was pushed");
        assert_eq!(
            r.resolve(repository, "broken").await.unwrap(),
            None,
            "{name}: a tag points at an incomplete image"
        );
    }

    /// A cancelled push fails with `Cancelled` and creates no tag.
    pub async fn honours_cancellation(r: &dyn Registry, scratch: &Path, repository: &str) {
        let name = r.name();
        let a = image(scratch, "cancelled");
        let ctx = ScanContext::new();
        ctx.cancel.cancel();
        match r.push(&a, repository, &tags(&["cancelled"]), &ctx).await {
            Err(e) if e.is_cancelled() => {}
            other => panic!("{name}: a cancelled push should fail, got {other:?}"),
        }
        assert_eq!(r.resolve(repository, "cancelled").await.unwrap(), None);
    }

    /// Deleting a tag removes it (others stay) or is `Unsupported`.
    pub async fn deletes_tags(r: &dyn Registry, scratch: &Path, repository: &str) {
        let name = r.name();
        let a = image(scratch, "delete");
        r.push(
            &a,
            repository,
            &tags(&["keep", "drop"]),
            &ScanContext::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        match r.delete_tag(repository, "drop").await {
            Ok(()) => {
                assert_eq!(r.resolve(repository, "drop").await.unwrap(), None, "{name}");
            }
            Err(Error::Unsupported { .. }) => {}
            Err(e) => panic!("{name}: delete_tag failed: {e}"),
        }
    }

    /// Every check, each on its own repository under `repository`.
    pub async fn all(r: &dyn Registry, scratch: &Path, repository: &str) {
        names_itself(r).await;
        pushes_tags_and_moves_latest(r, scratch, &format!("{repository}/push")).await;
        unknown_is_empty(r, &format!("{repository}/push")).await;
        rejects_invalid_names(r, scratch, &format!("{repository}/invalid")).await;
        rejects_incomplete_layouts(r, scratch, &format!("{repository}/broken")).await;
        honours_cancellation(r, scratch, &format!("{repository}/cancel")).await;
        deletes_tags(r, scratch, &format!("{repository}/delete")).await;
    }
}
