//! RFC 8460 reports end to end: counts from generated logs equal the generator's truth, every
//! field as the RFC names it, a real consumer (the `mail-auth` crate) parses the JSON and the
//! MIME message; discovery through the loopback test bed's DNS; delivery by https to a loopback
//! server and by mail to a sendmail stand-in; never a report about a report.

mod common;

use mail_auth::report::tlsrpt::TlsReport;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danemine"))
}

/// `danemine tlsrpt` as the tests' sender.
fn tlsrpt() -> Command {
    let mut c = bin();
    c.args([
        "tlsrpt",
        "--organization",
        "Example Mail",
        "--contact",
        "mailto:postmaster@sender.example",
        "--submitter",
        "sender.example",
    ]);
    c
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn reports_in(dir: &Path) -> Vec<(String, serde_json::Value, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .map(|p| {
            let raw = gunzip(&std::fs::read(&p).unwrap());
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_slice(&raw).unwrap(), raw)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn reports_from_generated_logs_match_the_truth_and_the_rfc() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("maillog");
    let truth = d.path().join("truth.csv");
    let st = bin()
        .args([
            "generate",
            "--format",
            "postfix",
            "--seed",
            "5",
            "--domains",
            "200",
            "--size",
            "2M",
            "--out",
        ])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .status()
        .unwrap();
    assert!(st.success());
    let out_dir = d.path().join("reports");
    let out = tlsrpt()
        .args(["--sending-ip", "198.51.100.7", "--out-dir"])
        .arg(&out_dir)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = reports_in(&out_dir);
    assert!(!reports.is_empty());
    // sum per domain over days = the truth's verified and failed counts
    let mut got: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (name, v, raw) in &reports {
        // file name: sender!policy-domain!begin!end!id.json.gz
        let parts: Vec<&str> = name.trim_end_matches(".json.gz").split('!').collect();
        assert_eq!(parts.len(), 5, "{name}");
        assert_eq!(parts[0], "sender.example");
        let begin: i64 = parts[2].parse().unwrap();
        let end: i64 = parts[3].parse().unwrap();
        assert_eq!(begin % 86_400, 0);
        assert_eq!(end - begin, 86_399);
        // the RFC 8460 fields, by name and type
        assert_eq!(v["organization-name"], "Example Mail");
        assert_eq!(v["contact-info"], "mailto:postmaster@sender.example");
        assert!(v["report-id"].as_str().is_some_and(|s| !s.is_empty()));
        let start = v["date-range"]["start-datetime"].as_str().unwrap();
        assert!(start.ends_with("T00:00:00Z"), "{start}");
        assert!(v["date-range"]["end-datetime"]
            .as_str()
            .unwrap()
            .ends_with("T23:59:59Z"));
        let p = &v["policies"][0];
        assert_eq!(p["policy"]["policy-domain"], parts[1]);
        // every session applied a TLSA policy; its records are not known without --lookup
        assert_eq!(p["policy"]["policy-type"], "tlsa");
        assert!(p["policy"].get("policy-string").is_none());
        // RFC 8460 §5.3: the unique id is letters and digits
        assert!(
            parts[4].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{name}"
        );
        for d in p["failure-details"].as_array().into_iter().flatten() {
            assert!(
                d.get("additional-information").is_none(),
                "a URI field: {d}"
            );
        }
        let ok = p["summary"]["total-successful-session-count"]
            .as_u64()
            .unwrap();
        let failed = p["summary"]["total-failure-session-count"]
            .as_u64()
            .unwrap();
        let detail_sum: u64 = p["failure-details"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["failed-session-count"].as_u64().unwrap())
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(detail_sum, failed);
        for f in p["failure-details"].as_array().into_iter().flatten() {
            let rt = f["result-type"].as_str().unwrap();
            assert!(
                [
                    "validation-failure",
                    "dnssec-invalid",
                    "tlsa-invalid",
                    "starttls-not-supported"
                ]
                .contains(&rt),
                "{rt}"
            );
            assert_eq!(f["sending-mta-ip"], "198.51.100.7");
            assert!(f["receiving-mx-hostname"].is_string());
        }
        let e = got.entry(parts[1].to_string()).or_default();
        e.0 += ok;
        e.1 += failed;
        // a real consumer parses it
        let parsed = TlsReport::parse_json(raw).expect("mail-auth parses the report");
        assert_eq!(parsed.policies[0].summary.total_success as u64, ok);
        assert_eq!(parsed.policies[0].summary.total_failure as u64, failed);
    }
    let truth = std::fs::read_to_string(&truth).unwrap();
    let mut want: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for l in truth.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let (v, fl): (u64, u64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
        if v + fl > 0 {
            want.insert(f[0].to_string(), (v, fl));
        }
    }
    assert_eq!(got, want);
}

struct Bed(PathBuf);

impl Drop for Bed {
    fn drop(&mut self) {
        let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/down.sh");
        let _ = Command::new("bash").arg(s).arg(&self.0).status();
    }
}

/// Requests the https server received: (header text, body).
type Posted = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A loopback https server that stores what is POSTed to it.
fn https_server(cert_pem: &Path, key_pem: &Path, got: Posted) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key_pem).unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap(),
    );
    let l = std::net::TcpListener::bind("127.0.63.1:8443").unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut r = BufReader::new(&mut tls);
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            got.lock().unwrap().push((head, body));
            let _ =
                tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
}

#[test]
fn discovery_and_delivery_by_https_and_mail() {
    let d = tempfile::tempdir().unwrap();
    let bed_dir = d.path().join("bed");
    let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/up.sh");
    let o = Command::new("bash").arg(up).arg(&bed_dir).output().unwrap();
    assert!(
        o.status.success(),
        "test bed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _bed = Bed(bed_dir.clone());
    // a server certificate for the IP literal of the https rua, from a test CA
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_p.self_signed(&ca_key).unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let srv = rcgen::CertificateParams::new(vec!["127.0.63.1".to_string()])
        .unwrap()
        .signed_by(&srv_key, &rcgen::Issuer::new(ca_p.clone(), &ca_key))
        .unwrap();
    std::fs::write(d.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(d.path().join("srv.pem"), srv.pem()).unwrap();
    std::fs::write(d.path().join("srv.key"), srv_key.serialize_pem()).unwrap();
    let posted = Arc::new(Mutex::new(Vec::new()));
    https_server(
        &d.path().join("srv.pem"),
        &d.path().join("srv.key"),
        posted.clone(),
    );
    // the sendmail stand-in stores each message with its recipient
    let spool = d.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let sm = d.path().join("sendmail");
    std::fs::write(
        &sm,
        format!(
            "#!/bin/sh\nshift $(($# - 1))\ncat > \"{}/$1.$$.eml\"\n",
            spool.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&sm).status().unwrap();
    let log = d.path().join("maillog");
    let l = |t: &str, pid: u32, rest: &str| {
        format!("2026-11-27T{t}+00:00 mail postfix/smtp[{pid}]: {rest}\n")
    };
    let mut text = String::new();
    text += &l("10:00:00", 1, "Verified TLS connection established to mx-ee.dane.test[127.0.61.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)");
    text += &l("10:00:01", 1, "AB1234567: to=<u1@ee.dane.test>, relay=mx-ee.dane.test[127.0.61.1]:25, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 ok)");
    text += &l("10:00:02", 2, "certificate verification failed for mx-ee.dane.test[127.0.61.1]:25: num=65:no matching DANE TLSA records");
    text += &l("10:00:02", 2, "AB1234568: to=<u2@ee.dane.test>, relay=mx-ee.dane.test[127.0.61.1]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)");
    // a delivery of a report to the rua mailbox itself: never reported
    text += &l("10:00:03", 3, "certificate verification failed for mx-ee.dane.test[127.0.61.1]:25: num=65:no matching DANE TLSA records");
    text += &l("10:00:03", 3, "AB1234569: to=<tlsrpt@ee.dane.test>, relay=mx-ee.dane.test[127.0.61.1]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)");
    text += &l("10:00:04", 4, "Verified TLS connection established to mx-ta.dane.test[127.0.61.2]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)");
    text += &l("10:00:05", 4, "AB123456A: to=<u@ta.dane.test>, relay=mx-ta.dane.test[127.0.61.2]:25, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 ok)");
    std::fs::write(&log, text).unwrap();
    let out_dir = d.path().join("reports");
    let out = tlsrpt()
        .args([
            "--resolver",
            "127.0.60.1:5301",
            "--deliver",
            "--from",
            "tlsrpt@sender.example",
            "--ca",
        ])
        .arg(d.path().join("ca.pem"))
        .arg("--sendmail")
        .arg(&sm)
        .arg("--out-dir")
        .arg(&out_dir)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("1 deliveries of reports themselves were left out"));
    let reports = reports_in(&out_dir);
    assert_eq!(reports.len(), 2);
    let ee = reports
        .iter()
        .find(|r| r.0.contains("!ee.dane.test!"))
        .unwrap();
    let p = &ee.1["policies"][0];
    assert_eq!(
        p["policy"]["policy-type"], "tlsa",
        "TLSA looked up through the validating resolver"
    );
    assert!(p["policy"]["policy-string"][0]
        .as_str()
        .unwrap()
        .starts_with("_25._tcp.mx-ee.dane.test. IN TLSA 3 1 1 "));
    assert_eq!(p["policy"]["mx-host"][0], "mx-ee.dane.test");
    assert_eq!(p["summary"]["total-failure-session-count"], 1);
    // https: one POST with the gzip report
    let posted = posted.lock().unwrap();
    assert_eq!(
        posted.len(),
        1,
        "only ee.dane.test has a (single) valid policy"
    );
    assert!(posted[0].0.starts_with("POST /tlsrpt HTTP/1.1"));
    assert!(posted[0]
        .0
        .to_ascii_lowercase()
        .contains("content-type: application/tlsrpt+gzip"));
    let json = gunzip(&posted[0].1);
    assert_eq!(
        TlsReport::parse_json(&json).unwrap().policies[0]
            .summary
            .total_failure,
        1
    );
    // mail: one message to the mailto rua, a valid multipart/report parsed by mail-auth
    let mails: Vec<PathBuf> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("tlsrpt@ee.dane.test."));
    let msg = std::fs::read(&mails[0]).unwrap();
    let text = String::from_utf8_lossy(&msg);
    assert!(text.contains("Content-Type: multipart/report; report-type=\"tlsrpt\""));
    assert!(text.contains("TLS-Report-Domain: ee.dane.test\r\n"));
    assert!(text.contains("TLS-Report-Submitter: sender.example\r\n"));
    assert!(text
        .contains("Subject: Report Domain: ee.dane.test Submitter: sender.example Report-ID: <"));
    let parsed = TlsReport::parse_rfc5322(&msg).expect("mail-auth parses the report mail");
    assert_eq!(parsed.policies[0].policy.policy_domain, "ee.dane.test");
    // --dry-run writes files only
    let spool_before = std::fs::read_dir(&spool).unwrap().count();
    let out = bin()
        .args([
            "tlsrpt",
            "--organization",
            "x",
            "--contact",
            "mailto:p@sender.example",
            "--submitter",
            "sender.example",
            "--resolver",
            "127.0.60.1:5301",
            "--deliver",
            "--dry-run",
            "--sendmail",
        ])
        .arg(&sm)
        .arg("--out-dir")
        .arg(d.path().join("dry"))
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), spool_before);
    assert_eq!(reports_in(&d.path().join("dry")).len(), 2);
}

/// `--lookup` against a resolver that answers nothing useful: the reports are still written,
/// and stderr says that no lookup was answered.
#[test]
fn lookups_that_all_fail_are_told() {
    let d = tempfile::tempdir().unwrap();
    let out_dir = d.path().join("out");
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/postfix-small.log");
    let out = tlsrpt()
        .args([
            "--lookup",
            "--resolver",
            &common::servfail_server().to_string(),
            "--out-dir",
        ])
        .arg(&out_dir)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no DNS lookup was answered"), "{err}");
    assert!(!reports_in(&out_dir).is_empty());
}
