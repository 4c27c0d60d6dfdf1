//! The baseline for ingest throughput: one bare `serde_json` pass
//! (`IgnoredAny`) over each file, reading it from disk as `aggregate` does.
//!
//! ```text
//! cargo run --release -p benches --bin json_pass -- FILE...
//! ```
//!
//! Prints the bytes read and the wall time to standard output.

use std::process::ExitCode;
use std::time::Instant;

use serde::de::IgnoredAny;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: json_pass FILE...");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let mut bytes = 0usize;
    for f in &files {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: cannot read {f}: {e}");
                return ExitCode::from(2);
            }
        };
        bytes += data.len();
        if let Err(e) = serde_json::from_slice::<IgnoredAny>(&data) {
            eprintln!("error: {f} is not JSON: {e}");
            return ExitCode::from(2);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{bytes} bytes in {secs:.3} s ({:.1} MB/s)",
        bytes as f64 / 1e6 / secs
    );
    ExitCode::SUCCESS
}
