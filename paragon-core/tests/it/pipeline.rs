//! The pipeline on in-memory parts: stages in order, the gate before the
//! push, optional scanners, timeouts, cancellation, checks, rollback.

use crate::{repo, tag};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paragon_core::pipeline::{
    Bump, Event, Metrics, Outcome, Pipeline, RunRecord, Stage, VersionStrategy,
};
use paragon_core::plugin::build::testing::MinimalBuilder;
use paragon_core::plugin::check::{Check, CheckResult, CheckTarget, CommandCheck};
use paragon_core::plugin::deploy::{GitOpsTarget, MemoryGitOps, Release};
use paragon_core::plugin::notify::Notifier;
use paragon_core::plugin::secrets::{EnvSecrets, SecretSource};
use paragon_core::{
    CallContext, CannedScanner, Error, Finding, FindingKind, MemoryRegistry, Registry, ScanReport,
    ScannerInfo, Severity, Source,
};

fn scanner(name: &str, findings: Vec<Finding>) -> CannedScanner {
    let mut r = ScanReport::new(ScannerInfo::new(name, None::<String>));
    r.findings = findings;
    CannedScanner::new(r)
}

fn secret_finding() -> Finding {
    let mut f = Finding::new(FindingKind::Secret, "aws-access-key-id", Severity::Critical);
    f.sources
        .push(Source::new("trivy", Severity::Critical, None));
    f
}

fn low_vuln() -> Finding {
    let mut f = Finding::new(FindingKind::Vulnerability, "CVE-2024-0001", Severity::Low);
    f.sources.push(Source::new("grype", Severity::Low, None));
    f
}

#[derive(Debug)]
struct Failing;

#[paragon_core::async_trait]
impl paragon_core::Scanner for Failing {
    fn name(&self) -> &str {
        "broken"
    }
    fn targets(&self) -> &[paragon_core::TargetKind] {
        &[
            paragon_core::TargetKind::Directory,
            paragon_core::TargetKind::OciLayout,
        ]
    }
    async fn scan(
        &self,
        _: &paragon_core::ScanTarget,
        _: &CallContext,
    ) -> paragon_core::Result<ScanReport> {
        Err(Error::ToolFailed {
            tool: "broken".into(),
            status: "exit code 3".into(),
            stderr_tail: "database missing".into(),
        })
    }
}

/// A scanner that logs a line of its own while it scans, then answers as
/// the canned scanner it wraps.
#[derive(Debug)]
struct Talking(CannedScanner);

#[paragon_core::async_trait]
impl paragon_core::Scanner for Talking {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn targets(&self) -> &[paragon_core::TargetKind] {
        self.0.targets()
    }
    async fn scan(
        &self,
        target: &paragon_core::ScanTarget,
        ctx: &CallContext,
    ) -> paragon_core::Result<ScanReport> {
        tracing::info!("the talking scanner is at work");
        self.0.scan(target, ctx).await
    }
}

/// The scanners run on tasks of their own; a subscriber the caller set
/// for the run (not the process-wide one) still hears what they log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_subscriber_hears_the_scanners() {
    use std::io::Write;
    use tracing::instrument::WithSubscriber as _;
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let p = parts();
    let pipeline = base(&p)
        .pre_build(Talking(scanner("sast", vec![])))
        .build()
        .unwrap();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rec = pipeline
        .run(&CallContext::new())
        .with_subscriber(subscriber)
        .await;
    assert!(rec.succeeded(), "{rec:#?}");
    let logs = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("the talking scanner is at work"),
        "the scanner's line is missing:\n{logs}"
    );
}

struct Parts {
    registry: MemoryRegistry,
    gitops: MemoryGitOps,
    dir: tempfile::TempDir,
}

impl Parts {
    /// Whether the registry holds no tag of `shop/app`.
    async fn nothing_pushed(&self) -> bool {
        self.registry
            .list_tags(&repo("shop/app"), &CallContext::new())
            .await
            .unwrap()
            .is_empty()
    }
}

fn parts() -> Parts {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.go"), "package main\n").unwrap();
    Parts {
        registry: MemoryRegistry::new(),
        gitops: MemoryGitOps::new(["dev", "test", "prod"]),
        dir,
    }
}

fn base(p: &Parts) -> paragon_core::pipeline::PipelineBuilder {
    Pipeline::builder("shop", p.dir.path())
        .builder(MinimalBuilder)
        .registry(p.registry.clone(), "shop/app")
        .image_repository("registry.example/shop/app")
        .version(VersionStrategy::explicit("1.2.0").unwrap())
}

fn stage(rec: &RunRecord, s: Stage) -> Outcome {
    rec.stages.iter().find(|r| r.stage == s).unwrap().outcome
}

#[tokio::test]
async fn a_clean_app_goes_all_the_way_with_events_in_order() {
    let p = parts();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pipeline = base(&p)
        .pre_build(scanner("sast", vec![low_vuln()]))
        .post_build(scanner("grype", vec![low_vuln()]))
        .environment("dev", p.gitops.clone())
        .environment("test", p.gitops.clone())
        .events(tx)
        .build()
        .unwrap();
    let rec = pipeline.run(&CallContext::new()).await;
    assert!(rec.succeeded(), "{rec:#?}");
    assert_eq!(rec.version.as_deref(), Some("1.2.0"));
    // The two scanners' findings merged into one.
    assert_eq!(rec.summary.total, 1);
    let pushed = rec.pushed.as_ref().unwrap();
    assert_eq!(pushed.tags, ["1.2.0", "latest"]);
    assert_eq!(
        p.registry
            .resolve(&repo("shop/app"), &tag("latest"), &CallContext::new())
            .await
            .unwrap(),
        Some(pushed.digest.clone())
    );
    let ctx = CallContext::new();
    for env in ["dev", "test"] {
        let now = p.gitops.current(env, &ctx).await.unwrap().unwrap();
        assert_eq!(now.tag, "1.2.0");
        assert_eq!(now.digest.as_ref(), Some(&pushed.digest));
        assert_eq!(now.repository.as_deref(), Some("registry.example/shop/app"));
    }
    assert_eq!(p.gitops.current("prod", &ctx).await.unwrap(), None);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let started: Vec<Stage> = events
        .iter()
        .filter_map(|e| match e {
            Event::StageStarted { stage } => Some(*stage),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [
            Stage::PreBuildScan,
            Stage::Version,
            Stage::Build,
            Stage::PostBuildScan,
            Stage::Gate,
            Stage::Push,
            Stage::Deploy
        ]
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::GateVerdict { passed: true, .. })));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Deployed { changed: true, .. }))
            .count(),
        2
    );
    // The record round-trips through JSON, but for the merged report,
    // which its JSON leaves out.
    let back: RunRecord = serde_json::from_str(&rec.to_json().unwrap()).unwrap();
    assert_eq!(rec.report.as_ref().unwrap().findings.len(), 1);
    assert_eq!(back.report, None);
    let mut rec = rec;
    rec.report = None;
    assert_eq!(back, rec);
}

#[tokio::test]
async fn a_failed_gate_pushes_and_commits_nothing_and_names_the_finding() {
    let p = parts();
    let rec = base(&p)
        .pre_build(scanner("trivy", vec![secret_finding()]))
        .environment("dev", p.gitops.clone())
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.outcome, Outcome::Failed);
    assert_eq!(rec.failed_stage, Some(Stage::Gate));
    assert!(
        rec.error.as_deref().unwrap().contains("aws-access-key-id"),
        "{:?}",
        rec.error
    );
    assert!(!rec.verdict.as_ref().unwrap().passed);
    assert_eq!(stage(&rec, Stage::Push), Outcome::Skipped);
    assert_eq!(stage(&rec, Stage::Deploy), Outcome::Skipped);
    assert!(p.nothing_pushed().await);
    assert_eq!(p.gitops.commit_count(), 0);
}

#[tokio::test]
async fn a_failing_scanner_fails_the_run_unless_optional() {
    let p = parts();
    let rec = base(&p)
        .pre_build(Failing)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.failed_stage, Some(Stage::PreBuildScan));
    assert!(rec.error.as_deref().unwrap().contains("database missing"));
    assert_eq!(stage(&rec, Stage::Build), Outcome::Skipped);
    assert!(p.nothing_pushed().await);

    let rec = base(&p)
        .pre_build_optional(Failing)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{rec:#?}");
    assert_eq!(rec.warnings.len(), 1);
    assert!(rec.warnings[0].contains("broken"));
    assert!(rec.scanners[0].optional && rec.scanners[0].error.is_some());
}

#[tokio::test]
async fn a_step_timeout_fails_the_run() {
    let p = parts();
    let slow = scanner("slow", vec![]).with_delay(Duration::from_secs(30));
    let rec = base(&p)
        .pre_build(slow)
        .step_timeout(Duration::from_millis(100))
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.outcome, Outcome::Failed);
    assert!(
        rec.error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        rec.error
    );
}

#[tokio::test]
async fn cancelling_mid_scan_stops_before_anything_is_pushed() {
    let p = parts();
    let slow = scanner("slow", vec![]).with_delay(Duration::from_secs(30));
    let ctx = CallContext::new();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    let rec = base(&p)
        .pre_build(slow)
        .environment("dev", p.gitops.clone())
        .build()
        .unwrap()
        .run(&ctx)
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(rec.outcome, Outcome::Cancelled);
    assert!(p.nothing_pushed().await);
    assert_eq!(p.gitops.commit_count(), 0);
}

#[derive(Debug)]
struct Verdict(bool, Arc<Mutex<Vec<String>>>);

#[paragon_core::async_trait]
impl Check for Verdict {
    fn name(&self) -> &str {
        "e2e"
    }
    async fn run(&self, t: &CheckTarget, _: &CallContext) -> paragon_core::Result<CheckResult> {
        self.1
            .lock()
            .unwrap()
            .push(format!("{}:{}", t.environment, t.release.tag));
        Ok(CheckResult {
            passed: self.0,
            detail: if self.0 {
                "ok".into()
            } else {
                "3 of 40 scenarios failed".into()
            },
        })
    }
}

#[tokio::test]
async fn a_failed_check_stops_promotion_and_rolls_back() {
    let p = parts();
    let ctx = CallContext::new();
    // test runs 1.1.0 before the run.
    p.gitops
        .deploy(
            &Release::new("shop", "test", "registry.example/shop/app", "1.1.0"),
            &ctx,
        )
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .check(Verdict(true, seen.clone()))
        .environment("test", p.gitops.clone())
        .check(Verdict(false, seen.clone()))
        .rollback_on_failure()
        .environment("prod", p.gitops.clone())
        .build()
        .unwrap()
        .run(&ctx)
        .await;
    assert_eq!(rec.failed_stage, Some(Stage::Deploy));
    assert!(rec
        .error
        .as_deref()
        .unwrap()
        .contains("3 of 40 scenarios failed"));
    assert_eq!(*seen.lock().unwrap(), ["dev:1.2.0", "test:1.2.0"]);
    let [dev, test, prod] = &rec.deployments[..] else {
        panic!("{rec:#?}")
    };
    assert_eq!(dev.outcome, Outcome::Succeeded);
    assert_eq!(test.outcome, Outcome::Failed);
    assert!(test.rolled_back.is_some());
    assert_eq!(prod.outcome, Outcome::Skipped);
    assert_eq!(
        p.gitops.current("test", &ctx).await.unwrap().unwrap().tag,
        "1.1.0"
    );
    assert_eq!(p.gitops.current("prod", &ctx).await.unwrap(), None);
    assert_eq!(
        p.gitops.current("dev", &ctx).await.unwrap().unwrap().tag,
        "1.2.0"
    );
}

#[tokio::test]
async fn command_checks_see_the_release_and_fail_on_non_zero() {
    let p = parts();
    let ok = CommandCheck::new("env", "sh").with_args([
        "-c",
        "test \"$PARAGON_TAG\" = 1.2.0 && test -n \"$PARAGON_DIGEST\" && echo fine",
    ]);
    let bad = CommandCheck::new("k6", "sh").with_args(["-c", "echo 'p95 too high' >&2; exit 99"]);
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .check(ok)
        .check(bad)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    let dev = &rec.deployments[0];
    assert!(dev.checks[0].passed, "{:?}", dev.checks[0]);
    assert!(!dev.checks[1].passed);
    assert!(
        dev.checks[1].detail.contains("exit code 99")
            && dev.checks[1].detail.contains("p95 too high")
    );
    let slow = CommandCheck::new("slow", "sleep")
        .with_args(["30"])
        .with_timeout(Duration::from_millis(200));
    let rec = base(&p)
        .version(VersionStrategy::explicit("1.2.1").unwrap())
        .environment("test", p.gitops.clone())
        .check(slow)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(
        rec.deployments[0].checks[0].detail.contains("timed out"),
        "{:?}",
        rec.deployments[0]
    );
}

/// A check never sees the process's credentials (the registry password of
/// the `pipeline` example, say), and what it prints of one anyway (read
/// from a file) is redacted from the run record.
#[tokio::test]
async fn checks_get_no_credentials_and_the_record_holds_none() {
    // A name no other test uses: the process environment is shared.
    let (key, value) = ("PARAGON_PIPELINE_TEST_PASSWORD", "pipeline-test-pw-31337");
    std::env::set_var(key, value);
    let p = parts();
    let file = p.dir.path().join("leaked.txt");
    std::fs::write(&file, value).unwrap();
    let check = CommandCheck::new("leak", "sh").with_args([
        "-c".to_owned(),
        format!(
            "echo \"env=[${key}]\"; echo \"file=$(cat {})\"; exit 1",
            file.display()
        ),
    ]);
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .check(check)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    let detail = &rec.deployments[0].checks[0].detail;
    assert!(detail.contains("env=[]"), "{detail}");
    assert!(detail.contains("file=***"), "{detail}");
    assert!(!rec.to_json().unwrap().contains(value));
    std::env::remove_var(key);
}

#[tokio::test]
async fn the_next_version_follows_the_registry() {
    let p = parts();
    for (v, seed) in [("1.2.3", "a"), ("v1.10.0", "b"), ("not-semver", "c")] {
        let d = p.dir.path().join(format!("img-{seed}"));
        let img = paragon_core::plugin::build::testing::minimal_image(&d, seed).unwrap();
        p.registry
            .push(&img, &repo("shop/app"), &[tag(v)], &CallContext::new())
            .await
            .unwrap();
    }
    let run = |bump| {
        Pipeline::builder("shop", p.dir.path())
            .builder(MinimalBuilder)
            .registry(p.registry.clone(), "shop/app")
            .version(VersionStrategy::Next(bump))
            .latest(false)
            .revision_tag("abc1234")
            .build()
            .unwrap()
    };
    let rec = run(Bump::Patch).run(&CallContext::new()).await;
    assert_eq!(rec.version.as_deref(), Some("1.10.1"));
    assert_eq!(rec.pushed.unwrap().tags, ["1.10.1", "abc1234"]);
    assert_eq!(
        run(Bump::Minor)
            .run(&CallContext::new())
            .await
            .version
            .as_deref(),
        Some("1.11.0")
    );
    assert_eq!(
        VersionStrategy::Next(Bump::Major).resolve(&[]).to_string(),
        "1.0.0"
    );
    assert!(VersionStrategy::explicit("1.x").is_err());
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>);

#[paragon_core::async_trait]
impl Notifier for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    async fn notify(&self, run: &RunRecord, _: &CallContext) -> paragon_core::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(paragon_core::plugin::notify::summary_lines(run).join("\n"));
        Err(Error::Http {
            service: "chat".into(),
            method: "POST".into(),
            url: "https://chat.example".into(),
            status: 500,
            message: String::new(),
            source: None,
        })
    }
}

#[tokio::test]
async fn notifiers_hear_of_every_run_and_their_errors_are_warnings() {
    let p = parts();
    let recorder = Arc::new(Recorder::default());
    let rec = base(&p)
        .notifier(recorder.clone())
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded());
    assert!(rec
        .warnings
        .iter()
        .any(|w| w.contains("notifier recorder failed")));
    let said = recorder.0.lock().unwrap().clone();
    assert!(
        said[0].starts_with("shop 1.2.0: succeeded, gate passed"),
        "{said:?}"
    );
    assert!(said[0].contains("image: shop/app@sha256:"));
    let mut m = Metrics::new();
    m.record(&rec);
    let text = m.to_prometheus();
    assert!(
        text.contains("paragon_runs_total{outcome=\"succeeded\"} 1"),
        "{text}"
    );
    assert!(text.contains("paragon_stage_duration_seconds_count{stage=\"build\"} 1"));
    assert!(text.contains("# TYPE paragon_findings_total counter"));
}

#[test]
fn pipelines_are_validated() {
    let p = parts();
    let msg = |b: paragon_core::pipeline::PipelineBuilder| b.build().unwrap_err().to_string();
    assert!(msg(Pipeline::builder("", p.dir.path())).contains("application"));
    assert!(msg(Pipeline::builder("shop", "/no/such/dir")).contains("/no/such/dir"));
    assert!(
        msg(Pipeline::builder("shop", p.dir.path()).post_build(scanner("x", vec![])))
            .contains("builder")
    );
    assert!(
        msg(Pipeline::builder("shop", p.dir.path()).environment("dev", p.gitops.clone()))
            .contains("registry")
    );
    assert!(msg(base(&p)
        .environment("dev", p.gitops.clone())
        .environment("dev", p.gitops.clone()))
    .contains("twice"));
}

#[derive(Debug)]
struct Fixed;

#[paragon_core::async_trait]
impl SecretSource for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    async fn secret(
        &self,
        name: &str,
        _ctx: &CallContext,
    ) -> paragon_core::Result<paragon_core::Secret> {
        match name {
            "e2e#password" => Ok(paragon_core::Secret::new("pa55-for-e2e")),
            _ => Err(Error::Secret {
                store: "fixed".into(),
                name: name.into(),
                message: "no such secret".into(),
            }),
        }
    }
}

#[tokio::test]
async fn checks_get_secrets_from_the_pipeline_redacted() {
    let p = parts();
    let check = CommandCheck::new("login", "sh")
        .with_args([
            "-c",
            "test \"$E2E_PASSWORD\" = pa55-for-e2e && echo \"logged in with $E2E_PASSWORD\"",
        ])
        .with_secret_env("E2E_PASSWORD", "e2e#password");
    let rec = base(&p)
        .secrets(Fixed)
        .environment("dev", p.gitops.clone())
        .check(check)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    let c = &rec.deployments[0].checks[0];
    assert!(c.passed, "{c:?}");
    assert!(
        c.detail.contains("logged in with ***") && !c.detail.contains("pa55"),
        "{c:?}"
    );
    // Without a source, the check fails and says why.
    let needs = CommandCheck::new("login", "true").with_secret_env("E2E_PASSWORD", "e2e#password");
    let rec = base(&p)
        .version(VersionStrategy::explicit("1.2.1").unwrap())
        .environment("test", p.gitops.clone())
        .check(needs)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.deployments[0].checks[0]
        .detail
        .contains("no secret source"));
}

#[tokio::test]
async fn env_secrets_map_names_to_variables() {
    let s = EnvSecrets::new("PARAGON_TEST_SECRETS_");
    assert_eq!(
        s.variable("registry#password"),
        "PARAGON_TEST_SECRETS_REGISTRY_PASSWORD"
    );
    let err = s.secret("nope#x", &CallContext::new()).await.unwrap_err();
    assert!(
        err.to_string().contains("PARAGON_TEST_SECRETS_NOPE_X"),
        "{err}"
    );
}

/// A registry that refuses the credentials when its tags are listed.
#[derive(Debug)]
struct Refusing;

#[paragon_core::async_trait]
impl Registry for Refusing {
    fn name(&self) -> &str {
        "refusing"
    }
    fn location(&self) -> String {
        "registry.example".into()
    }
    async fn push(
        &self,
        _: &paragon_core::BuiltImage,
        _: &paragon_core::Repository,
        _: &[paragon_core::Tag],
        _: &CallContext,
    ) -> paragon_core::Result<paragon_core::Pushed> {
        unreachable!("nothing is pushed after the version stage failed")
    }
    async fn resolve(
        &self,
        _: &paragon_core::Repository,
        _: &paragon_core::Tag,
        _: &CallContext,
    ) -> paragon_core::Result<Option<paragon_core::Digest>> {
        Ok(None)
    }
    async fn list_tags(
        &self,
        _: &paragon_core::Repository,
        _: &CallContext,
    ) -> paragon_core::Result<Vec<String>> {
        Err(Error::Unauthorized {
            service: "registry".into(),
            host: "registry.example".into(),
            message: "wrong password".into(),
        })
    }
    async fn delete_tag(
        &self,
        _: &paragon_core::Repository,
        _: &paragon_core::Tag,
        _: &CallContext,
    ) -> paragon_core::Result<()> {
        Ok(())
    }
}

/// A wrong registry password fails the version stage (not the build), and
/// every later stage is skipped once.
#[tokio::test]
async fn a_registry_refusing_the_credentials_fails_the_version_stage() {
    let p = parts();
    let rec = Pipeline::builder("shop", p.dir.path())
        .builder(MinimalBuilder)
        .registry(Refusing, "shop/app")
        .environment("dev", p.gitops.clone())
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.failed_stage, Some(Stage::Version));
    let error = rec.error.as_deref().unwrap();
    assert!(
        error.contains("registry.example") && error.contains("refused the credentials"),
        "{error}"
    );
    let stages: Vec<(Stage, Outcome)> = rec.stages.iter().map(|s| (s.stage, s.outcome)).collect();
    assert_eq!(
        stages,
        [
            (Stage::PreBuildScan, Outcome::Skipped),
            (Stage::Version, Outcome::Failed),
            (Stage::Build, Outcome::Skipped),
            (Stage::PostBuildScan, Outcome::Skipped),
            (Stage::Gate, Outcome::Skipped),
            (Stage::Push, Outcome::Skipped),
            (Stage::Deploy, Outcome::Skipped),
        ]
    );
    assert_eq!(p.gitops.commit_count(), 0);
}

/// A version the registry holds is refused, before anything is built,
/// unless overwriting is allowed.
#[tokio::test]
async fn an_existing_version_is_not_overwritten_unless_asked() {
    let p = parts();
    assert!(base(&p)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await
        .succeeded());
    let first = p
        .registry
        .resolve(&repo("shop/app"), &tag("1.2.0"), &CallContext::new())
        .await
        .unwrap();
    std::fs::write(p.dir.path().join("main.go"), "package main // changed\n").unwrap();
    let rec = base(&p).build().unwrap().run(&CallContext::new()).await;
    assert_eq!(rec.failed_stage, Some(Stage::Version));
    assert!(rec
        .error
        .as_deref()
        .unwrap()
        .contains("version 1.2.0 is already in shop/app"));
    assert_eq!(rec.image, None, "nothing was built");
    assert_eq!(
        p.registry
            .resolve(&repo("shop/app"), &tag("1.2.0"), &CallContext::new())
            .await
            .unwrap(),
        first
    );
    let rec = base(&p)
        .overwrite_version(true)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{rec:?}");
    assert_ne!(
        p.registry
            .resolve(&repo("shop/app"), &tag("1.2.0"), &CallContext::new())
            .await
            .unwrap(),
        first
    );
}

/// A builder that, while this run builds, has "another run" push another
/// image as the version this run chose.
#[derive(Debug)]
struct Racing {
    registry: MemoryRegistry,
    scratch: std::path::PathBuf,
}

#[paragon_core::async_trait]
impl paragon_core::Builder for Racing {
    fn name(&self) -> &str {
        "racing"
    }
    async fn build(
        &self,
        spec: &paragon_core::BuildSpec,
        ctx: &CallContext,
    ) -> paragon_core::Result<paragon_core::BuiltImage> {
        let other = paragon_core::plugin::build::testing::minimal_image(&self.scratch, "other run")
            .unwrap();
        self.registry
            .push(
                &other,
                &repo("shop/app"),
                &[tag(&spec.ref_name), tag("latest")],
                ctx,
            )
            .await?;
        paragon_core::Builder::build(&MinimalBuilder, spec, ctx).await
    }
}

/// A version another run takes while this one builds fails this run at
/// the push, with nothing pushed: never two runs announcing one version.
#[tokio::test]
async fn a_version_taken_during_the_build_fails_the_push_with_nothing_pushed() {
    let p = parts();
    let racing = Racing {
        registry: p.registry.clone(),
        scratch: p.dir.path().join("other"),
    };
    let rec = Pipeline::builder("shop", p.dir.path())
        .builder(racing)
        .registry(p.registry.clone(), "shop/app")
        .version(VersionStrategy::Next(Bump::Patch))
        .environment("dev", p.gitops.clone())
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.version.as_deref(), Some("0.0.1"));
    assert_eq!(rec.failed_stage, Some(Stage::Push));
    assert!(rec
        .error
        .as_deref()
        .unwrap()
        .contains("pushed to shop/app by another run"));
    assert_eq!(rec.pushed, None);
    let mine = rec.image.unwrap();
    for tag in ["0.0.1", "latest"] {
        assert_ne!(
            p.registry
                .resolve(&repo("shop/app"), &self::tag(tag), &CallContext::new())
                .await
                .unwrap(),
            Some(mine.clone())
        );
    }
    assert_eq!(p.gitops.commit_count(), 0);
}

/// A registry whose push lands and is then cancelled (the signal comes
/// while the tags are checked).
#[derive(Debug)]
struct CancelledAfterTheTags {
    inner: MemoryRegistry,
    cancel: tokio_util::sync::CancellationToken,
}

#[paragon_core::async_trait]
impl Registry for CancelledAfterTheTags {
    fn name(&self) -> &str {
        "memory"
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn push(
        &self,
        image: &paragon_core::BuiltImage,
        repository: &paragon_core::Repository,
        tags: &[paragon_core::Tag],
        ctx: &CallContext,
    ) -> paragon_core::Result<paragon_core::Pushed> {
        let pushed = self.inner.push(image, repository, tags, ctx).await?;
        if tags.is_empty() {
            return Ok(pushed);
        }
        self.cancel.cancel();
        ctx.cancel.cancelled().await;
        Err(Error::Cancelled {
            tool: "registry".into(),
        })
    }
    async fn create_tag(
        &self,
        r: &paragon_core::Repository,
        t: &paragon_core::Tag,
        d: &paragon_core::Digest,
        ctx: &CallContext,
    ) -> paragon_core::Result<bool> {
        self.inner.create_tag(r, t, d, ctx).await
    }
    async fn resolve(
        &self,
        r: &paragon_core::Repository,
        t: &paragon_core::Tag,
        ctx: &CallContext,
    ) -> paragon_core::Result<Option<paragon_core::Digest>> {
        self.inner.resolve(r, t, ctx).await
    }
    async fn list_tags(
        &self,
        r: &paragon_core::Repository,
        ctx: &CallContext,
    ) -> paragon_core::Result<Vec<String>> {
        self.inner.list_tags(r, ctx).await
    }
    async fn delete_tag(
        &self,
        r: &paragon_core::Repository,
        t: &paragon_core::Tag,
        ctx: &CallContext,
    ) -> paragon_core::Result<()> {
        self.inner.delete_tag(r, t, ctx).await
    }
}

/// Cancelled after the tags moved, the record says they did: what it says
/// reached the registry is what the registry holds; nothing is deployed.
#[tokio::test]
async fn a_push_cancelled_after_the_tags_moved_records_the_tags() {
    let p = parts();
    let ctx = CallContext::new();
    let registry = CancelledAfterTheTags {
        inner: p.registry.clone(),
        cancel: ctx.cancel.clone(),
    };
    let rec = Pipeline::builder("shop", p.dir.path())
        .builder(MinimalBuilder)
        .registry(registry, "shop/app")
        .version(VersionStrategy::explicit("2.0.0").unwrap())
        .environment("dev", p.gitops.clone())
        .build()
        .unwrap()
        .run(&ctx)
        .await;
    assert_eq!(rec.outcome, Outcome::Cancelled);
    assert_eq!(rec.failed_stage, Some(Stage::Push));
    let pushed = rec
        .pushed
        .as_ref()
        .expect("the record names the tags that moved");
    assert!(!pushed.complete);
    assert_eq!(pushed.tags, ["2.0.0", "latest"]);
    assert_eq!(
        p.registry
            .resolve(&repo("shop/app"), &tag("latest"), &CallContext::new())
            .await
            .unwrap(),
        Some(pushed.digest.clone())
    );
    assert!(
        rec.error
            .as_deref()
            .unwrap()
            .contains("the registry already has 2.0.0, latest"),
        "{:?}",
        rec.error
    );
    assert_eq!(p.gitops.commit_count(), 0);
}

/// An old secret in the baseline does not fail a run whose policy gates
/// only new findings; a new one does, and the record holds the comparison.
#[tokio::test]
async fn a_baseline_lets_the_gate_fail_only_on_new_findings() {
    use paragon_core::gate::policy::{Policy, PolicyFormat};
    let policy = || {
        Policy::parse(
            "scope = \"new\"\n[secrets]\nfail_on = \"unknown\"\n",
            PolicyFormat::Toml,
        )
        .unwrap()
    };
    let p = parts();
    // The first run, on the whole report, fails on the secret.
    let first = base(&p)
        .pre_build(scanner("trivy", vec![secret_finding()]))
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(first.failed_stage, Some(Stage::Gate));
    let mut saved = Vec::new();
    first
        .report
        .as_ref()
        .unwrap()
        .write_json(&mut saved, false)
        .unwrap();
    let baseline = paragon_core::Report::baseline_from_json("first.json", &saved).unwrap();

    let rec = base(&p)
        .policy(policy())
        .baseline(baseline.clone())
        .pre_build(scanner("trivy", vec![secret_finding(), low_vuln()]))
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{rec:#?}");
    let c = rec.baseline.as_ref().unwrap();
    assert_eq!((c.new, c.unchanged, c.absent.len()), (1, 1, 0));

    let mut fresh = secret_finding();
    fresh.id = "github-pat".into();
    let rec = base(&p)
        .policy(policy())
        .baseline(baseline)
        .overwrite_version(true)
        .pre_build(scanner("trivy", vec![secret_finding(), fresh]))
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.failed_stage, Some(Stage::Gate));
    let failing: Vec<&str> = rec
        .verdict
        .as_ref()
        .unwrap()
        .failures
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(failing, ["github-pat"]);

    // A policy scoped to new findings without a baseline is refused.
    let err = base(&p).policy(policy()).build().unwrap_err();
    assert!(err.to_string().contains("needs a baseline"), "{err}");
}

/// A syft report carrying `document` as the image's CycloneDX SBOM.
fn syft_with_sbom(document: &'static str) -> ScanReport {
    use paragon_core::model::scan_report::{Sbom, SbomFormat};
    let mut report = ScanReport::new(ScannerInfo::new("syft", None::<String>));
    report.sbom = Some(Sbom::new(
        SbomFormat::CycloneDx,
        Some("1.5".into()),
        bytes::Bytes::from(document),
    ));
    report
}

/// The keyed test signer and verifier.
fn keyed(key: &str) -> paragon_core::plugin::sign::testing::KeyedDigest {
    paragon_core::plugin::sign::testing::KeyedDigest::new(key)
}

#[tokio::test]
async fn a_signed_image_is_verified_before_it_is_deployed() {
    let p = parts();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .sign_with(keyed("ci"))
        .verify_with(keyed("ci"))
        .events(tx)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{:?}", rec.error);
    let digest = rec.image.clone().unwrap();
    let signed = rec.signed.clone().unwrap();
    assert_eq!(signed.tag, format!("sha256-{}.sig", digest.hex()));
    assert_eq!(
        (signed.identity.as_str(), signed.signatures),
        ("keyed:ci", 1)
    );
    assert_eq!(rec.verified, Some(vec!["keyed:ci".to_owned()]));
    let ctx = CallContext::new();
    assert_eq!(
        p.registry
            .resolve(&repo("shop/app"), &tag(&signed.tag), &ctx)
            .await
            .unwrap(),
        Some(signed.manifest.clone())
    );
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let at = |f: fn(&Event) -> bool| events.iter().position(f).unwrap();
    assert!(at(|e| matches!(e, Event::Pushed { .. })) < at(|e| matches!(e, Event::Signed { .. })));
    assert!(
        at(|e| matches!(e, Event::Verified { .. })) < at(|e| matches!(e, Event::Deployed { .. }))
    );
    let json = rec.to_json().unwrap();
    assert!(
        json.contains(&signed.tag) && json.contains("\"verified\""),
        "{json}"
    );
    // The provenance and the verdict were attested, and verify.
    let types: Vec<&str> = rec
        .attestations
        .iter()
        .map(|a| a.predicate_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            paragon_core::pipeline::PREDICATE_SLSA_PROVENANCE,
            paragon_core::pipeline::PREDICATE_VERDICT
        ]
    );
    use paragon_core::plugin::sign::cosign::verify_attestations;
    let repository = repo("shop/app");
    let provenance = verify_attestations(
        &p.registry,
        &repository,
        &digest,
        paragon_core::pipeline::PREDICATE_SLSA_PROVENANCE,
        &keyed("ci"),
        &ctx,
    )
    .await
    .unwrap();
    let predicate = &provenance[0].predicate;
    assert_eq!(
        predicate["buildDefinition"]["buildType"],
        paragon_core::pipeline::BUILD_TYPE
    );
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"]["version"],
        "1.2.0"
    );
    assert!(predicate["runDetails"]["metadata"]["startedOn"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let verdict = verify_attestations(
        &p.registry,
        &repository,
        &digest,
        paragon_core::pipeline::PREDICATE_VERDICT,
        &keyed("ci"),
        &ctx,
    )
    .await
    .unwrap();
    assert_eq!(verdict[0].predicate["verdict"]["passed"], true);
    assert_eq!(
        verdict[0].predicate["policy"]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

/// cosign 3's format: the signature and each attestation are Sigstore
/// bundles attached as referrers, listed in the record; no `.sig` or
/// `.att` image is written, and verification before the deploy (with
/// the attestations required) reads the bundles. With both formats, both
/// are written.
#[tokio::test]
async fn bundles_are_written_recorded_and_verified_before_the_deploy() {
    use paragon_core::plugin::sign::{bundle, cosign, SignatureFormat};
    let p = parts();
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .sign_with(keyed("ci"))
        .verify_with(keyed("ci"))
        .require_attestations(true)
        .signature_format(SignatureFormat::Bundles)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{:?}", rec.error);
    assert_eq!(rec.verified, Some(vec!["keyed:ci".to_owned()]));
    assert!(
        rec.signed.is_none() && rec.attestations.is_empty(),
        "{rec:#?}"
    );
    let digest = rec.image.clone().unwrap();
    let (ctx, repository) = (CallContext::new(), repo("shop/app"));
    let bundles: Vec<_> = rec
        .referrers
        .iter()
        .filter(|r| r.artifact_type == bundle::MEDIA_TYPE_BUNDLE)
        .collect();
    let listed = p
        .registry
        .referrers(&repository, &digest, Some(bundle::MEDIA_TYPE_BUNDLE), &ctx)
        .await
        .unwrap();
    assert_eq!(bundles.len(), 3, "a signature, provenance and the verdict");
    assert_eq!(listed.len(), 3);
    for b in &bundles {
        assert!(listed.iter().any(|l| l.digest == b.manifest), "{b:?}");
    }
    let types: Vec<&str> = listed
        .iter()
        .map(|l| l.annotations[bundle::ANNOTATION_PREDICATE_TYPE].as_str())
        .collect();
    for t in [
        bundle::PREDICATE_COSIGN_SIGN,
        paragon_core::pipeline::PREDICATE_SLSA_PROVENANCE,
        paragon_core::pipeline::PREDICATE_VERDICT,
    ] {
        assert!(types.contains(&t), "{types:?}");
    }
    let sig_tag = cosign::signature_tag(&digest);
    assert_eq!(
        p.registry
            .resolve(&repository, &sig_tag, &ctx)
            .await
            .unwrap(),
        None,
        "no .sig image"
    );

    let p = parts();
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .sign_with(keyed("ci"))
        .signature_format(SignatureFormat::Both)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{:?}", rec.error);
    assert!(rec.signed.is_some());
    assert_eq!(rec.attestations.len(), 2);
    let bundles = rec
        .referrers
        .iter()
        .filter(|r| r.artifact_type == bundle::MEDIA_TYPE_BUNDLE)
        .count();
    assert_eq!(bundles, 3);
}

#[tokio::test]
async fn required_attestations_are_checked_before_the_deploy() {
    // A signing pipeline makes them: the deploy goes ahead.
    let p = parts();
    let rec = base(&p)
        .environment("dev", p.gitops.clone())
        .sign_with(keyed("ci"))
        .verify_with(keyed("ci"))
        .require_attestations(true)
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{:?}", rec.error);
    // An image signed elsewhere, without attestations: nothing deployed.
    let p = parts();
    let first = base(&p).sign_with(keyed("ci")).build().unwrap();
    let signed = first.run(&CallContext::new()).await;
    assert!(signed.succeeded(), "{:?}", signed.error);
    let digest = signed.image.clone().unwrap();
    let ctx = CallContext::new();
    let att = paragon_core::plugin::sign::cosign::attestation_tag(&digest);
    p.registry
        .delete_tag(&repo("shop/app"), &att, &ctx)
        .await
        .unwrap();
    let rec = base(&p)
        .overwrite_version(true)
        .environment("dev", p.gitops.clone())
        .verify_with(keyed("ci"))
        .require_attestations(true)
        .build()
        .unwrap()
        .run(&ctx)
        .await;
    assert_eq!(stage(&rec, Stage::Deploy), Outcome::Failed);
    let error = rec.error.unwrap();
    assert!(error.contains("has no attestation"), "{error}");
    assert_eq!(p.gitops.current("dev", &ctx).await.unwrap(), None);
}

#[tokio::test]
async fn an_image_without_an_accepted_signature_is_not_deployed() {
    for signer in [None, Some(keyed("someone-else"))] {
        let p = parts();
        let mut builder = base(&p)
            .environment("dev", p.gitops.clone())
            .environment("test", p.gitops.clone())
            .verify_with(keyed("ci"));
        if let Some(s) = signer.clone() {
            builder = builder.sign_with(s);
        }
        let rec = builder.build().unwrap().run(&CallContext::new()).await;
        assert!(!rec.succeeded());
        assert_eq!(stage(&rec, Stage::Push), Outcome::Succeeded);
        assert_eq!(stage(&rec, Stage::Deploy), Outcome::Failed);
        let error = rec.error.clone().unwrap();
        let digest = rec.image.clone().unwrap();
        assert!(
            error.contains(digest.as_str()) && error.contains("keyed:ci"),
            "{error}"
        );
        let why = if signer.is_some() {
            "not made by an accepted key"
        } else {
            "has no signature"
        };
        assert!(error.contains(why), "{error}");
        assert_eq!(rec.deployments.len(), 2);
        assert!(rec
            .deployments
            .iter()
            .all(|d| d.outcome == Outcome::Skipped));
        let ctx = CallContext::new();
        for env in ["dev", "test"] {
            assert_eq!(p.gitops.current(env, &ctx).await.unwrap(), None, "{env}");
        }
    }
}

#[test]
fn signing_needs_a_registry() {
    let p = parts();
    let err = Pipeline::builder("shop", p.dir.path())
        .builder(MinimalBuilder)
        .sign_with(keyed("ci"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("need a registry"), "{err}");
}

/// A post-build scanner's CycloneDX SBOM is attested as it came, before
/// the provenance and the verdict.
#[tokio::test]
async fn the_image_sbom_is_attested() {
    let p = parts();
    let document = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"left-pad","version":"1.3.0"}]}"#;
    let report = syft_with_sbom(document);
    let rec = base(&p)
        .post_build(CannedScanner::new(report))
        .sign_with(keyed("ci"))
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(rec.succeeded(), "{:?}", rec.error);
    assert_eq!(
        rec.attestations[0].predicate_type,
        paragon_core::pipeline::PREDICATE_CYCLONEDX
    );
    let found = paragon_core::plugin::sign::cosign::verify_attestations(
        &p.registry,
        &repo("shop/app"),
        rec.image.as_ref().unwrap(),
        paragon_core::pipeline::PREDICATE_CYCLONEDX,
        &keyed("ci"),
        &CallContext::new(),
    )
    .await
    .unwrap();
    let wanted: serde_json::Value = serde_json::from_str(document).unwrap();
    assert_eq!(found[0].predicate, wanted);

    // The SBOM is also attached as an OCI 1.1 artifact referring to the
    // image, and recorded.
    use paragon_core::plugin::registry::referrers::ARTIFACT_TYPE_CYCLONEDX;
    let image = rec.image.clone().unwrap();
    let listed = p
        .registry
        .referrers(
            &repo("shop/app"),
            &image,
            Some(ARTIFACT_TYPE_CYCLONEDX),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(rec.referrers.len(), 1);
    assert_eq!(rec.referrers[0].manifest, listed[0].digest);
    assert_eq!(rec.referrers[0].artifact_type, ARTIFACT_TYPE_CYCLONEDX);
    let dir = tempfile::tempdir().unwrap();
    let pulled = p
        .registry
        .pull(
            &repo("shop/app"),
            &paragon_core::plugin::registry::Reference::Digest(listed[0].digest.clone()),
            dir.path(),
            &CallContext::new(),
        )
        .await
        .unwrap()
        .unwrap();
    let layout = paragon_core::OciLayout::open(dir.path()).unwrap();
    let manifest = layout.manifest(&pulled.digest).unwrap();
    let attached: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&manifest.layers[0].digest).unwrap()).unwrap();
    assert_eq!(attached, wanted, "the attached SBOM is the scanner's");
}

#[tokio::test]
async fn the_sbom_is_attached_only_when_asked_without_signing() {
    let document = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#;
    let report = syft_with_sbom(document);
    for attach in [None, Some(true), Some(false)] {
        let p = parts();
        let mut builder = base(&p).post_build(CannedScanner::new(report.clone()));
        if let Some(yes) = attach {
            builder = builder.attach_sbom(yes);
        }
        let rec = builder.build().unwrap().run(&CallContext::new()).await;
        assert!(rec.succeeded(), "{:?}", rec.error);
        let listed = p
            .registry
            .referrers(
                &repo("shop/app"),
                rec.image.as_ref().unwrap(),
                None,
                &CallContext::new(),
            )
            .await
            .unwrap();
        let want = usize::from(attach == Some(true));
        assert_eq!(listed.len(), want, "attach_sbom({attach:?})");
        assert_eq!(rec.referrers.len(), want, "attach_sbom({attach:?})");
    }
}

/// A memory registry that refuses every manifest with a `subject` (an
/// OCI 1.1 artifact), as a registry that knows nothing of them might.
fn no_artifacts(registry: MemoryRegistry) -> paragon_core::plugin::registry::testing::Intercepted {
    use paragon_core::plugin::registry::testing::{Intercept, Intercepted};
    Intercepted::new(registry, |image, _| {
        let layout = paragon_core::OciLayout::open(&image.layout).unwrap();
        if layout.manifest(&image.digest).unwrap().subject.is_some() {
            Intercept::Refuse(Error::Unsupported {
                component: "no-artifacts".into(),
                operation: "manifests with a subject".into(),
            })
        } else {
            Intercept::Pass
        }
    })
}

/// The SBOM attach, the signature and the attestations are written at
/// once: when the attach fails, the run fails naming it, and the record
/// still lists the signature and attestations that were written.
#[tokio::test]
async fn a_failed_sbom_attach_fails_the_push_and_records_what_was_signed() {
    let p = parts();
    let document = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#;
    let report = syft_with_sbom(document);
    let rec = base(&p)
        .registry(no_artifacts(p.registry.clone()), "shop/app")
        .post_build(CannedScanner::new(report))
        .sign_with(keyed("ci"))
        .environment("dev", p.gitops.clone())
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert!(!rec.succeeded());
    assert_eq!(stage(&rec, Stage::Push), Outcome::Failed);
    let detail = rec
        .stages
        .iter()
        .find(|s| s.stage == Stage::Push)
        .and_then(|s| s.detail.clone())
        .unwrap();
    assert!(detail.contains("attaching the SBOM"), "{detail}");
    assert!(detail.contains("manifests with a subject"), "{detail}");
    assert!(rec.referrers.is_empty());
    let signed = rec.signed.clone().expect("the signature was written");
    let ctx = CallContext::new();
    assert_eq!(
        p.registry
            .resolve(&repo("shop/app"), &tag(&signed.tag), &ctx)
            .await
            .unwrap(),
        Some(signed.manifest),
        "the record names the signature the registry holds"
    );
    assert_eq!(rec.attestations.len(), 3, "{:?}", rec.attestations);
    assert!(rec.deployments.is_empty(), "nothing deployed");
}
