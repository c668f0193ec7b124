//! The SMTP STARTTLS probe (`danemine::verify::smtp::probe`) against small misbehaving servers on
//! ephemeral loopback ports. The rule these tests hold: only what proves a DANE failure gives a
//! confirming verdict (`NoStarttls`, `TlsFailure`); network trouble, policy rejections and the
//! verifier's own limitations give `Unreachable` with a detail saying what happened.

use danemine::verify::smtp::{client_config, probe, Probe};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

/// A listener on an ephemeral loopback port; every connection is handled by `behave`.
fn serve(behave: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || behave(s));
        }
    });
    a
}

/// Greeting, EHLO offering STARTTLS, STARTTLS accepted: the socket is ready for TLS.
fn starttls_accepted(s: &mut TcpStream) -> bool {
    let _ = s.write_all(b"220 tls.test ESMTP\r\n");
    if !common::read_line(s) {
        return false;
    }
    let _ = s.write_all(b"250-tls.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    if !common::read_line(s) {
        return false;
    }
    s.write_all(b"220 2.0.0 Ready to start TLS\r\n").is_ok()
}

/// Greeting, `ehlo` as the reply to EHLO, `reply` to the next command (STARTTLS), then wait
/// for the client to go.
fn answer_starttls(s: &mut TcpStream, ehlo: &[u8], reply: &[u8]) {
    let _ = s.write_all(b"220 test ESMTP\r\n");
    if common::read_line(s) {
        let _ = s.write_all(ehlo);
    }
    if common::read_line(s) {
        let _ = s.write_all(reply);
    }
    common::read_line(s);
}

const DEADLINE: Duration = Duration::from_secs(3);

/// Probe with a 2 s connect timeout, 1 s read timeout and a 3 s deadline.
fn run(a: SocketAddr) -> (Probe, Duration) {
    let cfg = client_config().unwrap();
    let t = Instant::now();
    let p = probe(
        a,
        "mx.example.test",
        "danemine.invalid",
        &cfg,
        Duration::from_secs(2),
        Duration::from_secs(1),
        DEADLINE,
    );
    (p, t.elapsed())
}

fn unreachable_containing(p: &Probe, what: &str) -> bool {
    matches!(p, Probe::Unreachable(d) if d.contains(what))
}

// ---------------------------------------------------------------- before STARTTLS

/// A server refusing the prober at the greeting (blocklisted source, rate limit, "554 no SMTP
/// service here") says nothing about STARTTLS: not `no-starttls`.
#[test]
fn greeting_554_is_unreachable() {
    let a = serve(|mut s| {
        let _ = s.write_all(
            b"554 5.7.1 Service unavailable; client [127.0.0.1] blocked using zen.spamhaus.org\r\n",
        );
        common::read_line(&mut s);
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "greeting 554"), "{p:?}");
}

/// A 421 greeting (too many connections, try later): network-level trouble.
#[test]
fn greeting_421_is_unreachable() {
    let a = serve(|mut s| {
        let _ = s.write_all(b"421 4.7.0 busy.test Error: too many connections\r\n");
        common::read_line(&mut s);
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "greeting 421"), "{p:?}");
}

/// EHLO answered late (tarpit) or not at all: a network condition.
#[test]
fn ehlo_timeout_is_unreachable() {
    let a = serve(|mut s| {
        let _ = s.write_all(b"220 slow.test ESMTP\r\n");
        common::read_line(&mut s);
        std::thread::sleep(Duration::from_secs(5));
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "EHLO"), "{p:?}");
}

/// Connection dropped right after EHLO.
#[test]
fn ehlo_connection_closed_is_unreachable() {
    let a = serve(|mut s| {
        let _ = s.write_all(b"220 drop.test ESMTP\r\n");
        common::read_line(&mut s);
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "connection closed"), "{p:?}");
}

/// EHLO refused because of the prober's EHLO name (reject_unknown_helo_hostname at EHLO time):
/// a policy rejection of the prober, not a missing STARTTLS.
#[test]
fn ehlo_550_is_unreachable() {
    let a = serve(|mut s| {
        let _ = s.write_all(b"220 strict.test ESMTP\r\n");
        if common::read_line(&mut s) {
            let _ = s.write_all(
                b"550 5.7.1 <danemine.invalid>: Helo command rejected: Host not found\r\n",
            );
        }
        common::read_line(&mut s);
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "EHLO"), "{p:?}");
    assert!(unreachable_containing(&p, "550"), "{p:?}");
}

/// Only a successful EHLO whose extensions lack STARTTLS proves "STARTTLS not offered"
/// (RFC 7672 §2.2); a slow multi-line greeting within the timeouts is fine.
#[test]
fn ehlo_250_without_starttls_is_no_starttls() {
    let a = serve(|mut s| {
        for l in [
            &b"220-slow.test ESMTP\r\n"[..],
            b"220-please wait\r\n",
            b"220 ready\r\n",
        ] {
            let _ = s.write_all(l);
            std::thread::sleep(Duration::from_millis(300));
        }
        if common::read_line(&mut s) {
            let _ = s.write_all(b"250-slow.test\r\n250-SIZE 1000\r\n250 PIPELINING\r\n");
        }
        common::read_line(&mut s);
    });
    let (p, _) = run(a);
    assert!(
        matches!(&p, Probe::NoStarttls(d) if d == "STARTTLS not offered"),
        "{p:?}"
    );
}

/// STARTTLS offered, then refused with 454 (RFC 3207 §4 "TLS not available due to temporary
/// reason"; what Postfix's smtpd answers when its own TLS setup is broken). Postfix defers DANE
/// mail ("TLS is required, but host refused to start TLS"): a STARTTLS failure.
#[test]
fn starttls_454_is_no_starttls() {
    let a = serve(|mut s| {
        answer_starttls(
            &mut s,
            b"250-broken.test\r\n250 STARTTLS\r\n",
            b"454 4.7.0 TLS not available due to local problem\r\n",
        )
    });
    let (p, _) = run(a);
    assert!(
        matches!(&p, Probe::NoStarttls(d) if d.contains("454")),
        "{p:?}"
    );
}

/// Bytes after the reply to STARTTLS (pipelined garbage, or injected on the way) are not read
/// as TLS, and prove nothing about the server's TLS.
#[test]
fn data_after_starttls_reply_is_unreachable() {
    let a = serve(|mut s| {
        answer_starttls(
            &mut s,
            b"250-pipelined.test\r\n250 STARTTLS\r\n",
            b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n",
        )
    });
    let (p, _) = run(a);
    assert!(
        unreachable_containing(&p, "data after the STARTTLS reply"),
        "{p:?}"
    );
}

/// A 421 to STARTTLS is the server closing the channel (shutdown, overload; RFC 5321 §3.8 allows
/// it for any command), nothing specific to TLS.
#[test]
fn starttls_421_is_unreachable() {
    let a = serve(|mut s| {
        answer_starttls(
            &mut s,
            b"250-closing.test\r\n250 STARTTLS\r\n",
            b"421 4.3.2 Service shutting down\r\n",
        )
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "421"), "{p:?}");
}

/// An extension keyword is the first word of its line: "STARTTLS" with a parameter is offered
/// (as Postfix parses EHLO replies), so the probe goes on to send STARTTLS.
#[test]
fn starttls_keyword_with_parameter_is_offered() {
    let a = serve(|mut s| {
        answer_starttls(
            &mut s,
            b"250-param.test\r\n250 starttls x\r\n",
            b"454 4.7.0 TLS not available due to local problem\r\n",
        )
    });
    let (p, _) = run(a);
    assert!(
        matches!(&p, Probe::NoStarttls(d) if d.contains("STARTTLS refused: 454")),
        "{p:?}"
    );
}

// ---------------------------------------------------------------- TLS

/// After STARTTLS the server trickles the handshake one byte every 0.5 s (under the 1 s read
/// timeout) for 12 s: the 3 s deadline must still hold, and a probe past its deadline is not a
/// TLS failure.
#[test]
fn tls_trickle_respects_deadline() {
    let a = serve(|mut s| {
        if !starttls_accepted(&mut s) {
            return;
        }
        // a handshake record header announcing 16 KB, then one byte at a time
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
        for _ in 0..24 {
            std::thread::sleep(Duration::from_millis(500));
            if s.write_all(&[0x00]).is_err() {
                return;
            }
        }
    });
    let (p, took) = run(a);
    assert!(
        took < DEADLINE + Duration::from_secs(2),
        "probe took {took:?} with a {DEADLINE:?} deadline: {p:?}"
    );
    assert!(unreachable_containing(&p, "timed out"), "{p:?}");
}

/// STARTTLS accepted, then silence: a tarpit, not a TLS failure.
#[test]
fn tls_silent_server_is_unreachable() {
    let a = serve(|mut s| {
        if starttls_accepted(&mut s) {
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let (p, took) = run(a);
    assert!(took < DEADLINE + Duration::from_secs(2), "{took:?}");
    assert!(unreachable_containing(&p, "timed out"), "{p:?}");
}

/// Plain text where the ServerHello should be: a genuine TLS failure.
#[test]
fn tls_garbage_is_tls_failure() {
    let a = serve(|mut s| {
        if starttls_accepted(&mut s) {
            common::read_line(&mut s);
            let _ = s.write_all(b"500 5.5.1 what is this\r\n");
            common::read_line(&mut s);
        }
    });
    let (p, _) = run(a);
    assert!(
        matches!(&p, Probe::TlsFailure(d) if d.contains("handshake")),
        "{p:?}"
    );
}

/// The server closes the connection on the ClientHello: a genuine TLS failure.
#[test]
fn tls_closed_in_handshake_is_tls_failure() {
    let a = serve(|mut s| {
        if starttls_accepted(&mut s) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    });
    let (p, _) = run(a);
    assert!(
        matches!(&p, Probe::TlsFailure(d) if d.contains("handshake")),
        "{p:?}"
    );
}

fn rustls_server(versions: &[&'static rustls::SupportedProtocolVersion]) -> (SocketAddr, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mx.example.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    let pk = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone().into()], pk)
        .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                if !starttls_accepted(&mut s) {
                    return;
                }
                let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, s);
                let _ = tls.write_all(b"220 tls.test ESMTP\r\n");
                let mut b = [0u8; 64];
                let _ = tls.read(&mut b);
            });
        }
    });
    (a, der)
}

/// A working STARTTLS server, TLS 1.3 and TLS 1.2: the chain is captured.
#[test]
fn tls_ok_captures_the_chain() {
    for (v, name) in [
        (&rustls::version::TLS13, "TLSv1_3"),
        (&rustls::version::TLS12, "TLSv1_2"),
    ] {
        let (a, der) = rustls_server(&[v]);
        let (p, _) = run(a);
        match p {
            Probe::Tls { chain, protocol } => {
                assert_eq!(chain, vec![der]);
                assert_eq!(protocol, name);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// `openssl s_server` for a TLS 1.2 server with RSA key exchange and CBC only (AES256-SHA), as
/// old MTAs offer: Postfix (OpenSSL) connects and DANE-verifies it, rustls cannot. Killed on drop.
struct OpensslServer {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl_cbc_server() -> Option<OpensslServer> {
    if Command::new("openssl").arg("version").output().is_err() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=mx.example.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl req failed");
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", "127.0.0.1:0", "-tls1_2"])
        .args(["-cipher", "AES256-SHA", "-www", "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    let mut l = String::new();
    while out.read_line(&mut l).unwrap_or(0) > 0 {
        if let Some(a) = l.trim().strip_prefix("ACCEPT ") {
            addr = a.parse().ok();
            break;
        }
        l.clear();
    }
    // keep draining its output so that it never blocks on a full pipe
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let server = OpensslServer {
        child,
        addr: addr.expect("openssl s_server printed no ACCEPT line"),
        _dir: dir,
    };
    Some(server)
}

/// A TLS 1.2 RSA-key-exchange CBC-only server (AES256-SHA) negotiates with Postfix's OpenSSL but
/// not with rustls (no CBC, no RSA key exchange): the verifier's own limitation, so not a
/// `tls-failure`. The SMTP part is spoken here, the TLS bytes are relayed to `openssl s_server`.
#[test]
fn cbc_only_server_is_not_tls_failure() {
    let Some(ossl) = openssl_cbc_server() else {
        eprintln!("cbc_only_server_is_not_tls_failure: no `openssl` binary installed: skipped");
        return;
    };
    let upstream = ossl.addr;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                if !starttls_accepted(&mut s) {
                    return;
                }
                let Ok(up) = TcpStream::connect(upstream) else {
                    return;
                };
                let (mut s2, mut up2) = (s.try_clone().unwrap(), up.try_clone().unwrap());
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up2, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let mut up = up;
                let _ = std::io::copy(&mut s, &mut up);
                let _ = up.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
            });
        }
    });
    let (p, _) = run(a);
    assert!(unreachable_containing(&p, "not negotiable"), "{p:?}");
    drop(ossl);
}

/// A server with a rustls TLS stack behind a plain STARTTLS dialogue, presenting `cert_der`.
fn serve_certificate(cert_der: Vec<u8>, key_der: Vec<u8>) -> SocketAddr {
    #[derive(Debug)]
    struct Fixed(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let key = rustls::pki_types::PrivateKeyDer::try_from(key_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signer = provider.key_provider.load_private_key(key).unwrap();
    let certified = rustls::sign::CertifiedKey::new(vec![cert_der.into()], signer);
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(Arc::new(certified)))),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                if !starttls_accepted(&mut s) {
                    return;
                }
                let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, s);
                let _ = tls.write_all(b"220 ready\r\n");
                let mut b = [0u8; 64];
                let _ = tls.read(&mut b);
            });
        }
    });
    a
}

/// A certificate with an unknown critical extension, which webpki refuses to parse: OpenSSL
/// (so Postfix) reads it, and a DANE-EE match looks at its key alone. The handshake's
/// signature is checked with that key, and the chain is captured for the match.
#[test]
fn unknown_critical_extension_still_gives_the_chain() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["mx.example.test".to_string()]).unwrap();
    let mut ext =
        rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
    ext.set_criticality(true);
    p.custom_extensions.push(ext);
    let cert = p.self_signed(&key).unwrap().der().to_vec();
    let a = serve_certificate(cert.clone(), key.serialize_der());
    let (p, _) = run(a);
    assert!(
        matches!(&p, Probe::Tls { chain, .. } if chain.first() == Some(&cert)),
        "{p:?}"
    );
}

/// End of the question section of DNS message `b`.
fn question_end(b: &[u8]) -> usize {
    let mut i = 12;
    while b[i] != 0 {
        i += 1 + b[i] as usize;
    }
    i + 1 + 4
}

/// A validating resolver (AD bit) on UDP only, nothing on TCP: `udp.test` has MX `mx.udp.test`
/// at 127.0.0.1, and its TLSA answer is truncated (TC, no records), as a TLSA RRset too large
/// for UDP comes.
fn udp_only_resolver() -> SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            let e = question_end(q);
            let qtype = u16::from_be_bytes([q[e - 4], q[e - 3]]);
            let mut r = q[..e].to_vec();
            r[2] = 0x80 | (q[2] & 0x01); // a response, RD as asked
            r[3] = 0x80 | 0x20; // RA, AD, NOERROR
            r[6..12].fill(0);
            let mut answer = |rtype: u16, rdata: &[u8]| {
                r.extend_from_slice(&[0xc0, 0x0c]);
                r.extend_from_slice(&rtype.to_be_bytes());
                r.extend_from_slice(&[0, 1, 0, 0, 1, 0]);
                r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                r.extend_from_slice(rdata);
                r[7] += 1;
            };
            match qtype {
                15 => answer(15, b"\x00\x0a\x02mx\x03udp\x04test\x00"),
                1 => answer(1, &[127, 0, 0, 1]),
                52 => r[2] |= 0x02, // TC, no records
                _ => {}
            }
            let _ = sock.send_to(&r, from);
        }
    });
    addr
}

/// A TLSA answer that needs TCP, from a resolver that allows only UDP: the verifier's own
/// resolver failed, not the receiver's DNS, so not `dnssec`.
#[test]
fn tlsa_truncated_and_no_tcp_is_unreachable() {
    use danemine::verify::{verify_domains_blocking, DnsMode, VerifyOptions, VerifyVerdict};
    let o = VerifyOptions {
        dns: DnsMode::TrustAd {
            resolver: udp_only_resolver(),
        },
        dns_timeout: Duration::from_secs(2),
        ..VerifyOptions::default()
    };
    let r = verify_domains_blocking(&["udp.test".to_string()], &o).unwrap();
    assert_eq!(r[0].verdict, VerifyVerdict::Unreachable, "{:?}", r[0]);
    assert!(r[0].mx[0].detail.contains("over TCP"), "{:?}", r[0]);
}
