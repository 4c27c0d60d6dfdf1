//! Parse + merge of a whole corpus, single-threaded, against a bare
//! `serde_json` pass over the same bytes.

use std::hint::black_box;

use benches::{generate, Config};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paragon_core::Merger;
use serde::de::IgnoredAny;

fn end_to_end(c: &mut Criterion) {
    let files = generate(Config::for_findings(50_000, 3));
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    let mut group = c.benchmark_group("parse+merge");
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(10);
    group.bench_function("paragon", |b| {
        b.iter(|| {
            let mut m = Merger::new();
            for f in &files {
                m.add(paragon_scanners::parse_any(&f.bytes).unwrap());
            }
            black_box(m.finish())
        })
    });
    group.bench_function("serde_json IgnoredAny", |b| {
        b.iter(|| {
            for f in &files {
                black_box(serde_json::from_slice::<IgnoredAny>(&f.bytes).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
