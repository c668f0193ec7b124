//! Pieces shared by several test files.

/// A DNS server on loopback that answers every query SERVFAIL without a reason (also with
/// checking disabled), as a validating resolver that has lost its upstream does.
pub fn servfail_server() -> std::net::SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // a response
            r[3] = (r[3] & 0xf0) | 0x80 | 2; // recursion available, SERVFAIL
            let _ = sock.send_to(&r, from);
        }
    });
    addr
}
