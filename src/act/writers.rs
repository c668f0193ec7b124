//! Writers of the exclusion file in the forms MTAs read: a Postfix `smtp_tls_policy_maps`
//! table, Exim lists (recipient domains for a router condition; MX hosts for the smtp
//! transport's `hosts_try_dane`/`hosts_require_dane`), a plain list, and a danefail-format list.
//!
//! Every name is checked again with [`crate::domain::normalize`] while rendering (a store file
//! edited by hand cannot smuggle a line in), comments hold only sanitised one-line text, and every
//! file is written with [`crate::fsutil::write_atomic`], keeping the previous version as `.prev`.

use super::store::{clean_text, Entry, Protected, Store};
use crate::domain;
use crate::fsutil;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::str::FromStr;

/// The output forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Postfix `smtp_tls_policy_maps`: `domain may` lines with `#` comments.
    Postfix,
    /// Exim domain list (one recipient domain per line) for a router's `domains` condition.
    EximDomains,
    /// Exim host list (one MX host per line) for `hosts_try_dane`/`hosts_require_dane`.
    EximHosts,
    /// One domain per line, nothing else.
    Plain,
    /// The danefail list format (sections, `## mx-host` blocks, dated evidence comments).
    Danefail,
}

impl Format {
    /// Every form.
    pub const ALL: [Format; 5] = [
        Format::Postfix,
        Format::EximDomains,
        Format::EximHosts,
        Format::Plain,
        Format::Danefail,
    ];

    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Postfix => "postfix",
            Format::EximDomains => "exim-domains",
            Format::EximHosts => "exim-hosts",
            Format::Plain => "plain",
            Format::Danefail => "danefail",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown output format {s:?} (postfix, exim-domains, exim-hosts, plain, danefail)")
            })
    }
}

/// A rendered file and the names that were left out because they failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub skipped: Vec<String>,
}

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn stamp(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The entries whose names are valid (and normal), plus the rejected names.
fn valid_entries(store: &Store) -> (Vec<(&Entry, Vec<String>)>, Vec<String>) {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for (key, e) in &store.entries {
        match domain::normalize(key) {
            Ok(n) if n == key.as_str() && e.domain == *key => {
                let hosts = e
                    .mx_hosts
                    .iter()
                    .filter(|h| matches!(domain::normalize(h), Ok(n) if n == h.as_str()))
                    .cloned()
                    .collect();
                ok.push((e, hosts))
            }
            _ => skipped.push(clean_text(key)),
        }
    }
    (ok, skipped)
}

fn header(out: &mut String, what: &str, generated: i64, n: usize) {
    let _ = writeln!(out, "# danemine {what}");
    let _ = writeln!(
        out,
        "# generated {}; {n} entries; rewritten by `danemine nightly`, do not edit",
        stamp(generated)
    );
    out.push_str("#\n");
}

fn entry_comment(out: &mut String, e: &Entry, hosts: &[String]) {
    let _ = writeln!(
        out,
        "# {}: {}; added {}; confirmed {}; expires {}{}",
        e.domain,
        e.class,
        date(e.added),
        date(e.confirmed_at),
        date(e.expires),
        e.first_seen
            .map(|t| format!("; first seen in logs {}", date(t)))
            .unwrap_or_default()
    );
    if !hosts.is_empty() {
        let _ = writeln!(out, "# mx: {}", hosts.join(" "));
    }
    for l in &e.evidence {
        let l = clean_text(l);
        if !l.is_empty() {
            let _ = writeln!(out, "# evidence: {l}");
        }
    }
}

/// Postfix `smtp_tls_policy_maps`: for each excluded domain, comment lines (dates, class, MX
/// hosts, evidence) and `domain may`, sorted by domain.
pub fn render_postfix(store: &Store, generated: i64) -> Rendered {
    let (entries, skipped) = valid_entries(store);
    let mut out = String::new();
    header(
        &mut out,
        "DANE exclusions for Postfix smtp_tls_policy_maps (level \"may\")",
        generated,
        entries.len(),
    );
    for (e, hosts) in &entries {
        out.push('\n');
        entry_comment(&mut out, e, hosts);
        let _ = writeln!(out, "{} may", e.domain);
    }
    Rendered { text: out, skipped }
}

/// Exim domain list: one excluded recipient domain per line, `#` comments above each.
pub fn render_exim_domains(store: &Store, generated: i64) -> Rendered {
    let (entries, skipped) = valid_entries(store);
    let mut out = String::new();
    header(
        &mut out,
        "DANE exclusions for Exim: recipient domains (router `domains = /path/to/this/file`)",
        generated,
        entries.len(),
    );
    for (e, hosts) in &entries {
        out.push('\n');
        entry_comment(&mut out, e, hosts);
        let _ = writeln!(out, "{}", e.domain);
    }
    Rendered { text: out, skipped }
}

/// Exim host list: every failing MX host of the excluded domains, one per line, sorted, with
/// the domains it serves in a comment. Protected names are left out: excluding a host
/// downgrades DANE for every domain it serves.
pub fn render_exim_hosts(store: &Store, generated: i64, protected: &Protected) -> Rendered {
    let (entries, skipped) = valid_entries(store);
    let mut hosts: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
    for (e, hs) in &entries {
        for h in hs {
            if let Some(k) = e.mx_hosts.iter().find(|x| *x == h) {
                if !protected.matches(k) {
                    hosts
                        .entry(k.as_str())
                        .or_default()
                        .insert(e.domain.as_str());
                }
            }
        }
    }
    let mut out = String::new();
    header(
        &mut out,
        "DANE exclusions for Exim: MX hosts (smtp transport `hosts_try_dane = ! /path/to/this/file : *`)",
        generated,
        hosts.len(),
    );
    for (h, ds) in &hosts {
        let list: Vec<&str> = ds.iter().copied().collect();
        let _ = writeln!(out, "# {h}: MX of {}", list.join(" "));
        let _ = writeln!(out, "{h}");
    }
    Rendered { text: out, skipped }
}

/// One excluded domain per line, nothing else.
pub fn render_plain(store: &Store) -> Rendered {
    let (entries, skipped) = valid_entries(store);
    let mut out = String::new();
    for (e, _) in &entries {
        out.push_str(&e.domain);
        out.push('\n');
    }
    Rendered { text: out, skipped }
}

/// A danefail-format list of the store: one block per failure class and failing MX host set,
/// in the section the class belongs in, with the date added and the evidence as comments.
pub fn render_danefail(store: &Store) -> Rendered {
    use crate::danefail::list::{List, Section};
    let (entries, skipped) = valid_entries(store);
    let header = "# -----------------\n# DNS problems: TLSA record lookup failure, dropped queries, incorrect denial\n# of existence proofs, looping CNAMEs, ...\n\n# -----------------\n# STARTTLS problems: TLSA records that don't match the server certificate\n# chain, or no STARTTLS support at all\n";
    let mut list = List::parse(header, "header").unwrap_or_default();
    let mut blocks: std::collections::BTreeMap<(u8, Vec<String>), Vec<&Entry>> =
        std::collections::BTreeMap::new();
    for (e, _) in &entries {
        let section = Section::for_class(e.class);
        let key = (u8::from(section == Section::Starttls), e.mx_hosts.clone());
        blocks.entry(key).or_default().push(e);
    }
    let mut skipped = skipped;
    for ((sec, hosts), es) in blocks {
        let section = if sec == 1 {
            Section::Starttls
        } else {
            Section::Dns
        };
        let added = es.iter().map(|e| e.added).min().unwrap_or(0);
        let mut evidence: Vec<String> = Vec::new();
        for e in &es {
            for line in &e.evidence {
                if !evidence.contains(line) {
                    evidence.push(line.clone());
                }
            }
        }
        let domains: Vec<String> = es.iter().map(|e| e.domain.clone()).collect();
        if list
            .add_block(section, &hosts, &date(added), &evidence, &domains)
            .is_err()
        {
            skipped.extend(domains);
        }
    }
    Rendered {
        text: list.render(),
        skipped,
    }
}

/// Write `text` to `path` atomically, keeping the previous version as `<path>.prev`.
/// Returns false (and leaves the file alone) when the content is unchanged, the time in the
/// `# generated` line of [`header`] aside.
pub fn write_if_changed(path: &Path, text: &str) -> io::Result<bool> {
    if let Ok(old) = std::fs::read_to_string(path) {
        if without_generated(&old).eq(without_generated(text)) {
            return Ok(false);
        }
    }
    fsutil::write_atomic(path, text.as_bytes(), true)?;
    Ok(true)
}

/// The lines of a rendered file but the `# generated <time>` one.
fn without_generated(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.starts_with("# generated "))
}

/// Remove temp files (`<name>.tmp.<pid>`, `<name>.prev.tmp.<pid>`) that a writer killed
/// mid-write left next to `path`. Call only while holding the nightly lock.
pub fn remove_stale_temps(path: &Path) -> io::Result<usize> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(0);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let mut n = 0;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let ent = ent?;
        let f = ent.file_name();
        let f = f.to_string_lossy();
        let rest = f.strip_prefix(name.as_ref()).and_then(|r| {
            r.strip_prefix(".tmp.")
                .or_else(|| r.strip_prefix(".prev.tmp."))
        });
        if rest.is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())) {
            std::fs::remove_file(ent.path())?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::store::{Confirmation, LiveVerdict, Policy, DAY};
    use super::*;
    use crate::model::FailureClass;

    const NOW: i64 = 1_790_000_000;

    fn store() -> Store {
        let mut s = Store::default();
        let mk = |d: &str, v: LiveVerdict, mx: &[&str]| Confirmation {
            domain: d.into(),
            verdict: v,
            mx_hosts: mx.iter().map(|s| s.to_string()).collect(),
            evidence: vec![format!("_25._tcp.{} TLSA 3 1 1 00ff does not match", mx[0])],
            confirmed_at: NOW,
            first_seen: Some(NOW - 3 * DAY),
            log_verdict: None,
            candidate: true,
        };
        s.apply(
            NOW,
            &Policy::default(),
            &[
                mk(
                    "b.example",
                    LiveVerdict::CertMismatch,
                    &["mx1.b.example", "mx2.b.example"],
                ),
                mk("a.example", LiveVerdict::NoStarttls, &["mx.shared.example"]),
                mk("c.example", LiveVerdict::Dnssec, &["mx.shared.example"]),
            ],
        );
        s
    }

    #[test]
    fn postfix_is_sorted_commented_and_may() {
        let r = render_postfix(&store(), NOW);
        assert!(r.skipped.is_empty());
        let keys: Vec<&str> = r
            .text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(keys, ["a.example may", "b.example may", "c.example may"]);
        assert!(r.text.contains(&format!(
            "# b.example: cert-mismatch; added {}; confirmed {}; expires {}; first seen in logs {}\n# mx: mx1.b.example mx2.b.example\n# evidence: _25._tcp.mx1.b.example TLSA 3 1 1 00ff does not match\nb.example may\n",
            date(NOW), date(NOW), date(NOW + 30 * DAY), date(NOW - 3 * DAY)
        )));
        // nothing but comments, blank lines and key-value lines; none starts with white space
        for l in r.text.lines() {
            assert!(
                l.is_empty() || l.starts_with('#') || l.ends_with(" may"),
                "{l:?}"
            );
            assert!(!l.starts_with([' ', '\t']));
        }
    }

    #[test]
    fn exim_lists_and_plain() {
        let s = store();
        let d = render_exim_domains(&s, NOW).text;
        let names: Vec<&str> = d
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(names, ["a.example", "b.example", "c.example"]);
        let p = Protected::parse(&["mx2.b.example"]).unwrap();
        let h = render_exim_hosts(&s, NOW, &p).text;
        let names: Vec<&str> = h.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(names, ["mx.shared.example", "mx1.b.example"]);
        assert!(h.contains("# mx.shared.example: MX of a.example c.example\n"));
        assert_eq!(render_plain(&s).text, "a.example\nb.example\nc.example\n");
    }

    #[test]
    fn tampered_store_names_are_skipped() {
        let mut s = store();
        let mut e = s.entries["a.example"].clone();
        for bad in [
            "evil.example\nx.example",
            "evil.example may",
            "#x.example",
            "UPPER.example",
        ] {
            e.domain = bad.into();
            s.entries.insert(bad.into(), e.clone());
        }
        s.entries
            .get_mut("b.example")
            .unwrap()
            .mx_hosts
            .push("mx\nevil.example".into());
        s.entries
            .get_mut("b.example")
            .unwrap()
            .evidence
            .push("a\nb.example may".into());
        s.entries.get_mut("c.example").unwrap().class = FailureClass::Dnssec;
        let r = render_postfix(&s, NOW);
        assert_eq!(r.skipped.len(), 4);
        let keys: Vec<&str> = r
            .text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(keys, ["a.example may", "b.example may", "c.example may"]);
        assert!(r.text.contains("# evidence: a b.example may\n"));
        assert_eq!(render_plain(&s).text, "a.example\nb.example\nc.example\n");
        let h = render_exim_hosts(&s, NOW, &Protected::default()).text;
        assert!(!h.contains("evil"));
    }

    /// A run that changes nothing but the time it was generated leaves the file alone; one
    /// that changes only comments rewrites it.
    #[test]
    fn the_generated_time_alone_is_no_change() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tls_policy");
        let s = store();
        assert!(write_if_changed(&p, &render_postfix(&s, NOW).text).unwrap());
        assert!(!write_if_changed(&p, &render_postfix(&s, NOW + 3600).text).unwrap());
        let before = std::fs::read_to_string(&p).unwrap();
        let commented = before.replace("# evidence:", "# evidence, again:");
        assert!(write_if_changed(&p, &commented).unwrap());
    }

    #[test]
    fn write_if_changed_keeps_previous_and_cleans_temps() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tls_policy");
        assert!(write_if_changed(&p, "one\n").unwrap());
        assert!(!write_if_changed(&p, "one\n").unwrap());
        assert!(!d.path().join("tls_policy.prev").exists());
        assert!(write_if_changed(&p, "two\n").unwrap());
        assert_eq!(
            std::fs::read_to_string(d.path().join("tls_policy.prev")).unwrap(),
            "one\n"
        );
        std::fs::write(d.path().join("tls_policy.tmp.123"), "torn").unwrap();
        std::fs::write(d.path().join("tls_policy.prev.tmp.9"), "torn").unwrap();
        std::fs::write(d.path().join("tls_policy.tmp.x"), "not ours").unwrap();
        std::fs::write(d.path().join("other.tmp.1"), "not ours").unwrap();
        assert_eq!(remove_stale_temps(&p).unwrap(), 2);
        assert!(d.path().join("tls_policy.tmp.x").exists());
        assert!(d.path().join("other.tmp.1").exists());
    }

    #[test]
    fn format_names() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
        assert!("csv".parse::<Format>().is_err());
    }
}

#[cfg(test)]
mod danefail_format_tests {
    use super::*;
    use crate::act::store::{Entry, Store};
    use crate::model::FailureClass;

    #[test]
    fn danefail_format_groups_blocks_by_section_and_mx() {
        let mut store = Store::default();
        for (d, c, mx) in [
            ("a.example", FailureClass::CertMismatch, "mx.shared.example"),
            ("b.example", FailureClass::CertMismatch, "mx.shared.example"),
            ("c.example", FailureClass::Dnssec, "mx.c.example"),
        ] {
            store.entries.insert(
                d.to_string(),
                Entry {
                    domain: d.into(),
                    class: c,
                    mx_hosts: vec![mx.into()],
                    first_seen: None,
                    added: 1_790_000_000,
                    confirmed_at: 1_790_000_000,
                    expires: 1_792_592_000,
                    evidence: vec!["no TLSA record matches".into()],
                },
            );
        }
        let r = render_danefail(&store);
        let l = crate::danefail::list::List::parse(&r.text, "out").unwrap();
        let idx = l.lines.iter().position(|x| x.raw == "b.example").unwrap();
        assert_eq!(l.block_hosts(idx), vec!["mx.shared.example"]);
        assert_eq!(
            l.section_of(idx),
            Some(crate::danefail::list::Section::Starttls)
        );
        let idx = l.lines.iter().position(|x| x.raw == "c.example").unwrap();
        assert_eq!(l.section_of(idx), Some(crate::danefail::list::Section::Dns));
        assert_eq!(r.text.matches("## mx.shared.example").count(), 1);
    }
}
