//! `danemine scan` and `danemine domains` (being built).

/// Arguments of `danemine scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {}

/// Arguments of `danemine domains`.
#[derive(Debug, clap::Args)]
pub struct DomainsArgs {}

/// Run `scan`.
pub fn run_scan(_a: ScanArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}

/// Run `domains`.
pub fn run_domains(_a: DomainsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
