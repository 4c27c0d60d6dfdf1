//! Merge time and its scaling, measured directly: generates a corpus per
//! size, parses it, then times the merge (not the drop of the result) at
//! 100k and 1M findings, three ways:
//!
//! - one thread: `Merger::add` for each report, then `finish`;
//! - one merger on every core (`Merger::with_threads`): `add_parsed`
//!   reads reports on a second thread while the merger folds them in, and
//!   `finish` builds the report in two halves;
//! - one merger per core, each given a share of the reports, absorbed into
//!   one (`Merger::absorb`), then `finish` on every core.
//!
//! Each size is measured in a process of its own (this program, run again
//! with `--size N`), three runs each way, so that no size inherits the
//! heap another left behind; the sizes take turns over three rounds
//! (`ROUNDS` to change), so that a slow spell of the machine falls on
//! every size rather than on one. Each cell gives the best of its runs
//! and their median. The scaling, for each size and the next, is the
//! ratio of the best times, and that ratio over the ratio of the
//! findings: the time per finding, which the target (at most 11× the
//! time for 10× the findings) keeps within 1.1×.
//!
//! ```text
//! cargo run --release -p benches --bin merge_scaling [FINDINGS...]
//! ```
//!
//! On a virtual machine the host may take the processor away in the
//! middle of a run (the `steal` of `/proc/stat`), which the run's clock
//! counts as the merge's time. Each run records the steal of its span;
//! a cell's best and median are taken over its runs without any, when it
//! has some, and each size says how many runs had steal and how much.
//! The scaling is also given for the medians. Each size also prints the
//! median of its runs' minor page faults (`minflt` of `/proc/self/stat`),
//! which shows when the allocator returned freed memory to the system
//! within a run (mimalloc does so a second after the first free since
//! its last return) and the merge faulted it back in.
//!
//! Each run of the first two ways merges reports parsed for it from the
//! generated files, laid out in memory as the parser left them, which is
//! what a program that parses its reports and then merges them has.
//! `INPUTS=cloned` merges a copy of one parse instead: the copy lies in
//! memory in the order of the findings, which makes the 1M merge about a
//! quarter faster. (The third way copies its shares on each thread.) Any
//! other `INPUTS` than `parsed` or `cloned` is refused, as is a `ROUNDS`
//! that is not a number above 0.
//!
//! `PHASES=1` also prints the time of each phase. The first line printed
//! names the allocator's settings given through the environment
//! (`MIMALLOC_PURGE_DELAY=-1`, for one, keeps freed memory mapped instead
//! of returning it a second after it is freed).

use std::time::{Duration, Instant};

use benches::{finding_count, generate, parse_all, Config};
use paragon_core::{Merger, ScanReport};

fn phases() -> bool {
    std::env::var_os("PHASES").is_some()
}

/// Whether each run of the first two ways merges reports parsed for it
/// (the default, or `INPUTS=parsed`), or a copy of one parse
/// (`INPUTS=cloned`); any other value is an error.
fn parsed_inputs() -> Result<bool, String> {
    let expected = "INPUTS takes `parsed` or `cloned`";
    match setting("INPUTS", expected)?.as_deref() {
        None | Some("parsed") => Ok(true),
        Some("cloned") => Ok(false),
        Some(v) => Err(format!("{expected}, not {v:?}")),
    }
}

/// The environment variable `name`, if set; `expected` says what it
/// takes, for the error when it is not Unicode.
fn setting(name: &str, expected: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!("{expected}, not {v:?}")),
    }
}

/// What a run measured: the merged findings, and its [`Run`].
struct Measured {
    merged: usize,
    run: Run,
}

/// The counters a run's span is measured by.
struct Marks {
    steal: Option<u64>,
    faults: u64,
    start: Instant,
}

impl Marks {
    /// Reads the counters and starts the clock.
    fn start() -> Marks {
        Marks {
            steal: steal_ms(),
            faults: minor_faults(),
            start: Instant::now(),
        }
    }

    /// Stops the clock and reads the counters again.
    fn stop(self, merged: usize) -> Measured {
        let time = self.start.elapsed();
        let steal = match (self.steal, steal_ms()) {
            (Some(b), Some(a)) => a.saturating_sub(b),
            _ => 0,
        };
        Measured {
            merged,
            run: Run {
                time,
                steal,
                faults: minor_faults().saturating_sub(self.faults),
            },
        }
    }
}

/// One merger on `threads` threads: `add_parsed` (on one thread, `add`
/// for each report), then `finish`.
fn one_merger(input: Vec<ScanReport>, threads: usize) -> Measured {
    let marks = Marks::start();
    let mut m = Merger::new().with_threads(threads);
    m.add_parsed(input);
    let added = marks.start.elapsed();
    let report = m.finish();
    let measured = marks.stop(report.findings.len());
    if phases() {
        eprintln!(
            "  1 merger, {threads} thread(s): add {added:?}, finish {:?}",
            measured.run.time - added
        );
    }
    measured
}

/// `threads` mergers, each given a share of the reports, absorbed into one.
/// Each thread copies its share before the clock starts, so that its
/// findings live in its own allocator heap, as they do when each thread
/// parses its own files.
fn parallel(reports: &[ScanReport], threads: usize) -> Measured {
    let barrier = std::sync::Barrier::new(threads + 1);
    let (marks, mergers) = std::thread::scope(|scope| {
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
        let marks = Marks::start();
        let mergers: Vec<Merger> = handles
            .into_iter()
            .map(|h| h.join().expect("merge thread"))
            .collect();
        (marks, mergers)
    });
    let added = marks.start.elapsed();
    let mut mergers = mergers.into_iter();
    let mut m = mergers.next().unwrap_or_default().with_threads(threads);
    for other in mergers {
        m.absorb(other);
    }
    let absorbed = marks.start.elapsed();
    let report = m.finish();
    let measured = marks.stop(report.findings.len());
    if phases() {
        eprintln!(
            "  {threads} mergers absorbed: add {added:?}, absorb {:?}, finish {:?}",
            absorbed - added,
            measured.run.time - absorbed
        );
    }
    measured
}

/// Minor page faults of this process so far (`minflt` in
/// `/proc/self/stat`), or 0 where the system does not tell them.
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the command name, which may hold spaces,
            // in parentheses; `minflt` is the tenth field of the line.
            let rest = stat.rsplit_once(')')?.1;
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// The allocator and the settings it was given through the environment
/// (mimalloc reads `MIMALLOC_*` variables when the program starts; the
/// runs' processes inherit them), so that a printed result says which
/// settings it was measured with.
fn allocator_settings() -> String {
    let mut set: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            k.starts_with("MIMALLOC_")
                .then(|| format!("{k}={}", v.to_string_lossy()))
        })
        .collect();
    set.sort();
    if set.is_empty() {
        "allocator: mimalloc, default settings".to_owned()
    } else {
        format!("allocator: mimalloc, {}", set.join(" "))
    }
}

/// The three ways, in the order each run reports them.
const WAYS: usize = 3;

/// The processor time the host has taken from this machine's processors
/// since boot (`steal` in `/proc/stat`, in 10 ms ticks), in milliseconds;
/// `None` where the system does not tell it.
fn steal_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: u64 = cpu.split_whitespace().nth(7)?.parse().ok()?;
    Some(ticks * 10)
}

/// Measures one corpus of about `target` findings, three runs each way,
/// and prints each run as
/// `run FINDINGS MERGED WAY NANOSECONDS STEAL_MS FAULTS`.
fn measure(target: usize) -> Result<(), String> {
    let parsed = parsed_inputs()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let files = generate(Config::for_findings(target, 7));
    let reports = parse_all(&files);
    let n = finding_count(&reports);
    // The generated files are kept only to parse them again.
    let files = parsed.then_some(files);
    let input = || match &files {
        Some(files) => parse_all(files),
        None => reports.to_vec(),
    };
    for _ in 0..3 {
        let runs = [
            one_merger(input(), 1),
            one_merger(input(), threads),
            parallel(&reports, threads),
        ];
        let first = runs[0].merged;
        for (way, Measured { merged, run }) in runs.iter().enumerate() {
            assert_eq!(*merged, first, "every way merges alike");
            println!(
                "run {n} {merged} {way} {} {} {}",
                run.time.as_nanos(),
                run.steal,
                run.faults
            );
        }
    }
    Ok(())
}

/// One run: its time, the host's steal during it in milliseconds, and
/// this process's minor page faults over the same span.
#[derive(Clone, Copy)]
struct Run {
    time: Duration,
    steal: u64,
    faults: u64,
}

/// One size's runs: its findings, merged findings, and each way's runs.
struct Size {
    findings: usize,
    merged: usize,
    runs: [Vec<Run>; WAYS],
}

/// Runs `exe --size target` and adds the runs it prints to `size`.
fn child(exe: &std::path::Path, target: usize, size: &mut Size) -> Result<(), String> {
    let out = std::process::Command::new(exe)
        .args(["--size", &target.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "measuring {target} findings failed ({})",
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let fields: Vec<usize> = line
            .strip_prefix("run ")
            .map(|rest| rest.split(' ').filter_map(|f| f.parse().ok()).collect())
            .unwrap_or_default();
        let [findings, merged, way, nanos, steal, faults] = fields[..] else {
            return Err(format!(
                "unexpected output measuring {target} findings: {line:?}"
            ));
        };
        if way >= WAYS {
            return Err(format!(
                "unexpected way measuring {target} findings: {line:?}"
            ));
        }
        size.findings = findings;
        size.merged = merged;
        size.runs[way].push(Run {
            time: Duration::from_nanos(nanos as u64),
            steal: steal as u64,
            faults: faults as u64,
        });
    }
    Ok(())
}

/// A cell's figures: the best and the median of its runs without steal
/// (of all its runs when every one had some), how many runs that is, and
/// the steal of all its runs; and the median of all its runs' page faults.
struct Cell {
    best: Duration,
    median: Duration,
    counted: usize,
    stolen_runs: usize,
    stolen_ms: u64,
    faults: u64,
}

impl Cell {
    fn of(runs: &[Run]) -> Cell {
        let mut clean: Vec<Duration> = runs
            .iter()
            .filter(|r| r.steal == 0)
            .map(|r| r.time)
            .collect();
        if clean.is_empty() {
            clean = runs.iter().map(|r| r.time).collect();
        }
        clean.sort_unstable();
        let mut faults: Vec<u64> = runs.iter().map(|r| r.faults).collect();
        faults.sort_unstable();
        Cell {
            faults: faults[faults.len() / 2],
            best: clean[0],
            median: clean[clean.len() / 2],
            counted: clean.len(),
            stolen_runs: runs.iter().filter(|r| r.steal > 0).count(),
            stolen_ms: runs.iter().map(|r| r.steal).sum(),
        }
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, target] = &args[..] {
        if flag == "--size" {
            let target = target
                .parse()
                .map_err(|_| format!("--size takes a number of findings, not {target:?}"))?;
            return measure(target);
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Settings are checked here, before any corpus is generated.
    parsed_inputs()?;
    let expected = "ROUNDS takes a number above 0";
    let rounds: usize = match setting("ROUNDS", expected)? {
        None => 3,
        Some(r) => r
            .parse()
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| format!("{expected}, not {r:?}"))?,
    };
    let mut targets = Vec::new();
    for a in &args {
        targets.push(
            a.parse::<usize>()
                .map_err(|_| format!("expected numbers of findings, got {a:?}"))?,
        );
    }
    if targets.is_empty() {
        targets = vec![100_000, 1_000_000];
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut sizes: Vec<Size> = targets
        .iter()
        .map(|_| Size {
            findings: 0,
            merged: 0,
            runs: Default::default(),
        })
        .collect();
    for round in 1..=rounds {
        if phases() {
            eprintln!("round {round}");
        }
        for (&target, size) in targets.iter().zip(&mut sizes) {
            child(&exe, target, size)?;
        }
    }
    println!("{}", allocator_settings());
    let ms = |t: Duration| t.as_secs_f64() * 1e3;
    let mut rows = Vec::new();
    for (size, target) in sizes.iter().zip(&targets) {
        if size.runs.iter().any(Vec::is_empty) {
            return Err(format!("measuring {target} findings printed no runs"));
        }
        let n = size.findings;
        let runs = size.runs[0].len();
        let [one, all, absorbed] = [0, 1, 2].map(|w| Cell::of(&size.runs[w]));
        println!(
            "{n:>9} findings -> {:>6} merged, best (median) of {runs}: \
             1 thread {:>6.1} ms ({:.0} ns/finding) ({:.1}), \
             {threads} threads {:>6.1} ms ({:.0} ns/finding) ({:.1}), \
             {threads} mergers absorbed {:>6.1} ms ({:.1})",
            size.merged,
            ms(one.best),
            one.best.as_nanos() as f64 / n as f64,
            ms(one.median),
            ms(all.best),
            all.best.as_nanos() as f64 / n as f64,
            ms(all.median),
            ms(absorbed.best),
            ms(absorbed.median),
        );
        let many = format!("{threads} threads");
        let cells = [
            ("1 thread", &one),
            (many.as_str(), &all),
            ("absorbed", &absorbed),
        ];
        if cells.iter().any(|(_, c)| c.stolen_runs > 0) {
            let parts: Vec<String> = cells
                .iter()
                .map(|(way, c)| {
                    format!(
                        "{way}: {} of {runs} runs, {} ms in all (figures from {} runs)",
                        c.stolen_runs, c.stolen_ms, c.counted
                    )
                })
                .collect();
            println!("{:>9} host steal during runs: {}", "", parts.join("; "));
        }
        println!(
            "{:>9} page faults per run (median): 1 thread {}, {threads} threads {}, absorbed {}",
            "", one.faults, all.faults, absorbed.faults
        );
        rows.push((n, one, all));
    }
    // The target, 11x the time for 10x the findings, is 1.1x per finding.
    let ratio = |t1: Duration, t0: Duration| t1.as_secs_f64() / t0.as_secs_f64();
    for pair in rows.windows(2) {
        let ((n0, a0, b0), (n1, a1, b1)) = (&pair[0], &pair[1]);
        let findings = *n1 as f64 / *n0 as f64;
        for (what, median) in [("best times", false), ("medians", true)] {
            let pick = |c: &Cell| if median { c.median } else { c.best };
            let (one, two) = (ratio(pick(a1), pick(a0)), ratio(pick(b1), pick(b0)));
            println!(
                "scaling ({what}), {n0} -> {n1} findings ({findings:.2}x): \
                 {one:.2}x the time on 1 thread ({:.3}x per finding), \
                 {two:.2}x on {threads} ({:.3}x per finding)",
                one / findings,
                two / findings,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Cell, Run};
    use std::time::Duration;

    fn run(ms: u64, steal: u64) -> Run {
        Run {
            time: Duration::from_millis(ms),
            steal,
            faults: ms * 10,
        }
    }

    #[test]
    fn a_cell_counts_the_runs_without_steal_when_it_has_some() {
        let cell = Cell::of(&[run(90, 0), run(70, 20), run(110, 0), run(100, 0)]);
        assert_eq!(cell.best, Duration::from_millis(90));
        assert_eq!(cell.median, Duration::from_millis(100));
        assert_eq!((cell.counted, cell.stolen_runs, cell.stolen_ms), (3, 1, 20));
        assert_eq!(cell.faults, 1000, "the median of all four runs' faults");
    }

    #[test]
    fn a_cell_whose_every_run_had_steal_counts_them_all() {
        let cell = Cell::of(&[run(90, 10), run(70, 20), run(110, 30)]);
        assert_eq!(cell.best, Duration::from_millis(70));
        assert_eq!(cell.median, Duration::from_millis(90));
        assert_eq!((cell.counted, cell.stolen_runs, cell.stolen_ms), (3, 3, 60));
        assert_eq!(cell.faults, 900);
    }
}
