//! `danemine nightly --config FILE`: every stage, incrementally, for cron.

use crate::act::config::Config;
use crate::act::nightly::{self, NightlyError, Reverify, RunOptions};
use crate::act::state::StateError;
use crate::timefmt;
use anyhow::{anyhow, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `danemine nightly`.
#[derive(Debug, clap::Args)]
pub struct NightlyArgs {
    /// The config file (TOML; see examples/nightly.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Read logs and re-verify, but write nothing (no state, no outputs; only the lock).
    #[arg(long)]
    pub dry_run: bool,
    /// The run's time instead of the clock (`2026-11-28` or RFC 3339), to replay old logs.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// No progress lines, even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

/// Live re-verification through `danemine::verify` with the config's settings.
/// Run the command.
pub fn run(args: NightlyArgs) -> Result<i32> {
    let cfg = Config::load(&args.config)?;
    let now = match &args.now {
        Some(t) => timefmt::parse_user_time(t)
            .ok_or_else(|| anyhow!("--now: {t:?} is not a date (YYYY-MM-DD) or RFC 3339 time"))?,
        None => chrono::Utc::now().timestamp(),
    };
    let opts = RunOptions {
        now,
        dry_run: args.dry_run,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        crash_after: None,
        before_scan: None,
    };
    let mut verifier = if cfg.verify.enabled {
        Some(
            nightly::LiveVerifier::from_config(&cfg)
                .map_err(|e| anyhow!("{}: {e}", args.config.display()))?,
        )
    } else {
        None
    };
    let v: Option<&mut dyn Reverify> = verifier.as_mut().map(|x| x as &mut dyn Reverify);
    match nightly::run(&cfg, &opts, v) {
        Ok(report) => {
            super::common::print_out(&report.render())?;
            Ok(if report.needs_attention() { 1 } else { 0 })
        }
        Err(NightlyError::State(e @ StateError::Locked { .. })) => {
            eprintln!("danemine: {e}; this run is skipped");
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}
