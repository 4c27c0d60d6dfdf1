//! Many GitOps writers at once against one bare remote.
//!
//! ```text
//! cargo run --release -p benches --bin gitops_contention -- [--writers 8] [--rounds 5]
//! ```
//!
//! Each round makes a fresh bare repository holding a Helm chart, then
//! starts `--writers` deploys at the same instant, each through its own
//! [`GitOps`] (its own clone, as separate pipelines have), in two
//! scenarios:
//!
//! - `files`: every writer changes its own environment's values file;
//! - `keys`: every writer changes its own service's keys in one shared
//!   values file.
//!
//! Every deploy must land; the remote is then checked: one commit per
//! writer, every writer's tag in place. Printed per scenario: the time
//! until the last writer landed (median and worst of the rounds) and the
//! number of pushes the remote rejected (counted by a `git` wrapper that
//! logs each push).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use paragon_core::plugin::deploy::{GitOpsTarget, Release};
use paragon_core::CallContext;
use paragon_gitops::{GitOps, HelmValues};

const USAGE: &str = "usage: gitops_contention [--writers N] [--rounds N]";

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn values(services: usize) -> String {
    let mut s = String::from("# values for the shop\nreplicaCount: 2\n\n");
    for i in 0..services {
        s.push_str(&format!(
            "svc{i}:\n  image:\n    repository: harbor.example/shop/svc{i}\n    tag: \"1.0.0\"\n  port: {}\n\n",
            8000 + i
        ));
    }
    s
}

/// A bare remote with `charts/shop/values-env{i}.yaml` for each writer
/// and `charts/shop/values-shared.yaml` with a section per writer.
fn remote(dir: &Path, writers: usize) -> Result<PathBuf, String> {
    let bare = dir.join("remote.git");
    let bare_s = bare.to_str().ok_or("temporary path is not UTF-8")?;
    git(
        dir,
        &["init", "--quiet", "--bare", "--initial-branch=main", bare_s],
    )?;
    let seed = dir.join("seed");
    git(
        dir,
        &[
            "clone",
            "--quiet",
            bare_s,
            seed.to_str().ok_or("not UTF-8")?,
        ],
    )?;
    let chart = seed.join("charts/shop");
    std::fs::create_dir_all(&chart).map_err(|e| e.to_string())?;
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    )
    .map_err(|e| e.to_string())?;
    for i in 0..writers {
        std::fs::write(chart.join(format!("values-env{i}.yaml")), values(1))
            .map_err(|e| e.to_string())?;
    }
    std::fs::write(chart.join("values-shared.yaml"), values(writers)).map_err(|e| e.to_string())?;
    git(&seed, &["add", "."])?;
    git(&seed, &["commit", "--quiet", "-m", "chart"])?;
    git(&seed, &["push", "--quiet", "origin", "HEAD:main"])?;
    Ok(bare)
}

/// A `git` that logs each push to `log`, then runs the real git.
fn counting_git(dir: &Path, log: &Path) -> Result<PathBuf, String> {
    let real = which("git").ok_or("git is not on PATH")?;
    let path = dir.join("git-counting");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = push ] && echo push >> '{}' && break; done\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Ok(path)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

struct Outcome {
    last_landed: Duration,
    rejected: usize,
}

async fn round(writers: usize, shared: bool) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bare = remote(dir.path(), writers)?;
    let log = dir.path().join("pushes.log");
    let program = counting_git(dir.path(), &log)?;
    let url = format!("file://{}", bare.display());
    let mut jobs = Vec::new();
    for i in 0..writers {
        let (manifests, env) = if shared {
            (
                HelmValues::new("charts/shop").with_keys(
                    format!("svc{i}.image.repository"),
                    format!("svc{i}.image.tag"),
                ),
                "shared".to_owned(),
            )
        } else {
            (
                HelmValues::new("charts/shop").with_keys("svc0.image.repository", "svc0.image.tag"),
                format!("env{i}"),
            )
        };
        let target = GitOps::new(&url, manifests)
            .with_environments([env.clone()])
            .with_git(&program)
            .with_workdir(dir.path().join(format!("writer-{i}")))
            .with_author("Bench", "bench@example.com");
        let release = Release::new(
            "shop",
            &env,
            format!("harbor.example/shop/svc{i}"),
            format!("2.0.{i}"),
        );
        jobs.push(tokio::spawn(async move {
            let started = Instant::now();
            let deployed = target.deploy(&release, &CallContext::new()).await;
            (started.elapsed(), deployed)
        }));
    }
    let mut last = Duration::ZERO;
    for (i, job) in jobs.into_iter().enumerate() {
        let (took, deployed) = job.await.map_err(|e| e.to_string())?;
        let deployed = deployed.map_err(|e| format!("writer {i} did not land: {e}"))?;
        if deployed.change().is_none() {
            return Err(format!("writer {i} changed nothing"));
        }
        last = last.max(took);
    }
    check(dir.path(), &bare, writers, shared)?;
    let pushes = std::fs::read_to_string(&log)
        .map_err(|e| e.to_string())?
        .lines()
        .count();
    Ok(Outcome {
        last_landed: last,
        rejected: pushes.saturating_sub(writers),
    })
}

/// One commit per writer on the remote, every writer's tag in place.
fn check(dir: &Path, bare: &Path, writers: usize, shared: bool) -> Result<(), String> {
    let count = git(bare, &["rev-list", "--count", "main"])?;
    if count.trim() != (writers + 1).to_string() {
        return Err(format!(
            "{} commits on main, expected {}",
            count.trim(),
            writers + 1
        ));
    }
    let check = dir.join("check");
    git(
        dir,
        &[
            "clone",
            "--quiet",
            bare.to_str().ok_or("not UTF-8")?,
            check.to_str().ok_or("not UTF-8")?,
        ],
    )?;
    for i in 0..writers {
        let (file, svc) = if shared {
            ("values-shared.yaml".to_owned(), i)
        } else {
            (format!("values-env{i}.yaml"), 0)
        };
        let text = std::fs::read_to_string(check.join("charts/shop").join(&file))
            .map_err(|e| e.to_string())?;
        let tag = format!(
            "svc{svc}:\n  image:\n    repository: harbor.example/shop/svc{i}\n    tag: \"2.0.{i}\""
        );
        if !text.contains(&tag) {
            return Err(format!("writer {i}'s tag is not in {file}:\n{text}"));
        }
    }
    Ok(())
}

fn args() -> Result<(usize, usize), String> {
    let (mut writers, mut rounds) = (8, 5);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut number = || -> Result<usize, String> {
            let v = it.next().ok_or(format!("{a} needs a value\n{USAGE}"))?;
            v.parse().map_err(|_| format!("{a} `{v}` is not a number"))
        };
        match a.as_str() {
            "--writers" => writers = number()?,
            "--rounds" => rounds = number()?,
            _ => return Err(USAGE.into()),
        }
    }
    Ok((writers.max(1), rounds.max(1)))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let (writers, rounds) = args()?;
    println!("{writers} writers at once against one bare remote, {rounds} rounds");
    for (name, shared) in [("files", false), ("keys", true)] {
        let mut times = Vec::new();
        let mut rejected = Vec::new();
        for _ in 0..rounds {
            let o = round(writers, shared).await?;
            times.push(o.last_landed);
            rejected.push(o.rejected);
        }
        times.sort();
        println!(
            "{name}: all landed; last landed after {:.2} s median, {:.2} s worst; rejected pushes per round {:?}",
            times[times.len() / 2].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            rejected
        );
    }
    Ok(())
}
