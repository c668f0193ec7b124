//! `danemine tlsrpt` (being built).

/// Arguments of `danemine tlsrpt`.
#[derive(Debug, clap::Args)]
pub struct TlsrptArgs {}

/// Run the command.
pub fn run(_args: TlsrptArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`danemine tlsrpt` is not built yet")
}
