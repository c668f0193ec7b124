//! End to end: generated logs (every format) through the binary's `domains` equal the
//! generator's ground truth byte for byte.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danemine"))
}

fn check(format: &str, seed: &str, size: &str, extra: &[&str]) {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log");
    let truth = d.path().join("truth.csv");
    let out = bin()
        .args([
            "generate",
            "--format",
            format,
            "--seed",
            seed,
            "--domains",
            "400",
            "--size",
            size,
            "--out",
        ])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["domains", "--format", "csv", "--year", "2026"])
        .args(extra)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "problems: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let want = std::fs::read_to_string(&truth).unwrap();
    if got != want {
        let g: Vec<&str> = got.lines().collect();
        let w: Vec<&str> = want.lines().collect();
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            if a != b {
                panic!("{format}: first difference at row {i}:\n got:  {a}\n want: {b}");
            }
        }
        panic!("{format}: {} rows, truth has {}", g.len(), w.len());
    }
}

#[test]
fn postfix_rfc3339_matches_truth() {
    check("postfix", "1", "3M", &[]);
}

#[test]
fn postfix_bsd_matches_truth() {
    check("postfix-bsd", "2", "3M", &[]);
}

#[test]
fn exim_matches_truth() {
    check("exim", "3", "3M", &[]);
}

#[test]
fn gateway_matches_truth() {
    check("gateway", "4", "2M", &[]);
}

#[test]
fn gzip_stream_matches_truth() {
    // the same comparison through a gzip stream (read in batches, not mapped)
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log");
    let truth = d.path().join("truth.csv");
    bin()
        .args([
            "generate",
            "--format",
            "postfix",
            "--seed",
            "9",
            "--domains",
            "200",
            "--size",
            "1M",
            "--out",
        ])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    let gz = d.path().join("log.1.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &std::fs::read(&log).unwrap()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let out = bin()
        .args(["domains", "--format", "csv"])
        .arg(&gz)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&truth).unwrap()
    );
}
