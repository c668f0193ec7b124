//! The 2018 talk, rebuilt from synthetic data: a September 2018 month of gateway logs and a
//! danefail-format git repository, calibrated so that the real pipeline finds 20,000 domains
//! that verify, 622 domains ever listed up to 2018-10-02, 256 failing here and 12 in both.
//!
//! Nothing here prints the counts: `danemine reproduce` scans the log, reads the repository's
//! history and compares, like any user's run.

use crate::danefail::list::{List, Section};
use crate::samplegen::Rng;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Domains that verify in the month.
pub const VALID: usize = 20_000;
/// Domains with only DANE failures in the month.
pub const FAILING: usize = 256;
/// Distinct domains ever on the list up to 2018-10-02.
pub const EVER_LISTED: usize = 622;
/// Of the failing domains, how many were ever listed.
pub const FAILING_LISTED: usize = 12;
/// Listed domains that verify fine in the month (stale entries).
pub const STALE_LISTED: usize = 37;

const BIG: [(&str, &str, u64); 5] = [
    ("gmail.com", "gmail-smtp-in.l.google.com", 40),
    ("hotmail.com", "hotmail-com.olc.protection.outlook.com", 25),
    ("outlook.com", "outlook-com.olc.protection.outlook.com", 15),
    ("yahoo.com", "mta5.am0.yahoodns.net", 10),
    ("ziggo.nl", "mx.ziggo.nl", 8),
];

fn name(prefix: &str, i: usize) -> String {
    const S: [&str; 12] = [
        "de", "ka", "vo", "rin", "tel", "mar", "sol", "ben", "ix", "lo", "pra", "nu",
    ];
    let a = S[i % 12];
    let b = S[(i / 12) % 12];
    let tld = ["nl", "de", "se", "cz", "dk", "org", "com", "eu"][(i / 144) % 8];
    format!("{prefix}{a}{b}{i}.{tld}")
}

/// The valid, failing and never-seen-but-listed domain names.
pub fn domains() -> (Vec<String>, Vec<String>, Vec<String>) {
    let valid = (0..VALID).map(|i| name("v", i)).collect();
    let failing = (0..FAILING).map(|i| name("f", i)).collect();
    let unseen = (0..EVER_LISTED - FAILING_LISTED - STALE_LISTED)
        .map(|i| name("x", i))
        .collect();
    (valid, failing, unseen)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Write the month of gateway lines (BSD syslog prefix, read with `--year 2018`).
pub fn write_month(w: &mut dyn Write) -> io::Result<()> {
    let (valid, failing, _) = domains();
    let mut r = Rng::new(2018);
    let mut out = BufWriter::with_capacity(1 << 20, w);
    // 30 days of September; each DANE domain gets a few attempts on random days
    let mut events: Vec<(u32, u32, u8, usize)> = Vec::new(); // (day, secs, kind, index)
    for i in 0..VALID {
        for _ in 0..(1 + r.below(3)) {
            events.push((1 + r.below(30) as u32, r.below(86_400) as u32, 0, i));
        }
    }
    for i in 0..FAILING {
        for _ in 0..(2 + r.below(4)) {
            events.push((1 + r.below(30) as u32, r.below(86_400) as u32, 1, i));
        }
    }
    // non-DANE traffic, dominated by a few big receivers
    let total: u64 = BIG.iter().map(|b| b.2).sum();
    for _ in 0..120_000 {
        let mut x = r.below(total);
        let mut k = 0;
        while x >= BIG[k].2 {
            x -= BIG[k].2;
            k += 1;
        }
        events.push((1 + r.below(30) as u32, r.below(86_400) as u32, 2, k));
    }
    events.sort_unstable();
    let reasons = [
        "Fail (TLSA record mismatch)",
        "Fail (DNSSEC validation failure)",
        "Defer (TLSA lookup failure)",
        "Fail (STARTTLS not offered)",
        "Fail (TLS handshake failure)",
    ];
    for (day, secs, kind, i) in events {
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        write!(
            out,
            "{} {day:>2} {h:02}:{m:02}:{s:02} gw01 cmgw[{}]: logline: ",
            MONTHS[8],
            4000 + r.below(50)
        )?;
        match kind {
            0 => writeln!(
                out,
                "to=u{}@{}, mode=dane strict, dane=\"Verify (Secure TLSA RRs found)\", tls=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384, tlsvalid=\"0 (ok)\", relay=mx.{} [192.0.2.{}], dsn=250",
                r.below(100), valid[i], valid[i], i % 250 + 1
            )?,
            1 => writeln!(
                out,
                "to=u{}@{}, mode=dane strict, dane=\"{}\", tls=none, tlsvalid=\"-1 (none)\", relay=mx.{} [198.51.100.{}], dsn=451",
                r.below(100), failing[i], reasons[i % reasons.len()], failing[i], i % 250 + 1
            )?,
            _ => writeln!(
                out,
                "to=u{}@{}, mode=dane opportunistic, dane=\"Skip (Insecure host information)\", tls=TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256, tlsvalid=\"0 (ok)\", relay={} [203.0.113.{}], dsn=250",
                r.below(100_000), BIG[i].0, BIG[i].1, i + 1
            )?,
        }
    }
    out.flush()
}

fn git(repo: &Path, args: &[&str], date: Option<&str>) -> io::Result<()> {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo).args(args);
    c.env("GIT_AUTHOR_NAME", "danefail")
        .env("GIT_AUTHOR_EMAIL", "danefail@example.org")
        .env("GIT_COMMITTER_NAME", "danefail")
        .env("GIT_COMMITTER_EMAIL", "danefail@example.org")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    if let Some(d) = date {
        c.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = c.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Build the synthetic danefail repository: commits from 2017-09 to 2018-12, each adding or
/// removing blocks with the list model; by 2018-10-02 it has held 622 distinct entry lines.
pub fn build_repo(repo: &Path) -> io::Result<()> {
    let (valid, failing, unseen) = domains();
    std::fs::create_dir_all(repo)?;
    git(repo, &["init", "-q", "-b", "master"], None)?;
    let mut listed: Vec<String> = Vec::new();
    listed.extend(failing.iter().take(FAILING_LISTED).cloned());
    listed.extend(valid.iter().step_by(500).take(STALE_LISTED).cloned());
    listed.extend(unseen);
    assert_eq!(listed.len(), EVER_LISTED);
    let mut r = Rng::new(622);
    // shuffle deterministically
    for i in (1..listed.len()).rev() {
        listed.swap(i, r.below(i as u64 + 1) as usize);
    }
    let header = "# -----------------\n# DNS problems: TLSA record lookup failure, dropped queries, incorrect denial\n# of existence proofs, looping CNAMEs, ...\n\n# -----------------\n# STARTTLS problems: TLSA records that don't match the server certificate\n# chain, or no STARTTLS support at all\n";
    let mut list = List::parse(header, "header").map_err(|e| io::Error::other(e.to_string()))?;
    let file = repo.join("dane_fail_list.dat");
    let commit = |list: &List, date: &str, msg: &str| -> io::Result<()> {
        std::fs::write(&file, list.render())?;
        git(repo, &["add", "dane_fail_list.dat"], None)?;
        git(repo, &["commit", "-q", "-m", msg], Some(date))
    };
    commit(&list, "2017-09-04T22:43:42+02:00", "Initial commit")?;
    // 60 commits over 13 months: add 10-11 domains in one block, sometimes remove an old block
    let mut next = 0usize;
    let mut present: Vec<Vec<String>> = Vec::new();
    let mut day = 0i64;
    while next < listed.len() {
        day += 6;
        let take = 10 + (r.below(2) as usize);
        let block: Vec<String> = listed[next..(next + take).min(listed.len())].to_vec();
        next += block.len();
        let host = format!("mx.{}", block[0]);
        let section = if r.pct(50) {
            Section::Dns
        } else {
            Section::Starttls
        };
        let date = crate::timefmt::rfc3339(1_504_483_200 + day * 86_400);
        let (d, _) = date.split_at(10);
        list.add_block(
            section,
            std::slice::from_ref(&host),
            d,
            &["synthetic evidence".to_string()],
            &block,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        commit(
            &list,
            &format!("{d}T12:00:00-04:00"),
            &format!("{host} stale TLSA"),
        )?;
        present.push(block);
        if present.len() > 4 && r.pct(60) {
            let gone = present.remove(0);
            list.remove_domains(&gone);
            commit(
                &list,
                &format!("{d}T18:00:00-04:00"),
                &format!("mx.{} resolved", gone[0]),
            )?;
        }
    }
    // everything above is on or before 2018-10-02; later entries must not count
    assert!(
        1_504_483_200 + day * 86_400 < 1_538_438_400,
        "calibration: all additions before 2018-10-02"
    );
    list.add_block(
        Section::Dns,
        &["mx.late-listed.example".to_string()],
        "2018-11-15",
        &[],
        &[
            "late-listed.example".to_string(),
            failing[FAILING - 1].clone(),
        ],
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    commit(
        &list,
        "2018-11-15T10:00:00-05:00",
        "mx.late-listed.example stale TLSA",
    )?;
    Ok(())
}

/// Build the log and the repository under `dir` unless they exist; returns their paths.
pub fn build(dir: &Path) -> io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let log = dir.join("gateway-2018-09.log");
    let repo = dir.join("danefail-list");
    if !log.is_file() {
        crate::fsutil::write_atomic_with(&log, false, |w| write_month(w))?;
    }
    if !repo.join(".git").is_dir() {
        let tmp = dir.join("danefail-list.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        build_repo(&tmp)?;
        std::fs::rename(&tmp, &repo)?;
    }
    Ok((log, repo))
}
