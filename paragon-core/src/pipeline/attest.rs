//! The predicates a signing pipeline attests about the image it pushed:
//! its CycloneDX SBOM (when a post-build scanner made one), SLSA
//! provenance v1 and Paragon's scan verdict.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{PipelineBuilder, RunRecord};

/// The predicate type of a CycloneDX SBOM attestation (the document from
/// a post-build scanner such as syft, as it came).
pub const PREDICATE_CYCLONEDX: &str = "https://cyclonedx.org/bom";

/// SLSA provenance v1's predicate type.
pub const PREDICATE_SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";

/// The predicate type of Paragon's verdict attestation. Its predicate:
///
/// ```json
/// { "scanners": [{ "name": "trivy", "version": "0.59.1", "stage": "post_build_scan",
///                  "findings": 3, "error": null }],
///   "summary": { … the run record's summary … },
///   "policy": { "digest": { "sha256": "<hex of the policy as JSON>" } },
///   "verdict": { … the gate's verdict … } }
/// ```
pub const PREDICATE_VERDICT: &str = "https://paragon.dev/attestation/verdict/v1";

/// The build type Paragon's provenance names.
pub const BUILD_TYPE: &str = "https://paragon.dev/build/pipeline/v1";

/// Where the source came from when it is a git work tree: its `origin`
/// remote (when it has one) and its commit.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceRevision {
    pub(crate) repository: Option<String>,
    pub(crate) commit: Option<String>,
}

impl SourceRevision {
    /// Asks git, with a bound; nothing when the source is not a work tree
    /// or git is not there.
    pub(crate) async fn of(source: &std::path::Path) -> SourceRevision {
        async fn git(source: &std::path::Path, args: &[&str]) -> Option<String> {
            let out = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                tokio::process::Command::new("git")
                    .arg("-C")
                    .arg(source)
                    .args(args)
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .ok()?
            .ok()?;
            let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
            (out.status.success() && !text.is_empty()).then_some(text)
        }
        SourceRevision {
            repository: git(source, &["remote", "get-url", "origin"]).await,
            commit: git(source, &["rev-parse", "HEAD"]).await,
        }
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// SLSA provenance v1 of the run's image, from the pipeline and its record.
pub(crate) fn provenance(
    config: &PipelineBuilder,
    record: &RunRecord,
    source: &SourceRevision,
    started: time::OffsetDateTime,
    finished: time::OffsetDateTime,
) -> Value {
    let mut dependencies = Vec::new();
    let path = config.source.display().to_string();
    let mut origin = json!({ "uri": format!("file://{path}"), "name": "source" });
    if let Some(commit) = &source.commit {
        origin["digest"] = json!({ "gitCommit": commit });
        if let Some(repo) = &source.repository {
            origin["uri"] = json!(format!("git+{repo}"));
        }
    }
    dependencies.push(origin);
    if let Some(base) = config.spec.as_ref().and_then(|s| s.base.as_ref()) {
        if let Ok(image) =
            crate::plugin::build::BuiltImage::from_layout(&base.layout, base.ref_name.as_deref())
        {
            dependencies.push(json!({
                "uri": format!("oci-layout://{}", base.layout.display()),
                "name": "base image",
                "digest": { image.digest.algorithm(): image.digest.hex() },
            }));
        }
    }
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "application": config.application,
                "source": path,
                "version": record.version,
                "builder": config.builder.as_ref().map(|b| b.name().to_owned()),
                "buildSpec": config.spec,
            },
            "internalParameters": {},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": { "id": format!("https://paragon.dev/pipeline@{}", env!("CARGO_PKG_VERSION")) },
            "metadata": {
                "startedOn": rfc3339(started),
                "finishedOn": rfc3339(finished),
            },
        },
    })
}

/// Paragon's verdict predicate (see [`PREDICATE_VERDICT`]).
pub(crate) fn verdict(config: &PipelineBuilder, record: &RunRecord) -> Value {
    let policy = serde_json::to_vec(&config.policy).unwrap_or_default();
    let hex: String = Sha256::digest(&policy)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let scanners: Vec<Value> = record
        .scanners
        .iter()
        .map(|s| {
            json!({
                "name": s.scanner,
                "version": s.version,
                "stage": s.stage,
                "findings": s.findings,
                "error": s.error,
            })
        })
        .collect();
    json!({
        "scanners": scanners,
        "summary": record.summary,
        "policy": { "digest": { "sha256": hex } },
        "verdict": record.verdict,
    })
}
