//! The `gitops` example on real-world charts (Bitnami's nginx, Grafana's,
//! the `helm create` chart, a Kustomize component; see
//! `tests/data/gitops/README.md`) in bare git repositories: exactly the
//! lines that must change, tags that stay strings, `unchanged` on a
//! repeat, diffs `git apply` takes, clear errors that leave the remote as
//! it was, and two runs at once that both land.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::{example, git};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gitops")
        .join(rel)
}

/// A bare repository (`deploy.git`) whose `main` holds `files` (path in
/// the repository, then the test data file or literal text it copies).
struct Remote {
    dir: tempfile::TempDir,
}

enum Content<'a> {
    Data(&'a str),
    Text(&'a str),
}

impl Remote {
    fn new(files: &[(&str, Content<'_>)]) -> Remote {
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
        let seed = dir.path().join("seed");
        for (path, content) in files {
            let to = seed.join(path);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            match content {
                Content::Data(rel) => {
                    std::fs::copy(data(rel), &to).unwrap();
                }
                Content::Text(text) => std::fs::write(&to, text).unwrap(),
            }
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "--quiet", "-m", "seed"]);
        git(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
        Remote { dir }
    }

    fn url(&self) -> String {
        self.bare().display().to_string()
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

    fn head(&self) -> String {
        git(&self.bare(), &["rev-parse", "main"]).trim().to_owned()
    }

    fn file(&self, path: &str) -> String {
        git(&self.bare(), &["show", &format!("main:{path}")])
    }

    /// The lines `main~1..main` removed and added, in order.
    fn last_change(&self) -> Vec<String> {
        changed_lines(&git(&self.bare(), &["diff", "main~1", "main"]))
    }
}

fn changed_lines(diff: &str) -> Vec<String> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(str::to_owned)
        .collect()
}

fn gitops(remote: &Remote, args: &[&str]) -> Output {
    Command::new(example("gitops"))
        .arg("--repo")
        .arg(remote.url())
        .args(args)
        .output()
        .unwrap()
}

/// Runs the example, expects success, and returns the commit it printed
/// (`None` for `unchanged`) and its diff.
fn deploy(remote: &Remote, args: &[&str]) -> (Option<String>, String) {
    let out = gitops(remote, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    if stdout.trim() == "unchanged" {
        return (None, String::new());
    }
    let (first, diff) = stdout.split_once('\n').unwrap();
    let commit = first
        .strip_prefix("commit ")
        .unwrap_or_else(|| panic!("{stdout}"));
    (Some(commit.to_owned()), diff.to_owned())
}

/// Applies `diff` with `git apply` at `main~1` and checks the result is
/// `main`.
fn assert_applies(remote: &Remote, diff: &str) {
    let clone = remote.dir.path().join("apply");
    let _ = std::fs::remove_dir_all(&clone);
    git(
        remote.dir.path(),
        &["clone", "--quiet", &remote.url(), clone.to_str().unwrap()],
    );
    git(&clone, &["checkout", "--quiet", "main~1"]);
    let patch = remote.dir.path().join("change.diff");
    std::fs::write(&patch, diff).unwrap();
    git(&clone, &["apply", patch.to_str().unwrap()]);
    assert_eq!(
        git(&clone, &["diff", "--stat", "origin/main"]).trim(),
        "",
        "the applied diff is not main"
    );
}

fn yaml(text: &str) -> serde_json::Value {
    serde_norway::from_str(text).unwrap()
}

#[test]
fn bitnami_nginx_gets_its_tag_and_app_version_and_a_repeat_is_unchanged() {
    let remote = Remote::new(&[
        (
            "charts/nginx/values.yaml",
            Content::Data("bitnami-nginx/values.yaml"),
        ),
        (
            "charts/nginx/Chart.yaml",
            Content::Data("bitnami-nginx/Chart.yaml"),
        ),
    ]);
    let args = [
        "--values",
        "charts/nginx/values.yaml",
        "--chart",
        "charts/nginx",
        "--tag",
        "1.29.3-debian-12-r1",
        "--app-version",
        "1.29.3",
    ];
    let (commit, diff) = deploy(&remote, &args);
    assert_eq!(commit.as_deref(), Some(remote.head().as_str()));
    assert_eq!(remote.commits(), 2);
    assert_eq!(
        remote.last_change(),
        [
            "-appVersion: 1.29.1",
            "+appVersion: 1.29.3",
            "-  tag: 1.29.1-debian-12-r0",
            "+  tag: 1.29.3-debian-12-r1",
        ]
    );
    assert_eq!(changed_lines(&diff).len(), 4, "{diff}");
    assert_applies(&remote, &diff);
    let values = yaml(&remote.file("charts/nginx/values.yaml"));
    assert_eq!(values["image"]["tag"], "1.29.3-debian-12-r1");
    assert_eq!(values["image"]["repository"], "bitnami/nginx");
    // The same release again: nothing to do.
    assert_eq!(deploy(&remote, &args), (None, String::new()));
    assert_eq!(remote.commits(), 2);

    // A digest goes into the empty `image.digest`.
    let digest = format!("sha256:{}", "ab".repeat(32));
    deploy(
        &remote,
        &[
            "--values",
            "charts/nginx/values.yaml",
            "--tag",
            "1.29.3-debian-12-r1",
            "--digest",
            &digest,
        ],
    );
    assert_eq!(
        remote.last_change(),
        ["-  digest: \"\"", &format!("+  digest: \"{digest}\"")]
    );
}

#[test]
fn grafana_gets_a_tag_that_looks_like_a_number_as_a_string() {
    let remote = Remote::new(&[(
        "charts/grafana/values.yaml",
        Content::Data("grafana/values.yaml"),
    )]);
    let (_, diff) = deploy(
        &remote,
        &["--values", "charts/grafana/values.yaml", "--tag", "1.20"],
    );
    assert_eq!(remote.last_change(), ["-  tag: \"\"", "+  tag: \"1.20\""]);
    assert_applies(&remote, &diff);
    let values = yaml(&remote.file("charts/grafana/values.yaml"));
    assert_eq!(values["image"]["tag"], serde_json::json!("1.20"));
    // Grafana keeps the digest in `image.sha`.
    let digest = format!("sha256:{}", "cd".repeat(32));
    deploy(
        &remote,
        &[
            "--values",
            "charts/grafana/values.yaml",
            "--tag",
            "1.20",
            "--digest",
            &digest,
            "--digest-key",
            "image.sha",
        ],
    );
    assert_eq!(
        remote.last_change(),
        ["-  sha: \"\"", &format!("+  sha: \"{digest}\"")]
    );
}

#[test]
fn the_helm_create_chart_gets_its_empty_tag_and_quoted_app_version_set() {
    let remote = Remote::new(&[
        (
            "charts/demo/values.yaml",
            Content::Data("helm-create/values.yaml"),
        ),
        (
            "charts/demo/Chart.yaml",
            Content::Data("helm-create/Chart.yaml"),
        ),
    ]);
    let args = [
        "--values",
        "charts/demo/values.yaml",
        "--chart",
        "charts/demo",
        "--tag",
        "1.17.0",
    ];
    deploy(&remote, &args);
    assert_eq!(
        remote.last_change(),
        [
            "-appVersion: \"1.16.0\"",
            "+appVersion: \"1.17.0\"",
            "-  tag: \"\"",
            "+  tag: \"1.17.0\"",
        ]
    );
    assert_eq!(deploy(&remote, &args).0, None);
    // Naming the image moves the repository too.
    deploy(
        &remote,
        &[
            "--values",
            "charts/demo/values.yaml",
            "--tag",
            "1.17.0",
            "--repository",
            "registry.example/shop/demo",
        ],
    );
    assert_eq!(
        remote.last_change(),
        [
            "-  repository: nginx",
            "+  repository: registry.example/shop/demo"
        ]
    );
}

#[test]
fn a_kustomize_component_gets_its_placeholder_tag_and_no_needless_new_name() {
    let remote = Remote::new(&[(
        "components/web/kustomization.yaml",
        Content::Data("kustomize-component/kustomization.yaml"),
    )]);
    let file = "components/web/kustomization.yaml";
    let base = ["--kustomization", file, "--image", "ghcr.io/example/web"];
    let (_, diff) = deploy(&remote, &[&base[..], &["--tag", "2.4.0"]].concat());
    assert_eq!(
        remote.last_change(),
        [
            "-    newTag: PLACEHOLDER # set by the release pipeline",
            "+    newTag: 2.4.0 # set by the release pipeline",
        ]
    );
    assert_applies(&remote, &diff);
    // The repository named is the image's own name: still no `newName`.
    let same = [
        &base[..],
        &["--tag", "2.4.0", "--repository", "ghcr.io/example/web"],
    ]
    .concat();
    assert_eq!(deploy(&remote, &same).0, None);
    // Another repository: `newName` says so.
    let moved = [
        &base[..],
        &["--tag", "2.4.1", "--repository", "registry.example/web"],
    ]
    .concat();
    deploy(&remote, &moved);
    assert_eq!(
        remote.last_change(),
        [
            "-    newTag: 2.4.0 # set by the release pipeline",
            "+    newTag: 2.4.1 # set by the release pipeline",
            "+    newName: registry.example/web",
        ]
    );
    let v = yaml(&remote.file(file));
    assert_eq!(v["images"][1]["newTag"], "2.0");
}

/// Runs the example with `args`, expects exit 2 and a message containing
/// each of `says`, and checks the remote did not move.
fn refused(remote: &Remote, args: &[&str], says: &[&str]) {
    let before = remote.head();
    let out = gitops(remote, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for s in says {
        assert!(stderr.contains(s), "{args:?}: expected `{s}` in: {stderr}");
    }
    assert!(
        !stderr.contains("paragon-gitops-"),
        "the message names a temporary clone: {stderr}"
    );
    assert_eq!(remote.head(), before, "{args:?} moved the remote");
}

#[test]
fn bad_input_is_refused_with_a_clear_message_and_the_remote_untouched() {
    let remote = Remote::new(&[
        (
            "charts/demo/values.yaml",
            Content::Data("helm-create/values.yaml"),
        ),
        (
            "charts/broken/values.yaml",
            Content::Text("image:\n  tag: [1.0\n  repository: x\n"),
        ),
    ]);
    refused(
        &remote,
        &["--values", "charts/nope/values.yaml", "--tag", "1.0.0"],
        &["cannot access `charts/nope/values.yaml`", "No such file"],
    );
    refused(
        &remote,
        &[
            "--values",
            "charts/demo/values.yaml",
            "--tag",
            "1.0.0",
            "--tag-key",
            "image.tag.value",
        ],
        &["`image.tag` is a scalar, not a mapping"],
    );
    refused(
        &remote,
        &[
            "--values",
            "charts/demo/values.yaml",
            "--tag",
            "1.0.0",
            "--tag-key",
            "replicaCount.image.tag",
        ],
        &["`replicaCount` is a scalar, not a mapping"],
    );
    refused(
        &remote,
        &["--values", "charts/broken/values.yaml", "--tag", "1.0.0"],
        &["invalid YAML in `charts/broken/values.yaml` at line"],
    );
    refused(
        &remote,
        &["--values", "charts/demo/values.yaml", "--tag", "bad tag"],
        &[
            "invalid release configuration",
            "`bad tag` is not a valid tag",
        ],
    );
    refused(
        &remote,
        &[
            "--values",
            "charts/demo/values.yaml",
            "--tag",
            "1.0.0",
            "--digest",
            "sha256:nope",
        ],
        &["--digest `sha256:nope`"],
    );
    refused(
        &remote,
        &["--values", "charts/demo/values.yaml"],
        &["--tag is required"],
    );
    refused(
        &remote,
        &["--tag", "1.0.0"],
        &["give one of --values and --kustomization"],
    );
    refused(
        &remote,
        &["--kustomization", "k.yaml", "--tag", "1.0.0"],
        &["--image (with --kustomization) is required"],
    );
    refused(
        &remote,
        &["--values", "v.yaml", "--tag", "1", "--frobnicate", "x"],
        &["unknown argument `--frobnicate`"],
    );
    // Remotes that do not exist: a path, and a URL git cannot clone.
    let missing = Command::new(example("gitops"))
        .args([
            "--repo",
            "/nonexistent/deploy.git",
            "--values",
            "v.yaml",
            "--tag",
            "1.0.0",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("the remote `/nonexistent/deploy.git` does not exist"));
    let url = Command::new(example("gitops"))
        .args([
            "--repo",
            "file:///nonexistent/deploy.git",
            "--values",
            "v.yaml",
            "--tag",
            "1.0.0",
        ])
        .output()
        .unwrap();
    assert_eq!(url.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&url.stderr);
    assert!(
        stderr.contains("git clone on file:///nonexistent/deploy.git failed"),
        "{stderr}"
    );
    assert_eq!(remote.commits(), 1);
}

#[test]
fn two_runs_started_together_both_land() {
    let remote = Remote::new(&[
        (
            "charts/a/values.yaml",
            Content::Data("helm-create/values.yaml"),
        ),
        (
            "charts/b/values.yaml",
            Content::Data("helm-create/values.yaml"),
        ),
    ]);
    let start = |chart: &str, tag: &str| {
        Command::new(example("gitops"))
            .arg("--repo")
            .arg(remote.url())
            .args([
                "--values",
                &format!("charts/{chart}/values.yaml"),
                "--tag",
                tag,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start("a", "3.0.0"), start("b", "4.0.0"));
    for run in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let stdout = String::from_utf8_lossy(&run.stdout);
        let commit = stdout
            .lines()
            .next()
            .unwrap()
            .strip_prefix("commit ")
            .unwrap();
        git(
            &remote.bare(),
            &["merge-base", "--is-ancestor", commit, "main"],
        );
    }
    assert_eq!(remote.commits(), 3);
    assert_eq!(
        yaml(&remote.file("charts/a/values.yaml"))["image"]["tag"],
        "3.0.0"
    );
    assert_eq!(
        yaml(&remote.file("charts/b/values.yaml"))["image"]["tag"],
        "4.0.0"
    );
}
