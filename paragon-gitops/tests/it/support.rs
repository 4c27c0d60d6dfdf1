//! A bare remote holding a realistic chart and Kustomize overlays.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `git` in `dir` and returns its standard output; a failure (or a
/// missing `git`) fails the test.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.com")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.com")
        .output()
        .expect("these tests need git on PATH");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) const CHART: &str = "apiVersion: v2\nname: shop\ndescription: The shop\n# bumped by the pipeline\nversion: 0.3.9\nappVersion: \"1.19\"\n";

/// A `helm create`-style values file: comments, blank lines, a block
/// scalar, an anchor and alias, a numeric-looking tag.
pub(crate) fn values(env: &str) -> String {
    format!(
        "# Default values for shop ({env}).\n# This is a YAML-formatted file.\n\nreplicaCount: 1\n\nimage:\n  repository: harbor.example/shop/app  # the registry\n  pullPolicy: IfNotPresent\n  # Overrides the image tag whose default is the chart appVersion.\n  tag: 1.20\n\ncommon: &labels\n  team: web\n  tier: \"1\"\n\npodLabels: *labels\n\nconfig: |\n  listen = 8080\n  # not a YAML comment\n  greeting = \"hi\"\n\nservice:\n  type: ClusterIP\n  port: 80\n\nenabled: yes   # YAML 1.1 boolean\n"
    )
}

pub(crate) const KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n\n# images managed by the pipeline\nimages:\n  - name: sidecar\n    newTag: \"7\"\n  - name: shop-app\n    newName: harbor.example/shop/app\n    newTag: \"1.0\"\n";

/// A bare remote (`remote.git`) with the chart and overlays on `main`.
pub(crate) struct Remote {
    pub(crate) dir: tempfile::TempDir,
}

impl Remote {
    pub(crate) fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("remote.git");
        git(
            dir.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                bare.to_str().unwrap(),
            ],
        );
        let seed = dir.path().join("seed");
        git(
            dir.path(),
            &[
                "clone",
                "--quiet",
                bare.to_str().unwrap(),
                seed.to_str().unwrap(),
            ],
        );
        std::fs::create_dir_all(seed.join("charts/shop")).unwrap();
        std::fs::write(seed.join("charts/shop/Chart.yaml"), CHART).unwrap();
        for env in ["dev", "test", "stage"] {
            std::fs::write(
                seed.join(format!("charts/shop/values-{env}.yaml")),
                values(env),
            )
            .unwrap();
        }
        // prod's file has CRLF line endings.
        std::fs::write(
            seed.join("charts/shop/values-prod.yaml"),
            values("prod").replace('\n', "\r\n"),
        )
        .unwrap();
        for env in ["dev", "test", "stage", "prod"] {
            let d = seed.join(format!("overlays/{env}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("kustomization.yaml"), KUSTOMIZATION).unwrap();
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "--quiet", "-m", "seed"]);
        git(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
        Remote { dir }
    }

    pub(crate) fn url(&self) -> String {
        self.dir.path().join("remote.git").display().to_string()
    }

    /// A fresh clone of `main`.
    pub(crate) fn clone_main(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        let _ = std::fs::remove_dir_all(&to);
        git(
            self.dir.path(),
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                &self.url(),
                to.to_str().unwrap(),
            ],
        );
        to
    }

    /// The file at `path` on `main`.
    pub(crate) fn file(&self, path: &str) -> String {
        self.show("main", path)
    }

    pub(crate) fn show(&self, rev: &str, path: &str) -> String {
        git(
            &self.dir.path().join("remote.git"),
            &["show", &format!("{rev}:{path}")],
        )
    }

    pub(crate) fn commits(&self, rev: &str) -> usize {
        git(
            &self.dir.path().join("remote.git"),
            &["rev-list", "--count", rev],
        )
        .trim()
        .parse()
        .unwrap()
    }
}
