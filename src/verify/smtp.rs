//! SMTP STARTTLS probe: connect, read the greeting, EHLO, STARTTLS, TLS handshake with SNI =
//! the MX host name, and capture the presented chain. Everything a server sends is bounded
//! (line length, reply size, total time), so a broken or hostile server gets a verdict, never
//! unbounded memory or a hang.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    SignatureScheme,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest reply line accepted (RFC 5321 allows 512; servers exceed it a little).
pub const MAX_LINE: usize = 2048;
/// Most lines in one multi-line reply.
pub const MAX_LINES: usize = 100;

/// A parsed SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The connection closed before a complete reply.
    Closed,
    /// A line was longer than [`MAX_LINE`] or the reply had more than [`MAX_LINES`] lines.
    TooLong,
    /// A line did not start with a three-digit code followed by space or hyphen, or the codes of
    /// a multi-line reply differ.
    Garbage(String),
}

/// Incremental SMTP reply parser over a byte buffer (fuzzed with proptest).
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    lines: Vec<String>,
    code: Option<u16>,
}

impl ReplyParser {
    /// Feed bytes; returns a complete reply, an error, or `None` when more bytes are needed.
    /// Bytes after the reply's last line stay buffered (see [`ReplyParser::pending`]).
    pub fn feed(&mut self, data: &[u8]) -> Option<Result<Reply, ReplyError>> {
        self.buf.extend_from_slice(data);
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE {
                    return Some(Err(ReplyError::TooLong));
                }
                return None;
            };
            if nl > MAX_LINE {
                return Some(Err(ReplyError::TooLong));
            }
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
                return Some(Err(ReplyError::Garbage(
                    String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned(),
                )));
            }
            let code = (line[0] - b'0') as u16 * 100
                + (line[1] - b'0') as u16 * 10
                + (line[2] - b'0') as u16;
            if self.code.is_some_and(|c| c != code) {
                return Some(Err(ReplyError::Garbage(format!(
                    "code changed within a reply: {code}"
                ))));
            }
            self.code = Some(code);
            let sep = line.get(3).copied();
            let text = String::from_utf8_lossy(line.get(4..).unwrap_or(&[])).into_owned();
            self.lines.push(text);
            if self.lines.len() > MAX_LINES {
                return Some(Err(ReplyError::TooLong));
            }
            match sep {
                Some(b'-') => continue,
                Some(b' ') | None => {
                    let r = Reply {
                        code,
                        lines: std::mem::take(&mut self.lines),
                    };
                    self.code = None;
                    return Some(Ok(r));
                }
                Some(_) => {
                    return Some(Err(ReplyError::Garbage(
                        "no space or hyphen after the code".into(),
                    )))
                }
            }
        }
    }

    /// Bytes received after the last complete reply.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// What the probe of one address found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Nothing proven about DANE: the connection failed, the greeting or EHLO was refused,
    /// dropped or timed out, the deadline passed, or the TLS handshake failed in a way that can
    /// be this verifier's own limitation. The text says which.
    Unreachable(String),
    /// A successful EHLO reply without STARTTLS, or STARTTLS refused after it was offered.
    NoStarttls(String),
    /// STARTTLS offered, then the server dropped the connection or garbled its reply at
    /// STARTTLS, or the TLS handshake failed (not for lack of time, and not for lack of a
    /// version or suite rustls has).
    TlsFailure(String),
    /// TLS established; the chain presented (end entity first) and the protocol.
    Tls {
        chain: Vec<Vec<u8>>,
        protocol: String,
    },
}

/// Accepts any chain (DANE decides), but still checks that the server holds the key.
#[derive(Debug)]
struct CaptureVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for CaptureVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs).or_else(|e| {
            lenient(e, cert, |spki| {
                let key = webpki::RawPublicKeyEntity::try_from(spki).ok()?;
                let (_, candidates) = algs.mapping.iter().find(|m| m.0 == dss.scheme)?;
                // TLS 1.2 names no single algorithm: any that fits the key
                candidates
                    .iter()
                    .any(|alg| key.verify_signature(*alg, message, dss.signature()).is_ok())
                    .then(HandshakeSignatureValid::assertion)
            })
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs).or_else(|e| {
            lenient(e, cert, |spki| {
                rustls::crypto::verify_tls13_signature_with_raw_key(message, spki, dss, algs).ok()
            })
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration that captures the chain.
pub fn client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaptureVerifier(provider)))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The handshake signature checked again with nothing but the certificate's key, when webpki
/// refused the certificate itself (`strict`: an unknown critical extension, X.509 v1, ...):
/// OpenSSL, so Postfix, reads such a certificate, and a DANE-EE match looks at its key alone.
/// A signature that is wrong (`BadSignature`) stays wrong; so does anything `check` rejects.
fn lenient(
    strict: rustls::Error,
    cert: &CertificateDer<'_>,
    check: impl FnOnce(
        &rustls::pki_types::SubjectPublicKeyInfoDer<'_>,
    ) -> Option<HandshakeSignatureValid>,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if matches!(
        strict,
        rustls::Error::InvalidCertificate(CertificateError::BadSignature)
    ) {
        return Err(strict);
    }
    let Some(spki) = super::tlsa::spki(cert.as_ref()) else {
        return Err(strict);
    };
    check(&rustls::pki_types::SubjectPublicKeyInfoDer::from(
        spki.as_slice(),
    ))
    .ok_or(strict)
}

/// Time left before `deadline`, at most `per_op`; `None` once the deadline has passed. Every
/// blocking read and write gets this as its socket timeout, so the probe ends by its deadline
/// (give or take scheduling) however slowly a server sends.
fn budget(deadline: Instant, per_op: Duration) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() || per_op.is_zero() {
        return None;
    }
    Some(left.min(per_op))
}

/// A socket read or write timed out (Linux reports SO_RCVTIMEO as EAGAIN).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

/// An I/O error for a detail text: timeouts say so in words, not as "os error 11".
fn io_text(e: &io::Error) -> String {
    if is_timeout(e) && e.get_ref().is_none() {
        "timed out".into()
    } else {
        e.to_string()
    }
}

struct Conn {
    sock: TcpStream,
    parser: ReplyParser,
    deadline: Instant,
    read_timeout: Duration,
}

impl Conn {
    /// Set the socket's read and write timeouts to what is left of the probe's time.
    fn arm(&self) -> io::Result<()> {
        let t = budget(self.deadline, self.read_timeout)
            .ok_or_else(|| timed_out("(probe deadline passed)"))?;
        self.sock.set_read_timeout(Some(t))?;
        self.sock.set_write_timeout(Some(t))
    }

    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.arm()?;
        self.sock.write_all(data)
    }

    fn reply(&mut self) -> io::Result<Result<Reply, ReplyError>> {
        let mut buf = [0u8; 4096];
        if let Some(r) = self.parser.feed(&[]) {
            return Ok(r);
        }
        loop {
            self.arm()?;
            let n = match self.sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(Err(ReplyError::Closed));
            }
            if let Some(r) = self.parser.feed(&buf[..n]) {
                return Ok(r);
            }
        }
    }
}

/// Why a TLS handshake did not complete.
enum HandshakeError {
    /// The probe's deadline passed, or the server sent nothing for a read timeout.
    TimedOut,
    /// The server closed the connection.
    Closed,
    /// The connection failed (reset).
    Io(io::Error),
    /// rustls refused what the server sent, or the server sent an alert.
    Tls(rustls::Error),
    /// rustls neither wants to read nor to write, yet the handshake is not done.
    Stalled,
}

/// Whether a failed handshake can be this verifier's own limitation rather than the server's
/// failure. rustls speaks only TLS 1.2 and 1.3 with AEAD suites and ECDHE (no CBC, no RSA key
/// exchange, no finite-field DHE, no TLS 1.0/1.1, fewer signature algorithms than OpenSSL), so a
/// server that OpenSSL, hence Postfix, negotiates with may find nothing in common with us.
/// Proven failures stay failures: garbled or out-of-order messages, bad MACs, decode errors, a
/// server that cannot prove possession of its key, a connection dropped in the handshake.
fn verifier_limitation(e: &rustls::Error) -> bool {
    match e {
        // rustls found nothing it can use in the ServerHello (version, suite, group, ...)
        rustls::Error::PeerIncompatible(_) => true,
        // the server found nothing it can use in our ClientHello: OpenSSL's "no shared cipher"
        // and "unsupported protocol" (handshake_failure, protocol_version), a suite or group
        // too weak for it (insufficient_security), a parameter of ours it rejects
        // (illegal_parameter)
        rustls::Error::AlertReceived(a) => matches!(
            a,
            AlertDescription::HandshakeFailure
                | AlertDescription::ProtocolVersion
                | AlertDescription::InsufficientSecurity
                | AlertDescription::IllegalParameter
        ),
        // The certificate is only read to check the handshake's signature (the chain is
        // judged against TLSA afterwards): a key or signature algorithm ring cannot verify
        // (DSA, brainpool, ...), or a certificate not even its key can be read from, is this
        // verifier's limit. A signature that does not verify is the server's failure.
        rustls::Error::InvalidCertificate(c) => !matches!(c, CertificateError::BadSignature),
        _ => false,
    }
}

/// Drive the handshake by hand (rustls' `complete_io` loops until the handshake is done, past
/// any deadline), with every read and write bounded by what is left of the probe's time.
fn handshake(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    deadline: Instant,
    read_timeout: Duration,
) -> Result<(), HandshakeError> {
    let arm = |sock: &TcpStream| -> Result<(), HandshakeError> {
        let t = budget(deadline, read_timeout).ok_or(HandshakeError::TimedOut)?;
        sock.set_read_timeout(Some(t))
            .and_then(|()| sock.set_write_timeout(Some(t)))
            .map_err(HandshakeError::Io)
    };
    loop {
        while conn.wants_write() {
            arm(sock)?;
            match conn.write_tls(sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(HandshakeError::TimedOut),
                Err(e) => return Err(HandshakeError::Io(e)),
            }
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        if !conn.wants_read() {
            return Err(HandshakeError::Stalled);
        }
        arm(sock)?;
        match conn.read_tls(sock) {
            Ok(0) => return Err(HandshakeError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(HandshakeError::TimedOut),
            Err(e) => return Err(HandshakeError::Io(e)),
        }
        if let Err(e) = conn.process_new_packets() {
            // send the alert rustls queued, if there is time
            if arm(sock).is_ok() {
                let _ = conn.write_tls(sock);
            }
            return Err(HandshakeError::Tls(e));
        }
    }
}

fn describe(e: &ReplyError) -> String {
    match e {
        ReplyError::Closed => "connection closed".into(),
        ReplyError::TooLong => "reply too long".into(),
        ReplyError::Garbage(g) => format!("not an SMTP reply: {g:?}"),
    }
}

/// Probe `addr`, presenting `sni` in the TLS ClientHello.
pub fn probe(
    addr: SocketAddr,
    sni: &str,
    ehlo: &str,
    cfg: &Arc<ClientConfig>,
    connect_timeout: Duration,
    read_timeout: Duration,
    total: Duration,
) -> Probe {
    let deadline = Instant::now() + total;
    let Some(t) = budget(deadline, connect_timeout) else {
        return Probe::Unreachable(format!("connect {addr}: no time (deadline {total:?})"));
    };
    let sock = match TcpStream::connect_timeout(&addr, t) {
        Ok(s) => s,
        Err(e) => return Probe::Unreachable(format!("connect {addr}: {}", io_text(&e))),
    };
    let _ = sock.set_nodelay(true);
    let mut c = Conn {
        sock,
        parser: ReplyParser::default(),
        deadline,
        read_timeout,
    };
    // Before STARTTLS nothing proves a DANE failure except a successful EHLO reply without
    // STARTTLS (RFC 7672 §2.2): a refused greeting or EHLO (blocklisted prober, rate limit, an
    // EHLO name the server dislikes), a timeout or a dropped connection say nothing about the
    // server's STARTTLS and are not confirmations.
    match c.reply() {
        Ok(Ok(r)) if r.code == 220 => {}
        Ok(Ok(r)) => {
            return Probe::Unreachable(format!(
                "greeting {} {} (session refused before EHLO: STARTTLS not checked)",
                r.code,
                r.lines.join(" ")
            ))
        }
        Ok(Err(e)) => return Probe::Unreachable(format!("greeting: {}", describe(&e))),
        Err(e) => return Probe::Unreachable(format!("no greeting: {}", io_text(&e))),
    }
    if let Err(e) = c.send(format!("EHLO {ehlo}\r\n").as_bytes()) {
        return Probe::Unreachable(format!("EHLO: {}", io_text(&e)));
    }
    let ehlo_reply = match c.reply() {
        Ok(Ok(r)) if r.code == 250 => r,
        Ok(Ok(r)) => {
            return Probe::Unreachable(format!(
                "EHLO {ehlo} refused: {} {} (STARTTLS not checked)",
                r.code,
                r.lines.join(" ")
            ))
        }
        Ok(Err(e)) => return Probe::Unreachable(format!("EHLO: {}", describe(&e))),
        Err(e) => return Probe::Unreachable(format!("EHLO: {}", io_text(&e))),
    };
    if !ehlo_reply
        .lines
        .iter()
        // the keyword, then perhaps parameters (Postfix splits at space, tab and '=')
        .filter_map(|l| l.split([' ', '\t', '=']).find(|w| !w.is_empty()))
        .any(|w| w.eq_ignore_ascii_case("STARTTLS"))
    {
        let _ = c.send(b"QUIT\r\n");
        return Probe::NoStarttls("STARTTLS not offered".into());
    }
    if let Err(e) = c.send(b"STARTTLS\r\n") {
        return Probe::Unreachable(format!("STARTTLS: {}", io_text(&e)));
    }
    match c.reply() {
        // Postfix goes on with TLS after any 2xx reply to STARTTLS, not only 220
        Ok(Ok(r)) if r.code / 100 == 2 => {}
        // 421 closes the channel (shutdown, overload) and may answer any command (RFC 5321
        // §3.8): nothing specific to TLS.
        Ok(Ok(r)) if r.code == 421 => {
            return Probe::Unreachable(format!("STARTTLS: {} {}", r.code, r.lines.join(" ")))
        }
        // Advertised, then refused: RFC 3207 §4's 454 "TLS not available due to temporary
        // reason" (what Postfix's smtpd answers when its own certificate or key cannot be
        // loaded), 5xx. Postfix at the dane level defers the mail, logging "TLS is required, but
        // host ... refused to start TLS": a STARTTLS failure as the sender sees it.
        Ok(Ok(r)) => {
            return Probe::NoStarttls(format!(
                "STARTTLS refused: {} {}",
                r.code,
                r.lines.join(" ")
            ))
        }
        Ok(Err(e)) => return Probe::TlsFailure(format!("STARTTLS: {}", describe(&e))),
        // waiting is network trouble (or a tarpit); a server dropping the connection on
        // STARTTLS fails TLS as Postfix sees it ("lost connection ... after STARTTLS")
        Err(e) if is_timeout(&e) => {
            return Probe::Unreachable(format!("STARTTLS reply: {}", io_text(&e)))
        }
        Err(e) => return Probe::TlsFailure(format!("STARTTLS: {e}")),
    }
    if c.parser.pending() > 0 {
        // Bytes after the 220 would be read as TLS: a broken server, or bytes injected on the
        // way. What a sender does with them differs (a client that purges its buffer before
        // TLS goes on), so they prove no failure of the server's TLS: not a confirmation.
        return Probe::Unreachable(
            "data after the STARTTLS reply (injected, or a broken server): TLS not tried".into(),
        );
    }
    // the verifier's own problems: not a verdict on the server
    let name = match ServerName::try_from(sni.to_string()) {
        Ok(n) => n,
        Err(e) => return Probe::Unreachable(format!("SNI {sni:?} not usable by rustls: {e}")),
    };
    let mut conn = match ClientConnection::new(cfg.clone(), name) {
        Ok(c) => c,
        Err(e) => return Probe::Unreachable(format!("TLS client: {e}")),
    };
    let mut sock = c.sock;
    match handshake(&mut conn, &mut sock, deadline, read_timeout) {
        Ok(()) => {}
        Err(HandshakeError::TimedOut) => {
            return Probe::Unreachable(format!(
                "timed out during the TLS handshake (deadline {total:?}, read timeout {read_timeout:?})"
            ))
        }
        Err(HandshakeError::Closed) => {
            return Probe::TlsFailure("TLS handshake: connection closed by the server".into())
        }
        Err(HandshakeError::Io(e)) => return Probe::TlsFailure(format!("TLS handshake: {e}")),
        Err(HandshakeError::Tls(e)) if verifier_limitation(&e) => {
            return Probe::Unreachable(format!(
                "TLS handshake not negotiable with this verifier (rustls: TLS 1.2/1.3, AEAD \
                 suites, ECDHE only; no CBC, RSA key exchange or DHE): {e}; check with \
                 openssl s_client -starttls smtp -connect {addr} -servername {sni}"
            ))
        }
        Err(HandshakeError::Tls(e)) => return Probe::TlsFailure(format!("TLS handshake: {e}")),
        Err(HandshakeError::Stalled) => {
            return Probe::Unreachable("TLS handshake stalled (verifier error)".into())
        }
    }
    let chain: Vec<Vec<u8>> = conn
        .peer_certificates()
        .map(|cs| cs.iter().map(|c| c.as_ref().to_vec()).collect())
        .unwrap_or_default();
    let protocol = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    // a polite goodbye, only with time left
    if let Some(t) = budget(deadline, read_timeout) {
        let _ = sock.set_write_timeout(Some(t));
        let _ = conn.writer().write_all(b"QUIT\r\n");
        conn.send_close_notify();
        while conn.wants_write() {
            if budget(deadline, read_timeout).is_none() || conn.write_tls(&mut sock).is_err() {
                break;
            }
        }
    }
    Probe::Tls { chain, protocol }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn verifier_limitations() {
        use rustls::{Error, InvalidMessage, PeerIncompatible};
        for e in [
            Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
            Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13),
            Error::AlertReceived(AlertDescription::HandshakeFailure),
            Error::AlertReceived(AlertDescription::ProtocolVersion),
            Error::AlertReceived(AlertDescription::InsufficientSecurity),
            Error::AlertReceived(AlertDescription::IllegalParameter),
            Error::InvalidCertificate(CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: vec![],
                supported_algorithms: vec![],
            }),
            Error::InvalidCertificate(CertificateError::BadEncoding),
            Error::InvalidCertificate(CertificateError::UnhandledCriticalExtension),
        ] {
            assert!(verifier_limitation(&e), "{e}");
        }
        for e in [
            Error::AlertReceived(AlertDescription::DecodeError),
            Error::AlertReceived(AlertDescription::BadRecordMac),
            Error::InvalidMessage(InvalidMessage::InvalidContentType),
            Error::DecryptError,
            Error::InvalidCertificate(CertificateError::BadSignature),
            Error::NoCertificatesPresented,
        ] {
            assert!(!verifier_limitation(&e), "{e}");
        }
    }

    #[test]
    fn replies() {
        let mut p = ReplyParser::default();
        assert_eq!(p.feed(b"250-mx.example\r\n250-PIPE"), None);
        let r = p.feed(b"LINING\r\n250 STARTTLS\r\n").unwrap().unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, vec!["mx.example", "PIPELINING", "STARTTLS"]);
        let mut p = ReplyParser::default();
        assert!(matches!(
            p.feed(b"\x16\x03\x01\x02\x00\n"),
            Some(Err(ReplyError::Garbage(_)))
        ));
        let mut p = ReplyParser::default();
        assert_eq!(p.feed(&vec![b'2'; 5000]), Some(Err(ReplyError::TooLong)));
        let mut p = ReplyParser::default();
        let many: Vec<u8> = (0..200).flat_map(|_| b"250-x\r\n".to_vec()).collect();
        assert_eq!(p.feed(&many), Some(Err(ReplyError::TooLong)));
        let mut p = ReplyParser::default();
        assert!(matches!(
            p.feed(b"250-a\r\n220 b\r\n"),
            Some(Err(ReplyError::Garbage(_)))
        ));
        let mut p = ReplyParser::default();
        let r = p.feed(b"220 ready\r\nEXTRA").unwrap().unwrap();
        assert_eq!(r.code, 220);
        assert_eq!(p.pending(), 5);
    }

    proptest! {
        /// Any bytes, in any split: a reply, an error, or a request for more; never a panic,
        /// and never more buffered than a line allows.
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..6000), cut in 0usize..6000) {
            let mut p = ReplyParser::default();
            let cut = cut.min(data.len());
            let first = p.feed(&data[..cut]);
            if first.is_none() {
                let _ = p.feed(&data[cut..]);
            }
            prop_assert!(p.buf.len() <= data.len());
        }

        #[test]
        fn well_formed_replies_parse(code in 200u16..600, lines in proptest::collection::vec("[ -~]{0,60}", 1..20)) {
            let mut text = String::new();
            for (i, l) in lines.iter().enumerate() {
                let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                text.push_str(&format!("{code}{sep}{l}\r\n"));
            }
            let mut p = ReplyParser::default();
            let r = p.feed(text.as_bytes()).unwrap().unwrap();
            prop_assert_eq!(r.code, code);
            prop_assert_eq!(r.lines, lines);
        }
    }
}
