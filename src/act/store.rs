//! The exclusion store: which domains get DANE downgraded, on what evidence, until when.
//!
//! Security rules (the exclusion file downgrades DANE to opportunistic TLS):
//! - a domain enters only with a live confirmation (a re-verification verdict naming a DANE
//!   failure) no older than [`Policy::max_confirmation_age`];
//! - a protected domain (own domains, friendly parties; `example.net` exactly or `.example.net`
//!   for its subdomains) never enters, and is dropped if it was listed before it was protected;
//! - a `partial` domain (live, or in the logs) goes to the watch list, never to the exclusions;
//! - entries expire ([`Policy::expiry`], default 30 days) unless re-confirmed, and are removed as
//!   soon as a re-verification finds DANE working (or no DANE at all) again;
//! - only names that pass [`crate::domain::normalize`] are stored; evidence is reduced to one
//!   line of printable ASCII so that it cannot break out of a comment.

use crate::domain;
use crate::model::{FailureClass, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use thiserror::Error;

/// One day in seconds.
pub const DAY: i64 = 86_400;
/// Longest evidence line kept (bytes).
pub const MAX_EVIDENCE_LEN: usize = 240;
/// Most evidence lines kept per entry.
pub const MAX_EVIDENCE_LINES: usize = 12;
/// A confirmation stamped this far in the future is refused (clock skew allowance, seconds).
pub const MAX_FUTURE_SKEW: i64 = 300;

/// Errors of the store's configuration.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("protected entry {entry:?}: {source}")]
    Protected {
        entry: String,
        source: domain::DomainError,
    },
}

/// A live re-verification verdict: the verifier's own type, stored by its word.
pub use crate::verify::VerifyVerdict as LiveVerdict;

/// Domains that are never excluded: exact names, and `.parent` patterns for every subdomain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protected {
    exact: BTreeSet<String>,
    parents: BTreeSet<String>,
}

impl Protected {
    /// Parse entries such as `example.org` (that name) and `.example.net` (its subdomains; list
    /// `example.net` too to protect the parent itself). Names are normalised (IDN, case).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Protected, StoreError> {
        let mut p = Protected::default();
        for e in entries {
            let raw = e.as_ref().trim();
            let (parent, name) = match raw.strip_prefix('.') {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            let n = match domain::normalize_owned(name) {
                // a whole top-level domain (`.gov`): its one label, validated and converted
                // as the first label of a name under it would be
                Err(domain::DomainError::SingleLabel(_)) if parent => {
                    let under = domain::normalize_owned(&format!("{name}.example"));
                    under.map(|n| n.strip_suffix(".example").unwrap_or(&n).to_string())
                }
                other => other,
            }
            .map_err(|source| StoreError::Protected {
                entry: raw.to_string(),
                source,
            })?;
            if parent {
                p.parents.insert(n);
            } else {
                p.exact.insert(n);
            }
        }
        Ok(p)
    }

    /// Whether a normalised name is protected.
    pub fn matches(&self, name: &str) -> bool {
        if self.exact.contains(name) {
            return true;
        }
        let mut rest = name;
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if self.parents.contains(rest) {
                return true;
            }
        }
        false
    }

    /// Whether nothing is protected.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.parents.is_empty()
    }
}

/// The rules the store applies.
#[derive(Debug, Clone)]
pub struct Policy {
    /// A confirmation older than this (seconds) is not accepted.
    pub max_confirmation_age: i64,
    /// An entry not re-confirmed for this long (seconds) is dropped.
    pub expiry: i64,
    /// Never excluded.
    pub protected: Protected,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_confirmation_age: DAY,
            expiry: 30 * DAY,
            protected: Protected::default(),
        }
    }
}

/// A live re-verification result for one domain, with what the logs said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The domain as given (normalised by the store).
    pub domain: String,
    /// The live verdict.
    pub verdict: LiveVerdict,
    /// MX hosts that failed (raw; normalised by the store, invalid ones dropped).
    pub mx_hosts: Vec<String>,
    /// Evidence lines (TLSA RRs, digests seen, error texts).
    pub evidence: Vec<String>,
    /// When the verification ran (Unix seconds).
    pub confirmed_at: i64,
    /// First DANE failure seen in the logs (Unix seconds), if known.
    pub first_seen: Option<i64>,
    /// The domain's verdict in the logs over the window, if it was a log candidate.
    pub log_verdict: Option<Verdict>,
    /// Whether the domain is a candidate of the logs. Only a candidate enters the exclusions or
    /// the watch list; another domain asked (an entry, a watched or a danefail-listed domain)
    /// can only be re-confirmed or leave.
    pub candidate: bool,
}

/// One excluded domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub domain: String,
    pub class: FailureClass,
    /// Failing MX hosts, normalised, sorted.
    pub mx_hosts: Vec<String>,
    /// First DANE failure in the logs (Unix seconds).
    pub first_seen: Option<i64>,
    /// When the entry was added.
    pub added: i64,
    /// The latest live confirmation.
    pub confirmed_at: i64,
    /// Dropped at this time unless re-confirmed.
    pub expires: i64,
    /// Evidence lines (sanitised).
    pub evidence: Vec<String>,
}

/// One domain on the watch list (partial failures; never excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEntry {
    pub domain: String,
    /// Failing MX hosts, normalised, sorted.
    pub mx_hosts: Vec<String>,
    pub first_seen: Option<i64>,
    /// When the domain was first put on the watch list.
    pub since: i64,
    /// The latest confirmation of the partial state.
    pub confirmed_at: i64,
    pub expires: i64,
    /// Why it is watched (`live partial`, `log partial, live cert-mismatch`...).
    pub reason: String,
    pub evidence: Vec<String>,
}

/// Why a confirmation did not change the exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The domain (or a pattern covering it) is protected.
    Protected,
    /// The confirmation is older than the policy allows, or stamped in the future.
    Stale { age: i64 },
    /// The name is not a valid host name.
    InvalidName(String),
    /// The verdict confirms nothing (e.g. `unreachable`).
    NotConfirmed(LiveVerdict),
    /// The domain fails live but is no candidate of the logs (a danefail-listed domain, say),
    /// so it does not enter.
    NotCandidate,
}

/// Why an entry left the exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Re-verification finds DANE working (`dane-ok`) or no DANE at all (`not-dane`).
    Recovered(LiveVerdict),
    /// Some MX hosts work again: moved to the watch list.
    NowPartial,
    /// Not re-confirmed before it expired.
    Expired,
    /// The domain is protected now.
    Protected,
}

/// What applying confirmations changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added { domain: String, class: FailureClass },
    Reconfirmed { domain: String, class: FailureClass },
    Removed { domain: String, why: Removal },
    Watched { domain: String, reason: String },
    Unwatched { domain: String, why: Removal },
    Refused { domain: String, why: Refusal },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { domain, class } => write!(f, "added {domain} ({class})"),
            Change::Reconfirmed { domain, class } => {
                write!(f, "re-confirmed {domain} ({class})")
            }
            Change::Removed { domain, why } => write!(f, "removed {domain} ({})", removal(why)),
            Change::Watched { domain, reason } => write!(f, "watching {domain} ({reason})"),
            Change::Unwatched { domain, why } => {
                write!(f, "no longer watching {domain} ({})", removal(why))
            }
            Change::Refused { domain, why } => {
                let w = match why {
                    Refusal::Protected => "protected".to_string(),
                    Refusal::Stale { age } => format!("confirmation {age} s old"),
                    Refusal::InvalidName(e) => format!("invalid name: {e}"),
                    Refusal::NotConfirmed(v) => format!("not confirmed: {v}"),
                    Refusal::NotCandidate => "not a candidate of the logs".to_string(),
                };
                write!(f, "not excluded {domain} ({w})")
            }
        }
    }
}

fn removal(r: &Removal) -> String {
    match r {
        Removal::Recovered(v) => format!("now {v}"),
        Removal::NowPartial => "now partial: moved to the watch list".into(),
        Removal::Expired => "expired without re-confirmation".into(),
        Removal::Protected => "protected".into(),
    }
}

/// Reduce a text to one line of printable ASCII of at most [`MAX_EVIDENCE_LEN`] bytes: control
/// characters (newlines included) become spaces, other non-ASCII characters `?`, runs of
/// spaces collapse. The result can sit after `# ` in any of the written files.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_EVIDENCE_LEN));
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else if c.is_ascii() {
            c
        } else {
            '?'
        };
        if c == ' ' {
            if space || out.is_empty() {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if out.len() >= MAX_EVIDENCE_LEN {
            break;
        }
        out.push(c);
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

fn clean_evidence(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| clean_text(l))
        .filter(|l| !l.is_empty())
        .take(MAX_EVIDENCE_LINES)
        .collect()
}

fn clean_hosts(hosts: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = hosts
        .iter()
        .filter_map(|h| domain::normalize_owned(h).ok())
        .collect();
    set.into_iter().collect()
}

/// The exclusions and the watch list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub entries: BTreeMap<String, Entry>,
    pub watch: BTreeMap<String, WatchEntry>,
}

impl Store {
    /// Apply live confirmations at time `now`, then drop what expired and what is protected.
    /// Returns the changes in a stable order (confirmations in the order given, then expiries).
    pub fn apply(
        &mut self,
        now: i64,
        policy: &Policy,
        confirmations: &[Confirmation],
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for c in confirmations {
            self.apply_one(now, policy, c, &mut changes);
        }
        self.sweep(now, policy, &mut changes);
        changes
    }

    /// Drop protected names and what expired (also run by [`Store::apply`]). No entry expires
    /// later than the policy's expiry from now: a lowered `expiry_days` reaches the entries
    /// made before, and one confirmed by a run whose clock ran ahead (a clock not yet set, a
    /// mistyped `--now`) expires in time once the clock is right.
    pub fn sweep(&mut self, now: i64, policy: &Policy, changes: &mut Vec<Change>) {
        let latest = now.saturating_add(policy.expiry);
        for e in self.entries.values_mut() {
            e.expires = e.expires.min(latest);
        }
        for w in self.watch.values_mut() {
            w.expires = w.expires.min(latest);
        }
        let why = |domain: &str, expires: i64| {
            if policy.protected.matches(domain) {
                Some(Removal::Protected)
            } else if expires <= now {
                Some(Removal::Expired)
            } else {
                None
            }
        };
        let gone: Vec<(String, Removal)> = self
            .entries
            .values()
            .filter_map(|e| why(&e.domain, e.expires).map(|w| (e.domain.clone(), w)))
            .collect();
        for (d, why) in gone {
            self.entries.remove(&d);
            changes.push(Change::Removed { domain: d, why });
        }
        let gone: Vec<(String, Removal)> = self
            .watch
            .values()
            .filter_map(|e| why(&e.domain, e.expires).map(|w| (e.domain.clone(), w)))
            .collect();
        for (d, why) in gone {
            self.watch.remove(&d);
            changes.push(Change::Unwatched { domain: d, why });
        }
    }

    fn apply_one(
        &mut self,
        now: i64,
        policy: &Policy,
        c: &Confirmation,
        changes: &mut Vec<Change>,
    ) {
        let name = match domain::normalize_owned(&c.domain) {
            Ok(n) => n,
            Err(e) => {
                changes.push(Change::Refused {
                    domain: clean_text(&c.domain),
                    why: Refusal::InvalidName(e.to_string()),
                });
                return;
            }
        };
        if policy.protected.matches(&name) {
            changes.push(Change::Refused {
                domain: name,
                why: Refusal::Protected,
            });
            return;
        }
        let age = now - c.confirmed_at;
        if age > policy.max_confirmation_age || age < -MAX_FUTURE_SKEW {
            changes.push(Change::Refused {
                domain: name,
                why: Refusal::Stale { age },
            });
            return;
        }
        let hosts = clean_hosts(&c.mx_hosts);
        let evidence = clean_evidence(&c.evidence);
        let log_partial = c.log_verdict == Some(Verdict::Partial);
        match (c.verdict, c.verdict.failure_class()) {
            (LiveVerdict::DaneOk | LiveVerdict::NotDane, _) => {
                if self.entries.remove(&name).is_some() {
                    changes.push(Change::Removed {
                        domain: name.clone(),
                        why: Removal::Recovered(c.verdict),
                    });
                }
                if self.watch.remove(&name).is_some() {
                    changes.push(Change::Unwatched {
                        domain: name,
                        why: Removal::Recovered(c.verdict),
                    });
                }
            }
            (LiveVerdict::Partial, _) | (_, Some(_))
                if !c.candidate
                    && !self.entries.contains_key(&name)
                    && !self.watch.contains_key(&name) =>
            {
                changes.push(Change::Refused {
                    domain: name,
                    why: Refusal::NotCandidate,
                });
            }
            // partial, live or in the logs; or watched and no candidate tonight (the logs of
            // the window show it failing no more): it stays on the watch list, as only a
            // candidate enters the exclusions
            (LiveVerdict::Partial, _) | (_, Some(_))
                if c.verdict == LiveVerdict::Partial
                    || log_partial
                    || (!c.candidate && !self.entries.contains_key(&name)) =>
            {
                let reason = if c.verdict == LiveVerdict::Partial {
                    "live partial: some MX hosts work".to_string()
                } else if log_partial {
                    format!("partial in the logs, live {}", c.verdict)
                } else {
                    format!("no longer failing in the logs, live {}", c.verdict)
                };
                if self.entries.remove(&name).is_some() {
                    changes.push(Change::Removed {
                        domain: name.clone(),
                        why: Removal::NowPartial,
                    });
                }
                let first_seen = c.first_seen;
                let w = self
                    .watch
                    .entry(name.clone())
                    .or_insert_with(|| WatchEntry {
                        domain: name.clone(),
                        mx_hosts: Vec::new(),
                        first_seen,
                        since: now,
                        confirmed_at: c.confirmed_at,
                        expires: 0,
                        reason: String::new(),
                        evidence: Vec::new(),
                    });
                let fresh = w.expires == 0;
                w.mx_hosts = hosts;
                w.first_seen = min_opt(w.first_seen, c.first_seen);
                w.confirmed_at = c.confirmed_at;
                w.expires = c.confirmed_at + policy.expiry;
                w.reason = reason.clone();
                w.evidence = evidence;
                if fresh {
                    changes.push(Change::Watched {
                        domain: name,
                        reason,
                    });
                }
            }
            (_, Some(class)) => {
                let existed = self.entries.contains_key(&name);
                let e = self.entries.entry(name.clone()).or_insert_with(|| Entry {
                    domain: name.clone(),
                    class,
                    mx_hosts: Vec::new(),
                    first_seen: c.first_seen,
                    added: now,
                    confirmed_at: c.confirmed_at,
                    expires: 0,
                    evidence: Vec::new(),
                });
                e.class = class;
                e.mx_hosts = hosts;
                e.first_seen = min_opt(e.first_seen, c.first_seen);
                e.confirmed_at = c.confirmed_at;
                e.expires = c.confirmed_at + policy.expiry;
                e.evidence = evidence;
                if self.watch.remove(&name).is_some() {
                    changes.push(Change::Unwatched {
                        domain: name.clone(),
                        why: Removal::Recovered(c.verdict),
                    });
                }
                changes.push(if existed {
                    Change::Reconfirmed {
                        domain: name,
                        class,
                    }
                } else {
                    Change::Added {
                        domain: name,
                        class,
                    }
                });
            }
            (v, None) => changes.push(Change::Refused {
                domain: name,
                why: Refusal::NotConfirmed(v),
            }),
        }
    }

    /// The domains currently excluded, sorted.
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn conf(d: &str, v: LiveVerdict, at: i64) -> Confirmation {
        Confirmation {
            domain: d.into(),
            verdict: v,
            mx_hosts: vec![format!("mx.{d}")],
            evidence: vec!["TLSA 3 1 1 abcd does not match".into()],
            confirmed_at: at,
            first_seen: Some(at - 5 * DAY),
            log_verdict: Some(Verdict::Failing),
            candidate: true,
        }
    }

    fn policy(protected: &[&str]) -> Policy {
        Policy {
            protected: Protected::parse(protected).unwrap(),
            ..Policy::default()
        }
    }

    /// A domain that fails live but is no candidate of the logs (asked because it is on the
    /// danefail list) does not enter; an entry that is no candidate today is re-confirmed.
    #[test]
    fn only_log_candidates_enter() {
        let mut s = Store::default();
        let p = policy(&[]);
        let listed = Confirmation {
            candidate: false,
            ..conf("listed.example", LiveVerdict::CertMismatch, NOW)
        };
        let partial = Confirmation {
            candidate: false,
            ..conf("half.example", LiveVerdict::Partial, NOW)
        };
        let changes = s.apply(NOW, &p, &[listed.clone(), partial]);
        assert!(s.entries.is_empty() && s.watch.is_empty(), "{changes:?}");
        assert!(changes.iter().all(|c| matches!(
            c,
            Change::Refused {
                why: Refusal::NotCandidate,
                ..
            }
        )));
        s.apply(
            NOW,
            &p,
            &[conf("listed.example", LiveVerdict::CertMismatch, NOW)],
        );
        let changes = s.apply(NOW + 60, &p, &[listed]);
        assert!(
            matches!(changes[..], [Change::Reconfirmed { .. }]),
            "{changes:?}"
        );
        // a watched domain that is no candidate tonight and fails live stays watched: it
        // does not enter the exclusions on the live verdict alone
        let mut s = Store::default();
        s.apply(NOW, &p, &[conf("half.example", LiveVerdict::Partial, NOW)]);
        assert!(s.watch.contains_key("half.example"));
        let alone = Confirmation {
            candidate: false,
            ..conf("half.example", LiveVerdict::CertMismatch, NOW + DAY)
        };
        let changes = s.apply(NOW + DAY, &p, &[alone]);
        assert!(changes.is_empty(), "{changes:?}");
        assert!(s.entries.is_empty());
        let w = &s.watch["half.example"];
        assert_eq!(w.confirmed_at, NOW + DAY);
        assert!(
            w.reason.contains("no longer failing in the logs"),
            "{}",
            w.reason
        );
    }

    #[test]
    fn enters_only_with_a_fresh_failure_confirmation() {
        let p = policy(&[]);
        let mut s = Store::default();
        let ch = s.apply(
            NOW,
            &p,
            &[
                conf("fresh.example", LiveVerdict::CertMismatch, NOW - 60),
                conf("old.example", LiveVerdict::CertMismatch, NOW - 2 * DAY),
                conf("future.example", LiveVerdict::Dnssec, NOW + 3600),
                conf("down.example", LiveVerdict::Unreachable, NOW),
                conf("fine.example", LiveVerdict::DaneOk, NOW),
            ],
        );
        assert_eq!(s.domains().collect::<Vec<_>>(), ["fresh.example"]);
        let e = &s.entries["fresh.example"];
        assert_eq!(e.class, FailureClass::CertMismatch);
        assert_eq!(e.expires, NOW - 60 + 30 * DAY);
        assert_eq!(e.mx_hosts, ["mx.fresh.example"]);
        assert!(ch.contains(&Change::Refused {
            domain: "old.example".into(),
            why: Refusal::Stale { age: 2 * DAY }
        }));
        assert!(ch.contains(&Change::Refused {
            domain: "future.example".into(),
            why: Refusal::Stale { age: -3600 }
        }));
        assert!(ch.contains(&Change::Refused {
            domain: "down.example".into(),
            why: Refusal::NotConfirmed(LiveVerdict::Unreachable)
        }));
    }

    #[test]
    fn protected_names_and_parents_never_enter() {
        let p = policy(&["Own.Example", ".friends.example", "bücher.example"]);
        assert!(p.protected.matches("own.example"));
        assert!(!p.protected.matches("sub.own.example"));
        assert!(p.protected.matches("mx.friends.example"));
        assert!(p.protected.matches("a.b.friends.example"));
        assert!(!p.protected.matches("friends.example"));
        assert!(!p.protected.matches("notfriends.example"));
        assert!(p.protected.matches("xn--bcher-kva.example"));
        let mut s = Store::default();
        s.apply(
            NOW,
            &p,
            &[
                conf("OWN.example.", LiveVerdict::CertMismatch, NOW),
                conf("a.friends.example", LiveVerdict::Dnssec, NOW),
                conf("BÜCHER.example", LiveVerdict::NoStarttls, NOW),
                conf("other.example", LiveVerdict::NoStarttls, NOW),
            ],
        );
        assert_eq!(s.domains().collect::<Vec<_>>(), ["other.example"]);
        // protecting a listed domain later drops it on the next run
        let p2 = policy(&["other.example"]);
        let ch = s.apply(NOW + 10, &p2, &[]);
        assert!(s.entries.is_empty());
        assert_eq!(
            ch,
            [Change::Removed {
                domain: "other.example".into(),
                why: Removal::Protected
            }]
        );
        assert!(Protected::parse(&["bad name.example"]).is_err());
        // a whole top-level domain, an IDN one too; a bare single label protects that name
        // only when it is a name, which it is not
        let tld = Protected::parse(&[".GOV", ".рф"]).unwrap();
        assert!(tld.matches("mx.agency.gov") && tld.matches("agency.gov"));
        assert!(tld.matches("xn--d1acufc.xn--p1ai"));
        assert!(!tld.matches("gov.example"));
        assert!(Protected::parse(&["gov"]).is_err());
        assert!(Protected::parse(&[".bad label"]).is_err());
    }

    #[test]
    fn partial_goes_to_the_watch_list_only() {
        let p = policy(&[]);
        let mut s = Store::default();
        let mut logp = conf("flap.example", LiveVerdict::CertMismatch, NOW);
        logp.log_verdict = Some(Verdict::Partial);
        s.apply(
            NOW,
            &p,
            &[conf("half.example", LiveVerdict::Partial, NOW), logp],
        );
        assert!(s.entries.is_empty());
        assert_eq!(
            s.watch.keys().collect::<Vec<_>>(),
            ["flap.example", "half.example"]
        );
        // a listed domain that becomes partial leaves the exclusions
        s.apply(NOW, &p, &[conf("x.example", LiveVerdict::Dnssec, NOW)]);
        let ch = s.apply(
            NOW + 100,
            &p,
            &[conf("x.example", LiveVerdict::Partial, NOW + 90)],
        );
        assert!(!s.entries.contains_key("x.example"));
        assert!(s.watch.contains_key("x.example"));
        assert_eq!(
            ch[0],
            Change::Removed {
                domain: "x.example".into(),
                why: Removal::NowPartial
            }
        );
    }

    /// An entry confirmed by a run whose clock ran a year ahead expires the policy's expiry
    /// after the clock is right again, not a year later; so does one made under a longer
    /// expiry than today's.
    #[test]
    fn no_entry_outlives_the_expiry_from_now() {
        let p = policy(&[]);
        let mut s = Store::default();
        let ahead = NOW + 365 * DAY;
        s.apply(
            ahead,
            &p,
            &[conf("a.example", LiveVerdict::CertMismatch, ahead)],
        );
        assert_eq!(s.entries["a.example"].expires, ahead + 30 * DAY);
        let mut ch = Vec::new();
        s.sweep(NOW, &p, &mut ch);
        assert_eq!(s.entries["a.example"].expires, NOW + 30 * DAY);
        // (a later night does not push it on)
        s.sweep(NOW + DAY, &p, &mut ch);
        assert_eq!(s.entries["a.example"].expires, NOW + 30 * DAY);
        s.sweep(NOW + 30 * DAY, &p, &mut ch);
        assert!(s.entries.is_empty(), "{ch:?}");
        // a shorter expiry than the entry was made under
        s.apply(NOW, &p, &[conf("b.example", LiveVerdict::Dnssec, NOW)]);
        let short = Policy {
            expiry: 7 * DAY,
            ..policy(&[])
        };
        s.sweep(NOW + DAY, &short, &mut ch);
        assert_eq!(s.entries["b.example"].expires, NOW + 8 * DAY);
    }

    #[test]
    fn recovery_and_expiry_remove_entries() {
        let p = policy(&[]);
        let mut s = Store::default();
        s.apply(
            NOW,
            &p,
            &[
                conf("a.example", LiveVerdict::CertMismatch, NOW),
                conf("b.example", LiveVerdict::TlsaUnusable, NOW),
                conf("c.example", LiveVerdict::TlsFailure, NOW),
            ],
        );
        let t = NOW + 10 * DAY;
        let ch = s.apply(
            t,
            &p,
            &[
                conf("a.example", LiveVerdict::DaneOk, t),
                conf("b.example", LiveVerdict::NotDane, t),
                conf("c.example", LiveVerdict::TlsFailure, t),
            ],
        );
        assert_eq!(s.domains().collect::<Vec<_>>(), ["c.example"]);
        assert!(ch.contains(&Change::Reconfirmed {
            domain: "c.example".into(),
            class: FailureClass::TlsFailure
        }));
        assert_eq!(s.entries["c.example"].added, NOW);
        assert_eq!(s.entries["c.example"].expires, t + 30 * DAY);
        // unreachable does not re-confirm: the entry expires 30 days after the last confirmation
        let t2 = t + 30 * DAY;
        let ch = s.apply(t2, &p, &[conf("c.example", LiveVerdict::Unreachable, t2)]);
        assert!(s.entries.is_empty());
        assert!(ch.contains(&Change::Removed {
            domain: "c.example".into(),
            why: Removal::Expired
        }));
    }

    #[test]
    fn hostile_names_and_evidence_are_contained() {
        let p = policy(&[]);
        let mut s = Store::default();
        let bad = [
            "evil.example\nother.example may",
            "evil.example may",
            "evil.example none",
            "# comment.example",
            "tab\t.example",
            "bad_name.example",
            "ex\u{0}ample.com",
            &format!("{}.example", "a".repeat(64)),
            "",
        ];
        let confs: Vec<_> = bad
            .iter()
            .map(|d| conf(d, LiveVerdict::CertMismatch, NOW))
            .collect();
        let ch = s.apply(NOW, &p, &confs);
        assert!(s.entries.is_empty(), "{:?}", s.entries.keys());
        assert_eq!(ch.len(), bad.len());
        for c in &ch {
            match c {
                Change::Refused {
                    domain,
                    why: Refusal::InvalidName(_),
                } => assert!(!domain.contains(['\n', '\t', '\0'])),
                other => panic!("{other:?}"),
            }
        }
        let mut c = conf("Bücher.Example", LiveVerdict::CertMismatch, NOW);
        c.mx_hosts = vec![
            "MX.bücher.example".into(),
            "mx\nevil.example".into(),
            "mx.other.example may".into(),
        ];
        c.evidence = vec![
            "line one\nexample.org may\r\n# injected".into(),
            "\u{7}\u{1b}[31mred".into(),
            "x".repeat(1000),
        ];
        s.apply(NOW, &p, &[c]);
        let e = &s.entries["xn--bcher-kva.example"];
        assert_eq!(e.mx_hosts, ["mx.xn--bcher-kva.example"]);
        assert_eq!(e.evidence[0], "line one example.org may # injected");
        assert_eq!(e.evidence[1], "[31mred");
        assert_eq!(e.evidence[2].len(), MAX_EVIDENCE_LEN);
        for l in &e.evidence {
            assert!(l.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }

    #[test]
    fn live_verdict_words_round_trip() {
        for v in LiveVerdict::ALL {
            assert_eq!(v.as_str().parse::<LiveVerdict>().unwrap(), v);
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
        assert_eq!(
            LiveVerdict::NoStarttls.failure_class(),
            Some(FailureClass::NoStarttls)
        );
        assert_eq!(LiveVerdict::Partial.failure_class(), None);
    }
}
