//! Pieces shared by several test files.

// (each test file that has `mod common` uses some of them)
#![allow(dead_code)]

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

/// A clone of the real danefail list history (../shared) at `repo`, with a committer set.
pub fn clone_danefail_list(repo: &std::path::Path) {
    let bundle = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/danefail/danefail-list-history.bundle");
    let git = |args: &[&std::ffi::OsStr]| {
        let st = std::process::Command::new("git")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    };
    git(&[
        "clone".as_ref(),
        "-q".as_ref(),
        bundle.as_os_str(),
        repo.as_os_str(),
    ]);
    for (k, v) in [
        ("user.name", "danemine test"),
        ("user.email", "test@example.org"),
    ] {
        git(&[
            "-C".as_ref(),
            repo.as_os_str(),
            "config".as_ref(),
            k.as_ref(),
            v.as_ref(),
        ]);
    }
}

/// Read one SMTP command line from a test server's client, byte by byte; false when the client
/// closed the connection.
pub fn read_line(s: &mut impl std::io::Read) -> bool {
    let mut b = [0u8; 1];
    let mut n = 0;
    while s.read(&mut b).map(|k| k == 1).unwrap_or(false) {
        n += 1;
        if b[0] == b'\n' || n > 1000 {
            return true;
        }
    }
    false
}
