//! A user-written `Scanner` plugged into the pipeline.
//!
//! ```text
//! cargo run -p examples --example custom_scanner -- [DIR]
//! ```
//!
//! `MarkerScanner` reports every `SECURITY-TODO` comment in a source tree
//! as a code weakness (high severity), with its file and line. The pipeline
//! runs it before the build, next to nothing else; a policy failing on high
//! weaknesses stops the run before the push. Without `DIR` it scans a small
//! demo tree holding one such comment, so the gate fails (exit status 1);
//! a clean tree is built and pushed to an on-disk OCI layout (exit 0).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use paragon_core::gate::policy::PolicyFormat;
use paragon_core::pipeline::{Outcome, Pipeline, Stage, VersionStrategy};
use paragon_core::{
    async_trait, CallContext, Error, Finding, FindingKind, Location, Policy, Result, ScanReport,
    ScanTarget, Scanner, ScannerInfo, Severity, Source, TargetKind,
};
use paragon_registry::{LayoutRegistry, NativeBuilder};

/// Finds `SECURITY-TODO` markers.
#[derive(Debug)]
struct MarkerScanner;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[async_trait]
impl Scanner for MarkerScanner {
    fn name(&self) -> &str {
        "markers"
    }

    fn targets(&self) -> &[TargetKind] {
        &[TargetKind::Directory]
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport> {
        let ScanTarget::Directory(root) = target else {
            return Err(Error::UnsupportedTarget {
                scanner: "markers".into(),
                target: target.kind(),
            });
        };
        if ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled {
                tool: "markers".into(),
            });
        }
        let mut files = Vec::new();
        walk(root, &mut files).map_err(|source| Error::Io {
            path: root.clone(),
            source,
        })?;
        files.sort();
        let mut report = ScanReport::new(ScannerInfo::new("markers", Some("1.0")))
            .with_target(Some(root.display().to_string()));
        for file in files {
            // Binary and unreadable files are not source.
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let relative = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            for (i, line) in text.lines().enumerate() {
                if let Some(at) = line.find("SECURITY-TODO") {
                    let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let mut f =
                        Finding::new(FindingKind::Weakness, "security-todo", Severity::High);
                    f.title = Some(line[at..].trim().to_owned());
                    f.add_location(
                        Location::new()
                            .with_path(Some(relative.as_str()))
                            .with_lines(Some(line_no), Some(line_no)),
                    );
                    f.sources.push(Source::new("markers", Severity::High, None));
                    report.findings.push(f);
                }
            }
        }
        Ok(report)
    }
}

fn demo(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("src/auth.go"),
        "package auth\n\n// SECURITY-TODO: compare tokens in constant time\nfunc Check(a, b string) bool { return a == b }\n",
    )
}

async fn run(source: PathBuf) -> Result<(Outcome, Option<Stage>)> {
    let out = tempfile::tempdir().map_err(|source| Error::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let policy = Policy::parse("[weaknesses]\nfail_on = \"high\"\n", PolicyFormat::Toml)?;
    let pipeline = Pipeline::builder("custom", &source)
        .pre_build(MarkerScanner)
        .policy(policy)
        .builder(NativeBuilder::new())
        .registry(
            LayoutRegistry::new(out.path().join("registry")),
            "custom/app",
        )
        .version(VersionStrategy::explicit("1.0.0")?)
        .build()?;
    let rec = pipeline.run(&CallContext::new()).await;
    for s in &rec.scanners {
        eprintln!("{}: {} finding(s)", s.scanner, s.findings.unwrap_or(0));
    }
    if let Some(v) = &rec.verdict {
        for f in &v.failures {
            println!("failed: {} {} ({})", f.severity, f.id, f.rule);
        }
    }
    match &rec.pushed {
        Some(p) => println!("pushed {}@{}", p.repository, p.digest),
        None => println!("nothing pushed: {}", rec.error.as_deref().unwrap_or("-")),
    }
    Ok((rec.outcome, rec.failed_stage))
}

#[tokio::main]
async fn main() -> ExitCode {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let source = match std::env::args().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = temp.path().join("demo");
            if let Err(e) = demo(&dir) {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            dir
        }
    };
    match run(source).await {
        Ok((Outcome::Succeeded, _)) => ExitCode::SUCCESS,
        Ok((_, Some(Stage::Gate))) => ExitCode::from(1),
        Ok(_) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
