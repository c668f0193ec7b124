//! `--stats` of every command that reads logs: the lines, bytes and attempts the scan read, on
//! stderr, whatever the command and its output format.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danemine"))
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/postfix-small.log")
}

/// The figures of samples/postfix-small.log, as `domains --stats` has always told them.
const FIGURES: &str = "513 lines, 106068 bytes, 295 attempts in ";

/// Run `args` on the sample with `--stats`; its stats line on stderr.
fn stats_line(args: &[&str]) -> String {
    let out = bin()
        .args(args)
        .arg("--stats")
        .arg(sample())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    let label = format!("danemine: {}: ", args[0]);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with(&label)).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    lines[0].to_string()
}

#[test]
fn every_command_that_reads_logs_tells_what_it_read() {
    let d = tempfile::tempdir().unwrap();
    // the reference: `domains` has always counted right
    let line = stats_line(&["domains", "--format", "csv"]);
    assert!(line.contains(FIGURES), "{line}");
    for format in ["csv", "jsonl"] {
        let line = stats_line(&["scan", "--format", format]);
        assert!(line.contains(FIGURES), "{format}: {line}");
    }
    let path = |name: &str| d.path().join(name).display().to_string();
    let line = stats_line(&["scan", "--out", &path("a.csv")]);
    assert!(line.contains(FIGURES), "--out: {line}");
    #[cfg(feature = "parquet")]
    {
        let line = stats_line(&["scan", "--format", "parquet", "--out", &path("a.parquet")]);
        assert!(line.contains(FIGURES), "parquet: {line}");
    }
    let list = path("dane_fail_list.dat");
    std::fs::write(&list, "example.org\n").unwrap();
    let line = stats_line(&["compare", "--danefail", &list]);
    assert!(line.contains(FIGURES), "compare: {line}");
    let line = stats_line(&[
        "report",
        "--name",
        "t",
        "--danefail",
        &list,
        "--out",
        &path("reports"),
    ]);
    assert!(line.contains(FIGURES), "report: {line}");
    let line = stats_line(&[
        "tlsrpt",
        "--organization",
        "Example",
        "--contact",
        "mailto:postmaster@example.net",
        "--submitter",
        "example.net",
        "--out-dir",
        &path("tlsrpt"),
    ]);
    assert!(line.contains(FIGURES), "tlsrpt: {line}");
}
