//! `danemine report` (being built).

/// Arguments of `danemine report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Run the command.
pub fn run(_args: ReportArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine report` is not built yet")
}
