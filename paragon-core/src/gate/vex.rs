//! VEX documents: statements that a vulnerability does not affect a product.
//!
//! Two forms are read:
//!
//! - [OpenVEX](https://github.com/openvex/spec) JSON (v0.0.1 and v0.2.0
//!   shapes): `statements[]` with `vulnerability` (`name`, `aliases`, or a
//!   bare string), `products` (`@id` purls, or bare strings) and `status`.
//!   Statuses `not_affected` and `fixed` suppress.
//! - CycloneDX VEX (a BOM whose `vulnerabilities[]` carry `analysis`):
//!   `analysis.state` `not_affected`, `false_positive`, `resolved` and
//!   `resolved_with_pedigree` suppress; `affects[].ref` names the products
//!   (a purl, or a `bom-ref` resolved through `components`).
//!
//! A statement matches a finding when one of its ids is among the
//! finding's id and aliases, and — when it names products — one product's
//! purl is the finding's package (same [identity](crate::model::package_identity), and the
//! same version when the purl has one). A statement without products
//! applies to every package.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::finding::{Finding, Package, Purl};

/// One statement that a vulnerability does not affect some products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VexStatement {
    /// The vulnerability ids the statement names (the name and its aliases).
    pub ids: Vec<String>,
    /// The products (purls) it covers; empty means every product.
    pub products: Vec<Purl>,
    /// The status as written (`not_affected`, `false_positive`, `fixed`…).
    pub status: String,
    /// The justification or analysis detail, when given.
    pub justification: Option<String>,
}

/// The suppressing statements of one VEX document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VexDocument {
    /// Where it came from (a file name, or `inline`).
    pub name: String,
    /// Statements that suppress (statements of other statuses are dropped).
    pub statements: Vec<VexStatement>,
}

#[derive(Deserialize)]
struct OpenVex {
    statements: Vec<OpenVexStatement>,
}

#[derive(Deserialize)]
struct OpenVexStatement {
    vulnerability: OpenVexVulnerability,
    #[serde(default)]
    products: Vec<OpenVexProduct>,
    status: String,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    impact_statement: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OpenVexVulnerability {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
        #[serde(default, rename = "@id")]
        id: Option<String>,
        #[serde(default)]
        aliases: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OpenVexProduct {
    Id(String),
    Object {
        #[serde(rename = "@id")]
        id: String,
        #[serde(default)]
        identifiers: Option<Identifiers>,
    },
}

#[derive(Deserialize)]
struct Identifiers {
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct CdxVex {
    #[serde(rename = "bomFormat")]
    _bom_format: String,
    #[serde(default)]
    components: Vec<CdxComponent>,
    #[serde(default)]
    vulnerabilities: Vec<CdxVulnerability>,
}

#[derive(Deserialize)]
struct CdxComponent {
    #[serde(default, rename = "bom-ref")]
    bom_ref: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    components: Vec<CdxComponent>,
}

#[derive(Deserialize)]
struct CdxVulnerability {
    id: String,
    #[serde(default)]
    references: Vec<CdxReference>,
    #[serde(default)]
    analysis: Option<CdxAnalysis>,
    #[serde(default)]
    affects: Vec<CdxAffects>,
}

#[derive(Deserialize)]
struct CdxReference {
    id: String,
}

#[derive(Deserialize)]
struct CdxAnalysis {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Deserialize)]
struct CdxAffects {
    #[serde(rename = "ref")]
    reference: String,
}

const OPENVEX_SUPPRESSING: [&str; 2] = ["not_affected", "fixed"];
const CDX_SUPPRESSING: [&str; 4] = [
    "not_affected",
    "false_positive",
    "resolved",
    "resolved_with_pedigree",
];

impl VexDocument {
    /// Reads an OpenVEX or CycloneDX VEX JSON document.
    ///
    /// # Errors
    ///
    /// [`Error::Vex`] naming the document, with the position, when it is
    /// neither form, or a product is not a valid purl.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<VexDocument> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Vex {
            document: name.to_owned(),
            message: format!("not JSON at line {}, column {}", e.line(), e.column()),
            source: Some(Box::new(e)),
        })?;
        let vex_err = |message: String, e: serde_json::Error| Error::Vex {
            document: name.to_owned(),
            message,
            source: Some(Box::new(e)),
        };
        let mut doc = VexDocument {
            name: name.to_owned(),
            statements: Vec::new(),
        };
        if value.get("bomFormat").is_some() {
            let bom: CdxVex = serde_json::from_value(value)
                .map_err(|e| vex_err("not a CycloneDX VEX document".to_owned(), e))?;
            let mut refs = std::collections::HashMap::new();
            let mut stack: Vec<&CdxComponent> = bom.components.iter().collect();
            while let Some(c) = stack.pop() {
                if let (Some(r), Some(p)) = (&c.bom_ref, &c.purl) {
                    refs.insert(r.as_str(), p.as_str());
                }
                stack.extend(&c.components);
            }
            for v in bom.vulnerabilities {
                let Some(analysis) = v.analysis else { continue };
                let state = analysis.state.unwrap_or_default();
                if !CDX_SUPPRESSING.contains(&state.as_str()) {
                    continue;
                }
                let mut ids = vec![v.id];
                ids.extend(v.references.into_iter().map(|r| r.id));
                let products = v
                    .affects
                    .iter()
                    .map(|a| {
                        refs.get(a.reference.as_str())
                            .copied()
                            .unwrap_or(&a.reference)
                    })
                    .map(|p| purl(name, p))
                    .collect::<Result<Vec<_>>>()?;
                doc.statements.push(VexStatement {
                    ids,
                    products,
                    status: state,
                    justification: analysis.justification.or(analysis.detail),
                });
            }
        } else if value.get("statements").is_some() {
            let vex: OpenVex = serde_json::from_value(value)
                .map_err(|e| vex_err("not an OpenVEX document".to_owned(), e))?;
            for s in vex.statements {
                if !OPENVEX_SUPPRESSING.contains(&s.status.as_str()) {
                    continue;
                }
                let ids = match s.vulnerability {
                    OpenVexVulnerability::Name(n) => vec![n],
                    OpenVexVulnerability::Object { name, id, aliases } => {
                        name.into_iter().chain(id).chain(aliases).collect()
                    }
                };
                let products = s
                    .products
                    .into_iter()
                    .map(|p| match p {
                        OpenVexProduct::Id(id) => id,
                        OpenVexProduct::Object { id, identifiers } => {
                            identifiers.and_then(|i| i.purl).unwrap_or(id)
                        }
                    })
                    .map(|p| purl(name, &p))
                    .collect::<Result<Vec<_>>>()?;
                doc.statements.push(VexStatement {
                    ids,
                    products,
                    status: s.status,
                    justification: s.justification.or(s.impact_statement),
                });
            }
        } else {
            return Err(Error::Vex {
                document: name.to_owned(),
                message: "neither OpenVEX (`statements`) nor CycloneDX (`bomFormat`)".to_owned(),
                source: None,
            });
        }
        Ok(doc)
    }

    /// Reads a VEX document from a file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, otherwise as [`VexDocument::parse`].
    pub fn from_path(path: &Path) -> Result<VexDocument> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        VexDocument::parse(&path.display().to_string(), &bytes)
    }

    /// The first statement that suppresses `finding`, if any.
    pub fn matching(&self, finding: &Finding) -> Option<&VexStatement> {
        self.statements.iter().find(|s| s.matches(finding))
    }
}

fn purl(doc: &str, s: &str) -> Result<Purl> {
    Purl::parse(s).map_err(|e| Error::Vex {
        document: doc.to_owned(),
        message: format!("product `{s}` is not a package URL"),
        source: Some(Box::new(e)),
    })
}

impl VexStatement {
    /// Whether the statement covers the finding (see the module docs).
    pub fn matches(&self, finding: &Finding) -> bool {
        if !finding.ids().any(|id| self.ids.iter().any(|s| s == id)) {
            return false;
        }
        if self.products.is_empty() {
            return true;
        }
        let Some(pkg) = &finding.package else {
            return false;
        };
        let identity = pkg.identity();
        self.products.iter().any(|p| {
            let product = Package::new(p.name()).with_purl_str(Some(p.as_str()));
            product.identity() == identity
                && p.version()
                    .is_none_or(|v| pkg.version.as_deref() == Some(v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::{FindingKind, Severity};

    fn finding(id: &str, alias: &str, purl: &str, version: &str) -> Finding {
        let mut f = Finding::new(FindingKind::Vulnerability, id, Severity::High);
        f.add_alias(alias);
        f.package = Some(
            Package::new("x")
                .with_version(Some(version))
                .with_purl_str(Some(purl)),
        );
        f
    }

    #[test]
    fn openvex_statements() {
        let doc = br#"{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "x", "author": "sec",
          "timestamp": "2026-01-01T00:00:00Z", "version": 1,
          "statements": [
            {"vulnerability": {"name": "CVE-2021-44228", "aliases": ["GHSA-jfh8-c2jp-5v3q"]},
             "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": "CVE-2022-1", "products": ["pkg:npm/lodash"], "status": "affected"}]}"#;
        let vex = VexDocument::parse("a.openvex.json", doc).unwrap();
        assert_eq!(
            vex.statements.len(),
            1,
            "only suppressing statuses are kept"
        );
        let hit = finding(
            "GHSA-jfh8-c2jp-5v3q",
            "CVE-2021-44228",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
            "2.14.1",
        );
        assert!(vex.matching(&hit).is_some());
        let other_version = finding(
            "CVE-2021-44228",
            "",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.15.0",
            "2.15.0",
        );
        assert!(vex.matching(&other_version).is_none());
    }

    #[test]
    fn cyclonedx_vex_resolves_bom_refs() {
        let doc = br#"{"bomFormat": "CycloneDX", "specVersion": "1.5",
          "components": [{"bom-ref": "lodash", "purl": "pkg:npm/lodash@4.17.20"}],
          "vulnerabilities": [
            {"id": "CVE-2021-23337", "analysis": {"state": "false_positive", "detail": "template() unused"},
             "affects": [{"ref": "lodash"}]},
            {"id": "CVE-2020-8203", "analysis": {"state": "exploitable"}, "affects": [{"ref": "lodash"}]}]}"#;
        let vex = VexDocument::parse("cdx.vex.json", doc).unwrap();
        assert_eq!(vex.statements.len(), 1);
        let s = &vex.statements[0];
        assert_eq!(s.justification.as_deref(), Some("template() unused"));
        assert!(s.matches(&finding(
            "CVE-2021-23337",
            "",
            "pkg:npm/lodash@4.17.20",
            "4.17.20"
        )));
        assert!(!s.matches(&finding(
            "CVE-2021-23337",
            "",
            "pkg:npm/underscore@1.0.0",
            "1.0.0"
        )));
    }

    #[test]
    fn bad_documents_name_themselves() {
        let err = VexDocument::parse("v.json", b"{\"statements\": [{\"status\": 1}]}").unwrap_err();
        assert!(err.to_string().contains("v.json"), "{err}");
        let err = VexDocument::parse("w.json", b"{\"x\": 1}").unwrap_err();
        assert!(err.to_string().contains("w.json"), "{err}");
        let err = VexDocument::parse("t.json", b"{\"statements\": [").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
