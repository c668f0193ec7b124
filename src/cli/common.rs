//! Options shared by every command that reads logs.

use crate::classify::TlsLevel;
use crate::ingest::{self, InputSpec};
use crate::model::Mta;
use crate::scan::{Problems, ScanOptions};
use crate::timefmt;
use anyhow::{anyhow, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Which logs to read and how to read them.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log files, directories, globs, or `-` for standard input (plain, gzip or zstd).
    #[arg(value_name = "LOGS", required = true)]
    pub logs: Vec<std::ffi::OsString>,
    /// The MTA's default TLS security level (Postfix smtp_tls_security_level).
    #[arg(long, default_value = "dane", value_name = "LEVEL")]
    pub tls_level: String,
    /// Year of the newest lines of BSD-syslog logs (default: from each file's modification time).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1970..=9999))]
    pub year: Option<i32>,
    /// Only attempts at or after this time (`2018-09-01` or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only attempts before this time (`2018-10-01` or RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Extra grammar files (TOML, see grammars/); they take precedence over the built-ins.
    #[arg(long = "grammar", value_name = "FILE")]
    pub grammar: Vec<PathBuf>,
    /// Only lines of this MTA: postfix, exim or gateway.
    #[arg(long)]
    pub mta: Option<String>,
    /// Print lines, bytes, attempts and throughput on stderr.
    #[arg(long)]
    pub stats: bool,
    /// Read plain files with pread instead of memory-mapping them (the same result; mapping
    /// is the default on Linux: `--pread` takes 11–20% longer for `domains`, see
    /// docs/scan-performance.md).
    #[arg(long)]
    pub pread: bool,
}

fn time_arg(s: &Option<String>, what: &str) -> Result<Option<i64>> {
    match s {
        None => Ok(None),
        Some(v) => timefmt::parse_user_time(v)
            .map(Some)
            .ok_or_else(|| anyhow!("--{what}: {v:?} is not a date (YYYY-MM-DD) or RFC 3339 time")),
    }
}

impl LogArgs {
    /// The inputs in reading order.
    pub fn inputs(&self) -> Result<Vec<InputSpec>> {
        Ok(ingest::expand_keeping_missing(&self.logs)?)
    }

    /// Scan options from the flags.
    pub fn options(&self) -> Result<ScanOptions> {
        let tls_level: TlsLevel = self
            .tls_level
            .parse()
            .map_err(|e: String| anyhow!("--tls-level: {e}"))?;
        let mta = match self.mta.as_deref() {
            None => None,
            Some("postfix") => Some(Mta::Postfix),
            Some("exim") => Some(Mta::Exim),
            Some("gateway") => Some(Mta::Gateway),
            Some(o) => return Err(anyhow!("--mta: unknown MTA {o:?} (postfix, exim, gateway)")),
        };
        let (since, until) = (
            time_arg(&self.since, "since")?,
            time_arg(&self.until, "until")?,
        );
        if let (Some(s), Some(u), Some(sv), Some(uv)) = (since, until, &self.since, &self.until) {
            if s >= u {
                return Err(anyhow!(
                    "--since {sv} is not before --until {uv}: no attempt could be in between"
                ));
            }
        }
        Ok(ScanOptions {
            tls_level,
            year: self.year,
            since,
            until,
            grammar_files: self.grammar.clone(),
            mta,
            ..ScanOptions::with_access(match self.pread {
                true => ingest::FileAccess::Read,
                false => ingest::FileAccess::default(),
            })
        })
    }
}

/// Print the problem summary on stderr; returns the exit code contribution (2 when an input
/// could not be read to its end, else 0).
pub fn report_problems(p: &Problems) -> i32 {
    let s = p.summary();
    if !s.is_empty() {
        eprint!("{s}");
    }
    if p.has_errors() {
        2
    } else {
        0
    }
}

/// A progress bar for a scan of `inputs`, when stderr is a terminal (never under cron or in a
/// pipe); it is cleared when the returned value is dropped.
pub fn progress_bar(
    label: &str,
    inputs: &[InputSpec],
    opts: &mut ScanOptions,
) -> Option<crate::progress::Bar> {
    std::io::stderr()
        .is_terminal()
        .then(|| crate::progress::Bar::for_scan(label, inputs, opts))
}

/// Whether standard output is a terminal (tables by default there, CSV elsewhere).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Print the `--stats` line on stderr: what a scan read, and how fast since `t`.
pub fn print_stats(label: &str, lines: u64, bytes: u64, attempts: u64, t: Instant) {
    let s = t.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "danemine: {label}: {lines} lines, {bytes} bytes, {attempts} attempts in {s:.3} s ({:.2} GB/s, {:.0} lines/s)",
        bytes as f64 / s / 1e9,
        lines as f64 / s
    );
}

/// Write `text` to standard output; a closed pipe is an error returned, not the panic of
/// `print!`.
pub fn print_out(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
