//! The mapping shared by the JSON and XML readers.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use paragon_core::{
    CvssVersion, Finding, FindingKind, Package, Sbom, SbomFormat, ScanReport, ScannerInfo,
    Severity, Source,
};

use super::SCANNER;
use crate::util::cvss;

/// A BOM, as both forms describe it.
#[derive(Default)]
pub(super) struct Bom {
    pub spec_version: Option<String>,
    pub tool: Option<(String, Option<String>)>,
    /// The BOM's subject (`metadata.component`).
    pub subject: Option<Component>,
    /// The inventory, nested components flattened, in document order.
    pub components: Vec<Component>,
    pub vulnerabilities: Vec<Vulnerability>,
}

#[derive(Default, Clone)]
pub(super) struct Component {
    pub bom_ref: Option<String>,
    pub name: String,
    pub group: Option<String>,
    pub version: Option<String>,
    pub purl: Option<String>,
    pub ty: Option<String>,
}

#[derive(Default)]
pub(super) struct Vulnerability {
    pub id: String,
    pub source_url: Option<String>,
    pub aliases: Vec<String>,
    pub ratings: Vec<Rating>,
    pub cwes: Vec<String>,
    pub description: Option<String>,
    pub detail: Option<String>,
    pub references: Vec<String>,
    /// `affects[].ref`.
    pub affects: Vec<String>,
    /// For the XML extension: the index in `Bom::components` of the
    /// component the vulnerability is nested in.
    pub parent: Option<usize>,
}

#[derive(Default)]
pub(super) struct Rating {
    pub source: Option<String>,
    pub score: Option<f64>,
    pub severity: Option<String>,
    pub method: Option<String>,
    pub vector: Option<String>,
}

pub(super) fn report(bom: Bom, document: &[u8]) -> ScanReport {
    let (name, version) = bom
        .tool
        .clone()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .unwrap_or_else(|| (SCANNER.to_owned(), None));
    let target = bom.subject.as_ref().map(|c| c.name.clone());
    let mut out = ScanReport::new(ScannerInfo::new(name.clone(), version)).with_target(target);

    let mut by_ref: HashMap<&str, &Component> = HashMap::new();
    for c in bom.subject.iter().chain(&bom.components) {
        if let Some(r) = &c.bom_ref {
            by_ref.entry(r.as_str()).or_insert(c);
        }
        if let Some(p) = &c.purl {
            by_ref.entry(p.as_str()).or_insert(c);
        }
    }

    // One shared string for every finding's source.
    let scanner: Arc<str> = name.as_str().into();
    let shared_target: Option<Arc<str>> = out.target.as_deref().map(Arc::from);
    for v in &bom.vulnerabilities {
        let template = finding(v, &scanner, &shared_target);
        let mut packages: Vec<Option<Package>> = v
            .affects
            .iter()
            .map(|r| by_ref.get(r.as_str()).map(|c| package(c)))
            .collect();
        if packages.is_empty() {
            packages.push(v.parent.and_then(|i| bom.components.get(i)).map(package));
        }
        for pkg in packages {
            let mut f = template.clone();
            f.package = pkg;
            out.findings.push(f);
        }
    }

    let mut sbom = Sbom::new(
        SbomFormat::CycloneDx,
        bom.spec_version,
        Bytes::copy_from_slice(document),
    );
    for c in bom.components {
        let name = match c.group {
            Some(g) if !g.is_empty() => format!("{g}/{}", c.name),
            _ => c.name,
        };
        sbom.push_component(name, c.version, c.purl.as_deref(), c.ty);
    }
    out.sbom = Some(sbom);
    out
}

fn package(c: &Component) -> Package {
    Package::new(c.name.clone())
        .with_version(c.version.clone())
        .with_purl_str(c.purl.as_deref())
}

fn finding(v: &Vulnerability, scanner: &Arc<str>, target: &Option<Arc<str>>) -> Finding {
    let named = v
        .ratings
        .iter()
        .filter_map(|r| r.severity.as_deref())
        .map(Severity::from_lenient)
        .max()
        .unwrap_or(Severity::Unknown);
    let mut f = Finding::new(FindingKind::Vulnerability, v.id.clone(), named);
    for r in &v.ratings {
        let hint = r.method.as_deref().and_then(CvssVersion::from_lenient);
        let hint = hint.or_else(|| r.vector.as_deref().and_then(CvssVersion::from_vector));
        if hint.is_some() {
            if let Some(c) = cvss(hint, r.score, r.vector.clone(), r.source.clone()) {
                f.cvss.push(c);
            }
        }
    }
    if f.severity == Severity::Unknown {
        if let Some(score) = f.max_cvss_score() {
            f.severity = Severity::from_cvss_score(score);
        }
    }
    for a in &v.aliases {
        f.add_alias(a.clone());
    }
    for c in &v.cwes {
        f.add_cwe(c);
    }
    f.description = v.description.clone().or_else(|| v.detail.clone());
    for url in v.source_url.iter().chain(&v.references) {
        f.add_reference(url.clone());
    }
    f.sources
        .push(Source::new(scanner.clone(), f.severity, target.clone()));
    f
}
