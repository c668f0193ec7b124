//! The command line: a thin layer that parses arguments and wires the stages together.
//!
//! Exit codes: 0 success, 1 ran but found something that needs a person, 2 usage or input error.

use clap::{Parser, Subcommand};

pub mod common;
pub mod compare;
pub mod generate;
pub mod nightly;
pub mod pr;
pub mod report;
pub mod reproduce;
pub mod scan;
pub mod tlsrpt;
pub mod verify;

/// Mine MTA logs for DANE delivery failures and act on them.
#[derive(Debug, Parser)]
#[command(name = "danemine", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse logs into classified delivery attempts (CSV, JSON lines or Parquet).
    Scan(scan::ScanArgs),
    /// Per recipient domain (or per MX host) DANE verdicts from logs.
    Domains(scan::DomainsArgs),
    /// Re-verify domains live: DNSSEC, STARTTLS and TLSA matching.
    Verify(verify::VerifyArgs),
    /// Re-verify the candidates of a list or of `compare --format json`.
    Reverify(verify::ReverifyArgs),
    /// Compare local verdicts with a danefail list (snapshot or ever listed).
    Compare(compare::CompareArgs),
    /// Rebuild the synthetic September 2018 data and print the talk's comparison.
    Reproduce(reproduce::ReproduceArgs),
    /// Write a self-contained HTML report with the tables behind it.
    Report(report::ReportArgs),
    /// Prepare a branch and pull-request text for a danefail-format list.
    Pr(pr::PrArgs),
    /// Run every stage from a config file, incrementally, for cron.
    Nightly(nightly::NightlyArgs),
    /// Write RFC 8460 TLS reports from logs.
    Tlsrpt(tlsrpt::TlsrptArgs),
    /// Generate deterministic sample logs with their ground truth.
    Generate(generate::GenerateArgs),
}

/// Parse the arguments, run the command, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Scan(a) => scan::run_scan(a),
        Command::Domains(a) => scan::run_domains(a),
        Command::Verify(a) => verify::run_verify(a),
        Command::Reverify(a) => verify::run_reverify(a),
        Command::Compare(a) => compare::run(a),
        Command::Reproduce(a) => reproduce::run(a),
        Command::Report(a) => report::run(a),
        Command::Pr(a) => pr::run(a),
        Command::Nightly(a) => nightly::run(a),
        Command::Tlsrpt(a) => tlsrpt::run(a),
        Command::Generate(a) => generate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("danemine: {}", message(&e));
            2
        }
    }
}

/// The error and its causes joined with `: `, as `{:#}` joins them, less a cause whose text
/// ends the message already: library errors that print their source also return it
/// (`{path}: {source}`), and the reason would be told twice.
fn message(e: &anyhow::Error) -> String {
    let mut m = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !m.ends_with(&c) {
            m.push_str(": ");
            m.push_str(&c);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::{message, Cli};
    use anyhow::Context;
    use clap::CommandFactory;

    /// A cause that the message ends with already is not told again; other causes are.
    #[test]
    fn messages_tell_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "not found");
        let source = crate::danefail::history::SourceError::Io {
            path: "/x/list".into(),
            source: io(),
        };
        let e = anyhow::Error::new(source);
        assert_eq!(format!("{e:#}"), "/x/list: not found: not found");
        assert_eq!(message(&e), "/x/list: not found");
        let e = Err::<(), _>(io()).context("reading /x/list").unwrap_err();
        assert_eq!(message(&e), "reading /x/list: not found");
        assert_eq!(message(&e), format!("{e:#}"));
    }

    /// Every option and argument of every command says what it is in `--help`.
    #[test]
    fn every_option_has_a_description() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    let name = arg.get_long().map_or(id.to_string(), |l| format!("--{l}"));
                    missing.push(format!("{} {name}", sub.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "no description: {missing:?}");
    }

    /// `tlsrpt` describes its in-process validation options as `verify` does.
    #[test]
    fn tlsrpt_describes_validation_options_as_verify() {
        let cli = Cli::command();
        let help = |cmd: &str, arg: &str| {
            cli.find_subcommand(cmd)
                .and_then(|c| c.get_arguments().find(|a| a.get_id() == arg))
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
        };
        for arg in ["trust_anchor", "nameserver"] {
            assert!(help("tlsrpt", arg).is_some(), "{arg}");
            assert_eq!(help("tlsrpt", arg), help("verify", arg), "{arg}");
        }
    }
}
