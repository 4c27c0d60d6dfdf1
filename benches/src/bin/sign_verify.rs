//! What cosign signing adds to a push, and what verifying costs before a
//! deploy, against a local `docker-registry`.
//!
//! ```text
//! cargo run --release -p benches --bin sign_verify -- [--rounds 20] [--settle MS]
//!     [--registry distribution|layout] [--format tagged|bundles]
//! ```
//!
//! Builds a small app natively (the main job's kind of image) once, starts
//! `docker-registry serve` on a loopback port (plain http, its storage in
//! a temporary directory), then, each round into a repository of its own:
//! pushes the image under a tag, signs it with a P-256 key
//! (`cosign::sign`) and, at the same time, attests its SBOM (a CycloneDX
//! document of 50 components), SLSA provenance and verdict
//! (`cosign::attest_all`); both read their image back after the
//! tag-settle wait, so that racing signers keep their signatures. Then it
//! verifies the signature (`cosign::verify`) and the provenance and
//! verdict (`cosign::verify_all_attestations`), as a signing and verifying
//! pipeline does; it also attaches the SBOM as an OCI 1.1 artifact
//! (`referrers::attach`: docker-registry has no referrers API, so the
//! `sha256-<hex>` referrers tag is updated, with the tag-settle wait) and
//! lists the referrers. `--settle MS` sets the tag-settle wait (default
//! the registry's 1 s; 0 gives up the read-back, as cosign does).
//! `--registry layout` runs the same rounds on an OCI layout registry
//! (the main job's embedded default), which moves the signature and
//! attestation tags by compare and swap (`Registry::push_if`) and has no
//! wait. `--format bundles` signs and attests as cosign 3 does instead:
//! four Sigstore bundles attached as referrers, at once. Prints the
//! median and worst of each step. Needs
//! `docker-registry` on `PATH` (not for `--registry layout`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paragon_core::plugin::build::{BuildSpec, Builder};
use paragon_core::plugin::registry::referrers::{self, Artifact, ARTIFACT_TYPE_CYCLONEDX};
use paragon_core::plugin::registry::{Registry, Repository, Tag};
use paragon_core::plugin::sign::{bundle, SignatureFormat};
use paragon_core::CallContext;
use paragon_registry::cosign::{self, CosignKeySigner, CosignKeyVerifier};
use paragon_registry::{DistributionRegistry, LayoutRegistry, NativeBuilder};

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// `docker-registry serve` on a loopback port; killed when dropped.
struct LocalRegistry(std::process::Child);

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, port: u16) -> Result<LocalRegistry, String> {
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("cannot start docker-registry (apt-get install docker-registry): {e}")
        })?;
    let registry = LocalRegistry(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(registry);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("docker-registry did not start".into())
}

fn demo_app(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("public"))?;
    std::fs::write(dir.join("public/index.html"), "<h1>Paragon demo</h1>\n")?;
    std::fs::write(
        dir.join("server.sh"),
        "#!/bin/sh\nexec busybox httpd -f -p 8080\n",
    )?;
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"demo\",\"version\":\"1.0.0\"}\n",
    )
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name}: {:.1} ms median, {:.1} ms worst",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut rounds = 20usize;
    let mut settle = None;
    let mut layout = false;
    let mut format = SignatureFormat::Tagged;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--rounds", Some(n)) => rounds = n.parse().map_err(|_| format!("--rounds `{n}`"))?,
            ("--settle", Some(n)) => {
                settle = Some(Duration::from_millis(
                    n.parse().map_err(|_| format!("--settle `{n}`"))?,
                ))
            }
            ("--registry", Some(kind)) if kind == "layout" || kind == "distribution" => {
                layout = kind == "layout";
            }
            ("--format", Some(f)) => {
                format = f.parse().map_err(|e: paragon_core::Error| e.to_string())?
            }
            _ => return Err(
                "usage: sign_verify [--rounds N] [--settle MS] [--registry distribution|layout]"
                    .into(),
            ),
        }
    }
    let err = |e: paragon_core::Error| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    demo_app(&dir.path().join("app")).map_err(|e| e.to_string())?;
    let ctx = CallContext::new();
    let image = NativeBuilder::new()
        .build(
            &BuildSpec::new(dir.path().join("app"), dir.path().join("layout")),
            &ctx,
        )
        .await
        .map_err(err)?;
    let (registry, _server, host): (Box<dyn Registry>, _, String) = if layout {
        let root = dir.path().join("registry");
        let host = format!("an OCI layout at {}", root.display());
        (Box::new(LayoutRegistry::new(root)), None, host)
    } else {
        let port = free_port()?;
        let server = start(dir.path(), port)?;
        let mut registry = DistributionRegistry::new(&format!("127.0.0.1:{port}")).map_err(err)?;
        if let Some(settle) = settle {
            registry = registry.with_tag_settle(settle);
        }
        let host = format!("docker-registry on 127.0.0.1:{port}");
        (Box::new(registry), Some(server), host)
    };
    let registry = registry.as_ref();
    let signer = CosignKeySigner::generate();
    let verifier = CosignKeyVerifier::from_pem(&signer.public_key_pem()).map_err(err)?;
    let tag = Tag::new("1.0.0").map_err(err)?;
    let (mut push, mut sign, mut verify) = (Vec::new(), Vec::new(), Vec::new());
    let (mut attach, mut list) = (Vec::new(), Vec::new());
    let components: Vec<serde_json::Value> = (0..50)
        .map(|i| serde_json::json!({ "type": "library", "name": format!("lib{i}"), "version": "1.0.0", "purl": format!("pkg:npm/lib{i}@1.0.0") }))
        .collect();
    let sbom = serde_json::json!({ "bomFormat": "CycloneDX", "specVersion": "1.5", "components": components });
    let provenance = serde_json::json!({
        "buildDefinition": { "buildType": paragon_core::pipeline::BUILD_TYPE, "externalParameters": { "application": "demo", "version": "1.0.0" }, "resolvedDependencies": [] },
        "runDetails": { "builder": { "id": "https://paragon.dev/pipeline" }, "metadata": {} },
    });
    let verdict =
        serde_json::json!({ "verdict": { "passed": true }, "scanners": [], "policy": {} });
    let predicates = [
        (paragon_core::pipeline::PREDICATE_CYCLONEDX, &sbom),
        (
            paragon_core::pipeline::PREDICATE_SLSA_PROVENANCE,
            &provenance,
        ),
        (paragon_core::pipeline::PREDICATE_VERDICT, &verdict),
    ];
    for round in 0..rounds {
        let repository = Repository::new(format!("bench/app{round}")).map_err(err)?;
        let started = Instant::now();
        registry
            .push(&image, &repository, std::slice::from_ref(&tag), &ctx)
            .await
            .map_err(err)?;
        push.push(started.elapsed());
        let started = Instant::now();
        let artifact = Artifact::new(ARTIFACT_TYPE_CYCLONEDX, image.descriptor()).with_blob(
            ARTIFACT_TYPE_CYCLONEDX,
            serde_json::to_vec(&sbom).map_err(|e| e.to_string())?,
        );
        referrers::attach(registry, &repository, &artifact, &ctx)
            .await
            .map_err(err)?;
        attach.push(started.elapsed());
        let started = Instant::now();
        let listed = registry
            .referrers(
                &repository,
                &image.digest,
                Some(ARTIFACT_TYPE_CYCLONEDX),
                &ctx,
            )
            .await
            .map_err(err)?;
        if listed.len() != 1 {
            return Err(format!("{} referrers listed, not 1", listed.len()));
        }
        list.push(started.elapsed());
        let name = format!("{}/{repository}", registry.location());
        let started = Instant::now();
        // As the pipeline does: the signature and the attestations at
        // once, each read back after the tag-settle wait.
        if format.bundles() {
            let subject = image.descriptor();
            bundle::sign_and_attest(registry, &repository, &subject, &predicates, &signer, &ctx)
                .await
                .map_err(err)?;
        } else {
            let (signed, attested) = tokio::join!(
                cosign::sign(registry, &repository, &image.digest, &name, &signer, &ctx),
                cosign::attest_all(
                    registry,
                    &repository,
                    &image.digest,
                    &name,
                    &predicates,
                    &signer,
                    &ctx,
                )
            );
            signed.map_err(err)?;
            attested.map_err(err)?;
        }
        sign.push(started.elapsed());
        let started = Instant::now();
        cosign::verify(registry, &repository, &image.digest, &verifier, &ctx)
            .await
            .map_err(err)?;
        let types = [
            paragon_core::pipeline::PREDICATE_SLSA_PROVENANCE,
            paragon_core::pipeline::PREDICATE_VERDICT,
        ];
        cosign::verify_all_attestations(
            registry,
            &repository,
            &image.digest,
            &types,
            &verifier,
            &ctx,
        )
        .await
        .map_err(err)?;
        verify.push(started.elapsed());
    }
    println!("{rounds} rounds against {host}, image {}", image.digest);
    report("push", push);
    report(
        if layout {
            "attach the SBOM (referrers tag, under the index lock)"
        } else {
            "attach the SBOM (referrers tag, with the settle wait)"
        },
        attach,
    );
    report("list the referrers", list);
    report("sign + 3 attestations, at once (added to the push)", sign);
    report(
        "verify the signature, provenance and verdict (before a deploy)",
        verify,
    );
    Ok(())
}
