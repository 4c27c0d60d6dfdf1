//! Grype's report → [`ScanReport`].

use std::borrow::Cow;
use std::sync::Arc;

use paragon_core::{
    CvssVersion, Finding, FindingKind, Location, Package, ScanReport, ScannerInfo, Severity, Source,
};

use super::report::{Cvss, DocumentSeed, Match, Target};
use super::SCANNER;
use crate::error::{Error, Result};
use crate::util::{cvss, from_json_seed, Shared};
use crate::Format;

const FORMAT: Format = Format::GrypeJson;

/// Parses a Grype JSON report.
///
/// # Errors
///
/// [`Error::Empty`], or [`Error::Malformed`] with the position for bad JSON
/// or a document without Grype's `matches` list.
pub fn parse(bytes: &[u8]) -> Result<ScanReport> {
    let mut shared = Shared::default();
    let doc = from_json_seed(
        FORMAT,
        bytes,
        DocumentSeed {
            shared: &mut shared,
        },
    )?;
    let Some(mut findings) = doc.findings else {
        return Err(Error::malformed(
            FORMAT,
            "not a Grype report: the `matches` list is missing",
        ));
    };
    let version = doc.descriptor.and_then(|d| d.version);
    let target = doc.source.and_then(|s| s.target).and_then(|t| match t {
        Target::Path(p) => Some(p),
        Target::Image { user_input } => user_input,
    });
    let shared_target: Option<Arc<str>> = target.as_deref().map(Arc::from);
    // `source` comes after `matches` in Grype's output: the scanned target
    // is set on each finding once the document is read.
    for f in &mut findings {
        for loc in &mut f.locations {
            loc.target.clone_from(&shared_target);
        }
        if f.locations.is_empty() {
            f.add_location(Location::new().with_target(shared_target.clone()));
        }
        for s in &mut f.sources {
            s.target.clone_from(&shared_target);
        }
    }
    let mut out = ScanReport::new(ScannerInfo::new(SCANNER, version)).with_target(target);
    out.findings = findings;
    Ok(out)
}

/// One match as a finding, without the scanned target (set by [`parse`]).
pub(super) fn finding(m: Match<'_>, shared: &mut Shared) -> Finding {
    let v = m.vulnerability;
    let sev = v
        .severity
        .as_deref()
        .map_or(Severity::Unknown, Severity::from_lenient);
    let mut f = Finding::new(FindingKind::Vulnerability, v.id, sev);
    let source_name = v.namespace.clone();
    push_cvss(&mut f, v.cvss, &source_name);
    for (legacy, hint) in [(v.cvss_v2, CvssVersion::V2), (v.cvss_v3, CvssVersion::V3_0)] {
        if let Some(c) = legacy {
            f.cvss.extend(cvss(
                Some(hint),
                c.base_score,
                c.vector,
                source_name.clone(),
            ));
        }
    }
    f.description = v.description;
    for url in v.data_source.into_iter().chain(v.urls).chain(v.links) {
        f.add_reference(url);
    }
    for r in m.related_vulnerabilities {
        f.add_alias(r.id);
        if f.description.is_none() {
            f.description = r.description;
        }
        push_cvss(&mut f, r.cvss, &r.namespace);
        for url in r.urls {
            f.add_reference(url);
        }
    }
    for fixed in v.fix.map(|x| x.versions).unwrap_or_default() {
        f.add_fixed_version(fixed);
    }
    let a = m.artifact;
    let purl = shared.purl(a.purl.as_deref());
    let package = Package::new(a.name).with_version(a.version);
    f.package = Some(if purl.is_some() {
        package.with_purl(purl)
    } else {
        package.with_ecosystem(a.ty.map(Cow::into_owned))
    });
    f.locations.reserve(a.locations.len());
    for loc in a.locations {
        let path = loc.path.as_deref().map(|p| shared.text(p));
        f.add_location(Location::new().with_path(path));
    }
    f.sources.push(Source::new(shared.text(SCANNER), sev, None));
    f
}

fn push_cvss(f: &mut Finding, list: Vec<Cvss>, namespace: &Option<String>) {
    for c in list {
        let hint = c.version.as_deref().and_then(CvssVersion::from_lenient);
        let source = c.source.or_else(|| namespace.clone());
        let score = c.metrics.and_then(|m| m.base_score);
        if let Some(entry) = cvss(hint, score, c.vector, source) {
            if !f.cvss.contains(&entry) {
                f.cvss.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghsa_with_related_cve() {
        let doc = br#"{"matches": [{
            "vulnerability": {"id": "GHSA-v6rh-hp5x-86rv", "severity": "High",
               "fix": {"versions": ["3.2.10"], "state": "fixed"}},
            "relatedVulnerabilities": [{"id": "CVE-2021-44420", "cvss": [
               {"version": "3.1", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L",
                "metrics": {"baseScore": 7.3}}]}],
            "artifact": {"name": "Django", "version": "3.2.9", "type": "python",
               "purl": "pkg:pypi/django@3.2.9", "locations": [{"path": "/app/requirements.txt"}]}}],
            "source": {"type": "directory", "target": "/app"},
            "descriptor": {"name": "grype", "version": "0.74.0"}}"#;
        let r = parse(doc).unwrap();
        assert_eq!(r.scanner.version.as_deref(), Some("0.74.0"));
        assert_eq!(r.target.as_deref(), Some("/app"));
        let f = &r.findings[0];
        assert_eq!(f.aliases, ["CVE-2021-44420"]);
        assert_eq!(f.cve(), Some("CVE-2021-44420"));
        assert_eq!(f.fixed_versions, ["3.2.10"]);
        assert_eq!(f.cvss[0].score, Some(7.3));
        assert_eq!(
            f.package.as_ref().unwrap().ecosystem.as_deref(),
            Some("pypi")
        );
    }

    #[test]
    fn not_grype() {
        assert!(matches!(
            parse(br#"{"descriptor": {}}"#),
            Err(Error::Malformed { .. })
        ));
    }
}
