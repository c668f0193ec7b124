//! Exclusion writers against the real world: Debian's `postmap` reads the Postfix table, and a
//! writer killed with SIGKILL at random points never leaves a torn file.

use danemine::act::store::{Confirmation, LiveVerdict, Policy, Store, DAY};
use danemine::act::writers::{self, render_postfix};
use danemine::model::Verdict;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NOW: i64 = 1_790_000_000;

fn confirmation(d: &str, v: LiveVerdict, mx: &[&str], evidence: &[&str]) -> Confirmation {
    Confirmation {
        domain: d.into(),
        verdict: v,
        mx_hosts: mx.iter().map(|s| s.to_string()).collect(),
        evidence: evidence.iter().map(|s| s.to_string()).collect(),
        confirmed_at: NOW,
        first_seen: Some(NOW - 2 * DAY),
        log_verdict: Some(Verdict::Failing),
        candidate: true,
    }
}

/// A store fed with ordinary and hostile names alike.
fn hostile_store() -> Store {
    let mut s = Store::default();
    let long_label = format!("{}.example", "a".repeat(64));
    let too_long = format!("{}example", "abcdefghi.".repeat(26));
    let mut confs = vec![
        confirmation(
            "ok-one.example",
            LiveVerdict::CertMismatch,
            &["mx1.ok-one.example"],
            &["_25._tcp.mx1.ok-one.example TLSA 3 1 1 00ff\nevil.example may"],
        ),
        confirmation(
            "OK-Two.Example.",
            LiveVerdict::NoStarttls,
            &["mx.ok-two.example"],
            &[],
        ),
        confirmation(
            "bücher.example",
            LiveVerdict::Dnssec,
            &["mx.bücher.example"],
            &["bogus"],
        ),
    ];
    for bad in [
        "evil.example\nvictim.example may",
        "evil.example may",
        "evil.example none",
        "evil.example\tmay",
        "#evil.example",
        "evil#.example",
        "evil_x.example",
        "evil.example\r",
        "ev\u{0}il.example",
        " leading.example",
        "may",
        "none",
        long_label.as_str(),
        too_long.as_str(),
        "ünï code\n.example",
        "[127.0.0.1]",
    ] {
        confs.push(confirmation(
            bad,
            LiveVerdict::CertMismatch,
            &["mx.evil.example"],
            &["x"],
        ));
    }
    s.apply(NOW, &Policy::default(), &confs);
    s
}

fn postmap_available() -> bool {
    Command::new("postmap")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A config directory for postmap (Debian's postfix ships without /etc/postfix/main.cf when
/// installed with "No configuration").
fn postfix_conf(dir: &Path) -> PathBuf {
    let c = dir.join("conf");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("main.cf"), "compatibility_level = 3.6\n").unwrap();
    c
}

fn postmap(conf: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new("postmap")
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .expect("postmap runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn real_postmap_accepts_the_postfix_table_and_only_valid_names_are_keys() {
    assert!(
        postmap_available(),
        "postmap not found: install Debian's postfix (listed in .ci/packages)"
    );
    let d = tempfile::tempdir().unwrap();
    let conf = postfix_conf(d.path());
    let file = d.path().join("dane_exclusions");
    let s = hostile_store();
    let r = render_postfix(&s, NOW);
    writers::write_if_changed(&file, &r.text).unwrap();
    let f = file.to_str().unwrap();
    let (code, _, err) = postmap(&conf, &[f]);
    assert_eq!(code, 0, "postmap failed: {err}");
    assert!(err.is_empty(), "postmap warned: {err}");
    for key in ["ok-one.example", "ok-two.example", "xn--bcher-kva.example"] {
        let (code, out, err) = postmap(&conf, &["-q", key, f]);
        assert_eq!((code, out.as_str()), (0, "may\n"), "{key}: {err}");
    }
    // every key in the database, exactly
    let (code, out, _) = postmap(&conf, &["-s", f]);
    assert_eq!(code, 0);
    let mut keys: Vec<&str> = out.lines().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ok-one.example\tmay",
            "ok-two.example\tmay",
            "xn--bcher-kva.example\tmay"
        ]
    );
    for probe in [
        "evil.example",
        "victim.example",
        "may",
        "none",
        "#evil.example",
    ] {
        let (code, out, _) = postmap(&conf, &["-q", probe, f]);
        assert_eq!(code, 1, "{probe} found: {out}");
    }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL: a child process rewrites the table in a loop; it is killed at random points.

const CHILD_ENV: &str = "DANEMINE_ACT_KILL_CHILD_FILE";

/// Two large, different versions of the Postfix table.
fn versions() -> (String, String) {
    let mk = |tag: &str| {
        let mut s = Store::default();
        let confs: Vec<Confirmation> = (0..3000)
            .map(|i| {
                let d = format!("d{i:05}-{tag}.example");
                let mx = format!("mx.{d}");
                confirmation(
                    &d,
                    LiveVerdict::CertMismatch,
                    &[mx.as_str()],
                    &["_25._tcp TLSA 3 1 1 0123456789abcdef0123456789abcdef does not match the presented chain"],
                )
            })
            .collect();
        s.apply(NOW, &Policy::default(), &confs);
        render_postfix(&s, NOW).text
    };
    (mk("a"), mk("b"))
}

/// The child side (run only by `killed_writer_never_leaves_a_torn_file`, through the env var).
#[test]
#[ignore = "child process of killed_writer_never_leaves_a_torn_file"]
fn kill_child_rewrites_in_a_loop() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let (a, b) = versions();
    println!("ready");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut i = 0u64;
    while std::time::Instant::now() < deadline {
        let text = if i.is_multiple_of(2) { &b } else { &a };
        writers::write_if_changed(&path, text).unwrap();
        i += 1;
    }
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn killed_writer_never_leaves_a_torn_file() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("dane_exclusions");
    let (a, b) = versions();
    writers::write_if_changed(&path, &a).unwrap();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let exe = std::env::current_exe().unwrap();
    let (mut seen_a, mut seen_b, mut mid_write, mut kills) = (0, 0, 0, 0);
    while kills < 40 || (mid_write == 0 || seen_a == 0 || seen_b == 0) && kills < 400 {
        let mut child = KillOnDrop(
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "kill_child_rewrites_in_a_loop",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        while !line.contains("ready") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        }
        std::thread::sleep(Duration::from_micros(rand() % 40_000));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        kills += 1;
        let now = std::fs::read_to_string(&path).unwrap();
        assert!(
            now == a || now == b,
            "torn file after kill {kills}: {} bytes",
            now.len()
        );
        if now == a {
            seen_a += 1
        } else {
            seen_b += 1
        }
        if let Ok(prev) = std::fs::read_to_string(d.path().join("dane_exclusions.prev")) {
            assert!(prev == a || prev == b, "torn .prev after kill {kills}");
        }
        // a temp file left behind means the kill landed inside a write
        let temps = writers::remove_stale_temps(&path).unwrap();
        if temps > 0 {
            mid_write += 1;
        }
    }
    println!("kills {kills}, old {seen_a}, new {seen_b}, inside a write {mid_write}");
    assert!(seen_a > 0 && seen_b > 0, "both versions observed");
    assert!(mid_write > 0, "some kill landed inside a write");
    // the next writer completes the work
    writers::write_if_changed(&path, "final\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "final\n");
}
