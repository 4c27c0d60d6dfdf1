//! Merge time and its scaling, measured directly: generates a corpus,
//! parses it, then times `Merger::add` + `finish` (not the drop of the
//! result) at 100k and 1M findings, best of three runs each.
//!
//! ```text
//! cargo run --release -p benches --bin merge_scaling
//! ```

use std::time::{Duration, Instant};

use benches::{finding_count, generate, parse_all, Config};
use paragon_core::Merger;

fn best_of_three(reports: &[paragon_core::ScanReport]) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut merged = 0;
    for _ in 0..3 {
        if std::env::var_os("PHASES").is_some() {
            let copy = reports.to_vec();
            let t = Instant::now();
            drop(copy);
            eprintln!("  dropping the input alone: {:?}", t.elapsed());
        }
        let input = reports.to_vec();
        let start = Instant::now();
        let mut m = Merger::new();
        for r in input {
            m.add(r);
        }
        let added = start.elapsed();
        let report = m.finish();
        if std::env::var_os("PHASES").is_some() {
            eprintln!("  add {:?}, finish {:?}", added, start.elapsed() - added);
        }
        best = best.min(start.elapsed());
        merged = report.findings.len();
        drop(report);
    }
    (best, merged)
}

fn main() {
    let mut rows = Vec::new();
    let targets: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let targets = if targets.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        targets
    };
    for target in targets {
        let reports = parse_all(&generate(Config::for_findings(target, 7)));
        let n = finding_count(&reports);
        let (t, merged) = best_of_three(&reports);
        println!(
            "{n:>9} findings -> {merged:>7} merged in {:>8.1} ms ({:.0} ns/finding)",
            t.as_secs_f64() * 1e3,
            t.as_nanos() as f64 / n as f64
        );
        rows.push((n, t));
    }
    if rows.len() < 2 {
        return;
    }
    let (n0, t0) = rows[0];
    let (n1, t1) = rows[1];
    println!(
        "scaling: {:.1}x the findings took {:.2}x the time",
        n1 as f64 / n0 as f64,
        t1.as_secs_f64() / t0.as_secs_f64()
    );
}
