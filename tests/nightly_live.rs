//! The nightly job with live re-verification against the loopback test bed: a domain failing
//! in the logs and live enters the exclusion file (checked with real postmap); one that
//! recovers is removed on the next run; a protected domain never appears; a domain that fails
//! in the logs but verifies live never enters.

mod common;

use danemine::act::config::Config;
use danemine::act::nightly::{self, LiveVerifier, RunOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Bed(PathBuf);

impl Drop for Bed {
    fn drop(&mut self) {
        let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/down.sh");
        let _ = Command::new("bash").arg(s).arg(&self.0).status();
    }
}

fn up(dir: &Path) -> Bed {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/up.sh");
    let out = Command::new("bash").arg(s).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "test bed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Bed(dir.to_path_buf())
}

/// An MX at 127.0.62.6:2525 that first offers no STARTTLS, then (when `fixed`) serves STARTTLS
/// with the test bed's leaf certificate, which matches the TLSA record of mx-flip.dane.test.
fn flip_server(pki: &Path, fixed: Arc<AtomicBool>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join("chain.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.join("leaf.key")).unwrap();
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
    let l = TcpListener::bind("127.0.62.6:2525").unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let cfg = cfg.clone();
            let ok = fixed.load(Ordering::SeqCst);
            std::thread::spawn(move || serve(s, ok, cfg));
        }
    });
}

fn serve(mut s: TcpStream, ok: bool, cfg: Arc<rustls::ServerConfig>) {
    let _ = s.write_all(b"220 mx-flip.dane.test ESMTP\r\n");
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    if !ok {
        let _ = s.write_all(b"250-mx-flip.dane.test\r\n250 PIPELINING\r\n");
        let _ = r.read_line(&mut line);
        return;
    }
    let _ = s.write_all(b"250-mx-flip.dane.test\r\n250 STARTTLS\r\n");
    line.clear();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let _ = s.write_all(b"220 ready\r\n");
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, s);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    let _ = tls.write_all(b"220 ok\r\n");
}

fn failures(domain: &str, mx: &str, n: u32, day: i64) -> String {
    // two days ago and yesterday, relative to the run
    let base = (chrono::Utc::now().timestamp() / 86_400 - 2) * 86_400;
    failures_from(base, domain, mx, n, day)
}

fn failures_from(base: i64, domain: &str, mx: &str, n: u32, day: i64) -> String {
    let mut s = String::new();
    for i in 0..n {
        let t = danemine::timefmt::rfc3339(base + day * 86_400 + i64::from(i) * 60)
            .replace('Z', "+00:00");
        let p = format!("{t} mail postfix/smtp[{}]:", 3000 + i);
        s.push_str(&format!(
            "{p} certificate verification failed for {mx}[192.0.2.9]:25: num=65:no matching DANE TLSA records\n\
             {p} Untrusted TLS connection established to {mx}[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} {:010X}: to=<u{i}@{domain}>, relay={mx}[192.0.2.9]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)\n",
            0xB0_0000_0000u64 + u64::from(i) + day as u64 * 1000
        ));
    }
    s
}

#[test]
fn nightly_confirms_live_removes_recovered_and_protects() {
    let tmp = tempfile::tempdir().unwrap();
    let bed = up(&tmp.path().join("bed"));
    let fixed = Arc::new(AtomicBool::new(false));
    flip_server(&bed.0.join("pki"), fixed.clone());

    let dir = tmp.path().join("job");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let mut log = String::new();
    for day in 0..2 {
        log.push_str(&failures(
            "mismatch.dane.test",
            "mx-mismatch.dane.test",
            3,
            day,
        ));
        log.push_str(&failures("flip.dane.test", "mx-flip.dane.test", 3, day));
        log.push_str(&failures("badsig.test", "mx.badsig.test", 3, day));
        log.push_str(&failures("ee.dane.test", "mx-ee.dane.test", 3, day));
    }
    std::fs::write(dir.join("logs/mail.log"), &log).unwrap();
    // a clone of the real danefail list, for the branch nightly prepares
    let list = dir.join("list");
    common::clone_danefail_list(&list);
    let danefail = format!(
        "[danefail]\nrepo = \"{}\"\npull_request = true\n",
        list.display()
    );
    let toml = "state_dir = \"state\"\n\
         [logs]\npaths = [\"logs/mail.log*\"]\nmta = \"postfix\"\nwindow_days = 7\n\
         [candidates]\nmin_failures = 2\nmin_days = 1\n\
         [verify]\nenabled = true\nresolver = \"127.0.60.1:5301\"\nport = 2525\ntimeout_secs = 2\n\
         [exclusions]\nprotected = [\"badsig.test\"]\nmax_confirmation_age_hours = 24\nexpiry_days = 30\n\
         [[output]]\npath = \"out/dane_exclusions\"\nformat = \"postfix\"\n\
         [[output]]\npath = \"out/dane_fail_list.dat\"\nformat = \"danefail\"\n";
    let toml = format!("{toml}{danefail}");
    std::fs::write(dir.join("nightly.toml"), &toml).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let cfg = Config::load(&dir.join("nightly.toml")).unwrap();
    let mut verifier = LiveVerifier::from_config(&cfg).unwrap();
    let now = chrono::Utc::now().timestamp();
    let opts = RunOptions {
        now,
        ..RunOptions::default()
    };

    let r1 = nightly::run(&cfg, &opts, Some(&mut verifier)).unwrap();
    assert!(r1.verify_error.is_none(), "{:?}", r1.verify_error);
    let policy = std::fs::read_to_string(dir.join("out/dane_exclusions")).unwrap();
    let keys: Vec<&str> = policy
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        keys,
        ["flip.dane.test may", "mismatch.dane.test may"],
        "{policy}"
    );
    assert!(
        !policy.contains("badsig.test"),
        "protected domains never enter"
    );
    assert!(
        !policy.contains("ee.dane.test"),
        "verifies live: never enters"
    );
    // real postmap accepts it (a throw-away config dir: Debian's package has no main.cf)
    let conf = dir.join("pfconf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("main.cf"), "compatibility_level = 3.6\n").unwrap();
    let table = dir.join("out/dane_exclusions");
    let st = Command::new("postmap")
        .arg("-c")
        .arg(&conf)
        .arg(&table)
        .status()
        .unwrap();
    assert!(st.success());
    let q = Command::new("postmap")
        .arg("-c")
        .arg(&conf)
        .args(["-q", "mismatch.dane.test"])
        .arg(format!("hash:{}", table.display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout).trim(), "may");
    let dfl = std::fs::read_to_string(dir.join("out/dane_fail_list.dat")).unwrap();
    let list = danemine::danefail::list::List::parse(&dfl, "out").unwrap();
    assert!(list.domains().contains("mismatch.dane.test"));
    assert!(r1.needs_attention());
    // and a branch on the list's clone proposes them, with its body beside the state
    let pr = r1
        .pull_request
        .clone()
        .expect("asked for")
        .expect("prepared");
    let branch = pr.expect("something to propose");
    assert!(branch.contains("danemine/"), "{branch}");
    let head = Command::new("git")
        .arg("-C")
        .arg(dir.join("list"))
        .args(["log", "--all", "--format=%s"])
        .output()
        .unwrap();
    let subjects = String::from_utf8_lossy(&head.stdout);
    assert!(subjects.contains("mx-mismatch.dane.test"), "{subjects}");
    assert!(dir.join("state/pr.md").exists());
    assert!(r1
        .render()
        .contains("danefail pull request: branch danemine/"));

    // the flip MX is fixed: the next run removes it; the mismatching one stays
    fixed.store(true, Ordering::SeqCst);
    let r2 = nightly::run(
        &cfg,
        &RunOptions {
            now: now + 3600,
            ..RunOptions::default()
        },
        Some(&mut verifier),
    )
    .unwrap();
    assert!(r2.verify_error.is_none(), "{:?}", r2.verify_error);
    let policy = std::fs::read_to_string(dir.join("out/dane_exclusions")).unwrap();
    let keys: Vec<&str> = policy
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(keys, ["mismatch.dane.test may"], "{policy}");
    assert!(
        std::fs::read_to_string(dir.join("out/dane_exclusions.prev"))
            .unwrap()
            .contains("flip.dane.test may")
    );

    // a replay of old logs (`--now` in 2018): the live confirmations count at the run's time
    let old = dir.join("replay");
    std::fs::create_dir_all(old.join("logs")).unwrap();
    let base = 1_535_760_000; // 2018-09-01
    let mut log = String::new();
    for day in 0..2 {
        log.push_str(&failures_from(
            base,
            "mismatch.dane.test",
            "mx-mismatch.dane.test",
            3,
            day,
        ));
    }
    std::fs::write(old.join("logs/mail.log"), &log).unwrap();
    std::fs::write(old.join("nightly.toml"), &toml).unwrap();
    let cfg = Config::load(&old.join("nightly.toml")).unwrap();
    let r3 = nightly::run(
        &cfg,
        &RunOptions {
            now: base + 3 * 86_400,
            ..RunOptions::default()
        },
        Some(&mut verifier),
    )
    .unwrap();
    assert!(
        r3.changes
            .iter()
            .any(|c| c.to_string().starts_with("added mismatch.dane.test")),
        "{:?}",
        r3.changes
    );
}
