//! Benchmark harness (see docs/benchmarks.md); being written.
fn main() {}
