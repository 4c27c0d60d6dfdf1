//! The normalized finding model every scanner's report is mapped into.
//!
//! A [`Finding`] is one thing a scanner reported: a vulnerable package, a
//! failed configuration check, a leaked secret, a code weakness, or a licence
//! that policy cares about. Whatever the tool, the same fields mean the same
//! thing, so findings from Trivy, Grype, Dependency-Check, SonarQube and any
//! SARIF tool can be counted, merged and gated together.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use packageurl::PackageUrl;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// What kind of problem a [`Finding`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A known vulnerability (CVE, GHSA, distro advisory…) in a package.
    Vulnerability,
    /// A failed configuration check (Dockerfile, Kubernetes manifest, IaC).
    Misconfiguration,
    /// A credential or token found in files.
    Secret,
    /// A weakness in the code itself, as found by static analysis (SAST).
    Weakness,
    /// A package licence flagged by the scanner.
    License,
}

impl FindingKind {
    /// Every kind, in declaration order.
    pub const ALL: [FindingKind; 5] = [
        FindingKind::Vulnerability,
        FindingKind::Misconfiguration,
        FindingKind::Secret,
        FindingKind::Weakness,
        FindingKind::License,
    ];

    /// The name used in the JSON form (`vulnerability`, `misconfiguration`…).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Vulnerability => "vulnerability",
            FindingKind::Misconfiguration => "misconfiguration",
            FindingKind::Secret => "secret",
            FindingKind::Weakness => "weakness",
            FindingKind::License => "license",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How severe a finding is.
///
/// Severities are ordered: `Unknown < Info < Low < Medium < High < Critical`,
/// so `a.max(b)` is the more severe of two and a threshold is a comparison.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The scanner gave no usable severity.
    #[default]
    Unknown,
    /// Informational or negligible.
    Info,
    /// Low.
    Low,
    /// Medium (also "moderate").
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity from the most to the least severe.
    pub const DESCENDING: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
        Severity::Unknown,
    ];

    /// The name used in the JSON form (`critical`, `high`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Maps the common severity vocabularies of scanners, case-insensitively:
    /// `critical`, `high`, `medium`/`moderate`, `low`,
    /// `info`/`informational`/`negligible`/`none`; anything else is
    /// [`Severity::Unknown`].
    ///
    /// Tool-specific scales (SonarQube's `BLOCKER`…`INFO`) are mapped by the
    /// parser of that tool, not here.
    pub fn from_lenient(name: &str) -> Severity {
        let name = name.trim();
        let eq = |s: &str| name.eq_ignore_ascii_case(s);
        if eq("critical") {
            Severity::Critical
        } else if eq("high") {
            Severity::High
        } else if eq("medium") || eq("moderate") {
            Severity::Medium
        } else if eq("low") {
            Severity::Low
        } else if eq("info") || eq("informational") || eq("negligible") || eq("none") {
            Severity::Info
        } else {
            Severity::Unknown
        }
    }

    /// The qualitative rating of a CVSS base score (CVSS v3/v4 scale):
    /// 0 → info, 0.1–3.9 → low, 4.0–6.9 → medium, 7.0–8.9 → high,
    /// 9.0–10 → critical. A score outside 0–10 or NaN is `Unknown`.
    pub fn from_cvss_score(score: f64) -> Severity {
        if !(0.0..=10.0).contains(&score) {
            Severity::Unknown
        } else if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Info
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    /// Parses the exact names of the JSON form, case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        Severity::DESCENDING
            .into_iter()
            .find(|sev| s.eq_ignore_ascii_case(sev.as_str()))
            .ok_or_else(|| Error::InvalidSeverity(s.to_owned()))
    }
}

/// The CVSS specification version a score was computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CvssVersion {
    /// CVSS v2.0.
    #[serde(rename = "2.0")]
    V2,
    /// CVSS v3.0.
    #[serde(rename = "3.0")]
    V3_0,
    /// CVSS v3.1.
    #[serde(rename = "3.1")]
    V3_1,
    /// CVSS v4.0.
    #[serde(rename = "4.0")]
    V4_0,
}

impl CvssVersion {
    /// Reads a version as tools write it: `2`, `2.0`, `3.0`, `3.1`, `4.0`,
    /// `CVSSv3`, `CVSSv31`, `CVSSv4`, or the prefix of a vector
    /// (`CVSS:3.1/…`). Unrecognised input gives `None`.
    pub fn from_lenient(s: &str) -> Option<CvssVersion> {
        let s = s.trim();
        let s = s
            .strip_prefix("CVSS:")
            .or_else(|| s.strip_prefix("CVSSv"))
            .or_else(|| s.strip_prefix("cvssv"))
            .or_else(|| s.strip_prefix("CVSS"))
            .unwrap_or(s);
        let head = s.split('/').next().unwrap_or(s);
        match head {
            "2" | "2.0" => Some(CvssVersion::V2),
            "3" | "3.0" | "30" => Some(CvssVersion::V3_0),
            "3.1" | "31" => Some(CvssVersion::V3_1),
            "4" | "4.0" | "40" => Some(CvssVersion::V4_0),
            _ => None,
        }
    }

    /// The version a vector string declares (`CVSS:3.1/…` → 3.1). Vectors
    /// without a prefix (`AV:N/AC:L/Au:N/…`) are CVSS v2 when they carry the
    /// v2-only `Au:` metric, otherwise `None`.
    pub fn from_vector(vector: &str) -> Option<CvssVersion> {
        if vector.starts_with("CVSS:") {
            CvssVersion::from_lenient(vector)
        } else if vector.contains("Au:") {
            Some(CvssVersion::V2)
        } else {
            None
        }
    }
}

/// One CVSS assessment of a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// The CVSS version.
    pub version: CvssVersion,
    /// The base score, 0–10, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The vector string, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// Who assessed it (`nvd`, `ghsa`, `redhat`…), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A parsed [package URL](https://github.com/package-url/purl-spec).
///
/// Displays and serializes as its canonical string form; equality,
/// ordering and hashing are those of that canonical string. Cloning is
/// cheap (the parsed form is shared), so parsers can reuse one `Purl` for
/// every finding of a package.
#[derive(Clone)]
pub struct Purl(std::sync::Arc<PurlInner>);

struct PurlInner {
    canonical: String,
    parsed: PackageUrl<'static>,
}

impl PartialEq for Purl {
    fn eq(&self, other: &Self) -> bool {
        self.0.canonical == other.0.canonical
    }
}

impl Eq for Purl {}

impl std::hash::Hash for Purl {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.canonical.hash(state);
    }
}

impl PartialOrd for Purl {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Purl {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.canonical.cmp(&other.0.canonical)
    }
}

impl Purl {
    /// Parses a purl string.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPurl`] when the string is not a valid package URL.
    pub fn parse(s: &str) -> Result<Purl> {
        PackageUrl::from_str(s)
            .map(|parsed| {
                Purl(std::sync::Arc::new(PurlInner {
                    canonical: parsed.to_string(),
                    parsed,
                }))
            })
            .map_err(|source| Error::InvalidPurl {
                purl: s.to_owned(),
                source,
            })
    }

    /// The purl type (`npm`, `pypi`, `maven`, `deb`, `golang`…).
    pub fn ty(&self) -> &str {
        self.0.parsed.ty()
    }

    /// The namespace (`@angular` for npm scopes, the Maven group, the distro
    /// vendor for OS packages), when present.
    pub fn namespace(&self) -> Option<&str> {
        self.0.parsed.namespace()
    }

    /// The package name.
    pub fn name(&self) -> &str {
        self.0.parsed.name()
    }

    /// The version, when present.
    pub fn version(&self) -> Option<&str> {
        self.0.parsed.version()
    }

    /// The canonical string form.
    pub fn as_str(&self) -> &str {
        &self.0.canonical
    }

    /// The underlying [`PackageUrl`].
    pub fn as_package_url(&self) -> &PackageUrl<'static> {
        &self.0.parsed
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.canonical)
    }
}

impl fmt::Debug for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Purl({})", self.0.canonical)
    }
}

impl FromStr for Purl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Purl::parse(s)
    }
}

impl Serialize for Purl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.canonical)
    }
}

impl<'de> Deserialize<'de> for Purl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Purl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The package a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Package {
    /// The package name as the scanner reported it (`org.apache.logging.log4j:log4j-core`, `libc6`…).
    pub name: String,
    /// The installed version, when known.
    #[serde(default)]
    pub version: Option<String>,
    /// The package URL, when the scanner gave a valid one.
    #[serde(default)]
    pub purl: Option<Purl>,
    /// The ecosystem: the purl type when there is a purl, otherwise the
    /// scanner's own package type (`npm`, `pypi`, `deb`, `apk`…).
    #[serde(default)]
    pub ecosystem: Option<String>,
}

impl Package {
    /// A package with a name only.
    pub fn new(name: impl Into<String>) -> Package {
        Package {
            name: name.into(),
            version: None,
            purl: None,
            ecosystem: None,
        }
    }

    /// Sets the installed version (an empty string is treated as none).
    #[must_use]
    pub fn with_version(mut self, version: Option<impl Into<String>>) -> Package {
        self.version = version.map(Into::into).filter(|v: &String| !v.is_empty());
        self
    }

    /// Sets the purl from a string when it parses; an invalid purl is
    /// dropped (scanners do emit placeholders such as `a-purl-1`). The
    /// ecosystem becomes the purl type when it was not set.
    #[must_use]
    pub fn with_purl_str(mut self, purl: Option<&str>) -> Package {
        if let Some(purl) = purl
            .filter(|p| !p.is_empty())
            .and_then(|p| Purl::parse(p).ok())
        {
            if self.ecosystem.is_none() {
                self.ecosystem = Some(purl.ty().to_owned());
            }
            self.purl = Some(purl);
        }
        self
    }

    /// Sets an already parsed purl; the ecosystem becomes its type.
    #[must_use]
    pub fn with_purl(mut self, purl: Option<Purl>) -> Package {
        if let Some(p) = purl {
            self.ecosystem = Some(p.ty().to_owned());
            self.purl = Some(p);
        }
        self
    }

    /// Sets the ecosystem (an empty string is treated as none).
    #[must_use]
    pub fn with_ecosystem(mut self, ecosystem: Option<impl Into<String>>) -> Package {
        self.ecosystem = ecosystem.map(Into::into).filter(|v: &String| !v.is_empty());
        self
    }
}

/// Where a finding was found.
///
/// Its strings are shared ([`Arc<str>`]): a fleet's merged report holds a
/// great many locations over a few thousand distinct targets and paths, and
/// a parser gives every finding of one target the same string, so a copy
/// costs a reference count. In the JSON form, absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Location {
    /// What was scanned at this place: an image (`alpine:3.19 (alpine 3.19.1)`),
    /// a manifest file (`go.mod`, `package-lock.json`), a Kubernetes workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Arc<str>>,
    /// A file path inside the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Arc<str>>,
    /// First line (1-based), for code, configuration and secret findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    /// Last line (1-based, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    /// A resource inside the target (`default/Deployment/redis`, a Terraform resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Arc<str>>,
}

impl Location {
    /// An empty location; set the fields you know.
    pub fn new() -> Location {
        Location::default()
    }

    /// Sets the target (an empty string is treated as none).
    #[must_use]
    pub fn with_target(mut self, target: Option<impl Into<Arc<str>>>) -> Location {
        self.target = non_empty(target);
        self
    }

    /// Sets the path (an empty string is treated as none).
    #[must_use]
    pub fn with_path(mut self, path: Option<impl Into<Arc<str>>>) -> Location {
        self.path = non_empty(path);
        self
    }

    /// Sets the line range; a zero line (tools' "no line") is treated as none.
    #[must_use]
    pub fn with_lines(mut self, start: Option<u32>, end: Option<u32>) -> Location {
        self.start_line = start.filter(|&l| l > 0);
        self.end_line = end.filter(|&l| l > 0).or(self.start_line);
        self
    }

    /// Sets the resource (an empty string is treated as none).
    #[must_use]
    pub fn with_resource(mut self, resource: Option<impl Into<Arc<str>>>) -> Location {
        self.resource = non_empty(resource);
        self
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Location::default()
    }
}

fn non_empty(s: Option<impl Into<Arc<str>>>) -> Option<Arc<str>> {
    s.map(Into::into).filter(|s: &Arc<str>| !s.is_empty())
}

/// Which scanner reported a finding, and how it rated it.
///
/// Its strings are shared ([`Arc<str>`]), as a [`Location`]'s are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Source {
    /// The scanner (`trivy`, `grype`, `dependency-check`, `sonarqube`, a SARIF tool's name…).
    pub scanner: Arc<str>,
    /// The scanner's own severity for this finding.
    pub severity: Severity,
    /// What the scanner scanned (image reference, directory, project), when known.
    #[serde(default)]
    pub target: Option<Arc<str>>,
}

impl Source {
    /// A source entry. An empty target is treated as none.
    pub fn new(
        scanner: impl Into<Arc<str>>,
        severity: Severity,
        target: Option<Arc<str>>,
    ) -> Source {
        Source {
            scanner: scanner.into(),
            severity,
            target: target.filter(|t| !t.is_empty()),
        }
    }
}

/// One normalized finding.
///
/// Construct with [`Finding::new`] and set the public fields. Lists keep the
/// scanner's order with duplicates removed by the parsers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// What kind of problem this is.
    pub kind: FindingKind,
    /// The primary identifier: a CVE or advisory id for vulnerabilities, the
    /// rule id for misconfigurations, secrets and weaknesses, the licence
    /// name for licence findings.
    pub id: String,
    /// Other identifiers of the same problem (GHSA ↔ CVE, vendor ids, tool rule ids).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The severity (for merged findings, the highest of the sources').
    pub severity: Severity,
    /// CVSS assessments, when given.
    #[serde(default)]
    pub cvss: Vec<Cvss>,
    /// The affected package, when the finding is about one.
    #[serde(default)]
    pub package: Option<Package>,
    /// Versions that fix it.
    #[serde(default)]
    pub fixed_versions: Vec<String>,
    /// Where it was found.
    #[serde(default)]
    pub locations: Vec<Location>,
    /// CWE identifiers, as `CWE-<n>` (or the tool's own token, such as `NVD-CWE-noinfo`).
    #[serde(default)]
    pub cwes: Vec<String>,
    /// A one-line title.
    #[serde(default)]
    pub title: Option<String>,
    /// A longer description.
    #[serde(default)]
    pub description: Option<String>,
    /// Reference URLs.
    #[serde(default)]
    pub references: Vec<String>,
    /// Which scanners reported it.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// How it stands against a baseline, once the report was
    /// [compared](crate::Report::compare) with one; left out of the JSON
    /// form until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_state: Option<crate::model::baseline::BaselineState>,
}

impl Finding {
    /// A finding with a kind, an id and a severity; every other field empty.
    pub fn new(kind: FindingKind, id: impl Into<String>, severity: Severity) -> Finding {
        Finding {
            kind,
            id: id.into(),
            aliases: Vec::new(),
            severity,
            cvss: Vec::new(),
            package: None,
            fixed_versions: Vec::new(),
            locations: Vec::new(),
            cwes: Vec::new(),
            title: None,
            description: None,
            references: Vec::new(),
            sources: Vec::new(),
            baseline_state: None,
        }
    }

    /// Adds an alias unless it is the id or already present (empty strings are ignored).
    pub fn add_alias(&mut self, alias: impl Into<String>) {
        let alias = alias.into();
        if !alias.is_empty() && alias != self.id && !self.aliases.contains(&alias) {
            self.aliases.push(alias);
        }
    }

    /// Adds a CWE, normalizing `79`, `cwe-79` and `CWE-79` to `CWE-79`;
    /// other tokens (`NVD-CWE-noinfo`) are kept as given. Duplicates and
    /// empty strings are ignored.
    pub fn add_cwe(&mut self, cwe: &str) {
        if let Some(cwe) = normalize_cwe(cwe) {
            if !self.cwes.contains(&cwe) {
                self.cwes.push(cwe);
            }
        }
    }

    /// Adds a reference URL unless already present (empty strings are ignored).
    pub fn add_reference(&mut self, url: impl Into<String>) {
        let url = url.into();
        if !url.is_empty() && !self.references.contains(&url) {
            self.references.push(url);
        }
    }

    /// Adds a fixed version unless already present (empty strings are ignored).
    pub fn add_fixed_version(&mut self, version: impl Into<String>) {
        let version = version.into();
        let version = version.trim();
        if !version.is_empty() && !self.fixed_versions.iter().any(|v| v == version) {
            self.fixed_versions.push(version.to_owned());
        }
    }

    /// Adds a location unless it is empty or already present.
    pub fn add_location(&mut self, location: Location) {
        if !location.is_empty() && !self.locations.contains(&location) {
            self.locations.push(location);
        }
    }

    /// Every identifier of the finding: the id, then the aliases.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The CVE among the id and aliases, if any.
    pub fn cve(&self) -> Option<&str> {
        self.ids().find(|id| is_cve(id))
    }

    /// True when at least one fixed version is known.
    pub fn is_fixable(&self) -> bool {
        !self.fixed_versions.is_empty()
    }

    /// The highest CVSS base score given, if any.
    pub fn max_cvss_score(&self) -> Option<f64> {
        self.cvss
            .iter()
            .filter_map(|c| c.score)
            .max_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal))
    }
}

/// True when `id` looks like `CVE-<year>-<number>` (case-insensitive).
pub fn is_cve(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() >= 9
        && bytes[..4].eq_ignore_ascii_case(b"CVE-")
        && id[4..].split_once('-').is_some_and(|(year, num)| {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && !num.is_empty()
                && num.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Normalizes a CWE token: `79`, `cwe-79`, `CWE-79` and `CWE-79: Name` →
/// `CWE-79`; other non-empty tokens (`NVD-CWE-noinfo`) are returned trimmed;
/// empty input or CWE 0 (tools' "none") gives `None`.
pub fn normalize_cwe(cwe: &str) -> Option<String> {
    let cwe = cwe.trim();
    let rest = if cwe.len() >= 4 && cwe.is_char_boundary(4) && cwe[..4].eq_ignore_ascii_case("CWE-")
    {
        &cwe[4..]
    } else {
        cwe
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &rest[digits..];
    if digits > 0 && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-') {
        let n: u64 = rest[..digits].parse().ok()?;
        (n != 0).then(|| format!("CWE-{n}"))
    } else if cwe.is_empty() {
        None
    } else {
        Some(cwe.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_names() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info > Severity::Unknown);
        assert_eq!(Severity::from_lenient("Negligible"), Severity::Info);
        assert_eq!(Severity::from_lenient("MODERATE"), Severity::Medium);
        assert_eq!(Severity::from_lenient("bogus"), Severity::Unknown);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!("bogus".parse::<Severity>().is_err());
        assert_eq!(Severity::from_cvss_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_cvss_score(0.0), Severity::Info);
        assert_eq!(Severity::from_cvss_score(f64::NAN), Severity::Unknown);
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }

    #[test]
    fn cvss_versions() {
        assert_eq!(
            CvssVersion::from_vector("CVSS:3.1/AV:N"),
            Some(CvssVersion::V3_1)
        );
        assert_eq!(
            CvssVersion::from_vector("AV:N/AC:M/Au:N/C:P/I:N/A:N"),
            Some(CvssVersion::V2)
        );
        assert_eq!(
            CvssVersion::from_lenient("CVSSv31"),
            Some(CvssVersion::V3_1)
        );
        assert_eq!(CvssVersion::from_lenient("CVSSv4"), Some(CvssVersion::V4_0));
        assert_eq!(CvssVersion::from_lenient("OWASP"), None);
        assert_eq!(
            serde_json::to_string(&CvssVersion::V4_0).unwrap(),
            "\"4.0\""
        );
    }

    #[test]
    fn cve_and_cwe_helpers() {
        assert!(is_cve("CVE-2021-44228"));
        assert!(is_cve("cve-2021-44228"));
        assert!(!is_cve("CVE-21-1"));
        assert!(!is_cve("GHSA-v6rh-hp5x-86rv"));
        assert!(!is_cve("CVE-2021-"));
        assert_eq!(normalize_cwe("79").as_deref(), Some("CWE-79"));
        assert_eq!(normalize_cwe("cwe-079").as_deref(), Some("CWE-79"));
        assert_eq!(normalize_cwe("0"), None);
        assert_eq!(
            normalize_cwe("CWE-400: Uncontrolled").as_deref(),
            Some("CWE-400")
        );
        assert_eq!(normalize_cwe("CWE-00 Bad Vulnerability"), None);
        assert_eq!(normalize_cwe(""), None);
        assert_eq!(
            normalize_cwe("NVD-CWE-noinfo").as_deref(),
            Some("NVD-CWE-noinfo")
        );
    }

    #[test]
    fn purl_round_trip_and_invalid() {
        let p = Purl::parse("pkg:npm/%40angular/core@16.0.0").unwrap();
        assert_eq!(p.ty(), "npm");
        assert_eq!(p.namespace(), Some("@angular"));
        assert_eq!(p.name(), "core");
        let json = serde_json::to_string(&p).unwrap();
        let back: Purl = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let err = Purl::parse("a-purl-1").unwrap_err();
        assert!(err.to_string().contains("a-purl-1"));
        let pkg = Package::new("x").with_purl_str(Some("a-purl-1"));
        assert!(pkg.purl.is_none());
        let pkg = Package::new("x").with_purl_str(Some("pkg:pypi/redis@4.0.2"));
        assert_eq!(pkg.ecosystem.as_deref(), Some("pypi"));
    }

    #[test]
    fn finding_list_helpers_dedupe() {
        let mut f = Finding::new(FindingKind::Vulnerability, "GHSA-x", Severity::High);
        f.add_alias("CVE-2021-1");
        f.add_alias("CVE-2021-1");
        f.add_alias("GHSA-x");
        f.add_alias("");
        assert_eq!(f.aliases, ["CVE-2021-1"]);
        assert_eq!(f.cve(), Some("CVE-2021-1"));
        f.add_cwe("79");
        f.add_cwe("CWE-79");
        assert_eq!(f.cwes, ["CWE-79"]);
        f.add_fixed_version(" 1.2.3 ");
        f.add_fixed_version("1.2.3");
        assert_eq!(f.fixed_versions, ["1.2.3"]);
        assert!(f.is_fixable());
        f.add_location(Location::new());
        assert!(f.locations.is_empty());
    }
}
