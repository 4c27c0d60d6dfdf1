//! The baseline for ingest throughput: one bare `serde_json` pass
//! (`IgnoredAny`) over each file, reading it from disk as `aggregate` does,
//! on one thread (a fresh buffer per file) or, with `--threads N`, on N
//! threads taking files in turn, each reading into one reused buffer (as
//! `aggregate` does on every core).
//!
//! ```text
//! cargo run --release -p benches --bin json_pass -- [--threads N] FILE...
//! ```
//!
//! Prints the bytes read and the wall time to standard output.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::de::IgnoredAny;

/// Reads and scans `file`; its size. With `buf`, the file is read into
/// it (one buffer per thread, reused, as `aggregate` reads); without, into
/// a fresh buffer (`std::fs::read`, the one-thread baseline).
fn pass(file: &str, buf: Option<&mut Vec<u8>>) -> Result<usize, String> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| format!("cannot read {file}: {e}");
    let fresh;
    let data: &[u8] = match buf {
        Some(buf) => {
            buf.clear();
            std::fs::File::open(file)
                .and_then(|mut f| f.read_to_end(buf))
                .map_err(cannot)?;
            buf
        }
        None => {
            fresh = std::fs::read(file).map_err(cannot)?;
            &fresh
        }
    };
    serde_json::from_slice::<IgnoredAny>(data).map_err(|e| format!("{file} is not JSON: {e}"))?;
    Ok(data.len())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut threads = 1usize;
    if args.first().map(String::as_str) == Some("--threads") {
        match args.get(1).and_then(|n| n.parse().ok()) {
            Some(n) if n > 0 => threads = n,
            _ => {
                eprintln!("--threads needs a positive number");
                return ExitCode::from(2);
            }
        }
        args.drain(..2);
    }
    let files = args;
    if files.is_empty() {
        eprintln!("usage: json_pass [--threads N] FILE...");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(files.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut buf = Vec::new();
                    let mut bytes = 0;
                    let reuse = threads > 1;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else {
                            return Ok(bytes);
                        };
                        bytes += pass(file, reuse.then_some(&mut buf))?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a pass thread panicked"))
            .collect()
    });
    let mut bytes = 0;
    for r in results {
        match r {
            Ok(n) => bytes += n,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{bytes} bytes in {secs:.3} s ({:.1} MB/s)",
        bytes as f64 / 1e6 / secs
    );
    ExitCode::SUCCESS
}
