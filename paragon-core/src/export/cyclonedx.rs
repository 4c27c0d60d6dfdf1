//! CycloneDX 1.5 JSON export (written with `cyclonedx-bom`).

use std::collections::BTreeMap;
use std::str::FromStr;

use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::uri::{Purl as CdxPurl, Uri};
use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::tool::{Tool, Tools};
use cyclonedx_bom::models::vulnerability::{Vulnerabilities, Vulnerability};
use cyclonedx_bom::models::vulnerability_rating::{
    Score, ScoreMethod, Severity as CdxSeverity, VulnerabilityRating, VulnerabilityRatings,
};
use cyclonedx_bom::models::vulnerability_reference::{
    VulnerabilityReference, VulnerabilityReferences,
};
use cyclonedx_bom::models::vulnerability_source::VulnerabilitySource;
use cyclonedx_bom::models::vulnerability_target::{VulnerabilityTarget, VulnerabilityTargets};
use cyclonedx_bom::validation::Validate;

use crate::error::{Error, Result};
use crate::model::finding::{CvssVersion, FindingKind, Severity};
use crate::model::report::Report;

fn severity(s: Severity) -> CdxSeverity {
    match s {
        Severity::Critical => CdxSeverity::Critical,
        Severity::High => CdxSeverity::High,
        Severity::Medium => CdxSeverity::Medium,
        Severity::Low => CdxSeverity::Low,
        Severity::Info => CdxSeverity::Info,
        Severity::Unknown => CdxSeverity::Unknown,
    }
}

fn method(v: CvssVersion) -> ScoreMethod {
    match v {
        CvssVersion::V2 => ScoreMethod::CVSSv2,
        CvssVersion::V3_0 => ScoreMethod::CVSSv3,
        CvssVersion::V3_1 => ScoreMethod::CVSSv31,
        CvssVersion::V4_0 => ScoreMethod::CVSSv4,
    }
}

fn source(name: &str) -> VulnerabilitySource {
    VulnerabilitySource::new(Some(name.to_owned()), None)
}

/// Renders the vulnerability findings of the report as a CycloneDX 1.5
/// JSON BOM: one component per affected package (`bom-ref` its purl, or
/// `pkg:<n>` without one), one vulnerability per merged finding with its
/// aliases as references, a rating per scanner and per CVSS score, its CWEs,
/// description, fixed versions as the recommendation, and `affects` the
/// component. Other kinds of findings are not vulnerabilities and are left out.
///
/// # Errors
///
/// [`Error::Export`] if the BOM does not validate or cannot be written.
pub fn to_cyclonedx(report: &Report) -> Result<String> {
    let mut components: Vec<Component> = Vec::new();
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    let mut vulns = Vec::new();
    for f in report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Vulnerability)
    {
        let target = f.package.as_ref().map(|p| {
            let identity = format!("{}@{}", p.identity(), p.version.as_deref().unwrap_or(""));
            refs.entry(identity)
                .or_insert_with(|| {
                    let bom_ref = p
                        .purl
                        .as_ref()
                        .map(|u| u.as_str().to_owned())
                        .unwrap_or_else(|| format!("pkg:{}", components.len() + 1));
                    let mut c = Component::new(
                        Classification::Library,
                        &p.name,
                        p.version.as_deref().unwrap_or(""),
                        Some(bom_ref.clone()),
                    );
                    if p.version.is_none() {
                        c.version = None;
                    }
                    c.purl = p
                        .purl
                        .as_ref()
                        .and_then(|u| CdxPurl::from_str(u.as_str()).ok());
                    components.push(c);
                    bom_ref
                })
                .clone()
        });
        let mut v = Vulnerability::new(None);
        v.id = Some(NormalizedString::new(&f.id));
        if !f.aliases.is_empty() {
            v.vulnerability_references = Some(VulnerabilityReferences(
                f.aliases
                    .iter()
                    .map(|a| VulnerabilityReference::new(a, source(source_of(a))))
                    .collect(),
            ));
        }
        let mut ratings: Vec<VulnerabilityRating> = f
            .sources
            .iter()
            .map(|s| VulnerabilityRating {
                vulnerability_source: Some(source(&s.scanner)),
                score: None,
                severity: Some(severity(s.severity)),
                score_method: None,
                vector: None,
                justification: None,
            })
            .collect();
        ratings.extend(f.cvss.iter().map(|c| VulnerabilityRating {
            vulnerability_source: c.source.as_deref().map(source),
            score: c.score.and_then(|s| Score::from_f32(s as f32)),
            severity: Some(severity(
                c.score.map_or(f.severity, Severity::from_cvss_score),
            )),
            score_method: Some(method(c.version)),
            vector: c.vector.as_deref().map(NormalizedString::new),
            justification: None,
        }));
        v.vulnerability_ratings = Some(VulnerabilityRatings(ratings));
        let cwes: Vec<u32> = f
            .cwes
            .iter()
            .filter_map(|c| c.strip_prefix("CWE-")?.parse().ok())
            .collect();
        if !cwes.is_empty() {
            v.cwes = Some(cwes);
        }
        v.description = f.description.clone().or_else(|| f.title.clone());
        if !f.fixed_versions.is_empty() {
            v.recommendation = Some(format!("Upgrade to {}", f.fixed_versions.join(" or ")));
        }
        if let Some(url) = f.references.first() {
            v.vulnerability_source = Some(VulnerabilitySource::new(
                Some(source_of(&f.id).to_owned()),
                Some(Uri::new(url)),
            ));
        }
        if let Some(r) = target {
            v.vulnerability_targets = Some(VulnerabilityTargets(vec![VulnerabilityTarget::new(r)]));
        }
        vulns.push(v);
    }
    let bom = Bom {
        spec_version: SpecVersion::V1_5,
        metadata: Some(Metadata {
            tools: Some(Tools::List(vec![Tool::new(
                "paragon",
                "paragon",
                env!("CARGO_PKG_VERSION"),
            )])),
            ..Metadata::default()
        }),
        components: Some(Components(components)),
        vulnerabilities: Some(Vulnerabilities(vulns)),
        ..Bom::default()
    };
    let export = |message: String| Error::Export {
        format: "CycloneDX 1.5",
        message,
    };
    let validation = bom.validate_version(SpecVersion::V1_5);
    if !validation.passed() {
        return Err(export(format!("the BOM does not validate: {validation:?}")));
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out)
        .map_err(|e| export(e.to_string()))?;
    String::from_utf8(out).map_err(|e| export(e.to_string()))
}

/// The database an id comes from (`NVD` for CVEs, `GitHub` for GHSAs).
fn source_of(id: &str) -> &'static str {
    if id.starts_with("CVE-") {
        "NVD"
    } else if id.starts_with("GHSA-") {
        "GitHub"
    } else {
        "other"
    }
}
