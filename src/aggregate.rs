//! Aggregation of attempts per recipient domain and per MX host.
//!
//! Every structure here is a commutative monoid (`merge`), so per-chunk maps built in parallel
//! reduce to the same result as a single-threaded run. Memory grows with distinct domains and MX
//! hosts, never with the number of log lines.

use crate::model::{DaneOutcome, FailureClass, Verdict};
use serde::{Deserialize, Serialize};
/// Hash maps keyed by names from logs: foldhash is fast and spreads similar names well.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::collections::{BTreeMap, BTreeSet};

/// How many example lines each row keeps.
pub const MAX_EXAMPLES: usize = 3;
/// How many distinct MX hosts (or domains, for MX rows) a row lists at most.
pub const MAX_NAMES: usize = 32;
/// Example lines are cut to this many bytes.
pub const MAX_EXAMPLE_LEN: usize = 400;

/// One example log line: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Example {
    /// Index of the input in the order the inputs were read (keeps examples deterministic).
    #[serde(skip)]
    pub input: u32,
    pub line: u64,
    pub file: String,
    pub outcome: String,
    pub text: String,
}

impl Example {
    fn new(a: &AttemptView<'_>) -> Example {
        let mut cut = a.text.len().min(MAX_EXAMPLE_LEN);
        while !a.text.is_char_boundary(cut) {
            cut -= 1;
        }
        Example {
            input: a.input,
            line: a.line,
            file: a.file.to_string(),
            outcome: a.outcome.label(),
            text: a.text[..cut].to_string(),
        }
    }
}

/// Counters of one row (a domain, or an MX host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub attempts: u64,
    pub dane_verified: u64,
    pub dane_failed: u64,
    pub not_dane: u64,
    pub unknown: u64,
    /// Failures per class, indexed by [`FailureClass::index`].
    pub by_class: [u64; 6],
    /// Unix seconds of the first and last attempt (UTC).
    pub first_seen: i64,
    pub last_seen: i64,
}

impl Counts {
    /// Count one attempt at `time` with `outcome`.
    pub fn add(&mut self, time: i64, outcome: DaneOutcome) {
        if self.attempts == 0 {
            self.first_seen = time;
            self.last_seen = time;
        } else {
            self.first_seen = self.first_seen.min(time);
            self.last_seen = self.last_seen.max(time);
        }
        self.attempts += 1;
        match outcome {
            DaneOutcome::Verified => self.dane_verified += 1,
            DaneOutcome::NotDane => self.not_dane += 1,
            DaneOutcome::Unknown => self.unknown += 1,
            DaneOutcome::Failed(c) => {
                self.dane_failed += 1;
                self.by_class[c.index()] += 1;
            }
        }
    }

    /// Merge another row's counters into this one.
    pub fn merge(&mut self, o: &Counts) {
        if o.attempts == 0 {
            return;
        }
        if self.attempts == 0 {
            self.first_seen = o.first_seen;
            self.last_seen = o.last_seen;
        } else {
            self.first_seen = self.first_seen.min(o.first_seen);
            self.last_seen = self.last_seen.max(o.last_seen);
        }
        self.attempts += o.attempts;
        self.dane_verified += o.dane_verified;
        self.dane_failed += o.dane_failed;
        self.not_dane += o.not_dane;
        self.unknown += o.unknown;
        for (a, b) in self.by_class.iter_mut().zip(o.by_class.iter()) {
            *a += b;
        }
    }

    /// Failures of one class.
    pub fn class(&self, c: FailureClass) -> u64 {
        self.by_class[c.index()]
    }

    /// The verdict these counters give (DESIGN.md "Domain verdict over a window").
    pub fn verdict(&self) -> Verdict {
        match (self.dane_verified > 0, self.dane_failed > 0) {
            (true, false) => Verdict::Valid,
            (false, true) => Verdict::Failing,
            (true, true) => Verdict::Partial,
            (false, false) if self.not_dane > 0 => Verdict::NoDane,
            (false, false) => Verdict::Unknown,
        }
    }

    /// The failure class seen most often (ties go to the earlier class in report order).
    pub fn main_class(&self) -> Option<FailureClass> {
        FailureClass::ALL
            .into_iter()
            .filter(|c| self.class(*c) > 0)
            .max_by(|a, b| self.class(*a).cmp(&self.class(*b)).then(b.cmp(a)))
    }
}

/// A row of the per-domain (or per-MX) table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub counts: Counts,
    /// MX hosts seen for a domain row; domains seen for an MX row (at most [`MAX_NAMES`]).
    pub names: BTreeSet<String>,
    /// MX hosts (for a domain row) or domains (for an MX row) that had DANE failures.
    pub failing_names: BTreeSet<String>,
    /// DANE failures per UTC day (days since 1970-01-01). Only days with failures are kept, so
    /// memory grows with failing domains and days, not with traffic.
    pub failure_days: BTreeMap<i32, u64>,
    /// The earliest example lines of DANE failures, by input and line.
    pub examples: Vec<Example>,
    /// The earliest DANE-verified line.
    pub verified_example: Option<Example>,
}

impl Row {
    fn add_name(set: &mut BTreeSet<String>, name: &str) {
        if set.contains(name) {
            return;
        }
        if set.len() < MAX_NAMES {
            set.insert(name.to_string());
        } else if let Some(last) = set.iter().next_back().cloned() {
            // keep the smallest MAX_NAMES names so the set does not depend on arrival order
            if name < last.as_str() {
                set.remove(&last);
                set.insert(name.to_string());
            }
        }
    }

    fn merge_names(set: &mut BTreeSet<String>, other: &BTreeSet<String>) {
        for n in other {
            Self::add_name(set, n);
        }
    }

    /// Count one attempt.
    pub fn add(&mut self, a: &AttemptView<'_>) {
        self.counts.add(a.time, a.outcome);
        if let Some(n) = a.other_name {
            Self::add_name(&mut self.names, n);
            if matches!(a.outcome, DaneOutcome::Failed(_)) {
                Self::add_name(&mut self.failing_names, n);
            }
        }
        if a.per_day && matches!(a.outcome, DaneOutcome::Failed(_)) {
            let day = a.time.div_euclid(86_400) as i32;
            *self.failure_days.entry(day).or_default() += 1;
        }
        let failed = matches!(a.outcome, DaneOutcome::Failed(_));
        let verified = matches!(a.outcome, DaneOutcome::Verified);
        if failed
            && (self.examples.len() < MAX_EXAMPLES
                || self
                    .examples
                    .last()
                    .is_some_and(|l| (a.input, a.line) < (l.input, l.line)))
        {
            self.push_example(Example::new(a));
        } else if verified
            && self
                .verified_example
                .as_ref()
                .is_none_or(|v| (a.input, a.line) < (v.input, v.line))
        {
            self.verified_example = Some(Example::new(a));
        }
    }

    fn push_example(&mut self, e: Example) {
        let pos = self
            .examples
            .binary_search_by(|x| (x.input, x.line).cmp(&(e.input, e.line)))
            .unwrap_or_else(|p| p);
        if self
            .examples
            .get(pos)
            .is_some_and(|x| (x.input, x.line) == (e.input, e.line))
        {
            return;
        }
        self.examples.insert(pos, e);
        self.examples.truncate(MAX_EXAMPLES);
    }

    /// Merge another row into this one.
    pub fn merge(&mut self, o: Row) {
        self.counts.merge(&o.counts);
        Self::merge_names(&mut self.names, &o.names);
        Self::merge_names(&mut self.failing_names, &o.failing_names);
        for (d, n) in o.failure_days {
            *self.failure_days.entry(d).or_default() += n;
        }
        for e in o.examples {
            self.push_example(e);
        }
        if let Some(v) = o.verified_example {
            if self
                .verified_example
                .as_ref()
                .is_none_or(|x| (v.input, v.line) < (x.input, x.line))
            {
                self.verified_example = Some(v);
            }
        }
    }
}

/// What the aggregator needs of an attempt (borrowed: no allocation on the hot path).
#[derive(Debug, Clone, Copy)]
pub struct AttemptView<'a> {
    pub time: i64,
    pub outcome: DaneOutcome,
    /// The MX host for a domain row, the domain for an MX row.
    pub other_name: Option<&'a str>,
    pub input: u32,
    pub line: u64,
    pub file: &'a str,
    pub text: &'a str,
    /// Count the failure in [`Row::failure_days`].
    pub per_day: bool,
}

/// Rows keyed by recipient domain and by MX host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub domains: HashMap<String, Row>,
    pub mx: HashMap<String, Row>,
}

impl Aggregate {
    /// Count one attempt for `domain` (and for its MX host, when known).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        domain: &str,
        mx_host: Option<&str>,
        time: i64,
        outcome: DaneOutcome,
        input: u32,
        line: u64,
        file: &str,
        text: &str,
        per_day: bool,
    ) {
        let view = AttemptView {
            per_day,
            time,
            outcome,
            other_name: mx_host,
            input,
            line,
            file,
            text,
        };
        match self.domains.get_mut(domain) {
            Some(r) => r.add(&view),
            None => {
                let mut r = Row::default();
                r.add(&view);
                self.domains.insert(domain.to_string(), r);
            }
        }
        if let Some(mx) = mx_host {
            let view = AttemptView {
                other_name: Some(domain),
                ..view
            };
            match self.mx.get_mut(mx) {
                Some(r) => r.add(&view),
                None => {
                    let mut r = Row::default();
                    r.add(&view);
                    self.mx.insert(mx.to_string(), r);
                }
            }
        }
    }

    /// Merge another aggregate into this one.
    pub fn merge(&mut self, mut other: Aggregate) {
        // fold the smaller table into the larger one (fewer inserts and rehashes)
        if other.domains.len() > self.domains.len() {
            std::mem::swap(self, &mut other);
        }
        for (k, v) in other.domains {
            match self.domains.get_mut(&k) {
                Some(r) => r.merge(v),
                None => {
                    self.domains.insert(k, v);
                }
            }
        }
        for (k, v) in other.mx {
            match self.mx.get_mut(&k) {
                Some(r) => r.merge(v),
                None => {
                    self.mx.insert(k, v);
                }
            }
        }
    }

    /// Domain rows sorted by name.
    pub fn sorted_domains(&self) -> Vec<(&String, &Row)> {
        let mut v: Vec<_> = self.domains.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// MX rows sorted by name.
    pub fn sorted_mx(&self) -> Vec<(&String, &Row)> {
        let mut v: Vec<_> = self.mx.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Domains with their verdicts, sorted by name.
    pub fn verdicts(&self) -> BTreeMap<String, Verdict> {
        self.domains
            .iter()
            .map(|(k, r)| (k.clone(), r.counts.verdict()))
            .collect()
    }
}

/// A name as a hash-map key, kept inline when it is short (most domain and MX names are), so
/// that comparing keys reads the hash table's own memory instead of a separate heap string.
#[derive(Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; 38] },
    Heap(Box<str>),
}

impl Key {
    fn new(s: &str) -> Key {
        if s.len() <= 38 {
            let mut bytes = [0u8; 38];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Key::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(s.into())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // the bytes were copied from a str, whole
            Key::Inline { len, bytes } => std::str::from_utf8(&bytes[..*len as usize]).unwrap_or(""),
            Key::Heap(s) => s,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.as_str() == o.as_str()
    }
}
impl Eq for Key {}
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // the same as str's Hash, as Borrow<str> requires
        self.as_str().hash(h)
    }
}
impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// A row being built, with the last name added to each of its name sets: a domain is reached
/// through one or two MX hosts, so most attempts skip the set lookups. Adding a name twice in a
/// row is a no-op, so skipping a repeat cannot change the set.
#[derive(Default)]
struct HotRow {
    row: Row,
    last_name: Option<Key>,
    last_failing: Option<Key>,
}

impl HotRow {
    fn add(&mut self, a: &AttemptView<'_>) {
        let name = a.other_name;
        let failed = matches!(a.outcome, DaneOutcome::Failed(_));
        let same = |k: &Option<Key>| matches!((k, name), (Some(k), Some(n)) if k.as_str() == n);
        let skip_name = same(&self.last_name);
        let skip_failing = !failed || same(&self.last_failing);
        let view = AttemptView {
            other_name: None,
            ..*a
        };
        self.row.add(&view);
        if let Some(n) = name {
            if !skip_name {
                Row::add_name(&mut self.row.names, n);
                self.last_name = Some(Key::new(n));
            }
            if !skip_failing {
                Row::add_name(&mut self.row.failing_names, n);
                self.last_failing = Some(Key::new(n));
            }
        }
    }
}

/// The scan's hot-path aggregator: the same rows as [`Aggregate`], in tables tuned for one
/// lookup per attempt. Names from logs are looked up as they are first, and normalised only
/// when they are not in the table yet (the table holds normalised names only, and
/// normalising is idempotent, so a hit needs no further check).
#[derive(Default)]
pub struct Accumulator {
    domains: std::collections::HashMap<Key, HotRow, foldhash::fast::RandomState>,
    mx: std::collections::HashMap<Key, HotRow, foldhash::fast::RandomState>,
}

/// What [`Accumulator::add`] needs of an attempt besides its names.
#[derive(Debug, Clone, Copy)]
pub struct AttemptFacts<'a> {
    pub time: i64,
    pub outcome: DaneOutcome,
    pub input: u32,
    pub line: u64,
    pub file: &'a str,
    pub text: &'a str,
    pub per_day: bool,
}

impl Accumulator {
    /// Count one attempt to the raw `domain` (and raw `mx_host`) as written in the log.
    /// Returns the domain's validation error when it is not a host name (nothing is counted);
    /// an invalid MX host name is left out.
    pub fn add(
        &mut self,
        domain: &str,
        mx_host: Option<&str>,
        f: &AttemptFacts<'_>,
    ) -> Result<(), crate::domain::DomainError> {
        use std::borrow::Cow;
        let domain: Cow<'_, str> = if self.domains.contains_key(domain) {
            Cow::Borrowed(domain)
        } else {
            crate::domain::normalize(domain)?
        };
        let mx: Option<Cow<'_, str>> = mx_host.and_then(|h| {
            if self.mx.contains_key(h) {
                Some(Cow::Borrowed(h))
            } else {
                crate::domain::normalize(h).ok()
            }
        });
        let view = AttemptView {
            time: f.time,
            outcome: f.outcome,
            other_name: mx.as_deref(),
            input: f.input,
            line: f.line,
            file: f.file,
            text: f.text,
            per_day: f.per_day,
        };
        if let Some(m) = mx.as_deref() {
            let v = AttemptView {
                other_name: Some(&domain),
                ..view
            };
            match self.mx.get_mut(m) {
                Some(r) => r.add(&v),
                None => self.mx.entry(Key::new(m)).or_default().add(&v),
            }
        }
        match self.domains.get_mut(&*domain) {
            Some(r) => r.add(&view),
            None => self.domains.entry(Key::new(&domain)).or_default().add(&view),
        }
        Ok(())
    }

    /// The rows as an [`Aggregate`].
    pub fn into_aggregate(self) -> Aggregate {
        let conv = |m: std::collections::HashMap<Key, HotRow, foldhash::fast::RandomState>| {
            let mut out: HashMap<String, Row> = HashMap::default();
            out.reserve(m.len());
            for (k, v) in m {
                out.insert(k.as_str().to_string(), v.row);
            }
            out
        };
        Aggregate {
            domains: conv(self.domains),
            mx: conv(self.mx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: &mut Aggregate, d: &str, mx: &str, t: i64, o: DaneOutcome, line: u64) {
        a.add(d, Some(mx), t, o, 0, line, "f", "text", true);
    }

    #[test]
    fn verdicts_follow_design() {
        let mut a = Aggregate::default();
        add(
            &mut a,
            "ok.example",
            "mx.ok.example",
            10,
            DaneOutcome::Verified,
            1,
        );
        add(
            &mut a,
            "ok.example",
            "mx.ok.example",
            5,
            DaneOutcome::NotDane,
            2,
        );
        add(
            &mut a,
            "bad.example",
            "mx.bad.example",
            7,
            DaneOutcome::Failed(FailureClass::CertMismatch),
            3,
        );
        add(
            &mut a,
            "flap.example",
            "mx1.flap.example",
            7,
            DaneOutcome::Verified,
            4,
        );
        add(
            &mut a,
            "flap.example",
            "mx2.flap.example",
            8,
            DaneOutcome::Failed(FailureClass::Dnssec),
            5,
        );
        add(
            &mut a,
            "plain.example",
            "mx.plain.example",
            9,
            DaneOutcome::NotDane,
            6,
        );
        add(
            &mut a,
            "what.example",
            "mx.what.example",
            9,
            DaneOutcome::Unknown,
            7,
        );
        let v = a.verdicts();
        assert_eq!(v["ok.example"], Verdict::Valid);
        assert_eq!(v["bad.example"], Verdict::Failing);
        assert_eq!(v["flap.example"], Verdict::Partial);
        assert_eq!(v["plain.example"], Verdict::NoDane);
        assert_eq!(v["what.example"], Verdict::Unknown);
        let ok = &a.domains["ok.example"].counts;
        assert_eq!((ok.first_seen, ok.last_seen, ok.attempts), (5, 10, 2));
        assert_eq!(a.domains["flap.example"].failing_names.len(), 1);
        assert_eq!(
            a.mx["mx2.flap.example"].counts.class(FailureClass::Dnssec),
            1
        );
    }

    #[test]
    fn merge_equals_sequential() {
        let outcomes = [
            DaneOutcome::Verified,
            DaneOutcome::Failed(FailureClass::NoStarttls),
            DaneOutcome::NotDane,
            DaneOutcome::Failed(FailureClass::CertMismatch),
        ];
        let mut all = Aggregate::default();
        let mut parts = vec![
            Aggregate::default(),
            Aggregate::default(),
            Aggregate::default(),
        ];
        for i in 0..200u64 {
            let d = format!("d{}.example", i % 7);
            let mx = format!("mx{}.example", i % 5);
            let o = outcomes[(i % 4) as usize];
            add(&mut all, &d, &mx, (i * 3700) as i64, o, i);
            add(
                &mut parts[(i % 3) as usize],
                &d,
                &mx,
                (i * 3700) as i64,
                o,
                i,
            );
        }
        let mut merged = Aggregate::default();
        for p in parts.into_iter().rev() {
            merged.merge(p);
        }
        assert_eq!(merged, all);
    }
}
