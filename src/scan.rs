//! The scan stage wired end to end: ingest → parse → correlate → classify → aggregate.
//!
//! Each input is read in batches of lines (a line cut at a batch's end is finished in the
//! next). A batch is cut into chunks that rayon parses
//! in parallel (phase A: prefix, grammar, message → events, borrowing from the batch); a plain
//! file's chunks are read by the tasks that parse them (`ReadPiece`). The events are spread
//! over partitions by their correlation key (Postfix host+program+pid, Exim message id); each
//! partition then runs its correlators over its events in log order (phase B), also in
//! parallel, and queues each attempt for the counter that owns its domain. Each counter then
//! counts its queues (phase C). Keys never cross partitions, and counting does not depend on
//! the order of attempts, so the result is the same for every chunk size, batch size and
//! thread count — the property tests pin that.

use crate::aggregate::{
    Accumulator, Aggregate, AttemptFacts, Batch, DomainHasher, LineText, Queue, SortedRows,
};
use crate::bytesearch;
use crate::classify::TlsLevel;
use crate::correlate::{
    keyvalue_attempt, At, AttemptRef, Emit, PartitionState, UNMATCHED_NON_FINAL,
};
use crate::domain;
use crate::grammar::{CommonShape, GrammarError, Grammars, Prefix, PrefixMemo, SHAPES_KEPT};
use crate::ingest::{self, FileAccess, IngestError, InputSpec, Opened};
use crate::model::{Attempt, Mta};
use crate::parse::{self, EximEvent, PostfixEvent};
use crate::timefmt::{self, infer_year, reference_of, Stamp};
use chrono::DateTime;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

/// Errors that stop a scan before it starts (unreadable inputs are reported per input).
#[derive(Debug, Error)]
pub enum ScanError {
    #[error(transparent)]
    Grammar(#[from] GrammarError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Lines longer than this are skipped as malformed (offsets within a line are 16-bit).
pub const MAX_LINE: usize = u16::MAX as usize;
/// How many example lines each input keeps per run (besides the first of each kind).
pub const MAX_PROBLEM_EXAMPLES: usize = 5;

/// Options of a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The MTA's default TLS security level (Postfix `smtp_tls_security_level`).
    pub tls_level: TlsLevel,
    /// Year of the newest BSD-syslog lines (default: from the file's modification time).
    pub year: Option<i32>,
    /// Only attempts at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only attempts before this time (Unix seconds).
    pub until: Option<i64>,
    /// Extra grammar files.
    pub grammar_files: Vec<PathBuf>,
    /// Only lines of this MTA (default: every MTA recognised).
    pub mta: Option<Mta>,
    /// Bytes per batch (memory bound of streaming).
    pub batch_bytes: usize,
    /// Bytes per batch of a plain file whose batches are pipelined (a counting scan, as
    /// `domains`: two batches are in flight).
    pub flight_bytes: usize,
    /// Bytes per parallel chunk within a batch.
    pub chunk_bytes: usize,
    /// Where the states of processes silent for an hour are dropped: before the first line
    /// at or after every multiple of this many bytes of an input (from where its reading
    /// starts), and at each input's end, with the latest time among the events since the last
    /// such place as the clock. Defined by the inputs alone, so the result does not depend on
    /// how they are cut.
    pub expiry_bytes: usize,
    /// Leave a final line without newline unread (for incremental reading of growing files).
    pub complete_lines_only: bool,
    /// How plain files are read.
    pub file_access: FileAccess,
    /// Keep failures per UTC day in each row ([`Row::failure_days`]). Reports and the nightly
    /// job need them; `domains` does not, and without them memory does not grow with the
    /// number of days a log covers.
    ///
    /// [`Row::failure_days`]: crate::aggregate::Row::failure_days
    pub per_day: bool,
    /// Keep per-MX rows ([`Aggregate::mx`]); without them each attempt costs less. Of the
    /// commands that aggregate here, only `domains --by mx` reads them.
    pub mx_rows: bool,
    /// Keep each row's details: its example lines and its failing names
    /// ([`Accumulator::without_details`] when not). `domains` writes them only as JSON.
    pub row_details: bool,
    /// Bytes of input read so far, added after each batch (drives a progress bar).
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions::with_access(FileAccess::default())
    }
}

impl ScanOptions {
    /// The defaults for plain files read as `access` says (the sizes of batches and chunks
    /// that suit it).
    pub fn with_access(access: FileAccess) -> ScanOptions {
        let (flight_bytes, chunk_bytes) = match access {
            // two batches in flight, each counted right after it is walked: read ones of
            // 2 MB stay nearer the caches (with 8 MB the pipelining took 4% more CPU than it
            // saved)
            FileAccess::Read => (2 << 20, 1 << 20),
            // mapped ones are copied nowhere: 8 MB in 2 MB pieces wait at fewer batch ends
            // (domains 0.54-0.55 s instead of 0.57-0.58 s on the 1 GB log; 16 and 32 MB no
            // better, with more resident)
            FileAccess::Map => (8 << 20, 2 << 20),
        };
        ScanOptions {
            tls_level: TlsLevel::Dane,
            year: None,
            since: None,
            until: None,
            grammar_files: Vec::new(),
            mta: None,
            // a batch's queued attempts are counted after it: 8 MB keeps them nearer the
            // caches than 16 MB (4-5% less CPU), while 4 MB waits at too many batch ends
            batch_bytes: 8 << 20,
            flight_bytes,
            chunk_bytes,
            expiry_bytes: 8 << 20,
            complete_lines_only: false,
            file_access: access,
            per_day: true,
            mx_rows: true,
            row_details: true,
            progress: None,
        }
    }
}

/// One example of a problem line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProblemExample {
    pub line: u64,
    pub kind: &'static str,
    pub text: String,
}

/// Problems of one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InputProblems {
    pub file: String,
    /// Count per kind (`no-prefix`, `malformed-delivery`, `bad-domain`, `invalid-utf8`, ...).
    pub counts: BTreeMap<&'static str, u64>,
    /// The first few examples by line number, and the first of each kind after those.
    pub examples: Vec<ProblemExample>,
    /// Errors that ended reading the input early (truncated gzip, read error).
    pub errors: Vec<String>,
}

/// Problems of a scan, per input index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Problems {
    pub inputs: BTreeMap<u32, InputProblems>,
}

impl Problems {
    /// Count a problem line.
    pub fn add(&mut self, input: u32, line: u64, kind: &'static str, text: &str) {
        let p = self.inputs.entry(input).or_default();
        *p.counts.entry(kind).or_insert(0) += 1;
        let kept = p.examples.len() < MAX_PROBLEM_EXAMPLES
            || p.examples
                .get(MAX_PROBLEM_EXAMPLES - 1)
                .is_some_and(|l| line < l.line)
            || p.examples
                .iter()
                .find(|e| e.kind == kind)
                .is_none_or(|e| line < e.line);
        if kept {
            let e = ProblemExample {
                line,
                kind,
                text: crate::aggregate::head(text, 200).to_string(),
            };
            let pos = p.examples.binary_search(&e).unwrap_or_else(|x| x);
            p.examples.insert(pos, e);
            keep_examples(&mut p.examples);
        }
    }

    /// Record an error that ended an input early.
    pub fn error(&mut self, input: u32, message: String) {
        self.inputs.entry(input).or_default().errors.push(message);
    }

    /// Merge another set of problems.
    pub fn merge(&mut self, o: Problems) {
        for (k, v) in o.inputs {
            let p = self.inputs.entry(k).or_default();
            for (kind, n) in v.counts {
                *p.counts.entry(kind).or_insert(0) += n;
            }
            p.examples.extend(v.examples);
            p.examples.sort();
            p.examples.dedup();
            keep_examples(&mut p.examples);
            p.errors.extend(v.errors);
        }
    }

    /// Total problem lines.
    pub fn total(&self) -> u64 {
        self.inputs.values().flat_map(|p| p.counts.values()).sum()
    }

    /// Whether any input could not be read to its end.
    pub fn has_errors(&self) -> bool {
        self.inputs.values().any(|p| !p.errors.is_empty())
    }

    /// A human summary for stderr: one line per input with problems, then examples. Names and
    /// texts keep their characters; only control characters are escaped (`\n`, `\u{1b}`), so
    /// that each message stays on one line.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for p in self.inputs.values() {
            let file = one_line(&p.file);
            for e in &p.errors {
                s.push_str(&format!("danemine: {file}: {}\n", one_line(e)));
            }
            if p.counts.is_empty() {
                continue;
            }
            let kinds: Vec<String> = p.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            s.push_str(&format!(
                "danemine: {file}: skipped or doubtful lines: {}\n",
                kinds.join(", ")
            ));
            for e in &p.examples {
                s.push_str(&format!(
                    "  {file}:{}: {}: {}\n",
                    e.line,
                    e.kind,
                    one_line(&e.text)
                ));
            }
        }
        s
    }
}

/// `text` with its control characters escaped (`\t`, `\n`, `\u{1b}`) and nothing else.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Of examples sorted by line, keep the first [`MAX_PROBLEM_EXAMPLES`] and the first of each
/// kind: a kind is never left without an example by lines of other kinds before it. (Which
/// examples stay depends only on the lines, so merging in any order keeps the same ones.)
fn keep_examples(examples: &mut Vec<ProblemExample>) {
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut n = 0;
    examples.retain(|e| {
        let first = !kinds.contains(&e.kind);
        if first {
            kinds.push(e.kind);
        }
        n += 1;
        n <= MAX_PROBLEM_EXAMPLES || first
    });
}

/// The result of an aggregating scan.
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    pub aggregate: Aggregate,
    pub problems: Problems,
    pub lines: u64,
    pub bytes: u64,
    pub attempts: u64,
    /// Per input: bytes consumed from the start of the file (for incremental reading).
    pub end_offsets: Vec<u64>,
}

// ---------------------------------------------------------------------------------------------
// phase A: lines → keyed events

/// A part of a line, as byte offsets: phase-A output holds offsets rather than slices so that
/// each event stays small (56 bytes), which keeps memory traffic and resident size down.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    off: u16,
    len: u16,
}

impl Span {
    /// The span of `part` within `line` (empty when `part` does not lie inside it).
    fn of(line: &str, part: &str) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
        // lines are at most MAX_LINE (u16::MAX) bytes
        if start <= line.len() && part.len() <= line.len() - start && line.len() <= MAX_LINE {
            Span {
                off: start as u16,
                len: part.len() as u16,
            }
        } else {
            Span::default()
        }
    }

    /// The span of `line[from..to]` (empty when that is not inside it).
    fn at(line: &str, from: usize, to: usize) -> Span {
        if from <= to && to <= line.len() && line.len() <= MAX_LINE {
            Span {
                off: from as u16,
                len: (to - from) as u16,
            }
        } else {
            Span::default()
        }
    }

    /// Where the span starts and ends.
    fn range(self) -> (usize, usize) {
        (self.off as usize, self.off as usize + self.len as usize)
    }
}

/// `line[a..b]`, or `""` when that is not inside `line` or (unless `ascii`) does not cut it at
/// char boundaries. With `ascii` the boundaries need no check: every byte range of ASCII text
/// is a string. (`parse`'s `cut` does the same for a message's fields; calling it from here
/// instead cost 1% more instructions, as the scan's loop was compiled differently.)
///
/// # Safety
/// With `ascii`, `line` is all ASCII.
#[inline(always)]
unsafe fn part_of(line: &str, a: usize, b: usize, ascii: bool) -> &str {
    match line.as_bytes().get(a..b) {
        Some(bytes) if ascii => {
            debug_assert!(line.is_ascii());
            // SAFETY: `line` is ASCII (the caller's promise), and any byte range of ASCII
            // text is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        }
        _ => line.get(a..b).unwrap_or(""),
    }
}

/// What phase A found in a line; phase B parses the message itself.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// A Postfix delivery agent's message.
    Postfix {
        host: Span,
        prog: Span,
        pid: Span,
        msg: u16,
    },
    /// An Exim main-log line (its message starts at `msg`). Phase A parses it only to find
    /// the message id; phase B parses it again rather than carry the event.
    Exim { msg: u16 },
    /// A key=value line of grammar `grammar`; its fields start at `fields`.
    KeyValue { grammar: u16, fields: u16 },
}

#[derive(Debug, Clone, Copy)]
struct Keyed<'a> {
    time: i64,
    text: &'a str,
    rel_line: u64,
    /// Hash of the correlation key: it picks the partition, and finds a Postfix process's
    /// state (key=value lines need no correlation: their line number spreads them).
    hash: u64,
    ev: Ev,
}

struct ChunkOut<'a> {
    lines: u64,
    buckets: Vec<Vec<Keyed<'a>>>,
    problems: Problems,
    /// Every byte of the chunk is ASCII (the newline pass saw none above 0x7f): any byte
    /// range of its lines is valid UTF-8.
    ascii: bool,
    /// The places in the chunk where process states expire ([`ScanOptions::expiry_bytes`]).
    cuts: Vec<Cut>,
    /// The latest log time among the events of every partition after the last cut (all of
    /// them without one; `i64::MIN` for none): part of the next expiry's clock.
    latest: i64,
}

/// A place where process states expire, in a chunk: before its line `line` (relative; one
/// past its last line for the chunk's end), the first that starts at or after a multiple of
/// [`ScanOptions::expiry_bytes`]. `before` is the latest log time among the chunk's events
/// (of every partition) before it and after the chunk's previous cut (`i64::MIN` for none).
#[derive(Debug, Clone, Copy)]
struct Cut {
    line: u64,
    before: i64,
}

/// Per-input constants of phase A.
struct InputCtx {
    input: u32,
    reference: (i32, u32, u32),
    fallback_time: i64,
    /// The file offset where reading starts: offsets of the input are counted from there
    /// (see [`ScanOptions::expiry_bytes`]).
    start: u64,
}

/// Hash of a correlation key's parts (the same within a run; foldhash reads words, not bytes).
fn key_hash(parts: &[&str]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    for p in parts {
        h.write(p.as_bytes());
        h.write_u8(0x1f);
    }
    h.finish()
}

/// Hash of bytes in one call. A process key (`host prog[pid`, some 20 to 30 bytes) is read
/// as four words that overlap where it is shorter than 32 bytes, and they are mixed by two
/// folded multiplies (the 128-bit product's halves xored, as foldhash mixes): a third of what
/// foldhash's general path for long input costs. Longer and shorter input goes to foldhash.
fn bytes_hash(b: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let n = b.len();
    if (16..=32).contains(&n) {
        let w = |i: usize| {
            b.get(i..i + 8)
                .and_then(|s| s.first_chunk::<8>())
                .map_or(0, |s| u64::from_le_bytes(*s))
        };
        let fold = |x: u64, y: u64| {
            let p = u128::from(x) * u128::from(y);
            (p as u64) ^ ((p >> 64) as u64)
        };
        // (constants: the first 256 bits of the fractional part of pi)
        const K: [u64; 4] = [
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        ];
        let h = fold(w(0) ^ K[0], w(8) ^ K[1]) ^ fold(w(n - 16) ^ K[2], w(n - 8) ^ K[3]);
        return fold(h ^ n as u64, K[1]);
    }
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    h.write(b);
    h.finish()
}

/// Hash of a Postfix process's key (host, program, pid; an absent part is empty, as in
/// [`PartitionState::postfix_process`]). With host and pid, it is the hash of the bytes
/// `host prog[pid`, which is how they stand in a line (one space after the host token, the
/// tag's `[` before the pid): hashed where they stand, in one call. Each key has one form, so
/// one hash, whichever line it comes from. `h`, `p` and `d` are the parts' spans in `line`.
fn process_hash(line: &str, [host, prog, pid]: [&str; 3], [h, p, d]: [Span; 3]) -> u64 {
    if host.is_empty() || pid.is_empty() {
        return key_hash(&[host, prog, pid]);
    }
    let (h_end, p_end) = (
        h.off as usize + h.len as usize,
        p.off as usize + p.len as usize,
    );
    let b = line.as_bytes();
    if h.len as usize == host.len()
        && p.len as usize == prog.len()
        && d.len as usize == pid.len()
        && p.off as usize == h_end + 1
        && d.off as usize == p_end + 1
        && b.get(h_end) == Some(&b' ')
        && b.get(p_end) == Some(&b'[')
    {
        if let Some(key) = b.get(h.off as usize..d.off as usize + pid.len()) {
            return bytes_hash(key);
        }
    }
    bytes_hash([host, " ", prog, "[", pid].concat().as_bytes())
}

/// What a syslog tag's program is to phase A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Program {
    /// A Postfix delivery agent (`postfix/smtp`, `postfix-out/lmtp`).
    PostfixDelivery,
    /// Another Postfix program (`postfix/qmgr`): no event.
    PostfixOther,
    /// One of the Exim grammar's tags.
    Exim,
    /// Anything else: maybe a key=value line.
    #[default]
    Other,
}

/// Phase A's memory of the lines before within a chunk. Each part gives what computing
/// afresh would: it keeps inputs beside their results.
#[derive(Default)]
struct LineMemo {
    prefix: PrefixMemo,
    /// What the program of each line shape kept in `prefix` is, with the shape's number
    /// ([`PrefixMemo::shape`]).
    shape_programs: [(u32, Program); SHAPES_KEPT],
    /// The last stamp and its Unix time.
    time: Option<(Stamp, i64)>,
    /// Recent programs (see [`Engine::program_memo`]; a zero length matches none) and what
    /// they are.
    programs: [((u64, u64, usize), Program); 8],
    /// Where the next program goes in `programs`.
    next: usize,
}

struct Engine {
    grammars: Grammars,
    opts: ScanOptions,
    /// Partitions: phase A sorts events into this many buckets by key hash, and phase B runs
    /// each bucket with its own correlation state, one per thread. Finer partitions, spread
    /// over the threads by their load in each batch, evened the threads out but made the run
    /// 15-20% slower (a thread no longer walks a chunk's lines in order; see
    /// docs/scan-performance.md).
    parts: usize,
}

impl Engine {
    fn time_of(&self, p: &Prefix<'_>, ctx: &InputCtx) -> Option<i64> {
        let st = p.stamp?;
        let year = match st.year {
            Some(y) => y,
            None => infer_year(st.month, st.day, ctx.reference),
        };
        Some(st.to_unix(year))
    }

    /// [`time_of`](Self::time_of) of a stamp, remembering the last stamp's time.
    fn time_memo(&self, st: Stamp, ctx: &InputCtx, memo: &mut LineMemo) -> i64 {
        match memo.time {
            Some((last, t)) if last == st => t,
            _ => {
                let year = match st.year {
                    Some(y) => y,
                    None => infer_year(st.month, st.day, ctx.reference),
                };
                let t = st.to_unix(year);
                memo.time = Some((st, t));
                t
            }
        }
    }

    /// What `prog` is (see [`Program`]).
    fn program(&self, prog: &[u8]) -> Program {
        let g = &self.grammars;
        if let Some(agent) = prog.strip_prefix(g.postfix.tag_prefix.as_bytes()) {
            // postfix/smtp, postfix-out/smtp: the last component is the agent
            let delivery = bytesearch::rfind(agent, b'/').is_some_and(|slash| {
                let last = agent.get(slash + 1..).unwrap_or_default();
                g.postfix
                    .delivery_agents
                    .iter()
                    .any(|a| parse::same_bytes(a.as_bytes(), last))
            });
            return match delivery {
                true => Program::PostfixDelivery,
                false => Program::PostfixOther,
            };
        }
        if g.exim.tags.iter().any(|t| t.as_bytes() == prog) {
            return Program::Exim;
        }
        Program::Other
    }

    /// [`program`](Self::program), remembering the last few programs of 8 to 16 bytes (as
    /// their first and last 8 bytes and their length, which together are all their bytes).
    #[inline]
    fn program_memo(&self, prog: &[u8], memo: &mut LineMemo) -> Program {
        let n = prog.len();
        let (Some(first), Some(last), true) =
            (prog.first_chunk::<8>(), prog.last_chunk::<8>(), n <= 16)
        else {
            return self.program(prog);
        };
        let key = (u64::from_le_bytes(*first), u64::from_le_bytes(*last), n);
        if let Some((_, kind)) = memo.programs.iter().find(|(k, _)| *k == key) {
            return *kind;
        }
        let kind = self.program(prog);
        let at = memo.next % memo.programs.len();
        if let Some(slot) = memo.programs.get_mut(at) {
            *slot = (key, kind);
        }
        memo.next = at + 1;
        kind
    }

    /// The event of a line of the common shape whose program is a Postfix delivery agent:
    /// what [`line_event_to`](Self::line_event_to) makes of the prefix that the shape stands for
    /// (the spans of its parts, and the hash of `host prog[pid` as [`process_hash`] takes it),
    /// without cutting the line into strings.
    fn postfix_common<'a>(
        &self,
        line: &'a str,
        c: &CommonShape,
        ctx: &InputCtx,
        rel: u64,
        memo: &mut LineMemo,
    ) -> Option<Keyed<'a>> {
        if self.opts.mta.is_some_and(|x| x != Mta::Postfix) {
            return None;
        }
        let span = |(from, to): (usize, usize)| Span::at(line, from, to);
        Some(Keyed {
            rel_line: rel,
            time: self.time_memo(c.stamp, ctx, memo),
            text: line,
            hash: bytes_hash(line.as_bytes().get(c.host.0..c.pid.1)?),
            ev: Ev::Postfix {
                host: span(c.host),
                prog: span(c.program),
                pid: span(c.pid),
                // no message: as the general path, the empty text that is no part of the line
                msg: match c.message {
                    Some(m) => span((m, line.len())).off,
                    None => Span::of(line, "").off,
                },
            },
        })
    }

    fn keyvalue_event<'a>(
        &self,
        line: &'a str,
        ctx: &InputCtx,
        rel: u64,
        problems: &mut Problems,
        p: &Prefix<'a>,
    ) -> Option<Option<Keyed<'a>>> {
        let g = &self.grammars;
        // searched in the whole line: a marker such as "logline:" also looks like a syslog tag
        for (gi, kv) in g.keyvalue.iter().enumerate() {
            if let Some(i) = kv.marker_finder.find(line.as_bytes()) {
                if self.opts.mta.is_some_and(|x| x != Mta::Gateway) {
                    return Some(None);
                }
                let time = match self.time_of(p, ctx) {
                    Some(t) => t,
                    None => {
                        problems.add(ctx.input, rel, "no-timestamp", line);
                        ctx.fallback_time
                    }
                };
                // one line is one attempt: no correlation, so any partition will do
                let grammar = u16::try_from(gi).ok()?;
                return Some(Some(Keyed {
                    rel_line: rel,
                    time,
                    text: line,
                    hash: rel,
                    ev: Ev::KeyValue {
                        grammar,
                        fields: Span::of(line, &line[i + kv.marker.len()..]).off,
                    },
                }));
            }
        }
        None
    }

    /// Hand the event of a line, if it has one, to `put`. (The scan's `put` pushes it into its
    /// partition's bucket. Returned instead, the event was built on the stack and copied: the
    /// copy's 16-byte loads of the narrower stores that had just built it could not take their
    /// bytes from those stores, and waited for them to reach the cache.)
    #[inline(always)]
    fn line_event_to<'a>(
        &self,
        line: &'a str,
        ctx: &InputCtx,
        rel: u64,
        problems: &mut Problems,
        memo: &mut LineMemo,
        mut put: impl FnMut(Keyed<'a>),
    ) {
        let g = &self.grammars;
        let common = g.prefix.parse_common_contained(line, &mut memo.prefix);
        if let Some(c) = &common {
            let shape = memo.prefix.shape();
            let kept = shape.and_then(|(slot, number)| {
                let (n, kind) = *memo.shape_programs.get(slot)?;
                (n == number).then_some(kind)
            });
            let kind = kept.or_else(|| {
                let prog = line.as_bytes().get(c.program.0..c.program.1)?;
                let kind = self.program_memo(prog, memo);
                if let Some((slot, number)) = shape {
                    if let Some(k) = memo.shape_programs.get_mut(slot) {
                        *k = (number, kind);
                    }
                }
                Some(kind)
            });
            match kind {
                Some(Program::PostfixDelivery) => {
                    if let Some(k) = self.postfix_common(line, c, ctx, rel, memo) {
                        put(k);
                    }
                    return;
                }
                Some(Program::PostfixOther) => return,
                _ => {}
            }
        }
        self.general_event_to(line, common, ctx, rel, problems, memo, &mut put);
    }

    /// The general path of [`line_event_to`](Self::line_event_to), out of line: its event and
    /// the common path's are pushed in two places, each built where it is pushed.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn general_event_to<'a>(
        &self,
        line: &'a str,
        common: Option<CommonShape>,
        ctx: &InputCtx,
        rel: u64,
        problems: &mut Problems,
        memo: &mut LineMemo,
        put: &mut dyn FnMut(Keyed<'a>),
    ) {
        let p = match common.and_then(|c| c.prefix(line)) {
            Some(p) => p,
            // (`line_event_to` has tried the common shape)
            None => self.grammars.prefix.parse_general(line, &mut memo.prefix),
        };
        if let Some(k) = self.prefix_event(line, &p, ctx, rel, problems, memo) {
            put(k);
        }
    }

    /// The event of a line whose prefix is `p` (the general path of
    /// [`line_event_to`](Self::line_event_to)).
    fn prefix_event<'a>(
        &self,
        line: &'a str,
        p: &Prefix<'a>,
        ctx: &InputCtx,
        rel: u64,
        problems: &mut Problems,
        memo: &mut LineMemo,
    ) -> Option<Keyed<'a>> {
        let want = |m: Mta| self.opts.mta.is_none_or(|x| x == m);
        let m = p.message;
        match p.program {
            Some(prog) => match self.program_memo(prog.as_bytes(), memo) {
                Program::PostfixDelivery => {
                    if !want(Mta::Postfix) {
                        return None;
                    }
                    let host = p.host.unwrap_or("");
                    let pid = p.pid.unwrap_or("");
                    let time = match p.stamp {
                        Some(st) => self.time_memo(st, ctx, memo),
                        None => {
                            problems.add(ctx.input, rel, "no-timestamp", line);
                            ctx.fallback_time
                        }
                    };
                    let spans = [host, prog, pid].map(|part| Span::of(line, part));
                    Some(Keyed {
                        rel_line: rel,
                        time,
                        text: line,
                        hash: process_hash(line, [host, prog, pid], spans),
                        ev: Ev::Postfix {
                            host: spans[0],
                            prog: spans[1],
                            pid: spans[2],
                            msg: Span::of(line, m).off,
                        },
                    })
                }
                Program::PostfixOther => None,
                Program::Exim => self.exim_event(line, m, p, ctx, (rel, problems), memo),
                Program::Other => self.keyvalue_event(line, ctx, rel, problems, p).flatten(),
            },
            None if p.exim_stamp => self.exim_event(line, m, p, ctx, (rel, problems), memo),
            None => match self.keyvalue_event(line, ctx, rel, problems, p) {
                Some(r) => r,
                None => {
                    problems.add(ctx.input, rel, "no-prefix", line);
                    None
                }
            },
        }
    }

    fn exim_event<'a>(
        &self,
        line: &'a str,
        m: &'a str,
        p: &Prefix<'a>,
        ctx: &InputCtx,
        (rel, problems): (u64, &mut Problems),
        memo: &mut LineMemo,
    ) -> Option<Keyed<'a>> {
        if self.opts.mta.is_some_and(|x| x != Mta::Exim) {
            return None;
        }
        // (what `exim_message` gives phase B an event for: a line with a message id)
        let (msgid, _) = parse::exim_msgid(m)?;
        let time = match p.stamp {
            Some(st) => self.time_memo(st, ctx, memo),
            None => {
                problems.add(ctx.input, rel, "no-timestamp", line);
                ctx.fallback_time
            }
        };
        Some(Keyed {
            rel_line: rel,
            time,
            text: line,
            hash: key_hash(&[msgid]),
            ev: Ev::Exim {
                msg: Span::of(line, m).off,
            },
        })
    }

    /// Phase A of `chunk`, whole lines that start at byte `at` of the input (counted from
    /// where its reading starts).
    fn parse_chunk<'a>(&self, ctx: &InputCtx, chunk: &'a [u8], at: u64) -> ChunkOut<'a> {
        let guess = chunk.len() / 160 / self.parts + 16;
        let mut out = ChunkOut {
            lines: 0,
            buckets: (0..self.parts).map(|_| Vec::with_capacity(guess)).collect(),
            problems: Problems::default(),
            ascii: false,
            cuts: Vec::new(),
            latest: i64::MIN,
        };
        // the next multiple of `expiry_bytes` after the chunk's start: the line that holds its
        // byte before it (or ends just before it) is followed by a cut; the chunk that holds
        // that line says so, whatever the chunking
        let every = self.opts.expiry_bytes.max(1) as u64;
        let after = |x: u64| (x / every).saturating_add(1).saturating_mul(every);
        let mut next_cut = after(at);
        let mut cut_after = false;
        let mut latest = i64::MIN;
        // line numbers inside the chunk are relative (1-based); phase B adds the chunk's base.
        // Problems found here are recorded with relative numbers and rebased by the caller.
        // A chunk without NUL bytes that is valid UTF-8 as a whole (the usual case) needs no
        // check per line: its lines, cut at ASCII bytes, are valid too. An all-ASCII chunk
        // (found by the newline pass) needs no check at all.
        thread_local! {
            static ENDS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut buf = ENDS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        let mut ends = crate::bytesearch::LineEnds::new(chunk, &mut buf);
        // What the chunk as a whole is, once a line is not ASCII (or holds a NUL): until then
        // each line lies in the part searched so far, all ASCII, and needs no check.
        let mut whole: Option<Option<&str>> = None;
        let mut memo = LineMemo::default();
        // a UTF-8 byte order mark before an input's first line is not part of it
        let mut start = if at == 0 && chunk.starts_with(&[0xef, 0xbb, 0xbf]) {
            3
        } else {
            0
        };
        let mut rel = 0u64;
        while start < chunk.len() {
            let end = ends.next().unwrap_or(chunk.len());
            rel += 1;
            if cut_after {
                out.cuts.push(Cut {
                    line: rel,
                    before: latest,
                });
                latest = i64::MIN;
                cut_after = false;
            }
            // the line's bytes with its newline: a multiple of `expiry_bytes` among them puts
            // a cut after it
            let line_end = at + (end + 1).min(chunk.len()) as u64;
            if line_end >= next_cut {
                cut_after = true;
                next_cut = after(line_end);
            }
            let (from, mut to) = (start, end);
            if to > from && chunk[to - 1] == b'\r' {
                to -= 1;
            }
            start = end + 1;
            if to == from {
                continue;
            }
            let raw = &chunk[from..to];
            if raw.len() > MAX_LINE {
                let text = String::from_utf8_lossy(&raw[..200.min(raw.len())]);
                out.problems.add(ctx.input, rel, "too-long", &text);
                continue;
            }
            if whole.is_none() && !ends.clean() {
                // the chunk holds a byte above 0x7f or a NUL: it is checked as a whole
                let bytes = ends.finish();
                whole = Some(if bytes.nul {
                    None
                } else {
                    simdutf8::basic::from_utf8(chunk).ok()
                });
            }
            let cut = match whole {
                // SAFETY: the bytes up to the line's end are all ASCII (`ends.clean()`), and
                // ASCII is valid UTF-8
                None => Some(unsafe { std::str::from_utf8_unchecked(raw) }),
                Some(Some(w)) => w.get(from..to),
                Some(None) => None,
            };
            let line = match cut {
                Some(l) => l,
                None => {
                    if memchr::memchr(0, raw).is_some() {
                        let text = String::from_utf8_lossy(raw).replace('\0', "\\0");
                        out.problems.add(ctx.input, rel, "nul-byte", &text);
                        continue;
                    }
                    // simdutf8 validates the same as std, faster on long ASCII lines
                    match simdutf8::basic::from_utf8(raw) {
                        Ok(l) => l,
                        Err(_) => {
                            let text = String::from_utf8_lossy(raw);
                            out.problems.add(ctx.input, rel, "invalid-utf8", &text);
                            continue;
                        }
                    }
                }
            };
            let (buckets, parts) = (&mut out.buckets, self.parts as u64);
            let latest = &mut latest;
            self.line_event_to(line, ctx, rel, &mut out.problems, &mut memo, |k| {
                *latest = (*latest).max(k.time);
                if let Some(b) = buckets.get_mut((k.hash % parts) as usize) {
                    b.push(k);
                }
            });
        }
        if cut_after {
            out.cuts.push(Cut {
                line: rel + 1,
                before: latest,
            });
            latest = i64::MIN;
        }
        out.ascii = ends.finish().ascii;
        out.lines = rel;
        out.latest = latest;
        ENDS.with(|e| *e.borrow_mut() = buf);
        out
    }

    /// Read `region` from `file` at `at` and parse its whole lines (see [`ReadPiece`]).
    fn read_piece<'d>(
        &self,
        ctx: &InputCtx,
        file: &std::fs::File,
        at: u64,
        region: &'d mut [u8],
    ) -> ReadPiece<'d> {
        let (read, error) = read_at_most(file, at, region);
        let asked = region.len();
        let region: &'d [u8] = region;
        self.parse_piece(ctx, at, region.get(..read).unwrap_or(region), asked, error)
    }

    /// Parse the whole lines of `data`, a piece's bytes from file offset `at` of the `asked`
    /// (see [`ReadPiece`]); `error` is why reading stopped, if it did.
    fn parse_piece<'d>(
        &self,
        ctx: &InputCtx,
        at: u64,
        data: &'d [u8],
        asked: usize,
        error: Option<std::io::Error>,
    ) -> ReadPiece<'d> {
        let read = data.len();
        let (Some(first), Some(last)) = (memchr::memchr(b'\n', data), memchr::memrchr(b'\n', data))
        else {
            return ReadPiece {
                at,
                head: data,
                closed: false,
                body: None,
                tail: &[],
                read,
                asked,
                error,
            };
        };
        let body = &data[first + 1..last + 1];
        let body_at = (at + first as u64 + 1).saturating_sub(ctx.start);
        ReadPiece {
            at,
            head: &data[..first + 1],
            closed: true,
            body: (!body.is_empty()).then(|| self.parse_chunk(ctx, body, body_at)),
            tail: &data[last + 1..],
            read,
            asked,
            error,
        }
    }
}

/// What partition 0 walked in a batch of [`Scanner::read_pipelined`]: the line number before
/// each piece's body, and the problems of the lines joined at the pieces' edges (with input
/// line numbers).
#[derive(Default)]
struct Walked {
    body_bases: Vec<u64>,
    problems: Problems,
}

/// One partition's walk through the pieces of a batch in [`Scanner::read_pipelined`]: the
/// line number before the next part, and (partition 0) the record.
struct PieceWalk<'e> {
    engine: &'e Engine,
    ctx: &'e InputCtx,
    p: usize,
    base: u64,
    record: Option<Walked>,
}

impl PieceWalk<'_> {
    /// A line joined at a piece's edge, which starts at file offset `at`: parsed, and this
    /// partition's part of it run.
    fn joined(&mut self, (line, at): (&[u8], u64), st: &mut PartitionState, sink: &mut dyn Emit) {
        let at = at.saturating_sub(self.ctx.start);
        let mut out = self.engine.parse_chunk(self.ctx, line, at);
        let problems = std::mem::take(&mut out.problems);
        if let Some(r) = self.record.as_mut() {
            r.problems.merge(rebased(problems, self.base));
        }
        self.run(&out, st, sink);
    }

    /// A piece's body (its whole lines, parsed in phase A): this partition's part of it run.
    fn body(&mut self, body: Option<&ChunkOut<'_>>, st: &mut PartitionState, sink: &mut dyn Emit) {
        if let Some(r) = self.record.as_mut() {
            r.body_bases.push(self.base);
        }
        if let Some(body) = body {
            self.run(body, st, sink);
        }
    }

    /// This partition's events of `out`, whose lines follow line `base`.
    fn run(&mut self, out: &ChunkOut<'_>, st: &mut PartitionState, sink: &mut dyn Emit) {
        let (engine, input) = (self.engine, self.ctx.input);
        run_chunk(engine, st, sink, (out, self.p), self.base, input);
        self.base += out.lines;
    }
}

/// A batch's buffer, read into by the tasks of phase A (each its own chunk, in parallel) and
/// then read as a whole by the counters while phase A's events still borrow the chunks: what
/// `par_chunks_mut` cannot give, as the chunks' borrows last as long as the events.
///
/// A batch of a mapped file is a part of the map instead ([`BatchBuf::mapped`]): its pieces
/// are only read, never written.
struct BatchBuf<'d> {
    ptr: *mut u8,
    len: usize,
    /// The bytes are a part of a read-only map, not a buffer to read into.
    mapped: bool,
    /// Handed out chunks, to check that no two overlap.
    taken: std::sync::Mutex<Vec<(usize, usize)>>,
    _buf: std::marker::PhantomData<&'d mut [u8]>,
}

// SAFETY: a `BatchBuf` hands out disjoint parts of one exclusively borrowed buffer (checked in
// `region`), each to one task; the pointer itself is only read.
unsafe impl Send for BatchBuf<'_> {}
// SAFETY: as for `Send`: shared use only hands out disjoint regions, under a lock.
unsafe impl Sync for BatchBuf<'_> {}

impl<'d> BatchBuf<'d> {
    fn new(buf: &'d mut [u8]) -> BatchBuf<'d> {
        BatchBuf {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            mapped: false,
            taken: std::sync::Mutex::new(Vec::new()),
            _buf: std::marker::PhantomData,
        }
    }

    /// A batch that is `data`, a part of a mapped file, parsed where it lies.
    fn mapped(data: &'d [u8]) -> BatchBuf<'d> {
        BatchBuf {
            // never written through: `region` hands out nothing of a mapped batch
            ptr: data.as_ptr().cast_mut(),
            len: data.len(),
            mapped: true,
            taken: std::sync::Mutex::new(Vec::new()),
            _buf: std::marker::PhantomData,
        }
    }

    /// The bytes `from..to` (clamped) of a mapped batch; empty for a buffer, whose regions
    /// are borrowed mutably by the tasks that read into them.
    fn part(&self, from: usize, to: usize) -> &'d [u8] {
        if !self.mapped {
            return &[];
        }
        let to = to.min(self.len);
        let from = from.min(to);
        // SAFETY: `mapped` took a shared borrow of all `len` bytes for `'d`, and nothing
        // writes to them.
        unsafe { std::slice::from_raw_parts(self.ptr.add(from), to - from) }
    }

    /// The bytes `from..to` (clamped to the buffer), borrowed mutably; empty when they overlap
    /// a region handed out before (no caller asks for that).
    fn region(&self, from: usize, to: usize) -> &'d mut [u8] {
        let to = to.min(self.len);
        let from = from.min(to);
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        if self.mapped || from == to || taken.iter().any(|&(a, b)| from < b && a < to) {
            return &mut [];
        }
        taken.push((from, to));
        // SAFETY: `from..to` lies inside the buffer, which `new` borrowed exclusively for
        // `'d`, and overlaps no region handed out before: this is the only borrow of it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(from), to - from) }
    }

    /// Where the buffer lies (see [`Batch`]).
    fn place(&self) -> Batch {
        Batch::at(self.ptr, self.len)
    }

    /// The whole buffer, for reading.
    ///
    /// # Safety
    /// Every region handed out has been written to for the last time (the caller has turned
    /// them all into shared borrows), and none is handed out while the result lives.
    unsafe fn whole(&self) -> &'d [u8] {
        // SAFETY: the buffer was borrowed exclusively for `'d` by `new`; the regions handed
        // out are only read from now on, and none is handed out again while the result
        // lives (the caller's promise): every borrow of the buffer is shared.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The buffer back, to be read into again (nothing for a mapped batch).
    ///
    /// # Safety
    /// Nothing handed out by [`region`](Self::region) or [`whole`](Self::whole) is used any
    /// more.
    unsafe fn reuse(self) -> Option<&'d mut [u8]> {
        if self.mapped {
            return None;
        }
        // SAFETY: the buffer was borrowed exclusively for `'d` by `new`, and every borrow
        // handed out from it is dead (the caller's promise): this is the only one.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) })
    }
}

/// Line-aligned pieces of about `size` bytes of `data`, found as they are taken: a boundary
/// touches the page it falls on, so finding them all up front would fault in (and keep
/// resident) a page and its read-ahead for every batch of a large file before it is read.
struct LineChunks<'a> {
    data: &'a [u8],
    size: usize,
    start: usize,
}

impl<'a> Iterator for LineChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let data = self.data;
        let start = self.start;
        if start >= data.len() {
            return None;
        }
        let mut end = start.saturating_add(self.size).min(data.len());
        if end < data.len() {
            match memchr::memchr(b'\n', &data[end..]) {
                Some(i) => end += i + 1,
                None => end = data.len(),
            }
        }
        self.start = end;
        Some(&data[start..end])
    }
}

/// Split `data` into line-aligned chunks of about `size` bytes.
fn line_chunks(data: &[u8], size: usize) -> LineChunks<'_> {
    LineChunks {
        data,
        size: size.max(1),
        start: 0,
    }
}

/// The same, collected (for a batch that is parsed in parallel).
fn split_chunks(data: &[u8], size: usize) -> Vec<&[u8]> {
    line_chunks(data, size).collect()
}

// ---------------------------------------------------------------------------------------------
// phase B: per partition, events in log order → attempts

/// Each on cache lines of its own (as [`Queue`]): one thread writes a partition's sink with
/// every attempt while the other reads its neighbour in the `Vec`.
#[repr(align(128))]
struct PartSink<'s> {
    names: &'s [String],
    /// Per input, its [`InputSpec::warm_up_lines`].
    warm_up: &'s [u64],
    /// Per input, its [`InputSpec::read_again_after`].
    read_again: &'s [Option<u64>],
    /// The input being scanned: an attempt is left out when the line whose reading emitted
    /// it lies in this input's warm-up (a non-final-MX attempt's own line may lie in an
    /// input before, whose line numbers say nothing about this one's).
    input: u32,
    since: Option<i64>,
    until: Option<i64>,
    per_day: bool,
    /// The counters' domain hasher, when attempts are counted.
    hasher: Option<DomainHasher>,
    /// Attempts on their way to the counters: one queue per [`Counter`], which takes the
    /// attempts whose domain it owns ([`DomainHasher::owner`]).
    outbox: Vec<Queue>,
    /// The batch being scanned (none between batches): a queued line that lies in it is not
    /// copied, as the queues are counted before the batch is let go.
    batch: Batch,
    attempts: Option<Vec<Attempt>>,
    problems: Problems,
    count: u64,
}

/// The counting of one thread: the attempts to the domains it owns, from every partition.
/// Each thread so keeps a table of its share of the domains only, which stays in cache better
/// than one of all domains per partition.
/// On cache lines of its own (as [`PartSink`]).
#[repr(align(128))]
struct Counter {
    acc: Accumulator,
    problems: Problems,
    /// Queued attempts whose domain was not a host name (counted as attempts when queued).
    bad: u64,
}

/// Run `work` on each of `items` (with its index), item `i` always on the pool's thread `i`
/// (modulo the pool's size): a partition's tables then stay in the caches of one core from one
/// batch to the next, where a work-stealing split would hand them to either.
fn on_own_threads<T: Send>(items: Vec<T>, work: impl Fn(usize, &mut T) + Sync) {
    let n = items.len();
    let cells: Vec<std::sync::Mutex<T>> = items.into_iter().map(std::sync::Mutex::new).collect();
    rayon::broadcast(|ctx| {
        for i in (ctx.index()..n).step_by(ctx.num_threads().max(1)) {
            if let Some(cell) = cells.get(i) {
                // each cell is taken by one thread only: the lock is never contended
                let mut item = cell.lock().unwrap_or_else(|e| e.into_inner());
                work(i, &mut item);
            }
        }
    });
}

/// Count one partition's `queue` for `c` (the counter that owns its domains); `batch` is the
/// data the queue's lines lie in. An attempt whose domain is not a host name is a problem,
/// and no attempt.
fn count_queue(names: &[String], batch: &[u8], queue: &mut Queue, c: &mut Counter) {
    let (acc, problems, bad) = (&mut c.acc, &mut c.problems, &mut c.bad);
    queue.count(
        acc,
        batch,
        &|i| names.get(i as usize).cloned().unwrap_or_default(),
        &mut |input, line, kind, text| {
            problems.add(input, line, kind, text);
            if kind == crate::aggregate::BAD_DOMAIN {
                *bad += 1;
            }
        },
    );
}

/// Phase C of a batch: each counter takes its queue from every partition's outbox and counts
/// it, in parallel.
fn count_outboxes(
    names: &[String],
    batch: &[u8],
    sinks: &mut [PartSink<'_>],
    counters: &mut [Counter],
) {
    if counters.is_empty() {
        return;
    }
    let mut columns: Vec<Vec<Queue>> = (0..counters.len()).map(|_| Vec::new()).collect();
    for s in sinks.iter_mut() {
        for (col, q) in columns.iter_mut().zip(s.outbox.iter_mut()) {
            col.push(std::mem::take(q));
        }
    }
    on_own_threads(
        counters.iter_mut().zip(columns.iter_mut()).collect(),
        |_, (c, queues)| {
            for q in queues.iter_mut() {
                count_queue(names, batch, q, c);
            }
        },
    );
    // the emptied queues go back, with their buffers
    for (t, col) in columns.into_iter().enumerate() {
        for (s, q) in sinks.iter_mut().zip(col) {
            if let Some(slot) = s.outbox.get_mut(t) {
                *slot = q;
            }
        }
    }
}

/// Which of `n` pieces of work (partitions of phase B, pieces of a batch) are done, for the
/// threads that wait on them ([`partitions_then_counts`], [`Scanner::read_pipelined`]).
struct Finished {
    done: std::sync::Mutex<Vec<bool>>,
    changed: std::sync::Condvar,
}

impl Finished {
    fn new(n: usize) -> Finished {
        Finished {
            done: std::sync::Mutex::new(vec![false; n]),
            changed: std::sync::Condvar::new(),
        }
    }

    fn set(&self, p: usize) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = done.get_mut(p) {
            *d = true;
        }
        self.changed.notify_all();
    }

    /// Whether `p` has finished.
    fn done(&self, p: usize) -> bool {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        done.get(p) == Some(&true)
    }

    /// Once `p` has finished.
    fn wait(&self, p: usize) {
        self.first_of(&[p]);
    }

    /// Once every one has finished.
    fn wait_all(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while done.iter().any(|d| !d) {
            done = self.changed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The first of `left` that has finished, once one has.
    fn first_of(&self, left: &[usize]) -> usize {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(k) = left.iter().position(|&u| done.get(u) == Some(&true)) {
                return k;
            }
            done = self.changed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Whether `parts` partitions and `counters` counters go through [`partitions_then_counts`]
/// (or, for a plain file, [`Scanner::read_pipelined`]): when attempts are counted, by one
/// counter per partition, each partition on a thread of its own (a thread there waits for the
/// others' partitions).
fn counted_as_partitions_finish(parts: usize, counters: usize) -> bool {
    counters > 0 && counters == parts && parts <= rayon::current_num_threads()
}

/// Phases B and C of a batch in one pass over the threads: each thread runs its partition,
/// hands its outbox to the counters, and then counts, as the counter of its own index, its
/// own partition's queue first (just written, still in its cache) and every other
/// partition's as soon as that one has finished. A thread that finishes its partition early
/// so counts instead of waiting for the slower one. The counts are what [`count_outboxes`]
/// gives after [`run_partition`]: counting does not depend on the order of the attempts.
/// Needs one thread per partition (a thread waits for the others' partitions).
fn partitions_then_counts<'s, 'b>(
    walk: impl Fn(usize, &mut PartitionState, &mut PartSink<'s>) + Sync,
    states: &mut [PartitionState],
    sinks: &mut [PartSink<'s>],
    names: &[String],
    batch: impl Fn() -> &'b [u8] + Sync,
    counters: &mut [Counter],
) {
    let n = states.len();
    // mail[p][t]: partition p's attempts to the domains that counter t owns
    let mail = empty_mail(n);
    let finished = Finished::new(n);
    let items: Vec<_> = states
        .iter_mut()
        .zip(sinks.iter_mut())
        .zip(counters.iter_mut())
        .collect();
    on_own_threads(items, |p, ((st, sink), counter)| {
        walk(p, st, sink);
        if let Some(row) = mail.get(p) {
            for (slot, q) in row.iter().zip(sink.outbox.iter_mut()) {
                put_queue(slot, std::mem::take(q));
            }
        }
        finished.set(p);
        let mut left: Vec<usize> = (0..n).map(|i| (p + i) % n).collect();
        count_mail(
            &mail,
            &finished,
            p,
            (names, batch()),
            counter,
            &mut left,
            true,
        );
    });
    // the emptied queues go back to their partitions, with their buffers
    for (row, sink) in mail.iter().zip(sinks.iter_mut()) {
        for (slot, q) in row.iter().zip(sink.outbox.iter_mut()) {
            *q = take_queue(slot);
        }
    }
}

/// One batch of a plain file in [`Scanner::read_pipelined`], in flight: its buffer, its pieces
/// as they are read and parsed, the queues its partitions hand to the counters, and which
/// pieces and partitions are done.
struct Flight<'d> {
    /// Where the batch starts in the file.
    pos: u64,
    buf: BatchBuf<'d>,
    slots: Vec<std::sync::OnceLock<ReadPiece<'d>>>,
    /// The next piece to claim.
    next: std::sync::atomic::AtomicUsize,
    filled: Finished,
    /// `mail[p][t]`: partition `p`'s attempts to the domains that counter `t` owns.
    mail: Vec<Vec<std::sync::Mutex<Queue>>>,
    /// The partitions that have walked the batch and handed over their queues.
    walked: Finished,
    /// What partition 0 walked.
    record: std::sync::Mutex<Walked>,
}

/// Queues for `parts` partitions and as many counters, empty.
fn empty_mail(parts: usize) -> Vec<Vec<std::sync::Mutex<Queue>>> {
    (0..parts)
        .map(|_| {
            (0..parts)
                .map(|_| std::sync::Mutex::new(Queue::default()))
                .collect()
        })
        .collect()
}

/// The queue in `m`, taken (a queue is taken by one thread at a time: its partition before
/// and after the walk, its counter after the partition has walked).
fn take_queue(m: &std::sync::Mutex<Queue>) -> Queue {
    std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
}

fn put_queue(m: &std::sync::Mutex<Queue>, q: Queue) {
    *m.lock().unwrap_or_else(|e| e.into_inner()) = q;
}

/// Count, as counter `p`, its queues in `mail` from the partitions in `left` (in that order)
/// that `walked` says are done, and with `wait` the others too, as they finish; those counted
/// leave `left`. `batch` is the data the queues' lines lie in.
fn count_mail(
    mail: &[Vec<std::sync::Mutex<Queue>>],
    walked: &Finished,
    p: usize,
    (names, batch): (&[String], &[u8]),
    counter: &mut Counter,
    left: &mut Vec<usize>,
    wait: bool,
) {
    while !left.is_empty() {
        let at = match left.iter().position(|&u| walked.done(u)) {
            Some(at) => at,
            None if wait => walked.first_of(left),
            None => return,
        };
        let u = left.remove(at);
        if let Some(slot) = mail.get(u).and_then(|row| row.get(p)) {
            let mut q = take_queue(slot);
            count_queue(names, batch, &mut q, counter);
            put_queue(slot, q);
        }
    }
}

impl<'d> Flight<'d> {
    fn new(
        pos: u64,
        buf: BatchBuf<'d>,
        chunk: usize,
        mail: Vec<Vec<std::sync::Mutex<Queue>>>,
    ) -> Flight<'d> {
        let k = buf.len.div_ceil(chunk.max(1));
        let parts = mail.len();
        Flight {
            pos,
            buf,
            slots: (0..k).map(|_| std::sync::OnceLock::new()).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
            filled: Finished::new(k),
            mail,
            walked: Finished::new(parts),
            record: std::sync::Mutex::new(Walked::default()),
        }
    }

    /// Phase A: read (unless mapped) and parse one of the batch's pieces, if any is left
    /// unclaimed.
    fn claim(&self, engine: &Engine, ctx: &InputCtx, source: Source<'_>) -> bool {
        let chunk = engine.opts.chunk_bytes.max(1);
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(slot) = self.slots.get(i) else {
            return false;
        };
        let from = i * chunk;
        let at = self.pos + from as u64;
        let piece = match source {
            Source::File(file) => {
                engine.read_piece(ctx, file, at, self.buf.region(from, from + chunk))
            }
            Source::Map(m) => {
                let part = self.buf.part(from, from + chunk);
                // the piece's pages mapped in one call, not a fault per 64 KB; the prefetches
                // of the line-end search then find them mapped
                #[cfg(target_os = "linux")]
                let _ = m.advise_range(memmap2::Advice::PopulateRead, at as usize, part.len());
                let data = still_there(m, at, part);
                let piece = engine.parse_piece(ctx, at, data, part.len(), None);
                let now = still_there(m, at, part);
                match now.len() < data.len() {
                    // it shrank while the piece was parsed: parsed again up to its new end
                    true => engine.parse_piece(ctx, at, now, part.len(), None),
                    false => piece,
                }
            }
        };
        let _ = slot.set(piece);
        self.filled.set(i);
        true
    }

    /// The batch's bytes, once every piece has been read (borrowed no longer than the flight:
    /// its buffer is read into again once the flight is retired).
    fn data(&self) -> &[u8] {
        self.filled.wait_all();
        // SAFETY: every region has been read into (all pieces are filled in), each went to
        // `read_piece`, which keeps only shared borrows of it, and no region is handed out any
        // more (every piece was claimed).
        unsafe { self.buf.whole() }
    }

    /// [`count_mail`] for this batch, once all its pieces are read.
    fn count(
        &self,
        p: usize,
        names: &[String],
        counter: &mut Counter,
        left: &mut Vec<usize>,
        wait: bool,
    ) {
        let batch = self.data();
        count_mail(
            &self.mail,
            &self.walked,
            p,
            (names, batch),
            counter,
            left,
            wait,
        );
    }
}

/// One of the two batches [`Scanner::read_pipelined`] keeps in flight, and how many threads
/// have yet to finish it.
#[derive(Default)]
struct RingSlot<'d> {
    number: usize,
    flight: Option<std::sync::Arc<Flight<'d>>>,
    left: usize,
}

/// The batches of a plain file in [`Scanner::read_pipelined`]: batch `n` in buffer `n % 2`.
/// The thread that finishes a batch last retires it and puts batch `n + 2` in its place.
struct Ring<'d> {
    slots: [(std::sync::Mutex<RingSlot<'d>>, std::sync::Condvar); 2],
    /// The mapped file, when the batches are parts of it rather than buffers.
    map: Option<&'d ingest::Mapping>,
    /// Where the map's pages have been given back up to (see [`Ring::retire`]).
    released: std::sync::Mutex<usize>,
    threads: usize,
    batches: usize,
    /// Where the file's first batch starts and where reading ends.
    start: u64,
    end: u64,
    size: usize,
    chunk: usize,
    /// The problems of the retired batches (line numbers of the input).
    problems: std::sync::Mutex<Problems>,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl<'d> Ring<'d> {
    /// Where batch `n` starts and its length.
    fn place(&self, n: usize) -> (u64, usize) {
        let pos = self
            .start
            .saturating_add((n as u64).saturating_mul(self.size as u64));
        let left = self.end.saturating_sub(pos);
        (
            pos,
            usize::try_from(left).map_or(self.size, |l| l.min(self.size)),
        )
    }

    /// Batch `n` in buffer `buf`, or in the map.
    fn flight(
        &self,
        n: usize,
        buf: Option<&'d mut [u8]>,
        mail: Vec<Vec<std::sync::Mutex<Queue>>>,
    ) -> Flight<'d> {
        let (pos, want) = self.place(n);
        let batch = match (self.map, buf) {
            (Some(m), _) => {
                let from = usize::try_from(pos).unwrap_or(usize::MAX).min(m.len());
                BatchBuf::mapped(&m[from..from.saturating_add(want).min(m.len())])
            }
            (None, Some(buf)) => {
                let want = want.min(buf.len());
                BatchBuf::new(&mut buf[..want])
            }
            (None, None) => BatchBuf::new(&mut []),
        };
        Flight::new(pos, batch, self.chunk, mail)
    }

    /// Batch `n`, once it is in flight.
    fn get(&self, n: usize) -> Option<std::sync::Arc<Flight<'d>>> {
        let (lock, changed) = self.slots.get(n % 2)?;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.number == n {
                if let Some(f) = &s.flight {
                    return Some(f.clone());
                }
            }
            if s.number > n {
                return None;
            }
            s = changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// This thread is done with batch `n` (`f`). The last thread retires it and puts batch
    /// `n + 2`, if there is one, in its buffer.
    fn finish(&self, n: usize, f: std::sync::Arc<Flight<'d>>) {
        // every thread lets its share go before it counts itself out: the last one finds the
        // ring's the only one left
        drop(f);
        let Some((lock, changed)) = self.slots.get(n % 2) else {
            return;
        };
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        s.left = s.left.saturating_sub(1);
        if s.left > 0 {
            return;
        }
        let Some(done) = s.flight.take() else {
            return;
        };
        let Some(done) = std::sync::Arc::into_inner(done) else {
            unreachable!("every thread let its share of batch {n} go before finishing it")
        };
        let (buf, mail) = self.retire(done);
        if n + 2 < self.batches {
            s.flight = Some(std::sync::Arc::new(self.flight(n + 2, buf, mail)));
            s.number = n + 2;
            s.left = self.threads;
            changed.notify_all();
        }
    }

    /// A batch every thread is done with: its problems kept, its bytes counted as read, and
    /// its buffer and emptied queues back for the next batch.
    /// A mapped batch's pages are given back to the kernel, so that resident memory stays
    /// flat however large the file is (batches retire in order).
    fn retire(&self, f: Flight<'d>) -> (Option<&'d mut [u8]>, Vec<Vec<std::sync::Mutex<Queue>>>) {
        let Flight {
            pos,
            buf,
            slots,
            mail,
            record,
            ..
        } = f;
        let record = record.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut problems = Problems::default();
        let mut read = 0u64;
        // the pieces walked: up to a short one
        for (slot, base) in slots.into_iter().zip(&record.body_bases) {
            if let Some(piece) = slot.into_inner() {
                read += piece.read as u64;
                if let Some(body) = piece.body {
                    problems.merge(rebased(body.problems, *base));
                }
            }
        }
        problems.merge(record.problems);
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(problems);
        if let Some(p) = &self.progress {
            p.fetch_add(read, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(m) = self.map {
            // the whole pages up to the batch's end
            let end = (usize::try_from(pos).unwrap_or(usize::MAX)).saturating_add(buf.len);
            let end = end.min(m.len()) & !(ingest::page_size() - 1);
            let mut released = self.released.lock().unwrap_or_else(|e| e.into_inner());
            if end > *released {
                // SAFETY: a read-only mapping of a file: a dropped page is read again from the
                // file if touched, and no batch still in flight lies before `end`.
                let _ = unsafe {
                    m.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        *released,
                        end - *released,
                    )
                };
                *released = end;
            }
        }
        // SAFETY: every borrow of the buffer went to this batch's pieces (dropped above) or
        // to its counters, which are done with it; queues and sinks keep addresses only.
        (unsafe { buf.reuse() }, mail)
    }

    /// The batches still in flight once every thread has stopped, retired in order.
    fn retire_rest(&self) {
        let mut rest: Vec<(usize, Flight<'d>)> = Vec::new();
        for (lock, _) in &self.slots {
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = s.flight.take().and_then(std::sync::Arc::into_inner) {
                rest.push((s.number, f));
            }
        }
        rest.sort_by_key(|(n, _)| *n);
        for (_, f) in rest {
            self.retire(f);
        }
    }
}

/// How a partition's thread left a file in [`Scanner::read_pipelined`]: the line left open
/// at its end, the bytes read, why reading stopped short (if it did), and the line number
/// after the last line.
#[derive(Default)]
struct WalkEnd {
    open: Pending,
    read: u64,
    stop: Option<String>,
    base: u64,
}

impl Emit for PartSink<'_> {
    fn attempt(&mut self, a: &AttemptRef<'_>) {
        if self.since.is_some_and(|s| a.time < s) || self.until.is_some_and(|u| a.time >= u) {
            return;
        }
        if self
            .warm_up
            .get(self.input as usize)
            .is_some_and(|&w| a.emitted_at <= w)
        {
            return;
        }
        let file = self
            .names
            .get(a.input as usize)
            .map(String::as_str)
            .unwrap_or("");
        if let Some(hasher) = &self.hasher {
            let facts = AttemptFacts {
                time: a.time,
                outcome: a.outcome,
                input: a.input,
                line: a.line,
                file,
                text: LineText::Text(a.text),
                per_day: self.per_day,
            };
            let hash = hasher.hash(a.domain);
            let owner = DomainHasher::owner(hash, self.outbox.len());
            if let Some(q) = self.outbox.get_mut(owner) {
                q.push(hash, a.domain, a.mx_host, &facts, self.batch);
            }
        }
        let counted = match self.attempts.as_mut() {
            Some(v) => match domain::normalize(a.domain) {
                Ok(domain) => {
                    let mx = match a.mx_host.map(domain::mx_name) {
                        Some(Ok(m)) => m,
                        Some(Err(_)) => {
                            // (a queued attempt's is told when the queue is counted)
                            if self.hasher.is_none() {
                                let kind = crate::aggregate::BAD_MX_HOST;
                                self.problems.add(a.input, a.line, kind, a.text);
                            }
                            None
                        }
                        None => None,
                    };
                    let own = |s: Option<&str>| s.map(str::to_string);
                    v.push(Attempt {
                        time: DateTime::from_timestamp(a.time, 0).unwrap_or_default(),
                        mta: a.mta,
                        domain: domain.into_owned(),
                        recipient: a.recipient.to_string(),
                        mx_host: mx.map(|m| m.into_owned()),
                        mx_addr: own(a.mx_addr),
                        port: a.port,
                        mode: a.mode,
                        tls_protocol: own(a.tls_protocol),
                        tls_cipher: own(a.tls_cipher),
                        outcome: a.outcome,
                        dsn: own(a.dsn),
                        status: own(a.status),
                        detail: a.detail.map(|d| d.chars().take(300).collect()),
                        file: file.to_string(),
                        line: a.line,
                    });
                    true
                }
                // a bad domain is a problem, not an attempt; a queued one is told (and taken
                // off the count) when the queue is counted
                Err(_) if self.hasher.is_none() => {
                    let kind = crate::aggregate::BAD_DOMAIN;
                    self.problems.add(a.input, a.line, kind, a.text);
                    false
                }
                Err(_) => true,
            },
            None => true,
        };
        if counted {
            self.count += 1;
        }
    }

    fn problem(&mut self, input: u32, line: u64, kind: &'static str, text: &str) {
        self.problems.add(input, line, kind, text);
    }

    fn wants_tls_details(&self) -> bool {
        self.attempts.is_some()
    }

    fn read_again(&self, input: u32, line: u64) -> bool {
        self.read_again
            .get(input as usize)
            .copied()
            .flatten()
            .is_some_and(|after| line > after)
    }

    fn unmatched(&mut self, input: u32, line: u64, text: &str, (at_input, at_line): (u32, u64)) {
        // found so while warm-up lines were read, as an attempt emitted there is left out:
        // the read that took those lines first found it too
        if self
            .warm_up
            .get(at_input as usize)
            .is_some_and(|&w| at_line <= w)
        {
            return;
        }
        self.problem(input, line, UNMATCHED_NON_FINAL, text);
    }
}

/// Run the events of partition `p`, in log order, through its correlation `state` into
/// `sink`.
fn run_partition(
    engine: &Engine,
    state: &mut PartitionState,
    sink: &mut dyn Emit,
    chunks: &[ChunkOut<'_>],
    bases: &[u64],
    p: usize,
    input: u32,
) {
    for (c, base) in chunks.iter().zip(bases) {
        run_chunk(engine, state, sink, (c, p), *base, input);
    }
}

/// How many events ahead phase B asks for a line's first three cache lines (its prefix and
/// most of its message). Half of a partition's lines were read into memory by the other
/// thread's phase A, so they mostly sit in the other core's cache: asked for early, they
/// arrive while the events before are correlated (on the 1 GB log, two threads: 2.1-2.4%
/// less CPU and 2.5-8.5% less wall time in two A/B series; one thread, unchanged).
const PREFETCH_AHEAD: usize = 6;

/// Partition `p`'s events of `out` (line numbers relative to `base`) through its correlation
/// `state`, with the expiries at the chunk's cuts.
fn run_chunk(
    engine: &Engine,
    state: &mut PartitionState,
    sink: &mut dyn Emit,
    (out, p): (&ChunkOut<'_>, usize),
    base: u64,
    input: u32,
) {
    let events = bucket(out, p);
    let mut done = 0;
    for cut in &out.cuts {
        let rest = events.get(done..).unwrap_or_default();
        let upto = done + rest.partition_point(|k| k.rel_line < cut.line);
        let part = events.get(done..upto).unwrap_or_default();
        run_events(engine, state, sink, (part, out.ascii), base, input);
        done = upto;
        let clock = state
            .window
            .take()
            .map_or(cut.before, |w| w.max(cut.before));
        if clock != i64::MIN {
            // (after the cut's last line)
            let reached = base + cut.line.saturating_sub(1);
            state.expire(clock, (input, reached), sink);
        }
    }
    let rest = events.get(done..).unwrap_or_default();
    run_events(engine, state, sink, (rest, out.ascii), base, input);
    if out.latest != i64::MIN {
        state.window = Some(state.window.map_or(out.latest, |w| w.max(out.latest)));
    }
}

/// Correlate `events` of one partition in one chunk (line numbers relative to `base`; `ascii`
/// when the chunk is all ASCII).
fn run_events(
    engine: &Engine,
    state: &mut PartitionState,
    sink: &mut dyn Emit,
    (events, ascii): (&[Keyed<'_>], bool),
    base: u64,
    input: u32,
) {
    let g = &engine.grammars;
    let level = engine.opts.tls_level;
    // a summary's protocol and cipher are parsed only for a sink that keeps them
    let tls_details = sink.wants_tls_details();
    for (i, k) in events.iter().enumerate() {
        if let Some(n) = events.get(i + PREFETCH_AHEAD) {
            // (a hint only: nothing is read, and any address is allowed)
            let p = n.text.as_ptr();
            for c in 0..3 {
                crate::aggregate::prefetch_line(p.wrapping_add(64 * c));
            }
        }
        let at = At {
            input,
            line: base + k.rel_line,
            time: k.time,
            text: k.text,
        };
        let text = k.text;
        // SAFETY: `text` is a line of the chunk that `out` was parsed from, and `ascii` says
        // whether that chunk was all ASCII
        let part = |(a, b): (usize, usize)| unsafe { part_of(text, a, b, ascii) };
        let from = |off: u16| part((off as usize, text.len()));
        match k.ev {
            Ev::Postfix {
                host,
                prog,
                pid,
                msg,
            } => {
                // matched by reference: moving the event out would copy it
                let m = from(msg);
                let parsed = match ascii {
                    // SAFETY: `m` is part of a line of an all-ASCII chunk
                    true => unsafe { parse::postfix_message_ascii(&g.postfix, m, tls_details) },
                    false => parse::postfix_message_for(&g.postfix, m, tls_details),
                };
                let ev = match &parsed {
                    Some(PostfixEvent::Other) => continue,
                    Some(ev) => ev,
                    None => {
                        sink.problem(input, at.line, "malformed-postfix", k.text);
                        continue;
                    }
                };
                let [host, prog, pid] = [host, prog, pid].map(|s| part(s.range()));
                state
                    .postfix_process(k.hash, host, prog, pid)
                    .feed(g, level, ev, at, sink);
            }
            Ev::Exim { msg } => {
                let ev = parse::exim_message(from(msg));
                let msgid = match ev {
                    EximEvent::Outcome { msgid, .. } | EximEvent::Note { msgid, .. } => msgid,
                    EximEvent::Other => continue,
                };
                let ev = &ev;
                match state.exim.get_mut(msgid) {
                    Some(s) => {
                        s.feed(g, level, ev, at, sink);
                        if s.is_idle() {
                            state.exim.remove(msgid);
                        }
                    }
                    None => {
                        let mut s = crate::correlate::EximState::default();
                        s.feed(g, level, ev, at, sink);
                        if !s.is_idle() {
                            state.exim.insert(msgid.to_string(), s);
                        }
                    }
                }
            }
            Ev::KeyValue { grammar, fields } => {
                let gi = grammar as usize;
                let line = g
                    .keyvalue
                    .get(gi)
                    .and_then(|kv| parse::keyvalue_line(kv, from(fields)));
                match line {
                    Some(l) => keyvalue_attempt(g, gi, &l, at, sink),
                    None => sink.problem(input, at.line, "malformed-keyvalue", text),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// driver

/// What a scan collects.
struct Collect {
    aggregate: bool,
    attempts: bool,
}

struct Outcome {
    /// The counters' accumulators (none unless the scan aggregates).
    accs: Vec<Accumulator>,
    problems: Problems,
    lines: u64,
    bytes: u64,
    attempts: u64,
    end_offsets: Vec<u64>,
}

/// How far back from the end of a file the newest BSD-syslog line is looked for.
const YEAR_TAIL: usize = 256 * 1024;

fn last_bsd_month(data: &[u8]) -> Option<u32> {
    let tail = &data[data.len().saturating_sub(YEAR_TAIL)..];
    let mut end = tail.len();
    while end > 0 {
        let start = memchr::memrchr(b'\n', &tail[..end.saturating_sub(1)])
            .map(|i| i + 1)
            .unwrap_or(0);
        let line = &tail[start..end];
        if let Some((st, _)) = timefmt::parse_bsd(line) {
            return Some(st.month);
        }
        // a container column or severity could precede it: try after the first " | "
        if start == 0 {
            break;
        }
        end = start;
    }
    None
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Keep freed batch memory in the allocator instead of returning it to the kernel after each
/// batch: every batch allocates and frees the same amount, and re-faulting fresh pages cost
/// about a sixth of the scan time (measured with perf).
fn keep_heap_between_batches() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes glibc malloc tuning parameters; called once,
            // before the scan allocates its batch buffers.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// A line cut at the edge of a piece or a batch, joined again. At most `MAX_LINE + 2` bytes
/// are kept: after a trailing `\r` is dropped that is still too long, so an over-long line
/// is reported as if it had been read whole.
#[derive(Default, Clone)]
struct Pending {
    kept: Vec<u8>,
    /// The line's real length so far.
    len: u64,
}

impl Pending {
    fn push(&mut self, bytes: &[u8]) {
        let room = (MAX_LINE + 2).saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.len += bytes.len() as u64;
    }

    fn take(&mut self) -> Vec<u8> {
        self.len = 0;
        std::mem::take(&mut self.kept)
    }

    /// Where the line held starts, when its bytes so far end at file offset `end`.
    fn start(&self, end: u64) -> u64 {
        end.saturating_sub(self.len)
    }
}

/// One piece of a batch of a plain file, read and parsed by one phase-A task while it is in
/// the task's cache. Its bytes up to and including the first newline (`head`) end a line
/// that began before the piece, and those after the last newline (`tail`) begin a line that
/// ends after it; the whole lines between them are parsed (`body`). A piece without a
/// newline is all head.
struct ReadPiece<'d> {
    /// The file offset the piece was read from.
    at: u64,
    head: &'d [u8],
    /// `head` ends with a newline.
    closed: bool,
    body: Option<ChunkOut<'d>>,
    tail: &'d [u8],
    /// Bytes read, and how many were asked for.
    read: usize,
    asked: usize,
    error: Option<std::io::Error>,
}

impl ReadPiece<'_> {
    /// Why the piece came short of what was asked, if it did.
    fn short(&self) -> Option<String> {
        match &self.error {
            Some(e) => Some(format!("read error ({e})")),
            None if self.read < self.asked => Some("the file shrank while it was read".into()),
            None => None,
        }
    }
}

/// The part of `part` (the map's bytes from file offset `at`) that the file still holds: all
/// of it unless the file has shrunk under the map.
fn still_there<'d>(map: &ingest::Mapping, at: u64, part: &'d [u8]) -> &'d [u8] {
    match map.shrunk_at() {
        Some(end) => {
            let keep = (end as u64).saturating_sub(at);
            &part[..usize::try_from(keep).map_or(part.len(), |k| k.min(part.len()))]
        }
        None => part,
    }
}

/// The error for a mapped file whose bytes from `gone` on were found gone (it shrank) after
/// their pieces were parsed, reading having stopped at `stopped` of `len`.
fn gone_while_counted(gone: u64, stopped: u64, len: u64) -> String {
    format!(
        "the file shrank while it was read: its bytes from {gone} on were gone when their lines \
         were counted (lines there may be missing or counted as malformed); reading stopped at \
         byte {stopped} of {len}; the lines before byte {gone} were used"
    )
}

/// Where [`Scanner::read_pipelined`] takes a plain file's bytes from.
#[derive(Clone, Copy)]
enum Source<'f> {
    /// Read with `pread` into the batch buffers.
    File(&'f std::fs::File),
    /// The file mapped whole: each batch is a part of the map, parsed where it lies.
    Map(&'f ingest::Mapping),
}

/// The lines cut at the edges of a batch's pieces, joined.
struct Joined {
    /// `gaps[i]`, when there is one, is the line that ends in piece `i`'s head; it comes
    /// before the piece's body. Pieces after a short one have no entry and are not used.
    /// With the line, the file offset where it starts.
    gaps: Vec<Option<(Vec<u8>, u64)>>,
    /// Bytes read by the pieces used.
    read: u64,
    /// Why the pieces stopped short of the batch's end, if they did.
    stop: Option<String>,
}

/// Join the lines cut at the edges of `pieces`: `pending` comes in as the unfinished line
/// before them and leaves as the one after them.
fn join_pieces(pieces: &[ReadPiece<'_>], pending: &mut Pending) -> Joined {
    let mut j = Joined {
        gaps: Vec::with_capacity(pieces.len()),
        read: 0,
        stop: None,
    };
    for p in pieces {
        pending.push(p.head);
        if p.closed {
            let start = pending.start(p.at + p.head.len() as u64);
            j.gaps.push(Some((pending.take(), start)));
            pending.push(p.tail);
        } else {
            j.gaps.push(None);
        }
        j.read += p.read as u64;
        j.stop = p.short();
        if j.stop.is_some() {
            break;
        }
    }
    j
}

/// Read into `buf` from `at` until it is full, the file ends, or a read fails.
fn read_at_most(file: &std::fs::File, at: u64, buf: &mut [u8]) -> (usize, Option<std::io::Error>) {
    #[cfg(unix)]
    use std::os::unix::fs::FileExt as _;
    let mut got = 0;
    while got < buf.len() {
        #[cfg(unix)]
        let r = file.read_at(&mut buf[got..], at + got as u64);
        #[cfg(windows)]
        let r = std::os::windows::fs::FileExt::seek_read(file, &mut buf[got..], at + got as u64);
        #[cfg(not(any(unix, windows)))]
        let r: std::io::Result<usize> = {
            let _ = (file, at);
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "positional reads are not available here: use --mmap",
            ))
        };
        match r {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

/// The last `YEAR_TAIL` bytes of a plain file's range `[start, end)` (of its whole lines when
/// `complete_only`), for the month of its newest BSD-syslog line; the same bytes the mapped
/// path looks at.
fn file_tail(file: &std::fs::File, start: u64, end: u64, complete_only: bool) -> Option<Vec<u8>> {
    let mut end = end;
    if complete_only {
        // back to the last newline, a block at a time
        let mut block = vec![0u8; 64 * 1024];
        let mut to = end;
        end = start;
        while to > start {
            let from = to.saturating_sub(block.len() as u64).max(start);
            let want = usize::try_from(to - from).ok()?;
            let (n, _) = read_at_most(file, from, &mut block[..want]);
            if let Some(i) = memchr::memrchr(b'\n', &block[..n]) {
                end = from + i as u64 + 1;
                break;
            }
            to = from;
        }
    }
    let from = end.saturating_sub(YEAR_TAIL as u64).max(start);
    let mut t = vec![0u8; usize::try_from(end - from).ok()?];
    let (n, _) = read_at_most(file, from, &mut t);
    t.truncate(n);
    Some(t)
}

/// Phase A of one batch, which starts at offset `at` of the input: its chunks in parallel.
fn phase_a<'d>(engine: &Engine, data: &'d [u8], ctx: &InputCtx, at: u64) -> Vec<ChunkOut<'d>> {
    let base = data.as_ptr() as usize;
    split_chunks(data, engine.opts.chunk_bytes)
        .par_iter()
        .map(|c| engine.parse_chunk(ctx, c, at + (c.as_ptr() as usize - base) as u64))
        .collect()
}

/// Partition `p`'s events in `out`.
fn bucket<'o, 'a>(out: &'o ChunkOut<'a>, p: usize) -> &'o [Keyed<'a>] {
    out.buckets.get(p).map_or(&[][..], Vec::as_slice)
}

/// `problems` of a piece of input whose first line is line `base + 1` of the input (they were
/// found with line numbers relative to the piece).
fn rebased(mut problems: Problems, base: u64) -> Problems {
    for ip in problems.inputs.values_mut() {
        for e in ip.examples.iter_mut() {
            e.line += base;
        }
    }
    problems
}

/// Phase B of one batch: its partitions in parallel; then phase A's problems, rebased to
/// file line numbers, and the batch's attempts in line order (empty unless collected). Phase C
/// too: the partitions' queues are counted, with `count`'s names of the inputs, the batch's
/// data and counters (none when attempts are only collected).
#[allow(clippy::too_many_arguments)]
fn phase_b(
    engine: &Engine,
    input: u32,
    outs: Vec<ChunkOut<'_>>,
    line_base: &mut u64,
    states: &mut [PartitionState],
    sinks: &mut [PartSink<'_>],
    problems: &mut Problems,
    (names, batch, counters): (&[String], &[u8], &mut [Counter]),
) -> Vec<Attempt> {
    let mut bases = Vec::with_capacity(outs.len());
    let mut b = *line_base;
    for o in &outs {
        bases.push(b);
        b += o.lines;
    }
    *line_base = b;
    if counted_as_partitions_finish(states.len(), counters.len()) {
        partitions_then_counts(
            |p, st, sink| run_partition(engine, st, sink, &outs, &bases, p, input),
            states,
            sinks,
            names,
            || batch,
            counters,
        );
    } else {
        on_own_threads(
            states.iter_mut().zip(sinks.iter_mut()).collect(),
            |p, (st, sink)| run_partition(engine, st, *sink, &outs, &bases, p, input),
        );
        count_outboxes(names, batch, sinks, counters);
    }
    for (o, base) in outs.into_iter().zip(&bases) {
        problems.merge(rebased(o.problems, *base));
    }
    let mut batch: Vec<Attempt> = Vec::new();
    for s in sinks.iter_mut() {
        if let Some(v) = s.attempts.as_mut() {
            batch.append(v);
        }
    }
    batch.sort_by_key(|a| a.line);
    batch
}

/// The scan's state from batch to batch: the partitions' correlators and sinks, the counters
/// and the problems found so far.
struct Scanner<'s> {
    engine: Engine,
    names: &'s [String],
    collect: Collect,
    states: Vec<PartitionState>,
    sinks: Vec<PartSink<'s>>,
    counters: Vec<Counter>,
    problems: Problems,
    /// Lines of the current input before the batch in work.
    line_base: u64,
}

impl<'s> Scanner<'s> {
    fn new(
        grammars: Grammars,
        opts: &ScanOptions,
        collect: Collect,
        names: &'s [String],
        warm_up: &'s [u64],
        read_again: &'s [Option<u64>],
    ) -> Self {
        // one partition per thread: every partition keeps its own correlation state
        let parts = rayon::current_num_threads().clamp(1, 64);
        // one counter per thread, all hashing domains alike, so that any partition's attempt
        // finds the counter that owns its domain
        let hasher = DomainHasher::default();
        let counters: Vec<Counter> = if collect.aggregate {
            (0..parts)
                .map(|_| Counter {
                    acc: match opts.row_details {
                        true => Accumulator::with_hasher(opts.mx_rows, &hasher),
                        false => Accumulator::with_hasher(opts.mx_rows, &hasher).without_details(),
                    },
                    problems: Problems::default(),
                    bad: 0,
                })
                .collect()
        } else {
            Vec::new()
        };
        let sinks = (0..parts)
            .map(|_| PartSink {
                names,
                warm_up,
                read_again,
                input: 0,
                since: opts.since,
                until: opts.until,
                per_day: opts.per_day,
                hasher: collect.aggregate.then(|| hasher.clone()),
                batch: Batch::default(),
                outbox: if collect.aggregate {
                    (0..parts).map(|_| Queue::default()).collect()
                } else {
                    Vec::new()
                },
                attempts: collect.attempts.then(Vec::new),
                problems: Problems::default(),
                count: 0,
            })
            .collect();
        Scanner {
            engine: Engine {
                grammars,
                opts: opts.clone(),
                parts,
            },
            names,
            collect,
            states: (0..parts).map(|_| PartitionState::default()).collect(),
            sinks,
            counters,
            problems: Problems::default(),
            line_base: 0,
        }
    }

    /// Add `bytes` to the bytes read so far (for a progress bar), if anyone counts them.
    fn count_progress(&self, bytes: usize) {
        if let Some(p) = &self.engine.opts.progress {
            p.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Phases B and C of the batch `data` of `input`, whose phase A gave `outs`, and its
    /// attempts.
    fn run_bc(
        &mut self,
        input: u32,
        outs: Vec<ChunkOut<'_>>,
        data: &[u8],
        on_batch: &mut dyn FnMut(Vec<Attempt>),
    ) {
        for s in self.sinks.iter_mut() {
            s.batch = Batch::of(data);
            s.input = input;
        }
        let attempts = phase_b(
            &self.engine,
            input,
            outs,
            &mut self.line_base,
            &mut self.states,
            &mut self.sinks,
            &mut self.problems,
            (self.names, data, &mut self.counters),
        );
        for s in self.sinks.iter_mut() {
            s.batch = Batch::default();
        }
        if self.collect.attempts {
            on_batch(attempts);
        }
    }

    /// All three phases of a batch in memory; `beside` runs in parallel with phase A (the
    /// release of the previous batch's pages).
    fn run_batch(
        &mut self,
        (data, at): (&[u8], u64),
        ctx: &InputCtx,
        beside: &(dyn Fn() + Sync),
        on_batch: &mut dyn FnMut(Vec<Attempt>),
    ) {
        let ((), outs) = rayon::join(beside, || phase_a(&self.engine, data, ctx, at));
        self.run_bc(ctx.input, outs, data, on_batch);
    }

    /// Whether a plain file goes through [`read_pipelined`](Self::read_pipelined): when
    /// attempts are counted only, with one counter per partition and one thread each.
    fn pipelined(&self) -> bool {
        !self.collect.attempts
            && counted_as_partitions_finish(self.states.len(), self.counters.len())
    }

    /// Scan `[start, end)` of a plain file in batches, two at a time in `bufs`, in one pass
    /// over the threads for the whole file; returns the offset where the next run would go
    /// on. Each thread, for each batch in turn: reads and parses pieces (phase A) while any
    /// are left; runs its partition through the pieces in order, each as soon as it is parsed
    /// (phase B), joining the lines cut at the pieces' edges itself; hands its queues to the
    /// counters; and counts, as the counter of its own index, its own partition's queue and
    /// every other partition's that is there (phase C). A queue that is not there yet is
    /// counted between the pieces the thread parses of the next batch, or at the latest
    /// before it walks that batch: a thread that finishes a batch early so goes on to the
    /// next one instead of waiting. A batch's buffer is read into
    /// again (for the batch after next) once every thread is done with it.
    fn read_pipelined(
        &mut self,
        ctx: &InputCtx,
        source: Source<'_>,
        (start, end): (u64, u64),
        bufs: &mut [Vec<u8>; 2],
    ) -> u64 {
        let engine = &self.engine;
        let opts = &engine.opts;
        let complete_only = opts.complete_lines_only;
        let chunk = opts.chunk_bytes.max(1);
        let size = opts.flight_bytes.max(chunk);
        let batches =
            usize::try_from(end.saturating_sub(start).div_ceil(size as u64)).unwrap_or(usize::MAX);
        if batches == 0 {
            return start;
        }
        let parts = self.states.len();
        let map = match source {
            Source::Map(m) => Some(m),
            Source::File(_) => None,
        };
        let mut ring = Ring {
            slots: Default::default(),
            map,
            released: std::sync::Mutex::new(0),
            threads: parts,
            batches,
            start,
            end,
            size,
            chunk,
            problems: std::sync::Mutex::new(Problems::default()),
            progress: opts.progress.clone(),
        };
        let [b0, b1] = bufs;
        for (n, b) in [b0, b1].into_iter().enumerate().take(batches) {
            let (_, want) = ring.place(n);
            let b = match map {
                Some(_) => None,
                None => {
                    if b.len() < want {
                        b.resize(want, 0);
                    }
                    Some(&mut b[..])
                }
            };
            let f = ring.flight(n, b, empty_mail(parts));
            if let Some((lock, _)) = ring.slots.get_mut(n) {
                *lock.get_mut().unwrap_or_else(|e| e.into_inner()) = RingSlot {
                    number: n,
                    flight: Some(std::sync::Arc::new(f)),
                    left: parts,
                };
            }
        }
        let ring = &ring;
        let names = self.names;
        let line_base = self.line_base;
        let ended = std::sync::Mutex::new(WalkEnd::default());
        let items: Vec<_> = self
            .states
            .iter_mut()
            .zip(self.sinks.iter_mut())
            .zip(self.counters.iter_mut())
            .collect();
        on_own_threads(items, |p, ((st, sink), counter)| {
            let (st, sink, counter) = (&mut **st, &mut **sink, &mut **counter);
            let mut open = Pending::default();
            let (mut base, mut read) = (line_base, 0u64);
            let mut stop = None;
            // a batch whose other partitions' queues are still to be counted here
            let mut carry: Option<(usize, std::sync::Arc<Flight<'_>>, Vec<usize>)> = None;
            for n in 0..batches {
                let Some(f) = ring.get(n) else {
                    break;
                };
                // phase A, and the batch before counted as its queues come
                while f.claim(engine, ctx, source) {
                    if let Some((_, c, left)) = carry.as_mut() {
                        c.count(p, names, counter, left, false);
                    }
                    if carry.as_ref().is_some_and(|(_, _, left)| left.is_empty()) {
                        if let Some((m, c, _)) = carry.take() {
                            ring.finish(m, c);
                        }
                    }
                }
                if let Some((m, c, mut left)) = carry.take() {
                    c.count(p, names, counter, &mut left, true);
                    ring.finish(m, c);
                }
                // phase B: this partition's events, piece by piece, each once it is there
                if let Some(row) = f.mail.get(p) {
                    for (q, slot) in sink.outbox.iter_mut().zip(row) {
                        *q = take_queue(slot);
                    }
                }
                sink.batch = f.buf.place();
                sink.input = ctx.input;
                let mut w = PieceWalk {
                    engine,
                    ctx,
                    p,
                    base,
                    record: (p == 0).then(Walked::default),
                };
                // the file offset after the last piece walked
                let mut end_at = f.pos;
                for (i, slot) in f.slots.iter().enumerate() {
                    f.filled.wait(i);
                    let Some(piece) = slot.get() else {
                        break;
                    };
                    open.push(piece.head);
                    if piece.closed {
                        let at = open.start(piece.at + piece.head.len() as u64);
                        w.joined((&open.take(), at), st, sink);
                        open.push(piece.tail);
                    }
                    w.body(piece.body.as_ref(), st, sink);
                    read += piece.read as u64;
                    end_at = piece.at + piece.read as u64;
                    stop = piece.short();
                    if stop.is_some() {
                        break;
                    }
                }
                // the input's last line, without a newline
                let last = stop.is_some() || n + 1 == batches;
                if last && open.len > 0 && !complete_only {
                    let at = open.start(end_at);
                    w.joined((&open.take(), at), st, sink);
                }
                base = w.base;
                if let Some(r) = w.record {
                    *f.record.lock().unwrap_or_else(|e| e.into_inner()) = r;
                }
                if let Some(row) = f.mail.get(p) {
                    for (q, slot) in sink.outbox.iter_mut().zip(row) {
                        put_queue(slot, std::mem::take(q));
                    }
                }
                f.walked.set(p);
                // phase C: its own queue first (just written, still in cache)
                let mut left: Vec<usize> = (0..parts).map(|i| (p + i) % parts).collect();
                f.count(p, names, counter, &mut left, false);
                if left.is_empty() {
                    ring.finish(n, f);
                } else {
                    carry = Some((n, f, left));
                }
                if last {
                    break;
                }
            }
            if let Some((m, c, mut left)) = carry.take() {
                c.count(p, names, counter, &mut left, true);
                ring.finish(m, c);
            }
            sink.batch = Batch::default();
            if p == 0 {
                *ended.lock().unwrap_or_else(|e| e.into_inner()) = WalkEnd {
                    open,
                    read,
                    stop,
                    base,
                };
            }
        });
        ring.retire_rest();
        let problems =
            std::mem::take(&mut *ring.problems.lock().unwrap_or_else(|e| e.into_inner()));
        self.problems.merge(problems);
        let e = ended.into_inner().unwrap_or_else(|e| e.into_inner());
        let pos = start + e.read;
        // A mapped file that shrank after its pieces were parsed: the walks read their lines
        // again, and from the place it was found gone they read zeros. Lines before it are
        // right; lines after it may be missing or counted as malformed.
        let gone = map
            .and_then(|m| m.shrunk_at())
            .map(|g| g as u64)
            .filter(|&g| g < pos);
        if let Some(g) = gone {
            self.problems
                .error(ctx.input, gone_while_counted(g, pos, end));
        } else if let Some(why) = e.stop {
            self.problems.error(
                ctx.input,
                format!(
                    "{why}: reading stopped at byte {pos} of {end}; the lines before it were used"
                ),
            );
        }
        self.line_base = e.base;
        // a final line without newline is left for the next run when asked to
        let next = pos - e.open.len;
        gone.map_or(next, |g| g.min(next))
    }

    /// Scan `[start, end)` of a plain file with `pread`, in batches in `bufs` (the second
    /// only when batches are pipelined); returns the offset where the next run would go on.
    fn read_file(
        &mut self,
        ctx: &InputCtx,
        file: &std::fs::File,
        (start, end): (u64, u64),
        bufs: &mut [Vec<u8>; 2],
        on_batch: &mut dyn FnMut(Vec<Attempt>),
    ) -> u64 {
        if self.pipelined() {
            return self.read_pipelined(ctx, Source::File(file), (start, end), bufs);
        }
        let buf = &mut bufs[0];
        let opts = &self.engine.opts;
        let complete_only = opts.complete_lines_only;
        let chunk = opts.chunk_bytes.max(1);
        let size = opts.batch_bytes.max(chunk);
        let mut pending = Pending::default();
        let mut pos = start;
        let mut ended = false;
        while pos < end && !ended {
            let want = usize::try_from(end - pos).map_or(size, |left| left.min(size));
            if buf.len() < want {
                buf.resize(want, 0);
            }
            let batch = BatchBuf::new(&mut buf[..want]);
            // phase A here, the others after it
            let pieces: Vec<ReadPiece<'_>> = (0..want.div_ceil(chunk))
                .into_par_iter()
                .map(|i| {
                    let from = i * chunk;
                    let region = batch.region(from, (from + chunk).min(want));
                    self.engine.read_piece(ctx, file, pos + from as u64, region)
                })
                .collect();
            let joined = join_pieces(&pieces, &mut pending);
            let read = joined.read;
            pos += read;
            if let Some(why) = joined.stop {
                self.problems.error(
                    ctx.input,
                    format!(
                        "{why}: reading stopped at byte {pos} of {end}; the lines before it were used"
                    ),
                );
                ended = true;
            }
            let last = ended || pos >= end;
            let tail_line = (last && pending.len > 0 && !complete_only).then(|| {
                let start = pending.start(pos);
                (pending.take(), start)
            });
            self.count_progress(read as usize);
            // SAFETY: each region went to `read_piece`, which reads into it and then keeps only
            // shared borrows of it (in its piece); every task has ended.
            let data = unsafe { batch.whole() };
            let mut outs = Vec::with_capacity(2 * joined.gaps.len() + 1);
            for (p, gap) in pieces.into_iter().zip(&joined.gaps) {
                if let Some((g, at)) = gap {
                    let at = at.saturating_sub(ctx.start);
                    outs.push(self.engine.parse_chunk(ctx, g, at));
                }
                outs.extend(p.body);
            }
            if let Some((t, at)) = &tail_line {
                let at = at.saturating_sub(ctx.start);
                outs.push(self.engine.parse_chunk(ctx, t, at));
            }
            self.run_bc(ctx.input, outs, data, on_batch);
        }
        // a final line without newline is left for the next run when asked to
        pos - pending.len
    }

    /// Scan a mapped plain file, `data` being its part from where reading starts.
    fn read_mapped(
        &mut self,
        ctx: &InputCtx,
        map: Option<&ingest::Mapping>,
        data: &[u8],
        on_batch: &mut dyn FnMut(Vec<Attempt>),
    ) -> usize {
        // Give the pages of processed batches back, so that resident memory stays flat
        // however large the file is. A batch's pages are dropped while the next batch is
        // parsed: the workers need not wait for the kernel.
        let drop_pages = |range: Option<(usize, usize)>| {
            if let (Some(m), Some((off, len))) = (map, range) {
                // SAFETY: a read-only mapping of a file: dropped pages are read again from the
                // file if touched; no batch still in work lies in them.
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, off, len)
                };
            }
        };
        let mut released = 0usize;
        let mut done: Option<(usize, usize)> = None;
        // (Running phase A of the next batch beside phase B of this one was tried: it was 25%
        // slower, as phase A's streaming reads evict the domain tables.)
        for batch in line_chunks(data, self.engine.opts.batch_bytes) {
            let range = done.take();
            let at = (batch.as_ptr() as usize - data.as_ptr() as usize) as u64;
            if let Some(m) = map {
                // the file shrank under the map: its lines up to there, then stop
                let from = batch.as_ptr() as usize - m.as_ptr() as usize;
                let kept = still_there(m, from as u64, batch);
                if kept.len() < batch.len() {
                    let whole = memchr::memrchr(b'\n', kept).map_or(0, |i| i + 1);
                    self.run_batch((&kept[..whole], at), ctx, &|| drop_pages(range), on_batch);
                    let pos = from + whole;
                    self.problems.error(
                        ctx.input,
                        format!(
                            "the file shrank while it was read: reading stopped at byte {pos} of {}; the lines before it were used",
                            m.len()
                        ),
                    );
                    return at as usize + whole;
                }
            }
            self.run_batch((batch, at), ctx, &|| drop_pages(range), on_batch);
            self.count_progress(batch.len());
            if let Some(m) = map {
                let from = batch.as_ptr() as usize - m.as_ptr() as usize;
                let to = from + batch.len();
                // it shrank while the batch was counted: from there, its lines read zeros
                if let Some(g) = m.shrunk_at().filter(|&g| g < to) {
                    self.problems.error(
                        ctx.input,
                        gone_while_counted(g as u64, to as u64, m.len() as u64),
                    );
                    let base = data.as_ptr() as usize - m.as_ptr() as usize;
                    return g.saturating_sub(base);
                }
                // whole pages up to the end of this batch
                let end = to & !(ingest::page_size() - 1);
                if end > released {
                    done = Some((released, end - released));
                    released = end;
                }
            }
        }
        drop_pages(done);
        data.len()
    }

    /// Scan a stream (standard input, a pipe, a compressed file); returns the bytes it gave.
    fn read_stream(
        &mut self,
        ctx: &InputCtx,
        reader: Box<dyn std::io::Read + Send>,
        compression: ingest::Compression,
        on_batch: &mut dyn FnMut(Vec<Attempt>),
    ) -> u64 {
        let mut batches = ingest::Batches::new(reader, self.engine.opts.batch_bytes);
        let mut consumed = 0u64;
        // a batch's buffer comes back from here, to be read into again
        let mut take = |b: std::io::Result<Vec<u8>>| match b {
            Ok(data) => {
                let at = consumed;
                consumed += data.len() as u64;
                self.run_batch((&data, at), ctx, &|| {}, on_batch);
                self.count_progress(data.len());
                Some(data)
            }
            Err(e) => {
                let what = match compression {
                    ingest::Compression::Gzip => "truncated or corrupt gzip",
                    ingest::Compression::Zstd => "truncated or corrupt zstd",
                    ingest::Compression::None => "read error",
                };
                self.problems.error(
                    ctx.input,
                    format!("{what} after {consumed} bytes of data ({e}); the lines before it were used"),
                );
                None
            }
        };
        // gzip and plain streams (standard input, pipes) are read on a thread of their own,
        // a batch ahead of the workers: gzip's decoding takes about as long as the scan, and a
        // pipe gives 64 KiB a read, so overlapping them with the scan saves a quarter of the
        // time for gzip and a fifth for a pipe. zstd decodes in a third of gzip's time: read
        // ahead, it took 8% more CPU time for the same wall time.
        let ahead = compression != ingest::Compression::Zstd
            && std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::sync_channel(0);
                // used buffers go back to the reading thread (at most two are in flight)
                let (back, returned) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
                let batches = &mut batches;
                let reading = std::thread::Builder::new()
                    .name("danemine-read".into())
                    .spawn_scoped(s, move || loop {
                        while let Ok(buf) = returned.try_recv() {
                            batches.recycle(buf);
                        }
                        let Some(b) = batches.next_batch() else { break };
                        if tx.send(b).is_err() {
                            break;
                        }
                    });
                if reading.is_err() {
                    return false;
                }
                for b in rx {
                    if let Some(buf) = take(b) {
                        // a full return channel only means that the buffer is not reused
                        let _ = back.try_send(buf);
                    }
                }
                true
            });
        if !ahead {
            while let Some(b) = batches.next_batch() {
                if let Some(buf) = take(b) {
                    batches.recycle(buf);
                }
            }
        }
        consumed
    }

    /// The end of an input, its last place where process states expire (see
    /// [`ScanOptions::expiry_bytes`]).
    fn end_input(&mut self) {
        for (st, sink) in self.states.iter_mut().zip(self.sinks.iter_mut()) {
            if let Some(clock) = st.window.take() {
                let reached = (sink.input, self.line_base);
                st.expire(clock, reached, sink);
            }
        }
    }

    /// The end of all input: pending non-final attempts without a recipient line are
    /// emitted, the last queues counted and the counters' tables merged.
    fn finish(
        mut self,
        on_batch: &mut dyn FnMut(Vec<Attempt>),
    ) -> (Vec<Accumulator>, Problems, u64) {
        for (st, sink) in self.states.iter_mut().zip(self.sinks.iter_mut()) {
            st.finish(sink);
        }
        if self.collect.attempts {
            let mut batch: Vec<Attempt> = Vec::new();
            for s in self.sinks.iter_mut() {
                if let Some(v) = s.attempts.as_mut() {
                    batch.append(v);
                }
            }
            batch.sort_by_key(|a| a.line);
            on_batch(batch);
        }
        count_outboxes(self.names, &[], &mut self.sinks, &mut self.counters);
        let mut problems = self.problems;
        let mut attempts = 0u64;
        for s in self.sinks {
            problems.merge(s.problems);
            attempts += s.count;
        }
        let mut partials: Vec<Accumulator> = Vec::with_capacity(self.counters.len());
        for c in self.counters {
            problems.merge(c.problems);
            attempts = attempts.saturating_sub(c.bad);
            partials.push(c.acc);
        }
        for (i, p) in problems.inputs.iter_mut() {
            if p.file.is_empty() {
                p.file = self.names.get(*i as usize).cloned().unwrap_or_default();
            }
        }
        problems
            .inputs
            .retain(|_, p| !p.counts.is_empty() || !p.errors.is_empty());
        (partials, problems, attempts)
    }
}

fn scan_inner(
    inputs: &[InputSpec],
    opts: &ScanOptions,
    collect: Collect,
    on_batch: &mut dyn FnMut(Vec<Attempt>),
) -> Result<Outcome, ScanError> {
    keep_heap_between_batches();
    let grammars = Grammars::load(&opts.grammar_files)?;
    let names: Vec<String> = inputs.iter().map(|i| i.display.clone()).collect();
    let warm_up: Vec<u64> = inputs.iter().map(|i| i.warm_up_lines).collect();
    let read_again: Vec<Option<u64>> = inputs.iter().map(|i| i.read_again_after).collect();
    let mut scanner = Scanner::new(grammars, opts, collect, &names, &warm_up, &read_again);
    let mut lines = 0u64;
    let mut bytes = 0u64;
    let mut end_offsets = Vec::with_capacity(inputs.len());
    // the batch buffers of plain files, reused from batch to batch and file to file
    let mut bufs: [Vec<u8>; 2] = Default::default();

    for (idx, spec) in inputs.iter().enumerate() {
        let input = idx as u32;
        let problems = &mut scanner.problems;
        problems.inputs.entry(input).or_default().file = spec.display.clone();
        let opened = match ingest::open(spec, opts.file_access) {
            Ok(o) => o,
            Err(e) => {
                // (the summary names the input: the error's own path would say it twice)
                let why = match e {
                    ingest::IngestError::Open { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                problems.error(input, why);
                end_offsets.push(spec.start_offset);
                continue;
            }
        };
        scanner.line_base = 0;
        let ctx = |reference_month: Option<u32>, mtime: Option<i64>, start: u64| InputCtx {
            input,
            start,
            reference: match opts.year {
                Some(y) => (y, reference_month.unwrap_or(12), 31),
                None => reference_of(mtime.unwrap_or_else(now_unix)),
            },
            fallback_time: mtime.unwrap_or_else(now_unix),
        };
        match opened {
            Opened::File {
                file,
                start,
                end,
                mtime,
            } => {
                let month = opts
                    .year
                    .and_then(|_| file_tail(&file, start, end, opts.complete_lines_only))
                    .and_then(|t| last_bsd_month(&t));
                let done = scanner.read_file(
                    &ctx(month, mtime, start),
                    &file,
                    (start, end),
                    &mut bufs,
                    on_batch,
                );
                bytes += done - start;
                end_offsets.push(done);
            }
            Opened::Mapped { map, start, mtime } => {
                let data: &[u8] = match &map {
                    // (the file may have shrunk below `start` since its length was read)
                    Some(m) => m.get(start..).unwrap_or_default(),
                    None => &[],
                };
                let mut usable = data.len();
                if opts.complete_lines_only {
                    usable = memchr::memrchr(b'\n', data).map(|i| i + 1).unwrap_or(0);
                }
                let data = &data[..usable];
                let month = opts.year.and_then(|_| last_bsd_month(data));
                match &map {
                    Some(m) if scanner.pipelined() => {
                        // (it leaves an unfinished last line itself when asked to)
                        let (start, end) = (start as u64, m.len() as u64);
                        let done = scanner.read_pipelined(
                            &ctx(month, mtime, start),
                            Source::Map(m),
                            (start, end),
                            &mut bufs,
                        );
                        bytes += done.saturating_sub(start);
                        end_offsets.push(done);
                    }
                    _ => {
                        // (the mapped data starts where reading does: offsets are counted in it)
                        let used = scanner.read_mapped(
                            &ctx(month, mtime, 0),
                            map.as_ref(),
                            data,
                            on_batch,
                        );
                        bytes += used as u64;
                        end_offsets.push(start as u64 + used as u64);
                    }
                }
            }
            Opened::Stream {
                reader,
                compression,
                mtime,
            } => {
                let consumed =
                    scanner.read_stream(&ctx(None, mtime, 0), reader, compression, on_batch);
                bytes += consumed;
                end_offsets.push(consumed);
            }
        }
        scanner.end_input();
        lines += scanner.line_base;
        // correlation state does not carry over from one input to the next... except that
        // rotated files continue each other: keep it, and flush only at the very end.
    }
    let (accs, problems, attempts) = scanner.finish(on_batch);
    Ok(Outcome {
        accs,
        problems,
        lines,
        bytes,
        attempts,
        end_offsets,
    })
}

/// Run `work` on a thread of the current pool (or on this thread, when it is one of them). A
/// scan's driver there starts each phase on a thread that takes part in it: a driver outside
/// the pool is woken at the end of every phase of every batch and wakes the pool again, and a
/// wake-up across cores costs tens of microseconds on a virtual machine.
fn on_a_worker<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    rayon::scope(|_| work())
}

/// A scan that counts attempts, its outcome made into `R` by `finish` on a thread of the pool
/// (which the making may use in parallel).
fn counting_scan<R: Send>(
    inputs: &[InputSpec],
    opts: &ScanOptions,
    finish: impl FnOnce(Outcome) -> R + Send,
) -> Result<R, ScanError> {
    on_a_worker(|| {
        scan_inner(
            inputs,
            opts,
            Collect {
                aggregate: true,
                attempts: false,
            },
            &mut |_| {},
        )
        .map(finish)
    })
}

/// Scan inputs into per-domain and per-MX aggregates.
pub fn scan_aggregate(inputs: &[InputSpec], opts: &ScanOptions) -> Result<ScanResult, ScanError> {
    counting_scan(inputs, opts, |o| ScanResult {
        aggregate: Accumulator::into_aggregate_all(o.accs),
        problems: o.problems,
        lines: o.lines,
        bytes: o.bytes,
        attempts: o.attempts,
        end_offsets: o.end_offsets,
    })
}

/// The result of a scan whose rows are only listed ([`scan_rows`]).
pub struct ScanRows {
    pub rows: SortedRows,
    pub problems: Problems,
    pub lines: u64,
    pub bytes: u64,
    pub attempts: u64,
}

/// [`scan_aggregate`] for a caller that lists the rows by name (`domains`): the same rows,
/// without a map of them all.
pub fn scan_rows(inputs: &[InputSpec], opts: &ScanOptions) -> Result<ScanRows, ScanError> {
    counting_scan(inputs, opts, |o| ScanRows {
        rows: Accumulator::into_sorted_all(o.accs),
        problems: o.problems,
        lines: o.lines,
        bytes: o.bytes,
        attempts: o.attempts,
    })
}

/// Scan inputs and hand every attempt to `sink`, in input and line order within each batch.
pub fn scan_attempts(
    inputs: &[InputSpec],
    opts: &ScanOptions,
    sink: &mut dyn FnMut(Attempt),
) -> Result<Problems, ScanError> {
    scan_attempt_batches(inputs, opts, &mut |batch| {
        for a in batch {
            sink(a)
        }
    })
}

/// [`scan_attempts`], a batch of attempts at a time (in input and line order). The sink runs
/// between batches, while the pool's threads wait: it may use them (to format the batch in
/// parallel, say).
pub fn scan_attempt_batches(
    inputs: &[InputSpec],
    opts: &ScanOptions,
    sink: &mut dyn FnMut(Vec<Attempt>),
) -> Result<Problems, ScanError> {
    scan_attempt_batches_counted(inputs, opts, sink).map(|s| s.problems)
}

/// The result of a scan that hands its attempts to a sink: its problems and what it read.
#[derive(Debug, Clone, Default)]
pub struct AttemptScan {
    pub problems: Problems,
    pub lines: u64,
    pub bytes: u64,
    pub attempts: u64,
}

/// [`scan_attempt_batches`], also telling the lines, bytes and attempts read (`--stats`).
pub fn scan_attempt_batches_counted(
    inputs: &[InputSpec],
    opts: &ScanOptions,
    sink: &mut dyn FnMut(Vec<Attempt>),
) -> Result<AttemptScan, ScanError> {
    let o = scan_inner(
        inputs,
        opts,
        Collect {
            aggregate: false,
            attempts: true,
        },
        sink,
    )?;
    Ok(AttemptScan {
        problems: o.problems,
        lines: o.lines,
        bytes: o.bytes,
        attempts: o.attempts,
    })
}

/// One attempt as classified, before domain validation (see [`trace`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceAttempt {
    pub line: u64,
    pub domain: String,
    pub mx_host: Option<String>,
    pub outcome: crate::model::DaneOutcome,
}

struct TraceSink {
    attempts: Vec<TraceAttempt>,
    problems: Problems,
}

impl Emit for TraceSink {
    fn attempt(&mut self, a: &AttemptRef<'_>) {
        self.attempts.push(TraceAttempt {
            line: a.line,
            domain: a.domain.to_string(),
            mx_host: a.mx_host.map(str::to_string),
            outcome: a.outcome,
        });
    }
    fn problem(&mut self, input: u32, line: u64, kind: &'static str, text: &str) {
        self.problems.add(input, line, kind, text);
    }
}

/// Run a small text through parse, correlate and classify, single-threaded, and return every
/// attempt before domain validation, in emission order. For tests and for explaining a verdict.
pub fn trace(text: &str, opts: &ScanOptions) -> Result<(Vec<TraceAttempt>, Problems), ScanError> {
    let engine = Engine {
        grammars: Grammars::load(&opts.grammar_files)?,
        opts: opts.clone(),
        parts: 1,
    };
    let ctx = InputCtx {
        input: 0,
        reference: match opts.year {
            Some(y) => (y, last_bsd_month(text.as_bytes()).unwrap_or(12), 31),
            None => reference_of(now_unix()),
        },
        fallback_time: 0,
        start: 0,
    };
    let out = engine.parse_chunk(&ctx, text.as_bytes(), 0);
    let mut state = PartitionState::default();
    let mut sink = TraceSink {
        attempts: Vec::new(),
        problems: out.problems.clone(),
    };
    run_partition(
        &engine,
        &mut state,
        &mut sink,
        std::slice::from_ref(&out),
        &[0],
        0,
        0,
    );
    state.finish(&mut sink);
    Ok((sink.attempts, sink.problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of other kinds before it do not leave a kind without an example.
    #[test]
    fn every_kind_of_problem_keeps_an_example() {
        let mut p = Problems::default();
        p.add(0, 90, "no-prefix", "late");
        for line in 1..=8 {
            p.add(0, line, "invalid-utf8", "early");
        }
        p.add(0, 50, "bad-domain", "x");
        p.add(0, 40, "bad-domain", "y");
        let ex: Vec<(u64, &str)> = p.inputs[&0]
            .examples
            .iter()
            .map(|e| (e.line, e.kind))
            .collect();
        let want = [1, 2, 3, 4, 5].map(|l| (l, "invalid-utf8"));
        assert_eq!(ex[..5], want);
        assert_eq!(ex[5..], [(40, "bad-domain"), (90, "no-prefix")]);
    }

    /// The summary keeps quotes and backslashes as they are and escapes control characters,
    /// in names too: one message, one line.
    #[test]
    fn the_summary_escapes_only_control_characters() {
        let mut p = Problems::default();
        p.add(0, 3, "nul-byte", "say \"hi\" a\\0b\tc");
        p.error(0, "cut\nshort".into());
        p.inputs.get_mut(&0).unwrap().file = "odd\nname.log".into();
        assert_eq!(
            p.summary(),
            "danemine: odd\\nname.log: cut\\nshort\n\
             danemine: odd\\nname.log: skipped or doubtful lines: 1 nul-byte\n  \
             odd\\nname.log:3: nul-byte: say \"hi\" a\\0b\\tc\n"
        );
    }

    proptest::proptest! {
        /// Problem lines added in pieces and merged in any order keep the examples of one
        /// piece holding them all: by line, the first few, then the first of each kind.
        #[test]
        fn problem_examples_do_not_depend_on_the_pieces(
            lines in proptest::collection::vec((0u64..40, 0usize..4), 0..40),
            cuts in proptest::collection::vec(0usize..40, 0..4),
            reversed in proptest::bool::ANY,
        ) {
            const KINDS: [&str; 4] = ["no-prefix", "bad-domain", "nul-byte", "too-long"];
            // a line is a problem once, in any order
            let mut seen = std::collections::BTreeSet::new();
            let lines: Vec<(u64, usize)> = lines.into_iter().filter(|l| seen.insert(l.0)).collect();
            let mut whole = Problems::default();
            for &(line, k) in &lines {
                whole.add(0, line, KINDS[k], "t");
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (lines.len() + 1)).collect();
            cuts.push(0);
            cuts.push(lines.len());
            cuts.sort_unstable();
            let mut pieces: Vec<Problems> = cuts
                .windows(2)
                .map(|w| {
                    let mut p = Problems::default();
                    for &(line, k) in &lines[w[0]..w[1]] {
                        p.add(0, line, KINDS[k], "t");
                    }
                    p
                })
                .collect();
            if reversed {
                pieces.reverse();
            }
            let mut merged = Problems::default();
            for p in pieces {
                merged.merge(p);
            }
            let mut sorted: Vec<(u64, &str)> = lines.iter().map(|&(l, k)| (l, KINDS[k])).collect();
            sorted.sort_unstable();
            let mut want = Vec::new();
            for (i, &(l, k)) in sorted.iter().enumerate() {
                if i < MAX_PROBLEM_EXAMPLES || !sorted[..i].iter().any(|e| e.1 == k) {
                    want.push((l, k));
                }
            }
            let got = |p: &Problems| -> Vec<(u64, &str)> {
                p.inputs.get(&0).map_or(Vec::new(), |i| i.examples.iter().map(|e| (e.line, e.kind)).collect())
            };
            proptest::prop_assert_eq!(got(&merged), want.clone());
            proptest::prop_assert_eq!(got(&whole), want);
            proptest::prop_assert_eq!(&merged.inputs.get(&0).map(|i| &i.counts), &whole.inputs.get(&0).map(|i| &i.counts));
        }
    }

    /// Reads stop at the end of a file instead of failing; a piece that met it early (the
    /// file shrank after it was opened) or met a read error ends the batch, and the pieces
    /// before it are used.
    #[test]
    fn short_pieces_end_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, [b'a'; 100]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut buf = [0u8; 80];
        assert!(matches!(read_at_most(&file, 10, &mut buf), (80, None)));
        assert!(matches!(read_at_most(&file, 60, &mut buf), (40, None)));
        assert!(matches!(read_at_most(&file, 100, &mut buf), (0, None)));
        // pieces of 4 bytes from offset 100: "ab\nc" "d\nef" "gh" (2 of 4: short) "ij\nk"
        let piece = |at, head: &'static [u8], tail: &'static [u8], read| ReadPiece {
            at,
            head,
            closed: head.ends_with(b"\n"),
            body: None,
            tail,
            read,
            asked: 4,
            error: None,
        };
        let pieces = [
            piece(100, b"ab\n", b"c", 4),
            piece(104, b"d\n", b"ef", 4),
            piece(108, b"gh", b"", 2),
            piece(112, b"ij\n", b"k", 4),
        ];
        let mut pending = Pending::default();
        pending.push(b"z");
        let j = join_pieces(&pieces, &mut pending);
        assert_eq!(
            j.gaps,
            [
                Some((b"zab\n".to_vec(), 99)),
                Some((b"cd\n".to_vec(), 103)),
                None
            ]
        );
        assert_eq!(j.read, 10);
        assert_eq!(j.stop.as_deref(), Some("the file shrank while it was read"));
        assert_eq!((pending.kept.as_slice(), pending.len), (&b"efgh"[..], 4));
        let failed = [ReadPiece {
            error: Some(std::io::Error::other("EIO")),
            ..piece(0, b"ab\n", b"c", 4)
        }];
        let j = join_pieces(&failed, &mut Pending::default());
        assert_eq!(j.stop.as_deref(), Some("read error (EIO)"));
        assert_eq!(j.gaps.len(), 1);
        // whole pieces: nothing stops
        let j = join_pieces(&pieces[..2], &mut Pending::default());
        assert_eq!((j.read, j.stop), (8, None));
    }

    /// A line longer than a line may be keeps enough bytes to be reported as too long.
    #[test]
    fn pending_keeps_a_bounded_prefix() {
        let mut p = Pending::default();
        for _ in 0..5 {
            p.push(&[b'x'; MAX_LINE]);
        }
        assert_eq!((p.kept.len(), p.len), (MAX_LINE + 2, 5 * MAX_LINE as u64));
        assert_eq!(p.take().len(), MAX_LINE + 2);
        assert_eq!((p.kept.len(), p.len), (0, 0));
    }

    /// A batch buffer hands out each byte to one region at most, and reads back as a whole
    /// what the regions were given.
    #[test]
    fn batch_buffer_regions_are_disjoint() {
        let mut buf = vec![0u8; 10];
        let b = BatchBuf::new(&mut buf);
        let r1 = b.region(0, 4);
        let r2 = b.region(4, 99);
        assert_eq!((r1.len(), r2.len()), (4, 6));
        assert!(b.region(3, 5).is_empty(), "overlaps both");
        assert!(b.region(9, 10).is_empty(), "inside the second");
        assert!(b.region(10, 12).is_empty(), "past the end");
        r1.copy_from_slice(b"abcd");
        r2.copy_from_slice(b"efghij");
        let (r1, r2): (&[u8], &[u8]) = (r1, r2);
        // SAFETY: the regions are only read from here on.
        let whole = unsafe { b.whole() };
        assert_eq!(
            (whole, r1, r2),
            (&b"abcdefghij"[..], &b"abcd"[..], &b"efghij"[..])
        );
    }

    /// Every item is worked on once, by the pool thread of its index modulo the pool's size,
    /// whether the pool has fewer, as many or more threads than there are items.
    #[test]
    fn own_threads_take_every_item_once() {
        for (threads, n) in [(1, 5), (2, 2), (3, 7), (4, 2)] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let items: Vec<(usize, Vec<usize>)> = (0..n).map(|i| (i, Vec::new())).collect();
            let mut done: Vec<(usize, Vec<usize>)> = Vec::new();
            pool.install(|| {
                let mut items = items.clone();
                on_own_threads(items.iter_mut().collect(), |i, (id, seen)| {
                    assert_eq!(i, *id);
                    seen.push(rayon::current_thread_index().unwrap());
                });
                done = items;
            });
            for (i, seen) in done {
                assert_eq!(seen, vec![i % threads], "{threads} threads, item {i}");
            }
        }
    }

    /// Lines of real shapes (generator, corpus), to be mutated.
    const LINES: [&str; 8] = [
        "2026-11-01T00:00:00.082005+00:00 mail01 postfix/smtp[20637]: 06C6477375: to=<u9@yahoo.com>, relay=none",
        "2026-11-01T00:00:00.031808+00:00 mail01 postfix-out/smtp[20728]: Trusted TLS connection",
        "2026-11-01T00:00:59.5+01:00 mx postfix/lmtp[7]: 4XyZ: to=<a@b.c>, status=sent (250 ok)",
        "Nov  1 00:00:00 mail01 postfix/smtp[20735]: sNTw2gyR4Gt2Ngj: to=<u0@yahoo.com>, relay=mx1",
        "Dec 31 23:59:60 mail01 postfix/qmgr[1]: 4XyZ: removed",
        "postfix         | 2021-01-24T14:43:35.880327+00:00 INFO    postfix/smtp[138]: Untrusted TLS",
        "Aug 26 06:06:18 mail.mydomain.de mailu-smtp[840]: Aug 26 08:06:18 mail postfix/smtp[38144]: x",
        "2019-02-28 13:51:09 10HmaX-000000005vi-0000 => t@mxdane512ee.test.ex R=client",
    ];

    proptest::proptest! {
        /// A line's event is the one the general path makes of the line's prefix: the common
        /// shape's shortcut (offsets, the hash of `host prog[pid` in place, the remembered
        /// time and program) changes nothing, over mutated lines in sequences that share the
        /// memo.
        #[test]
        fn line_events_are_the_general_path(
            lines in proptest::collection::vec(
                (0usize..8, proptest::collection::vec((0usize..120, 0u8..4, proptest::sample::select(b" |[]:0123456789-+.TZNovINFOpstfxlm/_".to_vec())), 0..3)),
                1..16,
            ),
        ) {
            let engine = Engine { grammars: Grammars::builtin(), opts: ScanOptions::default(), parts: 2 };
            let ctx = InputCtx { input: 0, reference: (2026, 11, 30), fallback_time: 7, start: 0 };
            let mut fast = LineMemo::default();
            let mut problems = Problems::default();
            for (rel, (shape, edits)) in lines.iter().enumerate() {
                let mut b = LINES[*shape].as_bytes().to_vec();
                for &(at, op, c) in edits {
                    let at = at % (b.len() + 1);
                    match op {
                        0 | 1 => if let Some(x) = b.get_mut(at) { *x = c },
                        2 => b.insert(at, c),
                        _ => b.truncate(at),
                    }
                }
                let line = String::from_utf8_lossy(&b).into_owned();
                let rel = rel as u64;
                let mut got = None;
                engine.line_event_to(&line, &ctx, rel, &mut problems, &mut fast, |k| got = Some(k));
                let p = engine.grammars.prefix.parse(&line);
                let want = engine.prefix_event(&line, &p, &ctx, rel, &mut problems, &mut LineMemo::default());
                proptest::prop_assert_eq!(format!("{got:?}"), format!("{want:?}"), "{}", line);
            }
        }
    }

    /// Counting and collecting attempts in one scan gives what each gives alone: a delivery
    /// to a domain that is no host name is one problem and no attempt, whichever tells it.
    #[test]
    fn bad_domain_is_one_problem_whatever_is_collected() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.log");
        let line = |n: u32, to: &str| {
            format!("Nov  2 10:00:0{n} mail postfix/smtp[1]: ABCDE{n}: to=<{to}>, relay=mx.e.example[192.0.2.9]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)\n")
        };
        let text = [line(1, "a@bad_name.example"), line(2, "ok@e.example")].concat();
        std::fs::write(&p, text).unwrap();
        let inputs = [InputSpec::file(&p)];
        let opts = ScanOptions {
            year: Some(2026),
            ..ScanOptions::default()
        };
        let run = |aggregate, attempts| {
            let mut rows = 0;
            let o = scan_inner(
                &inputs,
                &opts,
                Collect {
                    aggregate,
                    attempts,
                },
                &mut |b| rows += b.len(),
            )
            .unwrap();
            let bad = o
                .problems
                .inputs
                .get(&0)
                .and_then(|i| i.counts.get("bad-domain").copied());
            let domains = Accumulator::into_aggregate_all(o.accs).domains.len();
            (o.attempts, rows, bad, domains)
        };
        assert_eq!(run(true, false), (1, 0, Some(1), 1));
        assert_eq!(run(false, true), (1, 1, Some(1), 0));
        assert_eq!(run(true, true), (1, 1, Some(1), 1));
    }

    /// Attempts counted by the counter that owns their domain, whatever partition correlated
    /// them: the same rows, attempt count and bad-domain problems with any number of threads
    /// and batches as small as a few lines (queues counted after every batch).
    #[test]
    fn counters_count_every_attempt_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.log");
        let mut text = String::new();
        let (mut good, mut bad) = (0u64, 0u64);
        for i in 0..120u32 {
            let to = if i % 7 == 3 {
                bad += 1;
                format!("u@bad_{i}.example")
            } else {
                good += 1;
                format!("u{i}@d{}.Example", i % 11)
            };
            text.push_str(&format!(
                "Nov  2 10:{:02}:{:02} mail postfix/smtp[{}]: ABCDE{i}: to=<{to}>, relay=mx{}.example[192.0.2.9]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)\n",
                i / 60,
                i % 60,
                100 + i % 5,
                i % 3,
            ));
        }
        std::fs::write(&p, text).unwrap();
        let inputs = [InputSpec::file(&p)];
        let mut seen = Vec::new();
        for threads in [1, 2, 3] {
            for batch_bytes in [150, 1000, 8 << 20] {
                let opts = ScanOptions {
                    year: Some(2026),
                    batch_bytes,
                    flight_bytes: batch_bytes,
                    chunk_bytes: 100,
                    ..ScanOptions::default()
                };
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let o = pool
                    .install(|| {
                        scan_inner(
                            &inputs,
                            &opts,
                            Collect {
                                aggregate: true,
                                attempts: false,
                            },
                            &mut |_| {},
                        )
                    })
                    .unwrap();
                let problems = o.problems.inputs.get(&0).map(|i| i.counts.clone());
                let aggregate = Accumulator::into_aggregate_all(o.accs);
                let counted: u64 = aggregate.domains.values().map(|r| r.counts.attempts).sum();
                assert_eq!(
                    (o.attempts, counted),
                    (good, good),
                    "{threads} threads, batch {batch_bytes}"
                );
                assert_eq!(aggregate.domains.len(), 11);
                assert_eq!(
                    problems.and_then(|c| c.get("bad-domain").copied()),
                    Some(bad)
                );
                seen.push(aggregate);
            }
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
    }
}
