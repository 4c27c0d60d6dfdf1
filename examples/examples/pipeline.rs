//! The main job: the whole delivery path on embedded defaults.
//!
//! ```text
//! cargo run -p examples --example pipeline
//! cargo run -p examples --example pipeline -- [--source DIR] [--policy FILE] [--version X.Y.Z]
//!     [--registry URL | --layout DIR] [--repository NAME]
//!     [--gitops-repo URL] [--env dev[,test,…]] [--check CMD] [--rollback] [--pin-digest]
//!     [--overwrite-version] [--record FILE] [--sign-key FILE] [--verify-key FILE]
//!     [--signature-format tagged|bundles|both]
//! ```
//!
//! Without arguments it writes a small demo app, builds it natively into an
//! OCI image, runs syft and trivy when they are installed (saying so when
//! they are not: `PARAGON_SYFT` / `PARAGON_TRIVY`, then `PATH`), merges
//! their findings,
//! applies the policy (default: fail on critical vulnerabilities and any
//! secret), pushes to an on-disk OCI layout (`target/paragon-registry`) as
//! the next patch version and `latest`, and updates the `dev` values of a
//! Helm chart in a local git repository it creates
//! (`target/paragon-gitops/deploy.git`). Progress goes to stderr; the
//! summary (digest, tags, commit, findings by severity and scanner,
//! verdict) to stdout. A `PARAGON_SYFT` or `PARAGON_TRIVY` naming no file
//! is an error, before anything is written.
//!
//! `--registry` pushes to an OCI distribution registry with
//! `PARAGON_REGISTRY_USERNAME` / `PARAGON_REGISTRY_PASSWORD`;
//! `--gitops-repo` writes to that git remote instead (`charts/<app>/values-<env>.yaml`).
//! `--check CMD` runs `sh -c CMD` after each environment's update (it sees
//! `PARAGON_ENVIRONMENT`, `PARAGON_TAG`, `PARAGON_DIGEST`…); a failure stops
//! promotion and, with `--rollback`, reverts the environment's commit.
//! A `--version` the registry holds already is refused unless
//! `--overwrite-version`; a version another run takes while this one
//! builds fails this one before it pushes. After a failed or cancelled
//! push, the summary names the tags the registry was seen to hold.
//! The image's SBOM (from syft) is attached to the pushed image as an OCI
//! 1.1 artifact that refers to it (listed by the registry's referrers API,
//! or under the `sha256-<hex>` referrers tag where there is none). The
//! pushed image is signed as cosign signs it (`sha256-<hex>.sig` in
//! the same repository), its SLSA provenance and scan verdict attested
//! (`sha256-<hex>.att`), and the signature and both attestations verified
//! before any environment is updated. The key is `--sign-key FILE` (PKCS#8, SEC1 or cosign's
//! encrypted format, its password in `COSIGN_PASSWORD`), else one made on
//! the first run and kept in `target/paragon-cosign/cosign.key` (its public
//! half in `cosign.pub` beside it, both printed); `--verify-key FILE`
//! names the public key(s) accepted before deploying (default: the
//! signing key's). `--signature-format bundles` writes the signature and
//! attestations as cosign 3 does instead, Sigstore bundles attached as
//! referrers (`both` writes both; verification reads either).
//! `--pin-digest` also writes `image.digest`; `--record FILE` writes the
//! run record as JSON. Ctrl-C or SIGTERM cancels the run (running tools are
//! stopped).
//!
//! Exit status: 0 when the run succeeded, 1 when the gate failed, 2 on any
//! other failure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use paragon_core::pipeline::{Event, Outcome, Pipeline, RunRecord, Stage, VersionStrategy};
use paragon_core::plugin::build::{BuildSpec, ImageConfig};
use paragon_core::plugin::check::CommandCheck;
use paragon_core::plugin::sign::{SignatureFormat, Signer as _};
use paragon_core::{CallContext, Policy, Severity};
use paragon_gitops::{GitOps, HelmValues};
use paragon_registry::cosign::{CosignKeySigner, CosignKeyVerifier};
use paragon_registry::NativeBuilder;
use paragon_scanners::syft::Syft;
use paragon_scanners::trivy::Trivy;

const USAGE: &str = "usage: pipeline [--source DIR] [--policy FILE] [--version X.Y.Z] [--registry URL | --layout DIR] [--repository NAME] [--gitops-repo URL] [--env dev[,test]] [--check CMD] [--rollback] [--pin-digest] [--overwrite-version] [--record FILE] [--sign-key FILE] [--verify-key FILE] [--signature-format tagged|bundles|both]";

const APP: &str = "demo";

struct Args {
    source: Option<PathBuf>,
    policy: Option<PathBuf>,
    version: Option<String>,
    registry: Option<String>,
    layout: PathBuf,
    repository: String,
    gitops: Option<String>,
    envs: Vec<String>,
    check: Option<String>,
    rollback: bool,
    pin_digest: bool,
    overwrite: bool,
    record: Option<PathBuf>,
    sign_key: Option<PathBuf>,
    verify_key: Option<PathBuf>,
    signature_format: SignatureFormat,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        source: None,
        policy: None,
        version: None,
        registry: None,
        layout: PathBuf::from("target/paragon-registry"),
        repository: format!("paragon/{APP}"),
        gitops: None,
        envs: vec!["dev".into()],
        check: None,
        rollback: false,
        pin_digest: false,
        overwrite: false,
        record: None,
        sign_key: None,
        verify_key: None,
        signature_format: SignatureFormat::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--source" => a.source = Some(value()?.into()),
            "--policy" => a.policy = Some(value()?.into()),
            "--version" => a.version = Some(value()?),
            "--registry" => a.registry = Some(value()?),
            "--layout" => a.layout = value()?.into(),
            "--repository" => a.repository = value()?,
            "--gitops-repo" => a.gitops = Some(value()?),
            "--env" => a.envs = value()?.split(',').map(str::to_owned).collect(),
            "--check" => a.check = Some(value()?),
            "--rollback" => a.rollback = true,
            "--pin-digest" => a.pin_digest = true,
            "--overwrite-version" => a.overwrite = true,
            "--record" => a.record = Some(value()?.into()),
            "--sign-key" => a.sign_key = Some(value()?.into()),
            "--verify-key" => a.verify_key = Some(value()?.into()),
            "--signature-format" => {
                a.signature_format = value()?.parse().map_err(|e| format!("{e}\n{USAGE}"))?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(a)
}

/// The demo app: a static site with a server script and a lock file.
fn demo_app(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("public"))?;
    std::fs::write(dir.join("public/index.html"), "<h1>Paragon demo</h1>\n")?;
    std::fs::write(
        dir.join("server.sh"),
        "#!/bin/sh\nexec busybox httpd -f -p 8080 -h /app/public\n",
    )?;
    std::fs::write(
        dir.join("package.json"),
        "{\n  \"name\": \"paragon-demo\",\n  \"version\": \"1.0.0\",\n  \"dependencies\": { \"left-pad\": \"1.3.0\" }\n}\n",
    )?;
    std::fs::write(
        dir.join("package-lock.json"),
        "{\n  \"name\": \"paragon-demo\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \"requires\": true,\n  \"packages\": {\n    \"\": { \"name\": \"paragon-demo\", \"version\": \"1.0.0\", \"dependencies\": { \"left-pad\": \"1.3.0\" } },\n    \"node_modules/left-pad\": { \"version\": \"1.3.0\", \"resolved\": \"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz\", \"integrity\": \"sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQEEUfo5ILv6LTE2FCMVhcFCIoJsqV4gFGN+kUmAqN9blSSg==\" }\n  }\n}\n",
    )?;
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Paragon demo")
        .env("GIT_AUTHOR_EMAIL", "demo@paragon.invalid")
        .env("GIT_COMMITTER_NAME", "Paragon demo")
        .env("GIT_COMMITTER_EMAIL", "demo@paragon.invalid")
        .output()
        .map_err(|e| format!("git {args:?}: {e} (is git installed?)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A local bare repository holding a Helm chart for the demo, made once.
fn local_gitops(root: &Path, envs: &[String]) -> Result<String, String> {
    let bare = root.join("deploy.git");
    if bare.join("HEAD").exists() {
        return Ok(bare.display().to_string());
    }
    std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
    let root = root.canonicalize().map_err(|e| e.to_string())?;
    let bare = root.join("deploy.git");
    git(
        &root,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "deploy.git",
        ],
    )?;
    let seed = tempfile::tempdir().map_err(|e| e.to_string())?;
    let work = seed.path().join("w");
    git(
        seed.path(),
        &["clone", "--quiet", bare.to_str().unwrap_or_default(), "w"],
    )?;
    let chart = work.join(format!("charts/{APP}"));
    std::fs::create_dir_all(&chart).map_err(|e| e.to_string())?;
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {APP}\nversion: 0.1.0\nappVersion: \"0.0.0\"\n"),
    )
    .map_err(|e| e.to_string())?;
    let mut all: Vec<String> = ["dev", "test", "stage", "prod"].map(String::from).to_vec();
    all.extend(envs.iter().cloned());
    for env in all {
        std::fs::write(
            chart.join(format!("values-{env}.yaml")),
            format!("# {APP} in {env}\nreplicaCount: 1\n\nimage:\n  repository: none\n  # set by the pipeline\n  tag: \"0.0.0\"\n  pullPolicy: IfNotPresent\n\nservice:\n  port: 8080\n"),
        )
        .map_err(|e| e.to_string())?;
    }
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "--quiet", "-m", "the demo chart"])?;
    git(&work, &["push", "--quiet", "origin", "HEAD:main"])?;
    Ok(bare.display().to_string())
}

/// Draws progress from the pipeline's events.
fn progress(e: &Event) {
    match e {
        Event::StageStarted { stage } => eprintln!("▶ {stage}"),
        Event::StageFinished {
            stage,
            outcome,
            millis,
        } => {
            let mark = match outcome {
                Outcome::Succeeded => "✔",
                Outcome::Failed => "✘",
                Outcome::Cancelled => "■",
                Outcome::Skipped => "·",
            };
            eprintln!("{mark} {stage} ({millis} ms)");
        }
        Event::ScannerFinished {
            scanner,
            findings: Some(n),
            ..
        } => {
            eprintln!("  {scanner}: {n} finding(s)")
        }
        Event::ScannerFinished {
            scanner,
            error: Some(e),
            optional,
            ..
        } => {
            eprintln!(
                "  {scanner}: failed{}: {e}",
                if *optional { " (optional)" } else { "" }
            )
        }
        Event::ImageBuilt { digest } => eprintln!("  built {digest}"),
        Event::GateVerdict { passed, failures } => eprintln!(
            "  gate {}",
            if *passed {
                "passed".to_owned()
            } else {
                format!("FAILED on {failures} finding(s)")
            }
        ),
        Event::Pushed {
            repository, tags, ..
        } => eprintln!("  pushed {repository}: {}", tags.join(", ")),
        Event::Deployed {
            environment,
            commit,
            changed,
        } => eprintln!(
            "  {environment}: {} {commit}",
            if *changed { "committed" } else { "already at" }
        ),
        Event::CheckFinished {
            environment,
            check,
            passed,
        } => {
            eprintln!(
                "  {environment}: check {check} {}",
                if *passed { "passed" } else { "FAILED" }
            )
        }
        Event::RolledBack {
            environment,
            commit,
        } => eprintln!("  {environment}: rolled back by {commit}"),
        Event::Warning { message } => eprintln!("  warning: {message}"),
        Event::Attached {
            artifact_type,
            manifest,
            ..
        } => eprintln!("  attached {artifact_type} as {manifest}"),
        Event::Signed { tag, identity, .. } => eprintln!("  signed as {tag} by {identity}"),
        Event::Attested { predicate_type, .. } => eprintln!("  attested {predicate_type}"),
        Event::Verified { identities, .. } => {
            eprintln!("  signature verified ({})", identities.join(", "))
        }
        _ => {}
    }
}

fn summary(rec: &RunRecord) {
    println!("application: {}", rec.application);
    println!("version: {}", rec.version.as_deref().unwrap_or("-"));
    if let Some(p) = &rec.pushed {
        println!("digest: {}", p.digest);
        println!(
            "tags: {}{}",
            p.tags.join(", "),
            if p.complete {
                ""
            } else {
                " (the push did not finish: these tags name the image)"
            }
        );
        println!("registry: {} ({})", p.registry, p.repository);
    } else if let Some(d) = &rec.image {
        println!("digest: {d} (not pushed)");
    }
    for r in &rec.referrers {
        match &r.referrers_tag {
            Some(tag) => println!(
                "referrer: {} {} (listed under tag {tag})",
                r.artifact_type, r.manifest
            ),
            None => println!("referrer: {} {}", r.artifact_type, r.manifest),
        }
    }
    if let Some(s) = &rec.signed {
        println!(
            "signature: {} ({} signature(s), by {})",
            s.tag, s.signatures, s.identity
        );
    }
    for a in &rec.attestations {
        println!("attestation: {} ({})", a.predicate_type, a.tag);
    }
    if let Some(v) = &rec.verified {
        println!("verified: {}", v.join(", "));
    }
    for d in &rec.deployments {
        if d.commit.is_none() && d.outcome != Outcome::Succeeded {
            let how = match d.outcome {
                Outcome::Failed => "failed",
                Outcome::Cancelled => "cancelled",
                _ => "skipped",
            };
            println!("not deployed to {} ({how})", d.environment);
            continue;
        }
        println!(
            "commit {}: {}{}{}",
            d.environment,
            d.commit.as_deref().unwrap_or("-"),
            if d.changed { "" } else { " (unchanged)" },
            d.rolled_back
                .as_ref()
                .map(|r| format!(", rolled back by {r}"))
                .unwrap_or_default()
        );
    }
    let s = &rec.summary;
    println!(
        "findings: {} ({})",
        s.total,
        Severity::DESCENDING
            .iter()
            .map(|sev| format!("{sev} {}", s.by_severity.get(*sev)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for sc in &rec.scanners {
        let merged = s.by_scanner.get(&sc.scanner).copied().unwrap_or(0);
        match (&sc.findings, &sc.error) {
            (Some(n), _) => println!(
                "  {} ({}): {n} reported, in {merged} merged finding(s)",
                sc.scanner, sc.stage
            ),
            (None, Some(e)) => println!("  {} ({}): failed: {e}", sc.scanner, sc.stage),
            (None, None) => {}
        }
    }
    if s.sbom.documents > 0 {
        println!(
            "sbom: {} document(s), {} component(s)",
            s.sbom.documents, s.sbom.components
        );
    }
    match &rec.verdict {
        Some(v) if v.passed => println!("verdict: passed ({} suppressed)", v.suppressed.len()),
        Some(v) => {
            println!("verdict: FAILED");
            for f in &v.failures {
                println!(
                    "  {} {}{} [{}]",
                    f.severity,
                    f.id,
                    f.package
                        .as_ref()
                        .map(|p| format!(" in {p}"))
                        .unwrap_or_default(),
                    f.rule
                );
            }
        }
        None => println!("verdict: -"),
    }
    for w in &rec.warnings {
        println!("warning: {w}");
    }
    if let (Some(stage), Some(e)) = (rec.failed_stage, &rec.error) {
        if stage != Stage::Gate {
            println!("error in {stage}: {e}");
        }
    }
}

async fn run(a: Args) -> Result<RunRecord, String> {
    let fail = |e: paragon_core::Error| e.to_string();
    // Before anything is written: a tool variable set wrong is an error.
    let trivy = examples::installed("trivy")?;
    let syft = examples::installed("syft")?;
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let source = match &a.source {
        Some(s) => s.clone(),
        None => {
            let dir = temp.path().join("demo-app");
            demo_app(&dir).map_err(|e| e.to_string())?;
            eprintln!("no --source: wrote a demo app to {}", dir.display());
            dir
        }
    };
    let policy = match &a.policy {
        Some(p) => Policy::from_path(p).map_err(fail)?,
        None => Policy::recommended(),
    };
    let version = match &a.version {
        Some(v) => VersionStrategy::explicit(v).map_err(fail)?,
        None => VersionStrategy::Next(paragon_core::pipeline::Bump::Patch),
    };
    let registry = examples::registry(a.registry.as_deref(), &a.layout)?;
    let image_repository = examples::image_name(a.registry.as_deref(), &a.repository);
    let remote = match &a.gitops {
        Some(url) => url.clone(),
        None => {
            let root = PathBuf::from("target/paragon-gitops");
            let url = local_gitops(&root, &a.envs)?;
            eprintln!("no --gitops-repo: writing to the local repository {url}");
            url
        }
    };
    let mut values = HelmValues::new(format!("charts/{APP}"));
    if a.pin_digest {
        values = values.with_digest_key("image.digest");
    }
    let gitops = std::sync::Arc::new(
        GitOps::new(&remote, values)
            .with_environments(a.envs.clone())
            .with_author("Paragon pipeline", "pipeline@paragon.invalid"),
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            progress(&e);
        }
    });
    let spec = BuildSpec::new(&source, temp.path().join("layout")).with_config(
        ImageConfig::default()
            .with_workdir("/app")
            .with_cmd(["/app/server.sh"]),
    );
    let mut b = Pipeline::builder(APP, &source)
        .work_dir(temp.path().join("work"))
        .builder(NativeBuilder::new())
        .build_spec(spec)
        .policy(policy)
        .registry(registry, &a.repository)
        .image_repository(image_repository)
        .version(version)
        .overwrite_version(a.overwrite)
        .step_timeout(Duration::from_secs(900))
        .events(tx);
    match trivy {
        Some(bin) => {
            let pre = Trivy::from_env().with_binary(&bin).with_scanners(&["secret", "misconfig"]).offline(true).build().map_err(fail)?;
            let post = Trivy::from_env().with_binary(&bin).with_scanners(&["secret"]).offline(true).build().map_err(fail)?;
            b = b.pre_build(pre).post_build(post);
        }
        None => eprintln!("trivy not installed: its scans are skipped (put trivy on PATH, or set PARAGON_TRIVY to the binary)"),
    }
    match syft {
        Some(bin) => {
            b = b
                .pre_build(Syft::builder().with_binary(&bin).build().map_err(fail)?)
                .post_build(Syft::builder().with_binary(&bin).build().map_err(fail)?);
        }
        None => eprintln!("syft not installed: the SBOM is skipped (put syft on PATH, or set PARAGON_SYFT to the binary)"),
    }
    for env in &a.envs {
        b = b.environment(env, gitops.clone());
        if let Some(cmd) = &a.check {
            b = b.check(CommandCheck::new("check", "sh").with_args(["-c", cmd.as_str()]));
            if a.rollback {
                b = b.rollback_on_failure();
            }
        }
    }
    let (signer, verifier) = signing(&a)?;
    let pipeline = b
        .sign_with(signer)
        .signature_format(a.signature_format)
        .verify_with(verifier)
        .require_attestations(true)
        .build()
        .map_err(fail)?;
    examples::print_warnings();
    let ctx = CallContext::new();
    // Listening starts here, before the run spawns any tool: a signal that
    // arrives while the listener waits for a thread still cancels.
    examples::cancel_on_signals(&ctx)?;
    let rec = pipeline.run(&ctx).await;
    drop(pipeline);
    let _ = printer.await;
    if let Some(path) = &a.record {
        std::fs::write(path, rec.to_json().map_err(fail)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(rec)
}

/// The signing key (`--sign-key`, else the one kept under `target/`, made
/// on the first run) and the keys accepted before deploying.
fn signing(a: &Args) -> Result<(CosignKeySigner, CosignKeyVerifier), String> {
    let fail = |e: paragon_core::Error| e.to_string();
    let password = std::env::var("COSIGN_PASSWORD")
        .ok()
        .map(paragon_core::Secret::new);
    let signer = match &a.sign_key {
        Some(path) => CosignKeySigner::from_file(path, password.as_ref()).map_err(fail)?,
        None => {
            let dir = PathBuf::from("target/paragon-cosign");
            let key = dir.join("cosign.key");
            let signer = kept_key(&dir, &key)?;
            eprintln!(
                "no --sign-key: signing with {} ({}); its public key is {}:\n{}",
                key.display(),
                signer.identity(),
                dir.join("cosign.pub").display(),
                signer.public_key_pem().trim_end()
            );
            signer
        }
    };
    let verifier = match &a.verify_key {
        Some(path) => CosignKeyVerifier::from_files(&[path]).map_err(fail)?,
        None => CosignKeyVerifier::from_pem(&signer.public_key_pem()).map_err(fail)?,
    };
    Ok((signer, verifier))
}

/// The key kept in `dir`, made on the first run: written aside (readable
/// by its owner only) and renamed into place unless another run's is
/// there first, which is then used.
fn kept_key(dir: &Path, key: &Path) -> Result<CosignKeySigner, String> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let fail = |e: paragon_core::Error| e.to_string();
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    if !key.is_file() {
        std::fs::create_dir_all(dir).map_err(io)?;
        let fresh = CosignKeySigner::generate();
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        tmp.write_all(fresh.private_key_pem().expose().as_bytes())
            .map_err(io)?;
        // Another run may have made one meanwhile: then that one is used.
        if let Err(e) = tmp.persist_noclobber(key) {
            if e.error.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(io(e.error));
            }
        }
    }
    let signer = CosignKeySigner::from_file(key, None).map_err(fail)?;
    std::fs::write(dir.join("cosign.pub"), signer.public_key_pem()).map_err(io)?;
    Ok(signer)
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(a).await {
        Ok(rec) => {
            summary(&rec);
            match (rec.outcome, rec.failed_stage) {
                (Outcome::Succeeded, _) => ExitCode::SUCCESS,
                (_, Some(Stage::Gate)) => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
