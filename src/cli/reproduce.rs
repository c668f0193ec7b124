//! `danemine reproduce` (being built).

/// Arguments of `danemine reproduce`.
#[derive(Debug, clap::Args)]
pub struct ReproduceArgs {}

/// Run the command.
pub fn run(_args: ReproduceArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine reproduce` is not built yet")
}
