//! `danemine domains` and `danemine scan` end to end through the binary: formats, the CSV
//! interface header, per-MX rows, time windows, Exim through syslog, exit codes.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danemine"))
}

const LOG: &str = "\
Nov  3 10:00:00 mx1 postfix/smtp[100]: Verified TLS connection established to mx.good.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
Nov  3 10:00:01 mx1 postfix/smtp[101]: certificate verification failed for mx.bad.example[192.0.2.2]:25: num=65:no matching DANE TLSA records
Nov  3 10:00:01 mx1 postfix/smtp[100]: 1A2B3C4D5E: to=<a@good.example>, relay=mx.good.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov  3 10:00:02 mx1 postfix/smtp[101]: Untrusted TLS connection established to mx.bad.example[192.0.2.2]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)
Nov  3 10:00:03 mx1 postfix/smtp[101]: 2A2B3C4D5E: to=<b@BAD.example>, relay=mx.bad.example[192.0.2.2]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=4.7.5, status=deferred (Server certificate not verified)
Nov  4 11:00:00 mx1 postfix/smtp[102]: 3A2B3C4D5E: to=<c@plain.example>, relay=mx.plain.example[192.0.2.3]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 ok)
Nov  4 11:00:01 mx1 exim[555]: 1wtYVW-0000000GFxD-3Ryp => u@exim.example R=dnslookup T=remote_smtp H=mx.exim.example [192.0.2.4] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=dane C=\"250 ok\"
";

fn write_log() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("maillog");
    std::fs::write(&p, LOG).unwrap();
    (d, p)
}

#[test]
fn csv_has_the_interface_header_and_rows() {
    let (_d, p) = write_log();
    let out = bin()
        .args(["domains", "--format", "csv", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "domain,verdict,attempts,dane_verified,dane_failed,cert_mismatch,dnssec,tlsa_unusable,no_starttls,tls_failure,other_failure,mx_hosts,first_seen,last_seen");
    assert_eq!(lines[1], "bad.example,failing,1,0,1,1,0,0,0,0,0,mx.bad.example,2026-11-03T10:00:03Z,2026-11-03T10:00:03Z");
    assert_eq!(lines[2], "exim.example,valid,1,1,0,0,0,0,0,0,0,mx.exim.example,2026-11-04T11:00:01Z,2026-11-04T11:00:01Z");
    assert_eq!(lines[3], "good.example,valid,1,1,0,0,0,0,0,0,0,mx.good.example,2026-11-03T10:00:01Z,2026-11-03T10:00:01Z");
    assert_eq!(lines[4], "plain.example,no-dane,1,0,0,0,0,0,0,0,0,mx.plain.example,2026-11-04T11:00:00Z,2026-11-04T11:00:00Z");
    assert_eq!(lines.len(), 5);
    // the file read with pread instead of mapped: the same rows
    let mapped = bin()
        .args(["domains", "--format", "csv", "--year", "2026", "--pread"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(mapped.status.code(), Some(0));
    assert_eq!(String::from_utf8(mapped.stdout).unwrap(), text);
}

#[test]
fn json_table_by_mx_and_window() {
    let (d, p) = write_log();
    let out = bin()
        .args(["domains", "--format", "json", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |domain: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["domain"] == domain)
            .unwrap()
    };
    let bad = row("bad.example");
    assert_eq!(bad["verdict"], "failing");
    assert_eq!(bad["cert_mismatch"], 1);
    assert_eq!(bad["examples"][0]["line"], 5);
    assert!(bad["examples"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Server certificate not verified"));
    // the details that only JSON writes (the CSV's rows are counted without them)
    assert_eq!(bad["failing_mx"][0], "mx.bad.example");
    let good = row("good.example");
    assert_eq!(good["verified_example"]["outcome"], "verified");
    assert!(good["verified_example"]["line"]
        .as_u64()
        .is_some_and(|l| l > 0));

    let out = bin()
        .args(["domains", "--format", "table", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.lines().next().unwrap().starts_with("domain"));
    assert!(t.contains("bad.example") && t.contains("failing"));

    let out = bin()
        .args(["domains", "--by", "mx", "--format", "csv", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.starts_with("mx_host,verdict,"), "{t}");
    assert!(
        t.contains("\nmx.bad.example,failing,1,0,1,1,0,0,0,0,0,bad.example,"),
        "{t}"
    );

    // an MX row's failing names are the domains that failed there
    let out = bin()
        .args([
            "domains", "--by", "mx", "--format", "json", "--year", "2026",
        ])
        .arg(&p)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mx = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["mx_host"] == "mx.bad.example")
        .unwrap();
    assert_eq!(mx["failing_domains"][0], "bad.example");
    assert!(mx.get("failing_mx").is_none(), "{mx}");

    let out = bin()
        .args([
            "domains",
            "--format",
            "csv",
            "--year",
            "2026",
            "--since",
            "2026-11-04",
            "--until",
            "2026-11-05",
        ])
        .arg(&p)
        .output()
        .unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    assert_eq!(t.lines().count(), 3, "{t}");
    assert!(!t.contains("bad.example"));

    // --out writes the file atomically, nothing on stdout
    let outp = d.path().join("domains.csv");
    let out = bin()
        .args(["domains", "--format", "csv", "--year", "2026", "--out"])
        .arg(&outp)
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(&outp)
        .unwrap()
        .starts_with("domain,verdict"));
}

#[test]
fn scan_writes_attempts_in_csv_jsonl_and_parquet() {
    let (d, p) = write_log();
    let out = bin()
        .args(["scan", "--format", "csv", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    assert_eq!(t.lines().count(), 5, "{t}");
    assert!(t
        .lines()
        .any(|l| l.contains(",bad.example,") && l.contains(",failed,cert-mismatch,")));
    let out = bin()
        .args(["scan", "--format", "jsonl", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["domain"], "good.example");
    assert_eq!(rows[0]["outcome"]["outcome"], "verified");
    let pq = d.path().join("a.parquet");
    let out = bin()
        .args(["scan", "--format", "parquet", "--year", "2026", "--out"])
        .arg(&pq)
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let bytes = std::fs::read(&pq).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    // the same attempts as the JSON lines, in the same order
    #[cfg(feature = "parquet")]
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;
        let reader = SerializedFileReader::new(std::fs::File::open(&pq).unwrap()).unwrap();
        let got: Vec<(String, String, i64)> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.get_string(2).unwrap().clone(),
                    r.get_string(9).unwrap().clone(),
                    r.get_long(15).unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, String, i64)> = rows
            .iter()
            .map(|j| {
                (
                    j["domain"].as_str().unwrap().to_string(),
                    j["outcome"]["outcome"].as_str().unwrap().to_string(),
                    j["line"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn usage_errors_exit_2() {
    let (_d, p) = write_log();
    for args in [
        vec!["domains", "--format", "xml"],
        vec!["domains", "--tls-level", "paranoid"],
        vec!["domains", "--since", "yesterday"],
        vec!["domains", "--by", "country"],
        // an empty window is a mistake, not a question with an empty answer
        vec!["domains", "--since", "2026-11-04", "--until", "2026-11-03"],
        vec!["domains", "--since", "2026-11-04", "--until", "2026-11-04"],
    ] {
        let out = bin().args(&args).arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let out = bin()
        .args(["domains", "/nonexistent/maillog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/maillog"));
    // a missing file or an empty glob among good files: named once, the others still read
    let out = bin()
        .args(["domains", "--format", "csv", "/nonexistent/maillog"])
        .arg(&p)
        .arg("/nonexistent/*.gz")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("danemine: /nonexistent/maillog: No such file")
            && err.contains("danemine: /nonexistent/*.gz: No such file")
            && !err.contains("maillog: /nonexistent/maillog"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 1);
    let out = bin().args(["domains"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The same file named twice (another spelling of its path, a link, a glob or its directory
/// that match it again) is read once: its attempts are not counted twice.
#[cfg(unix)]
#[test]
fn a_file_named_twice_is_read_once() {
    let (d, p) = write_log();
    std::os::unix::fs::symlink(&p, d.path().join("link")).unwrap();
    let csv = |args: &[String]| {
        let out = bin()
            .args(["domains", "--format", "csv", "--year", "2026"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let dir = d.path().display().to_string();
    let once = csv(&[p.display().to_string()]);
    assert!(once.contains("good.example,valid,1,"), "{once}");
    let again = csv(&[
        p.display().to_string(),
        format!("{dir}/./maillog"),
        format!("{dir}/link"),
        format!("{dir}/mail*"),
        dir.clone(),
    ]);
    assert_eq!(again, once);
    // a copy is another file, and counts again
    std::fs::copy(&p, d.path().join("copy")).unwrap();
    let twice = csv(&[p.display().to_string(), format!("{dir}/copy")]);
    assert!(twice.contains("good.example,valid,2,"), "{twice}");
    // standard input redirected from the same file is that file
    let out = bin()
        .args(["domains", "--format", "csv", "-"])
        .arg(&p)
        .stdin(std::fs::File::open(&p).unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), once);
}

/// `verify` against a resolver that does not answer: every domain is `unreachable` (a resolver
/// outage confirms no DNSSEC failure), and stderr says that nothing was verified.
#[test]
fn verify_without_a_resolver_says_nothing_was_verified() {
    let out = bin()
        .args([
            "verify",
            "--resolver",
            "127.0.0.1:9",
            "--timeout",
            "1",
            "--format",
            "json",
        ])
        .args(["a.example", "b.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["unreachable", "unreachable"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no MX lookup was answered"), "{err}");
}

/// An MX name that is not a host name leaves the attempt counted and the name out, and is
/// told as a doubtful line; a relay reached by address is counted without a name, silently.
#[test]
fn a_bad_mx_name_is_told_and_an_address_is_not() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("maillog");
    std::fs::write(
        &p,
        "\
Nov  3 10:00:01 mx1 postfix/smtp[100]: 1A2B3C4D5E: to=<a@under.example>, relay=mx_1.under.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov  3 10:00:02 mx1 postfix/smtp[101]: 2A2B3C4D5E: to=<b@literal.example>, relay=192.0.2.2[192.0.2.2]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov  3 10:00:03 mx1 postfix/smtp[102]: 3A2B3C4D5E: to=<c@literal6.example>, relay=2001:db8::25[2001:db8::25]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov  3 10:00:04 mx1 exim[555]: 1wtYVW-0000000GFxD-3Ryp => u@exim-literal.example R=manual T=remote_smtp H=[192.0.2.4] [192.0.2.4] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 ok\"
",
    )
    .unwrap();
    for (format, threads) in [("csv", "1"), ("json", "2"), ("csv", "2")] {
        let out = bin()
            .args(["domains", "--format", format, "--year", "2026"])
            .env("RAYON_NUM_THREADS", threads)
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        for d in ["under", "literal", "literal6", "exim-literal"] {
            let (csv, json) = (format!("\n{d}.example,"), format!("\"{d}.example\""));
            assert!(text.contains(&csv) || text.contains(&json), "{d}: {text}");
        }
        assert!(
            !text.contains("mx_1") && !text.contains("192.0.2") && !text.contains("2001:db8"),
            "{text}"
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("1 bad-mx-host"), "{err}");
        assert!(err.contains(":1: bad-mx-host: "), "{err}");
        for line in [":2: ", ":3: ", ":4: "] {
            assert!(!err.contains(line), "{err}");
        }
    }
    // `scan` collects attempts: the same problem, the attempt kept without its MX name
    let out = bin()
        .args(["scan", "--format", "csv", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    // the IPv6 relay's address and port are read
    assert!(text.contains(",2001:db8::25,25,"), "{text}");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("1 bad-mx-host"));
}

/// A log whose name is not UTF-8 is read, named on the command line (as a shell's glob
/// expands it) or matched by a quoted glob; it is listed in messages by its lossy name.
#[cfg(unix)]
#[test]
fn a_log_whose_name_is_not_utf8_is_read() {
    use std::os::unix::ffi::OsStringExt;
    let d = tempfile::tempdir().unwrap();
    let mut name = d.path().as_os_str().to_owned();
    name.push("/");
    name.push(std::ffi::OsString::from_vec(b"mail\xfflog".to_vec()));
    std::fs::write(&name, LOG).unwrap();
    let glob = format!("{}/mail*", d.path().display());
    for arg in [name.clone(), glob.into()] {
        let out = bin()
            .args(["domains", "--format", "csv", "--year", "2026"])
            .arg(&arg)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{arg:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("\ngood.example,valid,1,"), "{arg:?}: {text}");
    }
    // its problems name it by its lossy text
    std::fs::write(&name, "not a log line\n").unwrap();
    let out = bin()
        .args(["domains", "--format", "csv"])
        .arg(&name)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("mail\u{fffd}log:1: no-prefix"), "{err}");
}
