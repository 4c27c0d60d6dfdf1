//! Merge time and its scaling, measured directly: generates a corpus per
//! size, parses it, then times the merge (not the drop of the result) at
//! 100k and 1M findings, three ways:
//!
//! - one thread: `Merger::add` for each report, then `finish`;
//! - one merger on every core (`Merger::with_threads`): `add_all` reads
//!   reports on a second thread while the merger folds them in, and
//!   `finish` builds the report in two halves;
//! - one merger per core, each given a share of the reports, absorbed into
//!   one (`Merger::absorb`), then `finish` on every core.
//!
//! The sizes take turns: each of five rounds (`ROUNDS` to change) times
//! every size once each way, so that a slow spell of the machine falls on
//! all sizes alike rather than on one; each cell gives the best of its
//! rounds and their median.
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

/// The best and the median of `times`.
fn best_and_median(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort_unstable();
    (times[0], times[times.len() / 2])
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(5);
    let targets: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let targets = if targets.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        targets
    };
    let corpora: Vec<Vec<ScanReport>> = targets
        .iter()
        .map(|&target| parse_all(&generate(Config::for_findings(target, 7))))
        .collect();
    // [corpus][way] -> one time per round.
    let mut times = vec![[Vec::new(), Vec::new(), Vec::new()]; corpora.len()];
    let mut merged = vec![0; corpora.len()];
    for round in 1..=rounds {
        if phases() {
            eprintln!("round {round}");
        }
        for (reports, (times, merged)) in corpora.iter().zip(times.iter_mut().zip(&mut merged)) {
            let (t1, n1) = one_merger(reports.to_vec(), 1);
            let (tp, np) = one_merger(reports.to_vec(), threads);
            let (tn, nn) = parallel(reports, threads);
            assert_eq!(n1, np, "add_all agrees");
            assert_eq!(n1, nn, "the absorbed mergers agree");
            *merged = n1;
            times[0].push(t1);
            times[1].push(tp);
            times[2].push(tn);
        }
    }
    let ms = |t: Duration| t.as_secs_f64() * 1e3;
    let mut rows = Vec::new();
    for ((reports, mut times), merged) in corpora.iter().zip(times).zip(merged) {
        let n = finding_count(reports);
        let [(b1, m1), (bp, mp), (bn, mn)] = [0, 1, 2].map(|w| best_and_median(&mut times[w]));
        println!(
            "{n:>9} findings -> {merged:>6} merged, best (median) of {rounds}: \
             1 thread {:>6.1} ms ({:.0} ns/finding) ({:.1}), \
             {threads} threads {:>6.1} ms ({:.0} ns/finding) ({:.1}), \
             {threads} mergers absorbed {:>6.1} ms ({:.1})",
            ms(b1),
            b1.as_nanos() as f64 / n as f64,
            ms(m1),
            ms(bp),
            bp.as_nanos() as f64 / n as f64,
            ms(mp),
            ms(bn),
            ms(mn),
        );
        rows.push((n, b1, bp));
    }
    if rows.len() < 2 {
        return;
    }
    let (n0, a0, b0) = rows[0];
    let (n1, a1, b1) = rows[1];
    println!(
        "scaling (best times): {:.1}x the findings took {:.2}x the time on 1 thread, {:.2}x on {threads}",
        n1 as f64 / n0 as f64,
        a1.as_secs_f64() / a0.as_secs_f64(),
        b1.as_secs_f64() / b0.as_secs_f64()
    );
}
