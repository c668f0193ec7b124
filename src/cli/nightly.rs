//! `danemine nightly` (being built).

/// Arguments of `danemine nightly`.
#[derive(Debug, clap::Args)]
pub struct NightlyArgs {}

/// Run the command.
pub fn run(_args: NightlyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine nightly` is not built yet")
}
