//! CycloneDX 1.3–1.5 JSON through `cyclonedx-bom`, the versions it reads.

use cyclonedx_bom::models::bom::Bom as CdxBom;
use cyclonedx_bom::models::component::Component as CdxComponent;
use cyclonedx_bom::models::tool::Tools;
use cyclonedx_bom::models::vulnerability::Vulnerability as CdxVulnerability;

use super::parse::{Bom, Component, Rating, Vulnerability};

/// The versions `cyclonedx-bom` 0.8 reads.
pub(super) const VERSIONS: [&str; 3] = ["1.3", "1.4", "1.5"];

/// Reads the document with `cyclonedx-bom`; `None` when it refuses it (the
/// lenient reader's result is then used).
pub(super) fn read(bytes: &[u8], spec: &str) -> Option<Bom> {
    let cdx = match CdxBom::parse_from_json(bytes) {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "cyclonedx-bom refused the BOM; reading it leniently");
            return None;
        }
    };
    let mut bom = Bom {
        spec_version: Some(spec.to_owned()),
        ..Bom::default()
    };
    if let Some(meta) = &cdx.metadata {
        bom.tool = match &meta.tools {
            Some(Tools::List(list)) => list.iter().find_map(|t| {
                t.name
                    .as_ref()
                    .map(|n| (n.to_string(), t.version.as_ref().map(|v| v.to_string())))
            }),
            Some(Tools::Object { components, .. }) => components.as_ref().and_then(|c| {
                c.0.first().map(|t| {
                    (
                        t.name.to_string(),
                        t.version.as_ref().map(|v| v.to_string()),
                    )
                })
            }),
            None => None,
        };
        bom.subject = meta.component.as_ref().map(component);
    }
    if let Some(list) = &cdx.components {
        flatten(&list.0, &mut bom.components);
    }
    if let Some(list) = &cdx.vulnerabilities {
        bom.vulnerabilities = list.0.iter().map(vulnerability).collect();
    }
    Some(bom)
}

fn component(c: &CdxComponent) -> Component {
    Component {
        bom_ref: c.bom_ref.clone(),
        name: c.name.to_string(),
        group: c.group.as_ref().map(|g| g.to_string()),
        version: c.version.as_ref().map(|v| v.to_string()),
        purl: c.purl.as_ref().map(|p| p.to_string()),
        ty: Some(c.component_type.to_string()),
    }
}

/// Components depth first, nested ones after their parent.
fn flatten(list: &[CdxComponent], out: &mut Vec<Component>) {
    for c in list {
        out.push(component(c));
        if let Some(nested) = &c.components {
            flatten(&nested.0, out);
        }
    }
}

fn vulnerability(v: &CdxVulnerability) -> Vulnerability {
    let source_name = v
        .vulnerability_source
        .as_ref()
        .and_then(|s| s.name.as_ref())
        .map(|n| n.to_string());
    Vulnerability {
        id: v
            .id
            .as_ref()
            .map(|i| i.to_string())
            .filter(|i| !i.is_empty())
            .or(source_name)
            .unwrap_or_else(|| "UNKNOWN".to_owned()),
        source_url: v
            .vulnerability_source
            .as_ref()
            .and_then(|s| s.url.as_ref())
            .map(|u| u.to_string()),
        aliases: v
            .vulnerability_references
            .iter()
            .flat_map(|r| &r.0)
            .map(|r| r.id.to_string())
            .collect(),
        ratings: v
            .vulnerability_ratings
            .iter()
            .flat_map(|r| &r.0)
            .map(|r| Rating {
                source: r
                    .vulnerability_source
                    .as_ref()
                    .and_then(|s| s.name.as_ref())
                    .map(|n| n.to_string()),
                // Through the shortest decimal form: 7.2f32 is 7.2, not 7.199999809.
                score: r
                    .score
                    .as_ref()
                    .and_then(|s| s.to_f32().to_string().parse::<f64>().ok()),
                severity: r.severity.as_ref().map(|s| s.to_string()),
                method: r.score_method.as_ref().map(|m| m.to_string()),
                vector: r.vector.as_ref().map(|v| v.to_string()),
            })
            .collect(),
        cwes: v.cwes.iter().flatten().map(|c| c.to_string()).collect(),
        description: v.description.clone(),
        detail: v.detail.clone(),
        references: v
            .advisories
            .iter()
            .flat_map(|a| &a.0)
            .map(|a| a.url.to_string())
            .collect(),
        affects: v
            .vulnerability_targets
            .iter()
            .flat_map(|t| &t.0)
            .map(|t| t.bom_ref.clone())
            .collect(),
        parent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOM: &str = r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
      "metadata": {"tools": {"components": [{"type": "application", "name": "trivy", "version": "0.48.1"}]},
                   "component": {"bom-ref": "img", "type": "container", "name": "app:1.0"}},
      "components": [{"bom-ref": "pkg:npm/lodash@4.17.20", "type": "library", "name": "lodash",
                      "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20",
                      "components": [{"type": "library", "name": "inner", "version": "1"}]}],
      "vulnerabilities": [{"id": "CVE-2021-23337",
        "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-23337"},
        "references": [{"id": "GHSA-35jh-r3h4-6jhm", "source": {"name": "GitHub"}}],
        "ratings": [{"source": {"name": "nvd"}, "score": 7.2, "severity": "high", "method": "CVSSv31",
                     "vector": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}],
        "cwes": [94], "description": "Command injection", "affects": [{"ref": "pkg:npm/lodash@4.17.20"}]}]}"#;

    #[test]
    fn typed_and_lenient_readers_agree() {
        let typed = read(BOM.as_bytes(), "1.5").expect("cyclonedx-bom reads 1.5");
        assert_eq!(
            typed.tool,
            Some(("trivy".to_owned(), Some("0.48.1".to_owned())))
        );
        assert_eq!(typed.components.len(), 2, "nested components are flattened");
        let via_typed = super::super::parse_json(BOM.as_bytes()).unwrap();
        // The same document as 1.6 goes through the lenient reader.
        let v16 = BOM.replace("\"1.5\"", "\"1.6\"");
        let via_lenient = super::super::parse_json(v16.as_bytes()).unwrap();
        assert_eq!(via_typed.findings, via_lenient.findings);
        assert_eq!(via_typed.scanner, via_lenient.scanner);
        assert_eq!(
            via_typed.sbom.as_ref().unwrap().components,
            via_lenient.sbom.as_ref().unwrap().components
        );
        let f = &via_typed.findings[0];
        assert_eq!(f.aliases, ["GHSA-35jh-r3h4-6jhm"]);
        assert_eq!(f.cwes, ["CWE-94"]);
        assert_eq!(f.package.as_ref().unwrap().name, "lodash");
        assert_eq!(f.max_cvss_score(), Some(7.2));
    }

    #[test]
    fn versions_it_does_not_read_fall_back() {
        let v16 = BOM.replace("\"1.5\"", "\"1.6\"");
        assert!(read(v16.as_bytes(), "1.6").is_none());
        assert_eq!(
            super::super::parse_json(v16.as_bytes())
                .unwrap()
                .findings
                .len(),
            1
        );
    }
}
