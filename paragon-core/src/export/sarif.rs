//! SARIF 2.1.0 export.

use std::collections::BTreeMap;

use serde_sarif::sarif::{
    ArtifactLocation, Location as SarifLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    Result as SarifResult, ResultBaselineState, ResultLevel, Run, Sarif, Tool, ToolComponent,
};

use super::{fingerprint, message};
use crate::error::{Error, Result};
use crate::model::baseline::BaselineState;
use crate::model::finding::{Finding, FindingKind, Severity};
use crate::model::report::Report;

fn level(s: Severity) -> ResultLevel {
    match s {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low | Severity::Info | Severity::Unknown => ResultLevel::Note,
    }
}

/// The score code-scanning UIs rank by (`security-severity`): the highest
/// CVSS score, or one representative of the severity.
fn security_severity(f: &Finding) -> String {
    let score = f.max_cvss_score().unwrap_or(match f.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Info | Severity::Unknown => 0.0,
    });
    format!("{score:.1}")
}

fn json<T: serde::Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Renders the report as a SARIF 2.1.0 log: one run of the tool
/// `paragon`, every rule (kind and id) listed once, one result per merged
/// finding with all its locations and a `partialFingerprints` entry
/// (`paragon/v1`, which changes with the package version and the
/// locations, and `paragon/baseline/v1`, the
/// [fingerprint](crate::Finding::fingerprint) that does not). When the
/// report was [compared](crate::Report::compare) with a baseline, each
/// result has its `baselineState` and the baseline's findings that are
/// gone follow as results whose state is `absent`. Suppressed findings (per the verdict) carry a
/// `suppressions` entry; the scanners that reported a finding are in its
/// `properties`.
///
/// # Errors
///
/// [`Error::Json`] if serialization fails.
pub fn to_sarif(report: &Report) -> Result<String> {
    let mut rules: Vec<ReportingDescriptor> = Vec::new();
    let mut rule_index: BTreeMap<(FindingKind, &str), usize> = BTreeMap::new();
    let suppressed: BTreeMap<usize, String> = report
        .verdict
        .iter()
        .flat_map(|v| &v.suppressed)
        .map(|s| (s.finding, s.by.to_string()))
        .collect();
    let absent = report.baseline.iter().flat_map(|c| &c.absent);
    let mut results = Vec::with_capacity(report.findings.len());
    let findings = report
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| (Some(i), f));
    for (i, f) in findings.chain(absent.map(|f| (None, f))) {
        let index = *rule_index
            .entry((f.kind, f.id.as_str()))
            .or_insert_with(|| {
                let mut tags = vec!["security".to_owned(), f.kind.as_str().to_owned()];
                tags.extend(
                    f.cwes
                        .iter()
                        .map(|c| format!("external/cwe/{}", c.to_ascii_lowercase())),
                );
                let mut extra = BTreeMap::new();
                extra.insert("security-severity".to_owned(), json(security_severity(f)));
                let short = f.title.clone().unwrap_or_else(|| f.id.clone());
                rules.push(
                    ReportingDescriptor::builder()
                        .id(f.id.clone())
                        .short_description(MultiformatMessageString::builder().text(short).build())
                        .opt_help_uri(f.references.first().cloned())
                        .opt_full_description(
                            f.description
                                .clone()
                                .map(|d| MultiformatMessageString::builder().text(d).build()),
                        )
                        .default_configuration(
                            ReportingConfiguration::builder()
                                .level(json(level(f.severity)))
                                .build(),
                        )
                        .properties(
                            PropertyBag::builder()
                                .tags(tags)
                                .additional_properties(extra)
                                .build(),
                        )
                        .build(),
                );
                rules.len() - 1
            });
        let mut locations: Vec<SarifLocation> = f
            .locations
            .iter()
            .map(|l| {
                let uri = l
                    .path
                    .as_deref()
                    .or(l.target.as_deref())
                    .or(l.resource.as_deref())
                    .unwrap_or("unknown");
                let region = l.start_line.map(|start| {
                    Region::builder()
                        .start_line(i64::from(start))
                        .opt_end_line(l.end_line.map(i64::from))
                        .build()
                });
                SarifLocation::builder()
                    .physical_location(
                        PhysicalLocation::builder()
                            .artifact_location(ArtifactLocation::builder().uri(uri).build())
                            .opt_region(region)
                            .build(),
                    )
                    .build()
            })
            .collect();
        if locations.is_empty() {
            locations.push(
                SarifLocation::builder()
                    .physical_location(
                        PhysicalLocation::builder()
                            .artifact_location(ArtifactLocation::builder().uri("unknown").build())
                            .build(),
                    )
                    .build(),
            );
        }
        let mut props = BTreeMap::new();
        props.insert("kind".to_owned(), json(f.kind));
        props.insert("severity".to_owned(), json(f.severity));
        props.insert("aliases".to_owned(), json(&f.aliases));
        props.insert("sources".to_owned(), json(&f.sources));
        if let Some(p) = &f.package {
            props.insert("package".to_owned(), json(p));
        }
        props.insert("fixed_versions".to_owned(), json(&f.fixed_versions));
        let mut fingerprints = BTreeMap::new();
        fingerprints.insert("paragon/v1".to_owned(), fingerprint(f));
        fingerprints.insert("paragon/baseline/v1".to_owned(), f.fingerprint());
        let suppressions = i.and_then(|i| suppressed.get(&i)).map(|why| {
            vec![json(
                serde_json::json!({"kind": "external", "justification": why}),
            )]
        });
        let mut result = SarifResult::builder()
            .rule_id(f.id.clone())
            .rule_index(index as i64)
            .level(level(f.severity))
            .message(Message::builder().text(message(f)).build())
            .locations(locations)
            .partial_fingerprints(fingerprints)
            .properties(PropertyBag::builder().additional_properties(props).build())
            .build();
        result.baseline_state = f.baseline_state.map(|s| {
            json(match s {
                BaselineState::New => ResultBaselineState::New,
                BaselineState::Unchanged => ResultBaselineState::Unchanged,
                BaselineState::Updated => ResultBaselineState::Updated,
                BaselineState::Absent => ResultBaselineState::Absent,
            })
        });
        if let Some(s) = suppressions {
            result.suppressions = Some(
                s.into_iter()
                    .filter_map(|v| serde_json::from_value(v).ok())
                    .collect(),
            );
        }
        results.push(result);
    }
    let driver = ToolComponent::builder()
        .name("paragon")
        .version(env!("CARGO_PKG_VERSION"))
        .information_uri("https://github.com/paragon-pipelines/paragon")
        .rules(rules)
        .build();
    let log = Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(json("2.1.0"))
        .runs(vec![Run::builder()
            .tool(Tool::builder().driver(driver).build())
            .results(results)
            .build()])
        .build();
    serde_json::to_string_pretty(&log).map_err(|source| Error::Json { source })
}
