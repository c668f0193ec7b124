//! `danemine pr --repo PATH`: a branch, commits and a PR body for a danefail-format list.

use crate::act::config::Config;
use crate::act::pr::{self, PrOptions};
use crate::act::state::State;
use crate::act::store::Entry;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `danemine pr`.
#[derive(Debug, clap::Args)]
pub struct PrArgs {
    /// A local clone of the list's repository.
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// The nightly config: its state directory holds the confirmed exclusions.
    #[arg(long, value_name = "FILE", conflicts_with = "state")]
    pub config: Option<PathBuf>,
    /// The nightly state directory (instead of --config).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// The list file inside the repository.
    #[arg(long, value_name = "NAME")]
    pub file: Option<String>,
    /// Domains that verify again, one per line (`domain`, or `domain dane-ok|not-dane`):
    /// their entries are removed.
    #[arg(long, value_name = "FILE")]
    pub recovered: Option<PathBuf>,
    /// Only entries confirmed within this many hours are proposed.
    #[arg(long, default_value_t = 24)]
    pub max_age_hours: u32,
    /// Branch name (default `danemine/YYYY-MM-DD`).
    #[arg(long)]
    pub branch: Option<String>,
    /// Write the Markdown PR body here (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// Push the branch to this remote (never pushed otherwise).
    #[arg(long, value_name = "REMOTE")]
    pub push: Option<String>,
}

/// Run the command.
pub fn run(a: PrArgs) -> Result<i32> {
    let (state_dir, file, protected) = match (&a.config, &a.state) {
        (Some(c), _) => {
            let cfg = Config::load(c)?;
            let f = cfg.danefail.as_ref().map(|d| d.file.clone());
            let protected = cfg.policy()?.protected;
            (cfg.state_dir, f, Some(protected))
        }
        (None, Some(s)) => (s.clone(), None, None),
        (None, None) => bail!("--config or --state is needed (where the confirmed exclusions are)"),
    };
    let file = a
        .file
        .clone()
        .or(file)
        .unwrap_or_else(|| "dane_fail_list.dat".into());
    let st = State::load(&state_dir)?;
    let now = chrono::Utc::now().timestamp();
    let max_age = i64::from(a.max_age_hours) * 3600;
    // entries confirmed recently (and not in the future), under their normalised name, and
    // not protected by the configuration now (a name protected since the last nightly run
    // is still in the state)
    let skew = crate::act::store::MAX_FUTURE_SKEW;
    let confirmed: Vec<&Entry> = st
        .store
        .entries
        .values()
        .filter(|e| now - e.confirmed_at <= max_age && e.confirmed_at <= now + skew)
        .filter(|e| matches!(crate::domain::normalize(&e.domain), Ok(n) if n == e.domain))
        .filter(|e| protected.as_ref().is_none_or(|p| !p.matches(&e.domain)))
        .collect();
    if protected.is_none() {
        eprintln!("danemine pr: no protected list without --config: none is applied");
    }
    let mut recovered = BTreeMap::new();
    if let Some(p) = &a.recovered {
        let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
        for (i, line) in text.lines().enumerate() {
            let mut w = line.split_whitespace();
            let Some(d) = w.next() else { continue };
            if d.starts_with('#') {
                continue;
            }
            let d = crate::domain::normalize_owned(d)
                .map_err(|e| anyhow!("{}:{}: {e}", p.display(), i + 1))?;
            // only a verdict that says the domain works again removes it from the list
            let verdict = w.next().unwrap_or("dane-ok");
            if verdict != "dane-ok" && verdict != "not-dane" {
                bail!(
                    "{}:{}: {verdict:?}: a recovered domain is dane-ok or not-dane",
                    p.display(),
                    i + 1
                );
            }
            recovered.insert(d, verdict.to_string());
        }
    }
    let opts = PrOptions {
        file,
        branch: a.branch.clone(),
        date: crate::act::writers::date(now),
        push: a.push.clone(),
        verify_hint: String::new(),
    };
    let out = prepare(&a, &opts, &confirmed, &recovered)?;
    match &out.branch {
        None => {
            eprintln!("danemine pr: nothing to propose");
            if !out.already_listed.is_empty() {
                eprintln!("already listed: {}", out.already_listed.join(" "));
            }
            Ok(0)
        }
        Some(b) => {
            match &a.body {
                Some(p) => crate::fsutil::write_atomic(p, out.body.as_bytes(), false)
                    .with_context(|| p.display().to_string())?,
                None => super::common::print_out(&out.body)?,
            }
            eprintln!(
                "danemine pr: branch {b} with {} commits{}",
                out.commits.len(),
                if out.pushed {
                    ", pushed"
                } else {
                    " (not pushed)"
                }
            );
            for (id, s) in &out.commits {
                eprintln!("  {} {s}", &id[..id.len().min(12)]);
            }
            let moved: Vec<&str> = out
                .additions
                .iter()
                .flat_map(|x| x.from_partial.iter().map(String::as_str))
                .collect();
            if !moved.is_empty() {
                eprintln!(
                    "moved from {}: {}",
                    crate::danefail::history::PARTIAL,
                    moved.join(" ")
                );
            }
            if !out.already_listed.is_empty() {
                eprintln!("already listed: {}", out.already_listed.join(" "));
            }
            Ok(0)
        }
    }
}

fn prepare(
    a: &PrArgs,
    opts: &PrOptions,
    confirmed: &[&Entry],
    recovered: &BTreeMap<String, String>,
) -> Result<pr::PrOutcome> {
    Ok(pr::prepare::<crate::danefail::list::List>(
        &a.repo, opts, confirmed, recovered,
    )?)
}
