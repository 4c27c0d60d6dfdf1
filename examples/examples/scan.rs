//! Runs scanners concurrently on a directory and prints the merged report.
//!
//! ```text
//! cargo run -p examples --example scan -- --with trivy,syft[,grype,dependency-check] DIR
//! ```
//!
//! Trivy runs offline with its secret and misconfiguration scanners (its
//! vulnerability database needs a download); Syft adds the SBOM. Tools are
//! found through `PARAGON_TRIVY`, `PARAGON_SYFT`, `PARAGON_GRYPE`,
//! `PARAGON_DEPENDENCY_CHECK` or on `PATH`; `PARAGON_TRIVY` or
//! `PARAGON_SYFT` set to anything but a file is an error. The report is the JSON form
//! of `aggregate`, with SBOM component counts in its summary. Exit status:
//! 0 on success, 2 when a scanner fails or on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use paragon_core::{CallContext, Merger, ScanTarget, Scanner};
use paragon_scanners::dependency_check::DependencyCheck;
use paragon_scanners::grype::Grype;
use paragon_scanners::syft::Syft;
use paragon_scanners::trivy::Trivy;

const USAGE: &str = "usage: scan --with trivy,syft[,grype,dependency-check] DIR";

fn scanner(name: &str) -> Result<Arc<dyn Scanner>, String> {
    let built: Result<Arc<dyn Scanner>, paragon_core::Error> = match name {
        "trivy" => {
            let mut trivy = Trivy::from_env();
            if let Some(bin) = examples::installed("trivy")? {
                trivy = trivy.with_binary(bin);
            }
            trivy
                .with_scanners(&["secret", "misconfig"])
                .offline(true)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn Scanner>)
        }
        "syft" => {
            let mut syft = Syft::builder();
            if let Some(bin) = examples::installed("syft")? {
                syft = syft.with_binary(bin);
            }
            syft.build().map(|s| Arc::new(s) as Arc<dyn Scanner>)
        }
        "grype" => Grype::builder()
            .build()
            .map(|s| Arc::new(s) as Arc<dyn Scanner>),
        "dependency-check" => DependencyCheck::builder()
            .build()
            .map(|s| Arc::new(s) as Arc<dyn Scanner>),
        other => return Err(format!("unknown scanner `{other}`\n{USAGE}")),
    };
    built.map_err(|e| e.to_string())
}

async fn scan(
    scanners: Vec<Arc<dyn Scanner>>,
    dir: PathBuf,
) -> Result<paragon_core::Report, String> {
    let target = ScanTarget::Directory(dir);
    let ctx = CallContext::new().with_timeout(Duration::from_secs(900));
    let mut tasks = tokio::task::JoinSet::new();
    for s in scanners {
        let (target, ctx) = (target.clone(), ctx.clone());
        tasks.spawn(async move {
            eprintln!("{}: scanning…", s.name());
            let started = std::time::Instant::now();
            let result = s.scan(&target, &ctx).await;
            (s.name().to_owned(), started.elapsed(), result)
        });
    }
    let mut merger = Merger::new();
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, took, result) = joined.map_err(|e| e.to_string())?;
        match result {
            Ok(report) => {
                eprintln!(
                    "{name}: {} finding(s){} in {took:.1?}",
                    report.findings.len(),
                    report
                        .sbom
                        .as_ref()
                        .map(|s| format!(", {} SBOM component(s)", s.components.len()))
                        .unwrap_or_default()
                );
                merger.add(report);
            }
            Err(e) => {
                eprintln!("{name}: error: {e}");
                failed.push(name);
            }
        }
    }
    if failed.is_empty() {
        Ok(merger.finish())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut with = None;
    let mut dir = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--with" => with = args.next(),
            "--help" | "-h" => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let (Some(with), Some(dir)) = (with, dir) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let scanners = match with
        .split(',')
        .map(str::trim)
        .map(scanner)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(scan(scanners, dir)) {
        Ok(report) => match report.to_json_pretty() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
