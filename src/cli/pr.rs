//! `danemine pr` (being built).

/// Arguments of `danemine pr`.
#[derive(Debug, clap::Args)]
pub struct PrArgs {}

/// Run the command.
pub fn run(_args: PrArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine pr` is not built yet")
}
