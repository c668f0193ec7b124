//! The nightly job end to end over real files: incremental reading across growth, rotation,
//! compression and truncation; crash recovery; the lock; the command line.

mod common;

use danemine::act::config::Config;
use danemine::act::nightly::{self, NightlyError, Report, RunOptions, Step};
use danemine::act::state::{Lock, State, StateError};
use danemine::aggregate::{Counts, Row};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// 2026-11-20T00:00:00Z
const BASE: i64 = 1_795_132_800;
/// The runs' clock: three days later.
const NOW: i64 = BASE + 3 * 86_400 + 3600;

fn ts(t: i64) -> String {
    danemine::timefmt::rfc3339(t).replace('Z', "+00:00")
}

/// Log lines of message `i`: verified deliveries, DANE failures, and a flapping domain.
fn message(i: u32) -> String {
    let t = BASE + i64::from(i) * 700;
    let stamp = ts(t);
    let pid = 10_000 + i;
    let qid = format!("{:010X}", 0xA0_0000_0000u64 + u64::from(i));
    let (domain, mx, ok) = if i.is_multiple_of(5) {
        let d = format!("bad{}.example", (i / 5) % 4);
        (d.clone(), format!("mx.{d}"), false)
    } else if i.is_multiple_of(7) {
        (
            "flap.example".to_string(),
            format!("mx{}.flap.example", i % 2),
            i.is_multiple_of(2),
        )
    } else {
        let d = format!("ok{}.example", i % 10);
        (d.clone(), format!("mx.{d}"), true)
    };
    let addr = format!("192.0.2.{}", i % 250 + 1);
    let p = format!("{stamp} mail postfix/smtp[{pid}]:");
    if ok {
        format!(
            "{p} Verified TLS connection established to {mx}[{addr}]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} {qid}: to=<user{i}@{domain}>, relay={mx}[{addr}]:25, delay=0.3, delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n"
        )
    } else {
        format!(
            "{p} CA certificate verification failed for {mx}[{addr}]:25: num=65:no matching DANE TLSA records\n\
             {p} Untrusted TLS connection established to {mx}[{addr}]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} {qid}: to=<user{i}@{domain}>, relay={mx}[{addr}]:25, delay=0.37, delays=0.21/0.07/0.09/0, dsn=4.7.5, status=deferred (Server certificate not verified)\n"
        )
    }
}

fn messages(r: std::ops::Range<u32>) -> String {
    r.map(message).collect()
}

fn config(dir: &Path, verify: bool, outputs: &str) -> Config {
    let text = format!(
        "state_dir = \"state\"\n\
         [logs]\npaths = [\"logs/mail.log*\"]\nmta = \"postfix\"\nwindow_days = 7\n\
         [verify]\nenabled = {verify}\n\
         {outputs}"
    );
    fs::create_dir_all(dir.join("logs")).unwrap();
    fs::write(dir.join("nightly.toml"), &text).unwrap();
    Config::load(&dir.join("nightly.toml")).unwrap()
}

fn run(cfg: &Config) -> Report {
    nightly::run(
        cfg,
        &RunOptions {
            now: NOW,
            ..RunOptions::default()
        },
        None,
    )
    .unwrap()
}

/// Counts and per-day figures per domain and per MX host (examples left out).
type Totals = (
    BTreeMap<String, (Counts, BTreeMap<i32, u64>)>,
    BTreeMap<String, Counts>,
);

fn totals(r: &Report) -> Totals {
    let f = |row: &Row| (row.counts.clone(), row.failure_days.clone());
    (
        r.window
            .domains
            .iter()
            .map(|(k, v)| (k.clone(), f(v)))
            .collect(),
        r.window
            .mx
            .iter()
            .map(|(k, v)| (k.clone(), v.counts.clone()))
            .collect(),
    )
}

fn append(p: &Path, s: &str) {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap()
        .write_all(s.as_bytes())
        .unwrap();
}

fn gzip(src: &Path, dst: &Path) {
    let data = fs::read(src).unwrap();
    let mut e =
        flate2::write::GzEncoder::new(fs::File::create(dst).unwrap(), flate2::Compression::fast());
    e.write_all(&data).unwrap();
    e.finish().unwrap();
    fs::remove_file(src).unwrap();
}

/// One run over everything, in one file.
fn reference(all: &str) -> Totals {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    fs::write(d.path().join("logs/mail.log"), all).unwrap();
    totals(&run(&cfg))
}

#[test]
fn growing_rotating_logs_match_one_run_over_everything() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    let logs = d.path().join("logs");
    let log = logs.join("mail.log");

    // run 1: a fresh log
    append(&log, &messages(0..80));
    let r1 = run(&cfg);
    assert_eq!(r1.files.len(), 1);
    assert_eq!(r1.files[0].how, "new");

    // the log grows, then is rotated and compressed in one go (no delaycompress): its unread
    // tail is only in the .gz now; a new log starts
    append(&log, &messages(80..120));
    gzip(&log, &logs.join("mail.log.1.gz"));
    append(&log, &messages(120..160));
    let r2 = run(&cfg);
    let hows: BTreeMap<String, &str> = r2
        .files
        .iter()
        .map(|f| (f.path.rsplit('/').next().unwrap().to_string(), f.how))
        .collect();
    assert_eq!(hows["mail.log.1.gz"], "rotated");
    // the new log may reuse the old inode: then it is told apart by its first bytes
    assert!(matches!(hows["mail.log"], "new" | "truncated or replaced"));

    // with delaycompress: mail.log → mail.log.1 (renamed, grown before), mail.log.1.gz →
    // mail.log.2.gz; then nothing new in a run; then copytruncate-style truncation of the log
    append(&log, &messages(160..200));
    fs::rename(logs.join("mail.log.1.gz"), logs.join("mail.log.2.gz")).unwrap();
    fs::rename(&log, logs.join("mail.log.1")).unwrap();
    append(&log, &messages(200..230));
    let r3 = run(&cfg);
    let hows: BTreeMap<String, &str> = r3
        .files
        .iter()
        .map(|f| (f.path.rsplit('/').next().unwrap().to_string(), f.how))
        .collect();
    assert_eq!(hows["mail.log.2.gz"], "already read");
    assert_eq!(hows["mail.log.1"], "continued");
    assert_eq!(hows["mail.log"], "new");

    let r4 = run(&cfg);
    assert_eq!(r4.attempts, 0, "{:?}", r4.files);
    assert_eq!(totals(&r4), totals(&r3));

    // the .1 is compressed later (delaycompress), the log is copied and truncated
    gzip(&logs.join("mail.log.1"), &logs.join("mail.log.1.gz"));
    fs::remove_file(logs.join("mail.log.2.gz")).unwrap();
    fs::rename(logs.join("mail.log.1.gz"), logs.join("mail.log.2.gz")).unwrap();
    append(&log, &messages(230..250));
    fs::copy(&log, logs.join("mail.log.1")).unwrap();
    fs::write(&log, messages(250..270)).unwrap();
    let r5 = run(&cfg);
    let hows: BTreeMap<String, &str> = r5
        .files
        .iter()
        .map(|f| (f.path.rsplit('/').next().unwrap().to_string(), f.how))
        .collect();
    assert_eq!(hows["mail.log.2.gz"], "rotated", "{:?}", r5.files);
    assert_eq!(hows["mail.log.1"], "rotated");
    assert_eq!(hows["mail.log"], "truncated or replaced");

    let want = reference(&messages(0..270));
    assert_eq!(totals(&r5), want);
    let all: u64 = want.0.values().map(|(c, _)| c.attempts).sum();
    assert_eq!(all, 270);
    // failing and partial domains are there, with failures on several days
    let bad = &r5.window.domains["bad0.example"];
    assert_eq!(bad.counts.verdict(), danemine::model::Verdict::Failing);
    assert!(r5.window.domains["flap.example"].counts.dane_failed > 0);
    assert!(r5.candidates.contains(&"bad0.example".to_string()));
    assert!(r5.candidates.contains(&"flap.example".to_string()));
    assert!(!r5.candidates.iter().any(|c| c.starts_with("ok")));
}

/// A message whose non-final-MX failure was logged before a run and whose delivery after it.
fn non_final_across(qid: &str, t: i64, second_half: bool) -> String {
    let p = format!("{} mail postfix/smtp[20001]:", ts(t));
    if !second_half {
        format!(
            "{p} CA certificate verification failed for mxa.nf.example[192.0.2.9]:25: num=65:no matching DANE TLSA records\n\
             {p} Untrusted TLS connection established to mxa.nf.example[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} {qid}: Server certificate not verified\n"
        )
    } else {
        format!(
            "{p} Verified TLS connection established to mxb.nf.example[192.0.2.10]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} {qid}: to=<u@nf.example>, relay=mxb.nf.example[192.0.2.10]:25, delay=31, delays=0.1/0/31/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n"
        )
    }
}

/// Two runs, the first over `first`, the second over `first` + `second` appended to it, with
/// `overlap_kib` in the configuration (the default when `None`).
fn two_runs(first: &str, second: &str, overlap_kib: Option<u64>) -> Totals {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = config(d.path(), false, "");
    if let Some(k) = overlap_kib {
        cfg.logs.overlap_kib = k;
    }
    let log = d.path().join("logs/mail.log");
    append(&log, first);
    let r1 = run(&cfg);
    append(&log, second);
    let r2 = run(&cfg);
    assert_eq!(r2.files[0].how, "continued");
    // the second run counts only what the first did not
    let all: u64 = totals(&r2).0.values().map(|(c, _)| c.attempts).sum();
    assert_eq!(all, r1.attempts + r2.attempts);
    totals(&r2)
}

#[test]
fn a_run_boundary_inside_a_message_keeps_its_correlation() {
    // cut after a TLS summary line, before its delivery line (message 3 is a verified one)
    let all = messages(0..12);
    let lines: Vec<&str> = all.split_inclusive('\n').collect();
    let cut = lines
        .iter()
        .position(|l| l.contains("postfix/smtp[10003]: Verified TLS"))
        .unwrap()
        + 1;
    let mut first = lines[..cut].concat();
    let mut second = lines[cut..].concat();
    // and a non-final-MX failure before the cut whose message is delivered after it (its
    // times close to the cut's: a log that went back by more than the correlation's process
    // expiry would drop the state of the processes before the cut wherever a batch or an input
    // ends, as the warm-up lines, scanned as an input of their own, do)
    first.push_str(&non_final_across("BB00000001", BASE + 2_110, false));
    second.push_str(&non_final_across("BB00000001", BASE + 2_141, true));
    let want = reference(&(first.clone() + &second));
    assert_eq!(want.0["nf.example"].0.dane_failed, 1);
    assert_eq!(want.0["nf.example"].0.dane_verified, 1);
    assert_eq!(two_runs(&first, &second, None), want);
    // without the overlap the delivery after the cut lost its TLS line, and the non-final
    // failure its recipient: the test sees the difference
    let blind = two_runs(&first, &second, Some(0));
    assert_ne!(blind, want);
    assert_eq!(blind.0["nf.example"].0.dane_failed, 0);
    // an overlap that starts inside a line, anywhere in the first part
    for k in [1, 2] {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = config(d.path(), false, "");
        cfg.logs.overlap_kib = k;
        let log = d.path().join("logs/mail.log");
        let pad = messages(100..130);
        append(&log, &(pad.clone() + &first));
        run(&cfg);
        append(&log, &second);
        assert_eq!(
            totals(&run(&cfg)),
            reference(&(pad + &first + &second)),
            "{k} KiB"
        );
    }
}

#[test]
fn a_compressed_file_still_being_written_is_retried_not_half_counted() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    let logs = d.path().join("logs");
    let text = messages(0..120);
    let plain = logs.join("tmp");
    fs::write(&plain, &text).unwrap();
    gzip(&plain, &logs.join("mail.log.1.gz"));
    let full = fs::read(logs.join("mail.log.1.gz")).unwrap();
    fs::write(logs.join("mail.log.1.gz"), &full[..full.len() / 2]).unwrap();
    append(&logs.join("mail.log"), &messages(120..130));
    let r = run(&cfg);
    assert_eq!(r.attempts, 10);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(r.problems[0].contains("mail.log.1.gz"), "{:?}", r.problems);
    assert!(r.needs_attention());
    // the compressor finishes: the whole archive is read once
    fs::write(logs.join("mail.log.1.gz"), &full).unwrap();
    let r = run(&cfg);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.attempts, 120);
    let mut all = text.clone();
    all.push_str(&messages(120..130));
    assert_eq!(totals(&r), reference(&all));
}

/// The hook of the test below: a compressed rotation is cut to half its bytes after the run
/// counted it whole and before the scan reads it.
fn cut_archives_in_half(p: &Path) {
    if p.extension().is_some_and(|e| e == "gz") {
        let full = fs::read(p).unwrap();
        fs::write(p, &full[..full.len() / 2]).unwrap();
    }
}

#[test]
fn a_compressed_file_whose_read_fails_during_the_scan_counts_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    let logs = d.path().join("logs");
    // 20 messages from before the window, then 120 inside it
    let old = messages(0..20).replace("2026-11-20T", "2026-11-01T");
    let text = format!("{old}{}", messages(0..120));
    let plain = logs.join("tmp");
    fs::write(&plain, &text).unwrap();
    gzip(&plain, &logs.join("mail.log.1.gz"));
    let full = fs::read(logs.join("mail.log.1.gz")).unwrap();
    append(&logs.join("mail.log"), &messages(120..130));
    let opts = RunOptions {
        now: NOW,
        before_scan: Some(cut_archives_in_half),
        ..RunOptions::default()
    };
    let r = nightly::run(&cfg, &opts, None).unwrap();
    // the half that was read before the error is not counted: neither its attempts, nor its
    // old ones, nor its rows
    assert_eq!((r.attempts, r.too_old), (10, 0));
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(r.problems[0].contains("mail.log.1.gz"), "{:?}", r.problems);
    assert_eq!(totals(&r), reference(&messages(120..130)));
    // restored, the archive is read whole on the next run
    fs::write(logs.join("mail.log.1.gz"), &full).unwrap();
    let r = run(&cfg);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!((r.attempts, r.too_old), (120, 20));
    let mut all = messages(0..120);
    all.push_str(&messages(120..130));
    assert_eq!(totals(&r), reference(&all));
}

#[test]
fn dry_run_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out/plain.txt");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let cfg = config(
        d.path(),
        false,
        "[[output]]\npath = \"out/plain.txt\"\nformat = \"plain\"\n",
    );
    append(&d.path().join("logs/mail.log"), &messages(0..50));
    let opts = RunOptions {
        now: NOW,
        dry_run: true,
        ..RunOptions::default()
    };
    let r = nightly::run(&cfg, &opts, None).unwrap();
    assert_eq!(r.attempts, 50);
    assert!(r.render().contains("dry run"));
    assert!(!State::path(&cfg.state_dir).exists());
    assert!(!out.exists());
    let days: Vec<_> = fs::read_dir(cfg.state_dir.join("days")).unwrap().collect();
    assert!(days.is_empty());
    // the real run afterwards reads the same
    let r = run(&cfg);
    assert_eq!(r.attempts, 50);
    assert!(out.exists());
}

/// A run without state (the state directory lost or moved) over outputs an earlier run wrote
/// says that it replaces them, and needs a person; a run with state does not.
#[test]
fn outputs_left_by_a_lost_state_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out/plain.txt");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    fs::write(&out, "# from before\nold.example\n").unwrap();
    let cfg = config(
        d.path(),
        false,
        "[[output]]\npath = \"out/plain.txt\"\nformat = \"plain\"\n",
    );
    append(&d.path().join("logs/mail.log"), &messages(0..5));
    let r = run(&cfg);
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("1 lines from an earlier run")),
        "{:?}",
        r.problems
    );
    assert!(r.needs_attention());
    assert!(!fs::read_to_string(&out).unwrap().contains("old.example"));
    fs::write(&out, "old.example\n").unwrap();
    let r = run(&cfg);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[test]
fn a_crash_between_steps_is_completed_by_the_next_run() {
    for step in [Step::DayFiles, Step::Commit, Step::Outputs] {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(
            d.path(),
            false,
            "[[output]]\npath = \"plain.txt\"\nformat = \"plain\"\n\
             [[output]]\npath = \"policy\"\nformat = \"postfix\"\n",
        );
        let log = d.path().join("logs/mail.log");
        append(&log, &messages(0..60));
        run(&cfg);
        append(&log, &messages(60..120));
        let opts = RunOptions {
            now: NOW,
            crash_after: Some(step),
            ..RunOptions::default()
        };
        match nightly::run(&cfg, &opts, None) {
            Err(NightlyError::Crashed(s)) => assert_eq!(s, step),
            other => panic!("{other:?}"),
        }
        // state on disk is either the old or the new one, and refers only to existing files
        let st = State::load(&cfg.state_dir).unwrap();
        assert_eq!(st.run, if step == Step::DayFiles { 1 } else { 2 });
        for name in st.days.values() {
            assert!(cfg.state_dir.join("days").join(name).exists());
        }
        append(&log, &messages(120..150));
        let r = run(&cfg);
        assert_eq!(totals(&r), reference(&messages(0..150)), "{step:?}");
        // outputs are there and agree with the store; no left-overs
        assert_eq!(fs::read_to_string(d.path().join("plain.txt")).unwrap(), "");
        assert!(fs::read_to_string(d.path().join("policy"))
            .unwrap()
            .starts_with("# danemine"));
        let st = State::load(&cfg.state_dir).unwrap();
        let mut on_disk: Vec<String> = fs::read_dir(cfg.state_dir.join("days"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut referenced: Vec<String> = st.days.values().cloned().collect();
        referenced.sort();
        assert_eq!(on_disk, referenced);
        assert!(!fs::read_dir(&cfg.state_dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("spool")));
    }
}

#[test]
fn an_overlapping_run_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    append(&d.path().join("logs/mail.log"), &messages(0..5));
    let held = Lock::acquire(&cfg.state_dir).unwrap();
    let e = nightly::run(
        &cfg,
        &RunOptions {
            now: NOW,
            ..RunOptions::default()
        },
        None,
    )
    .unwrap_err();
    assert!(
        matches!(e, NightlyError::State(StateError::Locked { .. })),
        "{e}"
    );
    drop(held);
    assert_eq!(run(&cfg).attempts, 5);
}

fn danemine() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_danemine"))
}

#[test]
fn command_line_summary_and_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    config(
        d.path(),
        false,
        "[[output]]\npath = \"plain.txt\"\nformat = \"plain\"\n",
    );
    append(&d.path().join("logs/mail.log"), &messages(0..300));
    let conf = d.path().join("nightly.toml");
    let o = Command::new(danemine())
        .args(["nightly", "--config"])
        .arg(&conf)
        .args(["--now", &danemine::timefmt::rfc3339(NOW)])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.starts_with("danemine nightly 2026-11-23T01:00:00Z\n"),
        "{out}"
    );
    assert!(out.contains("logs: 1 files (1 new)"), "{out}");
    assert!(out.contains("300 attempts"), "{out}");
    assert!(out.contains("candidates: 5"), "{out}");
    assert!(o.stderr.is_empty(), "not a terminal: no progress lines");

    // a config error is exit 2 with one line naming the file
    fs::write(&conf, "state_dir = 1\n").unwrap();
    let o = Command::new(danemine())
        .args(["nightly", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nightly.toml"), "{err}");
}

/// Log lines that the scan counts as problems, one each: a delivery line cut short
/// (`malformed-postfix`), a line without a syslog prefix (`no-prefix`), and one that is not
/// UTF-8 (`invalid-utf8`).
fn problem_lines(t: i64) -> Vec<u8> {
    let mut b = format!(
        "{} mail postfix/smtp[10999]: ABCDE3: to=<a@d.example>, relay=x[1.2.3.4]:2\n\
         garbage without any prefix\n",
        ts(t)
    )
    .into_bytes();
    b.extend_from_slice(format!("{} mail postfix/smtp[10998]: caf", ts(t)).as_bytes());
    b.extend_from_slice(b"\xe9\n");
    b
}

fn append_bytes(p: &Path, b: &[u8]) {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap()
        .write_all(b)
        .unwrap();
}

/// Problem counts per kind, over every file.
fn problem_counts(r: &Report) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    for p in r.line_problems.inputs.values() {
        for (k, n) in &p.counts {
            *m.entry(*k).or_default() += n;
        }
    }
    m
}

#[test]
fn a_log_read_to_its_end_then_rotated_keeps_its_correlation_with_the_new_log() {
    // message 10 is a DANE failure: its TLS lines end the old log, its delivery line starts
    // the new one; so does a non-final-MX failure, whose recipient is named in the new log
    // only; problem lines just before the rotation were counted by the first run
    let m10 = message(10);
    let m10: Vec<&str> = m10.split_inclusive('\n').collect();
    assert_eq!(m10.len(), 3);
    let mut old = messages(0..10).into_bytes();
    old.extend_from_slice(&problem_lines(BASE + 6_990));
    old.extend_from_slice(m10[..2].concat().as_bytes());
    old.extend_from_slice(non_final_across("BB00000002", BASE + 7_010, false).as_bytes());
    let new = m10[2].to_string()
        + &non_final_across("BB00000002", BASE + 7_041, true)
        + &messages(11..20);
    let mut all = old.clone();
    all.extend_from_slice(new.as_bytes());
    let want = {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(d.path(), false, "");
        append_bytes(&d.path().join("logs/mail.log"), &all);
        let r = run(&cfg);
        assert_eq!(problem_counts(&r).values().sum::<u64>(), 3);
        totals(&r)
    };
    assert_eq!(want.0["bad2.example"].0.dane_failed, 1);
    assert_eq!(want.0["nf.example"].0.dane_failed, 1);
    assert_eq!(want.0["nf.example"].0.dane_verified, 1);
    for compress in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(d.path(), false, "");
        let logs = d.path().join("logs");
        let log = logs.join("mail.log");
        append_bytes(&log, &old);
        let r1 = run(&cfg);
        assert_eq!(r1.attempts, 10);
        // (the non-final failure has no recipient yet: it is counted when its delivery line
        // comes, and it lies in the lines that the next run reads again, so it is no problem)
        assert_eq!(
            problem_counts(&r1),
            BTreeMap::from([
                ("invalid-utf8", 1),
                ("malformed-postfix", 1),
                ("no-prefix", 1),
            ])
        );
        // rotated (renamed, or compressed at once without delaycompress); a new log starts,
        // with a problem line of its own on its third line
        let rotated = if compress {
            gzip(&log, &logs.join("mail.log.1.gz"));
            "mail.log.1.gz"
        } else {
            fs::rename(&log, logs.join("mail.log.1")).unwrap();
            "mail.log.1"
        };
        let (head, tail) = new.split_at(new.match_indices('\n').nth(2).unwrap().0 + 1);
        append(&log, head);
        append(&log, "garbage in the new log\n");
        append(&log, tail);
        let r2 = run(&cfg);
        assert_eq!(r2.files.len(), 2, "{:?}", r2.files);
        assert!(r2.files[0].path.ends_with(rotated), "{:?}", r2.files);
        assert_eq!(r2.files[0].bytes, 0, "{:?}", r2.files);
        assert!(r2.files[1].path.ends_with("mail.log"), "{:?}", r2.files);
        assert_eq!(r2.attempts, 12, "{compress}");
        // the same as one run over all of it
        assert_eq!(totals(&r2), want, "{compress}");
        let bad = &r2.window.domains["bad2.example"];
        assert_eq!(bad.counts.attempts, 1);
        assert_eq!(bad.counts.dane_failed, 1);
        // the attempt's line is the delivery line, the first of the new log
        let ex = &bad.examples[0];
        assert!(ex.file.ends_with("logs/mail.log"), "{ex:?}");
        assert_eq!(ex.line, 1, "{ex:?}");
        // the non-final failure's line is the last of the old log
        let ex = &r2.window.domains["nf.example"].examples[0];
        assert!(ex.file.ends_with(rotated), "{ex:?}");
        assert_eq!(ex.line as usize, old.split(|b| *b == b'\n').count() - 1);
        // only the new log's problem line is counted, at its line in the new log
        assert_eq!(problem_counts(&r2), BTreeMap::from([("no-prefix", 1)]));
        let p = r2.line_problems.inputs.values().next().unwrap();
        assert!(p.file.ends_with("logs/mail.log"), "{p:?}");
        assert_eq!(p.examples[0].line, 4, "{p:?}");
        assert!(r2.render().contains("skipped or doubtful lines in "));
    }
}

#[test]
fn a_non_final_failure_just_before_the_stop_is_left_to_the_next_run() {
    // two non-final-MX failures wait for their recipient line when the first run stops: one
    // in the last KiB, which the next run reads again, and one 2 KiB before the stop
    let d = tempfile::tempdir().unwrap();
    let mut cfg = config(d.path(), false, "");
    cfg.logs.overlap_kib = 1;
    let log = d.path().join("logs/mail.log");
    let p = format!("{} mail postfix/smtp[20002]:", ts(BASE + 6_400));
    let mut first = messages(0..10);
    first.push_str(&format!(
        "{p} Untrusted TLS connection established to mxa.early.example[192.0.2.20]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
         {p} BB00000004: Server certificate not verified\n"
    ));
    let early_line = first.lines().count() as u64;
    for i in 0..20 {
        first.push_str(&format!(
            "{} mail postfix/qmgr[99]: CC{i:08}: from=<a@b.example>, size=1, nrcpt=1 (queue active)\n",
            ts(BASE + 6_410)
        ));
    }
    first.push_str(&non_final_across("BB00000003", BASE + 6_420, false));
    append(&log, &first);
    let r1 = run(&cfg);
    assert_eq!(
        problem_counts(&r1),
        BTreeMap::from([("non-final-without-recipient", 1)])
    );
    assert_eq!(r1.line_problems.inputs[&0].examples[0].line, early_line);
    // the next run counts the one it read again once its delivery line comes, and does not
    // report the other again
    append(&log, &non_final_across("BB00000003", BASE + 6_450, true));
    let r2 = run(&cfg);
    assert_eq!(r2.files[0].how, "continued");
    assert_eq!(r2.attempts, 2);
    let nf = &r2.window.domains["nf.example"].counts;
    assert_eq!((nf.dane_failed, nf.dane_verified), (1, 1));
    assert!(r2.line_problems.inputs.is_empty(), "{:?}", r2.line_problems);
}

#[test]
fn a_non_final_failure_left_to_the_next_run_is_reported_there_when_no_recipient_comes() {
    // both in the last 2 KiB, which the next run reads again: a non-final-MX failure whose
    // process comes back as a new one two hours later (found without a recipient by the first
    // run), and one still waiting when the first run stops (left to the next)
    let d = tempfile::tempdir().unwrap();
    let mut cfg = config(d.path(), false, "");
    cfg.logs.overlap_kib = 2;
    let log = d.path().join("logs/mail.log");
    let t = BASE + 6_400;
    let p = |pid: u32, t: i64| format!("{} mail postfix/smtp[{pid}]:", ts(t));
    let tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)";
    let mut first = messages(0..10);
    first.push_str(&format!(
        "{} Untrusted TLS connection established to mxa.early.example[192.0.2.20]:25: {tls}\n\
         {} BB00000004: Server certificate not verified\n",
        p(20002, t),
        p(20002, t),
    ));
    let early_line = first.lines().count() as u64;
    append(&log, &first);
    // six problem lines of other kinds before the waiting failure: the next run reads them
    // again too, and they must not crowd its example out
    append_bytes(
        &log,
        &[problem_lines(t + 3_990), problem_lines(t + 3_995)].concat(),
    );
    let mut rest = format!(
        "{} Untrusted TLS connection established to mxc.later.example[192.0.2.30]:25: {tls}\n",
        p(20002, t + 4_000)
    );
    rest.push_str(&non_final_across("BB00000003", t + 4_010, false));
    let waiting_line = early_line + 6 + rest.lines().count() as u64;
    append(&log, &rest);
    let r1 = run(&cfg);
    let one = BTreeMap::from([("non-final-without-recipient", 1)]);
    let noise = [
        ("invalid-utf8", 2),
        ("malformed-postfix", 2),
        ("no-prefix", 2),
    ];
    let mut want = BTreeMap::from(noise);
    want.extend(one.clone());
    assert_eq!(problem_counts(&r1), want);
    assert_eq!(r1.line_problems.inputs[&0].examples[0].line, early_line);
    // the next run reads both again; two hours on, with no recipient line, the waiting one
    // is reported at its line, the other not again
    append(
        &log,
        &format!(
            "{} Untrusted TLS connection established to mxd.other.example[192.0.2.40]:25: {tls}\n",
            p(20003, t + 4_010 + 7_200)
        ),
    );
    let r2 = run(&cfg);
    assert_eq!(r2.files[0].how, "continued");
    assert_eq!(problem_counts(&r2), one, "{:?}", r2.line_problems);
    let p2 = &r2.line_problems.inputs[&0];
    assert_eq!(p2.examples[0].line, waiting_line, "{p2:?}");
    assert!(p2.file.ends_with("mail.log"), "{p2:?}");
    // and a run with nothing new reports nothing
    let r3 = run(&cfg);
    assert!(r3.line_problems.inputs.is_empty(), "{:?}", r3.line_problems);
}

#[test]
fn a_problem_line_in_the_warm_up_is_counted_once() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    let log = d.path().join("logs/mail.log");
    append(&log, &messages(0..10));
    append_bytes(&log, &problem_lines(BASE + 6_990));
    append(&log, &messages(10..12));
    let r1 = run(&cfg);
    let once = BTreeMap::from([
        ("invalid-utf8", 1),
        ("malformed-postfix", 1),
        ("no-prefix", 1),
    ]);
    assert_eq!(problem_counts(&r1), once);
    // the next run reads those lines again as warm-up: not counted again; a new problem line
    // is, at its line in the file
    let before =
        messages(0..10).lines().count() as u64 + 3 + messages(10..12).lines().count() as u64;
    append(&log, &messages(12..14));
    append(&log, "garbage after the stop\n");
    let r2 = run(&cfg);
    assert_eq!(r2.files[0].how, "continued");
    assert_eq!(r2.attempts, 2);
    assert_eq!(problem_counts(&r2), BTreeMap::from([("no-prefix", 1)]));
    let p = &r2.line_problems.inputs[&0];
    let at = before + messages(12..14).lines().count() as u64 + 1;
    assert_eq!(p.examples[0].line, at, "{p:?}");
    // a run with nothing new counts nothing
    let r3 = run(&cfg);
    assert!(r3.line_problems.inputs.is_empty(), "{:?}", r3.line_problems);
}

/// A nightly run with verification on against `resolver`, over logs with failing domains.
fn run_verified_against(resolver: &str) -> (Report, String) {
    let d = tempfile::tempdir().unwrap();
    let outputs = format!(
        "resolver = \"{resolver}\"\nport = 2525\ntimeout_secs = 1\n\
         [[output]]\npath = \"out/dane_exclusions\"\nformat = \"postfix\"\n"
    );
    let cfg = config(d.path(), true, &outputs);
    append(&d.path().join("logs/mail.log"), &messages(0..270));
    let mut v = nightly::LiveVerifier::from_config(&cfg).unwrap();
    let r = nightly::run(
        &cfg,
        &RunOptions {
            now: NOW,
            ..RunOptions::default()
        },
        Some(&mut v),
    )
    .unwrap();
    let table = fs::read_to_string(d.path().join("out/dane_exclusions")).unwrap_or_default();
    (r, table)
}

#[test]
fn a_resolver_that_is_down_or_failing_confirms_nothing() {
    let failing = common::servfail_server().to_string();
    // nothing listens on the first; the second fails every query
    for resolver in ["127.0.0.1:9", failing.as_str()] {
        let (r, table) = run_verified_against(resolver);
        assert!(
            r.candidates.contains(&"bad0.example".to_string()),
            "{resolver}: {:?}",
            r.candidates
        );
        // the run says so, for the cron mail, and confirms nothing
        let e = r.verify_error.as_deref().unwrap_or_default();
        assert!(e.contains("no MX lookup"), "{resolver}: {e:?}");
        assert!(r.needs_attention());
        assert!(r.verified.is_empty(), "{resolver}: {:?}", r.verified);
        assert!(
            !r.changes
                .iter()
                .any(|c| matches!(c, danemine::act::store::Change::Added { .. })),
            "{resolver}: {:?}",
            r.changes
        );
        assert!(
            !table.lines().any(|l| l.ends_with(" may")),
            "{resolver}: {table}"
        );
    }
}

/// The spool directory of a run that was killed (named by its pid) is removed by the next run.
#[test]
fn a_killed_runs_spool_is_removed() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    append(&d.path().join("logs/mail.log"), &messages(0..10));
    run(&cfg);
    let stale = cfg.state_dir.join("spool.999999");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("0.log"), messages(0..10)).unwrap();
    append(&d.path().join("logs/mail.log"), &messages(10..12));
    let r = run(&cfg);
    assert_eq!(r.attempts, 2);
    assert!(!stale.exists());
}

/// A configured log that does not exist (yet) is a problem of the run; the others are read.
#[test]
fn a_missing_log_is_a_problem_not_the_end_of_the_run() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("logs")).unwrap();
    fs::write(
        d.path().join("nightly.toml"),
        "state_dir = \"state\"\n[logs]\npaths = [\"logs/mail.log\", \"logs/other.log\"]\n\
         mta = \"postfix\"\n[verify]\nenabled = false\n",
    )
    .unwrap();
    let cfg = Config::load(&d.path().join("nightly.toml")).unwrap();
    append(&d.path().join("logs/mail.log"), &messages(0..10));
    let r = run(&cfg);
    assert_eq!(r.attempts, 10);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].contains("other.log: no such file"),
        "{:?}",
        r.problems
    );
    assert!(r.needs_attention());
}

/// A log read in part, then compressed by a rotation that is not finished when the next run
/// comes (its plain file already gone): that run retries it, and the run after reads it from
/// where the first stopped, not from its start.
#[test]
fn an_unfinished_compressed_rotation_keeps_where_the_log_was_read_to() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    let logs = d.path().join("logs");
    append(&logs.join("mail.log"), &messages(0..60));
    assert_eq!(run(&cfg).attempts, 60);
    append(&logs.join("mail.log"), &messages(60..120));
    gzip(&logs.join("mail.log"), &logs.join("mail.log.1.gz"));
    let full = fs::read(logs.join("mail.log.1.gz")).unwrap();
    fs::write(logs.join("mail.log.1.gz"), &full[..full.len() / 2]).unwrap();
    let r = run(&cfg);
    assert_eq!(r.attempts, 0);
    assert!(
        r.problems.iter().any(|p| p.contains("mail.log.1.gz")),
        "{:?}",
        r.problems
    );
    fs::write(logs.join("mail.log.1.gz"), &full).unwrap();
    let r = run(&cfg);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.attempts, 60);
    assert_eq!(totals(&r), reference(&messages(0..120)));
}

/// The verifier's options from the config: a sender that refuses hosts without usable TLSA
/// records (by default at `tls_level = "dane-only"`, or said outright), and the EHLO name.
#[test]
fn verifier_options_follow_the_config() {
    let options = |logs: &str, verify: &str| {
        let text = format!("state_dir = \"s\"\n[logs]\npaths = [\"x\"]\n{logs}[verify]\n{verify}");
        let cfg = Config::parse(&text, Path::new("/etc/danemine")).unwrap();
        nightly::LiveVerifier::from_config(&cfg).unwrap().options
    };
    assert!(!options("", "").unusable_tlsa_refuses);
    assert!(options("tls_level = \"dane-only\"\n", "").unusable_tlsa_refuses);
    assert!(options("mta = \"exim\"\n", "").unusable_tlsa_refuses);
    assert!(options("", "unusable_tlsa_refuses = true\n").unusable_tlsa_refuses);
    assert!(
        !options(
            "tls_level = \"dane-only\"\n",
            "unusable_tlsa_refuses = false\n"
        )
        .unusable_tlsa_refuses
    );
    assert_eq!(
        options("", "ehlo_name = \"out.example.org\"\n").ehlo_name,
        "out.example.org"
    );
    assert_eq!(
        options("", "").ehlo_name,
        danemine::verify::default_ehlo_name()
    );
}

/// A re-verifier for the state machine's sake: the bad*.example domains fail (a TLSA
/// mismatch), every other verifies. (The live one is tested against real servers in
/// nightly_live.rs.)
struct BadOnesFail;

impl nightly::Reverify for BadOnesFail {
    fn verify(
        &mut self,
        domains: &[String],
        now: i64,
    ) -> Result<Vec<danemine::act::store::Confirmation>, String> {
        use danemine::act::store::{Confirmation, LiveVerdict};
        let confirm = |d: &String| Confirmation {
            domain: d.clone(),
            verdict: match d.starts_with("bad") {
                true => LiveVerdict::CertMismatch,
                false => LiveVerdict::DaneOk,
            },
            mx_hosts: vec![format!("mx.{d}")],
            evidence: vec!["TLSA 3 1 1 matches no certificate".into()],
            confirmed_at: now,
            first_seen: None,
            log_verdict: None,
            candidate: false,
        };
        Ok(domains.iter().map(confirm).collect())
    }
}

/// A run stopped after its commit, before its summary, has its additions told by the next
/// run, as additions (which need a person), and only once.
#[test]
fn additions_of_a_run_stopped_after_its_commit_are_told_by_the_next() {
    use danemine::act::store::Change;
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), true, "");
    append(&d.path().join("logs/mail.log"), &messages(0..150));
    let opts = |crash_after| RunOptions {
        now: NOW,
        crash_after,
        ..RunOptions::default()
    };
    let added = |r: &Report| -> Vec<String> {
        let added = r.changes.iter().filter_map(|c| match c {
            Change::Added { domain, .. } => Some(domain.clone()),
            _ => None,
        });
        added.collect()
    };
    match nightly::run(&cfg, &opts(Some(Step::Commit)), Some(&mut BadOnesFail)) {
        Err(NightlyError::Crashed(Step::Commit)) => {}
        other => panic!("{other:?}"),
    }
    let st = State::load(&cfg.state_dir).unwrap();
    assert!(!st.unannounced.is_empty());
    assert!(st.unannounced.iter().all(|d| d.starts_with("bad")));
    let r = nightly::run(&cfg, &opts(None), Some(&mut BadOnesFail)).unwrap();
    assert_eq!(added(&r), st.unannounced, "{:?}", r.changes);
    assert!(r
        .problems
        .iter()
        .any(|p| p.contains("stopped after its commit")));
    assert!(r.needs_attention());
    assert!(State::load(&cfg.state_dir).unwrap().unannounced.is_empty());
    // told once
    let r = nightly::run(&cfg, &opts(None), Some(&mut BadOnesFail)).unwrap();
    assert!(added(&r).is_empty(), "{:?}", r.changes);
    assert!(r
        .changes
        .iter()
        .any(|c| matches!(c, Change::Reconfirmed { .. })));
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

/// A run dated before the last one (a clock set back, a --now meant for a replay) is refused
/// and changes nothing; a clock stepped back a little is not.
#[test]
fn a_run_dated_before_the_last_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), false, "");
    append(&d.path().join("logs/mail.log"), &messages(0..20));
    run(&cfg);
    let before = fs::read(State::path(&cfg.state_dir)).unwrap();
    let at = |now| RunOptions {
        now,
        ..RunOptions::default()
    };
    let err = nightly::run(&cfg, &at(NOW - 2 * 86_400), None).unwrap_err();
    assert!(matches!(err, NightlyError::ClockBack { .. }), "{err}");
    assert!(err.to_string().contains("clock went back"), "{err}");
    assert_eq!(fs::read(State::path(&cfg.state_dir)).unwrap(), before);
    assert!(nightly::run(&cfg, &at(NOW - 60), None).is_ok());
}
