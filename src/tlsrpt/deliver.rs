//! Report delivery (RFC 8460 §5): https POST of `application/tlsrpt+gzip`, or a
//! `multipart/report; report-type="tlsrpt"` message handed to a sendmail command.

use super::DayReport;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Delivery errors (one line each, naming the destination).
#[derive(Debug, Error)]
pub enum DeliverError {
    #[error("{0}: {1}")]
    Https(String, String),
    #[error("sendmail {0}: {1}")]
    Mail(String, String),
    #[error("CA file {0}: {1}")]
    Ca(String, String),
}

/// Trusted roots: a PEM file (tests use their own CA), else the system bundle.
pub fn roots(ca: Option<&Path>) -> Result<RootCertStore, DeliverError> {
    let path = ca.unwrap_or(Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let err = |e: String| DeliverError::Ca(path.display().to_string(), e);
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
        let c = c.map_err(|e| err(e.to_string()))?;
        store.add(c).map_err(|e| err(e.to_string()))?;
    }
    Ok(store)
}

/// POST `body` to an https URL; returns the HTTP status. Redirects are not followed.
pub fn post_https(
    url: &str,
    body: &[u8],
    roots: RootCertStore,
    timeout: Duration,
) -> Result<u16, DeliverError> {
    let e = |m: String| DeliverError::Https(url.to_string(), m);
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| e("not an https URL".into()))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>().map_err(|_| e("bad port".into()))?,
        ),
        _ => (hostport, 443),
    };
    let cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|x| e(x.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|x| e(x.to_string()))?
        .next()
        .ok_or_else(|| e("no address".into()))?;
    let sock = TcpStream::connect_timeout(&addr, timeout).map_err(|x| e(x.to_string()))?;
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    let name = ServerName::try_from(host.to_string()).map_err(|x| e(x.to_string()))?;
    let conn = ClientConnection::new(Arc::new(cfg), name).map_err(|x| e(x.to_string()))?;
    let mut tls = StreamOwned::new(conn, sock);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: danemine/{}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    tls.write_all(head.as_bytes())
        .map_err(|x| e(x.to_string()))?;
    tls.write_all(body).map_err(|x| e(x.to_string()))?;
    tls.flush().map_err(|x| e(x.to_string()))?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 1024];
    while resp.len() < 16 * 1024 && !resp.windows(2).any(|w| w == b"\r\n") {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(x) => return Err(e(x.to_string())),
        }
    }
    let line = String::from_utf8_lossy(&resp);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            e(format!(
                "no HTTP status in {:?}",
                line.lines().next().unwrap_or("")
            ))
        })?;
    Ok(status)
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 * 2 + 4);
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The report as an RFC 8460 §5.3 mail message.
pub fn mime_message(
    r: &DayReport,
    submitter: &str,
    from: &str,
    to: &str,
    gz: &[u8],
    now: i64,
) -> String {
    let boundary = format!(
        "tlsrpt-{}",
        &crate::verify::tlsa::sha256_hex(r.report.report_id.as_bytes())[..16]
    );
    let date = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.to_rfc2822())
        .unwrap_or_default();
    let file = r.file_name(submitter);
    format!(
        "From: {from}\r\nTo: {to}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n\
Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{id}>\r\n\
TLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: {submitter}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n\
This is a multi-part message in MIME format.\r\n\r\n\
--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
This is an aggregate TLS report from {submitter} for {domain}, {start} to {end}.\r\n\r\n\
--{boundary}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"{file}\"\r\n\r\n{b64}\r\n--{boundary}--\r\n",
        id = r.report.report_id,
        domain = r.policy_domain,
        start = r.report.date_range.start,
        end = r.report.date_range.end,
        b64 = base64(gz),
    )
}

/// Hand a message to a sendmail command (`/usr/sbin/sendmail -i`), with the recipient added.
pub fn send_mail(command: &[String], to: &str, message: &[u8]) -> Result<(), DeliverError> {
    let (prog, args) = command
        .split_first()
        .ok_or_else(|| DeliverError::Mail(to.into(), "no sendmail command configured".into()))?;
    let mut child = Command::new(prog)
        .args(args)
        .arg("--")
        .arg(to)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DeliverError::Mail(to.into(), format!("{prog}: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(message)
            .map_err(|e| DeliverError::Mail(to.into(), e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DeliverError::Mail(to.into(), e.to_string()))?;
    if !out.status.success() {
        return Err(DeliverError::Mail(
            to.into(),
            format!(
                "{prog} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
