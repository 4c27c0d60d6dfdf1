//! A Trivy ignore policy (Rego) applied by Paragon to every finding of a
//! report, as `trivy convert --ignore-policy` applies it: the other side of
//! `benches/rego_compare.py`.
//!
//! ```text
//! cargo run --release -p benches --bin rego_ignore -- POLICY.rego REPORT.json
//! ```
//!
//! Prints one JSON line: the findings, how many the policy ignored, and
//! the seconds spent parsing the report and evaluating the policy.

use std::process::ExitCode;
use std::time::Instant;

use paragon_core::gate::rego::RegoPolicy;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [policy, report] = args.as_slice() else {
        eprintln!("usage: rego_ignore POLICY.rego REPORT.json");
        return ExitCode::from(2);
    };
    let began = Instant::now();
    let rego = match RegoPolicy::from_files(&[policy.into()]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let scan = match paragon_scanners::parse_file(report) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let parsed = began.elapsed();
    let mut ignored = 0usize;
    for answer in rego.ignored_all(&scan.findings) {
        match answer {
            Ok(Some(_)) => ignored += 1,
            Ok(None) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let total = began.elapsed();
    println!(
        "{{\"findings\": {}, \"ignored\": {ignored}, \"parse_seconds\": {:.3}, \"seconds\": {:.3}}}",
        scan.findings.len(),
        parsed.as_secs_f64(),
        total.as_secs_f64()
    );
    ExitCode::SUCCESS
}
