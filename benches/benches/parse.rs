//! Parse throughput per format (MB/s), against a bare `serde_json` pass
//! (`IgnoredAny`) over the same bytes.

use std::hint::black_box;

use benches::{generate, Config};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::de::IgnoredAny;

fn parse(c: &mut Criterion) {
    let files = generate(Config::for_findings(20_000, 42));
    for tool in ["trivy", "grype", "dependency-check"] {
        let bytes: Vec<&[u8]> = files
            .iter()
            .filter(|f| f.name.starts_with(&format!("{tool}-")))
            .map(|f| f.bytes.as_slice())
            .collect();
        let total: usize = bytes.iter().map(|b| b.len()).sum();
        let mut group = c.benchmark_group(format!("parse/{tool}"));
        group.throughput(Throughput::Bytes(total as u64));
        group.sample_size(20);
        group.bench_function("paragon", |b| {
            b.iter(|| {
                for doc in &bytes {
                    black_box(paragon_scanners::parse_any(doc).unwrap());
                }
            })
        });
        group.bench_function("serde_json IgnoredAny", |b| {
            b.iter(|| {
                for doc in &bytes {
                    black_box(serde_json::from_slice::<IgnoredAny>(doc).unwrap());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
