//! Reads scanner reports of any supported format, merges their findings and
//! prints one Paragon report; with a policy, gates it.
//!
//! ```text
//! cargo run -p examples --example aggregate -- \
//!     [--policy FILE] [--format json|sarif|markdown|junit|cyclonedx] [--output FILE] [--pretty] REPORT...
//! ```
//!
//! JSON is written compact (`--pretty` indents it): a fleet's merged report
//! is large, and machines read it.
//!
//! Formats are detected from content. The report goes to standard output
//! (or `--output`); progress and errors go to standard error, naming the
//! file. Exit status: 0 on success (the gate passed, or no policy), 1 when
//! the gate fails, 2 on any input or usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use paragon_core::markdown::DEFAULT_TOP;
use paragon_core::{export, Merger, Policy, Report, ScanReport};

#[derive(Clone, Copy, PartialEq)]
enum OutputFormat {
    Json,
    Sarif,
    Markdown,
    Junit,
    CycloneDx,
}

struct Args {
    format: OutputFormat,
    output: Option<PathBuf>,
    policy: Option<PathBuf>,
    pretty: bool,
    files: Vec<PathBuf>,
}

const USAGE: &str = "usage: aggregate [--policy FILE] [--format json|sarif|markdown|junit|cyclonedx] [--output FILE] [--pretty] REPORT_FILE...";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut out = Args {
        format: OutputFormat::Json,
        output: None,
        policy: None,
        pretty: false,
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
                    other => {
                        return Err(format!(
                            "unknown --format {other:?} (json, sarif, markdown, junit or cyclonedx)"
                        ))
                    }
                }
            }
            Some("--policy") => {
                out.policy = Some(args.next().ok_or("--policy needs a file")?.into());
            }
            Some("--output" | "-o") => {
                out.output = Some(args.next().ok_or("--output needs a file")?.into());
            }
            Some("--pretty") => out.pretty = true,
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

fn print_error(e: &dyn std::error::Error) {
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

/// Parses the files on every core and merges each report as soon as it is
/// parsed (the merge does not depend on order), so that only a few parsed
/// reports are held at once. On any failure, prints every error (in the
/// order of the files) and returns `None`.
fn read_reports(files: &[PathBuf]) -> Option<Report> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    // A small bound keeps parsed reports from piling up ahead of the merge.
    let (tx, rx) = mpsc::sync_channel::<(usize, paragon_scanners::Result<ScanReport>)>(0);
    let mut merger = Merger::new();
    let mut errors: Vec<(usize, paragon_scanners::Error)> = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                // One read buffer per thread, reused: fresh multi-megabyte
                // buffers per file would cost a page fault per page.
                let mut buf = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    if tx
                        .send((i, paragon_scanners::parse_file_with(file, &mut buf)))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            match result {
                Ok(r) => {
                    eprintln!(
                        "read {}: {} {} finding(s){}",
                        files[i].display(),
                        r.scanner.name,
                        r.findings.len(),
                        r.sbom
                            .as_ref()
                            .map(|s| format!(", {} SBOM component(s)", s.components.len()))
                            .unwrap_or_default()
                    );
                    if errors.is_empty() {
                        merger.add(r);
                    }
                }
                Err(e) => errors.push((i, e)),
            }
        }
    });
    errors.sort_by_key(|(i, _)| *i);
    for (_, e) in &errors {
        print_error(e);
    }
    errors.is_empty().then(|| merger.finish())
}

/// Writes the report in the chosen format. JSON streams straight to the
/// writer; the other formats are rendered first.
fn write_report(
    report: &Report,
    format: OutputFormat,
    pretty: bool,
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
    let Some(mut report) = read_reports(&args.files) else {
        return ExitCode::from(2);
    };
    eprintln!(
        "merged: {} finding(s) from {} report(s)",
        report.findings.len(),
        report.inputs.len()
    );
    let passed = match &policy {
        Some(policy) => {
            let v = report.apply_policy(policy);
            eprintln!(
                "gate: {} ({} failing, {} suppressed)",
                if v.passed { "passed" } else { "FAILED" },
                v.failures.len(),
                v.suppressed.len()
            );
            v.passed
        }
        None => true,
    };
    let written = match &args.output {
        Some(path) => std::fs::File::create(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
            .and_then(|f| {
                write_report(&report, args.format, args.pretty, BufWriter::new(f))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))
            }),
        None => write_report(
            &report,
            args.format,
            args.pretty,
            BufWriter::new(std::io::stdout().lock()),
        )
        .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    if let Err(msg) = written {
        eprintln!("error: {msg}");
        return ExitCode::from(2);
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
