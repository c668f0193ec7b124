//! `danemine report`: a self-contained HTML report with the tables behind it.

use super::common::{print_out, print_stats, report_problems, LogArgs};
use crate::danefail::compare::compare;
use crate::danefail::history::{load, Source};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Arguments of `danemine report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    /// The danefail list: a file or a git clone.
    #[arg(long)]
    pub danefail: String,
    /// Read the list as it stood on this date (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Every domain ever listed up to --as-of.
    #[arg(long)]
    pub ever: bool,
    /// The report's name: it is written to OUT/NAME/index.html.
    #[arg(long)]
    pub name: String,
    /// The directory of reports.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

/// Run the command.
pub fn run(a: ReportArgs) -> Result<i32> {
    if a.name.is_empty() || a.name.contains(['/', '\\']) || a.name.starts_with('.') {
        bail!("--name: {:?} must be a plain directory name", a.name);
    }
    let listed = load(&Source::from_arg(&a.danefail), a.as_of.as_deref(), a.ever)?;
    // the report reads domain rows only (their failing MX names included)
    let opts = crate::scan::ScanOptions {
        mx_rows: false,
        ..a.logs.options()?
    };
    let inputs = a.logs.inputs()?;
    let t = std::time::Instant::now();
    let r = crate::scan::scan_aggregate(&inputs, &opts)?;
    let c = compare(&r.aggregate, &listed);
    let dir = a.out.join(&a.name);
    let page = crate::report::write(
        &dir,
        &format!("danemine report {}", a.name),
        &c,
        &r.aggregate,
    )
    .with_context(|| format!("writing {}", dir.display()))?;
    print_out(&format!("{}\n", page.display()))?;
    if a.logs.stats {
        print_stats("report", r.lines, r.bytes, r.attempts, t);
    }
    Ok(report_problems(&r.problems))
}
