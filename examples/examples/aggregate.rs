//! Reads scanner reports of any supported format and prints one Paragon report.
//!
//! ```text
//! cargo run -p examples --example aggregate -- [--format json|markdown] [--output FILE] FILE...
//! ```
//!
//! Formats are detected from content. The report goes to standard output
//! (or `--output`); errors go to standard error, naming the file.
//! Exit status: 0 on success, 2 on any input or usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use paragon_core::markdown::DEFAULT_TOP;
use paragon_core::{Report, ScanReport};

#[derive(Clone, Copy, PartialEq)]
enum OutputFormat {
    Json,
    Markdown,
}

struct Args {
    format: OutputFormat,
    output: Option<PathBuf>,
    files: Vec<PathBuf>,
}

const USAGE: &str = "usage: aggregate [--format json|markdown] [--output FILE] REPORT_FILE...";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut out = Args {
        format: OutputFormat::Json,
        output: None,
        files: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--format") => {
                out.format = match args.next().as_ref().and_then(|a| a.to_str()) {
                    Some("json") => OutputFormat::Json,
                    Some("markdown" | "md") => OutputFormat::Markdown,
                    other => return Err(format!("unknown --format {other:?} (json or markdown)")),
                }
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

/// Parses every file; on any failure, prints every error and returns `None`.
fn read_reports(files: &[PathBuf]) -> Option<Vec<ScanReport>> {
    let mut reports = Vec::with_capacity(files.len());
    let mut failed = false;
    for file in files {
        match paragon_scanners::parse_file(file) {
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
                reports.push(r);
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    eprintln!("  caused by: {cause}");
                    source = cause.source();
                }
            }
        }
    }
    (!failed).then_some(reports)
}

fn render(report: &Report, format: OutputFormat) -> Result<String, paragon_core::Error> {
    match format {
        OutputFormat::Json => report.to_json_pretty().map(|mut s| {
            s.push('\n');
            s
        }),
        OutputFormat::Markdown => Ok(report.to_markdown(DEFAULT_TOP)),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let Some(reports) = read_reports(&args.files) else {
        return ExitCode::from(2);
    };
    let report = Report::concat(reports);
    let text = match render(&report, args.format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
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
    ExitCode::SUCCESS
}
