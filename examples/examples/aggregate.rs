//! Reads scanner reports of any supported format, merges their findings and
//! prints one Paragon report; with a policy, gates it.
//!
//! ```text
//! cargo run -p examples --example aggregate -- \
//!     [--policy FILE] [--baseline PREVIOUS.json] \
//!     [--format json|sarif|markdown|junit|cyclonedx|gitlab-container-scanning|gitlab-dependency-scanning] \
//!     [--image NAME] [--output FILE] [--pretty] [--timings] [--max-report-mib N] REPORT...
//! ```
//!
//! `gitlab-container-scanning` and `gitlab-dependency-scanning` write
//! GitLab's security report formats (schema 15.2.1), which a GitLab CI job
//! publishes with `artifacts: reports: container_scanning` (or
//! `dependency_scanning`); `--image` names the image scanned on every
//! container scanning vulnerability.
//!
//! `--baseline` compares the merged report with an earlier Paragon JSON
//! report: each finding is marked new, unchanged or updated, the earlier
//! findings that are gone are listed as absent, and a policy with
//! `scope = "new"` gates only the new ones. A policy scoped to new
//! findings without `--baseline` is a usage error, as is a baseline that
//! is not a Paragon report of this schema version.
//!
//! JSON is written compact (`--pretty` indents it): a fleet's merged report
//! is large, and machines read it.
//!
//! `--timings` prints to standard error how long each phase took: reading,
//! parsing, normalizing and merging the reports (up to the merged report
//! in memory), applying the policy, and writing the output.
//!
//! A report over `--max-report-mib` (default 512) is refused before it is
//! read; so are devices. A pipe (`<(command)`) is read as it comes, and
//! abandoned when it gives no data for 30 s.
//!
//! Formats are detected from content. The report goes to standard output
//! (or `--output`); progress and errors go to standard error, naming the
//! file. Exit status: 0 on success (the gate passed, or no policy), 1 when
//! the gate fails, 2 on any input or usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use paragon_core::export::markdown::DEFAULT_TOP;
use paragon_core::{export, Merger, Policy, Report};

#[derive(Clone, Copy, PartialEq)]
enum OutputFormat {
    Json,
    Sarif,
    Markdown,
    Junit,
    CycloneDx,
    GitLabContainer,
    GitLabDependency,
}

struct Args {
    format: OutputFormat,
    image: Option<String>,
    output: Option<PathBuf>,
    policy: Option<PathBuf>,
    baseline: Option<PathBuf>,
    pretty: bool,
    timings: bool,
    limits: paragon_scanners::ReadLimits,
    files: Vec<PathBuf>,
}

/// The default `--max-report-mib`.
const MAX_REPORT_MIB: u64 = 512;

/// The output buffer: a fleet's report is megabytes, written in few calls.
const WRITE_BUFFER: usize = 1 << 20;

const USAGE: &str = "usage: aggregate [--policy FILE] [--baseline PREVIOUS.json] [--format json|sarif|markdown|junit|cyclonedx|gitlab-container-scanning|gitlab-dependency-scanning] [--image NAME] [--output FILE] [--pretty] [--timings] [--max-report-mib N] REPORT_FILE...";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut out = Args {
        format: OutputFormat::Json,
        image: None,
        output: None,
        policy: None,
        baseline: None,
        pretty: false,
        timings: false,
        limits: paragon_scanners::ReadLimits::default().with_max_bytes(MAX_REPORT_MIB << 20),
        files: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--format") => {
                out.format = match args.next().as_ref().and_then(|a| a.to_str()) {
                    Some("json") => OutputFormat::Json,
                    Some("sarif") => OutputFormat::Sarif,
                    Some("markdown" | "md") => OutputFormat::Markdown,
                    Some("junit") => OutputFormat::Junit,
                    Some("cyclonedx" | "cdx") => OutputFormat::CycloneDx,
                    Some("gitlab-container-scanning") => OutputFormat::GitLabContainer,
                    Some("gitlab-dependency-scanning") => OutputFormat::GitLabDependency,
                    other => {
                        return Err(format!(
                            "unknown --format {other:?} (json, sarif, markdown, junit, cyclonedx, gitlab-container-scanning or gitlab-dependency-scanning)"
                        ))
                    }
                }
            }
            Some("--image") => {
                let image = args.next().ok_or("--image needs an image name")?;
                out.image = Some(
                    image
                        .into_string()
                        .map_err(|_| "--image is not UTF-8".to_owned())?,
                );
            }
            Some("--policy") => {
                out.policy = Some(args.next().ok_or("--policy needs a file")?.into());
            }
            Some("--baseline") => {
                out.baseline = Some(args.next().ok_or("--baseline needs a file")?.into());
            }
            Some("--output" | "-o") => {
                out.output = Some(args.next().ok_or("--output needs a file")?.into());
            }
            Some("--pretty") => out.pretty = true,
            Some("--timings") => out.timings = true,
            Some("--max-report-mib") => {
                let mib: u64 = args
                    .next()
                    .as_ref()
                    .and_then(|a| a.to_str())
                    .and_then(|a| a.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--max-report-mib needs a number of MiB above 0")?;
                out.limits = out.limits.with_max_bytes(mib << 20);
            }
            Some("--help" | "-h") => return Err(USAGE.to_owned()),
            Some(flag) if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => out.files.push(arg.into()),
        }
    }
    if out.files.is_empty() {
        return Err(format!("no report files given\n{USAGE}"));
    }
    Ok(out)
}

/// Prints `e` and its causes, each once: a message that already ends with
/// its cause's text does not repeat it.
fn print_error(e: &dyn std::error::Error) {
    let mut shown = e.to_string();
    eprintln!("error: {shown}");
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !shown.ends_with(&text) {
            eprintln!("  caused by: {text}");
        }
        shown = text;
        source = cause.source();
    }
}

/// What a worker thread tells the main thread about one file.
enum Progress {
    Read {
        scanner: String,
        findings: usize,
        sbom_components: Option<usize>,
    },
    Failed(paragon_scanners::Error),
}

/// Parses the files on every core. Each thread merges the reports it
/// parses into its own [`Merger`] as soon as they are parsed, so that only
/// one parsed report per thread is held at once and each report is freed
/// by the thread that allocated it; the threads' mergers are then absorbed
/// into one (the merge does not depend on order) and the inputs put back in
/// the order of the files. On any failure, prints every error (in the order
/// of the files) and returns `None`.
fn read_reports(files: &[PathBuf], limits: &paragon_scanners::ReadLimits) -> Option<Report> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Progress)>();
    let mut errors: Vec<(usize, paragon_scanners::Error)> = Vec::new();
    let workers: Vec<(Merger, Vec<usize>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let next = &next;
                scope.spawn(move || {
                    let mut merger = Merger::new();
                    // The files this merger's inputs came from, in order.
                    let mut order = Vec::new();
                    // One read buffer per thread, reused: fresh multi-megabyte
                    // buffers per file would cost a page fault per page.
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        let progress =
                            match paragon_scanners::parse_file_within(file, &mut buf, limits) {
                                Ok(r) => {
                                    let progress = Progress::Read {
                                        scanner: r.scanner.name.clone(),
                                        findings: r.findings.len(),
                                        sbom_components: r
                                            .sbom
                                            .as_ref()
                                            .map(|s| s.components.len()),
                                    };
                                    merger.add(r);
                                    order.push(i);
                                    progress
                                }
                                Err(e) => Progress::Failed(e),
                            };
                        if tx.send((i, progress)).is_err() {
                            break;
                        }
                    }
                    (merger, order)
                })
            })
            .collect();
        drop(tx);
        for (i, progress) in rx {
            match progress {
                Progress::Read {
                    scanner,
                    findings,
                    sbom_components,
                } => eprintln!(
                    "read {}: {scanner} {findings} finding(s){}",
                    files[i].display(),
                    sbom_components
                        .map(|n| format!(", {n} SBOM component(s)"))
                        .unwrap_or_default()
                ),
                Progress::Failed(e) => errors.push((i, e)),
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a parsing thread panicked"))
            .collect()
    });
    errors.sort_by_key(|(i, _)| *i);
    for (_, e) in &errors {
        print_error(e);
    }
    if !errors.is_empty() {
        return None;
    }
    let mut workers = workers.into_iter();
    let (merger, mut order) = workers.next().unwrap_or_default();
    // A large report is built on two threads.
    let mut merger = merger.with_threads(threads);
    for (m, o) in workers {
        merger.absorb(m);
        order.extend(o);
    }
    let mut report = merger.finish();
    // `inputs` follow the absorbed mergers; list them in the files' order.
    let mut inputs: Vec<_> = order.into_iter().zip(report.inputs).collect();
    inputs.sort_by_key(|(i, _)| *i);
    report.inputs = inputs.into_iter().map(|(_, input)| input).collect();
    Some(report)
}

/// Writes the report in the chosen format. JSON streams straight to the
/// writer; the other formats are rendered first.
fn write_report(
    report: &Report,
    format: OutputFormat,
    pretty: bool,
    gitlab: &export::GitLabScan,
    mut out: impl Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut text = match format {
        OutputFormat::Json => {
            report.write_json(&mut out, pretty)?;
            "\n".to_owned()
        }
        OutputFormat::Sarif => export::to_sarif(report)?,
        OutputFormat::Markdown => report.to_markdown(DEFAULT_TOP),
        OutputFormat::Junit => export::to_junit(report),
        OutputFormat::CycloneDx => export::to_cyclonedx(report)?,
        OutputFormat::GitLabContainer => export::to_gitlab_container_scanning(report, gitlab)?,
        OutputFormat::GitLabDependency => export::to_gitlab_dependency_scanning(report, gitlab)?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

// The report is built from many small allocations; mimalloc serves them
// faster than the system allocator, across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads `--baseline`, when given; a policy scoped to new findings needs
/// one.
fn read_baseline(
    path: Option<&std::path::Path>,
    policy: Option<&Policy>,
) -> Result<Option<Report>, Box<dyn std::error::Error>> {
    let Some(path) = path else {
        if policy.is_some_and(|p| p.scope == paragon_core::gate::policy::Scope::New) {
            return Err("the policy's scope is `new`, which needs --baseline PREVIOUS.json".into());
        }
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|source| paragon_core::Error::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(Some(Report::baseline_from_json(
        &path.display().to_string(),
        &bytes,
    )?))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let policy = match args.policy.as_deref().map(Policy::from_path).transpose() {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(2);
        }
    };
    let baseline = match read_baseline(args.baseline.as_deref(), policy.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            print_error(e.as_ref());
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let Some(mut report) = read_reports(&args.files, &args.limits) else {
        return ExitCode::from(2);
    };
    let merged = start.elapsed();
    eprintln!(
        "merged: {} finding(s) from {} report(s)",
        report.findings.len(),
        report.inputs.len()
    );
    if let Some(baseline) = baseline {
        match report.compare_owned(baseline) {
            Ok(c) => eprintln!(
                "baseline: {} new, {} unchanged, {} updated, {} absent",
                c.new,
                c.unchanged,
                c.updated,
                c.absent.len()
            ),
            Err(e) => {
                print_error(&e);
                return ExitCode::from(2);
            }
        }
    }
    let passed = match &policy {
        Some(policy) => {
            let v = report.apply_policy(policy);
            eprintln!(
                "gate: {} ({} failing, {} suppressed)",
                if v.passed { "passed" } else { "FAILED" },
                v.failures.len(),
                v.suppressed.len()
            );
            for d in &v.denied {
                eprintln!("denied by {}: {}", d.file, d.message);
            }
            for w in &v.warnings {
                eprintln!("warning from {}: {}", w.file, w.message);
            }
            v.passed
        }
        None => true,
    };
    let gated = start.elapsed();
    let mut gitlab = export::GitLabScan::new(started_at, time::OffsetDateTime::now_utc());
    if let Some(image) = &args.image {
        gitlab = gitlab.with_image(image.clone());
    }
    let written = match &args.output {
        Some(path) => std::fs::File::create(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
            .and_then(|f| {
                write_report(
                    &report,
                    args.format,
                    args.pretty,
                    &gitlab,
                    BufWriter::with_capacity(WRITE_BUFFER, f),
                )
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
            }),
        None => write_report(
            &report,
            args.format,
            args.pretty,
            &gitlab,
            BufWriter::with_capacity(WRITE_BUFFER, std::io::stdout().lock()),
        )
        .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    if let Err(msg) = written {
        eprintln!("error: {msg}");
        return ExitCode::from(2);
    }
    if args.timings {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let total = start.elapsed();
        eprintln!(
            "timings: read+parse+merge {:.1} ms, gate {:.1} ms, write {:.1} ms, total {:.1} ms",
            ms(merged),
            ms(gated - merged),
            ms(total - gated),
            ms(total)
        );
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
