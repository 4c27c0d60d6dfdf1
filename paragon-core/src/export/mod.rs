//! Report exports: SARIF 2.1.0, JUnit XML, CycloneDX 1.5 JSON, GitLab's
//! container and dependency scanning reports (the JSON
//! form and Markdown are methods of [`Report`](crate::Report) itself).
//!
//! | format | function | for |
//! |---|---|---|
//! | SARIF 2.1.0 | [`to_sarif`] | code scanning UIs (GitHub, GitLab, Azure DevOps) |
//! | JUnit XML | [`to_junit`] | CI test result views (Jenkins, GitLab) |
//! | CycloneDX 1.5 JSON | [`to_cyclonedx`] | SBOM and vulnerability exchange (Dependency-Track) |
//! | GitLab container scanning | [`to_gitlab_container_scanning`] | GitLab's vulnerability report and merge-request widget (`reports: container_scanning`) |
//! | GitLab dependency scanning | [`to_gitlab_dependency_scanning`] | the same, for dependencies in manifests (`reports: dependency_scanning`) |
//!
//! Each takes the merged [`Report`](crate::Report); when it carries a
//! [`Verdict`](crate::Verdict), failing and suppressed findings are marked.

mod cyclonedx;
pub mod gitlab;
mod junit;
pub mod markdown;
mod sarif;

pub use cyclonedx::to_cyclonedx;
pub use gitlab::{to_gitlab_container_scanning, to_gitlab_dependency_scanning, GitLabScan};
pub use junit::to_junit;
pub use sarif::to_sarif;

use crate::model::finding::Finding;

/// A stable fingerprint of a merged finding: kind, id, package identity,
/// version and locations, hashed (SHA-256, hex).
pub fn fingerprint(f: &Finding) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(f.kind.as_str());
    h.update([0]);
    h.update(&f.id);
    h.update([0]);
    if let Some(p) = &f.package {
        h.update(p.identity());
        h.update([0]);
        h.update(p.version.as_deref().unwrap_or(""));
    }
    for l in &f.locations {
        h.update([0]);
        for part in [&l.target, &l.path, &l.resource] {
            h.update(part.as_deref().unwrap_or(""));
            h.update([1]);
        }
        h.update(l.start_line.unwrap_or(0).to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `name version` of a finding's package.
pub(crate) fn package_label(f: &Finding) -> Option<String> {
    f.package.as_ref().map(|p| match &p.version {
        Some(v) => format!("{} {v}", p.name),
        None => p.name.clone(),
    })
}

/// A one-line message for a finding.
pub(crate) fn message(f: &Finding) -> String {
    let mut m = String::new();
    m.push_str(&f.id);
    if let Some(p) = package_label(f) {
        m.push_str(" in ");
        m.push_str(&p);
    }
    if let Some(t) = &f.title {
        m.push_str(": ");
        m.push_str(t);
    }
    if !f.fixed_versions.is_empty() {
        m.push_str(" (fixed in ");
        m.push_str(&f.fixed_versions.join(", "));
        m.push(')');
    }
    m
}
