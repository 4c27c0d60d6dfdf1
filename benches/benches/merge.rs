//! The merge of pre-parsed findings at 1k, 100k and 1M findings.

use benches::{finding_count, generate, merge_all, parse_all, Config};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn merge(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge");
    for target in [1_000usize, 100_000, 1_000_000] {
        let reports = parse_all(&generate(Config::for_findings(target, 7)));
        let n = finding_count(&reports);
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(if target >= 1_000_000 { 10 } else { 20 });
        group.bench_function(format!("{target} findings"), |b| {
            b.iter_batched(|| reports.clone(), merge_all, BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
