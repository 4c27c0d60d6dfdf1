//! GitLab security reports: container scanning and dependency scanning,
//! in the report format of GitLab's security report schemas
//! [`GITLAB_SCHEMA_VERSION`], which a GitLab CI job publishes as
//! `artifacts: reports: container_scanning` or `dependency_scanning`.
//!
//! Every vulnerability about a package becomes one GitLab vulnerability:
//! its id is the finding's stable
//! [fingerprint](crate::model::finding::Finding::fingerprint) (the same
//! across runs and upgrades that keep the CVE; `-2`, `-3`… where two
//! findings of one report share it), its identifiers the finding's id,
//! aliases and CWEs, with its severity, CVSS vectors (those the schema
//! accepts), fixed versions as the solution, and links. What does not fit
//! the format is left out and said so in `scan.messages`: findings of
//! other kinds (secrets, misconfigurations), findings the policy
//! suppressed, and, for dependency scanning, findings without a manifest
//! file.
//!
//! ```
//! use paragon_core::export::gitlab::{to_gitlab_container_scanning, GitLabScan};
//! use paragon_core::model::finding::{Finding, FindingKind, Package, Severity};
//! use paragon_core::{Report, ScanReport, ScannerInfo};
//!
//! let mut f = Finding::new(FindingKind::Vulnerability, "CVE-2024-0001", Severity::High);
//! f.package = Some(Package::new("openssl").with_version(Some("3.0.0")));
//! f.fixed_versions = vec!["3.0.1".into()];
//! let mut scanned = ScanReport::new(ScannerInfo::new("trivy", Some("0.59.1")));
//! scanned.findings.push(f);
//! let report = Report::concat([scanned]);
//! let now = time::OffsetDateTime::now_utc();
//! let scan = GitLabScan::new(now, now).with_image("registry.example.com/shop/app:1.0.0");
//! let json = to_gitlab_container_scanning(&report, &scan)?;
//! let v: serde_json::Value = serde_json::from_str(&json)?;
//! assert_eq!(v["version"], "15.2.1");
//! assert_eq!(v["vulnerabilities"][0]["solution"], "Upgrade openssl to 3.0.1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::finding::{Finding, FindingKind, Severity};
use crate::model::report::Report;

/// The version of GitLab's security report schemas the exports follow.
pub const GITLAB_SCHEMA_VERSION: &str = "15.2.1";

/// What the exports say about the scan itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GitLabScan {
    /// When the scan started.
    pub start_time: OffsetDateTime,
    /// When it finished.
    pub end_time: OffsetDateTime,
    /// The image scanned (container scanning): named on every
    /// vulnerability; without it, each finding's target is named.
    pub image: Option<String>,
    /// The image's operating system (container scanning); without it, the
    /// one in the finding's target (`alpine:3.19 (alpine 3.19.1)`), else
    /// `Unknown`.
    pub operating_system: Option<String>,
}

impl GitLabScan {
    /// A scan that ran from `start_time` to `end_time`.
    pub fn new(start_time: OffsetDateTime, end_time: OffsetDateTime) -> GitLabScan {
        GitLabScan {
            start_time,
            end_time,
            image: None,
            operating_system: None,
        }
    }

    /// Names the image scanned.
    #[must_use]
    pub fn with_image(mut self, image: impl Into<String>) -> GitLabScan {
        self.image = Some(image.into());
        self
    }

    /// Names the image's operating system.
    #[must_use]
    pub fn with_operating_system(mut self, os: impl Into<String>) -> GitLabScan {
        self.operating_system = Some(os.into());
        self
    }
}

/// The report as a GitLab container scanning report.
///
/// # Errors
///
/// [`Error::Export`] if serialization fails.
pub fn to_gitlab_container_scanning(report: &Report, scan: &GitLabScan) -> Result<String> {
    export(report, scan, Kind::Container)
}

/// The report as a GitLab dependency scanning report: each vulnerability
/// located in the manifest or lock file the finding names.
///
/// # Errors
///
/// [`Error::Export`] if serialization fails.
pub fn to_gitlab_dependency_scanning(report: &Report, scan: &GitLabScan) -> Result<String> {
    export(report, scan, Kind::Dependency)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Container,
    Dependency,
}

impl Kind {
    fn scan_type(self) -> &'static str {
        match self {
            Kind::Container => "container_scanning",
            Kind::Dependency => "dependency_scanning",
        }
    }

    fn schema(self) -> String {
        let file = match self {
            Kind::Container => "container-scanning-report-format.json",
            Kind::Dependency => "dependency-scanning-report-format.json",
        };
        format!(
            "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v{GITLAB_SCHEMA_VERSION}/dist/{file}"
        )
    }
}

fn export(report: &Report, scan: &GitLabScan, kind: Kind) -> Result<String> {
    let suppressed: BTreeSet<usize> = report
        .verdict
        .iter()
        .flat_map(|v| &v.suppressed)
        .map(|s| s.finding)
        .collect();
    let (mut other_kinds, mut no_package, mut no_file) = (0usize, 0usize, 0usize);
    let mut vulnerabilities = Vec::new();
    let mut ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, f) in report.findings.iter().enumerate() {
        if suppressed.contains(&i) {
            continue;
        }
        if f.kind != FindingKind::Vulnerability {
            other_kinds += 1;
            continue;
        }
        if f.package.is_none() {
            no_package += 1;
            continue;
        }
        let location = match kind {
            Kind::Container => container_location(f, scan),
            Kind::Dependency => match dependency_location(f) {
                Some(l) => l,
                None => {
                    no_file += 1;
                    continue;
                }
            },
        };
        let fingerprint = f.fingerprint();
        let seen = ids.entry(fingerprint.clone()).or_insert(0);
        *seen += 1;
        let id = if *seen == 1 {
            fingerprint
        } else {
            format!("{fingerprint}-{seen}")
        };
        vulnerabilities.push(vulnerability(f, id, location));
    }
    let mut messages = Vec::new();
    let mut say = |level: &str, n: usize, what: &str| {
        if n > 0 {
            messages.push(json!({ "level": level, "value": format!("{n} {what}") }));
        }
    };
    say(
        "info",
        suppressed.len(),
        "finding(s) suppressed by the policy are left out",
    );
    say(
        "info",
        other_kinds,
        "finding(s) that are not vulnerabilities (secrets, misconfigurations, weaknesses, licences) are left out",
    );
    say(
        "warn",
        no_package,
        "vulnerabilit(ies) naming no package are left out",
    );
    say(
        "warn",
        no_file,
        "vulnerabilit(ies) naming no manifest or lock file are left out",
    );
    let doc = json!({
        "version": GITLAB_SCHEMA_VERSION,
        "schema": kind.schema(),
        "scan": {
            "analyzer": {
                "id": "paragon",
                "name": "Paragon",
                "version": env!("CARGO_PKG_VERSION"),
                "vendor": { "name": "Paragon" },
            },
            "scanner": scanner(report),
            "type": kind.scan_type(),
            "start_time": timestamp(scan.start_time),
            "end_time": timestamp(scan.end_time),
            "status": "success",
            "messages": messages,
        },
        "vulnerabilities": vulnerabilities,
    });
    serde_json::to_string_pretty(&doc).map_err(|e| Error::Export {
        format: "GitLab security report",
        message: e.to_string(),
    })
}

/// The scanner behind the report: the one that wrote every input, or
/// Paragon's merge of several.
fn scanner(report: &Report) -> Value {
    let names: BTreeSet<&str> = report
        .inputs
        .iter()
        .map(|i| i.scanner.name.as_str())
        .collect();
    match names.iter().next() {
        Some(name) if names.len() == 1 => {
            let version = report
                .inputs
                .iter()
                .find_map(|i| i.scanner.version.clone())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "unknown".into());
            json!({
                "id": name.to_ascii_lowercase(),
                "name": name,
                "version": version,
                "vendor": { "name": vendor(name) },
            })
        }
        _ => json!({
            "id": "paragon-merge",
            "name": if names.is_empty() {
                "Paragon".to_owned()
            } else {
                format!("Paragon merge of {}", names.into_iter().collect::<Vec<_>>().join(", "))
            },
            "version": env!("CARGO_PKG_VERSION"),
            "vendor": { "name": "Paragon" },
        }),
    }
}

/// Who makes the scanner named `name`, where it is one Paragon reads.
fn vendor(name: &str) -> &str {
    match name.to_ascii_lowercase().as_str() {
        "trivy" => "Aqua Security",
        "grype" | "syft" => "Anchore",
        "dependency-check" | "dependency_check" => "OWASP",
        "sonarqube" => "SonarSource",
        _ => name,
    }
}

/// `yyyy-mm-ddThh:mm:ss` in UTC, as the schema wants it.
fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn dependency(f: &Finding) -> Value {
    let p = f.package.as_ref().expect("checked by the caller");
    json!({
        "package": { "name": p.name },
        "version": p.version.clone().unwrap_or_default(),
    })
}

fn container_location(f: &Finding, scan: &GitLabScan) -> Value {
    let target = f.locations.iter().find_map(|l| l.target.as_deref());
    let image = scan
        .image
        .clone()
        .or_else(|| target.map(|t| t.split(" (").next().unwrap_or(t).to_owned()))
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let os = scan
        .operating_system
        .clone()
        .or_else(|| {
            target
                .and_then(|t| t.split_once(" (")?.1.strip_suffix(')'))
                .map(str::to_owned)
        })
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| "Unknown".into());
    json!({
        "dependency": dependency(f),
        "operating_system": os,
        "image": image,
    })
}

/// The manifest or lock file a finding names, with the dependency: its
/// target when that is a file (Trivy's `package-lock.json`, a jar), else
/// its path (a file in an image, where the target is the image).
fn dependency_location(f: &Finding) -> Option<Value> {
    let file = f.locations.iter().find_map(|l| {
        let target = l
            .target
            .as_deref()
            .filter(|t| !t.is_empty() && !t.contains(" (") && !t.contains(':'));
        target.or(l.path.as_deref().filter(|p| !p.is_empty()))
    })?;
    Some(json!({ "file": file, "dependency": dependency(f) }))
}

fn vulnerability(f: &Finding, id: String, location: Value) -> Value {
    let mut v = Map::new();
    v.insert("id".into(), json!(id));
    let name = f.title.clone().unwrap_or_else(|| f.id.clone());
    v.insert("name".into(), json!(truncate(&name, 255)));
    if let Some(d) = &f.description {
        v.insert("description".into(), json!(truncate(d, 1 << 20)));
    }
    v.insert("severity".into(), json!(severity(f.severity)));
    if !f.fixed_versions.is_empty() {
        let p = f
            .package
            .as_ref()
            .map_or("the package", |p| p.name.as_str());
        let solution = format!("Upgrade {p} to {}", f.fixed_versions.join(" or "));
        v.insert("solution".into(), json!(truncate(&solution, 7000)));
    }
    v.insert("identifiers".into(), Value::Array(identifiers(f)));
    let vectors: Vec<Value> = f
        .cvss
        .iter()
        .filter_map(|c| {
            let vector = c.vector.as_deref().filter(|v| cvss_vector_ok(v))?;
            let vendor = c.source.clone().filter(|s| !s.is_empty());
            Some(json!({ "vendor": vendor.unwrap_or_else(|| "unknown".into()), "vector": vector }))
        })
        .take(10)
        .collect();
    if !vectors.is_empty() {
        v.insert("cvss_vectors".into(), Value::Array(vectors));
    }
    let links: Vec<Value> = f
        .references
        .iter()
        .filter(|u| {
            ["http://", "https://", "ftp://"]
                .iter()
                .any(|s| u.len() > s.len() && u.starts_with(s))
        })
        .map(|u| json!({ "url": u }))
        .collect();
    if !links.is_empty() {
        v.insert("links".into(), Value::Array(links));
    }
    v.insert("location".into(), location);
    Value::Object(v)
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
        Severity::Unknown => "Unknown",
    }
}

/// The finding's id first (GitLab's primary identifier), then its aliases
/// and CWEs; CVEs and GHSAs with their advisory pages.
fn identifiers(f: &Finding) -> Vec<Value> {
    let mut out = Vec::new();
    for id in std::iter::once(&f.id).chain(&f.aliases) {
        if id.is_empty() {
            continue;
        }
        let upper = id.to_ascii_uppercase();
        let (kind, url) = if upper.starts_with("CVE-") {
            (
                "cve",
                Some(format!("https://nvd.nist.gov/vuln/detail/{upper}")),
            )
        } else if upper.starts_with("GHSA-") {
            ("ghsa", Some(format!("https://github.com/advisories/{id}")))
        } else {
            ("advisory", None)
        };
        let mut i = json!({ "type": kind, "name": id, "value": id });
        if let Some(url) = url {
            i["url"] = json!(url);
        }
        out.push(i);
    }
    for cwe in &f.cwes {
        if let Some(n) = cwe.strip_prefix("CWE-").filter(|n| !n.is_empty()) {
            out.push(json!({
                "type": "cwe",
                "name": cwe,
                "value": n,
                "url": format!("https://cwe.mitre.org/data/definitions/{n}.html"),
            }));
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Whether the schema takes `vector`: a CVSS v3.0/v3.1 vector, or a v2
/// one, of metrics it knows.
fn cvss_vector_ok(vector: &str) -> bool {
    const V3: &[(&str, &[&str])] = &[
        ("AV", &["N", "A", "L", "P"]),
        ("AC", &["L", "H"]),
        ("PR", &["N", "L", "H"]),
        ("UI", &["N", "R"]),
        ("S", &["U", "C"]),
        ("C", &["N", "L", "H"]),
        ("I", &["N", "L", "H"]),
        ("A", &["N", "L", "H"]),
        ("E", &["X", "U", "P", "F", "H"]),
        ("RL", &["X", "O", "T", "W", "U"]),
        ("RC", &["X", "U", "R", "C"]),
        ("CR", &["X", "L", "M", "H"]),
        ("IR", &["X", "L", "M", "H"]),
        ("AR", &["X", "L", "M", "H"]),
        ("MAV", &["X", "N", "A", "L", "P"]),
        ("MAC", &["X", "L", "H"]),
        ("MPR", &["X", "N", "L", "H"]),
        ("MUI", &["X", "N", "R"]),
        ("MS", &["X", "U", "C"]),
        ("MC", &["X", "N", "L", "H"]),
        ("MI", &["X", "N", "L", "H"]),
        ("MA", &["X", "N", "L", "H"]),
    ];
    const V2: &[(&str, &[&str])] = &[
        ("AV", &["N", "A", "L"]),
        ("AC", &["L", "M", "H"]),
        ("Au", &["M", "S", "N"]),
        ("C", &["N", "P", "C"]),
        ("I", &["N", "P", "C"]),
        ("A", &["N", "P", "C"]),
        ("E", &["U", "POC", "F", "H", "ND"]),
        ("RL", &["OF", "TF", "W", "U", "ND"]),
        ("RC", &["UC", "UR", "C", "ND"]),
        ("CDP", &["N", "L", "LM", "MH", "H", "ND"]),
        ("TD", &["N", "L", "M", "H", "ND"]),
        ("CR", &["L", "M", "H", "ND"]),
        ("IR", &["L", "M", "H", "ND"]),
        ("AR", &["L", "M", "H", "ND"]),
    ];
    let metrics_ok = |body: &str, table: &[(&str, &[&str])]| {
        !body.is_empty()
            && body.split('/').all(|m| {
                m.split_once(':').is_some_and(|(k, v)| {
                    table
                        .iter()
                        .any(|(key, values)| *key == k && values.contains(&v))
                })
            })
    };
    match vector
        .strip_prefix("CVSS:3.1/")
        .or_else(|| vector.strip_prefix("CVSS:3.0/"))
    {
        Some(body) => (32..=128).contains(&vector.len()) && metrics_ok(body, V3),
        None => (16..=128).contains(&vector.len()) && metrics_ok(vector, V2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_vectors_are_checked_as_the_schema_does() {
        assert!(cvss_vector_ok(
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        ));
        assert!(cvss_vector_ok("AV:N/AC:L/Au:N/C:P/I:P/A:P"));
        for bad in [
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/",
            "AV:N",
            "",
        ] {
            assert!(!cvss_vector_ok(bad), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_utc_without_an_offset() {
        let t = time::macros::datetime!(2024-02-29 23:30:05 -02:00);
        assert_eq!(timestamp(t), "2024-03-01T01:30:05");
    }

    #[test]
    fn long_texts_are_cut_on_a_character() {
        let s = "é".repeat(200);
        let cut = truncate(&s, 255);
        assert!(cut.len() <= 255 && cut.ends_with("..."));
    }
}
