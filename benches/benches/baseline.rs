//! The comparison of a 100k-finding report with a 100k-finding baseline,
//! beside the merge of one of them: comparing must cost no more than
//! merging.
//!
//! The baseline is the report of an earlier run: the same generated
//! findings with a twentieth of them replaced by others (new today, absent
//! from the baseline), as between two builds of one service. A second
//! case compares two reports with nothing in common (every finding new,
//! every baseline finding absent).

use benches::{generate, merge_all, parse_all, Config};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use paragon_core::{Report, ScanReport};

fn generated(seed: u64) -> Vec<ScanReport> {
    parse_all(&generate(Config::for_findings(100_000, seed)))
}

fn baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    group.sample_size(20);
    let reports = generated(7);
    let others = Report::concat(generated(8));
    let earlier = Report::concat(reports.clone());
    let mut today = earlier.clone();
    let n = today.findings.len();
    for (f, other) in today.findings[n - n / 20..]
        .iter_mut()
        .zip(&others.findings)
    {
        *f = other.clone();
    }
    let mut probe = today.clone();
    let c = probe.compare(&earlier).expect("one schema version");
    eprintln!(
        "{} findings against {}: {} new, {} unchanged, {} updated, {} absent",
        today.findings.len(),
        earlier.findings.len(),
        c.new,
        c.unchanged,
        c.updated,
        c.absent.len()
    );
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("merge 100k", |b| {
        b.iter_batched(|| reports.clone(), merge_all, BatchSize::LargeInput)
    });
    group.bench_function("compare 100k with the previous run", |b| {
        b.iter_batched(
            || today.clone(),
            |mut report| {
                report.compare(&earlier).expect("one schema version");
                report
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("compare 100k with nothing in common", |b| {
        b.iter_batched(
            || others.clone(),
            |mut report| {
                report.compare(&earlier).expect("one schema version");
                report
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("compare_owned 100k with nothing in common", |b| {
        b.iter_batched(
            || (others.clone(), earlier.clone()),
            |(mut report, earlier)| {
                report.compare_owned(earlier).expect("one schema version");
                report
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, baseline);
criterion_main!(benches);
