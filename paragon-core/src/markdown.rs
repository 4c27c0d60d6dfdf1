//! A Markdown summary of a [`Report`], for merge-request comments.

use std::fmt::Write;

use crate::document::Report;
use crate::finding::{Finding, FindingKind, Severity};

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
                            .clone()
                            .or_else(|| l.target.clone())
                            .or_else(|| l.resource.clone())
                            .unwrap_or_default();
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
