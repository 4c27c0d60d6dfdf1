//! Harbor: images go through Harbor's OCI distribution endpoint
//! ([`DistributionRegistry`](crate::DistributionRegistry)); projects, robot accounts, tags, scans and
//! vulnerability reports through its REST API v2.0 ([`HarborApi`]).
//!
//! Harbor's REST conventions are followed exactly:
//! - a repository name containing `/` is URL-encoded twice in paths
//!   (`team/app` → `team%252Fapp`);
//! - no cookies are kept (Harbor's CSRF check rejects cookie sessions
//!   without a token), every request carries basic auth and an
//!   `X-Request-Id`;
//! - robot accounts are named `robot$<project>+<name>`, which is escaped
//!   wherever it appears in a URL;
//! - `POST …/tags` answers 409 for a tag that exists, so `latest` is moved
//!   by a manifest PUT through the distribution endpoint instead;
//! - an immutability rule answers 412, reported as such.

mod api;
mod registry;
mod report;
mod scanner;

pub use api::{HarborApi, RobotAccount, TagOutcome, ACCEPT_VULNERABILITIES};
pub use registry::HarborRegistry;
pub use scanner::HarborScanner;

#[cfg(test)]
mod tests {
    use paragon_core::Severity;

    use super::api::{encode, repo_param, split_repository};
    use super::report::parse_vulnerabilities;

    #[test]
    fn repositories_are_double_encoded() {
        assert_eq!(repo_param("team/app"), "team%252Fapp");
        assert_eq!(repo_param("app"), "app");
        assert_eq!(encode("robot$ci+push"), "robot%24ci%2Bpush");
        assert!(split_repository("app").is_err());
        assert_eq!(split_repository("p/a/b").unwrap(), ("p", "a/b"));
    }

    #[test]
    fn vulnerability_reports_parse() {
        let body = br#"{"application/vnd.security.vulnerability.report; version=1.1": {
            "generated_at": "2024-01-01T00:00:00Z",
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.0"},
            "severity": "High",
            "vulnerabilities": [
              {"id": "CVE-2023-0464", "package": "libssl3", "version": "3.0.8-r0", "fix_version": "3.0.8-r1",
               "severity": "High", "description": "x", "links": ["https://avd.aquasec.com/nvd/cve-2023-0464"],
               "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
               "cwe_ids": ["CWE-295"]},
              {"id": "CVE-2023-1", "package": "zlib", "version": "1", "severity": "Unknown"}
            ]}}"#;
        let r = parse_vulnerabilities(body, "p/app@sha256:x").unwrap();
        assert_eq!(r.scanner.name, "harbor");
        assert_eq!(r.scanner.version.as_deref(), Some("Trivy v0.50.0"));
        assert_eq!(r.findings.len(), 2);
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.fixed_versions, ["3.0.8-r1"]);
        assert_eq!(f.cwes, ["CWE-295"]);
        assert_eq!(f.cvss[0].score, Some(7.5));
        assert!(parse_vulnerabilities(b"{}", "t").is_err());
        assert!(parse_vulnerabilities(b"{\"a\":", "t").is_err());
        assert!(parse_vulnerabilities(b"[]", "t").is_err());
    }
}
