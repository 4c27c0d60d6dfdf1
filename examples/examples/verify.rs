//! Verifies an image's cosign signature against one or more public keys,
//! as `cosign verify --key` does.
//!
//! ```text
//! cargo run -p examples --example verify -- --registry URL --image REPO@sha256:… --key cosign.pub [--key other.pub]
//!     [--attestation slsaprovenance1|cyclonedx|vuln]…
//! cargo run -p examples --example verify -- --layout DIR --image REPO@sha256:… --key cosign.pub
//! ```
//!
//! Each `--attestation` also requires a valid attestation of that kind
//! signed by an accepted key: `slsaprovenance1` (SLSA provenance v1),
//! `cyclonedx` (a CycloneDX SBOM), `vuln` (the scan verdict, Paragon's
//! `https://paragon.dev/attestation/verdict/v1`; it must say the gate
//! passed).
//!
//! With `--registry` (`http://127.0.0.1:5000`, `registry.example.com`), the
//! credentials come from `PARAGON_REGISTRY_USERNAME` and
//! `PARAGON_REGISTRY_PASSWORD` (anonymous when unset); `--layout` reads an
//! OCI layout registry (default `target/paragon-registry`). Prints the
//! keys whose signatures verified, the identities the signatures name and
//! the artifacts that refer to the image (OCI 1.1 referrers, its SBOM;
//! listed, not verified);
//! exit status 1 when the image is not verified (no signature, another
//! key's, a payload naming another image), naming what failed and the
//! accepted keys; 2 on any other error.

use std::path::PathBuf;
use std::process::ExitCode;

use paragon_core::model::oci::Digest;
use paragon_core::plugin::registry::Repository;
use paragon_core::CallContext;
use paragon_registry::cosign::{self, CosignKeyVerifier};

const USAGE: &str =
    "usage: verify [--registry URL | --layout DIR] --image REPO@sha256:… --key FILE [--key FILE…]";

struct Args {
    registry: Option<String>,
    layout: PathBuf,
    repository: Repository,
    digest: Digest,
    keys: Vec<PathBuf>,
    attestations: Vec<&'static str>,
}

/// The predicate type an `--attestation` names.
fn predicate_type(kind: &str) -> Result<&'static str, String> {
    use paragon_core::pipeline::{
        PREDICATE_CYCLONEDX, PREDICATE_SLSA_PROVENANCE, PREDICATE_VERDICT,
    };
    match kind {
        "slsaprovenance1" => Ok(PREDICATE_SLSA_PROVENANCE),
        "cyclonedx" => Ok(PREDICATE_CYCLONEDX),
        "vuln" => Ok(PREDICATE_VERDICT),
        other => Err(format!(
            "unknown --attestation `{other}` (slsaprovenance1, cyclonedx or vuln)"
        )),
    }
}

fn args() -> Result<Args, String> {
    let (mut registry, mut layout, mut image, mut keys) = (None, None, None, Vec::new());
    let mut attestations = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--registry" => registry = Some(value()?),
            "--layout" => layout = Some(PathBuf::from(value()?)),
            "--image" => image = Some(value()?),
            "--key" => keys.push(PathBuf::from(value()?)),
            "--attestation" => attestations.push(predicate_type(&value()?)?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let image = image.ok_or(format!("--image is required\n{USAGE}"))?;
    let (repository, digest) = image
        .split_once('@')
        .ok_or(format!("--image `{image}` is not REPO@sha256:…"))?;
    if keys.is_empty() {
        return Err(format!("--key is required\n{USAGE}"));
    }
    Ok(Args {
        registry,
        layout: layout.unwrap_or_else(|| PathBuf::from("target/paragon-registry")),
        repository: Repository::new(repository).map_err(|e| e.to_string())?,
        digest: digest
            .parse()
            .map_err(|e: paragon_core::Error| e.to_string())?,
        keys,
        attestations,
    })
}

/// `Ok(true)` when verified, `Ok(false)` when not (the reason printed).
async fn run(args: Args) -> Result<bool, String> {
    let verifier = CosignKeyVerifier::from_files(&args.keys).map_err(|e| e.to_string())?;
    let registry = examples::registry(args.registry.as_deref(), &args.layout)?;
    examples::print_warnings();
    let ctx = CallContext::new();
    examples::cancel_on_signals(&ctx)?;
    let verified = cosign::verify(
        registry.as_ref(),
        &args.repository,
        &args.digest,
        &verifier,
        &ctx,
    )
    .await;
    let verified = match verified {
        Ok(v) => v,
        Err(e @ paragon_core::Error::NotVerified { .. }) => {
            println!("NOT verified: {e}");
            return Ok(false);
        }
        Err(e) => return Err(e.to_string()),
    };
    println!("verified: {}@{}", args.repository, verified.digest);
    println!("keys: {}", verified.identities.join(", "));
    println!("identities: {}", verified.references.join(", "));
    // What refers to the image (its SBOM): listed, not verified.
    match registry
        .referrers(&args.repository, &args.digest, None, &ctx)
        .await
    {
        Ok(listed) => {
            for d in listed {
                let kind = d.artifact_type.as_deref().unwrap_or("(no artifact type)");
                println!("referrer (unsigned): {kind} {}", d.digest);
            }
        }
        Err(e) => eprintln!("warning: cannot list the image's referrers: {e}"),
    }
    if args.attestations.is_empty() {
        return Ok(true);
    }
    let found = cosign::verify_all_attestations(
        registry.as_ref(),
        &args.repository,
        &args.digest,
        &args.attestations,
        &verifier,
        &ctx,
    )
    .await;
    match found {
        Ok(found) => {
            for (predicate_type, attestations) in &found {
                let passed = predicate_type != paragon_core::pipeline::PREDICATE_VERDICT
                    || attestations
                        .iter()
                        .any(|a| a.predicate["verdict"]["passed"] == true);
                if !passed {
                    println!("NOT verified: no {predicate_type} attestation says the gate passed");
                    return Ok(false);
                }
                println!(
                    "attestation: {predicate_type} ({} verified)",
                    attestations.len()
                );
            }
            Ok(true)
        }
        Err(e @ paragon_core::Error::NotVerified { .. }) => {
            println!("NOT verified: {e}");
            Ok(false)
        }
        Err(e) => Err(e.to_string()),
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
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
