//! The [`Pipeline`]: the plugins composed into the delivery path: SAST and
//! SBOM, build, scans of the image, the gate, push with a version and
//! `latest`, then a GitOps update and post-deploy checks, environment by
//! environment.
//!
//! ```text
//! source ─► pre-build scans ─► build ─► post-build scans ─► gate ─► push ─► deploy dev ─► checks ─► deploy test …
//!           (concurrently)              (concurrently)     (policy) (version, latest)  (GitOpsTarget) (Check)
//! ```
//!
//! A failed gate stops the run before anything is pushed or committed; a
//! scanner's error fails the run unless the scanner is optional (then it
//! is a warning); a failed check stops promotion and, when asked, rolls
//! the environment back with a revert commit. Every step runs under the
//! step timeout and the run's cancellation (which stops running tools).
//! The run answers a [`RunRecord`] and streams [`Event`]s.
//!
//! ```
//! # fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! # block_on(async {
//! use paragon_core::plugin::build::testing::MinimalBuilder;
//! use paragon_core::pipeline::{Pipeline, VersionStrategy};
//! use paragon_core::{CannedScanner, MemoryGitOps, MemoryRegistry, Registry, CallContext};
//! use paragon_core::{ScanReport, ScannerInfo};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("main.go"), "package main\n").unwrap();
//! let registry = MemoryRegistry::new();
//! let gitops = MemoryGitOps::new(["dev", "prod"]);
//! let sast = CannedScanner::new(ScanReport::new(ScannerInfo::new("sast", None::<String>)));
//! let pipeline = Pipeline::builder("shop", dir.path())
//!     .pre_build(sast)
//!     .builder(MinimalBuilder)
//!     .registry(registry.clone(), "shop/app")
//!     .version(VersionStrategy::explicit("1.4.0")?)
//!     .environment("dev", gitops.clone())
//!     .build()?;
//! let ctx = CallContext::new();
//! let record = pipeline.run(&ctx).await;
//! assert!(record.succeeded(), "{record:?}");
//! assert_eq!(registry.list_tags(&"shop/app".parse()?, &ctx).await?, ["1.4.0", "latest"]);
//! # Ok::<(), paragon_core::Error>(())
//! # }).unwrap();
//! ```

mod record;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::instrument::WithSubscriber as _;
use tracing::Instrument as _;

mod attest;
pub use attest::{BUILD_TYPE, PREDICATE_CYCLONEDX, PREDICATE_SLSA_PROVENANCE, PREDICATE_VERDICT};
pub use record::{
    AttestationRecord, CheckRecord, DeploymentRecord, Event, Metrics, Outcome, PushRecord,
    ReferrerRecord, RunRecord, ScannerRecord, SignatureRecord, Stage, StageRecord,
};

use crate::error::{Error, Result};
use crate::gate::policy::{Policy, Verdict};
use crate::merge::Merger;
use crate::model::oci::Digest;
use crate::model::report::{Report, Summary};
use crate::model::scan_report::ScanReport;
use crate::plugin::build::{BuildSpec, Builder, BuiltImage};
use crate::plugin::check::{Check, CheckResult, CheckTarget};
use crate::plugin::context::CallContext;
use crate::plugin::deploy::{Deployment, GitOpsTarget, Release};
use crate::plugin::notify::Notifier;
use crate::plugin::registry::{Pushed, Registry, Repository, Tag};
use crate::plugin::scan::{ScanTarget, Scanner};
use crate::plugin::secrets::SecretSource;
use record::millis;

/// How the release's version is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionStrategy {
    /// This version.
    Explicit(semver::Version),
    /// One more than the highest semantic-version tag in the repository
    /// (tags may start with `v`; others are ignored); from `0.0.0` when
    /// there is none.
    Next(Bump),
}

/// Which part of the version moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bump {
    /// `1.2.3` → `1.2.4`.
    Patch,
    /// `1.2.3` → `1.3.0`.
    Minor,
    /// `1.2.3` → `2.0.0`.
    Major,
}

impl VersionStrategy {
    /// An explicit version.
    ///
    /// # Errors
    /// [`Error::Pipeline`] when `v` is not a semantic version.
    pub fn explicit(v: &str) -> Result<VersionStrategy> {
        semver::Version::parse(v.trim_start_matches('v'))
            .map(VersionStrategy::Explicit)
            .map_err(|e| Error::Pipeline {
                message: format!("`{v}` is not a semantic version: {e}"),
            })
    }

    /// The version given the repository's tags.
    pub fn resolve(&self, tags: &[String]) -> semver::Version {
        match self {
            VersionStrategy::Explicit(v) => v.clone(),
            VersionStrategy::Next(bump) => {
                let mut v = tags
                    .iter()
                    .filter_map(|t| semver::Version::parse(t.trim_start_matches('v')).ok())
                    .max()
                    .unwrap_or_else(|| semver::Version::new(0, 0, 0));
                v.pre = semver::Prerelease::EMPTY;
                v.build = semver::BuildMetadata::EMPTY;
                match bump {
                    Bump::Patch => v.patch += 1,
                    Bump::Minor => {
                        v.minor += 1;
                        v.patch = 0;
                    }
                    Bump::Major => {
                        v.major += 1;
                        v.minor = 0;
                        v.patch = 0;
                    }
                }
                v
            }
        }
    }
}

#[derive(Debug, Clone)]
struct ScannerSlot {
    scanner: Arc<dyn Scanner>,
    optional: bool,
}

impl ScannerSlot {
    fn new(scanner: impl Scanner, optional: bool) -> ScannerSlot {
        ScannerSlot {
            scanner: Arc::new(scanner),
            optional,
        }
    }
}

/// One environment: where its release is written and what checks it.
#[derive(Debug, Clone)]
struct EnvironmentSlot {
    name: String,
    target: Arc<dyn GitOpsTarget>,
    checks: Vec<Arc<dyn Check>>,
    rollback: bool,
}

/// Builds a [`Pipeline`].
#[derive(Debug)]
#[must_use]
pub struct PipelineBuilder {
    application: String,
    source: PathBuf,
    work_dir: Option<PathBuf>,
    pre: Vec<ScannerSlot>,
    post: Vec<ScannerSlot>,
    builder: Option<Arc<dyn Builder>>,
    spec: Option<BuildSpec>,
    policy: Policy,
    baseline: Option<Report>,
    registry: Option<(Arc<dyn Registry>, String)>,
    /// The repository of `registry`, checked by [`build`](Self::build).
    repository: Option<Repository>,
    image_repository: Option<String>,
    version: VersionStrategy,
    latest: bool,
    overwrite_version: bool,
    revision: Option<String>,
    /// `revision` as a tag, checked by [`build`](Self::build).
    revision_tag: Option<Tag>,
    environments: Vec<EnvironmentSlot>,
    notifiers: Vec<Arc<dyn Notifier>>,
    step_timeout: Option<Duration>,
    events: Option<UnboundedSender<Event>>,
    secrets: Option<Arc<dyn SecretSource>>,
    signer: Option<Arc<dyn crate::plugin::sign::Signer>>,
    verifier: Option<Arc<dyn crate::plugin::sign::Verifier>>,
    require_attestations: bool,
    attach_sbom: Option<bool>,
    signature_format: crate::plugin::sign::SignatureFormat,
}

impl PipelineBuilder {
    /// Signs the pushed image with `signer` as cosign does (a manifest
    /// tagged `sha256-<hex>.sig` in the same repository, see
    /// [`cosign`](crate::plugin::sign::cosign)), as part of the push: when
    /// signing fails, the push stage fails and nothing is deployed.
    pub fn sign_with(mut self, signer: impl crate::plugin::sign::Signer) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// Deploys no environment unless the pushed image carries a signature
    /// that `verifier` accepts, over a payload naming its digest: checked
    /// after the push, before the first GitOps commit. A failed check
    /// fails the deploy stage with an error naming the digest, what was
    /// missing or invalid, and the accepted keys.
    pub fn verify_with(mut self, verifier: impl crate::plugin::sign::Verifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// With [`verify_with`](Self::verify_with), also requires before the
    /// deploy a valid SLSA provenance attestation
    /// ([`PREDICATE_SLSA_PROVENANCE`]) and a verdict attestation
    /// ([`PREDICATE_VERDICT`]) that says the gate passed, both signed by
    /// an accepted key (a signing pipeline makes both).
    pub fn require_attestations(mut self, yes: bool) -> Self {
        self.require_attestations = yes;
        self
    }

    /// Attaches the image's CycloneDX SBOM (from a post-build scanner) to
    /// the pushed image as an OCI 1.1 artifact whose subject is the image
    /// ([`referrers`](crate::plugin::registry::referrers)), right after
    /// the push: registries list it among the image's referrers. On by
    /// default when the pipeline signs; a failed attachment fails the push
    /// stage.
    pub fn attach_sbom(mut self, yes: bool) -> Self {
        self.attach_sbom = Some(yes);
        self
    }

    /// Where [`sign_with`](Self::sign_with)'s signature and attestations
    /// go: cosign 2's `.sig` and `.att` images (the default, which every
    /// cosign verifies), cosign 3's Sigstore bundles attached as
    /// referrers (one manifest each, listed in the run record's
    /// `referrers`), or both. Verification before a deploy accepts
    /// either.
    pub fn signature_format(mut self, format: crate::plugin::sign::SignatureFormat) -> Self {
        self.signature_format = format;
        self
    }

    /// Where checks get their credentials
    /// ([`CommandCheck::with_secret_env`](crate::plugin::check::CommandCheck::with_secret_env)); adapters built by the caller
    /// read theirs from the same source.
    pub fn secrets(mut self, source: impl SecretSource) -> Self {
        self.secrets = Some(Arc::new(source));
        self
    }

    /// Where built images go (default a temporary directory per run).
    pub fn work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// A scanner of the source, run before the build.
    pub fn pre_build(mut self, scanner: impl Scanner) -> Self {
        self.pre.push(ScannerSlot::new(scanner, false));
        self
    }

    /// A scanner of the built image (its OCI layout), run after the build.
    pub fn post_build(mut self, scanner: impl Scanner) -> Self {
        self.post.push(ScannerSlot::new(scanner, false));
        self
    }

    /// A scanner of the source that may fail without failing the run.
    pub fn pre_build_optional(mut self, scanner: impl Scanner) -> Self {
        self.pre.push(ScannerSlot::new(scanner, true));
        self
    }

    /// A scanner of the image that may fail without failing the run.
    pub fn post_build_optional(mut self, scanner: impl Scanner) -> Self {
        self.post.push(ScannerSlot::new(scanner, true));
        self
    }

    /// The image builder (without one the run stops after the gate).
    pub fn builder(mut self, builder: impl Builder) -> Self {
        self.builder = Some(Arc::new(builder));
        self
    }

    /// The build spec (default `BuildSpec::new(source, WORK/layout)`); its
    /// output directory is replaced by the run's.
    pub fn build_spec(mut self, spec: BuildSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// The gate (default [`Policy::recommended`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// An earlier run's merged report (its
    /// [`RunRecord::report`](crate::pipeline::RunRecord::report), saved as
    /// JSON): the gate [compares](Report::compare) this run's report with
    /// it, and a policy with `scope = "new"` fails only on new findings.
    /// The record's [`baseline`](crate::pipeline::RunRecord::baseline) holds
    /// the comparison.
    pub fn baseline(mut self, report: Report) -> Self {
        self.baseline = Some(report);
        self
    }

    /// Where to push, and the repository.
    pub fn registry(mut self, registry: impl Registry, repository: impl Into<String>) -> Self {
        self.registry = Some((Arc::new(registry), repository.into()));
        self
    }

    /// The image repository written into GitOps files (default the
    /// registry's location and the repository: `host:port/shop/app`).
    pub fn image_repository(mut self, name: impl Into<String>) -> Self {
        self.image_repository = Some(name.into());
        self
    }

    /// The version (default the next patch after the highest in the
    /// registry).
    pub fn version(mut self, version: VersionStrategy) -> Self {
        self.version = version;
        self
    }

    /// Whether `latest` is pushed too (default yes).
    pub fn latest(mut self, yes: bool) -> Self {
        self.latest = yes;
        self
    }

    /// Whether a version the registry already holds may be pushed again,
    /// moving its tag to the new image (default no: the run fails at the
    /// version stage, and a version another run takes while this one
    /// builds fails it before anything is pushed).
    pub fn overwrite_version(mut self, yes: bool) -> Self {
        self.overwrite_version = yes;
        self
    }

    /// Also tags the image with this git revision.
    pub fn revision_tag(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// An environment, after those added before (promotion order).
    pub fn environment(mut self, name: impl Into<String>, target: impl GitOpsTarget) -> Self {
        self.environments.push(EnvironmentSlot {
            name: name.into(),
            target: Arc::new(target),
            checks: Vec::new(),
            rollback: false,
        });
        self
    }

    /// A mandatory check of the environment added last (an Argo CD wait,
    /// an end-to-end suite, a stress test), in order.
    pub fn check(mut self, check: impl Check) -> Self {
        if let Some(e) = self.environments.last_mut() {
            e.checks.push(Arc::new(check));
        }
        self
    }

    /// Rolls the environment added last back (a revert commit) when one
    /// of its checks fails; default off.
    pub fn rollback_on_failure(mut self) -> Self {
        if let Some(e) = self.environments.last_mut() {
            e.rollback = true;
        }
        self
    }

    /// A notifier of finished runs.
    pub fn notifier(mut self, notifier: impl Notifier) -> Self {
        self.notifiers.push(Arc::new(notifier));
        self
    }

    /// The limit of every step (a scanner, the build, the push, a deploy,
    /// a check); default none beyond the context's.
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = Some(timeout);
        self
    }

    /// Sends every [`Event`] here as it happens.
    pub fn events(mut self, tx: UnboundedSender<Event>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Checks the parts fit together.
    ///
    /// # Errors
    /// [`Error::Pipeline`] when the application is empty, the source is
    /// missing, an image scanner or a registry has no builder, an
    /// environment has no registry, or two environments share a name;
    /// [`Error::InvalidConfig`] when the repository or the revision is not
    /// a valid name.
    pub fn build(mut self) -> Result<Pipeline> {
        let fail = |m: String| Err(Error::Pipeline { message: m });
        if self.application.trim().is_empty() {
            return fail("the application name is empty".into());
        }
        if !self.source.is_dir() {
            return fail(format!(
                "the source directory `{}` does not exist",
                self.source.display()
            ));
        }
        if self.builder.is_none() && !self.post.is_empty() {
            return fail("post-build scanners need a builder".into());
        }
        if self.builder.is_none() && self.registry.is_some() {
            return fail("a registry needs a builder".into());
        }
        if self.registry.is_none() && !self.environments.is_empty() {
            return fail("environments need a registry to deploy from".into());
        }
        if self.registry.is_none() && (self.signer.is_some() || self.verifier.is_some()) {
            return fail("signing and verifying need a registry".into());
        }
        if self.require_attestations && self.verifier.is_none() {
            return fail("requiring attestations needs a verifier (`verify_with`)".into());
        }
        for (i, e) in self.environments.iter().enumerate() {
            if self.environments[..i].iter().any(|o| o.name == e.name) {
                return fail(format!("the environment `{}` is named twice", e.name));
            }
        }
        if self.policy.scope == crate::gate::policy::Scope::New && self.baseline.is_none() {
            return fail("the policy's scope is `new`, which needs a baseline".into());
        }
        if let Some(b) = &self.baseline {
            if b.schema_version != crate::SCHEMA_VERSION {
                return fail(format!(
                    "the baseline is a report of schema version {}; this Paragon reads version {}",
                    b.schema_version,
                    crate::SCHEMA_VERSION
                ));
            }
        }
        self.repository = match &self.registry {
            Some((_, name)) => Some(Repository::new(name.as_str())?),
            None => None,
        };
        self.revision_tag = self.revision.as_deref().map(Tag::new).transpose()?;
        Ok(Pipeline { config: self })
    }

    /// The registry and the repository to push to.
    fn destination(&self) -> Option<(&dyn Registry, &Repository)> {
        let (registry, _) = self.registry.as_ref()?;
        Some((registry.as_ref(), self.repository.as_ref()?))
    }
}

/// A delivery pipeline; see the [module docs](self).
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineBuilder,
}

/// Pushes `img` under `tags`, the first of them the release's version,
/// which must be new: the image goes up without tags, the version tag is
/// created only if no other run has it ([`Registry::create_tag`]), and only
/// then the other tags move. A registry that cannot create a tag only when
/// it is absent gets one push with every tag.
async fn reserve_and_push(
    registry: &dyn Registry,
    repo: &Repository,
    img: &BuiltImage,
    tags: &[Tag],
    ctx: &CallContext,
) -> Result<Pushed> {
    let Some((version, rest)) = tags.split_first() else {
        return registry.push(img, repo, tags, ctx).await;
    };
    let mut pushed = registry.push(img, repo, &[], ctx).await?;
    match registry.create_tag(repo, version, &img.digest, ctx).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::Conflict {
                target: format!("registry {}", registry.location()),
                message: format!("another run took version {repo}:{version} first"),
            })
        }
        Err(Error::Unsupported { .. }) => return registry.push(img, repo, tags, ctx).await,
        Err(e) => return Err(e),
    }
    if !rest.is_empty() {
        registry.push(img, repo, rest, ctx).await?;
    }
    pushed.tags = tags.iter().map(Tag::to_string).collect();
    Ok(pushed)
}

/// Which of `tags` name `digest` in the registry now. Asked with a
/// context of its own (the run's may be cancelled: what reached the
/// registry must still be known), for at most 30 s.
async fn settle_tags(
    registry: &dyn Registry,
    repo: &Repository,
    tags: &[Tag],
    digest: &Digest,
) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    let ctx = CallContext::new().with_timeout(Duration::from_secs(30));
    for t in tags {
        let found = registry.resolve(repo, t, &ctx).await?;
        if found.as_ref() == Some(digest) {
            moved.push(t.to_string());
        }
    }
    Ok(moved)
}

/// What a push left in the registry: the tags of `tags` that name the
/// image (asked afresh), why the stage did not succeed, and its outcome.
/// The version (the first tag) must be among them for a success.
async fn landed(
    registry: &dyn Registry,
    repo: &Repository,
    img: &BuiltImage,
    tags: &[Tag],
    result: Result<Pushed>,
) -> (Vec<String>, Option<String>, Outcome) {
    let version = tags.first().map(Tag::as_str).unwrap_or_default();
    match result {
        Ok(pushed) => match settle_tags(registry, repo, tags, &img.digest).await {
            Ok(moved) if moved.iter().any(|t| t == version) => (moved, None, Outcome::Succeeded),
            Ok(moved) => {
                let detail = format!(
                    "another run moved {version} in {repo} right after this push; it no longer names {}",
                    pushed.digest
                );
                (moved, Some(detail), Outcome::Failed)
            }
            Err(e) => {
                let detail = format!("the push ended but its tags could not be checked: {e}");
                (Vec::new(), Some(detail), Outcome::Failed)
            }
        },
        Err(e) => {
            let outcome = Run::outcome_of(&e);
            let moved = settle_tags(registry, repo, tags, &img.digest)
                .await
                .unwrap_or_default();
            let detail = if moved.is_empty() {
                format!("{e}; no tag of this run names the image")
            } else {
                format!(
                    "{e}; the registry already has {} at {}",
                    moved.join(", "),
                    img.digest
                )
            };
            (moved, Some(detail), outcome)
        }
    }
}

/// The run's state, threaded through the stages.
struct Run<'a> {
    config: &'a PipelineBuilder,
    ctx: &'a CallContext,
    record: RunRecord,
    started: Instant,
    started_at: time::OffsetDateTime,
    /// The image's CycloneDX SBOM (JSON) from a post-build scanner, for
    /// the SBOM attestation.
    image_sbom: Option<serde_json::Value>,
}

impl Run<'_> {
    fn emit(&self, e: Event) {
        if let Some(tx) = &self.config.events {
            let _ = tx.send(e);
        }
    }

    fn step_ctx(&self) -> CallContext {
        match self.config.step_timeout {
            Some(t) => {
                let t = self.ctx.timeout.map_or(t, |c| c.min(t));
                self.ctx.clone().with_timeout(t)
            }
            None => self.ctx.clone(),
        }
    }

    /// Runs `f` under the step timeout and cancellation.
    async fn step<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.step_ctx().run(what, f).await
    }

    fn start(&self, stage: Stage) -> Instant {
        tracing::info!(stage = stage.as_str(), "stage started");
        self.emit(Event::StageStarted { stage });
        Instant::now()
    }

    fn finish(&mut self, stage: Stage, began: Instant, outcome: Outcome, detail: Option<String>) {
        let ms = millis(began.elapsed());
        tracing::info!(
            stage = stage.as_str(),
            ?outcome,
            millis = ms,
            "stage finished"
        );
        self.record.stages.push(StageRecord {
            stage,
            outcome,
            millis: ms,
            detail: detail.clone(),
        });
        self.emit(Event::StageFinished {
            stage,
            outcome,
            millis: ms,
        });
        if matches!(outcome, Outcome::Failed | Outcome::Cancelled)
            && self.record.failed_stage.is_none()
        {
            self.record.failed_stage = Some(stage);
            self.record.outcome = outcome;
            self.record.error = detail;
        }
    }

    fn skip(&mut self, stage: Stage, why: &str) {
        self.record.stages.push(StageRecord {
            stage,
            outcome: Outcome::Skipped,
            millis: 0,
            detail: Some(why.into()),
        });
    }

    fn warn(&mut self, message: String) {
        tracing::warn!(%message);
        self.emit(Event::Warning {
            message: message.clone(),
        });
        self.record.warnings.push(message);
    }

    fn stopped(&self) -> bool {
        self.record.failed_stage.is_some()
    }

    /// The version stage: the release's version from the registry's tags
    /// (the next one, or the explicit one, refused when the registry holds
    /// it already unless overwriting is allowed). `None` when the stage
    /// failed.
    async fn choose_version(&mut self) -> Option<Tag> {
        let p = self.config;
        let Some((registry, repo)) = p.destination() else {
            self.skip(Stage::Version, "no registry");
            return self.version_tag(p.version.resolve(&[]).to_string());
        };
        let began = self.start(Stage::Version);
        let existing = match self
            .step("list tags", registry.list_tags(repo, &self.step_ctx()))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                let outcome = Run::outcome_of(&e);
                let detail = format!("listing the tags of {repo} at {}: {e}", registry.location());
                self.finish(Stage::Version, began, outcome, Some(detail));
                return None;
            }
        };
        let version = p.version.resolve(&existing).to_string();
        if existing.contains(&version) && !p.overwrite_version {
            let detail = format!(
                "version {version} is already in {repo} at {}; choose another, or allow overwriting it",
                registry.location()
            );
            self.finish(Stage::Version, began, Outcome::Failed, Some(detail));
            return None;
        }
        let Ok(tag) = Tag::new(version.as_str()) else {
            let detail =
                format!("version {version} cannot be a tag (letters, digits, `_`, `.`, `-`)");
            self.finish(Stage::Version, began, Outcome::Failed, Some(detail));
            return None;
        };
        self.finish(Stage::Version, began, Outcome::Succeeded, None);
        Some(tag)
    }

    /// `version` as a tag, for a run without a registry (which names its
    /// image in the layout by it); `None`, with the version stage failed,
    /// when it cannot be one.
    fn version_tag(&mut self, version: String) -> Option<Tag> {
        match Tag::new(version.as_str()) {
            Ok(tag) => Some(tag),
            Err(e) => {
                let began = self.start(Stage::Version);
                self.finish(Stage::Version, began, Outcome::Failed, Some(e.to_string()));
                None
            }
        }
    }

    /// The push stage: checks that the version is still free (another run
    /// may have taken it while this one built), pushes, and records what
    /// reached the registry whatever the outcome. The digest pushed, when
    /// the push succeeded.
    async fn push(
        &mut self,
        registry: &dyn Registry,
        repo: &Repository,
        img: &BuiltImage,
        tags: &[Tag],
    ) -> Option<Digest> {
        let began = self.start(Stage::Push);
        let Some(version) = tags.first() else {
            let detail = "no tag to push under".to_owned();
            self.finish(Stage::Push, began, Outcome::Failed, Some(detail));
            return None;
        };
        if !self.config.overwrite_version {
            if let Err((outcome, detail)) =
                self.version_still_free(registry, repo, img, version).await
            {
                self.finish(Stage::Push, began, outcome, Some(detail));
                return None;
            }
        }
        let ctx = self.step_ctx();
        let result = if self.config.overwrite_version {
            self.step("push", registry.push(img, repo, tags, &ctx))
                .await
        } else {
            let reserved = reserve_and_push(registry, repo, img, tags, &ctx);
            self.step("push", reserved).await
        };
        // Whatever happened, the record says what the registry holds.
        let (moved, detail, outcome) = landed(registry, repo, img, tags, result).await;
        let complete = outcome == Outcome::Succeeded;
        if !moved.is_empty() || complete {
            self.emit(Event::Pushed {
                repository: repo.to_string(),
                digest: img.digest.clone(),
                tags: moved.clone(),
            });
            self.record.pushed = Some(PushRecord {
                registry: registry.location(),
                repository: repo.to_string(),
                digest: img.digest.clone(),
                tags: moved,
                complete,
            });
        }
        if complete {
            if let Err(detail) = self.attach_and_sign(registry, repo, img).await {
                let outcome = Run::outcome_of(&detail.1);
                self.finish(Stage::Push, began, outcome, Some(detail.0));
                return None;
            }
        }
        self.finish(Stage::Push, began, outcome, detail);
        complete.then(|| img.digest.clone())
    }

    /// The name of the image as clients pull it: the configured image
    /// repository, else the registry's location and the repository.
    fn image_name(&self) -> String {
        let p = self.config;
        p.image_repository.clone().unwrap_or_else(|| {
            let (registry, repo) = p
                .destination()
                .map(|(r, n)| (r.location(), n.to_string()))
                .unwrap_or_default();
            format!("{registry}/{repo}")
        })
    }

    /// Attaches the image's SBOM, signs the image and attests it, as
    /// configured, all at once (each may wait for the registry's
    /// tag-settle time, so they wait together), and records what was
    /// written, even when another of them failed. What failed and its
    /// error, when one did.
    async fn attach_and_sign(
        &mut self,
        registry: &dyn Registry,
        repo: &Repository,
        img: &BuiltImage,
    ) -> std::result::Result<(), (String, Error)> {
        use crate::plugin::registry::referrers::attach;
        use crate::plugin::sign::cosign;
        let artifact = self.sbom_artifact(img);
        let signer = self.config.signer.as_deref();
        let predicates = match signer {
            Some(_) => self.predicates().await,
            None => Vec::new(),
        };
        let predicates: Vec<(&str, &serde_json::Value)> =
            predicates.iter().map(|(t, p)| (*t, p)).collect();
        let name = self.image_name();
        let digest = &img.digest;
        let ctx = self.step_ctx();
        let attaching = async {
            match &artifact {
                Some(a) => self
                    .step("attach SBOM", attach(registry, repo, a, &ctx))
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let format = self.config.signature_format;
        let tagged = signer.filter(|_| format.tagged());
        let signing = async {
            match tagged {
                Some(s) => self
                    .step("sign", cosign::sign(registry, repo, digest, &name, s, &ctx))
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let attesting = async {
            match tagged {
                Some(s) => {
                    let attest =
                        cosign::attest_all(registry, repo, digest, &name, &predicates, s, &ctx);
                    self.step("attest", attest).await.map(Some)
                }
                None => Ok(None),
            }
        };
        let subject = img.descriptor();
        let bundling = async {
            match signer.filter(|_| format.bundles()) {
                Some(s) => {
                    let write = crate::plugin::sign::bundle::sign_and_attest(
                        registry,
                        repo,
                        &subject,
                        &predicates,
                        s,
                        &ctx,
                    );
                    self.step("sign and attest (bundles)", write).await
                }
                None => Ok(Vec::new()),
            }
        };
        let (sbom, signed, attested, bundles) =
            tokio::join!(attaching, signing, attesting, bundling);
        let written = Written {
            sbom,
            signed,
            attested,
            bundles,
        };
        self.record_written(digest, written).map_or(Ok(()), Err)
    }

    /// Records and announces what [`attach_and_sign`](Self::attach_and_sign)
    /// wrote (the SBOM, the signature, the attestations, the bundles),
    /// each that was written even when another failed: the first failure,
    /// when one did.
    fn record_written(&mut self, digest: &Digest, written: Written) -> Option<(String, Error)> {
        let Written {
            sbom: attached,
            signed,
            attested,
            bundles: bundled,
        } = written;
        let mut failed = None;
        match attached {
            Ok(Some(attached)) => self.record_referrer(digest, attached),
            Ok(None) => {}
            Err(e) => failed = Some((format!("attaching the SBOM to {digest}: {e}"), e)),
        }
        match signed {
            Ok(Some(signed)) => {
                self.emit(Event::Signed {
                    digest: digest.clone(),
                    tag: signed.tag.clone(),
                    identity: signed.identity.clone(),
                });
                self.record.signed = Some(SignatureRecord {
                    tag: signed.tag,
                    manifest: signed.manifest,
                    identity: signed.identity,
                    signatures: signed.signatures,
                });
            }
            Ok(None) => {}
            Err(e) => {
                failed = failed.or_else(|| Some((format!("signing {digest}: {e}"), e)));
            }
        }
        match attested {
            Ok(Some(attested)) => {
                for predicate_type in attested.predicate_types {
                    self.emit(Event::Attested {
                        digest: digest.clone(),
                        predicate_type: predicate_type.clone(),
                        tag: attested.tag.clone(),
                    });
                    self.record.attestations.push(AttestationRecord {
                        predicate_type,
                        tag: attested.tag.clone(),
                        manifest: attested.manifest.clone(),
                    });
                }
            }
            Ok(None) => {}
            Err(e) => {
                failed = failed.or_else(|| Some((format!("attesting {digest}: {e}"), e)));
            }
        }
        match bundled {
            Ok(bundles) => {
                for attached in bundles {
                    self.record_referrer(digest, attached);
                }
            }
            Err(e) => {
                failed = failed
                    .or_else(|| Some((format!("signing {digest} (Sigstore bundles): {e}"), e)));
            }
        }
        failed
    }

    /// Records and announces an artifact attached to the image `digest`.
    fn record_referrer(
        &mut self,
        digest: &Digest,
        attached: crate::plugin::registry::referrers::Attached,
    ) {
        self.emit(Event::Attached {
            digest: digest.clone(),
            artifact_type: attached.artifact_type.clone(),
            manifest: attached.digest.clone(),
        });
        self.record.referrers.push(ReferrerRecord {
            artifact_type: attached.artifact_type,
            manifest: attached.digest,
            referrers_tag: attached.pushed.referrers_tag,
        });
    }

    /// The image's SBOM as an artifact to attach, when asked to and there
    /// is one (by default when the pipeline signs).
    fn sbom_artifact(
        &self,
        img: &BuiltImage,
    ) -> Option<crate::plugin::registry::referrers::Artifact> {
        use crate::plugin::registry::referrers::{Artifact, ARTIFACT_TYPE_CYCLONEDX};
        let p = self.config;
        let sbom = self.image_sbom.as_ref()?;
        if !p.attach_sbom.unwrap_or(p.signer.is_some()) {
            return None;
        }
        let artifact = Artifact::new(ARTIFACT_TYPE_CYCLONEDX, img.descriptor())
            .with_blob(
                ARTIFACT_TYPE_CYCLONEDX,
                serde_json::to_vec(sbom).expect("a JSON value serializes"),
            )
            .with_annotation(
                "org.opencontainers.image.created",
                attest::rfc3339(time::OffsetDateTime::now_utc()),
            );
        Some(artifact)
    }

    /// The predicates the pipeline attests: the image's SBOM (when there
    /// is one), SLSA provenance and the scan verdict.
    async fn predicates(&self) -> Vec<(&'static str, serde_json::Value)> {
        let source = attest::SourceRevision::of(&self.config.source).await;
        let mut predicates = vec![
            (
                attest::PREDICATE_SLSA_PROVENANCE,
                attest::provenance(
                    self.config,
                    &self.record,
                    &source,
                    self.started_at,
                    time::OffsetDateTime::now_utc(),
                ),
            ),
            (
                attest::PREDICATE_VERDICT,
                attest::verdict(self.config, &self.record),
            ),
        ];
        if let Some(sbom) = self.image_sbom.clone() {
            predicates.insert(0, (attest::PREDICATE_CYCLONEDX, sbom));
        }
        predicates
    }

    /// Checks the pushed image's signature before anything is deployed;
    /// why not, when it fails.
    async fn verify_before_deploy(&mut self, digest: &Digest) -> std::result::Result<(), String> {
        let p = self.config;
        let (Some(verifier), Some((registry, repo))) = (&p.verifier, p.destination()) else {
            return Ok(());
        };
        let ctx = self.step_ctx();
        let verify =
            crate::plugin::sign::cosign::verify(registry, repo, digest, verifier.as_ref(), &ctx);
        let verified = self.step("verify", verify).await;
        let verified = match verified {
            Ok(v) if p.require_attestations => {
                let attested = self
                    .step(
                        "verify attestations",
                        attestations_hold(registry, repo, digest, verifier.as_ref(), &ctx),
                    )
                    .await;
                attested.map(|()| v)
            }
            other => other,
        };
        match verified {
            Ok(v) => {
                self.emit(Event::Verified {
                    digest: digest.clone(),
                    identities: v.identities.clone(),
                });
                self.record.verified = Some(v.identities);
                Ok(())
            }
            Err(e) => Err(format!("not deployed: {e}")),
        }
    }

    /// Whether `version` is still free in `repo` (or names `img` already):
    /// another run may have taken it while this one built. Why not, and
    /// the push stage's outcome, when it is not or cannot be known.
    async fn version_still_free(
        &self,
        registry: &dyn Registry,
        repo: &Repository,
        img: &BuiltImage,
        version: &Tag,
    ) -> std::result::Result<(), (Outcome, String)> {
        let held = self
            .step("resolve", registry.resolve(repo, version, &self.step_ctx()))
            .await;
        match held {
            Ok(Some(other)) if other != img.digest => Err((
                Outcome::Failed,
                format!(
                    "version {version} was pushed to {repo} by another run ({other}) while this one built; nothing was pushed"
                ),
            )),
            Ok(_) => Ok(()),
            Err(e) => Err((Run::outcome_of(&e), e.to_string())),
        }
    }

    /// The build stage: builds into the configured work directory, or a
    /// temporary one made for the run and left in `temp` (a directory
    /// that cannot be made fails the stage with that error). The image,
    /// when the build succeeded.
    async fn build(
        &mut self,
        builder: &dyn Builder,
        temp: &mut Option<tempfile::TempDir>,
    ) -> Option<BuiltImage> {
        let p = self.config;
        let began = self.start(Stage::Build);
        let work = match &p.work_dir {
            Some(dir) => dir.clone(),
            None => match tempfile::Builder::new().prefix("paragon-run-").tempdir() {
                Ok(dir) => temp.insert(dir).path().to_owned(),
                Err(e) => {
                    let detail = format!(
                        "cannot create the run's work directory in {}: {e}",
                        std::env::temp_dir().display()
                    );
                    self.finish(Stage::Build, began, Outcome::Failed, Some(detail));
                    return None;
                }
            },
        };
        let version = self.record.version.clone().unwrap_or_default();
        let mut spec = p
            .spec
            .clone()
            .unwrap_or_else(|| BuildSpec::new(&p.source, work.join("layout")));
        spec.output = work.join(format!("layout-{version}"));
        if spec.ref_name.is_empty() {
            spec.ref_name = version.clone();
        }
        spec.annotations
            .entry("org.opencontainers.image.version".into())
            .or_insert(version);
        match self
            .step("build", builder.build(&spec, &self.step_ctx()))
            .await
        {
            Ok(built) => {
                self.emit(Event::ImageBuilt {
                    digest: built.digest.clone(),
                });
                self.record.image = Some(built.digest.clone());
                self.finish(Stage::Build, began, Outcome::Succeeded, None);
                Some(built)
            }
            Err(e) => {
                let outcome = Run::outcome_of(&e);
                self.finish(Stage::Build, began, outcome, Some(e.to_string()));
                None
            }
        }
    }

    fn outcome_of(e: &Error) -> Outcome {
        if e.is_cancelled() {
            Outcome::Cancelled
        } else {
            Outcome::Failed
        }
    }

    /// Runs a stage's scanners concurrently; their reports, or the stage
    /// failed.
    async fn scan(
        &mut self,
        stage: Stage,
        slots: &[ScannerSlot],
        target: ScanTarget,
    ) -> Option<Vec<ScanReport>> {
        let began = self.start(stage);
        let results = match self.run_scanners(stage, slots, target).await {
            Ok(results) => results,
            Err(panicked) => {
                let detail = format!("a scanner task panicked: {panicked}");
                self.finish(stage, began, Outcome::Failed, Some(detail));
                return None;
            }
        };
        let mut reports = Vec::new();
        let mut failure: Option<Error> = None;
        for (slot, (r, d)) in slots.iter().zip(results) {
            let name = slot.scanner.name().to_owned();
            self.record_scanner(stage, slot, &r, d);
            match r {
                Ok(rep) => reports.push(rep),
                Err(e) if slot.optional && !e.is_cancelled() => {
                    self.warn(format!("optional scanner {name} failed: {e}"));
                }
                Err(e) => {
                    if failure.is_none() || e.is_cancelled() {
                        failure = Some(e);
                    }
                }
            }
        }
        match failure {
            Some(e) => {
                let outcome = Run::outcome_of(&e);
                self.finish(stage, began, outcome, Some(e.to_string()));
                None
            }
            None => {
                self.finish(stage, began, Outcome::Succeeded, None);
                Some(reports)
            }
        }
    }

    /// Runs every scanner of `slots` on `target` concurrently, each under
    /// the step timeout: their results and times, in the order of
    /// `slots`; the join error when a scanner's task panicked.
    async fn run_scanners(
        &self,
        stage: Stage,
        slots: &[ScannerSlot],
        target: ScanTarget,
    ) -> std::result::Result<Vec<(Result<ScanReport>, Duration)>, tokio::task::JoinError> {
        let span = tracing::info_span!("stage", stage = stage.as_str());
        let mut set = tokio::task::JoinSet::new();
        for (i, slot) in slots.iter().enumerate() {
            let scanner = slot.scanner.clone();
            let target = target.clone();
            let ctx = self.step_ctx();
            let name = scanner.name().to_owned();
            let tool_span = tracing::info_span!(parent: &span, "scanner", scanner = %name);
            set.spawn(
                async move {
                    let t0 = Instant::now();
                    let r = ctx.run(&name, scanner.scan(&target, &ctx)).await;
                    (i, r, t0.elapsed())
                }
                .instrument(tool_span)
                // A caller's scoped subscriber hears the scanners too.
                .with_current_subscriber(),
            );
        }
        let mut results: Vec<Option<(Result<ScanReport>, Duration)>> =
            (0..slots.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            let (i, r, d) = joined?;
            results[i] = Some((r, d));
        }
        // Every task ended with a result: `join_next` gave one per task.
        Ok(results.into_iter().flatten().collect())
    }

    /// Records a scanner's result, and announces it.
    fn record_scanner(
        &mut self,
        stage: Stage,
        slot: &ScannerSlot,
        result: &Result<ScanReport>,
        took: Duration,
    ) {
        let (findings, error, version) = match result {
            Ok(rep) => (Some(rep.findings.len()), None, rep.scanner.version.clone()),
            Err(e) => (None, Some(e.to_string()), None),
        };
        let scanner = slot.scanner.name().to_owned();
        self.emit(Event::ScannerFinished {
            stage,
            scanner: scanner.clone(),
            findings,
            error: error.clone(),
            optional: slot.optional,
        });
        self.record.scanners.push(ScannerRecord {
            stage,
            scanner,
            version,
            findings,
            error,
            optional: slot.optional,
            millis: millis(took),
        });
    }
}

impl Pipeline {
    /// A pipeline for `application` built from `source`. Defaults: no
    /// scanners, no builder, [`Policy::recommended`], the next patch
    /// version, `latest` pushed, no environments.
    pub fn builder(application: impl Into<String>, source: impl Into<PathBuf>) -> PipelineBuilder {
        PipelineBuilder {
            application: application.into(),
            source: source.into(),
            work_dir: None,
            pre: Vec::new(),
            post: Vec::new(),
            builder: None,
            spec: None,
            policy: Policy::recommended(),
            baseline: None,
            registry: None,
            repository: None,
            image_repository: None,
            version: VersionStrategy::Next(Bump::Patch),
            latest: true,
            overwrite_version: false,
            revision: None,
            revision_tag: None,
            environments: Vec::new(),
            notifiers: Vec::new(),
            step_timeout: None,
            events: None,
            secrets: None,
            signer: None,
            verifier: None,
            require_attestations: false,
            attach_sbom: None,
            signature_format: crate::plugin::sign::SignatureFormat::default(),
        }
    }

    /// The environments, in promotion order.
    pub fn environments(&self) -> Vec<String> {
        self.config
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    /// Runs every stage; the record says how it went (a run that fails
    /// still answers its record: which stage, why, what was done).
    #[tracing::instrument(name = "pipeline", skip_all, fields(application = %self.config.application))]
    pub async fn run(&self, ctx: &CallContext) -> RunRecord {
        let mut run = Run::new(&self.config, ctx);
        let mut reports = run.pre_build_stage().await;
        let tags = run.version_tags().await;
        // The build's temporary directory is kept until the run ends: the
        // later stages read the image from it.
        let mut work_dir: Option<tempfile::TempDir> = None;
        let image = run.build_stage(&mut work_dir).await;
        reports.extend(run.post_build_stage(image.as_ref()).await);
        run.gate_stage(reports);
        let digest = run.push_stage(image.as_ref(), &tags).await;
        run.deploy_stage(digest).await;
        run.end().await;
        drop(work_dir);
        run.record
    }
}

impl<'a> Run<'a> {
    /// A run of `p` under `ctx`, with nothing done yet.
    fn new(p: &'a PipelineBuilder, ctx: &'a CallContext) -> Run<'a> {
        Run {
            config: p,
            ctx,
            record: RunRecord {
                application: p.application.clone(),
                version: None,
                outcome: Outcome::Succeeded,
                failed_stage: None,
                error: None,
                stages: Vec::new(),
                scanners: Vec::new(),
                summary: Summary::default(),
                verdict: None,
                baseline: None,
                report: None,
                image: None,
                pushed: None,
                signed: None,
                referrers: Vec::new(),
                attestations: Vec::new(),
                verified: None,
                deployments: Vec::new(),
                warnings: Vec::new(),
                millis: 0,
            },
            started: Instant::now(),
            started_at: time::OffsetDateTime::now_utc(),
            image_sbom: None,
        }
    }
}

impl Run<'_> {
    /// The pre-build scans of the source directory.
    async fn pre_build_stage(&mut self) -> Vec<ScanReport> {
        let p = self.config;
        if p.pre.is_empty() {
            self.skip(Stage::PreBuildScan, "no pre-build scanners");
            return Vec::new();
        }
        let target = ScanTarget::Directory(p.source.clone());
        self.scan(Stage::PreBuildScan, &p.pre, target)
            .await
            .unwrap_or_default()
    }

    /// The tags to push: the version (which also names the image in its
    /// layout), `latest` and the revision when asked.
    async fn version_tags(&mut self) -> Vec<Tag> {
        let mut tags = Vec::new();
        if self.stopped() {
            return tags;
        }
        if let Some(version) = self.choose_version().await {
            self.record.version = Some(version.to_string());
            tags.push(version);
            if self.config.latest {
                tags.push(Tag::latest());
            }
            if let Some(rev) = &self.config.revision_tag {
                tags.push(rev.clone());
            }
        }
        tags
    }

    /// The build, into a temporary directory kept in `work_dir`.
    async fn build_stage(
        &mut self,
        work_dir: &mut Option<tempfile::TempDir>,
    ) -> Option<BuiltImage> {
        match (&self.config.builder, self.stopped()) {
            (_, true) => {
                self.skip(Stage::Build, "an earlier stage failed");
                None
            }
            (None, false) => {
                self.skip(Stage::Build, "no builder");
                None
            }
            (Some(builder), false) => self.build(builder.as_ref(), work_dir).await,
        }
    }

    /// The post-build scans of the built image.
    async fn post_build_stage(&mut self, image: Option<&BuiltImage>) -> Vec<ScanReport> {
        let p = self.config;
        match (image, self.stopped(), p.post.is_empty()) {
            (_, true, _) => self.skip(Stage::PostBuildScan, "an earlier stage failed"),
            (_, false, true) => self.skip(Stage::PostBuildScan, "no post-build scanners"),
            (None, false, false) => self.skip(Stage::PostBuildScan, "no image"),
            (Some(img), false, false) => {
                let target = ScanTarget::OciLayout(img.layout.clone());
                let reports = self
                    .scan(Stage::PostBuildScan, &p.post, target)
                    .await
                    .unwrap_or_default();
                self.image_sbom = reports
                    .iter()
                    .filter_map(|r| r.sbom.as_ref())
                    .filter(|s| s.format == crate::model::scan_report::SbomFormat::CycloneDx)
                    .find_map(|s| serde_json::from_slice(&s.document).ok());
                return reports;
            }
        }
        Vec::new()
    }

    /// The merge of every scan report and the policy's verdict on it.
    fn gate_stage(&mut self, reports: Vec<ScanReport>) {
        if self.stopped() {
            self.skip(Stage::Gate, "an earlier stage failed");
            return;
        }
        let began = self.start(Stage::Gate);
        let mut merger = Merger::new();
        for r in reports {
            merger.add(r);
        }
        let mut report: Report = merger.finish();
        if let Some(baseline) = &self.config.baseline {
            // Both of this schema version: `build` checked the baseline's.
            if let Ok(c) = report.compare(baseline) {
                self.record.baseline = Some(c.clone());
            }
        }
        let verdict = report.apply_policy(&self.config.policy).clone();
        self.record.summary = report.summary.clone();
        self.emit(Event::GateVerdict {
            passed: verdict.passed,
            failures: verdict.failures.len(),
        });
        let (outcome, detail) = if verdict.passed {
            (Outcome::Succeeded, None)
        } else {
            (Outcome::Failed, Some(gate_failure(&verdict)))
        };
        self.record.verdict = Some(verdict);
        self.record.report = Some(report);
        self.finish(Stage::Gate, began, outcome, detail);
    }

    /// The push of the image under `tags`; the digest the registry holds.
    async fn push_stage(&mut self, image: Option<&BuiltImage>, tags: &[Tag]) -> Option<Digest> {
        match (self.config.destination(), image, self.stopped()) {
            (_, _, true) => self.skip(Stage::Push, "an earlier stage failed"),
            (None, _, false) | (_, None, false) => self.skip(Stage::Push, "no registry"),
            (Some((registry, repo)), Some(img), false) => {
                return self.push(registry, repo, img, tags).await;
            }
        }
        None
    }

    /// The deploy, environment by environment, each with its checks; a
    /// failure stops promotion and the later environments are skipped.
    async fn deploy_stage(&mut self, digest: Option<Digest>) {
        let p = self.config;
        let digest = match (digest, self.stopped(), p.environments.is_empty()) {
            (_, true, _) => return self.skip(Stage::Deploy, "an earlier stage failed"),
            (_, false, true) => return self.skip(Stage::Deploy, "no environments"),
            (None, false, false) => return self.skip(Stage::Deploy, "nothing was pushed"),
            (Some(digest), false, false) => digest,
        };
        let began = self.start(Stage::Deploy);
        if let Err(why) = self.verify_before_deploy(&digest).await {
            let outcome = if self.ctx.cancel.is_cancelled() {
                Outcome::Cancelled
            } else {
                Outcome::Failed
            };
            for env in &p.environments {
                self.skip_environment(env, why.clone());
            }
            return self.finish(Stage::Deploy, began, outcome, Some(why));
        }
        let image_repository = self.image_name();
        let version = self.record.version.clone().unwrap_or_default();
        let mut failed: Option<String> = None;
        for env in &p.environments {
            if let Some(why) = &failed {
                self.skip_environment(env, format!("not promoted: {why}"));
                continue;
            }
            let release = Release::new(&p.application, &env.name, &image_repository, &version)
                .with_digest(digest.clone());
            if let Err(e) = deploy_one(self, env, &release).await {
                failed = Some(e);
            }
        }
        let outcome = match (&failed, self.ctx.cancel.is_cancelled()) {
            (None, _) => Outcome::Succeeded,
            (Some(_), true) => Outcome::Cancelled,
            (Some(_), false) => Outcome::Failed,
        };
        self.finish(Stage::Deploy, began, outcome, failed);
    }

    /// Records `env` as not deployed, for `why`.
    fn skip_environment(&mut self, env: &EnvironmentSlot, why: String) {
        let mut skipped = DeploymentRecord::new(&env.name, env.target.name());
        skipped.outcome = Outcome::Skipped;
        skipped.error = Some(why);
        self.record.deployments.push(skipped);
    }

    /// Closes the record (its time, every known credential redacted) and
    /// sends it to the notifiers.
    async fn end(&mut self) {
        self.record.millis = millis(self.started.elapsed());
        // What the run writes holds no credential it knows of: those of
        // the process's environment, which a tool or check may have
        // printed.
        self.record.redact(&crate::tool::credential_values());
        for n in &self.config.notifiers {
            let notified = self
                .step(
                    &format!("notifier {}", n.name()),
                    n.notify(&self.record, self.ctx),
                )
                .await;
            if let Err(e) = notified {
                self.warn(format!("notifier {} failed: {e}", n.name()));
            }
        }
    }
}

/// A valid provenance attestation and a verdict attestation that passed.
async fn attestations_hold(
    registry: &dyn Registry,
    repo: &Repository,
    digest: &Digest,
    verifier: &dyn crate::plugin::sign::Verifier,
    ctx: &CallContext,
) -> Result<()> {
    let types = [PREDICATE_SLSA_PROVENANCE, PREDICATE_VERDICT];
    let found = crate::plugin::sign::cosign::verify_all_attestations(
        registry, repo, digest, &types, verifier, ctx,
    )
    .await?;
    let verdicts = &found[1].1;
    let passed = verdicts
        .iter()
        .any(|v| v.predicate["verdict"]["passed"] == serde_json::Value::Bool(true));
    if passed {
        Ok(())
    } else {
        Err(Error::NotVerified {
            image: format!("{repo}@{digest}"),
            reason: "no verdict attestation says the gate passed".into(),
            accepted: verifier.accepted(),
        })
    }
}

/// Why the gate failed: the first ten failing findings.
fn gate_failure(verdict: &Verdict) -> String {
    let ids: Vec<String> = verdict
        .failures
        .iter()
        .take(10)
        .map(|f| match &f.package {
            Some(pkg) => format!("{} ({pkg}, {})", f.id, f.severity),
            None => format!("{} ({})", f.id, f.severity),
        })
        .collect();
    let more = if verdict.failures.len() > 10 {
        ", …"
    } else {
        ""
    };
    let mut out = format!(
        "the gate failed on {} finding(s): {}{more}",
        verdict.failures.len(),
        ids.join(", ")
    );
    if !verdict.denied.is_empty() {
        let denied: Vec<&str> = verdict
            .denied
            .iter()
            .take(10)
            .map(|d| d.message.as_str())
            .collect();
        out = format!(
            "{}the policy's rules denied the report: {}",
            if verdict.failures.is_empty() {
                String::new()
            } else {
                format!("{out}; ")
            },
            denied.join("; ")
        );
    }
    out
}

/// Deploys to one environment and runs its checks; `Err(why)` stops
/// promotion.
#[tracing::instrument(name = "deploy", skip_all, fields(environment = %env.name))]
async fn deploy_one(
    run: &mut Run<'_>,
    env: &EnvironmentSlot,
    release: &Release,
) -> std::result::Result<(), String> {
    let mut record = DeploymentRecord::new(&env.name, env.target.name());
    let deployment = match run
        .step(
            &format!("deploy {}", env.name),
            env.target.deploy(release, &run.step_ctx()),
        )
        .await
    {
        Ok(d) => d,
        Err(e) => {
            record.outcome = Run::outcome_of(&e);
            record.error = Some(e.to_string());
            run.record.deployments.push(record);
            return Err(format!("deploying to {} failed: {e}", env.name));
        }
    };
    record.commit = Some(deployment.commit().to_owned());
    if let Deployment::Changed(c) = &deployment {
        record.changed = true;
        record.previous = c.previous.clone();
        record.diff = c.diff.clone();
    }
    run.emit(Event::Deployed {
        environment: env.name.clone(),
        commit: deployment.commit().to_owned(),
        changed: record.changed,
    });
    let target = CheckTarget {
        environment: env.name.clone(),
        release: release.clone(),
        commit: deployment.commit().to_owned(),
        secrets: run.config.secrets.clone(),
    };
    let Some(why) = run.check_environment(env, &target, &mut record).await else {
        run.record.deployments.push(record);
        return Ok(());
    };
    record.outcome = Outcome::Failed;
    record.error = Some(why.clone());
    if env.rollback {
        record.rolled_back = run.roll_back(env, &deployment).await;
    }
    run.record.deployments.push(record);
    Err(why)
}

impl Run<'_> {
    /// Runs `env`'s checks in order, each recorded in `record`, up to the
    /// first that fails: why it failed, or `None` when all passed.
    async fn check_environment(
        &mut self,
        env: &EnvironmentSlot,
        target: &CheckTarget,
        record: &mut DeploymentRecord,
    ) -> Option<String> {
        for check in &env.checks {
            let t0 = Instant::now();
            let result: CheckResult = self
                .step(
                    &format!("check {}", check.name()),
                    check.run(target, &self.step_ctx()),
                )
                .await
                .unwrap_or_else(CheckResult::from);
            self.emit(Event::CheckFinished {
                environment: env.name.clone(),
                check: check.name().into(),
                passed: result.passed,
            });
            record.checks.push(CheckRecord {
                check: check.name().into(),
                passed: result.passed,
                detail: result.detail.clone(),
                millis: millis(t0.elapsed()),
            });
            if !result.passed {
                return Some(format!(
                    "check {} failed in {}: {}",
                    check.name(),
                    env.name,
                    result.detail
                ));
            }
        }
        None
    }

    /// Rolls `env` back from `deployment` with a revert commit: the
    /// commit, or `None` (with a warning) when there was nothing to roll
    /// back or the rollback failed.
    async fn roll_back(
        &mut self,
        env: &EnvironmentSlot,
        deployment: &Deployment,
    ) -> Option<String> {
        let Deployment::Changed(change) = deployment else {
            self.warn(format!(
                "{} already ran this release before the run; nothing to roll back",
                env.name
            ));
            return None;
        };
        let rolled = self
            .step(
                &format!("rollback {}", env.name),
                env.target.rollback(change, &self.step_ctx()),
            )
            .await;
        match rolled {
            Ok(r) => {
                self.emit(Event::RolledBack {
                    environment: env.name.clone(),
                    commit: r.commit().to_owned(),
                });
                Some(r.commit().to_owned())
            }
            Err(e) => {
                self.warn(format!("rolling {} back failed: {e}", env.name));
                None
            }
        }
    }
}

/// What the push stage's attachment, signing and attesting gave, each on
/// its own (see `Run::attach_and_sign`).
struct Written {
    sbom: Result<Option<crate::plugin::registry::referrers::Attached>>,
    signed: Result<Option<crate::plugin::sign::cosign::Signed>>,
    attested: Result<Option<crate::plugin::sign::cosign::Attested>>,
    bundles: Result<Vec<crate::plugin::registry::referrers::Attached>>,
}
