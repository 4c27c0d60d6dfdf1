//! The `pipeline` example end to end with real parts: the CNCF registry
//! (checked with skopeo), a bare git remote, real syft and trivy. The tests
//! that need more than git are ignored unless asked for with
//! `--include-ignored`; then a missing tool fails them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use paragon_core::plugin::registry::Registry as _;
use paragon_core::CallContext;

mod support;

use support::{example, git, path_without, require, tool, TestRegistry};

/// Fails the test unless every tool the end-to-end runs need is there;
/// skopeo's path.
fn tools() -> PathBuf {
    require(&[
        "docker-registry",
        "htpasswd",
        "skopeo",
        "git",
        "trivy",
        "syft",
    ]);
    tool("skopeo").unwrap()
}

const USER: &str = "ci";
const PASSWORD: &str = "ci-pipeline-password";

type Registry = TestRegistry;

fn start() -> Registry {
    TestRegistry::start(USER, PASSWORD)
}

fn values(env: &str, image: &str) -> String {
    format!("# demo in {env}\nreplicaCount: 1\n\nimage:\n  repository: {image}\n  # set by the pipeline\n  tag: \"1.0.0\"\n\nservice:\n  port: 8080\n")
}

/// A bare remote with the demo chart, every environment at 1.0.0.
struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    fn new(image: &str) -> Remote {
        let dir = tempfile::tempdir().unwrap();
        git(
            dir.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                "deploy.git",
            ],
        );
        git(dir.path(), &["clone", "--quiet", "deploy.git", "seed"]);
        let chart = dir.path().join("seed/charts/demo");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
        )
        .unwrap();
        for env in ["dev", "test", "stage", "prod"] {
            std::fs::write(chart.join(format!("values-{env}.yaml")), values(env, image)).unwrap();
        }
        let seed = dir.path().join("seed");
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "--quiet", "-m", "seed"]);
        git(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
        Remote { dir }
    }

    fn url(&self) -> String {
        self.dir.path().join("deploy.git").display().to_string()
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("deploy.git")
    }

    fn commits(&self) -> usize {
        git(&self.bare(), &["rev-list", "--count", "main"])
            .trim()
            .parse()
            .unwrap()
    }

    fn file(&self, env: &str) -> String {
        git(
            &self.bare(),
            &["show", &format!("main:charts/demo/values-{env}.yaml")],
        )
    }
}

fn app(dir: &Path) {
    std::fs::create_dir_all(dir.join("public")).unwrap();
    std::fs::write(dir.join("public/index.html"), "<h1>shop</h1>\n").unwrap();
    std::fs::write(dir.join("server.sh"), "#!/bin/sh\necho serving\n").unwrap();
}

fn pipeline(registry: &Registry, remote: &Remote, source: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(example("pipeline"));
    cmd.args(["--source", source.to_str().unwrap()])
        .args(["--registry", &format!("http://{}", registry.addr)])
        .args(["--repository", "shop/web"])
        .args(["--gitops-repo", &remote.url()])
        .args(extra)
        .env("PARAGON_REGISTRY_USERNAME", USER)
        .env("PARAGON_REGISTRY_PASSWORD", PASSWORD);
    cmd
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs docker-registry, htpasswd, skopeo, trivy and syft"]
fn a_clean_app_goes_all_the_way() {
    let skopeo = tools();
    let registry = start();
    let image = format!("{}/shop/web", registry.addr);
    let remote = Remote::new(&image);
    let src = tempfile::tempdir().unwrap();
    app(src.path());
    let record = src.path().join("record.json");
    let out = pipeline(
        &registry,
        &remote,
        src.path(),
        &[
            "--version",
            "1.4.0",
            "--env",
            "dev",
            "--record",
            record.to_str().unwrap(),
            // A check that would print the registry password it inherited.
            "--check",
            "echo \"PW=[$PARAGON_REGISTRY_PASSWORD]\"",
        ],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD));
    // Progress on stderr, the summary on stdout.
    assert!(
        stderr.contains("▶ pre_build_scan") && stderr.contains("✔ deploy"),
        "{stderr}"
    );
    assert!(
        stderr.contains("trivy: 0 finding(s)") && stderr.contains("syft: 0 finding(s)"),
        "{stderr}"
    );
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    assert!(stdout.contains("tags: 1.4.0, latest"), "{stdout}");
    assert!(stdout.contains("verdict: passed"), "{stdout}");
    // skopeo sees both tags at the one digest.
    assert_eq!(
        registry.digest(&skopeo, "shop/web:1.4.0"),
        Some(digest.clone())
    );
    assert_eq!(
        registry.digest(&skopeo, "shop/web:latest"),
        Some(digest.clone())
    );
    // One new commit, changing only the tag line of dev.
    assert_eq!(remote.commits(), 2);
    let diff = git(&remote.bare(), &["diff", "--unified=0", "main~1", "main"]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changed,
        ["-  tag: \"1.0.0\"", "+  tag: \"1.4.0\""],
        "{diff}"
    );
    assert!(diff.contains("values-dev.yaml") && !diff.contains("values-test.yaml"));
    let commit = stdout
        .lines()
        .find_map(|l| l.strip_prefix("commit dev: "))
        .unwrap();
    assert_eq!(git(&remote.bare(), &["rev-parse", "main"]).trim(), commit);
    // The record says the same, and holds no credential: the check never
    // had the password.
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains("PW=[]"), "{text}");
    let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rec["outcome"], "succeeded");
    assert_eq!(rec["pushed"]["digest"], digest.as_str());
    assert_eq!(rec["deployments"][0]["commit"], commit);
    // syft's SBOM is attached as an artifact referring to the image; the
    // CNCF registry has no referrers API, so skopeo finds the list under
    // the referrers tag.
    let referrer = &rec["referrers"][0];
    assert_eq!(referrer["artifact_type"], "application/vnd.cyclonedx+json");
    let tag = digest.replace("sha256:", "sha256-");
    assert_eq!(referrer["referrers_tag"], tag.as_str());
    let list = registry
        .raw(&skopeo, &format!("shop/web:{tag}"))
        .unwrap_or_else(|| panic!("no referrers list under {tag}"));
    assert_eq!(list["manifests"][0]["digest"], referrer["manifest"]);
    let artifact = registry
        .raw(
            &skopeo,
            &format!("shop/web@{}", referrer["manifest"].as_str().unwrap()),
        )
        .unwrap();
    assert_eq!(artifact["subject"]["digest"], digest.as_str());
    assert_eq!(
        artifact["layers"][0]["mediaType"],
        "application/vnd.cyclonedx+json"
    );
    assert!(
        stdout.contains(&format!(
            "referrer: application/vnd.cyclonedx+json {} (listed under tag {tag})",
            referrer["manifest"].as_str().unwrap()
        )),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs docker-registry, htpasswd, skopeo, trivy and syft"]
fn a_planted_secret_fails_the_gate_and_nothing_moves() {
    let skopeo = tools();
    let registry = start();
    let remote = Remote::new(&format!("{}/shop/web", registry.addr));
    let src = tempfile::tempdir().unwrap();
    app(src.path());
    std::fs::write(
        src.path().join("deploy.env"),
        "GITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3F0rT35t1ngPurp0s3sXy\n",
    )
    .unwrap();
    let out = pipeline(&registry, &remote, src.path(), &["--version", "1.5.0"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("verdict: FAILED"), "{stdout}");
    assert!(
        stdout.contains("github-pat"),
        "the verdict names the secret: {stdout}"
    );
    assert!(
        !stdout.contains("ghp_R4nd0m"),
        "the secret itself is not printed"
    );
    assert_eq!(registry.digest(&skopeo, "shop/web:1.5.0"), None);
    assert_eq!(registry.digest(&skopeo, "shop/web:latest"), None);
    assert_eq!(remote.commits(), 1);
}

#[test]
#[ignore = "needs docker-registry, htpasswd, skopeo, trivy and syft"]
fn cancelling_mid_scan_stops_the_tools_and_leaves_nothing_half_done() {
    let skopeo = tools();
    let registry = start();
    let remote = Remote::new(&format!("{}/shop/web", registry.addr));
    let src = tempfile::tempdir().unwrap();
    app(src.path());
    // Enough files that the scanners are still running when cancelled.
    for i in 0..400 {
        let d = src.path().join(format!("assets/{}", i % 20));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("file{i}.js")),
            format!("console.log({i});\n").repeat(200),
        )
        .unwrap();
    }
    let marker = src.path().to_str().unwrap().to_owned();
    let mut child = pipeline(&registry, &remote, src.path(), &["--version", "1.6.0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a scanner process works on the source, then interrupt.
    // The pipeline's own command line names the source too: only another
    // process counts, or the interrupt could come before the pipeline
    // listens for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pipeline_pid = child.id().to_string();
    let scanning = || {
        Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|pid| pid.trim() != pipeline_pid)
            })
            .unwrap_or(false)
    };
    let saw_scanner = loop {
        if scanning() {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(saw_scanner, "the scanners never started: {stderr}");
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("cancelling"), "{stderr}");
    // No scanner outlives the run; nothing was pushed or committed.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!scanning(), "a scanner process is still running");
    assert_eq!(registry.digest(&skopeo, "shop/web:1.6.0"), None);
    assert_eq!(remote.commits(), 1);
}

#[test]
#[ignore = "needs docker-registry, htpasswd, skopeo, trivy and syft"]
fn a_failing_check_stops_promotion_and_rolls_back() {
    tools();
    let registry = start();
    let image = format!("{}/shop/web", registry.addr);
    let remote = Remote::new(&image);
    let src = tempfile::tempdir().unwrap();
    app(src.path());
    let out = pipeline(
        &registry,
        &remote,
        src.path(),
        &[
            "--version",
            "2.0.0",
            "--env",
            "dev,test,stage",
            "--check",
            "test \"$PARAGON_ENVIRONMENT\" != test || { echo 'smoke test failed in test' >&2; exit 1; }",
            "--rollback",
        ],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("test: check check FAILED"), "{stderr}");
    assert!(stdout.contains("rolled back by"), "{stdout}");
    // dev moved, test was deployed then reverted, stage never touched.
    assert!(remote.file("dev").contains("tag: \"2.0.0\""));
    assert_eq!(remote.file("test"), values("test", &image));
    assert_eq!(remote.file("stage"), values("stage", &image));
    assert_eq!(remote.commits(), 4);
    let subject = git(&remote.bare(), &["log", "-1", "--format=%s", "main"]);
    assert!(
        subject.starts_with("Revert \"deploy demo 2.0.0 to test"),
        "{subject}"
    );
}

/// Runs the main job (`pipeline` without arguments) in `dir`, its command
/// set up by `setup`; asserts it succeeds and returns its standard output
/// and error.
fn main_job(dir: &Path, setup: impl Fn(&mut Command)) -> (String, String) {
    let mut cmd = Command::new(example("pipeline"));
    cmd.current_dir(dir);
    setup(&mut cmd);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The README's main command: no arguments, everything on its defaults,
/// in a directory of its own, with only git installed: it says that it
/// skips the scanners, and releases 0.0.1 then 0.0.2.
#[test]
fn the_main_job_runs_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(&["trivy", "syft"]);
    let run = || {
        main_job(dir.path(), |cmd| {
            cmd.env_remove("PARAGON_TRIVY")
                .env_remove("PARAGON_SYFT")
                .env("PATH", &path);
        })
    };
    let (stdout, stderr) = run();
    assert!(stdout.contains("version: 0.0.1\n"), "{stdout}");
    assert!(stdout.contains("tags: 0.0.1, latest\n"), "{stdout}");
    assert!(stdout.contains("verdict: passed"), "{stdout}");
    assert!(
        stderr.contains("trivy not installed: its scans are skipped")
            && stderr.contains("syft not installed: the SBOM is skipped"),
        "{stderr}"
    );
    assert!(dir
        .path()
        .join("target/paragon-registry/index.json")
        .is_file());
    let commit = stdout
        .lines()
        .find_map(|l| l.strip_prefix("commit dev: "))
        .unwrap();
    let repo = dir.path().join("target/paragon-gitops/deploy.git");
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), commit);
    // It signed with a key it made, and verified before deploying.
    let key = dir.path().join("target/paragon-cosign");
    assert!(key.join("cosign.key").is_file() && key.join("cosign.pub").is_file());
    assert!(stdout.contains("\nsignature: sha256-"), "{stdout}");
    assert!(stdout.contains("\nverified: SHA256:"), "{stdout}");
    assert!(
        stdout.contains("attestation: https://slsa.dev/provenance/v1 (sha256-")
            && stdout.contains("attestation: https://paragon.dev/attestation/verdict/v1"),
        "{stdout}"
    );
    // The verify example accepts the image with the kept key, its
    // provenance and its verdict; there is no SBOM without syft.
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap();
    let verify = |kinds: &[&str]| {
        let mut cmd = Command::new(example("verify"));
        cmd.current_dir(dir.path())
            .args(["--image", &format!("paragon/demo@{digest}")])
            .args(["--key", "target/paragon-cosign/cosign.pub"]);
        for k in kinds {
            cmd.args(["--attestation", k]);
        }
        let out = cmd.output().unwrap();
        (out.status.code(), text(&out).0)
    };
    let (code, out) = verify(&["slsaprovenance1", "vuln"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("attestation: https://slsa.dev/provenance/v1 (1 verified)"),
        "{out}"
    );
    let (code, out) = verify(&["cyclonedx"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("no `https://cyclonedx.org/bom` attestation"),
        "{out}"
    );
    // Run again, it releases the next patch version, with the same key.
    let first_key = std::fs::read(key.join("cosign.key")).unwrap();
    let (stdout, _) = run();
    assert!(stdout.contains("tags: 0.0.2, latest\n"), "{stdout}");
    assert_ne!(git(&repo, &["rev-parse", "main"]).trim(), commit);
    assert_eq!(std::fs::read(key.join("cosign.key")).unwrap(), first_key);
}

/// `--signature-format bundles`: the main job signs and attests as
/// cosign 3 does, three Sigstore bundles attached as referrers and no
/// `.sig` image, verifies them before it deploys, and the verify example
/// accepts them.
#[test]
fn the_main_job_signs_with_cosign_3_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(&["trivy", "syft"]);
    let (stdout, _) = main_job(dir.path(), |cmd| {
        cmd.env_remove("PARAGON_TRIVY")
            .env_remove("PARAGON_SYFT")
            .env("PATH", &path)
            .args(["--signature-format", "bundles"]);
    });
    let bundles = stdout
        .lines()
        .filter(|l| {
            l.starts_with("referrer: application/vnd.dev.sigstore.bundle.v0.3+json sha256:")
        })
        .count();
    assert_eq!(bundles, 3, "{stdout}");
    assert!(!stdout.contains("\nsignature: "), "{stdout}");
    assert!(stdout.contains("\nverified: SHA256:"), "{stdout}");
    assert!(stdout.contains("commit dev: "), "{stdout}");
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap();
    let out = Command::new(example("verify"))
        .current_dir(dir.path())
        .args(["--image", &format!("paragon/demo@{digest}")])
        .args(["--key", "target/paragon-cosign/cosign.pub"])
        .args(["--attestation", "slsaprovenance1", "--attestation", "vuln"])
        .output()
        .unwrap();
    let (verified, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{verified}\n{stderr}");
    assert!(
        verified.contains("attestation: https://slsa.dev/provenance/v1 (1 verified)"),
        "{verified}"
    );
    // A format the job does not know is refused before anything runs.
    let out = Command::new(example("pipeline"))
        .current_dir(dir.path())
        .args(["--signature-format", "sigstore"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out)
        .1
        .contains("`sigstore` is none of tagged, bundles, both"));
}

/// A public key that did not sign: the image is pushed and signed, but
/// no environment is updated, and the error names the image and the key
/// that would have been accepted.
#[test]
fn the_main_job_deploys_nothing_it_cannot_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(&["trivy", "syft"]);
    let stranger = paragon_registry::cosign::CosignKeySigner::generate();
    let other = dir.path().join("other.pub");
    std::fs::write(&other, stranger.public_key_pem()).unwrap();
    let out = Command::new(example("pipeline"))
        .current_dir(dir.path())
        .env_remove("PARAGON_TRIVY")
        .env_remove("PARAGON_SYFT")
        .env("PATH", &path)
        .args(["--verify-key", other.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    use paragon_core::plugin::sign::Signer as _;
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap();
    for wanted in [digest, "not made by an accepted key", &stranger.identity()] {
        assert!(
            stdout.contains(wanted) || stderr.contains(wanted),
            "{wanted}: {stdout}\n{stderr}"
        );
    }
    assert!(!stdout.contains("commit dev: "), "{stdout}");
    assert!(stdout.contains("not deployed to dev"), "{stdout}");
    let repo = dir.path().join("target/paragon-gitops/deploy.git");
    assert_eq!(git(&repo, &["rev-list", "--count", "main"]).trim(), "1");
}

/// The main job with trivy and syft found as the examples find them: both
/// scan before and after the build.
#[test]
#[ignore = "needs trivy and syft"]
fn the_main_job_runs_the_scanners_it_finds() {
    require(&["trivy", "syft"]);
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = main_job(dir.path(), |_| {});
    for line in [
        "trivy (pre_build_scan)",
        "trivy (post_build_scan)",
        "syft (pre_build_scan)",
        "syft (post_build_scan)",
        // syft's SBOM of the image is attested with the rest, and
        // attached as an artifact referring to it.
        "attestation: https://cyclonedx.org/bom (sha256-",
        "referrer: application/vnd.cyclonedx+json sha256:",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}\n{stderr}");
    }
    assert!(!stderr.contains("not installed"), "{stderr}");
    assert!(stdout.contains("tags: 0.0.1, latest\n"), "{stdout}");
    // The verify example lists it among the image's referrers.
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap();
    let out = Command::new(example("verify"))
        .current_dir(dir.path())
        .args(["--image", &format!("paragon/demo@{digest}")])
        .args(["--key", "target/paragon-cosign/cosign.pub"])
        .args(["--attestation", "cyclonedx"])
        .output()
        .unwrap();
    let (out, err) = text(&out);
    assert!(
        out.contains("referrer (unsigned): application/vnd.cyclonedx+json sha256:"),
        "{out}\n{err}"
    );
    assert!(
        out.contains("attestation: https://cyclonedx.org/bom (1 verified)"),
        "{out}\n{err}"
    );
}

#[test]
fn a_tool_variable_naming_no_file_is_an_error_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-trivy");
    let out = Command::new(example("pipeline"))
        .current_dir(dir.path())
        .env("PARAGON_TRIVY", &missing)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "PARAGON_TRIVY is set to {}, which is not a file",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("target").exists(), "nothing is written");
}

/// Runs `n` pipelines at once against one registry (the on-disk layout,
/// or with `real`, the CNCF registry) and one GitOps remote, each on a
/// source of its own, all taking the next patch version. Afterwards every
/// run's printed result must be true: a run that says it succeeded holds
/// its version (distinct from every other run's) at its digest, and its
/// commit is on the remote; a run that failed says why, and no tag it
/// printed names its image.
fn concurrent_runs(n: usize, real: bool) {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("registry");
    let server = real.then(start);
    let image = "registry.example/shop/web";
    let remote = Remote::new(image);
    let path = path_without(&["trivy", "syft"]);
    let children: Vec<_> = (0..n)
        .map(|i| {
            let src = dir.path().join(format!("src-{i}"));
            app(&src);
            std::fs::write(src.join("run.txt"), format!("run {i}\n")).unwrap();
            let mut cmd = Command::new(example("pipeline"));
            cmd.args(["--source", src.to_str().unwrap()]);
            match &server {
                Some(server) => cmd
                    .args(["--registry", &format!("http://{}", server.addr)])
                    .env("PARAGON_REGISTRY_USERNAME", USER)
                    .env("PARAGON_REGISTRY_PASSWORD", PASSWORD),
                None => cmd.args(["--layout", layout.to_str().unwrap()]),
            };
            cmd.args(["--repository", "shop/web"])
                .args(["--gitops-repo", &remote.url()])
                .env("PATH", &path)
                .env_remove("PARAGON_TRIVY")
                .env_remove("PARAGON_SYFT")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let registry: Box<dyn paragon_core::plugin::registry::Registry> = match &server {
        Some(server) => Box::new(
            paragon_registry::DistributionRegistry::new(&server.addr)
                .unwrap()
                .with_credentials(paragon_registry::Credentials::basic(
                    USER,
                    paragon_core::Secret::new(PASSWORD),
                )),
        ),
        None => Box::new(paragon_registry::LayoutRegistry::new(&layout)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut versions = std::collections::BTreeSet::new();
    let mut succeeded = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = text(&out);
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_owned)
        };
        let version = field("version: ").unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
        let digest = field("digest: ").map(|d| d.split(' ').next().unwrap().to_owned());
        match out.status.code() {
            Some(0) => {
                succeeded += 1;
                let digest = digest.unwrap();
                let held = rt
                    .block_on(registry.resolve(
                        &repo("shop/web"),
                        &tag(&version),
                        &CallContext::new(),
                    ))
                    .unwrap()
                    .map(|d| d.to_string());
                assert_eq!(held.as_deref(), Some(digest.as_str()), "{stdout}");
                assert!(
                    versions.insert(version.clone()),
                    "two runs announced {version}"
                );
                let commit = field("commit dev: ").unwrap();
                git(
                    &remote.bare(),
                    &["merge-base", "--is-ancestor", commit.trim(), "main"],
                );
            }
            Some(2) => {
                assert!(
                    stdout.contains("another run") || stdout.contains("error in deploy"),
                    "a failed run says why: {stdout}\n{stderr}"
                );
                if let Some(digest) = digest {
                    let held = rt
                        .block_on(registry.resolve(
                            &repo("shop/web"),
                            &tag(&version),
                            &CallContext::new(),
                        ))
                        .unwrap()
                        .map(|d| d.to_string());
                    assert_ne!(held, Some(digest), "a failed run's tag names its image");
                }
            }
            other => panic!("exit {other:?}: {stdout}\n{stderr}"),
        }
    }
    eprintln!("{succeeded} of {n} runs succeeded: {versions:?}");
    assert!(succeeded >= 1, "no run succeeded");
    // What dev runs is the release of one of the runs that succeeded.
    let dev = remote.file("dev");
    assert!(
        versions
            .iter()
            .any(|v| dev.contains(&format!("tag: \"{v}\""))),
        "{dev} names none of {versions:?}"
    );
}

#[test]
fn two_pipelines_at_once_get_two_versions_or_one_clear_failure() {
    concurrent_runs(2, false);
}

#[test]
fn eight_pipelines_at_once_get_distinct_versions_or_clear_failures() {
    concurrent_runs(8, false);
}

#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn two_pipelines_at_once_against_a_real_registry() {
    require(&["docker-registry", "htpasswd", "git"]);
    concurrent_runs(2, true);
}

#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn eight_pipelines_at_once_against_a_real_registry() {
    require(&["docker-registry", "htpasswd", "git"]);
    concurrent_runs(8, true);
}

/// A run of version `version` on the real registry with `trivy` and
/// `syft` off `PATH`, through `via` (`host:port`), its record in `record`.
fn bare_command(
    via: &str,
    password: &str,
    remote: &Remote,
    src: &Path,
    record: &Path,
    version: &str,
) -> Command {
    app(src);
    let mut cmd = Command::new(example("pipeline"));
    cmd.args(["--source", src.to_str().unwrap()])
        .args(["--registry", &format!("http://{via}")])
        .args(["--repository", "shop/web", "--version", version])
        .args(["--gitops-repo", &remote.url()])
        .args(["--record", record.to_str().unwrap()])
        .env("PARAGON_REGISTRY_USERNAME", USER)
        .env("PARAGON_REGISTRY_PASSWORD", password)
        .env("PATH", path_without(&["trivy", "syft"]))
        .env_remove("PARAGON_TRIVY")
        .env_remove("PARAGON_SYFT");
    cmd
}

/// [`bare_command`] of version 3.0.0, run to its end.
fn bare_run(via: &str, password: &str, remote: &Remote, src: &Path, record: &Path) -> Output {
    bare_command(via, password, remote, src, record, "3.0.0")
        .output()
        .unwrap()
}

/// The record's stages, as `name outcome` pairs.
fn stages(record: &Path) -> Vec<String> {
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    rec["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["stage"].as_str().unwrap(),
                s["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

/// A wrong registry password fails the version stage, before anything is
/// built, and says the registry refused the credentials.
#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn a_wrong_registry_password_fails_before_the_build() {
    require(&["docker-registry", "htpasswd", "git"]);
    let registry = start();
    let remote = Remote::new("registry.example/shop/web");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let out = bare_run(
        &registry.addr,
        "not-the-password",
        &remote,
        &dir.path().join("src"),
        &record,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(!stdout.contains("not-the-password") && !stderr.contains("not-the-password"));
    let stages = stages(&record);
    assert!(stages.contains(&"version failed".to_string()), "{stages:?}");
    assert!(stages.contains(&"build skipped".to_string()), "{stages:?}");
    let said = format!("{stdout}{stderr}").to_lowercase();
    assert!(
        said.contains("unauthorized") || said.contains("refused"),
        "{said}"
    );
    assert_eq!(remote.commits(), 1, "no deploy commit");
}

/// `latest` cannot be written after the version tag landed: the run
/// fails, deploys nothing, and its output and record say the version tag
/// names the image, as skopeo sees it.
#[test]
#[ignore = "needs docker-registry, htpasswd and skopeo"]
fn a_failed_latest_is_recorded_with_the_version_tag_that_landed() {
    use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
    require(&["docker-registry", "htpasswd", "git", "skopeo"]);
    let skopeo = tool("skopeo").unwrap();
    let registry = start();
    let proxy = FaultProxy::start(Some(&registry.addr));
    proxy.add(
        Rule::new(Fault::status(500))
            .method("PUT")
            .path_contains("/manifests/latest"),
    );
    let remote = Remote::new("registry.example/shop/web");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let out = bare_run(
        proxy.address(),
        PASSWORD,
        &remote,
        &dir.path().join("src"),
        &record,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let held = registry.digest(&skopeo, "shop/web:3.0.0");
    assert_eq!(registry.digest(&skopeo, "shop/web:latest"), None);
    let held = held.unwrap_or_else(|| panic!("3.0.0 did not land: {stdout}\n{stderr}"));
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["pushed"]["digest"], held.as_str());
    assert_eq!(rec["pushed"]["tags"], serde_json::json!(["3.0.0"]));
    assert_eq!(rec["pushed"]["complete"], false);
    assert!(
        format!("{stdout}{stderr}").contains(&format!("the registry already has 3.0.0 at {held}")),
        "{stdout}\n{stderr}"
    );
    assert!(stages(&record).contains(&"deploy skipped".to_string()));
    assert_eq!(remote.commits(), 1, "no deploy commit");
}

/// Ctrl-C while the pushed tags are being checked (a 1 s delay on each
/// check): the run exits 2, deploys nothing, and its record and output say
/// exactly which tags name the image, as skopeo sees them.
#[test]
#[ignore = "needs docker-registry, htpasswd and skopeo"]
fn a_cancel_after_the_tags_moved_records_them() {
    use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
    require(&["docker-registry", "htpasswd", "git", "skopeo"]);
    let skopeo = tool("skopeo").unwrap();
    let registry = start();
    let proxy = FaultProxy::start(Some(&registry.addr));
    proxy.add(
        Rule::new(Fault::Delay(Duration::from_secs(1)))
            .method("HEAD")
            .path_contains("/manifests/latest"),
    );
    let remote = Remote::new("registry.example/shop/web");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let mut child = bare_command(
        proxy.address(),
        PASSWORD,
        &remote,
        &dir.path().join("src"),
        &record,
        "3.1.0",
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Interrupt once `latest` has been written and is being checked.
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.seen_matching("HEAD", "/manifests/latest").is_empty() {
        assert!(Instant::now() < deadline, "the push never checked latest");
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(Duration::from_millis(10));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let held: Vec<(&str, Option<String>)> = ["3.1.0", "latest"]
        .into_iter()
        .map(|t| (t, registry.digest(&skopeo, &format!("shop/web:{t}"))))
        .collect();
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["outcome"], "cancelled", "{rec}");
    let digest = rec["pushed"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let recorded: Vec<&str> = rec["pushed"]["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    // What the record says moved is exactly what names the image.
    for (tag, at) in &held {
        assert_eq!(
            recorded.contains(tag),
            at.as_deref() == Some(digest.as_str()),
            "{tag}: registry {at:?}, record {recorded:?}\n{stdout}\n{stderr}"
        );
    }
    // Both were written before the interrupt.
    assert_eq!(recorded, ["3.1.0", "latest"], "{stdout}\n{stderr}");
    assert_eq!(rec["pushed"]["complete"], false);
    assert!(
        format!("{stdout}{stderr}").contains(&format!(
            "the registry already has 3.1.0, latest at {digest}"
        )),
        "{stdout}\n{stderr}"
    );
    assert_eq!(remote.commits(), 1, "no deploy commit");
}

/// A repository name the tests know to be valid.
fn repo(name: &str) -> paragon_core::Repository {
    paragon_core::Repository::new(name).expect("a valid repository name")
}

/// A tag the tests know to be valid.
#[allow(dead_code)]
fn tag(name: &str) -> paragon_core::Tag {
    paragon_core::Tag::new(name).expect("a valid tag")
}
