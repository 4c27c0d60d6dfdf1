//! Benchmarks for Paragon (criterion benches live in `benches/`).
