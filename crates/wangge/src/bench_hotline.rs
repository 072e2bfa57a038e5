//! Benchmark for issue 8 (bench_hotline): being built.

/// Runs the benchmark; prints one figure.
pub async fn run(_db: &str, _count: usize) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
