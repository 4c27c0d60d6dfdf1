//! The mapping shared by the XML and JSON readers.

use std::sync::Arc;

use paragon_core::{
    Cvss, CvssVersion, Finding, FindingKind, Location, Package, Purl, ScanReport, ScannerInfo,
    Severity, Source,
};

use super::SCANNER;
use crate::util::{cpe_product_version, cvss, purl_package_name, vector_from_metrics};

/// One dependency, as both report forms describe it.
#[derive(Default)]
pub(super) struct Dependency {
    pub file_name: Option<String>,
    pub purl: Option<String>,
    /// `group:artifact:version`.
    pub maven: Option<String>,
    pub cpe: Option<String>,
    pub vulnerabilities: Vec<Vulnerability>,
}

#[derive(Default)]
pub(super) struct Vulnerability {
    pub name: String,
    pub severity: Option<String>,
    pub cvss: Vec<Cvss>,
    pub cwes: Vec<String>,
    pub description: Option<String>,
    pub references: Vec<String>,
}

/// CVSS metrics as Dependency-Check names them, by version.
pub(super) const V2_METRICS: [(&str, &[&str]); 6] = [
    ("AV", &["accessVector"]),
    ("AC", &["accessComplexity"]),
    ("Au", &["authenticationr", "authentication"]),
    ("C", &["confidentialImpact", "confidentialityImpact"]),
    ("I", &["integrityImpact"]),
    ("A", &["availabilityImpact"]),
];

pub(super) const V3_METRICS: [(&str, &[&str]); 8] = [
    ("AV", &["attackVector"]),
    ("AC", &["attackComplexity"]),
    ("PR", &["privilegesRequired"]),
    ("UI", &["userInteraction"]),
    ("S", &["scope"]),
    ("C", &["confidentialityImpact"]),
    ("I", &["integrityImpact"]),
    ("A", &["availabilityImpact"]),
];

/// Builds a CVSS entry from a metric lookup (`get(name)` → value).
pub(super) fn cvss_from_metrics<'a>(
    hint: CvssVersion,
    get: impl Fn(&str) -> Option<&'a str>,
    score_keys: &[&str],
) -> Option<Cvss> {
    let score = score_keys
        .iter()
        .find_map(|k| get(k))
        .and_then(|s| s.trim().parse::<f64>().ok());
    let explicit = get("vectorString").map(str::to_owned);
    let version = get("version")
        .and_then(CvssVersion::from_lenient)
        .unwrap_or(hint);
    let vector = explicit.or_else(|| {
        let lookup = |names: &[&str]| names.iter().find_map(|n| get(n));
        match version {
            CvssVersion::V2 => {
                vector_from_metrics(None, &V2_METRICS.map(|(abbr, names)| (abbr, lookup(names))))
            }
            CvssVersion::V3_0 | CvssVersion::V3_1 => {
                let prefix = if version == CvssVersion::V3_0 {
                    "CVSS:3.0"
                } else {
                    "CVSS:3.1"
                };
                vector_from_metrics(
                    Some(prefix),
                    &V3_METRICS.map(|(abbr, names)| (abbr, lookup(names))),
                )
            }
            CvssVersion::V4_0 => None,
        }
    });
    cvss(
        Some(version),
        score,
        vector,
        get("source").map(str::to_owned),
    )
}

pub(super) fn report(
    version: Option<String>,
    project: Option<String>,
    dependencies: Vec<Dependency>,
) -> ScanReport {
    let mut out = ScanReport::new(ScannerInfo::new(SCANNER, version)).with_target(project);
    // Strings shared by every finding of the report, or of one dependency.
    let scanner: Arc<str> = SCANNER.into();
    let target: Option<Arc<str>> = out.target.as_deref().map(Arc::from);
    for dep in dependencies {
        let package = package(&dep);
        let path: Option<Arc<str>> = dep.file_name.as_deref().map(Arc::from);
        for v in dep.vulnerabilities {
            let mut sev = v
                .severity
                .as_deref()
                .map_or(Severity::Unknown, Severity::from_lenient);
            let mut f = Finding::new(FindingKind::Vulnerability, v.name.trim(), sev);
            f.cvss = v.cvss;
            if sev == Severity::Unknown {
                if let Some(score) = f.max_cvss_score() {
                    sev = Severity::from_cvss_score(score);
                    f.severity = sev;
                }
            }
            f.package = package.clone();
            if v.name
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("CWE-"))
            {
                // OSS Index names some entries after their CWE ("CWE-400: …").
                f.add_cwe(&v.name);
            }
            for cwe in &v.cwes {
                f.add_cwe(cwe);
            }
            f.description = v.description;
            for r in v.references {
                f.add_reference(r);
            }
            f.add_location(Location::new().with_path(path.clone()));
            f.sources
                .push(Source::new(scanner.clone(), sev, target.clone()));
            out.findings.push(f);
        }
    }
    out
}

fn package(dep: &Dependency) -> Option<Package> {
    if let Some(purl) = dep.purl.as_deref().and_then(|p| Purl::parse(p).ok()) {
        let mut pkg = Package::new(purl_package_name(&purl))
            .with_version(purl.version().map(str::to_owned))
            .with_ecosystem(Some(purl.ty().to_owned()));
        pkg.purl = Some(purl);
        return Some(pkg);
    }
    if let Some(maven) = &dep.maven {
        let mut parts = maven.trim().rsplitn(2, ':');
        let version = parts.next().map(str::to_owned);
        if let Some(name) = parts.next() {
            return Some(
                Package::new(name)
                    .with_version(version)
                    .with_ecosystem(Some("maven")),
            );
        }
    }
    if let Some((product, version)) = dep.cpe.as_deref().and_then(cpe_product_version) {
        return Some(Package::new(product).with_version(version));
    }
    dep.file_name.clone().map(Package::new)
}
