//! `danemine reproduce`: the 2018 talk's comparison, rebuilt from synthetic data.

use crate::danefail::compare::compare;
use crate::danefail::history::{load, Source};
use crate::ingest::InputSpec;
use crate::scan::{scan_aggregate, ScanOptions};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Arguments of `danemine reproduce`.
#[derive(Debug, clap::Args)]
pub struct ReproduceArgs {
    /// Where the synthetic month and danefail repository live (built when missing).
    #[arg(long, default_value = "samples/out/talk")]
    pub dir: PathBuf,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// Run the command.
pub fn run(a: ReproduceArgs) -> Result<i32> {
    if a.format != "table" && a.format != "json" {
        anyhow::bail!("--format: {:?} is not table or json", a.format);
    }
    let (log, repo) = crate::talkgen::build(&a.dir)
        .with_context(|| format!("building the synthetic data in {}", a.dir.display()))?;
    let listed = load(&Source::Git(repo), Some("2018-10-02"), true)?;
    let opts = ScanOptions {
        year: Some(2018),
        // the comparison reads domain rows only
        mx_rows: false,
        ..ScanOptions::default()
    };
    let r = scan_aggregate(&[InputSpec::file(&log)], &opts)?;
    let c = compare(&r.aggregate, &listed);
    let text = if a.format == "json" {
        format!("{}\n", serde_json::to_string_pretty(&c.to_json())?)
    } else {
        format!(
            "synthetic data built to the talk's figures (README, `reproduce`): a generated \
             month of logs and a list history\n\
             {}talk: {} verified fine / {} ever on danefail / {} in both / {} failing here\n",
            c.table(),
            c.valid.len(),
            c.danefail_raw_lines,
            c.failing_and_danefail.len(),
            c.failing.len()
        )
    };
    super::common::print_out(&text)?;
    Ok(super::common::report_problems(&r.problems))
}
