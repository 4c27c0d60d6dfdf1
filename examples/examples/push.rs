//! Builds a directory natively into an image (its files at `/app`) and
//! pushes it with a version tag and `latest`.
//!
//! ```text
//! cargo run -p examples --example push -- --context DIR --registry URL --repository NAME --tag X.Y.Z
//! cargo run -p examples --example push -- --context DIR --repository NAME --tag X.Y.Z [--layout DIR]
//! ```
//!
//! `--base DIR [--base-ref NAME]` builds on the image in the OCI layout
//! `DIR` (named `NAME` there, when it holds several), whose layers are
//! copied as they are; `skopeo copy docker://… oci:DIR:NAME` makes one.
//! `--sign-key FILE` signs the pushed image as `cosign sign --key` does
//! (the key in PKCS#8, SEC1 or cosign's encrypted format, its password in
//! `COSIGN_PASSWORD`); the key is read before anything is built.
//! `--signature-format bundles` signs as cosign 3 does instead (a
//! Sigstore bundle attached as a referrer), `both` both ways; the default
//! is `tagged` (`sha256-<hex>.sig`).
//! `--compression gzip[:LEVEL]|zstd[:LEVEL]|none` sets how the layer is
//! compressed (default `gzip:6`), `--threads N` how many threads compress
//! it (default: one per core); the digest depends on the first, never on
//! the second.
//!
//! With `--registry` (`http://127.0.0.1:5000`, `registry.example.com`), the
//! credentials come from `PARAGON_REGISTRY_USERNAME` and
//! `PARAGON_REGISTRY_PASSWORD` (anonymous when unset). Without it, the image
//! goes to an on-disk OCI layout registry (`--layout`, default
//! `target/paragon-registry`). The registry is asked for the repository's
//! tags before anything is built, so a wrong address or password fails at
//! once. Prints `digest: sha256:…` on success; exit status 2 on any error,
//! and when the push failed or was cancelled after a tag moved, the error
//! says which tags name the image on the registry. Ctrl-C or SIGTERM
//! cancels the build or the push; the build directory is removed either
//! way.

use std::path::PathBuf;
use std::process::ExitCode;

use paragon_core::plugin::build::{BaseImage, BuildSpec, Builder, ImageConfig};
use paragon_core::plugin::registry::{Registry, Repository, Tag};
use paragon_core::plugin::sign::{bundle, SignatureFormat, Signer as _};
use paragon_core::CallContext;
use paragon_core::Secret;
use paragon_registry::cosign::{self, CosignKeySigner};
use paragon_registry::{LayerCompression, NativeBuilder};

const USAGE: &str =
    "usage: push --context DIR [--registry URL | --layout DIR] --repository NAME --tag X.Y.Z \
     [--base DIR [--base-ref NAME]] [--compression gzip[:LEVEL]|zstd[:LEVEL]|none] [--threads N] \
     [--sign-key FILE [--signature-format tagged|bundles|both]]";

struct Args {
    context: PathBuf,
    registry: Option<String>,
    layout: PathBuf,
    repository: Repository,
    tag: Tag,
    builder: NativeBuilder,
    base: Option<BaseImage>,
    sign_key: Option<PathBuf>,
    format: SignatureFormat,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut context, mut registry, mut layout, mut repository, mut tag) =
        (None, None, None, None, None);
    let mut builder = NativeBuilder::new();
    let (mut base, mut base_ref, mut sign_key) = (None, None, None);
    let mut format = None;
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--context" => context = Some(PathBuf::from(value()?)),
            "--registry" => registry = Some(value()?),
            "--layout" => layout = Some(PathBuf::from(value()?)),
            "--repository" => repository = Some(value()?),
            "--tag" => tag = Some(value()?),
            "--base" => base = Some(PathBuf::from(value()?)),
            "--base-ref" => base_ref = Some(value()?),
            "--sign-key" => sign_key = Some(PathBuf::from(value()?)),
            "--signature-format" => {
                format = Some(
                    value()?
                        .parse::<SignatureFormat>()
                        .map_err(|e| format!("{e}\n{USAGE}"))?,
                )
            }
            "--compression" => {
                builder = builder.with_compression(value()?.parse::<LayerCompression>()?)
            }
            "--threads" => {
                let v = value()?;
                let n = v
                    .parse()
                    .map_err(|_| format!("--threads `{v}` is not a number"))?;
                builder = builder.with_threads(n);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(Args {
        context: context.ok_or(format!("--context is required\n{USAGE}"))?,
        registry,
        layout: layout.unwrap_or_else(|| PathBuf::from("target/paragon-registry")),
        repository: Repository::new(
            repository.ok_or(format!("--repository is required\n{USAGE}"))?,
        )
        .map_err(|e| e.to_string())?,
        tag: Tag::new(tag.ok_or(format!("--tag is required\n{USAGE}"))?)
            .map_err(|e| e.to_string())?,
        builder,
        base: match (base, base_ref) {
            (Some(layout), ref_name) => Some(BaseImage { layout, ref_name }),
            (None, Some(_)) => return Err(format!("--base-ref needs --base\n{USAGE}")),
            (None, None) => None,
        },
        format: match (&sign_key, format) {
            (None, Some(_)) => return Err(format!("--signature-format needs --sign-key\n{USAGE}")),
            (_, format) => format.unwrap_or_default(),
        },
        sign_key,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let fail = |e: paragon_core::Error| e.to_string();
    let signer = match &args.sign_key {
        Some(path) => {
            let password = std::env::var("COSIGN_PASSWORD").ok().map(Secret::new);
            Some(CosignKeySigner::from_file(path, password.as_ref()).map_err(fail)?)
        }
        None => None,
    };
    let registry = examples::registry(args.registry.as_deref(), &args.layout)?;
    examples::print_warnings();
    let ctx = CallContext::new();
    examples::cancel_on_signals(&ctx)?;
    // Reachable, and the credentials accepted, before minutes of building.
    registry
        .list_tags(&args.repository, &ctx)
        .await
        .map_err(|e| format!("checking {} before the build: {e}", registry.location()))?;
    // Removed when `run` returns, whatever the outcome: a cancelled or
    // failed build leaves nothing behind.
    let build_dir = tempfile::Builder::new()
        .prefix("paragon-push-")
        .tempdir()
        .map_err(|e| format!("cannot create a build directory: {e}"))?;
    let mut spec = BuildSpec::new(&args.context, build_dir.path().join("layout"))
        .with_ref_name(args.tag.as_str())
        .with_config(ImageConfig::default().with_workdir("/app"))
        .with_annotation("org.opencontainers.image.version", args.tag.as_str());
    if let Some(base) = args.base.clone() {
        spec = spec.with_base(base);
    }
    eprintln!("building {} natively…", args.context.display());
    let image = args.builder.build(&spec, &ctx).await.map_err(fail)?;
    let tags = vec![args.tag.clone(), Tag::latest()];
    eprintln!(
        "pushing to {} as {}, latest…",
        registry.location(),
        args.tag
    );
    let pushed = match registry.push(&image, &args.repository, &tags, &ctx).await {
        Ok(p) => p,
        Err(e) => {
            return Err(format!(
                "{e}\n{}",
                landed(registry.as_ref(), &args.repository, &tags, &image.digest).await
            ))
        }
    };
    eprintln!(
        "pushed {} ({} blob(s) uploaded, {} already there)",
        pushed.reference(),
        pushed.uploaded,
        pushed.skipped
    );
    println!("digest: {}", pushed.digest);
    println!("tags: {}", pushed.tags.join(", "));
    let Some(signer) = &signer else {
        return Ok(());
    };
    let failed =
        |e: paragon_core::Error| format!("the image was pushed, but signing it failed: {e}");
    if args.format.tagged() {
        let name = examples::image_name(args.registry.as_deref(), args.repository.as_str());
        let signed = cosign::sign(
            registry.as_ref(),
            &args.repository,
            &pushed.digest,
            &name,
            signer,
            &ctx,
        )
        .await
        .map_err(failed)?;
        println!("signature: {} (by {})", signed.tag, signed.identity);
    }
    if args.format.bundles() {
        let subject = image.descriptor();
        let attached = bundle::sign(registry.as_ref(), &args.repository, &subject, signer, &ctx)
            .await
            .map_err(failed)?;
        println!(
            "signature: Sigstore bundle {} (by {})",
            attached.digest,
            signer.identity()
        );
    }
    Ok(())
}

/// What a failed or cancelled push left: which of `tags` name `digest`
/// on the registry now (asked afresh, with a bound of its own).
async fn landed(
    registry: &dyn Registry,
    repository: &Repository,
    tags: &[Tag],
    digest: &paragon_core::model::oci::Digest,
) -> String {
    let mut moved = Vec::new();
    for t in tags {
        // A context of its own: the push's may be cancelled.
        let ctx = CallContext::new().with_timeout(std::time::Duration::from_secs(30));
        match registry.resolve(repository, t, &ctx).await {
            Ok(Some(d)) if d == *digest => moved.push(t.as_str()),
            Ok(_) => {}
            Err(e) => return format!("which tags moved is unknown: {e}"),
        }
    }
    if moved.is_empty() {
        format!(
            "no tag of this push names {digest} on {}",
            registry.location()
        )
    } else {
        format!(
            "{} on {} already name {digest}",
            moved.join(", "),
            registry.location()
        )
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
