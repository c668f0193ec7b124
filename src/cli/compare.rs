//! `danemine compare`: the talk's comparison of local verdicts with a danefail list.

use super::common::{print_stats, report_problems, LogArgs};
use crate::danefail::compare::{compare, Comparison};
use crate::danefail::history::{load, Source};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `danemine compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    /// The danefail list: a file or a git clone (a URL is refused: clone the list with git).
    #[arg(long)]
    pub danefail: String,
    /// Read the list as it stood on this date (committer's local date, YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Use every domain ever listed up to --as-of (or HEAD), not one snapshot.
    #[arg(long)]
    pub ever: bool,
    /// table, json or csv (region,domain rows).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Also write one CSV domain list per region into this directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Write the regions as `region,domain` CSV.
pub fn write_csv(c: &Comparison, w: &mut dyn Write) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(["region", "domain"])?;
    for (name, set) in c.regions() {
        for d in set {
            out.write_record([name, d.as_str()])?;
        }
    }
    out.flush()
}

/// Write one `<region>.csv` file per region into `dir`, atomically.
pub fn write_region_files(c: &Comparison, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, set) in c.regions() {
        let p = dir.join(format!("{name}.csv"));
        crate::fsutil::write_atomic_with(&p, false, |w| {
            writeln!(w, "domain")?;
            for d in set {
                writeln!(w, "{d}")?;
            }
            Ok(())
        })
        .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// Run the command.
pub fn run(a: CompareArgs) -> Result<i32> {
    if !["table", "json", "csv"].contains(&a.format.as_str()) {
        bail!("--format: unknown format {:?} (table, json, csv)", a.format);
    }
    let listed = load(&Source::from_arg(&a.danefail), a.as_of.as_deref(), a.ever)?;
    let inputs = a.logs.inputs()?;
    // the comparison reads domain rows only
    let opts = crate::scan::ScanOptions {
        mx_rows: false,
        ..a.logs.options()?
    };
    let t = std::time::Instant::now();
    let r = crate::scan::scan_aggregate(&inputs, &opts)?;
    let c = compare(&r.aggregate, &listed);
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    match a.format.as_str() {
        "json" => {
            serde_json::to_writer_pretty(&mut w, &c.to_json())?;
            writeln!(w)?;
        }
        "csv" => write_csv(&c, &mut w)?,
        _ => write!(w, "{}", c.table())?,
    }
    w.flush()?;
    if let Some(dir) = &a.out_dir {
        write_region_files(&c, dir)?;
    }
    if a.logs.stats {
        print_stats("compare", r.lines, r.bytes, r.attempts, t);
    }
    Ok(report_problems(&r.problems))
}
