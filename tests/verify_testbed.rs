//! Live re-verification against real servers on loopback: knot (signed zones under `test.`),
//! unbound (validating, test trust anchor), one Postfix instance with STARTTLS listeners, and
//! misbehaving listeners (no STARTTLS, tarpit, reset after STARTTLS, garbage, endless line).
//! Every scenario must get its verdict in both DNS modes. Needs root and the packages of
//! .ci/packages; without them the test fails with the test bed's message.

use danemine::verify::smtp::{client_config, probe, Probe};
use danemine::verify::{verify_domains_blocking, DnsMode, VerifyOptions, VerifyVerdict};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod common;

struct Bed {
    dir: PathBuf,
}

impl Bed {
    fn up(dir: &Path) -> Bed {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/up.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir)
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "test bed did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Bed {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/down.sh");
        let _ = Command::new("bash").arg(script).arg(&self.dir).status();
    }
}

/// Misbehaving SMTP listeners, each in its own thread, for as long as the test runs.
fn listener(addr: &str, behave: fn(std::net::TcpStream)) {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || behave(s));
        }
    });
}

fn no_starttls(mut s: std::net::TcpStream) {
    let _ = s.write_all(b"220 plain.test ESMTP\r\n");
    if common::read_line(&mut s) {
        let _ = s.write_all(b"250-plain.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    }
    common::read_line(&mut s);
}

fn refuse_at_greeting(mut s: std::net::TcpStream) {
    let _ = s.write_all(b"554 5.7.1 client host blocked\r\n");
    common::read_line(&mut s);
}

fn tarpit(s: std::net::TcpStream) {
    std::thread::sleep(Duration::from_secs(20));
    drop(s);
}

fn reset_after_starttls(mut s: std::net::TcpStream) {
    let _ = s.write_all(b"220 reset.test ESMTP\r\n");
    if common::read_line(&mut s) {
        let _ = s.write_all(b"250-reset.test\r\n250 STARTTLS\r\n");
    }
    if common::read_line(&mut s) {
        let _ = s.write_all(b"220 go ahead\r\n");
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
}

fn garbage(mut s: std::net::TcpStream) {
    let _ = s.write_all(&[0x16, 0x03, 0x01, 0xff, 0x00, 0x9c, b'\n', 0xfe, 0xfa]);
    std::thread::sleep(Duration::from_millis(200));
}

fn endless(mut s: std::net::TcpStream) {
    let chunk = [b'2'; 4096];
    for _ in 0..2000 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
}

/// STARTTLS, then a handshake presenting a chain far larger than any real one (a certificate
/// with 1,000 names and 100 copies of it: about 3 MB).
fn huge_certificate_server(addr: &str) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = (0..1000)
        .map(|i| format!("name{i}.huge.example.test"))
        .collect();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    let chain: Vec<_> = std::iter::repeat_n(der, 100).collect();
    let pk = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let cfg = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, pk)
        .unwrap(),
    );
    let l = TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let _ = s.write_all(b"220 huge.test ESMTP\r\n");
                if common::read_line(&mut s) {
                    let _ = s.write_all(b"250-huge.test\r\n250 STARTTLS\r\n");
                }
                if common::read_line(&mut s) {
                    let _ = s.write_all(b"220 go ahead\r\n");
                }
                let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, s);
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// What [`dnskey_proxy`] does to the DNSKEY queries for flaky.test.
#[derive(Clone, Copy)]
enum KeyPolicy {
    /// Loses the first (a lost packet).
    DropFirst,
    /// Loses them all (a network that drops them, or a server that never answers them).
    DropAll,
    /// Answers them with this response code (2 SERVFAIL, 5 REFUSED).
    Rcode(u8),
}

/// A DNS proxy on loopback in front of knot (127.0.53.1:53) that passes every query but the
/// DNSKEY queries for flaky.test, which it treats by `policy`.
fn dnskey_proxy(policy: KeyPolicy) -> SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.53.2:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut dropped = 0;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = buf[..n].to_vec();
            // the question's name and type
            let (mut i, mut name) = (12, Vec::new());
            while let Some(&len) = q.get(i).filter(|&&l| l > 0) {
                name.extend_from_slice(q.get(i + 1..i + 1 + len as usize).unwrap_or_default());
                name.push(b'.');
                i += 1 + len as usize;
            }
            let qtype = q
                .get(i + 1..i + 3)
                .map(|t| u16::from_be_bytes([t[0], t[1]]));
            if qtype == Some(48) && name.eq_ignore_ascii_case(b"flaky.test.") {
                match policy {
                    KeyPolicy::DropFirst if dropped == 0 => {
                        dropped += 1;
                        continue;
                    }
                    KeyPolicy::DropFirst => {}
                    KeyPolicy::DropAll => continue,
                    KeyPolicy::Rcode(code) => {
                        let mut r = q.clone();
                        r[2] |= 0x80;
                        r[3] = (r[3] & 0xf0) | code;
                        let _ = sock.send_to(&r, from);
                        continue;
                    }
                }
            }
            let back = sock.try_clone().unwrap();
            std::thread::spawn(move || {
                let up = std::net::UdpSocket::bind("127.0.53.2:0").unwrap();
                up.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let _ = up.send_to(&q, "127.0.53.1:53");
                let mut r = [0u8; 4096];
                if let Ok((m, _)) = up.recv_from(&mut r) {
                    let _ = back.send_to(&r[..m], from);
                }
            });
        }
    });
    addr
}

fn opts(dns: DnsMode) -> VerifyOptions {
    VerifyOptions {
        dns,
        port: 2525,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(3),
        dns_timeout: Duration::from_secs(2),
        concurrency: 16,
        ..VerifyOptions::default()
    }
}

#[test]
fn every_scenario_in_both_dns_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let bed = Bed::up(&tmp.path().join("bed"));
    listener("127.0.62.1:2525", no_starttls);
    listener("127.0.62.2:2525", tarpit);
    listener("127.0.62.3:2525", reset_after_starttls);
    listener("127.0.62.4:2525", garbage);
    listener("127.0.62.5:2525", endless);
    listener("127.0.62.10:2525", refuse_at_greeting);
    huge_certificate_server("127.0.62.7:2525");

    let scenarios: &[(&str, VerifyVerdict)] = &[
        ("ee.dane.test", VerifyVerdict::DaneOk), // DANE-EE 3 1 1
        ("ta.dane.test", VerifyVerdict::DaneOk), // DANE-TA 2 0 1 with name check
        ("mismatch.dane.test", VerifyVerdict::CertMismatch),
        // PKIX-TA/EE only, TLS works: mandatory TLS without authentication (RFC 7672 §2.2)
        ("usage01.dane.test", VerifyVerdict::NotDane),
        ("u01dead.dane.test", VerifyVerdict::Unreachable), // the same, nothing listening
        ("cnins.dane.test", VerifyVerdict::NotDane),       // MX host an insecure CNAME (§2.2.2)
        ("big.dane.test", VerifyVerdict::CertMismatch),    // 40 TLSA records: over TCP
        ("bigok.dane.test", VerifyVerdict::DaneOk),
        ("nullmx.dane.test", VerifyVerdict::NotDane), // RFC 7505: no mail, no fallback
        // MX host a secure alias: TLSA at the CNAME target, the DANE-TA name check against it
        ("alias.dane.test", VerifyVerdict::DaneOk),
        // MX host under a signed DNAME: its synthesized CNAME is unsigned (RFC 6672)
        ("dn.dane.test", VerifyVerdict::DaneOk),
        ("dnbad.dane.test", VerifyVerdict::Dnssec), // the DNAME's target forged
        ("dn2.dane.test", VerifyVerdict::DaneOk),   // two labels below the DNAME
        // two DNAMEs that name each other: no answer, so nothing confirmed
        ("dnloop.dane.test", VerifyVerdict::Unreachable),
        ("gr554.dane.test", VerifyVerdict::Unreachable), // 554 greeting: not no-starttls
        ("notlsa.dane.test", VerifyVerdict::NotDane),
        ("twomx.dane.test", VerifyVerdict::Partial), // one MX fine, one mismatching
        ("nostarttls.dane.test", VerifyVerdict::NoStarttls),
        ("tarpit.dane.test", VerifyVerdict::Unreachable),
        ("reset.dane.test", VerifyVerdict::TlsFailure),
        ("badsig.test", VerifyVerdict::Dnssec), // tampered RRSIG
        ("expired.test", VerifyVerdict::Dnssec), // expired signatures
        ("wrongds.test", VerifyVerdict::Dnssec), // DS of another key
        ("unsigned.test", VerifyVerdict::NotDane), // insecure delegation
        // NSEC3 denials of 150 iterations, which hickory calls insecure: not bogus
        ("iter.test", VerifyVerdict::NotDane),
    ];
    let domains: Vec<String> = scenarios.iter().map(|s| s.0.to_string()).collect();
    let modes = [
        (
            "in-process validation",
            DnsMode::Validate {
                trust_anchor: Some(bed.dir.join("test.dnskey")),
                nameserver: Some("127.0.53.1:53".parse().unwrap()),
            },
        ),
        (
            "AD bit of unbound",
            DnsMode::TrustAd {
                resolver: "127.0.60.1:5301".parse().unwrap(),
            },
        ),
        // bogus answers come as SERVFAIL without a reason: told from an outage by asking
        // again with checking disabled
        (
            "AD bit of unbound without extended errors",
            DnsMode::TrustAd {
                resolver: "127.0.60.2:5301".parse().unwrap(),
            },
        ),
    ];
    for (label, mode) in modes {
        let reports = verify_domains_blocking(&domains, &opts(mode)).unwrap();
        for ((d, want), r) in scenarios.iter().zip(&reports) {
            assert_eq!(&r.domain, d);
            assert_eq!(
                r.verdict,
                *want,
                "{label}: {d}: {}",
                serde_json::to_string_pretty(r).unwrap()
            );
        }
        // evidence: the presented key's digest equals the TLSA data, and DNSSEC statuses
        let ee = &reports[0];
        let addr = &ee.mx[0].addresses[0];
        let env = std::fs::read_to_string(bed.dir.join("env")).unwrap();
        let ee311 = env.lines().find_map(|l| l.strip_prefix("EE311=")).unwrap();
        assert_eq!(addr.spki_sha256.as_deref(), Some(ee311), "{label}");
        assert_eq!(
            serde_json::to_value(&ee.mx[0].tlsa[0]).unwrap()["data"],
            ee311
        );
        assert_eq!(serde_json::to_value(ee.mx_dnssec).unwrap(), "secure");
        let unsigned = reports
            .iter()
            .find(|r| r.domain == "unsigned.test")
            .unwrap();
        assert_eq!(
            serde_json::to_value(unsigned.mx_dnssec).unwrap(),
            "insecure"
        );
    }

    // Validating in-process, DNSKEY queries that are lost are no proof of anything: one lost
    // is asked again, all lost is no answer (nothing confirmed). DNSKEY queries answered with
    // an error are bogus, as a validating resolver makes them (it fails the answer, and gives
    // it with checking disabled).
    let flaky = ["flaky.test".to_string()];
    for (policy, want) in [
        (KeyPolicy::DropFirst, VerifyVerdict::DaneOk),
        (KeyPolicy::DropAll, VerifyVerdict::Unreachable),
        (KeyPolicy::Rcode(2), VerifyVerdict::Dnssec),
        (KeyPolicy::Rcode(5), VerifyVerdict::Dnssec),
    ] {
        let mode = DnsMode::Validate {
            trust_anchor: Some(bed.dir.join("test.dnskey")),
            nameserver: Some(dnskey_proxy(policy)),
        };
        let o = VerifyOptions {
            dns_timeout: Duration::from_secs(1),
            ..opts(mode)
        };
        let r = &verify_domains_blocking(&flaky, &o).unwrap()[0];
        assert_eq!(
            r.verdict,
            want,
            "{}",
            serde_json::to_string_pretty(r).unwrap()
        );
    }
    // and unbound sees flaky.test as it is: fine
    let ad = opts(DnsMode::TrustAd {
        resolver: "127.0.60.1:5301".parse().unwrap(),
    });
    let r = &verify_domains_blocking(&flaky, &ad).unwrap()[0];
    assert_eq!(r.verdict, VerifyVerdict::DaneOk);

    // a sender that refuses hosts without usable TLSA records (Postfix `dane-only`)
    let refusing = VerifyOptions {
        unusable_tlsa_refuses: true,
        ..opts(DnsMode::TrustAd {
            resolver: "127.0.60.1:5301".parse().unwrap(),
        })
    };
    let doms = ["usage01.dane.test", "u01dead.dane.test"].map(String::from);
    let reports = verify_domains_blocking(&doms, &refusing).unwrap();
    assert_eq!(reports[0].verdict, VerifyVerdict::TlsaUnusable);
    assert_eq!(reports[1].verdict, VerifyVerdict::Unreachable);

    // the CLI: JSON output and exit codes (1 when failures are found)
    let bin = env!("CARGO_BIN_EXE_danemine");
    let out = Command::new(bin)
        .args([
            "verify",
            "--format",
            "json",
            "--port",
            "2525",
            "--timeout",
            "2",
            "--resolver",
            "127.0.60.1:5301",
            "ee.dane.test",
            "mismatch.dane.test",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["domain"], "ee.dane.test");
    assert_eq!(v[0]["verdict"], "dane-ok");
    assert_eq!(v[1]["verdict"], "cert-mismatch");
    assert!(v[1]["mx"][0]["addresses"][0]["cert_sha256"].is_string());
    let out = Command::new(bin)
        .args(["verify", "--port", "2525", "--trust-anchor"])
        .arg(bed.dir.join("test.dnskey"))
        .args(["--nameserver", "127.0.53.1:53", "ta.dane.test"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("matched at depth 1"));
    // reverify from a compare JSON
    let cand = tmp.path().join("cands.json");
    std::fs::write(
        &cand,
        r#"{"failing": 1, "domains": {"failing": ["badsig.test"]}}"#,
    )
    .unwrap();
    let out = Command::new(bin)
        .args([
            "reverify",
            "--format",
            "json",
            "--port",
            "2525",
            "--resolver",
            "127.0.60.1:5301",
            "--candidates",
        ])
        .arg(&cand)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["verdict"], "dnssec");

    // garbage from servers: clear verdicts, bounded memory, no panic
    let cfg = client_config().unwrap();
    let p = |a: &str| {
        let addr: SocketAddr = a.parse().unwrap();
        probe(
            addr,
            "mx.test",
            "danemine.test",
            &cfg,
            Duration::from_secs(2),
            Duration::from_secs(1),
            Duration::from_secs(3),
        )
    };
    assert!(
        matches!(p("127.0.62.4:2525"), Probe::Unreachable(d) if d.contains("not an SMTP reply"))
    );
    assert!(matches!(p("127.0.62.5:2525"), Probe::Unreachable(d) if d.contains("too long")));
    assert!(matches!(p("127.0.62.2:2525"), Probe::Unreachable(_)));
    let huge = p("127.0.62.7:2525");
    assert!(
        matches!(&huge, Probe::TlsFailure(d) if d.contains("handshake")),
        "{huge:?}"
    );
}
