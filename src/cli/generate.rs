//! `danemine generate` (being built).

/// Arguments of `danemine generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}

/// Run the command.
pub fn run(_args: GenerateArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine generate` is not built yet")
}
