//! A Markdown summary of a [`Report`], for merge-request comments.

use std::fmt::Write;

use crate::model::baseline::BaselineState;
use crate::model::finding::{Finding, FindingKind, Severity};
use crate::model::report::Report;

/// How many findings the Markdown summary lists by default.
pub const DEFAULT_TOP: usize = 20;

impl Report {
    /// Renders a Markdown summary: counts by severity, kind and scanner, SBOM
    /// totals, and the `top` most severe findings as a table.
    pub fn to_markdown(&self, top: usize) -> String {
        let mut out = String::new();
        let s = &self.summary;
        let _ = writeln!(out, "## Paragon scan summary\n");
        let _ = writeln!(
            out,
            "{} finding(s) from {} report(s).\n",
            s.total,
            self.inputs.len()
        );
        if let Some(v) = &self.verdict {
            let _ = writeln!(
                out,
                "**Gate: {}** — {} failing, {} suppressed (policy evaluated on {}).\n",
                if v.passed { "passed" } else { "FAILED" },
                v.failures.len(),
                v.suppressed.len(),
                v.evaluated_on
            );
            if !v.failures.is_empty() {
                out.push_str("| failing | package | severity | rule |\n|---|---|---|---|\n");
                for f in v.failures.iter().take(top.max(1)) {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} |",
                        cell(&f.id),
                        cell(f.package.as_deref().unwrap_or("")),
                        f.severity,
                        cell(&f.rule)
                    );
                }
                if v.failures.len() > top.max(1) {
                    let _ = writeln!(
                        out,
                        "\n…and {} more failing.",
                        v.failures.len() - top.max(1)
                    );
                }
                out.push('\n');
            }
            if !v.suppressed.is_empty() {
                out.push_str("| suppressed | package | by |\n|---|---|---|\n");
                for s in &v.suppressed {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} |",
                        cell(&s.id),
                        cell(s.package.as_deref().unwrap_or("")),
                        cell(&s.by.to_string())
                    );
                }
                out.push('\n');
            }
            for d in &v.denied {
                let _ = writeln!(out, "- denied by `{}`: {}", d.file, d.message);
            }
            for w in &v.warnings {
                let _ = writeln!(out, "- warning from `{}`: {}", w.file, w.message);
            }
            if !v.denied.is_empty() || !v.warnings.is_empty() {
                out.push('\n');
            }
            for e in &v.expired_ignores {
                let _ = writeln!(
                    out,
                    "- expired ignore rule for `{}` (reason: {}) no longer suppresses `{}`",
                    e.rule.id, e.rule.reason, e.id
                );
            }
            if !v.expired_ignores.is_empty() {
                out.push('\n');
            }
        }
        self.baseline_section(&mut out, top);
        out.push_str("| severity | count |\n|---|---:|\n");
        for sev in Severity::DESCENDING {
            let _ = writeln!(out, "| {sev} | {} |", s.by_severity.get(sev));
        }
        out.push_str("\n| kind | count |\n|---|---:|\n");
        for kind in FindingKind::ALL {
            let _ = writeln!(out, "| {kind} | {} |", s.by_kind.get(kind));
        }
        if !s.by_scanner.is_empty() {
            out.push_str("\n| scanner | findings |\n|---|---:|\n");
            for (scanner, n) in &s.by_scanner {
                let _ = writeln!(out, "| {} | {n} |", cell(scanner));
            }
        }
        if s.sbom.documents > 0 {
            let _ = writeln!(
                out,
                "\nSBOM: {} document(s), {} component(s), {} with a package URL.",
                s.sbom.documents, s.sbom.components, s.sbom.components_with_purl
            );
        }
        if !self.findings.is_empty() && top > 0 {
            let mut ranked: Vec<&Finding> = self.findings.iter().collect();
            ranked.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
            let _ = writeln!(
                out,
                "\n### Top findings\n\n| severity | kind | id | package | fixed in | where |\n|---|---|---|---|---|---|"
            );
            for f in ranked.iter().take(top) {
                let package = f
                    .package
                    .as_ref()
                    .map(|p| match &p.version {
                        Some(v) => format!("{} {v}", p.name),
                        None => p.name.clone(),
                    })
                    .unwrap_or_default();
                let place = f
                    .locations
                    .first()
                    .map(|l| {
                        let mut s = l
                            .path
                            .as_deref()
                            .or(l.target.as_deref())
                            .or(l.resource.as_deref())
                            .unwrap_or_default()
                            .to_owned();
                        if let Some(line) = l.start_line {
                            let _ = write!(s, ":{line}");
                        }
                        s
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    f.severity,
                    f.kind,
                    cell(&f.id),
                    cell(&package),
                    cell(&f.fixed_versions.join(", ")),
                    cell(&place)
                );
            }
            if ranked.len() > top {
                let _ = writeln!(out, "\n…and {} more.", ranked.len() - top);
            }
        }
        out
    }

    /// The comparison with the baseline, when there is one: the four
    /// counts, then the new findings and the ones that are gone (at most
    /// `top` of each).
    fn baseline_section(&self, out: &mut String, top: usize) {
        let Some(c) = &self.baseline else {
            return;
        };
        let _ = writeln!(
            out,
            "**Against the baseline:** {} new, {} unchanged, {} updated, {} absent (fixed or no longer scanned).\n",
            c.new,
            c.unchanged,
            c.updated,
            c.absent.len()
        );
        let new = self
            .findings
            .iter()
            .filter(|f| f.baseline_state == Some(BaselineState::New));
        for (title, group) in [
            ("new", new.collect::<Vec<_>>()),
            ("absent", c.absent.iter().collect()),
        ] {
            if group.is_empty() || top == 0 {
                continue;
            }
            let _ = writeln!(out, "| {title} | package | severity |\n|---|---|---|");
            for f in group.iter().take(top) {
                let package = super::package_label(f).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    cell(&f.id),
                    cell(&package),
                    f.severity
                );
            }
            if group.len() > top {
                let _ = writeln!(out, "\n…and {} more {title}.", group.len() - top);
            }
            out.push('\n');
        }
    }
}

/// Escapes a table cell: pipes and line breaks would break the row.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use crate::{Finding, FindingKind, Report, ScanReport, ScannerInfo, Severity, Source};

    #[test]
    fn markdown_lists_counts_and_escapes_cells() {
        let mut scan = ScanReport::new(ScannerInfo::new("trivy", None::<String>));
        let mut f = Finding::new(FindingKind::Secret, "rule|x", Severity::Critical);
        f.sources
            .push(Source::new("trivy", Severity::Critical, None));
        scan.findings.push(f);
        let md = Report::concat([scan]).to_markdown(10);
        assert!(md.contains("| critical | 1 |"), "{md}");
        assert!(md.contains("| trivy | 1 |"), "{md}");
        assert!(md.contains("rule\\|x"), "{md}");
    }
}
