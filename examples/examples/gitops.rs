//! Writes a new image tag into a Helm values file or a Kustomize
//! kustomization in a git repository, commits and pushes it: the GitOps
//! stage of the pipeline on its own, for any chart.
//!
//! ```text
//! cargo run -p examples --example gitops -- --repo URL_OR_PATH --values PATH_IN_REPO --tag TAG
//!     [--branch main] [--repository IMAGE] [--digest sha256:…] [--tag-key image.tag]
//!     [--repository-key image.repository] [--digest-key image.digest]
//!     [--chart DIR_IN_REPO] [--app-version VERSION] [--app NAME] [--env NAME]
//! cargo run -p examples --example gitops -- --repo URL_OR_PATH --kustomization PATH_IN_REPO
//!     --image NAME --tag TAG [--repository IMAGE] [--digest sha256:…] …
//! ```
//!
//! It clones the branch (default `main`) into a temporary directory, edits
//! only the lines that must change (comments, quoting and layout stay),
//! commits, and pushes; a push rejected because someone pushed first is
//! redone on the new head. Without `--repository` only the tag moves (and
//! the digest, with `--digest`). `--chart` also sets `appVersion` in that
//! directory's `Chart.yaml` (to `--app-version`, default the tag).
//! `--digest` writes the digest at `--digest-key` (default `image.digest`).
//! A Kustomize image entry gets `newName` only when `--repository` differs
//! from `--image`.
//!
//! Prints `commit <id>` and the change as a unified diff (`git apply` takes
//! it), or `unchanged` when the repository already says so. Exit status 0
//! on success, 2 with a message on any error (a missing file, named by its
//! path in the repository; a key path through a value; invalid YAML; a
//! remote that does not exist; an invalid tag); the remote is then left as
//! it was. Credentials for an `https://` remote may be given in the URL
//! (`https://user:token@host/…`): they reach git through its environment
//! only, never its config or the output.

use std::process::ExitCode;

use paragon_core::plugin::deploy::{Deployment, GitOpsTarget, Release};
use paragon_core::{CallContext, Digest};
use paragon_gitops::{GitOps, HelmValues, Kustomize, Manifests};

const USAGE: &str = "usage: gitops --repo URL_OR_PATH (--values PATH | --kustomization PATH --image NAME) --tag TAG \
[--branch B] [--repository IMAGE] [--digest sha256:…] [--tag-key K] [--repository-key K] [--digest-key K] \
[--chart DIR] [--app-version V] [--app NAME] [--env NAME]";

/// What to edit.
enum Target {
    Helm {
        values: String,
        tag_key: String,
        repository_key: String,
        digest_key: Option<String>,
        chart: Option<String>,
    },
    Kustomize {
        file: String,
        image: String,
    },
}

struct Args {
    repo: String,
    branch: String,
    target: Target,
    tag: String,
    repository: Option<String>,
    digest: Option<Digest>,
    app_version: Option<String>,
    app: String,
    env: String,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut opts = std::collections::BTreeMap::new();
    while let Some(a) = it.next() {
        if matches!(a.as_str(), "-h" | "--help") {
            return Err(USAGE.into());
        }
        const KNOWN: &[&str] = &[
            "--repo",
            "--branch",
            "--values",
            "--kustomization",
            "--image",
            "--tag",
            "--repository",
            "--digest",
            "--tag-key",
            "--repository-key",
            "--digest-key",
            "--chart",
            "--app-version",
            "--app",
            "--env",
        ];
        if !KNOWN.contains(&a.as_str()) {
            return Err(format!("unknown argument `{a}`\n{USAGE}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))?;
        if opts.insert(a.clone(), value).is_some() {
            return Err(format!("{a} is given twice\n{USAGE}"));
        }
    }
    let mut take = |k: &str| opts.remove(k);
    let required = |v: Option<String>, k: &str| v.ok_or(format!("{k} is required\n{USAGE}"));
    let repo = required(take("--repo"), "--repo")?;
    let tag = required(take("--tag"), "--tag")?;
    let repository = take("--repository");
    let digest = take("--digest")
        .map(|d| {
            d.parse::<Digest>()
                .map_err(|e| format!("--digest `{d}`: {e}"))
        })
        .transpose()?;
    let target = match (take("--values"), take("--kustomization")) {
        (Some(values), None) => {
            if take("--image").is_some() {
                return Err(format!("--image goes with --kustomization\n{USAGE}"));
            }
            let digest_key = take("--digest-key")
                .or_else(|| digest.is_some().then(|| "image.digest".to_owned()));
            Target::Helm {
                values,
                tag_key: take("--tag-key").unwrap_or_else(|| "image.tag".into()),
                repository_key: take("--repository-key")
                    .unwrap_or_else(|| "image.repository".into()),
                digest_key,
                chart: take("--chart"),
            }
        }
        (None, Some(file)) => {
            for helm_only in ["--tag-key", "--repository-key", "--digest-key", "--chart"] {
                if take(helm_only).is_some() {
                    return Err(format!("{helm_only} goes with --values\n{USAGE}"));
                }
            }
            Target::Kustomize {
                file,
                image: required(take("--image"), "--image (with --kustomization)")?,
            }
        }
        _ => return Err(format!("give one of --values and --kustomization\n{USAGE}")),
    };
    let app = take("--app").unwrap_or_else(|| default_app(&target, repository.as_deref()));
    Ok(Args {
        repo: remote(&repo)?,
        branch: take("--branch").unwrap_or_else(|| "main".into()),
        app_version: take("--app-version"),
        env: take("--env").unwrap_or_else(|| "default".into()),
        target,
        tag,
        repository,
        digest,
        app,
    })
}

/// The application's name for commit messages: the last part of the image
/// repository, else of the chart directory, the Kustomize image or the
/// values file's directory.
fn default_app(target: &Target, repository: Option<&str>) -> String {
    let last = |s: &str| {
        s.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(s)
            .to_owned()
    };
    match (repository, target) {
        (Some(r), _) => last(r),
        (None, Target::Helm { chart: Some(c), .. }) => last(c),
        (None, Target::Helm { values, .. }) => match values.rsplit_once('/') {
            Some((dir, _)) => last(dir),
            None => "app".into(),
        },
        (None, Target::Kustomize { image, .. }) => last(image),
    }
}

/// A URL as given; a local path made absolute (git clones from a temporary
/// directory), and refused when nothing is there.
fn remote(repo: &str) -> Result<String, String> {
    let is_url = repo.contains("://") || (repo.contains('@') && repo.contains(':'));
    if is_url {
        return Ok(repo.to_owned());
    }
    std::fs::canonicalize(repo)
        .map(|p| p.display().to_string())
        .map_err(|e| format!("the remote `{repo}` does not exist: {e}"))
}

async fn run(args: Args, ctx: &CallContext) -> Result<(), String> {
    let manifests: Manifests = match &args.target {
        Target::Helm {
            values,
            tag_key,
            repository_key,
            digest_key,
            chart,
        } => {
            let mut helm = HelmValues::new(".")
                .with_values_file(values)
                .with_keys(repository_key, tag_key);
            if let Some(key) = digest_key {
                helm = helm.with_digest_key(key);
            }
            if let Some(dir) = chart {
                let dir = dir.trim_end_matches('/');
                helm = helm
                    .with_chart_file(format!("{dir}/Chart.yaml"))
                    .with_app_version(None);
            }
            helm.into()
        }
        Target::Kustomize { file, image } => Kustomize::new(image).with_path(file).into(),
    };
    let target = GitOps::new(&args.repo, manifests)
        .with_branch(&args.branch)
        .with_environments([args.env.as_str()]);
    let mut release = match &args.repository {
        Some(r) => Release::new(&args.app, &args.env, r, &args.tag),
        None => Release::tag_only(&args.app, &args.env, &args.tag),
    };
    if let Some(d) = &args.digest {
        release = release.with_digest(d.clone());
    }
    if let Some(v) = &args.app_version {
        release = release.with_app_version(v);
    }
    eprintln!("updating {} to {}…", target.location(), args.tag);
    match target
        .deploy(&release, ctx)
        .await
        .map_err(|e| e.to_string())?
    {
        Deployment::Changed(change) => {
            eprintln!("pushed {} file(s)", change.files.len());
            println!("commit {}", change.commit);
            print!("{}", change.diff);
        }
        Deployment::Unchanged { commit, .. } => {
            eprintln!("the repository already says so (at {commit})");
            println!("unchanged");
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    examples::print_warnings();
    let ctx = CallContext::new();
    if let Err(e) = examples::cancel_on_signals(&ctx) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match run(args, &ctx).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
