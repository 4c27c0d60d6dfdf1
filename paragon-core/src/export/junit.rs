//! JUnit XML export.

use std::collections::BTreeMap;
use std::fmt::Write;

use quick_xml::escape::escape;

use super::{message, package_label};
use crate::model::finding::FindingKind;
use crate::model::report::Report;

/// Renders the report as JUnit XML: one `testsuite` per finding kind, one
/// `testcase` per merged finding (class `paragon.<kind>.<scanners>`, name
/// `id package version`).
///
/// With a verdict, failing findings are `failure`s (message: the rule that
/// failed them), suppressed ones are `skipped` (message: what suppressed
/// them) and the rest pass; a final suite `paragon.gate` holds one test
/// case for the gate itself. Without a verdict every finding is a
/// `failure`, since nothing judged it acceptable.
///
/// When the report was [compared](crate::Report::compare) with a
/// baseline, each finding's test case has a `baseline` property (`new`,
/// `unchanged`, `updated`), and a suite `paragon.baseline` holds the four
/// counts as properties and one passing test case per baseline finding
/// that is gone (class `paragon.baseline.absent`).
pub fn to_junit(report: &Report) -> String {
    let failures: BTreeMap<usize, &str> = report
        .verdict
        .iter()
        .flat_map(|v| &v.failures)
        .map(|f| (f.finding, f.rule.as_str()))
        .collect();
    let skipped: BTreeMap<usize, String> = report
        .verdict
        .iter()
        .flat_map(|v| &v.suppressed)
        .map(|s| (s.finding, s.by.to_string()))
        .collect();
    let gate = report.verdict.is_some();

    let mut suites = String::new();
    let (mut total, mut total_failed, mut total_skipped) = (0, 0, 0);
    for kind in FindingKind::ALL {
        let cases: Vec<usize> = (0..report.findings.len())
            .filter(|&i| report.findings[i].kind == kind)
            .collect();
        if cases.is_empty() {
            continue;
        }
        let mut body = String::new();
        let (mut failed, mut skip) = (0, 0);
        for i in cases.iter().copied() {
            let f = &report.findings[i];
            let mut scanners: Vec<&str> = f.sources.iter().map(|s| &*s.scanner).collect();
            scanners.dedup();
            let class = format!("paragon.{kind}.{}", scanners.join("+"));
            let name = match package_label(f) {
                Some(p) => format!("{} {p}", f.id),
                None => match f.locations.first().and_then(|l| l.path.as_deref()) {
                    Some(path) => format!("{} {path}", f.id),
                    None => f.id.clone(),
                },
            };
            let _ = write!(
                body,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">",
                escape(class.as_str()),
                escape(name.as_str())
            );
            if let Some(state) = f.baseline_state {
                let _ = write!(
                    body,
                    "\n      <properties><property name=\"baseline\" value=\"{state}\"/></properties>\n    "
                );
            }
            let detail = details(report, i);
            if let Some(why) = skipped.get(&i) {
                skip += 1;
                let _ = write!(
                    body,
                    "\n      <skipped message=\"{}\"/>\n    ",
                    escape(why.as_str())
                );
            } else if !gate || failures.contains_key(&i) {
                failed += 1;
                let rule = failures
                    .get(&i)
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| format!("{} {kind}", f.severity));
                let _ = write!(
                    body,
                    "\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    ",
                    escape(rule.as_str()),
                    f.severity,
                    escape(detail.as_str())
                );
            }
            body.push_str("</testcase>\n");
        }
        let _ = write!(
            suites,
            "  <testsuite name=\"paragon.{kind}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skip}\" time=\"0\">\n{body}  </testsuite>\n",
            cases.len()
        );
        total += cases.len();
        total_failed += failed;
        total_skipped += skip;
    }
    if let Some(c) = &report.baseline {
        total += c.absent.len();
        let _ = writeln!(
            suites,
            "  <testsuite name=\"paragon.baseline\" tests=\"{}\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0\">\n    <properties>\n      <property name=\"new\" value=\"{}\"/>\n      <property name=\"unchanged\" value=\"{}\"/>\n      <property name=\"updated\" value=\"{}\"/>\n      <property name=\"absent\" value=\"{}\"/>\n    </properties>",
            c.absent.len(),
            c.new,
            c.unchanged,
            c.updated,
            c.absent.len()
        );
        for f in &c.absent {
            let name = match package_label(f) {
                Some(p) => format!("{} {p}", f.id),
                None => f.id.clone(),
            };
            let _ = writeln!(
                suites,
                "    <testcase classname=\"paragon.baseline.absent\" name=\"{}\" time=\"0\"/>",
                escape(name.as_str())
            );
        }
        suites.push_str("  </testsuite>\n");
    }
    if let Some(v) = &report.verdict {
        total += 1;
        let _ = write!(
            suites,
            "  <testsuite name=\"paragon.gate\" tests=\"1\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0\">\n    <testcase classname=\"paragon.gate\" name=\"policy\" time=\"0\">",
            u8::from(!v.passed)
        );
        if !v.passed {
            total_failed += 1;
            let _ = write!(
                suites,
                "\n      <failure message=\"{} finding(s) failed the policy{}\" type=\"gate\">{}</failure>\n    ",
                v.failures.len(),
                if v.denied.is_empty() {
                    String::new()
                } else {
                    format!(", {} rule(s) denied the report", v.denied.len())
                },
                escape(
                    v.denied
                        .iter()
                        .map(|d| format!("{}: {}", d.file, d.message))
                        .collect::<Vec<_>>()
                        .join("\n")
                        .as_str()
                )
            );
        }
        suites.push_str("</testcase>\n  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"paragon\" tests=\"{total}\" failures=\"{total_failed}\" errors=\"0\" skipped=\"{total_skipped}\">\n{suites}</testsuites>\n"
    )
}

fn details(report: &Report, i: usize) -> String {
    let f = &report.findings[i];
    let mut d = message(f);
    d.push('\n');
    let _ = writeln!(d, "severity: {}", f.severity);
    if !f.aliases.is_empty() {
        let _ = writeln!(d, "aliases: {}", f.aliases.join(", "));
    }
    for s in &f.sources {
        let _ = writeln!(
            d,
            "reported by {} ({}){}",
            s.scanner,
            s.severity,
            s.target
                .as_ref()
                .map(|t| format!(" in {t}"))
                .unwrap_or_default()
        );
    }
    for l in &f.locations {
        let place = [&l.target, &l.path, &l.resource]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect::<Vec<_>>()
            .join(" ");
        let line = l.start_line.map(|n| format!(":{n}")).unwrap_or_default();
        let _ = writeln!(d, "at {place}{line}");
    }
    for r in f.references.iter().take(5) {
        let _ = writeln!(d, "see {r}");
    }
    d
}
