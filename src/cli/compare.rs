//! `danemine compare` (being built).

/// Arguments of `danemine compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {}

/// Run the command.
pub fn run(_args: CompareArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine compare` is not built yet")
}
