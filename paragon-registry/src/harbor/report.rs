//! Harbor's vulnerability report and artifact answers, and their mapping
//! into Paragon's findings.

use paragon_core::{
    Cvss, CvssVersion, Finding, FindingKind, Package, ScanReport, ScannerInfo, Severity, Source,
};
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct Artifact {
    #[serde(default)]
    pub(super) tags: Option<Vec<Tag>>,
    #[serde(default)]
    pub(super) scan_overview: Option<std::collections::BTreeMap<String, ScanOverview>>,
}

#[derive(Deserialize)]
pub(super) struct Tag {
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct ScanOverview {
    #[serde(default)]
    pub(super) scan_status: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct HarborReport {
    #[serde(default)]
    pub(super) scanner: Option<HarborScannerInfo>,
    #[serde(default)]
    pub(super) vulnerabilities: Option<Vec<HarborVuln>>,
}

#[derive(Deserialize)]
pub(super) struct HarborScannerInfo {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) version: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct HarborVuln {
    pub(super) id: String,
    #[serde(default)]
    pub(super) package: Option<String>,
    #[serde(default)]
    pub(super) version: Option<String>,
    #[serde(default)]
    pub(super) fix_version: Option<String>,
    #[serde(default)]
    pub(super) severity: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) links: Option<Vec<String>>,
    #[serde(default)]
    pub(super) preferred_cvss: Option<PreferredCvss>,
    #[serde(default)]
    pub(super) cwe_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub(super) struct PreferredCvss {
    #[serde(default)]
    score_v3: Option<f64>,
    #[serde(default)]
    vector_v3: Option<String>,
    #[serde(default)]
    score_v2: Option<f64>,
    #[serde(default)]
    vector_v2: Option<String>,
}

/// Parses Harbor's `additions/vulnerabilities` answer: an object keyed by
/// report MIME type, each a vulnerability report.
pub(crate) fn parse_vulnerabilities(
    bytes: &[u8],
    target: &str,
) -> std::result::Result<ScanReport, String> {
    let reports: std::collections::BTreeMap<String, HarborReport> =
        serde_json::from_slice(bytes)
            .map_err(|e| format!("invalid Harbor vulnerability report: {e}"))?;
    let (_, report) = reports
        .into_iter()
        .next()
        .ok_or("the Harbor vulnerability answer holds no report")?;
    let underlying = report.scanner.as_ref().and_then(|s| s.name.clone());
    let mut scan = ScanReport::new(ScannerInfo::new(
        "harbor",
        report.scanner.as_ref().and_then(|s| {
            let name = s.name.as_deref()?;
            Some(
                format!("{name} {}", s.version.clone().unwrap_or_default())
                    .trim()
                    .to_owned(),
            )
        }),
    ));
    scan.target = Some(target.to_owned());
    for v in report.vulnerabilities.unwrap_or_default() {
        let severity = Severity::from_lenient(v.severity.as_deref().unwrap_or("unknown"));
        let mut f = Finding::new(FindingKind::Vulnerability, v.id.trim(), severity);
        if let Some(name) = v.package.filter(|p| !p.is_empty()) {
            f.package = Some(Package::new(name).with_version(v.version.filter(|x| !x.is_empty())));
        }
        if let Some(fix) = v.fix_version.filter(|x| !x.is_empty()) {
            for part in fix.split(',') {
                f.add_fixed_version(part.trim());
            }
        }
        f.description = v.description.filter(|d| !d.is_empty());
        for l in v.links.unwrap_or_default() {
            f.add_reference(l);
        }
        for c in v.cwe_ids.unwrap_or_default() {
            f.add_cwe(&c);
        }
        if let Some(c) = v.preferred_cvss {
            for (score, vector, fallback) in [
                (c.score_v3, c.vector_v3, CvssVersion::V3_1),
                (c.score_v2, c.vector_v2, CvssVersion::V2),
            ] {
                if score.is_none() && vector.as_deref().is_none_or(str::is_empty) {
                    continue;
                }
                let vector = vector.filter(|x| !x.is_empty());
                let version = vector
                    .as_deref()
                    .and_then(CvssVersion::from_vector)
                    .unwrap_or(fallback);
                f.cvss.push(Cvss {
                    version,
                    score,
                    vector,
                    source: underlying.clone().map(|n| n.to_lowercase()),
                });
            }
        }
        f.sources
            .push(Source::new("harbor", severity, Some(target.into())));
        scan.findings.push(f);
    }
    Ok(scan)
}
