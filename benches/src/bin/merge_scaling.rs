//! Merge time and its scaling, measured directly: generates a corpus,
//! parses it, then times the merge (not the drop of the result) at 100k
//! and 1M findings, best of three runs each, three ways:
//!
//! - one thread: `Merger::add` for each report, then `finish`;
//! - one merger on every core (`Merger::with_threads`): `add_all` reads
//!   reports on a second thread while the merger folds them in, and
//!   `finish` builds the report in two halves;
//! - one merger per core, each given a share of the reports, absorbed into
//!   one (`Merger::absorb`), then `finish` on every core.
//!
//! ```text
//! cargo run --release -p benches --bin merge_scaling [FINDINGS...]
//! ```
//!
//! `PHASES=1` also prints the time of each phase.

use std::time::{Duration, Instant};

use benches::{finding_count, generate, parse_all, Config};
use paragon_core::{Merger, ScanReport};

fn phases() -> bool {
    std::env::var_os("PHASES").is_some()
}

/// One merger on `threads` threads: `add_all` (on one thread, `add` for
/// each report), then `finish`.
fn one_merger(input: Vec<ScanReport>, threads: usize) -> (Duration, usize) {
    let start = Instant::now();
    let mut m = Merger::new().with_threads(threads);
    m.add_all(input);
    let added = start.elapsed();
    let report = m.finish();
    let t = start.elapsed();
    if phases() {
        eprintln!(
            "  1 merger, {threads} thread(s): add {added:?}, finish {:?}",
            t - added
        );
    }
    let n = report.findings.len();
    drop(report);
    (t, n)
}

/// `threads` mergers, each given a share of the reports, absorbed into one.
/// Each thread copies its share before the clock starts, so that its
/// findings live in its own allocator heap, as they do when each thread
/// parses its own files.
fn parallel(reports: &[ScanReport], threads: usize) -> (Duration, usize) {
    let barrier = std::sync::Barrier::new(threads + 1);
    let (start, mergers) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let share: Vec<ScanReport> =
                        reports.iter().skip(t).step_by(threads).cloned().collect();
                    barrier.wait();
                    let mut m = Merger::new();
                    for r in share {
                        m.add(r);
                    }
                    m
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mergers: Vec<Merger> = handles
            .into_iter()
            .map(|h| h.join().expect("merge thread"))
            .collect();
        (start, mergers)
    });
    let added = start.elapsed();
    let mut mergers = mergers.into_iter();
    let mut m = mergers.next().unwrap_or_default().with_threads(threads);
    for other in mergers {
        m.absorb(other);
    }
    let absorbed = start.elapsed();
    let report = m.finish();
    let t = start.elapsed();
    if phases() {
        eprintln!(
            "  {threads} mergers absorbed: add {added:?}, absorb {:?}, finish {:?}",
            absorbed - added,
            t - absorbed
        );
    }
    let n = report.findings.len();
    drop(report);
    (t, n)
}

fn best_of_three(run: impl Fn() -> (Duration, usize)) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut merged = 0;
    for _ in 0..3 {
        let (t, n) = run();
        best = best.min(t);
        merged = n;
    }
    (best, merged)
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let targets: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let targets = if targets.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        targets
    };
    let mut rows = Vec::new();
    for target in targets {
        let reports = parse_all(&generate(Config::for_findings(target, 7)));
        let n = finding_count(&reports);
        let (t1, merged) = best_of_three(|| one_merger(reports.to_vec(), 1));
        let (tp, merged_p) = best_of_three(|| one_merger(reports.to_vec(), threads));
        let (tn, merged_n) = best_of_three(|| parallel(&reports, threads));
        assert_eq!(merged, merged_p, "add_all agrees");
        assert_eq!(merged, merged_n, "the absorbed mergers agree");
        let ms = |t: Duration| t.as_secs_f64() * 1e3;
        println!(
            "{n:>9} findings -> {merged:>6} merged: 1 thread {:>6.1} ms ({:.0} ns/finding), \
             {threads} threads {:>6.1} ms ({:.0} ns/finding), {threads} mergers absorbed {:>6.1} ms",
            ms(t1),
            t1.as_nanos() as f64 / n as f64,
            ms(tp),
            tp.as_nanos() as f64 / n as f64,
            ms(tn),
        );
        rows.push((n, t1, tp));
    }
    if rows.len() < 2 {
        return;
    }
    let (n0, a0, b0) = rows[0];
    let (n1, a1, b1) = rows[1];
    println!(
        "scaling: {:.1}x the findings took {:.2}x the time on 1 thread, {:.2}x on {threads}",
        n1 as f64 / n0 as f64,
        a1.as_secs_f64() / a0.as_secs_f64(),
        b1.as_secs_f64() / b0.as_secs_f64()
    );
}
