//! `danemine generate`: deterministic sample logs with their ground truth.

use crate::samplegen::{generate, parse_size, Format, GenSpec};
use crate::timefmt::parse_user_time;
use anyhow::{anyhow, Context, Result};
use std::path::PathBuf;

/// Arguments of `danemine generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// postfix (RFC 3339 prefix), postfix-bsd, exim or gateway.
    #[arg(long, default_value = "postfix")]
    pub format: String,
    /// Seed of the pseudo-random generator (same seed, same bytes).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of distinct recipient domains.
    #[arg(long, default_value_t = 1000)]
    pub domains: usize,
    /// Approximate size of the log: 500K, 100M, 1G, 4G.
    #[arg(long, default_value = "1M")]
    pub size: String,
    /// Time of the first line (RFC 3339 or a date).
    #[arg(long, default_value = "2026-11-01T00:00:00Z")]
    pub start: String,
    /// Concurrent smtp processes whose lines interleave.
    #[arg(long, default_value_t = 64)]
    pub processes: usize,
    /// The log file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The truth CSV to write (the rows `domains --format csv` must print).
    #[arg(long)]
    pub truth: Option<PathBuf>,
}

/// Run the command.
pub fn run(a: GenerateArgs) -> Result<i32> {
    let format: Format = a
        .format
        .parse()
        .map_err(|e: String| anyhow!("--format: {e}"))?;
    let target_bytes = parse_size(&a.size)
        .ok_or_else(|| anyhow!("--size: {:?} is not a size like 100M or 1G", a.size))?;
    let start =
        parse_user_time(&a.start).ok_or_else(|| anyhow!("--start: {:?} is not a time", a.start))?;
    let spec = GenSpec {
        format,
        seed: a.seed,
        domains: a.domains,
        target_bytes,
        start,
        processes: a.processes,
    };
    let mut truth = None;
    crate::fsutil::write_atomic_with(&a.out, false, |w| {
        truth = Some(generate(&spec, w)?);
        Ok(())
    })
    .with_context(|| format!("writing {}", a.out.display()))?;
    if let (Some(p), Some(t)) = (&a.truth, &truth) {
        crate::fsutil::write_atomic_with(p, false, |w| t.write_csv(w))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(0)
}
