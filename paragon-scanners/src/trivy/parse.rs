//! Trivy's report → [`ScanReport`].

use std::sync::Arc;

use paragon_core::{
    CvssVersion, Finding, FindingKind, Location, Package, ScanReport, ScannerInfo, Severity, Source,
};

use super::report::{Document, License, Misconfiguration, Secret, TrivyResult, Vulnerability};
use super::SCANNER;
use crate::error::{Error, Result};
use crate::format::trim_start;
use crate::util::{cvss, from_json, split_versions, Shared};
use crate::Format;

const FORMAT: Format = Format::TrivyJson;

/// The id given to a vulnerability entry that has no `VulnerabilityID`.
pub const UNIDENTIFIED: &str = "UNIDENTIFIED";

/// Parses a Trivy JSON report (schema 2, legacy list, or Kubernetes form).
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] with the position for bad JSON or
/// a document that is not a Trivy report, [`Error::UnsupportedVersion`] for
/// a `SchemaVersion` other than 2.
pub fn parse(bytes: &[u8]) -> Result<ScanReport> {
    let text = trim_start(bytes);
    match text.first() {
        // Legacy form: a list of results, or `null` when there were none.
        Some(b'[') | Some(b'n') => {
            let results: Option<Vec<TrivyResult>> = from_json(FORMAT, bytes)?;
            let mut out = ScanReport::new(ScannerInfo::new(SCANNER, None::<String>));
            let ctx = Ctx::new(None);
            let mut shared = Shared::default();
            for r in results.unwrap_or_default() {
                push_result(&mut out.findings, r, &ctx, &mut shared);
            }
            Ok(out)
        }
        _ => parse_document(from_json(FORMAT, bytes)?),
    }
}

fn parse_document(doc: Document) -> Result<ScanReport> {
    if let Some(v) = &doc.schema_version {
        if v.as_u64() != Some(2) {
            return Err(Error::UnsupportedVersion {
                format: FORMAT,
                version: v.to_string(),
                supported: "SchemaVersion 2, the legacy list form, and the trivy k8s forms",
                file: None,
            });
        }
    }
    let is_k8s = doc.cluster_name.is_some()
        || doc.vulnerabilities.is_some()
        || doc.misconfigurations.is_some()
        || doc.resources.is_some();
    if doc.schema_version.is_none() && doc.results.is_none() && !is_k8s {
        return Err(Error::malformed(
            FORMAT,
            "not a Trivy report: none of `SchemaVersion`, `Results` or `ClusterName` is present",
        ));
    }
    let version = doc.trivy.and_then(|t| t.version);
    let target = doc.artifact_name.or(doc.cluster_name);
    let mut out = ScanReport::new(ScannerInfo::new(SCANNER, version)).with_target(target.clone());
    let ctx = Ctx::new(target);
    let mut shared = Shared::default();
    for r in doc.results.into_iter().flatten() {
        push_result(&mut out.findings, r, &ctx, &mut shared);
    }
    let resources = doc
        .vulnerabilities
        .into_iter()
        .chain(doc.misconfigurations)
        .chain(doc.resources)
        .flatten();
    for res in resources {
        let ctx = Ctx {
            scanner: ctx.scanner.clone(),
            artifact: ctx.artifact.clone(),
            resource: Some(
                [res.namespace.as_str(), &res.kind, &res.name]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/"),
            )
            .filter(|s| !s.is_empty())
            .map(Arc::from),
        };
        for r in res.results {
            push_result(&mut out.findings, r, &ctx, &mut shared);
        }
    }
    Ok(out)
}

/// What every finding of a result shares (one string each, shared).
struct Ctx {
    scanner: Arc<str>,
    /// The scanned artifact (image, directory, cluster).
    artifact: Option<Arc<str>>,
    /// `namespace/Kind/name` of a Kubernetes resource.
    resource: Option<Arc<str>>,
}

impl Ctx {
    fn new(artifact: Option<String>) -> Ctx {
        Ctx {
            scanner: SCANNER.into(),
            artifact: artifact.map(Arc::from),
            resource: None,
        }
    }

    fn source(&self, severity: Severity) -> Source {
        Source::new(self.scanner.clone(), severity, self.artifact.clone())
    }
}

/// The result a finding belongs to.
struct Head<'r> {
    target: Arc<str>,
    ty: Option<&'r str>,
}

fn push_result(out: &mut Vec<Finding>, r: TrivyResult, ctx: &Ctx, shared: &mut Shared) {
    let TrivyResult {
        target,
        ty,
        vulnerabilities,
        misconfigurations,
        secrets,
        licenses,
    } = r;
    let head = Head {
        target: target.into(),
        ty: ty.as_deref(),
    };
    out.reserve(vulnerabilities.len() + misconfigurations.len() + secrets.len() + licenses.len());
    out.extend(
        vulnerabilities
            .into_iter()
            .map(|v| vulnerability(v, &head, ctx, shared)),
    );
    out.extend(
        misconfigurations
            .iter()
            .filter(|m| {
                m.status
                    .as_deref()
                    .is_none_or(|s| s.eq_ignore_ascii_case("FAIL"))
            })
            .map(|m| misconfiguration(m, &head, ctx)),
    );
    out.extend(secrets.iter().map(|s| secret(s, &head, ctx)));
    out.extend(licenses.iter().map(|l| license(l, &head, ctx)));
}

fn severity(s: Option<&str>) -> Severity {
    s.map_or(Severity::Unknown, Severity::from_lenient)
}

fn vulnerability(v: Vulnerability, r: &Head<'_>, ctx: &Ctx, shared: &mut Shared) -> Finding {
    let sev = severity(v.severity.as_deref());
    // An entry without an id is still reported, under a placeholder, rather
    // than dropped: the package is known to be affected by something.
    let id = v
        .vulnerability_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| UNIDENTIFIED.to_owned());
    let mut f = Finding::new(FindingKind::Vulnerability, id, sev);
    for id in v.vendor_ids {
        f.add_alias(id);
    }
    for (source, c) in v.cvss {
        let src = Some(source);
        f.cvss.extend(
            [
                cvss(Some(CvssVersion::V2), c.v2_score, c.v2_vector, src.clone()),
                cvss(
                    Some(CvssVersion::V3_1),
                    c.v3_score,
                    c.v3_vector,
                    src.clone(),
                ),
                cvss(Some(CvssVersion::V4_0), c.v40_score, c.v40_vector, src),
            ]
            .into_iter()
            .flatten(),
        );
    }
    // The purl type wins over Trivy's result type when both are known.
    let purl = shared.purl(v.pkg_identifier.as_ref().and_then(|p| p.purl.as_deref()));
    let package = Package::new(v.pkg_name).with_version(v.installed_version);
    f.package = Some(if purl.is_some() {
        package.with_purl(purl)
    } else {
        package.with_ecosystem(r.ty)
    });
    for fixed in v.fixed_version.iter().flat_map(|s| split_versions(s)) {
        f.add_fixed_version(fixed);
    }
    f.add_location(
        Location::new()
            .with_target(Some(r.target.clone()))
            .with_path(v.pkg_path.as_deref().map(|p| shared.text(p)))
            .with_resource(ctx.resource.clone()),
    );
    for cwe in &v.cwe_ids {
        f.add_cwe(cwe);
    }
    f.title = v.title;
    f.description = v.description;
    if let Some(url) = v.primary_url {
        f.add_reference(url);
    }
    for url in v.references {
        f.add_reference(url);
    }
    f.sources.push(ctx.source(sev));
    f
}

fn config_location(r: &Head<'_>, ctx: &Ctx, start: Option<u32>, end: Option<u32>) -> Location {
    let loc = Location::new().with_lines(start, end);
    if ctx.resource.is_some() {
        // `trivy k8s`: the result target is the workload, not a file.
        loc.with_target(Some(r.target.clone()))
            .with_resource(ctx.resource.clone())
    } else {
        loc.with_path(Some(r.target.clone()))
    }
}

fn misconfiguration(m: &Misconfiguration, r: &Head<'_>, ctx: &Ctx) -> Finding {
    let sev = severity(m.severity.as_deref());
    let mut f = Finding::new(FindingKind::Misconfiguration, m.id.clone(), sev);
    if let Some(avd) = &m.avd_id {
        f.add_alias(avd.clone());
    }
    let cause = m.cause_metadata.as_ref();
    let mut loc = config_location(
        r,
        ctx,
        cause.and_then(|c| c.start_line),
        cause.and_then(|c| c.end_line),
    );
    if loc.resource.is_none() {
        loc = loc.with_resource(cause.and_then(|c| c.resource.clone()));
    }
    f.add_location(loc);
    f.title = m.title.clone();
    f.description = match (&m.message, &m.description) {
        (Some(msg), Some(desc)) => Some(format!("{msg}\n\n{desc}")),
        (msg, desc) => msg.clone().or_else(|| desc.clone()),
    };
    if let Some(fix) = &m.resolution {
        f.description = Some(match f.description.take() {
            Some(d) => format!("{d}\n\nResolution: {fix}"),
            None => format!("Resolution: {fix}"),
        });
    }
    if let Some(url) = &m.primary_url {
        f.add_reference(url.clone());
    }
    for url in &m.references {
        f.add_reference(url.clone());
    }
    f.sources.push(ctx.source(sev));
    f
}

fn secret(s: &Secret, r: &Head<'_>, ctx: &Ctx) -> Finding {
    let sev = severity(s.severity.as_deref());
    let mut f = Finding::new(FindingKind::Secret, s.rule_id.clone(), sev);
    f.add_location(config_location(r, ctx, s.start_line, s.end_line));
    f.title = s.title.clone().or_else(|| s.category.clone());
    // `Match` (the masked line) is deliberately not copied anywhere.
    f.sources.push(ctx.source(sev));
    f
}

fn license(l: &License, r: &Head<'_>, ctx: &Ctx) -> Finding {
    let sev = severity(l.severity.as_deref());
    let mut f = Finding::new(FindingKind::License, l.name.clone(), sev);
    f.package = l
        .pkg_name
        .clone()
        .filter(|n| !n.is_empty())
        .map(Package::new);
    f.add_location(
        Location::new()
            .with_target(Some(r.target.clone()))
            .with_path(l.file_path.clone())
            .with_resource(ctx.resource.clone()),
    );
    f.title = Some(match &l.category {
        Some(cat) if !cat.is_empty() => format!("{} license ({cat})", l.name),
        _ => format!("{} license", l.name),
    });
    if let Some(link) = &l.link {
        f.add_reference(link.clone());
    }
    f.sources.push(ctx.source(sev));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_schema_2() {
        let doc = br#"{"SchemaVersion": 2, "ArtifactName": "app", "Results": [
            {"Target": "package-lock.json", "Type": "npm", "Vulnerabilities": [
              {"VulnerabilityID": "CVE-2022-1", "PkgName": "lodash", "InstalledVersion": "4.17.20",
               "FixedVersion": "4.17.21, 5.0.0", "Severity": "HIGH",
               "PkgIdentifier": {"PURL": "pkg:npm/lodash@4.17.20"}}],
             "Misconfigurations": [
              {"ID": "DS001", "Status": "PASS", "Severity": "LOW"},
              {"ID": "DS002", "Status": "FAIL", "Severity": "HIGH",
               "CauseMetadata": {"StartLine": 3, "EndLine": 4}}],
             "Secrets": [{"RuleID": "github-pat", "Severity": "CRITICAL", "StartLine": 2, "EndLine": 2, "Match": "GITHUB_PAT=*****"}],
             "Licenses": null}]}"#;
        let r = parse(doc).unwrap();
        assert_eq!(r.target.as_deref(), Some("app"));
        assert_eq!(r.findings.len(), 3);
        let v = &r.findings[0];
        assert_eq!(v.fixed_versions, ["4.17.21", "5.0.0"]);
        assert_eq!(
            v.package.as_ref().unwrap().ecosystem.as_deref(),
            Some("npm")
        );
        assert_eq!(r.findings[1].id, "DS002");
        assert_eq!(r.findings[1].locations[0].start_line, Some(3));
        let s = &r.findings[2];
        assert_eq!(s.kind, FindingKind::Secret);
        assert!(!format!("{s:?}").contains("GITHUB_PAT"));
    }

    #[test]
    fn rejects_other_versions_and_other_documents() {
        let err = parse(br#"{"SchemaVersion": 3, "Results": []}"#).unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err}");
        let err = parse(br#"{"foo": 1}"#).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
    }
}
