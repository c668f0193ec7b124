//! `danemine verify` and `danemine reverify` (being built).

/// Arguments of `danemine verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

/// Arguments of `danemine reverify`.
#[derive(Debug, clap::Args)]
pub struct ReverifyArgs {}

/// Run `verify`.
pub fn run_verify(_args: VerifyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine verify` is not built yet")
}

/// Run `reverify`.
pub fn run_reverify(_args: ReverifyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine reverify` is not built yet")
}
