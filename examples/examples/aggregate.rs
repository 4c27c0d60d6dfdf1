//! Reads scanner reports of any supported format, merges their findings and
//! prints one Paragon report; with a policy, gates it.
//!
//! ```text
//! cargo run -p examples --example aggregate -- \
//!     [--policy FILE] [--format json|sarif|markdown|junit|cyclonedx] [--output FILE] REPORT...
//! ```
//!
//! Formats are detected from content. The report goes to standard output
//! (or `--output`); progress and errors go to standard error, naming the
//! file. Exit status: 0 on success (the gate passed, or no policy), 1 when
//! the gate fails, 2 on any input or usage error.

use std::path::PathBuf;
use std::process::ExitCode;

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
    files: Vec<PathBuf>,
}

const USAGE: &str = "usage: aggregate [--policy FILE] [--format json|sarif|markdown|junit|cyclonedx] [--output FILE] REPORT_FILE...";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut out = Args {
        format: OutputFormat::Json,
        output: None,
        policy: None,
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

/// Parses every file (on all cores) and merges the findings; on any
/// failure, prints every error and returns `None`.
fn read_reports(files: &[PathBuf]) -> Option<Report> {
    let parsed = parse_parallel(files);
    let mut merger = Merger::new();
    let mut failed = false;
    for (file, result) in files.iter().zip(parsed) {
        match result {
            Ok(r) => {
                eprintln!(
                    "read {}: {} {} finding(s){}",
                    file.display(),
                    r.scanner.name,
                    r.findings.len(),
                    r.sbom
                        .as_ref()
                        .map(|s| format!(", {} SBOM component(s)", s.components.len()))
                        .unwrap_or_default()
                );
                if !failed {
                    merger.add(r);
                }
            }
            Err(e) => {
                failed = true;
                print_error(&e);
            }
        }
    }
    (!failed).then(|| merger.finish())
}

/// Parses the files on as many threads as there are cores, keeping order.
fn parse_parallel(files: &[PathBuf]) -> Vec<paragon_scanners::Result<ScanReport>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<paragon_scanners::Result<ScanReport>>> =
        (0..files.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let r = paragon_scanners::parse_file(file);
                slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every file parsed"))
        .collect()
}

fn render(report: &Report, format: OutputFormat) -> Result<String, paragon_core::Error> {
    let mut text = match format {
        OutputFormat::Json => report.to_json_pretty()?,
        OutputFormat::Sarif => export::to_sarif(report)?,
        OutputFormat::Markdown => report.to_markdown(DEFAULT_TOP),
        OutputFormat::Junit => export::to_junit(report),
        OutputFormat::CycloneDx => export::to_cyclonedx(report)?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
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
    let text = match render(&report, args.format) {
        Ok(t) => t,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(2);
        }
    };
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| format!("cannot write to standard output: {e}"))
        }
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
