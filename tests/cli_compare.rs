//! `danemine compare` through the binary: the region files of `--out-dir` as `reverify`
//! candidates, and the messages about the `--danefail` source.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danemine"))
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/postfix-small.log")
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The region files `compare --out-dir` writes, with their `domain` header, are candidates
/// `reverify` reads; bad entries after the header are still refused. Offline: the domains are
/// read through the library, and the binary only gets files that need no lookup.
#[test]
fn reverify_reads_the_region_files_of_compare() {
    let d = tempfile::tempdir().unwrap();
    let list = d.path().join("dane_fail_list.dat");
    std::fs::write(&list, "example.org\n").unwrap();
    let dir = d.path().join("regions");
    let out = bin()
        .args(["compare", "--danefail"])
        .arg(&list)
        .arg("--out-dir")
        .arg(&dir)
        .arg(sample())
        .output()
        .unwrap();
    ok(&out);
    let failing = std::fs::read_to_string(dir.join("failing.csv")).unwrap();
    let mut lines = failing.lines();
    assert_eq!(lines.next(), Some("domain"));
    let want: Vec<&str> = lines.collect();
    assert_eq!(want.len(), 3, "{failing}");
    let got = danemine::cli::verify::read_candidates(&failing, "failing.csv").unwrap();
    assert_eq!(got, want);
    // an empty region is its header alone: nothing to verify, and no lookup either
    let empty = dir.join("failing_and_danefail.csv");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "domain\n");
    let reverify = |candidates: &Path| {
        bin()
            .args([
                "reverify",
                "--nameserver",
                "127.0.0.1:53",
                "--format",
                "json",
            ])
            .arg("--candidates")
            .arg(candidates)
            .output()
            .unwrap()
    };
    let out = reverify(&empty);
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    // a bad entry after the header is refused before any lookup
    let bad = d.path().join("bad.csv");
    std::fs::write(&bad, "domain\nnot_a_domain\n").unwrap();
    let out = reverify(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 1: \"not_a_domain\""), "{err}");
}

/// `--help` names the sources `--danefail` takes, and a URL is refused as the help says.
#[test]
fn danefail_help_offers_no_url() {
    let out = bin().args(["compare", "--help"]).output().unwrap();
    ok(&out);
    let help = String::from_utf8(out.stdout).unwrap();
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--danefail"))
        .unwrap_or_else(|| panic!("{help}"));
    assert!(line.contains("a file or a git clone"), "{line}");
    assert!(line.contains("a URL is refused"), "{line}");
    let out = bin()
        .args([
            "compare",
            "--danefail",
            "https://example.org/dane_fail_list.dat",
        ])
        .arg(sample())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clone the list with git"), "{err}");
    // a list file has no history: --ever and --as-of are refused, not ignored
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/danefail/list-2018-10-02.txt");
    for extra in [&["--ever"][..], &["--as-of", "2018-10-02"][..]] {
        let out = bin()
            .args(["compare", "--danefail"])
            .arg(&file)
            .args(extra)
            .arg(sample())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("need a git clone"), "{extra:?}: {err}");
    }
}

/// `danemine compare` of the sample against the list `list`.
fn compare_with(list: &std::path::Path) -> std::process::Output {
    bin()
        .args(["compare", "--danefail"])
        .arg(list)
        .arg(sample())
        .output()
        .unwrap()
}

/// A missing list is named once, with its reason once.
#[test]
fn a_missing_list_is_told_once() {
    let d = tempfile::tempdir().unwrap();
    let list = d.path().join("dane_fail_list.dat");
    let out = compare_with(&list);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let reason = std::fs::read(&list).unwrap_err().to_string();
    assert_eq!(err, format!("danemine: {}: {reason}\n", list.display()));
}

/// A list file that is not UTF-8 is an error naming the file and the line.
#[test]
fn a_list_that_is_not_utf8_names_its_line() {
    let d = tempfile::tempdir().unwrap();
    let list = d.path().join("dane_fail_list.dat");
    std::fs::write(&list, b"example.org\ncaf\xe9.example\n").unwrap();
    let out = compare_with(&list);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dane_fail_list.dat:2: not UTF-8"), "{err}");
}
