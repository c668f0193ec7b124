//! The talk's comparison, rebuilt end to end from the synthetic month and repository, and
//! `compare` against the real danefail history.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danemine"))
}

#[test]
fn reproduce_prints_the_talks_counts() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("talk");
    let out = bin()
        .args(["reproduce", "--format", "json", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], 20000);
    assert_eq!(v["danefail"], 622);
    assert_eq!(v["danefail_raw_lines"], 622);
    assert_eq!(v["failing"], 256);
    assert_eq!(v["failing_and_danefail"], 12);
    // a second run reuses the data and prints the same table
    let a = bin()
        .args(["reproduce", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let b = bin()
        .args(["reproduce", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(a.stdout, b.stdout);
    let t = String::from_utf8(a.stdout).unwrap();
    assert!(
        t.contains(
            "talk: 20000 verified fine / 622 ever on danefail / 12 in both / 256 failing here"
        ),
        "{t}"
    );
    // the table says where its numbers come from
    assert!(
        t.starts_with("synthetic data built to the talk's figures"),
        "{t}"
    );
    // an unknown format is a usage error, not the table
    let out = bin()
        .args(["reproduce", "--format", "xml", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// A reader that stops early (`| head -1`) closes the pipe: the write error ends the run with
/// exit code 2 and a one-line message, as for every other command, not a panic.
#[test]
fn reproduce_into_a_closed_pipe_is_an_error_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("talk");
    for format in ["json", "table"] {
        let mut child = bin()
            .args(["reproduce", "--format", format, "--dir"])
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // closed before the command writes anything
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{format}: {err}");
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert!(err.starts_with("danemine: "), "{format}: {err}");
        assert!(err.contains("Broken pipe"), "{format}: {err}");
    }
}

#[test]
fn compare_against_the_real_history() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("dfl");
    let bundle = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/danefail/danefail-list-history.bundle");
    assert!(Command::new("git")
        .args(["clone", "-q"])
        .arg(&bundle)
        .arg(&repo)
        .status()
        .unwrap()
        .success());
    // a log where one domain of the 2018-10-02 snapshot fails and one verifies
    let log = d.path().join("gw.log");
    std::fs::write(&log, "Oct  1 10:00:00 gw cmgw[1]: logline: to=a@stansoft.bg, mode=dane strict, dane=\"Fail (TLSA record mismatch)\", tls=none, tlsvalid=\"-1 (x)\", relay=eufront.stansoft.bg [192.0.2.1], dsn=451\n\
Oct  1 10:00:01 gw cmgw[1]: logline: to=b@psb1.org, mode=dane strict, dane=\"Verify (Secure TLSA RRs found)\", tls=TLSv1.2:X, tlsvalid=\"0 (ok)\", relay=smtp.psb1.org [192.0.2.2], dsn=250\n").unwrap();
    let out = bin()
        .args([
            "compare",
            "--format",
            "json",
            "--year",
            "2018",
            "--ever",
            "--as-of",
            "2018-10-02",
            "--danefail",
        ])
        .arg(&repo)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["danefail_raw_lines"], 622);
    assert_eq!(v["danefail"], 620);
    assert_eq!(v["failing_and_danefail"], 1);
    assert_eq!(v["valid_and_danefail"], 1);
    assert_eq!(v["domains"]["valid_and_danefail"][0], "psb1.org");
    let out = bin()
        .args([
            "compare",
            "--format",
            "json",
            "--year",
            "2018",
            "--as-of",
            "2018-10-02",
            "--danefail",
        ])
        .arg(&repo)
        .arg(&log)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["danefail"], 147);
    assert_eq!(v["partial_list"], 19);
    // csv region lists
    let dir = d.path().join("regions");
    let out = bin()
        .args([
            "compare",
            "--format",
            "csv",
            "--year",
            "2018",
            "--as-of",
            "2018-10-02",
            "--out-dir",
        ])
        .arg(&dir)
        .arg("--danefail")
        .arg(&repo)
        .arg(&log)
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("region,domain\n"));
    assert_eq!(
        std::fs::read_to_string(dir.join("failing_and_danefail.csv")).unwrap(),
        "domain\nstansoft.bg\n"
    );
    // bad input: one line naming the source
    let out = bin()
        .args(["compare", "--danefail"])
        .arg(d.path())
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains(&d.path().display().to_string()));
}
