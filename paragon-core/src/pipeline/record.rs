//! What a run reports: the [`Event`] stream, the [`RunRecord`], and
//! [`Metrics`] in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gate::policy::Verdict;
use crate::model::oci::Digest;
use crate::model::report::Summary;
use crate::plugin::deploy::Deployed;

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Scanners of the source (SAST, SBOM, secrets).
    PreBuildScan,
    /// Choosing the release's version from the registry's tags (and, for
    /// an explicit version, checking that the registry does not hold it
    /// yet).
    Version,
    /// The image build.
    Build,
    /// Scanners of the built image.
    PostBuildScan,
    /// The policy gate.
    Gate,
    /// The push to the registry.
    Push,
    /// The GitOps update and the checks, environment by environment.
    Deploy,
}

impl Stage {
    /// Its name (`pre_build_scan`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PreBuildScan => "pre_build_scan",
            Stage::Version => "version",
            Stage::Build => "build",
            Stage::PostBuildScan => "post_build_scan",
            Stage::Gate => "gate",
            Stage::Push => "push",
            Stage::Deploy => "deploy",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a stage (or a run) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It did its work.
    Succeeded,
    /// It failed (a tool error, a failing gate, a failed check).
    Failed,
    /// It did not run (an earlier stage failed, or nothing to do).
    Skipped,
    /// The run was cancelled while it ran.
    Cancelled,
}

/// Something that happened during a run, in order: what a CLI draws
/// progress from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A stage began.
    StageStarted {
        /// The stage.
        stage: Stage,
    },
    /// A stage ended.
    StageFinished {
        /// The stage.
        stage: Stage,
        /// How.
        outcome: Outcome,
        /// How long it took, in milliseconds.
        millis: u64,
    },
    /// A scanner finished.
    ScannerFinished {
        /// The stage it ran in.
        stage: Stage,
        /// The scanner.
        scanner: String,
        /// Its findings, when it succeeded.
        findings: Option<usize>,
        /// Its error, when it failed.
        error: Option<String>,
        /// Whether it was optional (its failure is a warning).
        optional: bool,
    },
    /// The image was built.
    ImageBuilt {
        /// Its digest.
        digest: Digest,
    },
    /// The gate decided.
    GateVerdict {
        /// Whether it passed.
        passed: bool,
        /// How many findings failed it.
        failures: usize,
    },
    /// The image was pushed.
    Pushed {
        /// The repository.
        repository: String,
        /// The digest.
        digest: Digest,
        /// The tags.
        tags: Vec<String>,
    },
    /// An artifact referring to the pushed image (its SBOM) was attached.
    Attached {
        /// The image's digest.
        digest: Digest,
        /// The artifact's type.
        artifact_type: String,
        /// The artifact manifest's digest.
        manifest: Digest,
    },
    /// The pushed image was signed.
    Signed {
        /// The image's digest.
        digest: Digest,
        /// The signature manifest's tag.
        tag: String,
        /// Who signed (a key's fingerprint).
        identity: String,
    },
    /// An attestation about the pushed image was stored.
    Attested {
        /// The image's digest.
        digest: Digest,
        /// The predicate type.
        predicate_type: String,
        /// The attestation manifest's tag.
        tag: String,
    },
    /// The pushed image's signature was verified before the deploy.
    Verified {
        /// The image's digest.
        digest: Digest,
        /// The accepted identities whose signatures verified.
        identities: Vec<String>,
    },
    /// An environment was updated.
    Deployed {
        /// The environment.
        environment: String,
        /// The commit the environment's branch is at.
        commit: String,
        /// Whether a commit was made (false: it already ran the release).
        changed: bool,
    },
    /// A post-deploy check finished.
    CheckFinished {
        /// The environment.
        environment: String,
        /// The check.
        check: String,
        /// Whether it passed.
        passed: bool,
    },
    /// An environment was rolled back.
    RolledBack {
        /// The environment.
        environment: String,
        /// The revert commit.
        commit: String,
    },
    /// Something went wrong that did not stop the run.
    Warning {
        /// What.
        message: String,
    },
}

/// One stage's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage.
    pub stage: Stage,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One scanner's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerRecord {
    /// The stage.
    pub stage: Stage,
    /// The scanner.
    pub scanner: String,
    /// Its version, when its report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its findings, when it succeeded.
    pub findings: Option<usize>,
    /// Its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether it was optional.
    pub optional: bool,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// The push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecord {
    /// Where (the registry's location).
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The digest.
    pub digest: Digest,
    /// The tags that name the digest in the registry: all the run's tags
    /// after a push that succeeded; after one that failed or was
    /// cancelled, the tags the registry was seen to hold then.
    pub tags: Vec<String>,
    /// Whether the push finished: every blob, the manifest and every tag.
    #[serde(default = "complete")]
    pub complete: bool,
}

/// An attestation the pipeline made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttestationRecord {
    /// Its predicate type.
    pub predicate_type: String,
    /// The attestation manifest's tag (`sha256-<hex>.att`).
    pub tag: String,
    /// The attestation manifest's digest after it was added.
    pub manifest: Digest,
}

/// An artifact the pipeline attached to the pushed image (OCI 1.1
/// referrers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReferrerRecord {
    /// Its artifact type (`application/vnd.cyclonedx+json`).
    pub artifact_type: String,
    /// Its manifest's digest.
    pub manifest: Digest,
    /// The tag of the referrers list it was added to, on a registry
    /// without the referrers API (`sha256-<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrers_tag: Option<String>,
}

/// A signature the pipeline made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignatureRecord {
    /// The signature manifest's tag (`sha256-<hex>.sig`).
    pub tag: String,
    /// The signature manifest's digest.
    pub manifest: Digest,
    /// Who signed (a key's fingerprint).
    pub identity: String,
    /// How many signatures the manifest holds.
    pub signatures: usize,
}

fn complete() -> bool {
    true
}

/// One post-deploy check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// The check.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// What it said (the tail of its output, or its error).
    pub detail: String,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// One environment's deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// The environment.
    pub environment: String,
    /// The GitOps target.
    pub target: String,
    /// The commit the branch is at after the update.
    pub commit: Option<String>,
    /// Whether a commit was made.
    pub changed: bool,
    /// What ran before.
    pub previous: Option<Deployed>,
    /// The diff of the change.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff: String,
    /// The checks, in order.
    pub checks: Vec<CheckRecord>,
    /// How it ended.
    pub outcome: Outcome,
    /// The revert commit, when it was rolled back.
    pub rolled_back: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DeploymentRecord {
    /// A deployment of `environment` through `target` that has not failed
    /// (yet): no commit, no checks.
    pub fn new(environment: &str, target: &str) -> DeploymentRecord {
        DeploymentRecord {
            environment: environment.into(),
            target: target.into(),
            commit: None,
            changed: false,
            previous: None,
            diff: String::new(),
            checks: Vec::new(),
            outcome: Outcome::Succeeded,
            rolled_back: None,
            error: None,
        }
    }
}

/// Everything a run did, serializable as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The application.
    pub application: String,
    /// The version released (the tag).
    pub version: Option<String>,
    /// How the run ended.
    pub outcome: Outcome,
    /// The stage that failed it, when one did.
    pub failed_stage: Option<Stage>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each stage.
    pub stages: Vec<StageRecord>,
    /// Each scanner run.
    pub scanners: Vec<ScannerRecord>,
    /// Counts of the merged findings.
    pub summary: Summary,
    /// The gate's verdict.
    pub verdict: Option<Verdict>,
    /// The comparison of the merged report with the pipeline's baseline,
    /// when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::model::baseline::Comparison>,
    /// The merged report the gate judged (left out of the record's JSON:
    /// save it with [`Report::write_json`](crate::Report::write_json), as
    /// the next run's baseline).
    #[serde(skip)]
    pub report: Option<crate::Report>,
    /// The built image's digest.
    pub image: Option<Digest>,
    /// The push.
    pub pushed: Option<PushRecord>,
    /// The artifacts attached to the pushed image (its SBOM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<ReferrerRecord>,
    /// The signature made after the push, when the pipeline signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignatureRecord>,
    /// The attestations made after the signature (SLSA provenance, the
    /// verdict), when the pipeline signs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationRecord>,
    /// The identities whose signatures verified before the deploy, when
    /// the pipeline verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Vec<String>>,
    /// The deployments, in order.
    pub deployments: Vec<DeploymentRecord>,
    /// What went wrong without stopping the run.
    pub warnings: Vec<String>,
    /// How long the run took, in milliseconds.
    pub millis: u64,
}

impl RunRecord {
    /// The record as indented JSON.
    ///
    /// # Errors
    /// [`crate::Error::Json`] if serialization fails (it does not).
    pub fn to_json(&self) -> crate::Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| crate::Error::Json { source })
    }

    /// True when every stage that ran succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Succeeded
    }

    /// Replaces every occurrence of each of `secrets` in every text of the
    /// record (errors, warnings, check details, diffs) with `***`.
    pub fn redact(&mut self, secrets: &[crate::Secret]) {
        if secrets.is_empty() {
            return;
        }
        fn walk(v: &mut serde_json::Value, secrets: &[crate::Secret]) {
            match v {
                serde_json::Value::String(s) => {
                    *s = secrets.iter().fold(std::mem::take(s), |t, x| x.redact(&t));
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, secrets)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(i, secrets)),
                _ => {}
            }
        }
        let Ok(mut value) = serde_json::to_value(&*self) else {
            return;
        };
        walk(&mut value, secrets);
        if let Ok(redacted) = serde_json::from_value(value) {
            *self = redacted;
        }
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A label value as the text exposition format writes it: backslash,
/// double quote and line feed escaped (`\\`, `\"`, `\n`), nothing else.
fn label_value(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Counters over runs, written in Prometheus' text exposition format.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    runs: BTreeMap<&'static str, u64>,
    stage_seconds: BTreeMap<&'static str, (f64, u64)>,
    findings: BTreeMap<String, u64>,
    deployments: BTreeMap<(String, &'static str), u64>,
}

fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
        Outcome::Cancelled => "cancelled",
    }
}

impl Metrics {
    /// No runs yet.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts a run.
    pub fn record(&mut self, run: &RunRecord) {
        *self.runs.entry(outcome_label(run.outcome)).or_default() += 1;
        for s in &run.stages {
            if s.outcome != Outcome::Skipped {
                let e = self.stage_seconds.entry(s.stage.as_str()).or_default();
                e.0 += s.millis as f64 / 1000.0;
                e.1 += 1;
            }
        }
        for severity in crate::model::finding::Severity::DESCENDING {
            *self.findings.entry(severity.to_string()).or_default() +=
                run.summary.by_severity.get(severity) as u64;
        }
        for d in &run.deployments {
            *self
                .deployments
                .entry((d.environment.clone(), outcome_label(d.outcome)))
                .or_default() += 1;
        }
    }

    /// The text exposition format (`# HELP`, `# TYPE`, samples).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP paragon_runs_total Pipeline runs by outcome.\n# TYPE paragon_runs_total counter\n");
        for (o, n) in &self.runs {
            let _ = writeln!(out, "paragon_runs_total{{outcome=\"{o}\"}} {n}");
        }
        out.push_str("# HELP paragon_stage_duration_seconds Time spent in each stage.\n# TYPE paragon_stage_duration_seconds summary\n");
        for (stage, (sum, count)) in &self.stage_seconds {
            let _ = writeln!(
                out,
                "paragon_stage_duration_seconds_sum{{stage=\"{stage}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "paragon_stage_duration_seconds_count{{stage=\"{stage}\"}} {count}"
            );
        }
        out.push_str("# HELP paragon_findings_total Merged findings by severity.\n# TYPE paragon_findings_total counter\n");
        for (sev, n) in &self.findings {
            let _ = writeln!(out, "paragon_findings_total{{severity=\"{sev}\"}} {n}");
        }
        out.push_str("# HELP paragon_deployments_total Environment updates by outcome.\n# TYPE paragon_deployments_total counter\n");
        for ((env, o), n) in &self.deployments {
            let env = label_value(env);
            let _ = writeln!(
                out,
                "paragon_deployments_total{{environment=\"{env}\",outcome=\"{o}\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_exactly_backslash_quote_and_line_feed() {
        assert!(matches!(
            label_value("prod-eu"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(label_value("a\"b\\c\nd é"), "a\\\"b\\\\c\\nd é");
        let rec: RunRecord = serde_json::from_value(serde_json::json!({
            "application": "shop", "version": "1.0.0", "outcome": "succeeded",
            "failed_stage": null, "error": null, "stages": [], "scanners": [],
            "summary": crate::Summary::default(), "verdict": null, "image": null,
            "pushed": null, "warnings": [], "millis": 1,
            "deployments": [{ "environment": "eu \"west\"\nprod", "target": "memory",
                "commit": null, "changed": false, "previous": null, "checks": [],
                "outcome": "succeeded", "rolled_back": null }]
        }))
        .unwrap();
        let mut m = Metrics::new();
        m.record(&rec);
        let text = m.to_prometheus();
        assert!(
            text.contains(
                "paragon_deployments_total{environment=\"eu \\\"west\\\"\\nprod\",outcome=\"succeeded\"} 1\n"
            ),
            "{text}"
        );
        // Every line is a comment or one whole sample.
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.ends_with(char::is_numeric),
                "{line}"
            );
        }
    }
}
