//! Conformance suites for the plugin traits (feature `conformance`).
//!
//! Each function checks one behaviour the trait's contract requires and
//! panics, naming the adapter, when it is missing. Every adapter's tests
//! call `all` of its trait's module, so a new check reaches every adapter
//! at once. Where a behaviour is optional for a backend, `all` takes the
//! backend's `Capabilities`, and the suite checks what the backend claims
//! in both directions: a capability it has must work, one it lacks must be
//! refused as the trait documents (for instance [`Error::Unsupported`]).
//!
//! [`Error::Unsupported`]: crate::Error::Unsupported
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
    use crate::model::scan_report::ScanReport;
    use crate::plugin::context::CallContext;
    use crate::plugin::scan::{ScanTarget, Scanner, TargetKind};

    /// What a scanner does beyond what every scanner must.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Capabilities {
        /// Its report carries an SBOM (`ScanReport::sbom`); without it, the
        /// report carries none.
        pub sbom: bool,
    }

    impl Capabilities {
        /// A scanner that reports findings and no SBOM.
        pub const fn findings() -> Capabilities {
            Capabilities { sbom: false }
        }

        /// Sets whether reports carry an SBOM.
        #[must_use]
        pub const fn sbom(mut self, yes: bool) -> Capabilities {
            self.sbom = yes;
            self
        }
    }

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
            match s.scan(&target, &CallContext::new()).await {
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
            match s.scan(&target, &CallContext::new()).await {
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
        let ctx = CallContext::new();
        ctx.cancel.cancel();
        match s.scan(target, &ctx).await {
            Err(e) if e.is_cancelled() => {}
            other => panic!(
                "{}: scanning with a cancelled context gave {other:?}",
                s.name()
            ),
        }
        let ctx = CallContext::new();
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
        let ctx = CallContext::new().with_timeout(Duration::from_millis(1));
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

    /// A supported target scans, every source names the scanner, and the
    /// report carries an SBOM exactly when the scanner claims to make one.
    pub async fn scans_with(
        s: &dyn Scanner,
        target: &ScanTarget,
        capabilities: Capabilities,
    ) -> ScanReport {
        let report = scans(s, target).await;
        assert_eq!(
            report.sbom.is_some(),
            capabilities.sbom,
            "{}: SBOM in the report, against its capabilities {capabilities:?}",
            s.name()
        );
        report
    }

    /// A supported target scans, and every source names the scanner.
    pub async fn scans(s: &dyn Scanner, target: &ScanTarget) -> ScanReport {
        let report = s
            .scan(target, &CallContext::new())
            .await
            .unwrap_or_else(|e| panic!("{}: scanning {target:?} failed: {e}", s.name()));
        assert_eq!(
            report.scanner.name,
            s.name(),
            "report names another scanner"
        );
        for f in &report.findings {
            assert!(
                f.sources.iter().all(|src| *src.scanner == *s.name()),
                "{}: finding {} names another scanner",
                s.name(),
                f.id
            );
        }
        report
    }

    /// Every check above, on one supported target that takes over 1 ms.
    pub async fn all(
        s: &dyn Scanner,
        target: &ScanTarget,
        capabilities: Capabilities,
    ) -> ScanReport {
        names_itself(s).await;
        rejects_unsupported_targets(s, target.path()).await;
        rejects_missing_targets(s).await;
        honours_cancellation(s, target).await;
        honours_timeout(s, target).await;
        scans_with(s, target, capabilities).await
    }
}

/// The [`Registry`](crate::plugin::registry::Registry) contract.
///
/// The checks create their own small images (see
/// [`image::testing`](crate::plugin::build::testing)) under `scratch` and push to
/// `repository`, which should be fresh for each run (a registry can be
/// shared between tests when each uses its own repository).
pub mod registry {
    use std::path::Path;

    use crate::error::Error;
    use crate::model::oci::OciLayout;
    use crate::plugin::build::testing::minimal_image;
    use crate::plugin::build::BuiltImage;
    use crate::plugin::context::CallContext;
    use crate::plugin::registry::{Reference, Registry, Repository, Tag};

    /// What a registry does beyond what every registry must.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Capabilities {
        /// `delete_tag` removes one tag and leaves the others; without it,
        /// `delete_tag` answers [`Error::Unsupported`].
        pub delete_tags: bool,
        /// `create_tag` creates a tag only when it is absent; without it,
        /// `create_tag` answers [`Error::Unsupported`].
        pub create_tags: bool,
        /// `pull` copies an image into a layout; without it, `pull`
        /// answers [`Error::Unsupported`].
        pub pull: bool,
        /// `referrers` lists the manifests whose subject is an image;
        /// without it, `referrers` answers [`Error::Unsupported`].
        pub referrers: bool,
        /// `push_if` moves a tag only from the image the caller names;
        /// without it, `push_if` answers [`Error::Unsupported`] and
        /// writes nothing.
        pub conditional_pushes: bool,
    }

    impl Capabilities {
        /// Everything optional: tags can be deleted, created only when
        /// absent and moved only from a given image; images pulled;
        /// referrers listed.
        pub const fn full() -> Capabilities {
            Capabilities {
                delete_tags: true,
                create_tags: true,
                pull: true,
                referrers: true,
                conditional_pushes: true,
            }
        }

        /// Sets whether tags can be moved only from a given image.
        #[must_use]
        pub const fn conditional_pushes(mut self, yes: bool) -> Capabilities {
            self.conditional_pushes = yes;
            self
        }

        /// Sets whether referrers are listed.
        #[must_use]
        pub const fn referrers(mut self, yes: bool) -> Capabilities {
            self.referrers = yes;
            self
        }

        /// Sets whether images can be pulled.
        #[must_use]
        pub const fn pull(mut self, yes: bool) -> Capabilities {
            self.pull = yes;
            self
        }

        /// Sets whether single tags can be deleted.
        #[must_use]
        pub const fn delete_tags(mut self, yes: bool) -> Capabilities {
            self.delete_tags = yes;
            self
        }

        /// Sets whether tags can be created only when absent.
        #[must_use]
        pub const fn create_tags(mut self, yes: bool) -> Capabilities {
            self.create_tags = yes;
            self
        }
    }

    fn tags(t: &[&str]) -> Vec<Tag> {
        t.iter().map(|s| tag(s)).collect()
    }

    fn names(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    fn tag(t: &str) -> Tag {
        Tag::new(t).expect("the suite's tags are valid")
    }

    fn repo(name: &str) -> Repository {
        Repository::new(name).expect("a valid repository name for the suite")
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
        let repository = &repo(repository);
        let name = r.name().to_owned();
        let ctx = CallContext::new();
        let a = image(scratch, "a");
        let b = image(scratch, "b");
        assert_ne!(a.digest, b.digest);
        let pushed = r
            .push(&a, repository, &tags(&["1.0.0", "latest"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        assert_eq!(pushed.digest, a.digest, "{name}: pushed digest");
        assert_eq!(pushed.repository, repository.as_str());
        for t in ["1.0.0", "latest"] {
            assert_eq!(
                r.resolve(repository, &tag(t), &CallContext::new())
                    .await
                    .unwrap(),
                Some(a.digest.clone()),
                "{name}: {t} after the first push"
            );
        }
        r.push(&b, repository, &tags(&["1.0.1", "latest"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: second push failed: {e}"));
        assert_eq!(
            r.resolve(repository, &tag("latest"), &CallContext::new())
                .await
                .unwrap(),
            Some(b.digest.clone())
        );
        assert_eq!(
            r.resolve(repository, &tag("1.0.0"), &CallContext::new())
                .await
                .unwrap(),
            Some(a.digest.clone())
        );
        let again = r
            .push(&b, repository, &tags(&["1.0.1"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: repeated push failed: {e}"));
        assert_eq!(again.digest, b.digest);
        let listed = r.list_tags(repository, &CallContext::new()).await.unwrap();
        assert_eq!(listed, names(&["1.0.0", "1.0.1", "latest"]), "{name}: tags");
    }

    /// Unknown tags resolve to `None`; unknown repositories have no tags.
    pub async fn unknown_is_empty(r: &dyn Registry, repository: &str) {
        let repository = &repo(repository);
        let name = r.name();
        assert_eq!(
            r.resolve(repository, &tag("no-such-tag"), &CallContext::new())
                .await
                .unwrap(),
            None,
            "{name}: an unknown tag"
        );
        let missing = format!("{repository}-missing");
        assert_eq!(
            r.list_tags(&repo(&missing), &CallContext::new())
                .await
                .unwrap(),
            Vec::<String>::new(),
            "{name}: an unknown repository"
        );
    }

    /// An image whose layout lacks a blob is refused and no tag names it.
    pub async fn rejects_incomplete_layouts(r: &dyn Registry, scratch: &Path, repository: &str) {
        let repository = &repo(repository);
        let name = r.name();
        let broken = image(scratch, "broken");
        let layout = OciLayout::open(&broken.layout).unwrap();
        std::fs::remove_file(layout.blob_path(&broken.config_digest)).unwrap();
        let res = r
            .push(&broken, repository, &tags(&["broken"]), &CallContext::new())
            .await;
        assert!(res.is_err(), "{name}: an incomplete image was pushed");
        assert_eq!(
            r.resolve(repository, &tag("broken"), &CallContext::new())
                .await
                .unwrap(),
            None,
            "{name}: a tag points at an incomplete image"
        );
    }

    /// A cancelled push fails with `Cancelled` and creates no tag.
    pub async fn honours_cancellation(r: &dyn Registry, scratch: &Path, repository: &str) {
        let repository = &repo(repository);
        let name = r.name();
        let a = image(scratch, "cancelled");
        let ctx = CallContext::new();
        ctx.cancel.cancel();
        match r.push(&a, repository, &tags(&["cancelled"]), &ctx).await {
            Err(e) if e.is_cancelled() => {}
            other => panic!("{name}: a cancelled push should fail, got {other:?}"),
        }
        assert_eq!(
            r.resolve(repository, &tag("cancelled"), &CallContext::new())
                .await
                .unwrap(),
            None
        );
        // Every other call stops as well.
        let listed = r.list_tags(repository, &ctx).await;
        assert!(
            listed.as_ref().is_err_and(|e| e.is_cancelled()),
            "{name}: listing tags with a cancelled context gave {listed:?}"
        );
        let resolved = r.resolve(repository, &tag("cancelled"), &ctx).await;
        assert!(
            resolved.as_ref().is_err_and(|e| e.is_cancelled()),
            "{name}: resolving with a cancelled context gave {resolved:?}"
        );
        let deleted = r.delete_tag(repository, &tag("cancelled"), &ctx).await;
        assert!(
            deleted.as_ref().is_err_and(|e| e.is_cancelled()),
            "{name}: deleting a tag with a cancelled context gave {deleted:?}"
        );
    }

    /// With the capability, deleting a tag removes it and leaves the other
    /// tag of the same image, and deleting a tag that is not there is a
    /// not-found error; without it, `delete_tag` is `Unsupported` and the
    /// tag stays.
    pub async fn deletes_tags(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        let repository = &repo(repository);
        let name = r.name();
        let a = image(scratch, "delete");
        r.push(
            &a,
            repository,
            &tags(&["keep", "drop"]),
            &CallContext::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        let result = r
            .delete_tag(repository, &tag("drop"), &CallContext::new())
            .await;
        if capabilities.delete_tags {
            result.unwrap_or_else(|e| panic!("{name}: delete_tag failed: {e}"));
            assert_eq!(
                r.resolve(repository, &tag("drop"), &CallContext::new())
                    .await
                    .unwrap(),
                None,
                "{name}"
            );
            assert_eq!(
                r.resolve(repository, &tag("keep"), &CallContext::new())
                    .await
                    .unwrap(),
                Some(a.digest.clone()),
                "{name}: deleting one tag removed another"
            );
            assert_eq!(
                r.list_tags(repository, &CallContext::new()).await.unwrap(),
                names(&["keep"]),
                "{name}"
            );
            match r
                .delete_tag(repository, &tag("drop"), &CallContext::new())
                .await
            {
                Err(e) if e.is_not_found() => {}
                other => panic!("{name}: deleting a missing tag gave {other:?}"),
            }
        } else {
            match result {
                Err(Error::Unsupported { .. }) => {}
                other => panic!("{name}: claims no tag deletion, delete_tag gave {other:?}"),
            }
            assert_eq!(
                r.resolve(repository, &tag("drop"), &CallContext::new())
                    .await
                    .unwrap(),
                Some(a.digest.clone()),
                "{name}: an unsupported delete removed the tag"
            );
        }
    }

    /// With the capability, an image pushed without tags gets a tag from
    /// `create_tag` when the tag is absent (`true`), and a second image
    /// does not take it (`false`, the tag unmoved); without it,
    /// `create_tag` is `Unsupported`.
    pub async fn creates_tags_only_when_absent(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        let repository = &repo(repository);
        let name = r.name().to_owned();
        let ctx = CallContext::new();
        let (a, b) = (image(scratch, "create-a"), image(scratch, "create-b"));
        for img in [&a, &b] {
            r.push(img, repository, &[], &ctx)
                .await
                .unwrap_or_else(|e| panic!("{name}: a push without tags failed: {e}"));
        }
        assert!(
            r.list_tags(repository, &CallContext::new())
                .await
                .unwrap()
                .is_empty(),
            "{name}: a push without tags created tags"
        );
        let first = r
            .create_tag(repository, &tag("1.0.0"), &a.digest, &ctx)
            .await;
        if !capabilities.create_tags {
            match first {
                Err(Error::Unsupported { .. }) => return,
                other => panic!("{name}: claims no tag creation, create_tag gave {other:?}"),
            }
        }
        assert!(
            first.unwrap_or_else(|e| panic!("{name}: create_tag failed: {e}")),
            "{name}: an absent tag was not created"
        );
        let second = r
            .create_tag(repository, &tag("1.0.0"), &b.digest, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: create_tag failed: {e}"));
        assert!(!second, "{name}: a tag that exists was created again");
        assert_eq!(
            r.resolve(repository, &tag("1.0.0"), &CallContext::new())
                .await
                .unwrap(),
            Some(a.digest.clone()),
            "{name}: the tag moved"
        );
    }

    /// With the capability, `push_if` creates an absent tag when asked to
    /// find none, moves a tag from the image it names, and leaves a tag
    /// alone ([`Error::Conflict`]) when it names another image or when it
    /// was expected absent; without it, `push_if` is
    /// [`Error::Unsupported`] and creates no tag.
    pub async fn pushes_only_over_what_was_read(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        let repository = &repo(repository);
        let name = r.name().to_owned();
        let ctx = CallContext::new();
        let (a, b, c) = (
            image(scratch, "swap-a"),
            image(scratch, "swap-b"),
            image(scratch, "swap-c"),
        );
        let t = tag("sha256-swapped.sig");
        let first = r.push_if(&a, repository, &t, None, &ctx).await;
        if !capabilities.conditional_pushes {
            match first {
                Err(Error::Unsupported { .. }) => {}
                other => panic!("{name}: claims no conditional pushes, push_if gave {other:?}"),
            }
            assert_eq!(
                r.resolve(repository, &t, &ctx).await.unwrap(),
                None,
                "{name}: an unsupported push_if created the tag"
            );
            return;
        }
        first.unwrap_or_else(|e| panic!("{name}: push_if over no tag failed: {e}"));
        let held = || async {
            r.resolve(repository, &t, &CallContext::new())
                .await
                .unwrap()
        };
        assert_eq!(
            held().await,
            Some(a.digest.clone()),
            "{name}: push_if made no tag"
        );
        for (expected, what) in [(None, "no image"), (Some(&b.digest), "another image")] {
            let err = r
                .push_if(&c, repository, &t, expected, &ctx)
                .await
                .expect_err("the tag names another image");
            assert_eq!(
                err.kind(),
                crate::ErrorKind::Conflict,
                "{name}: push_if expecting {what}: {err}"
            );
            assert!(err.to_string().contains(t.as_str()), "{name}: {err}");
            assert_eq!(
                held().await,
                Some(a.digest.clone()),
                "{name}: the tag moved"
            );
        }
        r.push_if(&b, repository, &t, Some(&a.digest), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: push_if from the image held failed: {e}"));
        assert_eq!(
            held().await,
            Some(b.digest.clone()),
            "{name}: the tag did not move"
        );
    }

    /// With the capability, eight concurrent `create_tag` calls for one
    /// absent tag, each with its own image, give exactly one `true`, and
    /// the tag names that caller's image.
    pub async fn one_of_concurrent_creators_wins(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        let repository = &repo(repository);
        if !capabilities.create_tags {
            return;
        }
        let name = r.name().to_owned();
        let ctx = CallContext::new();
        let mut images = Vec::new();
        for i in 0..8 {
            let img = image(scratch, &format!("race-{i}"));
            r.push(&img, repository, &[], &ctx)
                .await
                .unwrap_or_else(|e| panic!("{name}: a push without tags failed: {e}"));
            images.push(img);
        }
        let wanted = tag("2.0.0");
        let tries = images
            .iter()
            .map(|img| r.create_tag(repository, &wanted, &img.digest, &ctx));
        let results = futures_util::future::join_all(tries).await;
        let mut winners = Vec::new();
        for (img, result) in images.iter().zip(results) {
            if result.unwrap_or_else(|e| panic!("{name}: a concurrent create_tag failed: {e}")) {
                winners.push(img.digest.clone());
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "{name}: {} of 8 concurrent creators were told they created the tag",
            winners.len()
        );
        assert_eq!(
            r.resolve(repository, &tag("2.0.0"), &CallContext::new())
                .await
                .unwrap(),
            Some(winners[0].clone()),
            "{name}: the tag does not name the winner's image"
        );
    }

    /// A pull by tag or by digest copies what was pushed, blob for blob,
    /// into a layout; an unknown tag or digest is `None`; a cancelled pull
    /// is [`Error::Cancelled`]. Without the capability, `pull` is
    /// [`Error::Unsupported`].
    pub async fn pulls_what_was_pushed(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        let repository = &repo(repository);
        let name = r.name().to_owned();
        let ctx = CallContext::new();
        let a = image(scratch, "pulled");
        r.push(&a, repository, &tags(&["2.0.0"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        let into = scratch.join(format!("pulled-{}", r.name()));
        let by_tag = Reference::Tag(tag("2.0.0"));
        if !capabilities.pull {
            let err = r.pull(repository, &by_tag, &into, &ctx).await.unwrap_err();
            assert!(matches!(err, Error::Unsupported { .. }), "{name}: {err}");
            return;
        }
        let source = OciLayout::open(&a.layout).expect("the pushed layout opens");
        let wanted = source.closure(&a.descriptor()).expect("the pushed closure");
        for reference in [by_tag, Reference::Digest(a.digest.clone())] {
            let pulled = r
                .pull(repository, &reference, &into, &ctx)
                .await
                .unwrap_or_else(|e| panic!("{name}: pull {reference} failed: {e}"))
                .unwrap_or_else(|| panic!("{name}: pull {reference} found nothing"));
            assert_eq!(pulled.digest, a.digest, "{name}: pulled {reference}");
            let layout = OciLayout::open(&into).expect("the pulled layout opens");
            for blob in &wanted {
                assert_eq!(
                    layout.read_blob(&blob.digest).ok(),
                    source.read_blob(&blob.digest).ok(),
                    "{name}: blob {} of {reference}",
                    blob.digest
                );
            }
        }
        for missing in [
            Reference::Tag(tag("9.9.9")),
            Reference::Digest(crate::model::oci::Digest::of(b"never pushed")),
        ] {
            let got = r
                .pull(repository, &missing, &scratch.join("pulled-missing"), &ctx)
                .await
                .unwrap_or_else(|e| panic!("{name}: pull {missing} failed: {e}"));
            assert!(got.is_none(), "{name}: pull {missing} found something");
        }
        let cancelled = CallContext::new();
        cancelled.cancel.cancel();
        let err = r
            .pull(
                repository,
                &Reference::Tag(tag("2.0.0")),
                &scratch.join("pulled-cancelled"),
                &cancelled,
            )
            .await
            .unwrap_err();
        assert!(err.is_cancelled(), "{name}: cancelled pull: {err}");
    }

    /// Artifacts pushed with an image as their subject are listed among
    /// its referrers with their artifact types and annotations, filtered by
    /// type when asked, each once however often it is pushed, and none lost
    /// when several are pushed at once; the image and its tags are left as
    /// they were; an image without any has none; a cancelled listing is
    /// [`Error::Cancelled`]. Without the capability, `referrers` is
    /// [`Error::Unsupported`].
    pub async fn lists_referrers(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        use crate::plugin::registry::referrers::{attach, Artifact, ARTIFACT_TYPE_CYCLONEDX};
        let repository = &repo(repository);
        let name = r.name().to_owned();
        let ctx = CallContext::new();
        let a = image(scratch, "referred");
        r.push(&a, repository, &tags(&["1.0.0"]), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        if !capabilities.referrers {
            let err = r
                .referrers(repository, &a.digest, None, &ctx)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Unsupported { .. }), "{name}: {err}");
            return;
        }
        async fn listed(
            r: &dyn Registry,
            repository: &Repository,
            digest: crate::model::oci::Digest,
            of: Option<&str>,
        ) -> Vec<crate::model::oci::Descriptor> {
            r.referrers(repository, &digest, of, &CallContext::new())
                .await
                .unwrap_or_else(|e| panic!("{}: referrers of {digest}: {e}", r.name()))
        }
        let list = |digest, of| listed(r, repository, digest, of);
        assert!(
            list(a.digest.clone(), None).await.is_empty(),
            "{name}: none yet"
        );
        let sbom = Artifact::new(ARTIFACT_TYPE_CYCLONEDX, a.descriptor())
            .with_blob(
                ARTIFACT_TYPE_CYCLONEDX,
                br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#.to_vec(),
            )
            .with_annotation("org.opencontainers.image.created", "2000-01-01T00:00:00Z");
        let other = Artifact::new("application/vnd.example.report", a.descriptor());
        let attached = attach(r, repository, &sbom, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: attach failed: {e}"));
        attach(r, repository, &other, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: attach failed: {e}"));
        attach(r, repository, &sbom, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: attach again failed: {e}"));
        let all = list(a.digest.clone(), None).await;
        assert_eq!(all.len(), 2, "{name}: {all:?}");
        let found = all
            .iter()
            .find(|d| d.digest == attached.digest)
            .unwrap_or_else(|| panic!("{name}: the SBOM is not listed: {all:?}"));
        assert_eq!(
            found.artifact_type.as_deref(),
            Some(ARTIFACT_TYPE_CYCLONEDX)
        );
        assert_eq!(
            found
                .annotations
                .get("org.opencontainers.image.created")
                .map(String::as_str),
            Some("2000-01-01T00:00:00Z"),
            "{name}: annotations are copied into the list"
        );
        assert!(all
            .iter()
            .any(|d| d.artifact_type.as_deref() == Some("application/vnd.example.report")));
        let only = list(a.digest.clone(), Some(ARTIFACT_TYPE_CYCLONEDX)).await;
        assert_eq!(only.len(), 1, "{name}: filtered: {only:?}");
        assert_eq!(only[0].digest, attached.digest);
        assert!(list(a.digest.clone(), Some("application/x-none"))
            .await
            .is_empty());
        assert_eq!(
            r.resolve(repository, &tag("1.0.0"), &ctx)
                .await
                .ok()
                .flatten(),
            Some(a.digest.clone()),
            "{name}: the image's tag is untouched"
        );
        if capabilities.pull {
            let into = scratch.join(format!("referrer-{name}"));
            let pulled = r
                .pull(
                    repository,
                    &Reference::Digest(attached.digest.clone()),
                    &into,
                    &ctx,
                )
                .await
                .unwrap_or_else(|e| panic!("{name}: pull of the SBOM: {e}"))
                .unwrap_or_else(|| panic!("{name}: the SBOM cannot be pulled by digest"));
            let manifest = OciLayout::open(&into)
                .and_then(|l| l.manifest(&pulled.digest))
                .expect("the pulled SBOM's manifest");
            assert_eq!(manifest.subject.map(|s| s.digest), Some(a.digest.clone()));
        }
        // Writers at once on one image: none loses its entry.
        let b = image(scratch, "referred-at-once");
        r.push(&b, repository, &[], &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: push failed: {e}"));
        let artifacts: Vec<Artifact> = (0..3)
            .map(|i| Artifact::new(format!("application/vnd.example.part{i}"), b.descriptor()))
            .collect();
        let results = futures_util::future::join_all(
            artifacts.iter().map(|x| attach(r, repository, x, &ctx)),
        )
        .await;
        for result in results {
            result.unwrap_or_else(|e| panic!("{name}: concurrent attach failed: {e}"));
        }
        let listed = list(b.digest.clone(), None).await;
        assert_eq!(listed.len(), 3, "{name}: concurrent writers: {listed:?}");
        assert!(list(crate::model::oci::Digest::of(b"no such image"), None)
            .await
            .is_empty());
        let cancelled = CallContext::new();
        cancelled.cancel.cancel();
        let err = r
            .referrers(repository, &a.digest, None, &cancelled)
            .await
            .unwrap_err();
        assert!(err.is_cancelled(), "{name}: cancelled referrers: {err}");
    }

    /// Every check, each on its own repository under `repository`.
    pub async fn all(
        r: &dyn Registry,
        scratch: &Path,
        repository: &str,
        capabilities: Capabilities,
    ) {
        let repository = &repo(repository);
        names_itself(r).await;
        pushes_tags_and_moves_latest(r, scratch, &format!("{repository}/push")).await;
        unknown_is_empty(r, &format!("{repository}/push")).await;
        rejects_incomplete_layouts(r, scratch, &format!("{repository}/broken")).await;
        honours_cancellation(r, scratch, &format!("{repository}/cancel")).await;
        deletes_tags(r, scratch, &format!("{repository}/delete"), capabilities).await;
        creates_tags_only_when_absent(r, scratch, &format!("{repository}/create"), capabilities)
            .await;
        one_of_concurrent_creators_wins(r, scratch, &format!("{repository}/race"), capabilities)
            .await;
        pushes_only_over_what_was_read(r, scratch, &format!("{repository}/swap"), capabilities)
            .await;
        pulls_what_was_pushed(r, scratch, &format!("{repository}/pull"), capabilities).await;
        lists_referrers(r, scratch, &format!("{repository}/referrers"), capabilities).await;
    }
}

/// The [`Builder`](crate::plugin::build::Builder) contract.
///
/// The checks write their own build contexts under `scratch`: a
/// `Containerfile` (`FROM scratch`, `COPY . /app`) and a few files, one of
/// them 8 MiB of incompressible bytes so that a build takes longer than the
/// 1 ms the timeout check allows.
pub mod builder {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use crate::error::Error;
    use crate::model::oci::OciLayout;
    use crate::plugin::build::{BuildSpec, Builder, BuiltImage};
    use crate::plugin::context::CallContext;

    /// What a builder does beyond what every builder must.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Capabilities {
        /// The same context and spec build to the same digest, every time.
        pub reproducible: bool,
    }

    impl Capabilities {
        /// Everything optional: builds are reproducible.
        pub const fn full() -> Capabilities {
            Capabilities { reproducible: true }
        }

        /// Sets whether builds are reproducible.
        #[must_use]
        pub const fn reproducible(mut self, yes: bool) -> Capabilities {
            self.reproducible = yes;
            self
        }
    }

    /// Writes a build context at `dir` whose files depend on `seed`.
    fn context(dir: &Path, seed: &str) -> PathBuf {
        std::fs::create_dir_all(dir.join("public")).expect("a context directory");
        std::fs::write(dir.join("Containerfile"), "FROM scratch\nCOPY . /app\n")
            .expect("a Containerfile");
        std::fs::write(dir.join("public/index.html"), format!("<h1>{seed}</h1>\n"))
            .expect("a context file");
        // 8 MiB that no compressor shrinks (xorshift; the same every run).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut big = Vec::with_capacity(8 << 20);
        while big.len() < 8 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            big.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(dir.join("public/data.bin"), big).expect("a context file");
        dir.to_owned()
    }

    fn spec(scratch: &Path, name: &str, seed: &str) -> BuildSpec {
        let context = context(&scratch.join(format!("builder-{name}-context")), seed);
        BuildSpec::new(context, scratch.join(format!("builder-{name}-layout"))).with_ref_name(seed)
    }

    /// The name is non-empty, lower-case and stable.
    pub async fn names_itself(b: &dyn Builder) {
        let name = b.name();
        assert!(!name.is_empty(), "{b:?}: empty name");
        assert_eq!(name, name.to_lowercase(), "{b:?}: upper-case name");
        assert_eq!(b.name(), name, "{b:?}: the name must be stable");
    }

    /// A build writes an OCI layout at the spec's output naming the image
    /// by the spec's ref name; the returned image is what the layout holds,
    /// and every blob it needs is there and matches its digest.
    pub async fn builds_a_layout(b: &dyn Builder, scratch: &Path) -> BuiltImage {
        let name = b.name().to_owned();
        let spec = spec(scratch, "layout", "1.0.0");
        let image = b
            .build(&spec, &CallContext::new())
            .await
            .unwrap_or_else(|e| panic!("{name}: build failed: {e}"));
        assert_eq!(
            image.layout, spec.output,
            "{name}: the image is not at the output"
        );
        assert_eq!(image.ref_name, "1.0.0", "{name}: ref name");
        let read = BuiltImage::from_layout(&spec.output, Some("1.0.0"))
            .unwrap_or_else(|e| panic!("{name}: the layout does not hold the image: {e}"));
        assert_eq!(read.digest, image.digest, "{name}: digest");
        assert_eq!(read.config_digest, image.config_digest, "{name}: config");
        let layout = OciLayout::open(&spec.output).expect("the layout opens");
        for blob in layout
            .closure(&image.descriptor())
            .expect("every blob is present")
        {
            layout
                .verified_blob_file(&blob.digest)
                .unwrap_or_else(|e| panic!("{name}: blob {}: {e}", blob.digest));
        }
        layout
            .verified_blob_file(&image.digest)
            .unwrap_or_else(|e| panic!("{name}: manifest: {e}"));
        image
    }

    /// A changed source gives another digest; with the capability, the same
    /// source built again (into another layout) gives the same digest.
    pub async fn digests_follow_the_source(
        b: &dyn Builder,
        scratch: &Path,
        capabilities: Capabilities,
    ) {
        let name = b.name().to_owned();
        let ctx = CallContext::new();
        let build = |spec: BuildSpec| {
            let ctx = ctx.clone();
            let name = name.clone();
            async move {
                b.build(&spec, &ctx)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: build failed: {e}"))
                    .digest
            }
        };
        let first = build(spec(scratch, "seed-a", "a")).await;
        let other = build(spec(scratch, "seed-b", "b")).await;
        assert_ne!(
            first, other,
            "{name}: another source built to the same digest"
        );
        if capabilities.reproducible {
            let again = build(spec(scratch, "seed-a-again", "a")).await;
            assert_eq!(first, again, "{name}: claims reproducible builds");
        }
    }

    /// A context that does not exist is a not-found error naming it.
    pub async fn rejects_missing_contexts(b: &dyn Builder, scratch: &Path) {
        let missing = scratch.join("builder-no-such-context");
        let spec = BuildSpec::new(&missing, scratch.join("builder-missing-layout"));
        match b.build(&spec, &CallContext::new()).await {
            Err(e) if e.is_not_found() => assert!(
                e.to_string().contains("builder-no-such-context"),
                "{}: the error does not name the context: {e}",
                b.name()
            ),
            other => panic!("{}: a missing context gave {other:?}", b.name()),
        }
    }

    /// A cancelled context stops the build with `Cancelled`, and the layout
    /// names no image.
    pub async fn honours_cancellation(b: &dyn Builder, scratch: &Path) {
        let spec = spec(scratch, "cancelled", "cancelled");
        let ctx = CallContext::new();
        ctx.cancel.cancel();
        match b.build(&spec, &ctx).await {
            Err(e) if e.is_cancelled() => {}
            other => panic!(
                "{}: building with a cancelled context gave {other:?}",
                b.name()
            ),
        }
        assert!(
            BuiltImage::from_layout(&spec.output, Some("cancelled")).is_err(),
            "{}: a cancelled build left an image",
            b.name()
        );
    }

    /// A 1 ms timeout stops the build with `TimedOut`, promptly.
    pub async fn honours_timeout(b: &dyn Builder, scratch: &Path) {
        let spec = spec(scratch, "timeout", "timeout");
        let ctx = CallContext::new().with_timeout(Duration::from_millis(1));
        let started = Instant::now();
        match b.build(&spec, &ctx).await {
            Err(Error::TimedOut { after, .. }) => {
                assert_eq!(after, Duration::from_millis(1), "{}", b.name());
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{}: slow to stop ({:?})",
                    b.name(),
                    started.elapsed()
                );
            }
            other => panic!("{}: a 1 ms timeout gave {other:?}", b.name()),
        }
    }

    /// Every check, each in its own directories under `scratch`.
    pub async fn all(b: &dyn Builder, scratch: &Path, capabilities: Capabilities) -> BuiltImage {
        names_itself(b).await;
        rejects_missing_contexts(b, scratch).await;
        honours_cancellation(b, scratch).await;
        honours_timeout(b, scratch).await;
        digests_follow_the_source(b, scratch, capabilities).await;
        builds_a_layout(b, scratch).await
    }
}

/// The [`GitOpsTarget`](crate::plugin::deploy::GitOpsTarget) contract. The target
/// must have at least two environments and start with none of them running
/// `application`'s image.
pub mod gitops {
    use crate::error::Error;
    use crate::model::oci::Digest;
    use crate::plugin::context::CallContext;
    use crate::plugin::deploy::{Deployment, GitOpsTarget, GitOpsTargetExt, Release};

    const REPOSITORY: &str = "registry.example/conformance/app";

    fn envs(t: &dyn GitOpsTarget) -> (String, String) {
        let e = t.environments();
        assert!(
            e.len() >= 2,
            "{}: needs two environments, has {e:?}",
            t.name()
        );
        (e[0].clone(), e[1].clone())
    }

    fn digest(seed: &str) -> Digest {
        Digest::of(seed.as_bytes())
    }

    /// The name is non-empty and lower-case; the location is non-empty.
    pub async fn names_itself(t: &dyn GitOpsTarget) {
        assert!(!t.name().is_empty(), "{t:?}: empty name");
        assert_eq!(t.name(), t.name().to_lowercase(), "{t:?}: upper-case name");
        assert!(!t.location().is_empty(), "{}: empty location", t.name());
    }

    /// A deploy is read back by `current`; the change names the previous
    /// image; deploying the same release again commits nothing; a tag that
    /// looks like a number stays a string.
    pub async fn deploys_and_reads_back(t: &dyn GitOpsTarget, application: &str) {
        let name = t.name().to_owned();
        let ctx = CallContext::new();
        let (env, _) = envs(t);
        let first = Release::new(application, &env, REPOSITORY, "1.20")
            .with_digest(digest("conformance-1"));
        let d = t
            .deploy(&first, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: deploy failed: {e}"));
        let change = d
            .change()
            .unwrap_or_else(|| panic!("{name}: the first deploy changed nothing"))
            .clone();
        assert_eq!(change.environment, env, "{name}");
        assert_eq!(change.current, first.deployed(), "{name}");
        assert!(!change.commit.is_empty(), "{name}: empty commit id");
        let now = t.current(&env, &ctx).await.unwrap();
        assert_eq!(now, Some(first.deployed()), "{name}: current after deploy");

        let again = t.deploy(&first, &ctx).await.unwrap();
        match again {
            Deployment::Unchanged { commit, .. } => {
                assert_eq!(commit, change.commit, "{name}: the branch moved")
            }
            Deployment::Changed(c) => panic!("{name}: the same release committed {}", c.commit),
        }

        let second = Release::new(application, &env, REPOSITORY, "1.21.0")
            .with_digest(digest("conformance-2"));
        let d = t.deploy(&second, &ctx).await.unwrap();
        let c = d.change().expect("a new tag is a change");
        assert_eq!(c.previous, Some(first.deployed()), "{name}: previous");
        assert_eq!(
            t.current(&env, &ctx).await.unwrap(),
            Some(second.deployed())
        );
    }

    /// `promote` carries the repository, tag and digest of one environment
    /// to the next.
    pub async fn promotes_exactly(t: &dyn GitOpsTarget, application: &str) {
        let name = t.name().to_owned();
        let ctx = CallContext::new();
        let (from, to) = envs(t);
        let release = Release::new(application, &from, REPOSITORY, "2.0.0")
            .with_digest(digest("conformance-promote"));
        t.deploy(&release, &ctx).await.unwrap();
        let d = t
            .promote(application, &from, &to, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: promote failed: {e}"));
        assert!(d.change().is_some(), "{name}: promotion changed nothing");
        assert_eq!(
            t.current(&to, &ctx).await.unwrap(),
            t.current(&from, &ctx).await.unwrap(),
            "{name}: {to} does not run what {from} runs"
        );
    }

    /// A rollback commits on top and restores the previous image.
    pub async fn rolls_back(t: &dyn GitOpsTarget, application: &str) {
        let name = t.name().to_owned();
        let ctx = CallContext::new();
        let (env, _) = envs(t);
        let before = Release::new(application, &env, REPOSITORY, "3.0.0")
            .with_digest(digest("conformance-before"));
        t.deploy(&before, &ctx).await.unwrap();
        let bad = Release::new(application, &env, REPOSITORY, "3.0.1")
            .with_digest(digest("conformance-bad"));
        let d = t.deploy(&bad, &ctx).await.unwrap();
        let change = d.change().expect("a new tag is a change").clone();
        let r = t
            .rollback(&change, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{name}: rollback failed: {e}"));
        let revert = r.change().expect("a rollback commits");
        assert_ne!(revert.commit, change.commit, "{name}: no new commit");
        assert_eq!(
            t.current(&env, &ctx).await.unwrap(),
            Some(before.deployed()),
            "{name}: the previous image is not back"
        );
    }

    /// Unknown environments and invalid tags are typed errors.
    pub async fn rejects_bad_releases(t: &dyn GitOpsTarget, application: &str) {
        let name = t.name().to_owned();
        let ctx = CallContext::new();
        let (env, _) = envs(t);
        let unknown = Release::new(application, "no-such-env", REPOSITORY, "1.0.0");
        match t.deploy(&unknown, &ctx).await {
            Err(Error::UnknownEnvironment { environment, .. }) => {
                assert_eq!(environment, "no-such-env", "{name}")
            }
            other => panic!("{name}: an unknown environment gave {other:?}"),
        }
        assert!(
            matches!(
                t.current("no-such-env", &ctx).await,
                Err(Error::UnknownEnvironment { .. })
            ),
            "{name}: current of an unknown environment"
        );
        let bad = Release::new(application, &env, REPOSITORY, "bad tag: yes");
        assert!(
            matches!(t.deploy(&bad, &ctx).await, Err(Error::InvalidConfig { .. })),
            "{name}: an invalid tag was accepted"
        );
    }

    /// Every check.
    pub async fn all(t: &dyn GitOpsTarget, application: &str) {
        names_itself(t).await;
        rejects_bad_releases(t, application).await;
        deploys_and_reads_back(t, application).await;
        promotes_exactly(t, application).await;
        rolls_back(t, application).await;
    }
}

pub mod faults;
