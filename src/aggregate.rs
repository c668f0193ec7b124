//! Aggregation of attempts per recipient domain and per MX host.
//!
//! Every structure here is a commutative monoid (`merge`), so per-chunk maps built in parallel
//! reduce to the same result as a single-threaded run. Memory grows with distinct domains and MX
//! hosts, never with the number of log lines.

use crate::model::{DaneOutcome, FailureClass, Verdict};
use serde::{Deserialize, Serialize};
/// Hash maps keyed by names from logs: foldhash is fast and spreads similar names well.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::collections::BTreeMap;

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
    fn new(a: &AttemptFacts<'_>) -> Example {
        Example {
            input: a.input,
            line: a.line,
            file: a.file.to_string(),
            outcome: a.outcome.label(),
            text: head(&a.text.text(), MAX_EXAMPLE_LEN).to_string(),
        }
    }
}

/// The longest start of `s` of at most `n` bytes that ends on a character boundary.
pub fn head(s: &str, n: usize) -> &str {
    let mut cut = s.len().min(n);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
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

/// The names of a row's name set: sorted, distinct, at most [`MAX_NAMES`], keeping the
/// smallest when more come (so that the set does not depend on the order they came in). Most
/// sets hold one or two names: a sorted vector of exactly their size takes 24 bytes a name,
/// where a B-tree took a node of some 290 bytes for the first. It serialises as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NameSet(Vec<String>);

impl NameSet {
    /// Add `name` (see the type).
    pub fn add(&mut self, name: &str) {
        let at = match self.0.binary_search_by(|n| n.as_str().cmp(name)) {
            Ok(_) => return,
            Err(at) => at,
        };
        if at >= MAX_NAMES {
            return;
        }
        if self.0.len() >= MAX_NAMES {
            self.0.pop();
        }
        // one name more, not a doubling: sets rarely grow
        self.0.reserve_exact(1);
        self.0.insert(at, name.to_string());
    }

    /// Add every name of `other`.
    pub fn merge(&mut self, other: &NameSet) {
        for n in other {
            self.add(n);
        }
    }

    /// The names in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Load the set's list of names into cache (not the names' bytes).
    pub(crate) fn prefetch(&self) {
        prefetch_line(self.0.as_ptr() as *const u8);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }
}

impl<'a> IntoIterator for &'a NameSet {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de> Deserialize<'de> for NameSet {
    /// Any list of names, put in order (as [`add`](NameSet::add) would have).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NameSet, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut set = NameSet::default();
        for n in &names {
            set.add(n);
        }
        Ok(set)
    }
}

/// A row of the per-domain (or per-MX) table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub counts: Counts,
    /// MX hosts seen for a domain row; domains seen for an MX row (at most [`MAX_NAMES`]).
    pub names: NameSet,
    /// MX hosts (for a domain row) or domains (for an MX row) that had DANE failures.
    pub failing_names: NameSet,
    /// DANE failures per UTC day (days since 1970-01-01). Only days with failures are kept, so
    /// memory grows with failing domains and days, not with traffic.
    pub failure_days: BTreeMap<i32, u64>,
    /// The earliest example lines of DANE failures, by input and line.
    pub examples: Vec<Example>,
    /// The earliest DANE-verified line (boxed: rows without details never set it, others
    /// once, and every row in every table is 80 bytes smaller).
    pub verified_example: Option<Box<Example>>,
}

impl Row {
    /// Count one attempt.
    pub fn add(&mut self, v: &AttemptView<'_>) {
        let a = &v.facts;
        self.counts.add(a.time, a.outcome);
        if let Some(n) = v.other_name {
            self.names.add(n);
            if matches!(a.outcome, DaneOutcome::Failed(_)) {
                self.failing_names.add(n);
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
            self.verified_example = Some(Box::new(Example::new(a)));
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
        self.names.merge(&o.names);
        self.failing_names.merge(&o.failing_names);
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

/// What the aggregator needs of an attempt besides its names (borrowed: no allocation on the
/// hot path).
#[derive(Debug, Clone, Copy)]
pub struct AttemptFacts<'a> {
    pub time: i64,
    pub outcome: DaneOutcome,
    pub input: u32,
    pub line: u64,
    pub file: &'a str,
    pub text: LineText<'a>,
    /// Count the failure in [`Row::failure_days`].
    pub per_day: bool,
}

/// The log line of an attempt, as text or as the bytes of a text (turned into text again only
/// when an example keeps it, which few attempts do).
#[derive(Debug, Clone, Copy)]
pub enum LineText<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> LineText<'a> {
    /// The text.
    pub fn text(self) -> std::borrow::Cow<'a, str> {
        match self {
            LineText::Text(s) => std::borrow::Cow::Borrowed(s),
            // the bytes of a `&str` cut at ASCII bytes: valid, so checked fast, not replaced
            LineText::Bytes(b) => match simdutf8::basic::from_utf8(b) {
                Ok(s) => std::borrow::Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(b),
            },
        }
    }
}

/// An attempt as one row sees it.
#[derive(Debug, Clone, Copy)]
pub struct AttemptView<'a> {
    pub facts: AttemptFacts<'a>,
    /// The MX host for a domain row, the domain for an MX row.
    pub other_name: Option<&'a str>,
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
            facts: AttemptFacts {
                time,
                outcome,
                input,
                line,
                file,
                text: LineText::Text(text),
                per_day,
            },
            other_name: mx_host,
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
    pub fn sorted_domains(&self) -> Vec<(&str, &Row)> {
        sorted(&self.domains)
    }

    /// MX rows sorted by name.
    pub fn sorted_mx(&self) -> Vec<(&str, &Row)> {
        sorted(&self.mx)
    }

    /// Domains with their verdicts, sorted by name.
    pub fn verdicts(&self) -> BTreeMap<String, Verdict> {
        self.domains
            .iter()
            .map(|(k, r)| (k.clone(), r.counts.verdict()))
            .collect()
    }
}

/// The rows of `map` sorted by name, on every thread (a large provider's table has hundreds of
/// thousands of rows, and this runs after the scan, when the other threads are idle). Names are
/// unique, so an unstable sort gives the one order.
///
/// Each name's first 8 bytes ride along as a big-endian number (zero-padded, so that it orders
/// as the bytes do): most comparisons end there, without reading the names from the heap.
pub(crate) fn sorted(map: &HashMap<String, Row>) -> Vec<(&str, &Row)> {
    use rayon::slice::ParallelSliceMut;
    let mut v: Vec<(u64, &str, &Row)> = map
        .iter()
        .map(|(k, r)| (name_prefix(k), k.as_str(), r))
        .collect();
    v.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    v.into_iter().map(|(_, k, r)| (k, r)).collect()
}

/// The first 8 bytes of `s` as a big-endian number (zero-padded): it orders as the bytes do.
fn name_prefix(s: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = s.len().min(8);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// A name kept inline when it is short (most domain and MX names are), so that comparing it
/// reads the memory it sits in (a table slot, a map entry) instead of a separate heap string.
/// It hashes, compares and orders as its text.
#[derive(Clone)]
pub struct Key(Repr);

/// Longest name kept inline: a key is then 32 bytes, and a [`Slot`] fits two cache lines.
const INLINE: usize = 30;

/// Private, so that inline bytes come only from [`Key::new`].
#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    /// The key of `s`.
    pub fn new(s: &str) -> Key {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Key(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            Key(Repr::Heap(s.into()))
        }
    }

    /// The text of the key.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let b = bytes.get(..*len as usize).unwrap_or_default();
                // SAFETY: `Key::new` is the only constructor of `Inline`; it copies a whole
                // `&str` into `bytes[..len]`, so those bytes are valid UTF-8. (Checking them
                // again on every hash-table comparison cost 7% of a scan.)
                unsafe { std::str::from_utf8_unchecked(b) }
            }
            Repr::Heap(s) => s,
        }
    }
}

impl Default for Key {
    fn default() -> Key {
        Key::new("")
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.as_str() == o.as_str()
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Key) -> std::cmp::Ordering {
        self.as_str().cmp(o.as_str())
    }
}
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

/// The part of a row that most attempts touch, 64 bytes (a cache line's worth): counters of
/// attempts by outcome, first and last time, the last names added to the row's name sets, and
/// what decides whether the row's examples would take an attempt. Everything else stays in the
/// row itself ([`Row`]), which only a change of name, a new example, a failure counted per day
/// and a counter about to overflow reach.
#[derive(Debug, Clone, Copy)]
struct Hot {
    /// Earliest and latest time of the attempts in `counts` (`i64::MAX`, `i64::MIN` when none).
    first: i64,
    last: i64,
    /// [`pos`] of the row's verified example; [`NO_POS`] when there is none or its position
    /// does not pack (then the row decides).
    verified_pos: u64,
    /// [`pos`] of the last of the row's examples when they are full (an attempt at or after it
    /// is not taken); [`NO_POS`] while they may take any failure, or when that position does
    /// not pack (then the row decides).
    examples_bound: u64,
    /// Index (in the other table) of the last name added to the row's name set.
    last_name: u32,
    /// Index of the last name added to the row's failing-name set.
    last_failing: u32,
    /// For a domain: the index of the MX host of its last attempt (see [`Slot`]).
    last_other: u32,
    /// Attempts by [`outcome_index`] not yet moved into the row's counts.
    counts: [u16; OUTCOMES],
}

const NO_NAME: u32 = u32::MAX;

/// Verified, not DANE, unknown, then the failure classes in [`FailureClass::ALL`] order.
const OUTCOMES: usize = 3 + FailureClass::ALL.len();

/// Index of an outcome in [`Hot::counts`].
#[inline]
fn outcome_index(o: DaneOutcome) -> usize {
    match o {
        DaneOutcome::Verified => 0,
        DaneOutcome::NotDane => 1,
        DaneOutcome::Unknown => 2,
        DaneOutcome::Failed(c) => 3 + c.index(),
    }
}

/// No position: see [`Hot::verified_pos`] and [`Hot::examples_bound`].
const NO_POS: u64 = u64::MAX;

/// An attempt's `(input, line)` packed into a `u64` of the same order, when it fits: input
/// below 2^24 - 1, line below 2^40 (so every packed position is below [`NO_POS`]).
#[inline]
fn pos(input: u32, line: u64) -> Option<u64> {
    (input < (1 << 24) - 1 && line < 1 << 40).then_some((u64::from(input) << 40) | line)
}

impl Default for Hot {
    fn default() -> Hot {
        Hot {
            first: i64::MAX,
            last: i64::MIN,
            verified_pos: NO_POS,
            examples_bound: NO_POS,
            last_name: NO_NAME,
            last_failing: NO_NAME,
            last_other: NO_NAME,
            counts: [0; OUTCOMES],
        }
    }
}

impl Hot {
    /// Move the counters into `counts` (keeping the name and example bookkeeping).
    fn spill(&mut self, counts: &mut Counts) {
        let n = self.counts.map(u64::from);
        let mut by_class = [0u64; 6];
        for (b, f) in by_class.iter_mut().zip(n.iter().skip(3)) {
            *b = *f;
        }
        let c = Counts {
            attempts: n.iter().sum(),
            dane_verified: n[0],
            not_dane: n[1],
            unknown: n[2],
            dane_failed: by_class.iter().sum(),
            by_class,
            first_seen: self.first,
            last_seen: self.last,
        };
        // (no attempts: `merge` leaves `counts` as it is)
        counts.merge(&c);
        self.counts = [0; OUTCOMES];
        self.first = i64::MAX;
        self.last = i64::MIN;
    }
}

/// The bound [`Hot::examples_bound`] for a row's examples.
fn examples_bound(examples: &[Example]) -> u64 {
    match examples.get(MAX_EXAMPLES - 1) {
        Some(last) => pos(last.input, last.line).unwrap_or(NO_POS),
        None => NO_POS,
    }
}

/// A row's name and hot part, side by side: a lookup compares the name and then counts in
/// the same cache lines. A domain's slot also remembers the MX host name of its last attempt
/// as written (and, in [`Hot::last_other`], that name's index), so that a domain's next
/// attempt to the same MX needs no lookup of the MX name (most attempts go to the MX host of
/// the one before).
#[repr(C, align(64))]
struct Slot {
    key: Key,
    hot: Hot,
    last_raw_other: Key,
}

// one aligned pair of cache lines, which the CPU fetches together
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() == 128 && std::mem::size_of::<Key>() == 32);

/// An open-addressing index from name hashes to row indices: one `u64` per bucket (the hash's
/// upper half as a tag, the row index plus one; 0 is empty), probed linearly from the bucket
/// the hash's lower bits name, at most half full. Unlike a library map, it says where a hash's
/// bucket lies, so a run of attempts can load buckets and rows into cache before it needs them.
#[derive(Default)]
struct Index {
    buckets: Vec<u64>,
    len: usize,
}

impl Index {
    fn start(&self, hash: u64) -> usize {
        (hash as usize) & self.buckets.len().wrapping_sub(1)
    }

    /// The first row whose tag matches `hash` and which `eq` accepts.
    #[inline]
    fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let tag = hash >> 32;
        let mut pos = self.start(hash);
        loop {
            let e = *self.buckets.get(pos)?;
            if e == 0 {
                return None;
            }
            let row = (e as u32).wrapping_sub(1);
            if e >> 32 == tag && eq(row) {
                return Some(row);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Add `row` under `hash`; `rehash` gives the hash of a row already in (when growing).
    fn insert(&mut self, hash: u64, row: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 2 > self.buckets.len() {
            let size = (self.buckets.len() * 2).max(64);
            let old = std::mem::replace(&mut self.buckets, vec![0; size]);
            self.len = 0;
            for e in old.into_iter().filter(|&e| e != 0) {
                let r = (e as u32).wrapping_sub(1);
                self.put(rehash(r), r);
            }
        }
        self.put(hash, row);
    }

    fn put(&mut self, hash: u64, row: u32) {
        let mask = self.buckets.len() - 1;
        let mut pos = self.start(hash);
        while self.buckets.get(pos).is_some_and(|&e| e != 0) {
            pos = (pos + 1) & mask;
        }
        if let Some(b) = self.buckets.get_mut(pos) {
            *b = (hash >> 32) << 32 | u64::from(row.wrapping_add(1));
            self.len += 1;
        }
    }

    /// Load the bucket of `hash` into cache.
    #[inline]
    fn prefetch(&self, hash: u64) {
        if let Some(b) = self.buckets.get(self.start(hash)) {
            prefetch_line(b as *const u64 as *const u8);
        }
    }
}

/// A hint to load the cache line at `p`: it reads nothing and cannot fault.
#[inline(always)]
pub(crate) fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch instruction is only a hint; it neither dereferences `p` in the
    // language's sense nor faults on any address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Rows of one kind (domains or MX hosts) for the hot path: names map to indices, and each
/// index has its [`Slot`] and its [`Row`]. The index holds only `u64`s (a few hundred KB for
/// tens of thousands of names); names live in the slots.
#[derive(Default)]
struct Table {
    index: Index,
    slots: Vec<Slot>,
    rows: Vec<Row>,
    /// A table that only names things (the MX hosts of `domains` without MX rows) keeps no
    /// rows: a row is some 200 bytes, and a name is never counted there.
    names_only: bool,
    /// Rows without their details: no example lines and no failing names, only counts, times
    /// and names (see [`Accumulator::without_details`]).
    lean: bool,
    hasher: foldhash::fast::RandomState,
}

impl Table {
    fn hash(&self, s: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(s)
    }

    /// The index of `raw` as written, if it is a known (hence normalised) name.
    fn find(&self, raw: &str) -> Option<u32> {
        self.find_hashed(self.hash(raw), raw)
    }

    /// [`find`](Self::find) with the hash of `raw` already known.
    #[inline]
    fn find_hashed(&self, hash: u64, raw: &str) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(hash, |i| {
            slots
                .get(i as usize)
                .is_some_and(|s| crate::parse::same(s.key.as_str(), raw))
        })
    }

    /// Load the index bucket of `hash` into cache (the first of two steps ahead of a find).
    fn prefetch_bucket(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// Load the slot that the index names first for `hash` (its bucket should be in cache).
    fn prefetch_slot(&self, hash: u64) {
        if let Some(slot) = self
            .index
            .find(hash, |_| true)
            .and_then(|i| self.slots.get(i as usize))
        {
            let p = slot as *const Slot as *const u8;
            prefetch_line(p);
            prefetch_line(p.wrapping_add(64));
        }
    }

    /// The index of the normalised name `name`, added when new.
    fn find_or_add(&mut self, name: &str) -> u32 {
        let h = self.hash(name);
        if let Some(i) = self.find_hashed(h, name) {
            return i;
        }
        let i = self.slots.len() as u32;
        self.slots.push(Slot {
            hot: Hot::default(),
            key: Key::new(name),
            last_raw_other: Key::default(),
        });
        if !self.names_only {
            self.rows.push(Row::default());
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert(h, i, |j| {
            use std::hash::BuildHasher;
            slots
                .get(j as usize)
                .map_or(0, |s| hasher.hash_one(s.key.as_str()))
        });
        i
    }

    /// The name of row `i`.
    fn name(&self, i: u32) -> &str {
        self.slots.get(i as usize).map_or("", |s| s.key.as_str())
    }

    /// Count one attempt to row `i`; `other` is the index of the attempt's name in the other
    /// table, `others` (a name is read there only when it joins one of the row's name sets).
    fn add(&mut self, i: u32, a: &AttemptFacts<'_>, other: Option<u32>, others: &Table) {
        let (Some(Slot { hot: h, .. }), Some(row)) = (
            self.slots.get_mut(i as usize),
            self.rows.get_mut(i as usize),
        ) else {
            return;
        };
        let k = outcome_index(a.outcome);
        if h.counts.get(k).is_some_and(|&n| n == u16::MAX) {
            h.spill(&mut row.counts);
        }
        if let Some(n) = h.counts.get_mut(k) {
            *n += 1;
        }
        h.first = h.first.min(a.time);
        h.last = h.last.max(a.time);
        let failed = matches!(a.outcome, DaneOutcome::Failed(_));
        if failed && a.per_day {
            let day = a.time.div_euclid(86_400) as i32;
            *row.failure_days.entry(day).or_default() += 1;
        }
        if self.lean {
            // rows without details keep no example lines
        } else if failed {
            // the row's examples may take the attempt only before the bound; there the rule
            // of `Row::add` decides
            if pos(a.input, a.line).is_none_or(|p| p < h.examples_bound) {
                if row.examples.len() < MAX_EXAMPLES
                    || row
                        .examples
                        .last()
                        .is_some_and(|l| (a.input, a.line) < (l.input, l.line))
                {
                    row.push_example(Example::new(a));
                }
                h.examples_bound = examples_bound(&row.examples);
            }
        } else if matches!(a.outcome, DaneOutcome::Verified) {
            let at = pos(a.input, a.line);
            let earlier = match at {
                Some(p) if h.verified_pos != NO_POS => p < h.verified_pos,
                _ => row
                    .verified_example
                    .as_ref()
                    .is_none_or(|v| (a.input, a.line) < (v.input, v.line)),
            };
            if earlier {
                row.verified_example = Some(Box::new(Example::new(a)));
                h.verified_pos = at.unwrap_or(NO_POS);
            }
        }
        // adding the same name to a set twice in a row is a no-op: skip the set then
        if let Some(id) = other {
            let name = || others.name(id);
            if id != h.last_name {
                row.names.add(name());
                h.last_name = id;
            }
            if failed && !self.lean && id != h.last_failing {
                row.failing_names.add(name());
                h.last_failing = id;
            }
        }
    }

    /// Move the counts held in the slots into the rows (which clears them in the slots).
    fn spill_all(&mut self) {
        for (slot, row) in self.slots.iter_mut().zip(self.rows.iter_mut()) {
            slot.hot.spill(&mut row.counts);
        }
    }

    fn into_rows(self) -> HashMap<String, Row> {
        let mut out: HashMap<String, Row> = HashMap::default();
        out.reserve(self.slots.len());
        self.rows_into(&mut out);
        out
    }

    /// Move the rows into `out`, merged with a row of the same name that is there already.
    fn rows_into(self, out: &mut HashMap<String, Row>) {
        for (slot, mut row) in self.slots.into_iter().zip(self.rows) {
            let mut h = slot.hot;
            h.spill(&mut row.counts);
            match out.get_mut(slot.key.as_str()) {
                Some(r) => r.merge(row),
                None => {
                    out.insert(slot.key.as_str().to_string(), row);
                }
            }
        }
    }
}

/// The hash of raw domain names that an [`Accumulator`]'s domain table uses (random per
/// scan, the same for every accumulator made [`with`](Accumulator::with_hasher) it).
#[derive(Clone, Default)]
pub struct DomainHasher(foldhash::fast::RandomState);

impl DomainHasher {
    /// The hash of a domain as written in the log.
    pub fn hash(&self, raw: &str) -> u64 {
        use std::hash::BuildHasher;
        self.0.hash_one(raw)
    }

    /// Which of `n` accumulators counts the domain of `hash` (from its tag bits: the index's
    /// buckets are picked by the low bits, which stay spread in every accumulator).
    pub fn owner(hash: u64, n: usize) -> usize {
        ((hash >> 32) % n.max(1) as u64) as usize
    }
}

/// The problem kind of an attempt whose domain is not a host name (it is not counted).
pub const BAD_DOMAIN: &str = "bad-domain";
/// The problem kind of a counted attempt whose MX host is neither a host name nor an IP
/// address (the attempt is counted, the name left out).
pub const BAD_MX_HOST: &str = "bad-mx-host";

/// The scan's hot-path aggregator: the same rows as [`Aggregate`], laid out for one table
/// lookup and one cache line per attempt and table in the common case. Names from logs are
/// looked up as they are first, and normalised only when they are not in the table yet (a
/// table holds normalised names only, and normalising is idempotent, so a hit needs no
/// further check).
pub struct Accumulator {
    domains: Table,
    mx: Table,
    /// Whether MX rows are counted; without them MX names still fill the domains' name sets.
    mx_rows: bool,
}

impl Accumulator {
    /// An empty accumulator; `mx_rows: false` leaves [`Aggregate::mx`] empty, which spares
    /// every attempt the work on its MX row.
    pub fn new(mx_rows: bool) -> Accumulator {
        Accumulator::with_hasher(mx_rows, &DomainHasher::default())
    }

    /// An empty accumulator whose domain table hashes with `hasher`: attempts queued with
    /// that hasher's hash ([`Queue::push`]) can be counted into it.
    pub fn with_hasher(mx_rows: bool, hasher: &DomainHasher) -> Accumulator {
        Accumulator {
            domains: Table {
                hasher: hasher.0.clone(),
                ..Table::default()
            },
            mx: Table {
                names_only: !mx_rows,
                ..Table::default()
            },
            mx_rows,
        }
    }

    /// This accumulator with rows that keep no details: no example lines (a row's `examples`
    /// and `verified_example` stay empty) and no failing names (`failing_names`), for a
    /// caller that writes only counts, times and names (`domains` as CSV or a table). Each
    /// failure and each earlier verified attempt then costs less.
    pub fn without_details(mut self) -> Accumulator {
        self.domains.lean = true;
        self.mx.lean = true;
        self
    }

    /// Count one attempt to the raw `domain` (and raw `mx_host`) as written in the log.
    /// Returns the domain's validation error when it is not a host name (nothing is counted).
    /// An MX host that is not a host name is left out of the names (an IP address silently,
    /// [`crate::domain::mx_name`]); the attempt is counted, and `Ok(true)` tells that its MX
    /// name was invalid.
    pub fn add(
        &mut self,
        domain: &str,
        mx_host: Option<&str>,
        f: &AttemptFacts<'_>,
    ) -> Result<bool, crate::domain::DomainError> {
        self.add_hashed(self.domains.hash(domain), domain, mx_host, f)
    }

    /// [`add`](Self::add) with the domain table's hash of `domain` already known.
    fn add_hashed(
        &mut self,
        hash: u64,
        domain: &str,
        mx_host: Option<&str>,
        f: &AttemptFacts<'_>,
    ) -> Result<bool, crate::domain::DomainError> {
        let mut bad_mx = false;
        let di = match self.domains.find_hashed(hash, domain) {
            Some(i) => i,
            None => {
                let d = crate::domain::normalize(domain)?;
                self.domains.find_or_add(&d)
            }
        };
        let mi = match (mx_host, self.domains.slots.get_mut(di as usize)) {
            (Some(h), Some(slot)) => {
                let last = slot.hot.last_other;
                if last != NO_NAME && crate::parse::same(slot.last_raw_other.as_str(), h) {
                    Some(last)
                } else {
                    let mi = match self.mx.find(h) {
                        Some(i) => Some(i),
                        None => match crate::domain::mx_name(h) {
                            Ok(m) => m.map(|m| self.mx.find_or_add(&m)),
                            Err(_) => {
                                bad_mx = true;
                                None
                            }
                        },
                    };
                    if let Some(i) = mi {
                        slot.last_raw_other = Key::new(h);
                        slot.hot.last_other = i;
                    }
                    mi
                }
            }
            _ => None,
        };
        if let (Some(mi), true) = (mi, self.mx_rows) {
            self.mx.add(mi, f, Some(di), &self.domains);
        }
        self.domains.add(di, f, mi, &self.mx);
        Ok(bad_mx)
    }

    /// The rows of several accumulators (as [`into_aggregate`](Self::into_aggregate) each,
    /// then [`Aggregate::merge`]d), moved once into tables made large enough for all of them
    /// at the start. Merging whole tables instead moved every row of the larger one again when
    /// it grew, and took longer than building them (a large provider's table has hundreds of
    /// thousands of rows of some 200 bytes).
    pub fn into_aggregate_all(accs: Vec<Accumulator>) -> Aggregate {
        let domains = accs.iter().map(|a| a.domains.slots.len()).sum();
        let mx = accs
            .iter()
            .filter(|a| a.mx_rows)
            .map(|a| a.mx.slots.len())
            .sum();
        let mut agg = Aggregate::default();
        agg.domains.reserve(domains);
        agg.mx.reserve(mx);
        let (mut d, mut m) = (Vec::new(), Vec::new());
        for a in accs {
            if a.mx_rows {
                m.push(a.mx);
            }
            d.push(a.domains);
        }
        // the two tables side by side
        rayon::join(
            || d.into_iter().for_each(|t| t.rows_into(&mut agg.domains)),
            || m.into_iter().for_each(|t| t.rows_into(&mut agg.mx)),
        );
        agg
    }

    /// The rows of several accumulators in name order, for a table that lists them
    /// ([`SortedRows`]); what [`into_aggregate_all`](Self::into_aggregate_all) gives, without
    /// a map of all rows.
    pub fn into_sorted_all(accs: Vec<Accumulator>) -> SortedRows {
        SortedRows::new(accs)
    }

    /// The rows as an [`Aggregate`].
    pub fn into_aggregate(self) -> Aggregate {
        Aggregate {
            domains: self.domains.into_rows(),
            mx: if self.mx_rows {
                self.mx.into_rows()
            } else {
                HashMap::default()
            },
        }
    }
}

/// The rows of a scan's accumulators in name order, each row where its accumulator keeps it.
/// A table that only lists rows needs no map of them all: building one (some 200 bytes a row,
/// moved into fresh memory) took 2% of a `domains` run, on one thread. A name that several
/// accumulators counted (spellings of one domain that hash apart) is listed once, its rows
/// merged as [`Accumulator::into_aggregate_all`] merges them.
pub struct SortedRows {
    accs: Vec<Accumulator>,
    /// Rows of names that more than one accumulator has, merged.
    merged: Vec<Row>,
    domains: Vec<Place>,
    mx: Vec<Place>,
}

/// Where a listed row is: its name at `index` in accumulator `acc`'s table, and its row there
/// too, or at `merged` in [`SortedRows::merged`] when other accumulators had the name.
#[derive(Clone, Copy)]
struct Place {
    acc: u32,
    index: u32,
    merged: Option<u32>,
}

impl SortedRows {
    fn new(mut accs: Vec<Accumulator>) -> SortedRows {
        use rayon::prelude::*;
        // counts held in the hot slots go to their rows, once, table by table in parallel
        accs.par_iter_mut().for_each(|a| {
            let mx_rows = a.mx_rows;
            a.domains.spill_all();
            if mx_rows {
                a.mx.spill_all();
            }
        });
        let mut merged = Vec::new();
        let domains = Self::order(&accs, |a| Some(&a.domains), &mut merged);
        let mx = Self::order(&accs, |a| a.mx_rows.then_some(&a.mx), &mut merged);
        SortedRows {
            accs,
            merged,
            domains,
            mx,
        }
    }

    /// The places of the rows of each accumulator's `table`, in name order, one per name.
    fn order(
        accs: &[Accumulator],
        table: impl Fn(&Accumulator) -> Option<&Table>,
        merged: &mut Vec<Row>,
    ) -> Vec<Place> {
        use rayon::slice::ParallelSliceMut;
        let mut all: Vec<(u64, &str, u32, u32)> = Vec::new();
        for (a, acc) in accs.iter().enumerate() {
            if let Some(t) = table(acc) {
                all.extend(t.slots.iter().enumerate().map(|(i, s)| {
                    let name = s.key.as_str();
                    (name_prefix(name), name, a as u32, i as u32)
                }));
            }
        }
        // (the accumulator's number decides between equal names: rows merge in its order)
        all.par_sort_unstable_by(|x, y| {
            x.0.cmp(&y.0)
                .then_with(|| x.1.cmp(y.1))
                .then_with(|| x.2.cmp(&y.2))
        });
        let row = |a: u32, i: u32| {
            accs.get(a as usize)
                .and_then(&table)
                .and_then(|t| t.rows.get(i as usize))
        };
        let mut out: Vec<Place> = Vec::with_capacity(all.len());
        let mut k = 0;
        while let Some(&(_, name, a, i)) = all.get(k) {
            let same = all[k + 1..].iter().take_while(|e| e.1 == name).count();
            let mut place = Place {
                acc: a,
                index: i,
                merged: None,
            };
            if same > 0 {
                let mut m = row(a, i).cloned().unwrap_or_default();
                for &(_, _, b, j) in &all[k + 1..k + 1 + same] {
                    m.merge(row(b, j).cloned().unwrap_or_default());
                }
                place.merged = Some(merged.len() as u32);
                merged.push(m);
            }
            out.push(place);
            k += 1 + same;
        }
        out
    }

    fn rows_of<'s>(
        &'s self,
        places: &[Place],
        table: impl Fn(&'s Accumulator) -> &'s Table,
    ) -> Vec<(&'s str, &'s Row)> {
        places
            .iter()
            .filter_map(|p| {
                let t = table(self.accs.get(p.acc as usize)?);
                let name = t.slots.get(p.index as usize)?.key.as_str();
                let row = match p.merged {
                    Some(m) => self.merged.get(m as usize)?,
                    None => t.rows.get(p.index as usize)?,
                };
                Some((name, row))
            })
            .collect()
    }

    /// Domain rows by name.
    pub fn domains(&self) -> Vec<(&str, &Row)> {
        self.rows_of(&self.domains, |a| &a.domains)
    }

    /// MX rows by name (none unless the accumulators kept MX rows).
    pub fn mx(&self) -> Vec<(&str, &Row)> {
        self.rows_of(&self.mx, |a| &a.mx)
    }
}

/// Attempts waiting to be counted, with their domain's hash. They are counted with each
/// domain's index bucket and slot loaded into cache some attempts ahead, so that the cache
/// misses of several rows overlap. A queued attempt borrows nothing: its domain and MX name
/// are copied into the queue's arena, where counting reads them one after the other (from the
/// batch they would be read from lines far apart, often in the other core's cache: 5% of the
/// wall time in noisy stretches of the test VM, nothing measurable in quiet ones). Its line,
/// read only when it becomes an example, is kept as a place in the batch of log data being
/// scanned ([`Batch`]), which must be the batch given to [`Queue::count`], or else copied too.
/// The result is that of adding each attempt to the [`Accumulator`] at once, in the same order.
///
/// Aligned to 128 bytes (two cache lines, which the CPU may fetch as a pair): the queues that
/// two threads fill with every attempt lie side by side in a `Vec` or a mailbox, and a line
/// that both write travels between the cores on every write. Aligning the queues, the
/// partitions' sinks and states, and the counters so took 2% off a two-threaded run's CPU
/// time (A/B on the 1 GB benchmark log, 21 rounds).
#[derive(Default)]
#[repr(align(128))]
pub struct Queue {
    items: Vec<Queued>,
    arena: String,
}

const AHEAD: usize = 8;

/// Where a batch of log data lies in memory (no borrow: a queue outlives its batches).
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch {
    start: usize,
    len: usize,
}

impl Batch {
    /// The place of `data`.
    pub fn of(data: &[u8]) -> Batch {
        Batch {
            start: data.as_ptr() as usize,
            len: data.len(),
        }
    }

    /// The place of the `len` bytes at `start` (an address only: nothing is read).
    pub fn at(start: *const u8, len: usize) -> Batch {
        Batch {
            start: start as usize,
            len,
        }
    }

    /// The offset and length of `s` in the batch, if it lies there.
    fn place(&self, s: &str) -> Option<(u32, u32)> {
        let off = (s.as_ptr() as usize).checked_sub(self.start)?;
        let end = off.checked_add(s.len())?;
        if end > self.len {
            return None;
        }
        Some((u32::try_from(off).ok()?, u32::try_from(s.len()).ok()?))
    }
}

/// Where a queued string is: a byte range of the batch, or of [`Queue::arena`].
#[derive(Debug, Clone, Copy)]
enum Piece {
    Batch(u32, u32),
    Arena(Copied),
}

/// Where a copied string is in [`Queue::arena`]: start and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Copied(u32, u32);

struct Queued {
    /// The domain's hash by the accumulator's [`DomainHasher`].
    hash: u64,
    time: i64,
    line: u64,
    input: u32,
    outcome: DaneOutcome,
    per_day: bool,
    domain: Copied,
    mx: Option<Copied>,
    text: Piece,
}

impl Queue {
    /// Keep `s`: its place when it lies in `batch`, else a copy.
    fn put(&mut self, s: &str, batch: Batch) -> Piece {
        match batch.place(s) {
            Some((off, len)) => Piece::Batch(off, len),
            None => Piece::Arena(self.copy(s)),
        }
    }

    /// Keep a copy of `s`. (A place that does not fit in 32 bits, past 4 GiB of names queued
    /// in one batch, is kept as an empty one: [`copied`](Self::copied) must only ever see
    /// exact places.)
    fn copy(&mut self, s: &str) -> Copied {
        let start = self.arena.len();
        self.arena.push_str(s);
        match (u32::try_from(start), u32::try_from(s.len())) {
            (Ok(start), Ok(len)) => Copied(start, len),
            _ => Copied(0, 0),
        }
    }

    /// A copied string again.
    fn copied(&self, Copied(start, len): Copied) -> &str {
        let span = start as usize..start as usize + len as usize;
        match self.arena.as_bytes().get(span) {
            // SAFETY: `copy` pushed a whole `&str` at exactly this place (or made it empty),
            // and the arena is cleared only together with the items that hold its places (in
            // `count`): the bytes there are that string's, valid UTF-8. (Checking its char
            // boundaries again on every count was most of the cost of reading it back.)
            Some(b) => unsafe { std::str::from_utf8_unchecked(b) },
            None => "",
        }
    }

    /// A kept line again, unchecked (see [`LineText`]); `batch` is the data of the batch it
    /// was queued in.
    fn get_line<'q>(&'q self, p: Piece, batch: &'q [u8]) -> LineText<'q> {
        let span = |start: u32, len: u32| start as usize..start as usize + len as usize;
        match p {
            Piece::Arena(c) => LineText::Text(self.copied(c)),
            Piece::Batch(start, len) => LineText::Bytes(batch.get(span(start, len)).unwrap_or(b"")),
        }
    }

    /// A kept string again; `batch` is the data of the batch it was queued in.
    #[cfg(test)]
    fn get<'q>(&'q self, p: Piece, batch: &'q [u8]) -> &'q str {
        let span = |start: u32, len: u32| start as usize..start as usize + len as usize;
        match p {
            Piece::Arena(c) => self.copied(c),
            // the bytes of a `&str` that lay there: valid UTF-8, checked again all the same
            Piece::Batch(start, len) => match batch.get(span(start, len)) {
                // SAFETY: ASCII bytes (checked just before) are valid UTF-8.
                Some(b) if b.is_ascii() => unsafe { std::str::from_utf8_unchecked(b) },
                Some(b) => std::str::from_utf8(b).unwrap_or(""),
                None => "",
            },
        }
    }

    /// Queue one attempt (see [`Accumulator::add`]) whose raw `domain` hashes to `hash` by the
    /// [`DomainHasher`] of the accumulator it will be counted into; `facts.file` is taken
    /// again at the count.
    /// The line's text is not copied when it lies in `batch`.
    pub fn push(
        &mut self,
        hash: u64,
        domain: &str,
        mx_host: Option<&str>,
        facts: &AttemptFacts<'_>,
        batch: Batch,
    ) {
        let domain = self.copy(domain);
        let mx = mx_host.map(|m| self.copy(m));
        // no more of the line than an example keeps (a problem keeps less)
        let text = self.put(head(&facts.text.text(), MAX_EXAMPLE_LEN), batch);
        self.items.push(Queued {
            hash,
            time: facts.time,
            line: facts.line,
            input: facts.input,
            outcome: facts.outcome,
            per_day: facts.per_day,
            domain,
            mx,
            text,
        });
    }

    /// How many attempts wait.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len()
    }

    /// Count every queued attempt into `acc`; `batch` is the data of the batch they were
    /// queued in; `file` names an input; `bad` hears (input, line, kind, text) of each attempt
    /// whose domain is not a host name ([`BAD_DOMAIN`]: not counted) or whose MX host is
    /// neither a host name nor an address ([`BAD_MX_HOST`]: counted without it).
    pub fn count(
        &mut self,
        acc: &mut Accumulator,
        batch: &[u8],
        file: &dyn Fn(u32) -> String,
        bad: &mut dyn FnMut(u32, u64, &'static str, &str),
    ) {
        let mut files: Option<(u32, String)> = None;
        // rows without details read no line and no file name (a bad domain's line is read
        // when it is told)
        let lean = acc.domains.lean;
        for (k, q) in self.items.iter().enumerate() {
            // two steps ahead: the index bucket, then (bucket in cache) the row's slot
            if let Some(a) = self.items.get(k + 2 * AHEAD) {
                acc.domains.prefetch_bucket(a.hash);
            }
            if let Some(a) = self.items.get(k + AHEAD) {
                acc.domains.prefetch_slot(a.hash);
            }
            if !lean && files.as_ref().is_none_or(|(i, _)| *i != q.input) {
                files = Some((q.input, file(q.input)));
            }
            let f = files.as_ref().map_or("", |(_, f)| f.as_str());
            let text = match lean {
                true => LineText::Text(""),
                false => self.get_line(q.text, batch),
            };
            let facts = AttemptFacts {
                time: q.time,
                outcome: q.outcome,
                input: q.input,
                line: q.line,
                file: f,
                text,
                per_day: q.per_day,
            };
            let domain = self.copied(q.domain);
            let kind = match acc.add_hashed(q.hash, domain, q.mx.map(|m| self.copied(m)), &facts) {
                Ok(false) => continue,
                Ok(true) => BAD_MX_HOST,
                Err(_) => BAD_DOMAIN,
            };
            bad(q.input, q.line, kind, &self.get_line(q.text, batch).text());
        }
        self.items.clear();
        self.arena.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A string is placed in a batch only when it lies wholly inside it, and read back from
    /// the same batch; anything else is copied.
    #[test]
    fn batch_places_only_what_lies_in_it() {
        let data = "0123456789 to=<a@b.example> tail";
        let batch = Batch::of(&data.as_bytes()[5..]);
        assert_eq!(batch.place(&data[5..10]), Some((0, 5)));
        assert_eq!(batch.place(&data[11..]), Some((6, 21)));
        assert_eq!(batch.place(&data[4..8]), None);
        assert_eq!(batch.place("elsewhere"), None);
        assert_eq!(Batch::default().place(&data[5..10]), None);
        let mut q = Queue::default();
        let (inside, outside) = (q.put(&data[15..26], batch), q.put("mx.example", batch));
        assert!(matches!(inside, Piece::Batch(10, 11)));
        assert!(matches!(outside, Piece::Arena(Copied(0, 10))));
        let bytes = &data.as_bytes()[5..];
        assert_eq!(q.get(inside, bytes), "a@b.example");
        assert_eq!(q.get(outside, bytes), "mx.example");
        assert_eq!(q.get_line(inside, bytes).text(), "a@b.example");
        // a place past the batch given back reads as nothing, never out of bounds
        assert_eq!(q.get(inside, &bytes[..12]), "");
        assert_eq!(q.get(Piece::Batch(1, 2), "\u{e9}!".as_bytes()), "");
    }

    /// The owner of a hash is always one of the `n` counters.
    #[test]
    fn owners_are_in_range() {
        let h = DomainHasher::default();
        for n in 1..5 {
            let mut seen = vec![false; n];
            for i in 0..200 {
                let o = DomainHasher::owner(h.hash(&format!("d{i}.example")), n);
                seen[o] = true;
            }
            assert!(seen.iter().all(|s| *s), "{n}");
        }
        assert_eq!(DomainHasher::owner(u64::MAX, 0), 0);
    }

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

    /// The index finds every row under its hash, also when many hashes share their bucket
    /// or their tag, across growth; and nothing else.
    #[test]
    fn index_finds_what_was_put() {
        let mut idx = Index::default();
        // row r's hash: few distinct low bits (long probe runs), tags shared by pairs
        let hash = |r: u32| (u64::from(r / 2) << 32) | u64::from(r % 7);
        for r in 0..5000u32 {
            idx.insert(hash(r), r, hash);
            assert!(idx.len * 2 <= idx.buckets.len());
        }
        for r in 0..5000u32 {
            assert_eq!(idx.find(hash(r), |x| x == r), Some(r));
        }
        assert_eq!(idx.find(hash(5001), |_| true), None);
        assert_eq!(idx.find(hash(10), |x| x == 4999), None);
        assert_eq!(Index::default().find(7, |_| true), None);
    }

    proptest::proptest! {
        /// A name set holds the smallest MAX_NAMES distinct names it was given, in order,
        /// whatever order they came in, and reads back from its list the same.
        #[test]
        fn name_sets_keep_the_smallest_names(names in proptest::collection::vec("[a-z]{1,3}", 0..80)) {
            let mut set = NameSet::default();
            for n in &names {
                set.add(n);
            }
            let mut expected: Vec<String> = names.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            expected.truncate(MAX_NAMES);
            proptest::prop_assert_eq!(set.iter().cloned().collect::<Vec<_>>(), expected.clone());
            proptest::prop_assert!(names.iter().all(|n| set.contains(n) == expected.contains(n)));
            let mut reversed = NameSet::default();
            for n in names.iter().rev() {
                reversed.add(n);
            }
            proptest::prop_assert_eq!(&reversed, &set);
            let json = serde_json::to_string(&names).unwrap();
            let read: NameSet = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(&read, &set);
            proptest::prop_assert_eq!(serde_json::to_string(&set).unwrap(), serde_json::to_string(&expected).unwrap());
        }
    }

    /// Accumulators whose names overlap (as counters do when one name is written in several
    /// ways) give, all moved into one table at once, what their aggregates merged give.
    #[test]
    fn accumulators_into_one_aggregate_equal_their_merge() {
        let fill = |mx_rows: bool| fill_three(mx_rows, false);
        for mx_rows in [false, true] {
            let mut merged = Aggregate::default();
            for a in fill(mx_rows) {
                merged.merge(a.into_aggregate());
            }
            let all = Accumulator::into_aggregate_all(fill(mx_rows));
            assert_eq!(all, merged);
            assert_eq!(all.domains.len(), 70 + 20, "D1.Example. is d1.example");
            assert_eq!(all.mx.len(), if mx_rows { 7 } else { 0 });
            // listed without a map: the same rows in name order, each name once
            let sorted = Accumulator::into_sorted_all(fill(mx_rows));
            assert_eq!(sorted.domains(), all.sorted_domains());
            assert_eq!(sorted.mx(), all.sorted_mx());
        }
    }

    /// Rows without details are the rows with them, less their example lines and failing
    /// names: the same counts, times, names and failure days.
    #[test]
    fn rows_without_details_keep_everything_else() {
        for mx_rows in [false, true] {
            let full = Accumulator::into_aggregate_all(fill_three(mx_rows, false));
            let lean = Accumulator::into_aggregate_all(fill_three(mx_rows, true));
            let strip = |mut rows: HashMap<String, Row>| {
                for r in rows.values_mut() {
                    r.examples.clear();
                    r.verified_example = None;
                    r.failing_names = NameSet::default();
                }
                rows
            };
            assert!(full.domains.values().any(|r| !r.examples.is_empty()));
            assert!(full.domains.values().any(|r| r.verified_example.is_some()));
            assert!(full
                .domains
                .values()
                .any(|r| r.failing_names.iter().next().is_some()));
            assert!(lean
                .domains
                .values()
                .chain(lean.mx.values())
                .all(|r| r.examples.is_empty()
                    && r.verified_example.is_none()
                    && r.failing_names.iter().next().is_none()));
            assert!(lean.domains.values().any(|r| !r.failure_days.is_empty()));
            assert_eq!(lean.domains, strip(full.domains));
            assert_eq!(lean.mx, strip(full.mx));
        }
    }

    /// Three accumulators (without details when `lean`) filled with attempts whose names
    /// overlap: one name written in two ways, names in one accumulator only.
    fn fill_three(mx_rows: bool, lean: bool) -> Vec<Accumulator> {
        let mut accs: Vec<Accumulator> = (0..3)
            .map(|_| match lean {
                true => Accumulator::new(mx_rows).without_details(),
                false => Accumulator::new(mx_rows),
            })
            .collect();
        for i in 0..3000u64 {
            let d = match i % 3 {
                0 => format!("d{}.example", i % 70),
                1 => format!("D{}.Example.", i % 50),
                _ => format!("only{}.example", i % 20),
            };
            let outcome = match i % 5 {
                0 => DaneOutcome::Failed(FailureClass::ALL[(i % 6) as usize]),
                1 => DaneOutcome::NotDane,
                _ => DaneOutcome::Verified,
            };
            let f = AttemptFacts {
                time: 1_000_000 + (i * 7919 % 5000) as i64,
                outcome,
                input: (i % 2) as u32,
                line: i * 31 % 1000,
                file: "f",
                text: LineText::Text("a line"),
                per_day: true,
            };
            let mx = format!("mx{}.example", i % 7);
            if let Some(acc) = accs.get_mut((i % 3) as usize) {
                acc.add(&d, Some(&mx), &f).unwrap();
            }
        }
        accs
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

    /// The scan's accumulator gives exactly the rows of [`Aggregate::add`] on normalised names:
    /// many names per row (beyond [`MAX_NAMES`]), names written un-normalised, failures and
    /// verified lines out of order (also before a row's full examples), positions too large to
    /// pack, invalid domains and MX hosts, with and without failures per day, and (`heavy`)
    /// one domain with more attempts of every outcome than a slot's counter holds.
    #[test]
    fn accumulator_equals_aggregate() {
        for (mx_rows, sticky, per_day) in [
            (true, false, true),
            (true, true, true),
            (false, false, true),
            (false, true, true),
            (true, true, false),
            (false, true, false),
        ] {
            accumulator_case(mx_rows, sticky, per_day, false);
        }
        accumulator_case(true, true, false, true);
        accumulator_case(false, false, true, true);
    }

    /// `sticky`: a domain's attempts mostly go to the MX host of its previous attempt, written
    /// the same way (the case the per-domain MX cache serves), sometimes with other spelling.
    /// `per_day`: failures are counted per day. `heavy`: most attempts go to one domain, more
    /// than `u16::MAX` of each outcome.
    fn accumulator_case(mx_rows: bool, sticky: bool, per_day: bool, heavy: bool) {
        let mut outcomes = vec![
            DaneOutcome::Verified,
            DaneOutcome::NotDane,
            DaneOutcome::Unknown,
        ];
        outcomes.extend(FailureClass::ALL.map(DaneOutcome::Failed));
        let n = if heavy { 700_000 } else { 20_000u64 };
        let mut acc = Accumulator::new(mx_rows);
        let mut agg = Aggregate::default();
        // the same attempts again, through a queue counted in runs
        let hasher = DomainHasher::default();
        let mut queued = Accumulator::with_hasher(mx_rows, &hasher);
        let mut queue = Queue::default();
        // about half the queued attempts' strings lie in a batch, as a scan's lines do
        let mut batch = String::new();
        let (mut bad_direct, mut bad_queued) = (Vec::new(), Vec::new());
        let mut last_mx: HashMap<String, Option<String>> = HashMap::default();
        // per normalised domain, the earliest failure positions so far (up to MAX_EXAMPLES)
        let mut earliest: HashMap<String, Vec<(u32, u64)>> = HashMap::default();
        // failures that came before the last of a domain's full examples
        let mut late = 0;
        let mut x: u64 = 12345;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for i in 0..n {
            // a few domains whose positions mostly do not pack
            let far = next(50) == 0;
            let d = if far {
                format!("far{}.example", next(3))
            } else if heavy && next(16) != 0 {
                match next(4) {
                    0 => "HOT.Example.".to_string(),
                    _ => "hot.example".to_string(),
                }
            } else {
                match next(10) {
                    0 => format!("D{}.Example.", next(40)),
                    1 => "bad domain".to_string(),
                    _ => format!("d{}.example", next(40)),
                }
            };
            let fresh = match next(13) {
                0 => None,
                1 => Some("-bad-.example".to_string()),
                12 => Some(format!("192.0.2.{}", next(50))),
                2 => Some(format!("MX{}.Example", next(50))),
                _ => Some(format!("mx{}.example", next(50))),
            };
            let mx = match last_mx.get(&d) {
                Some(prev) if sticky && next(4) != 0 => prev.clone(),
                _ => fresh,
            };
            last_mx.insert(d.clone(), mx.clone());
            let o = outcomes[next(outcomes.len() as u64) as usize];
            // mostly in order, sometimes an older line (a late non-final attempt): a little
            // older, much older, or one of the first lines
            let line = match next(40) {
                0 => next(i + 1),
                1 => i.saturating_sub(next(200)),
                2 => next(500).min(i),
                _ => i,
            };
            // inputs mostly in order (two halves), sometimes one before or after
            let input = match next(20) {
                0 => next(3) as u32,
                _ => (i * 2 / n) as u32,
            };
            // a far domain's positions: after every other, before those that pack, or
            // packing (in a later input)
            let (input, line) = match (far, next(8)) {
                (true, 0..3) => ((1 << 24) - 1 + next(3) as u32, line),
                (true, 3..6) => (0, (1 << 40) + line),
                (true, _) => (input.max(1), line),
                _ => (input, line),
            };
            let t = 1_000_000 + next(40 * 86_400) as i64;
            let text = format!("line {i} to {d}");
            let f = AttemptFacts {
                time: t,
                outcome: o,
                input,
                line,
                file: "f",
                text: LineText::Text(&text),
                per_day,
            };
            let r = acc.add(&d, mx.as_deref(), &f);
            match r {
                Err(_) => bad_direct.push((f.input, line, BAD_DOMAIN)),
                Ok(true) => bad_direct.push((f.input, line, BAD_MX_HOST)),
                Ok(false) => {}
            }
            if next(2) == 0 {
                let s0 = batch.len();
                for part in [d.as_str(), text.as_str(), mx.as_deref().unwrap_or("")] {
                    batch.push_str(part);
                }
                let (s1, s2) = (s0 + d.len(), s0 + d.len() + text.len());
                let b = batch.as_str();
                let facts = AttemptFacts {
                    text: LineText::Text(&b[s1..s2]),
                    ..f
                };
                let m = mx.as_ref().map(|_| &b[s2..]);
                queue.push(
                    hasher.hash(&d),
                    &b[s0..s1],
                    m,
                    &facts,
                    Batch::of(b.as_bytes()),
                );
            } else {
                queue.push(hasher.hash(&d), &d, mx.as_deref(), &f, Batch::default());
            }
            if queue.len() >= 256 {
                let file = |_| "f".to_string();
                queue.count(
                    &mut queued,
                    batch.as_bytes(),
                    &file,
                    &mut |i, l, kind, text| {
                        assert!(text.starts_with("line "));
                        bad_queued.push((i, l, kind));
                    },
                );
                batch.clear();
            }
            match crate::domain::normalize(&d) {
                Ok(nd) => {
                    let bad_mx = mx
                        .as_deref()
                        .is_some_and(|m| crate::domain::mx_name(m).is_err());
                    assert_eq!(r, Ok(bad_mx));
                    let nmx = mx.as_deref().and_then(|m| crate::domain::normalize(m).ok());
                    agg.add(&nd, nmx.as_deref(), t, o, input, line, "f", &text, per_day);
                    if matches!(o, DaneOutcome::Failed(_)) {
                        let e = earliest.entry(nd.into_owned()).or_default();
                        if e.len() == MAX_EXAMPLES && e.last().is_some_and(|l| (input, line) < *l) {
                            late += 1;
                        }
                        e.push((input, line));
                        e.sort_unstable();
                        e.truncate(MAX_EXAMPLES);
                    }
                }
                Err(_) => assert!(r.is_err()),
            }
        }
        queue.count(
            &mut queued,
            batch.as_bytes(),
            &|_| "f".to_string(),
            &mut |i, l, kind, _| {
                bad_queued.push((i, l, kind));
            },
        );
        assert!(!bad_direct.is_empty());
        assert_eq!(bad_queued, bad_direct);
        assert!(late > 30, "only {late} failures before full examples' last");
        let got = acc.into_aggregate();
        assert_eq!(queued.into_aggregate(), got);
        if mx_rows {
            assert!(
                got.mx.values().any(|r| r.names.len() == MAX_NAMES),
                "{mx_rows} {sticky} {per_day} {heavy}"
            );
        } else {
            assert!(got.mx.is_empty());
            agg.mx.clear();
        }
        assert!(got.domains.values().any(|r| r.failing_names.len() > 1));
        assert_eq!(
            got.domains.values().any(|r| !r.failure_days.is_empty()),
            per_day
        );
        // examples and verified examples whose positions do not pack
        assert!(got.domains.values().any(|r| r
            .examples
            .iter()
            .chain(r.verified_example.as_deref())
            .any(|e| pos(e.input, e.line).is_none())));
        if heavy {
            let c = &got.domains["hot.example"].counts;
            let all = [c.dane_verified, c.not_dane, c.unknown];
            assert!(all
                .iter()
                .chain(&c.by_class)
                .all(|&k| k > u64::from(u16::MAX)));
        }
        assert_eq!(got, agg);
    }
}
