//! The nightly job: read what is new in the logs, keep daily aggregates, pick candidates over
//! the window, re-verify them live, update the exclusion store and write the outputs.
//!
//! Order of a run, and why a crash anywhere leaves things consistent:
//! 1. lock; load `state.json`; remove left-overs of a run that died (unreferenced day files,
//!    temp files next to outputs);
//! 2. read the new part of each log (see [`super::state::decide`]) into per-day aggregates and
//!    write the touched days under new names (nothing refers to them yet);
//! 3. window, candidates, live re-verification, store update (in memory);
//! 4. commit: replace `state.json` atomically — the only point where the run takes effect;
//! 5. write every output from the committed store (idempotent: a run that died before or
//!    during this step is completed by the next one, which writes the same files again);
//! 6. remove day files that left the window.

use super::config::Config;
use super::state::{
    self, collect_garbage, decide, read_day, write_day, DayFile, Decision, Lock, Probe, State,
    StateError,
};
use super::store::{Change, Confirmation, LiveVerdict, Policy, Removal, Store};
use super::writers::{self, Format};
use crate::aggregate::{Aggregate, Row};
use crate::correlate::UNMATCHED_NON_FINAL;
use crate::ingest::{self, InputSpec};
use crate::model::{FailureClass, Verdict};
use crate::scan::{self, ScanOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors that stop a run (exit code 2).
#[derive(Debug, Error)]
pub enum NightlyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("config: {0}")]
    Config(String),
    #[error(
        "the run's time {now} is before the last run's ({last}) in {dir}: the clock went back, \
         or --now names the past (a replay needs a state directory of its own)"
    )]
    ClockBack {
        now: String,
        last: String,
        dir: String,
    },
    /// Only with [`RunOptions::crash_after`]: the run stopped as if killed after `0`.
    #[error("stopped after step {0:?} (crash test)")]
    Crashed(Step),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> NightlyError + '_ {
    move |source| NightlyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How far a run's time may lie before the last run's (a clock stepped back a little by NTP).
const CLOCK_SLACK: i64 = 3600;

/// Steps after which a crash can be simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// New day files written, state not committed.
    DayFiles,
    /// State committed, outputs not written.
    Commit,
    /// Outputs written, garbage not collected.
    Outputs,
}

/// Live re-verification as the nightly job needs it: one confirmation per domain asked
/// (`first_seen` and `log_verdict` are filled in by the job).
pub trait Reverify {
    /// Verify `domains` now, stamping the confirmations with `now`, the run's time (the real
    /// clock, or the time that `--now` gives a replay of old logs).
    fn verify(&mut self, domains: &[String], now: i64) -> Result<Vec<Confirmation>, String>;
}

/// The real re-verifier: `danemine::verify` with the settings of `[verify]`.
pub struct LiveVerifier {
    pub options: crate::verify::VerifyOptions,
}

impl LiveVerifier {
    /// Build from the config's `[verify]` section (`unusable_tlsa_refuses` defaulting to
    /// `[logs] tls_level = "dane-only"` or `mta = "exim"`, see
    /// [`VerifyOptions::unusable_tlsa_refuses`](crate::verify::VerifyOptions)).
    pub fn from_config(cfg: &crate::act::config::Config) -> Result<LiveVerifier, String> {
        let v = &cfg.verify;
        use crate::verify::{DnsMode, VerifyOptions};
        let addr = |s: &str| -> Result<std::net::SocketAddr, String> {
            s.parse()
                .map_err(|_| format!("[verify]: {s:?} is not ADDR:PORT"))
        };
        let dns = match &v.resolver {
            Some(r) => DnsMode::TrustAd { resolver: addr(r)? },
            None => DnsMode::Validate {
                trust_anchor: v.trust_anchor.clone(),
                nameserver: v.nameserver.as_deref().map(addr).transpose()?,
            },
        };
        let t = std::time::Duration::from_secs(v.timeout_secs.max(1));
        Ok(LiveVerifier {
            options: VerifyOptions {
                dns,
                port: v.port,
                connect_timeout: t,
                read_timeout: t,
                deadline: t * 3,
                dns_timeout: t.min(std::time::Duration::from_secs(5)),
                concurrency: v.concurrency.max(1),
                unusable_tlsa_refuses: match v.unusable_tlsa_refuses {
                    Some(r) => r,
                    // Postfix `dane-only`; Exim, whose DANE hosts defer on "DANE error: No
                    // usable TLSA records"
                    None => {
                        cfg.tls_level()? == crate::classify::TlsLevel::DaneOnly
                            || cfg.mta()? == Some(crate::model::Mta::Exim)
                    }
                },
                ehlo_name: v
                    .ehlo_name
                    .clone()
                    .unwrap_or_else(crate::verify::default_ehlo_name),
                ..VerifyOptions::default()
            },
        })
    }
}

impl Reverify for LiveVerifier {
    fn verify(&mut self, domains: &[String], now: i64) -> Result<Vec<Confirmation>, String> {
        let reports = crate::verify::verify_domains_blocking(domains, &self.options)
            .map_err(|e| e.to_string())?;
        // not one MX lookup answered: the resolver is down or cut off (or every domain's
        // servers are): an error for the report, not a night of `unreachable`
        if !reports.is_empty()
            && reports
                .iter()
                .all(|r| r.mx_dnssec == crate::verify::DnssecStatus::Indeterminate)
        {
            return Err(format!(
                "no MX lookup of the {} domains was answered (timeout or SERVFAIL): is the \
                 resolver working?",
                reports.len()
            ));
        }
        Ok(reports
            .into_iter()
            .map(|r| {
                let verdict: LiveVerdict = r
                    .verdict
                    .as_str()
                    .parse()
                    .unwrap_or(LiveVerdict::Unreachable);
                let mut mx_hosts = Vec::new();
                // dated by the run's day: the same verdict on the same day renders the same
                let mut evidence = vec![format!(
                    "danemine verify {}: {} ({})",
                    r.domain,
                    r.verdict.as_str(),
                    super::writers::date(now)
                )];
                for m in &r.mx {
                    if m.verdict.is_failure() {
                        mx_hosts.push(m.host.clone());
                    }
                    for t in &m.tlsa {
                        evidence.push(format!("_25._tcp.{} TLSA {t}", m.host));
                    }
                    for a in &m.addresses {
                        let mut line = format!("{} {}: {}", m.host, a.address, a.verdict.as_str());
                        if let Some(s) = &a.spki_sha256 {
                            line.push_str(&format!(", presented key sha256 {s}"));
                        }
                        if !a.detail.is_empty() {
                            line.push_str(&format!(", {}", a.detail));
                        }
                        evidence.push(line);
                    }
                    if m.addresses.is_empty() && !m.detail.is_empty() {
                        evidence.push(format!("{}: {}", m.host, m.detail));
                    }
                }
                if r.mx.is_empty() && !r.detail.is_empty() {
                    evidence.push(r.detail.clone());
                }
                Confirmation {
                    domain: r.domain,
                    verdict,
                    mx_hosts,
                    evidence,
                    confirmed_at: now,
                    first_seen: None,
                    log_verdict: None,
                    candidate: false,
                }
            })
            .collect())
    }
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run's time (Unix seconds).
    pub now: i64,
    /// Read and verify, but write nothing (no state, no outputs).
    pub dry_run: bool,
    /// Print a line per log file on stderr.
    pub progress: bool,
    /// Stop as if killed after this step (crash tests).
    #[doc(hidden)]
    pub crash_after: Option<Step>,
    /// Called with the path of each input just before the scan reads it, after any spooling
    /// or counting pass (tests replace a file there, as a rotation racing the run would).
    #[doc(hidden)]
    pub before_scan: Option<fn(&Path)>,
}

/// How a log file was read this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub path: String,
    pub how: &'static str,
    /// Content bytes read this run.
    pub bytes: u64,
}

/// What an output write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputReport {
    pub path: PathBuf,
    pub format: Format,
    pub changed: bool,
    pub error: Option<String>,
    pub skipped_names: usize,
}

/// Everything a run did, for the summary and for tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub now: i64,
    pub dry_run: bool,
    pub files: Vec<FileReport>,
    /// Attempts read this run (inside the retained window).
    pub attempts: u64,
    /// Attempts read this run that are older than the window (not kept).
    pub too_old: u64,
    /// Read problems (one line each).
    pub problems: Vec<String>,
    /// Lines read this run that were skipped or doubtful (malformed, not UTF-8, ...), keyed by
    /// the file's place in `files`, with line numbers in that file. Warm-up lines are not
    /// among them (the run that read them first counted them), nor the lines of a file that
    /// is read again next run.
    pub line_problems: scan::Problems,
    /// The window's aggregate.
    pub window: Aggregate,
    pub window_days: (i32, i32),
    pub candidates: Vec<String>,
    /// Live verdicts of this run.
    pub verified: BTreeMap<String, LiveVerdict>,
    pub verify_error: Option<String>,
    pub changes: Vec<Change>,
    pub store: Store,
    pub outputs: Vec<OutputReport>,
    /// Candidates already on the configured danefail list.
    pub on_danefail: Vec<String>,
    /// With `danefail.pull_request`: the branch prepared (and its commits), `None` when there
    /// was nothing to propose; an error when it could not be prepared.
    pub pull_request: Option<Result<Option<String>, String>>,
}

impl Report {
    /// Whether a person should look: new exclusions, or something failed.
    pub fn needs_attention(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c, Change::Added { .. }))
            || self.verify_error.is_some()
            || !self.problems.is_empty()
            || self.outputs.iter().any(|o| o.error.is_some())
            || matches!(self.pull_request, Some(Err(_)) | Some(Ok(Some(_))))
    }

    /// The plain-text summary for cron mail.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "danemine nightly {}{}",
            crate::timefmt::rfc3339(self.now),
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
        let bytes: u64 = self.files.iter().map(|f| f.bytes).sum();
        let mut hows: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &self.files {
            *hows.entry(f.how).or_default() += 1;
        }
        let hows: Vec<String> = hows.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let _ = writeln!(
            s,
            "logs: {} files ({}), {} bytes new, {} attempts{}",
            self.files.len(),
            hows.join(", "),
            bytes,
            self.attempts,
            if self.too_old > 0 {
                format!(" ({} older than the window, not kept)", self.too_old)
            } else {
                String::new()
            }
        );
        for p in &self.problems {
            let _ = writeln!(s, "  problem: {p}");
        }
        for p in self.line_problems.inputs.values() {
            let kinds: Vec<String> = p.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = writeln!(
                s,
                "  skipped or doubtful lines in {}: {}",
                p.file,
                kinds.join(", ")
            );
        }
        let mut verdicts: BTreeMap<Verdict, usize> = BTreeMap::new();
        let mut attempts = 0;
        for r in self.window.domains.values() {
            *verdicts.entry(r.counts.verdict()).or_default() += 1;
            attempts += r.counts.attempts;
        }
        let v: Vec<String> = verdicts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            s,
            "window {} .. {}: {} attempts, {} domains ({})",
            state::day_name(self.window_days.0),
            state::day_name(self.window_days.1),
            attempts,
            self.window.domains.len(),
            v.join(", ")
        );
        match &self.pull_request {
            Some(Ok(Some(b))) => {
                let _ = writeln!(s, "danefail pull request: {b} (not pushed)");
            }
            Some(Ok(None)) => {
                let _ = writeln!(s, "danefail pull request: nothing to propose");
            }
            Some(Err(e)) => {
                let _ = writeln!(s, "danefail pull request FAILED: {e}");
            }
            None => {}
        }
        let _ = writeln!(s, "candidates: {}", self.candidates.len());
        if !self.on_danefail.is_empty() {
            let _ = writeln!(
                s,
                "  already on the danefail list: {}",
                self.on_danefail.join(" ")
            );
        }
        if let Some(e) = &self.verify_error {
            let _ = writeln!(s, "re-verification FAILED: {e}");
        } else if !self.verified.is_empty() {
            let mut by: BTreeMap<LiveVerdict, usize> = BTreeMap::new();
            for v in self.verified.values() {
                *by.entry(*v).or_default() += 1;
            }
            let v: Vec<String> = by.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = writeln!(
                s,
                "re-verified {} domains: {}",
                self.verified.len(),
                v.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "exclusions: {}; watch list: {}",
            self.store.entries.len(),
            self.store.watch.len()
        );
        for c in &self.changes {
            if matches!(c, Change::Reconfirmed { .. }) {
                continue;
            }
            let _ = writeln!(s, "  {c}");
            if let Change::Added { domain, .. } = c {
                if let Some(e) = self.store.entries.get(domain) {
                    if !e.mx_hosts.is_empty() {
                        let _ = writeln!(s, "    mx: {}", e.mx_hosts.join(" "));
                    }
                    for l in &e.evidence {
                        let _ = writeln!(s, "    {l}");
                    }
                }
            }
        }
        for o in &self.outputs {
            let what = match (&o.error, o.changed) {
                (Some(e), _) => format!("FAILED: {e}"),
                (None, true) => "rewritten".into(),
                (None, false) => "unchanged".into(),
            };
            let _ = writeln!(
                s,
                "output {} ({}): {what}{}",
                o.path.display(),
                o.format.as_str(),
                if o.skipped_names > 0 {
                    format!(", {} invalid names left out", o.skipped_names)
                } else {
                    String::new()
                }
            );
        }
        if self.needs_attention() {
            let _ = writeln!(s, "needs attention: yes");
        }
        s
    }
}

/// A log file to read this run.
struct Planned {
    probe: Probe,
    /// What to record when nothing is read (files already read to the end).
    keep: Option<state::FileState>,
    /// Content offset the read starts at, lines before it.
    start: u64,
    lines_before: u64,
    how: &'static str,
    /// What the last run knew of this content when it was read as another file (a plain log
    /// now compressed): kept when this run cannot read the file, so that the next run still
    /// starts where the last one stopped instead of at the start.
    known: Option<state::FileState>,
}

/// The part of a file to read this run.
enum Spooled {
    /// Read `spec`; the content ends at offset `end`, with `lines` newlines in the part read.
    /// `warm` holds the whole lines of up to the overlap before where the last run stopped.
    Read {
        spec: InputSpec,
        warm: Vec<u8>,
        end: u64,
        lines: u64,
    },
    /// No complete line is new.
    Nothing,
    /// Cannot be read now (e.g. a compressed file still being written): retried next run.
    Unreadable(String),
}

/// Counts bytes and newlines passing through.
struct Counting<W> {
    inner: W,
    bytes: u64,
    lines: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Offset just after the last newline in `[from, len)` of a plain file (`from` when none).
fn last_line_end(f: &mut File, from: u64, len: u64) -> io::Result<u64> {
    let mut hi = len;
    let mut buf = vec![0u8; 64 * 1024];
    while hi > from {
        let lo = hi.saturating_sub(buf.len() as u64).max(from);
        let n = (hi - lo) as usize;
        f.seek(SeekFrom::Start(lo))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(lo + i as u64 + 1);
        }
        hi = lo;
    }
    Ok(from)
}

fn set_mtime_like(dst: &Path, src: &Path) {
    if let Ok(m) = fs::metadata(src).and_then(|m| m.modified()) {
        if let Ok(f) = File::options().write(true).open(dst) {
            let _ = f.set_modified(m);
        }
    }
}

/// Prepare the read of `[start, end)` of a file: the complete lines of a plain file are
/// copied into the spool, so that the scanner reads exactly that range while the MTA keeps
/// appending; a compressed file read whole is scanned in place after a counting pass; the
/// unread tail of a compressed rotation is decompressed into the spool. The whole lines of up
/// to `overlap` bytes before `start` come back too, to be scanned before the content as
/// warm-up, so that correlation across the last run's stop is rebuilt (docs/act.md).
fn spool(p: &Planned, spool_dir: &Path, n: usize, overlap: u64) -> Result<Spooled, NightlyError> {
    let dst = spool_dir.join(format!("{n}.log"));
    let src = &p.probe.path;
    let display = src.display().to_string();
    if p.probe.compressed {
        let mut r = state::decompressed(src).map_err(io_err(src))?;
        let unreadable =
            |e: io::Error| Spooled::Unreadable(format!("{display}: {e}; retried next run"));
        if p.start == 0 {
            let mut c = Counting {
                inner: io::sink(),
                bytes: 0,
                lines: 0,
            };
            if let Err(e) = io::copy(&mut r, &mut c) {
                return Ok(unreadable(e));
            }
            return Ok(if c.bytes == 0 {
                Spooled::Nothing
            } else {
                Spooled::Read {
                    spec: InputSpec::file(src),
                    warm: Vec::new(),
                    end: c.bytes,
                    lines: c.lines,
                }
            });
        }
        let from = p.start - overlap.min(p.start);
        let mut before = Vec::new();
        let skipped = io::copy(&mut (&mut r).take(from), &mut io::sink()).and_then(|k| {
            (&mut r).take(p.start - from).read_to_end(&mut before)?;
            Ok(k + before.len() as u64)
        });
        match skipped {
            Ok(k) if k < p.start => {
                return Ok(Spooled::Unreadable(format!(
                    "{display}: shorter than the {} bytes read before; retried next run",
                    p.start
                )))
            }
            Ok(_) => {}
            Err(e) => return Ok(unreadable(e)),
        }
        let warm = warm_up_part(&before, from == 0).to_vec();
        let sizes = match write_spool(&dst, |out| io::copy(&mut r, out))? {
            Ok(sizes) => sizes,
            Err(e) => return Ok(unreadable(e)),
        };
        if sizes.bytes == 0 {
            return Ok(Spooled::Nothing);
        }
        return Ok(spooled(display, dst, src, p.start, sizes, warm));
    }
    let mut f = File::open(src).map_err(io_err(src))?;
    let len = f.metadata().map_err(io_err(src))?.len();
    let end = last_line_end(&mut f, p.start, len).map_err(io_err(src))?;
    if end <= p.start {
        return Ok(Spooled::Nothing);
    }
    let warm = lines_before_start(p, overlap).map_err(io_err(src))?;
    f.seek(SeekFrom::Start(p.start)).map_err(io_err(src))?;
    let sizes = write_spool(&dst, |out| io::copy(&mut (&mut f).take(end - p.start), out))?
        .map_err(io_err(src))?;
    Ok(spooled(display, dst, src, p.start, sizes, warm))
}

/// The whole lines of up to `overlap` bytes of `p`'s content just before `p.start`, where the
/// last run stopped (decompressed when the file is compressed).
fn lines_before_start(p: &Planned, overlap: u64) -> io::Result<Vec<u8>> {
    let from = p.start - overlap.min(p.start);
    let mut before = Vec::new();
    if p.probe.compressed {
        let mut r = state::decompressed(&p.probe.path)?;
        io::copy(&mut (&mut r).take(from), &mut io::sink())?;
        (&mut r).take(p.start - from).read_to_end(&mut before)?;
    } else {
        let mut f = File::open(&p.probe.path)?;
        f.seek(SeekFrom::Start(from))?;
        (&mut f).take(p.start - from).read_to_end(&mut before)?;
    }
    if (before.len() as u64) < p.start - from {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("shorter than the {} bytes read before", p.start),
        ));
    }
    Ok(warm_up_part(&before, from == 0).to_vec())
}

/// What a spool file holds: the bytes and lines of the new content.
struct SpoolSizes {
    bytes: u64,
    lines: u64,
}

/// Write the spool file `dst` with the new content that `rest` copies into it. An error of
/// `rest` (reading the log) comes back inside, for the caller to judge; one of the spool file
/// itself stops the run.
fn write_spool(
    dst: &Path,
    rest: impl FnOnce(&mut dyn Write) -> io::Result<u64>,
) -> Result<io::Result<SpoolSizes>, NightlyError> {
    let mut out = Counting {
        inner: io::BufWriter::new(File::create(dst).map_err(io_err(dst))?),
        bytes: 0,
        lines: 0,
    };
    if let Err(e) = rest(&mut out) {
        return Ok(Err(e));
    }
    out.flush().map_err(io_err(dst))?;
    Ok(Ok(SpoolSizes {
        bytes: out.bytes,
        lines: out.lines,
    }))
}

/// The read of a spool file written by [`write_spool`] for the content of `src` from `start`,
/// after the warm-up lines `warm`.
fn spooled(
    display: String,
    dst: PathBuf,
    src: &Path,
    start: u64,
    sizes: SpoolSizes,
    warm: Vec<u8>,
) -> Spooled {
    set_mtime_like(&dst, src);
    Spooled::Read {
        spec: InputSpec {
            display,
            path: Some(dst),
            start_offset: 0,
            warm_up_lines: 0,
            read_again_after: None,
        },
        warm,
        end: start + sizes.bytes,
        lines: sizes.lines,
    }
}

/// Warm-up lines as an input of their own, scanned just before the content they warm up:
/// `lines`, whole lines of `source` that end where a run stopped in it. All of the input is
/// warm-up, so that its problems can be left out with it (they were counted by the run that
/// read the lines first). `None` when there are no lines.
fn warm_up_input(
    spool_dir: &Path,
    n: usize,
    source: &Planned,
    lines: &[u8],
) -> Result<Option<(InputSpec, u64)>, NightlyError> {
    let count = memchr::memchr_iter(b'\n', lines).count() as u64;
    if count == 0 {
        return Ok(None);
    }
    let dst = spool_dir.join(format!("{n}.warm-up.log"));
    fs::write(&dst, lines).map_err(io_err(&dst))?;
    set_mtime_like(&dst, &source.probe.path);
    let spec = InputSpec {
        // a path holds no NUL: no input is named the same (attempts come back by name)
        display: format!("{}\0warm-up", source.probe.path.display()),
        path: Some(dst),
        start_offset: 0,
        warm_up_lines: count,
        read_again_after: None,
    };
    Ok(Some((spec, source.lines_before.saturating_sub(count))))
}

/// Whether `a` and `b` are files of one rotated set: the same directory and base name
/// (`maillog.1.gz` and `maillog`), as [`ingest::expand`] orders them.
fn same_rotated_set(a: &Path, b: &Path) -> bool {
    let base = |p: &Path| {
        p.file_name()
            .map(|n| ingest::rotation_key(&n.to_string_lossy()).0)
    };
    a.parent() == b.parent() && base(a).is_some() && base(a) == base(b)
}

/// How many of the `lines` lines of a spooled content `[start, end)` of a file (the spool
/// file `spool`) the next run does not read again: its warm-up (as [`lines_before_start`]
/// takes it) holds the lines after the first newline at or after `end - overlap`.
fn lines_not_read_again(
    spool: &Path,
    start: u64,
    end: u64,
    lines: u64,
    overlap: u64,
) -> io::Result<u64> {
    let from = end - overlap.min(end);
    if from < start {
        return Ok(0);
    }
    let mut f = File::open(spool)?;
    f.seek(SeekFrom::Start(from - start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let again = memchr::memchr_iter(b'\n', warm_up_part(&tail, from == 0)).count() as u64;
    Ok(lines.saturating_sub(again))
}

/// The whole lines of `before` (the bytes just before where the last run stopped, which is a
/// line start): all of it when it starts at the file's start, else what follows its first
/// newline (the line cut at its start is left out).
fn warm_up_part(before: &[u8], at_file_start: bool) -> &[u8] {
    if at_file_start {
        return before;
    }
    match memchr::memchr(b'\n', before) {
        Some(i) => &before[i + 1..],
        None => &[],
    }
}

fn scan_options(cfg: &Config) -> Result<ScanOptions, NightlyError> {
    Ok(ScanOptions {
        tls_level: cfg.tls_level().map_err(NightlyError::Config)?,
        mta: cfg.mta().map_err(NightlyError::Config)?,
        grammar_files: cfg.logs.grammars.clone(),
        complete_lines_only: true,
        ..ScanOptions::default()
    })
}

/// Days with a DANE failure in a row.
fn failure_days(r: &Row) -> usize {
    r.failure_days.values().filter(|n| **n > 0).count()
}

/// The first day with a DANE failure, as Unix seconds.
fn first_failure(r: &Row) -> Option<i64> {
    r.failure_days
        .iter()
        .find(|(_, n)| **n > 0)
        .map(|(day, _)| i64::from(*day) * 86_400)
}

/// Domains of the window that qualify for re-verification as exclusion candidates.
pub fn candidates(window: &Aggregate, cfg: &Config, policy: &Policy) -> Vec<String> {
    let mut v: Vec<String> = window
        .domains
        .iter()
        .filter(|(d, r)| {
            matches!(r.counts.verdict(), Verdict::Failing | Verdict::Partial)
                && r.counts.dane_failed >= cfg.candidates.min_failures
                && failure_days(r) >= cfg.candidates.min_days as usize
                && !policy.protected.matches(d)
        })
        .map(|(d, _)| d.clone())
        .collect();
    v.sort();
    v
}

/// Run the nightly job once.
pub fn run(
    cfg: &Config,
    opts: &RunOptions,
    verifier: Option<&mut dyn Reverify>,
) -> Result<Report, NightlyError> {
    let dir = &cfg.state_dir;
    let _lock = Lock::acquire(dir)?;
    // (no state yet: a first run, or a state directory lost or moved)
    let fresh_state = !State::path(dir).exists();
    let mut st = State::load(dir)?;
    // a run dated before the last one would stamp confirmations and expiries in the past of
    // what the state holds (a clock set back, a --now meant for a replay)
    if let Some(last) = st.last_run.filter(|&l| opts.now < l - CLOCK_SLACK) {
        return Err(NightlyError::ClockBack {
            now: crate::timefmt::rfc3339(opts.now),
            last: crate::timefmt::rfc3339(last),
            dir: dir.display().to_string(),
        });
    }
    let policy = cfg
        .policy()
        .map_err(|e| NightlyError::Config(e.to_string()))?;
    if !opts.dry_run {
        collect_garbage(dir, &st)?;
        for o in &cfg.outputs {
            writers::remove_stale_temps(&o.path).map_err(io_err(&o.path))?;
        }
    }
    let mut report = Report {
        now: opts.now,
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let today = opts.now.div_euclid(86_400) as i32;
    let first_day = today - cfg.logs.window_days as i32 + 1;
    report.window_days = (first_day, today);

    // 2. read what is new
    // a path that does not exist (yet) is a problem of the run, which reads the others; one
    // that exists but cannot be read stops the run (skipped, its state would be forgotten and
    // the file read again from its start)
    let inputs = ingest::expand_keeping_missing(&cfg.logs.paths)?;
    let mut planned = Vec::new();
    for i in &inputs {
        let Some(path) = &i.path else { continue };
        let probe = match Probe::of(path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problems.push(format!(
                    "{}: no such file; not read this run",
                    path.display()
                ));
                continue;
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        let d = decide(&probe, &st.files);
        let (start, lines_before, how, done) = match d {
            Decision::New => (0, 0, "new", false),
            Decision::Restarted => (0, 0, "truncated or replaced", false),
            Decision::Continue { offset, lines } => (offset, lines, "continued", false),
            Decision::Rotated { offset, lines, .. } => (offset, lines, "rotated", false),
            Decision::Done { offset, lines } => (offset, lines, "already read", true),
        };
        let keep = done.then(|| probe.state(start, lines_before));
        let known = match &d {
            Decision::Rotated { from, .. } => st
                .files
                .iter()
                .filter(|k| &k.path == from)
                .max_by_key(|k| k.offset)
                .cloned(),
            _ => None,
        };
        planned.push(Planned {
            known,
            probe,
            keep,
            start,
            lines_before,
            how,
        });
    }
    let spool_dir = dir.join(format!("spool.{}", std::process::id()));
    let _ = fs::remove_dir_all(&spool_dir);
    fs::create_dir_all(&spool_dir).map_err(io_err(&spool_dir))?;
    let result = read_new(cfg, opts, &planned, &spool_dir, first_day, &mut report);
    let _ = fs::remove_dir_all(&spool_dir);
    let (per_day, new_files) = result?;

    // merge into the day files (under new names) and build the window
    let run_no = st.run + 1;
    let mut days = st.days.clone();
    days.retain(|d, _| *d >= first_day);
    // (each day's rows are moved, never copied: a large provider's day holds hundreds of
    // thousands of rows)
    let mut window = Aggregate::default();
    let mut touched: BTreeMap<i32, Aggregate> = per_day;
    let mut finished: Vec<(i32, Aggregate)> = Vec::new();
    for (day, name) in &days {
        let mut agg = read_day(dir, name)?.into_aggregate();
        match touched.remove(day) {
            Some(new) => {
                agg.merge(new);
                finished.push((*day, agg));
            }
            None => window.merge(agg),
        }
    }
    // the days that have no file yet
    finished.extend(touched);
    for (day, agg) in finished {
        let file = DayFile::from_aggregate(day, agg);
        if !opts.dry_run {
            let name = write_day(dir, run_no, &file)?;
            days.insert(day, name);
        }
        window.merge(file.into_aggregate());
    }
    if opts.crash_after == Some(Step::DayFiles) {
        return Err(NightlyError::Crashed(Step::DayFiles));
    }

    // 3. candidates, live re-verification, store
    report.candidates = candidates(&window, cfg, &policy);
    let mut store = st.store.clone();
    let danefail_domains = danefail_domains(cfg);
    report.on_danefail = report
        .candidates
        .iter()
        .filter(|d| danefail_domains.contains(*d))
        .cloned()
        .collect();
    let mut ask: BTreeSet<String> = report.candidates.iter().cloned().collect();
    ask.extend(store.entries.keys().cloned());
    ask.extend(store.watch.keys().cloned());
    if cfg.verify.danefail_domains {
        ask.extend(danefail_domains.iter().cloned());
    }
    let ask: Vec<String> = ask
        .into_iter()
        .filter(|d| !policy.protected.matches(d))
        .collect();
    let mut changes = Vec::new();
    match verifier {
        Some(v) if cfg.verify.enabled && !ask.is_empty() => match v.verify(&ask, opts.now) {
            Ok(mut confs) => {
                let candidates: BTreeSet<&String> = report.candidates.iter().collect();
                for c in &mut confs {
                    c.candidate = candidates.contains(&c.domain);
                    if let Some(r) = window.domains.get(&c.domain) {
                        c.first_seen = first_failure(r);
                        c.log_verdict = Some(r.counts.verdict());
                    }
                    report.verified.insert(c.domain.clone(), c.verdict);
                }
                changes = store.apply(opts.now, &policy, &confs);
            }
            Err(e) => {
                report.verify_error = Some(e);
                store.sweep(opts.now, &policy, &mut changes);
            }
        },
        _ => store.sweep(opts.now, &policy, &mut changes),
    }
    // additions of a run stopped after its commit, before its summary and pull request: told
    // now, as additions (not as the re-confirmations they are for this run)
    let mut told = 0;
    for d in &st.unannounced {
        let Some(e) = store.entries.get(d) else {
            continue;
        };
        let added = Change::Added {
            domain: d.clone(),
            class: e.class,
        };
        let same = |c: &Change| {
            matches!(c, Change::Added { domain, .. } | Change::Reconfirmed { domain, .. }
                if domain == d)
        };
        match changes.iter_mut().find(|c| same(c)) {
            Some(c) => *c = added,
            None => changes.push(added),
        }
        told += 1;
    }
    if told > 0 {
        report.problems.push(format!(
            "the run before was stopped after its commit: its {told} addition(s) are told here"
        ));
    }
    report.changes = changes;

    // 4. commit
    if !opts.dry_run {
        st.run = run_no;
        st.last_run = Some(opts.now);
        st.days = days;
        st.files = new_files;
        st.store = store.clone();
        // (cleared once this run has told them: step 7)
        st.unannounced = report
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Added { domain, .. } => Some(domain.clone()),
                _ => None,
            })
            .collect();
        st.save(dir)?;
    }
    if opts.crash_after == Some(Step::Commit) {
        return Err(NightlyError::Crashed(Step::Commit));
    }

    // 5. outputs from the committed store
    if !opts.dry_run {
        if fresh_state {
            // a run without state replaces what an earlier run listed: say so, as the
            // state may have been lost rather than never made
            for o in &cfg.outputs {
                let listed = fs::read_to_string(&o.path).map_or(0, |t| {
                    t.lines()
                        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                        .count()
                });
                if listed > 0 {
                    report.problems.push(format!(
                        "{}: {listed} lines from an earlier run, but {} held no state.json: \
                         started afresh, they are replaced by this run's",
                        o.path.display(),
                        dir.display()
                    ));
                }
            }
        }
        report.outputs = write_outputs(cfg, &store, opts.now, &policy);
    }
    if opts.crash_after == Some(Step::Outputs) {
        return Err(NightlyError::Crashed(Step::Outputs));
    }
    // 5b. a branch for the danefail list, when asked and the exclusions changed
    if !opts.dry_run {
        if let Some(d) = cfg.danefail.as_ref().filter(|d| d.pull_request) {
            let changed = report.changes.iter().any(|c| {
                matches!(
                    c,
                    Change::Added { .. }
                        | Change::Removed {
                            why: Removal::Recovered(_),
                            ..
                        }
                )
            });
            if changed {
                report.pull_request = Some(pull_request(cfg, d, &store, &report.changes, opts.now));
            }
        }
    }
    // 6. day files that left the window or were replaced
    if !opts.dry_run {
        collect_garbage(dir, &st)?;
    }
    // 7. the additions are told (the summary is the report this returns)
    if !opts.dry_run && !st.unannounced.is_empty() {
        st.unannounced.clear();
        st.save(dir)?;
    }
    report.window = window;
    report.store = store;
    Ok(report)
}

/// Prepare a branch on the danefail clone: the entries confirmed this run (protected names
/// never reach the store), and the entries that recovered this run as removals. The body goes
/// to `danefail.body` (default `<state_dir>/pr.md`). Returns the branch's description.
fn pull_request(
    cfg: &Config,
    d: &crate::act::config::DanefailConfig,
    store: &Store,
    changes: &[Change],
    now: i64,
) -> Result<Option<String>, String> {
    let confirmed: Vec<&crate::act::store::Entry> = store
        .entries
        .values()
        .filter(|e| e.confirmed_at == now)
        .collect();
    let recovered: BTreeMap<String, String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Removed {
                domain,
                why: Removal::Recovered(v),
            } => Some((domain.clone(), v.as_str().to_string())),
            _ => None,
        })
        .collect();
    let opts = crate::act::pr::PrOptions {
        file: d.file.clone(),
        branch: None,
        date: writers::date(now),
        push: None,
        verify_hint: String::new(),
    };
    let out = crate::act::pr::prepare::<crate::danefail::list::List>(
        &d.repo, &opts, &confirmed, &recovered,
    )
    .map_err(|e| e.to_string())?;
    let Some(branch) = out.branch else {
        return Ok(None);
    };
    let body = d
        .body
        .clone()
        .unwrap_or_else(|| cfg.state_dir.join("pr.md"));
    crate::fsutil::write_atomic(&body, out.body.as_bytes(), false)
        .map_err(|e| format!("{}: {e}", body.display()))?;
    Ok(Some(format!(
        "branch {branch} in {}, {} commits, body in {}",
        d.repo.display(),
        out.commits.len(),
        body.display()
    )))
}

/// How a planned file is read.
enum ReadPlan {
    Scan { end: u64, lines: u64 },
    Nothing,
    Retry,
}

/// An input of the scan, as the nightly job counts it.
struct Scanned {
    /// The log file its lines are from.
    name: String,
    /// Lines of that file before the input's first line.
    line_base: u64,
    /// The planned file whose reading it belongs to (the one it warms up, for warm-up lines).
    owner: usize,
    /// Whether it is warm-up lines only.
    warm_up: bool,
}

/// Read the planned files' new parts; per-day aggregates and the new file table.
fn read_new(
    cfg: &Config,
    opts: &RunOptions,
    planned: &[Planned],
    spool_dir: &Path,
    first_day: i32,
    report: &mut Report,
) -> Result<(BTreeMap<i32, Aggregate>, Vec<state::FileState>), NightlyError> {
    let overlap = cfg.logs.overlap_kib.saturating_mul(1024);
    let mut specs = Vec::new();
    let mut scanned: Vec<Scanned> = Vec::new();
    let mut reads: Vec<ReadPlan> = Vec::new();
    for (n, p) in planned.iter().enumerate() {
        if p.keep.is_some() {
            reads.push(ReadPlan::Nothing);
            report.files.push(FileReport {
                path: p.probe.path.display().to_string(),
                how: p.how,
                bytes: 0,
            });
            continue;
        }
        let s = spool(p, spool_dir, n, overlap)?;
        let bytes = match &s {
            Spooled::Read { end, .. } => end - p.start,
            _ => 0,
        };
        if opts.progress {
            eprintln!(
                "danemine nightly: {} ({}): {} bytes new",
                p.probe.path.display(),
                p.how,
                bytes
            );
        }
        report.files.push(FileReport {
            path: p.probe.path.display().to_string(),
            how: if bytes == 0 && p.how == "continued" {
                "unchanged"
            } else {
                p.how
            },
            bytes,
        });
        match s {
            Spooled::Read {
                mut spec,
                warm,
                end,
                lines,
            } => {
                // the newest file of its set is where the next run starts (or, rotated, what
                // it warms up from): what it reads again is left to it
                let newest = !planned
                    .iter()
                    .skip(n + 1)
                    .any(|q| same_rotated_set(&q.probe.path, &p.probe.path));
                if newest && !(p.probe.compressed && p.start == 0) {
                    if let Some(spool) = spec.path.as_deref() {
                        spec.read_again_after = Some(
                            lines_not_read_again(spool, p.start, end, lines, overlap)
                                .map_err(io_err(spool))?,
                        );
                    }
                }
                // The warm-up: the file's own lines before where the last run stopped; for a
                // file read from its start, the last lines of the file before it in the same
                // rotated set when nothing of that one is read this run (it was read to its
                // end, then rotated): their correlation state is not carried over otherwise.
                let warm = if p.start > 0 {
                    Some((p, warm))
                } else {
                    match n
                        .checked_sub(1)
                        .and_then(|m| Some((planned.get(m)?, reads.get(m)?)))
                    {
                        Some((before, ReadPlan::Nothing))
                            if same_rotated_set(&before.probe.path, &p.probe.path) =>
                        {
                            match lines_before_start(before, overlap) {
                                Ok(w) => Some((before, w)),
                                Err(e) => {
                                    report.problems.push(format!(
                                        "{}: {e}; its last lines were not read again for {}",
                                        before.probe.path.display(),
                                        p.probe.path.display()
                                    ));
                                    None
                                }
                            }
                        }
                        _ => None,
                    }
                };
                if let Some((source, lines)) = warm {
                    if let Some((w, line_base)) = warm_up_input(spool_dir, n, source, &lines)? {
                        scanned.push(Scanned {
                            name: source.probe.path.display().to_string(),
                            line_base,
                            owner: n,
                            warm_up: true,
                        });
                        specs.push(w);
                    }
                }
                reads.push(ReadPlan::Scan { end, lines });
                scanned.push(Scanned {
                    name: spec.display.clone(),
                    line_base: p.lines_before,
                    owner: n,
                    warm_up: false,
                });
                specs.push(spec);
            }
            Spooled::Nothing => reads.push(ReadPlan::Nothing),
            Spooled::Unreadable(m) => {
                report.problems.push(m);
                reads.push(ReadPlan::Retry);
            }
        }
    }
    let mut opts_scan = scan_options(cfg)?;
    let bar = opts.progress.then(|| {
        crate::progress::Bar::for_scan("danemine nightly: scanning", &specs, &mut opts_scan)
    });
    // per planned file, per day: input errors (a compressed file still being written) must
    // not count
    let mut per_file: Vec<BTreeMap<i32, Aggregate>> = vec![BTreeMap::new(); planned.len()];
    let index: BTreeMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.display.as_str(), i))
        .collect();
    // per planned file: attempts kept, and attempts older than the window (what a file whose
    // read fails contributes is left out of both, as its rows are)
    let mut counted = vec![(0u64, 0u64); planned.len()];
    if let Some(hook) = opts.before_scan {
        specs
            .iter()
            .filter_map(|s| s.path.as_deref())
            .for_each(hook);
    }
    let problems = if specs.is_empty() {
        scan::Problems::default()
    } else {
        scan::scan_attempts(&specs, &opts_scan, &mut |a| {
            let Some((i, s)) = index
                .get(a.file.as_str())
                .and_then(|&i| Some((i, scanned.get(i)?)))
            else {
                return;
            };
            let (Some(days), Some(count)) = (per_file.get_mut(s.owner), counted.get_mut(s.owner))
            else {
                return;
            };
            let t = a.time.timestamp();
            let day = t.div_euclid(86_400) as i32;
            if day < first_day {
                count.1 += 1;
                return;
            }
            count.0 += 1;
            days.entry(day).or_default().add(
                &a.domain,
                a.mx_host.as_deref(),
                t,
                a.outcome,
                i as u32,
                a.line + s.line_base,
                &s.name,
                a.detail.as_deref().unwrap_or(""),
                true,
            );
        })?
    };
    drop(bar);
    let mut failed = BTreeSet::new();
    for (i, p) in &problems.inputs {
        let Some(s) = scanned.get(*i as usize) else {
            continue;
        };
        for e in &p.errors {
            report.problems.push(format!("{}: {e}", s.name));
            failed.insert(s.owner);
        }
    }
    for (n, (kept, old)) in counted.into_iter().enumerate() {
        if !failed.contains(&n) {
            report.attempts += kept;
            report.too_old += old;
        }
    }
    for (i, mut p) in problems.inputs {
        let Some(s) = scanned.get(i as usize) else {
            continue;
        };
        // warm-up lines were read, and their problems counted, by the run that read them
        // first, except a non-final-MX attempt that run left to this one (read again at its
        // end): found without a recipient after the warm-up, it is this run's (the scan leaves
        // out one found so within it). A file read again next run counts its problems then.
        if s.warm_up {
            p.counts.retain(|&kind, _| kind == UNMATCHED_NON_FINAL);
            p.examples.retain(|e| e.kind == UNMATCHED_NON_FINAL);
        }
        if failed.contains(&s.owner) || p.counts.is_empty() {
            continue;
        }
        p.errors.clear();
        for e in &mut p.examples {
            e.line += s.line_base;
        }
        let owner = s.owner as u32;
        let kept = &mut report.line_problems;
        kept.inputs
            .entry(owner)
            .or_default()
            .file
            .clone_from(&s.name);
        kept.merge(scan::Problems {
            inputs: BTreeMap::from([(owner, p)]),
        });
    }
    let mut per_day: BTreeMap<i32, Aggregate> = BTreeMap::new();
    for (n, days) in per_file.into_iter().enumerate() {
        if failed.contains(&n) {
            continue;
        }
        for (d, a) in days {
            per_day.entry(d).or_default().merge(a);
        }
    }
    // the new file table
    let mut files = Vec::new();
    for (n, (p, r)) in planned.iter().zip(&reads).enumerate() {
        if let Some(k) = &p.keep {
            files.push(k.clone());
            continue;
        }
        match r {
            // read again next run, nothing of it counted: from where the last run stopped
            ReadPlan::Scan { .. } if failed.contains(&n) => files.extend(p.known.clone()),
            ReadPlan::Retry => files.extend(p.known.clone()),
            ReadPlan::Scan { end, lines } => {
                files.push(p.probe.state(*end, p.lines_before + lines));
            }
            ReadPlan::Nothing => files.push(p.probe.state(p.start, p.lines_before)),
        }
    }
    Ok((per_day, files))
}

/// Domains on the configured danefail list (empty when none is configured or readable).
fn danefail_domains(cfg: &Config) -> BTreeSet<String> {
    let Some(d) = &cfg.danefail else {
        return BTreeSet::new();
    };
    let path = d.repo.join(&d.file);
    let Ok(text) = fs::read_to_string(&path) else {
        return BTreeSet::new();
    };
    match crate::danefail::list::List::parse(&text, &path.display().to_string()) {
        Ok(l) => l.domains(),
        Err(_) => BTreeSet::new(),
    }
}

/// Render and write every configured output from `store`.
pub fn write_outputs(cfg: &Config, store: &Store, now: i64, policy: &Policy) -> Vec<OutputReport> {
    let mut out = Vec::new();
    for o in &cfg.outputs {
        let rendered = match o.format {
            Format::Postfix => Ok(writers::render_postfix(store, now)),
            Format::EximDomains => Ok(writers::render_exim_domains(store, now)),
            Format::EximHosts => Ok(writers::render_exim_hosts(store, now, &policy.protected)),
            Format::Plain => Ok(writers::render_plain(store)),
            Format::Danefail => Ok(writers::render_danefail(store)),
        };
        let mut rep = OutputReport {
            path: o.path.clone(),
            format: o.format,
            changed: false,
            error: None,
            skipped_names: 0,
        };
        match rendered {
            Ok(r) => {
                rep.skipped_names = r.skipped.len();
                match writers::write_if_changed(&o.path, &r.text) {
                    Ok(changed) => {
                        rep.changed = changed;
                        // postmap when the file changed, or whenever its database is missing
                        // or older than it (a postmap that failed in an earlier run is run
                        // again; Postfix itself warns of a database older than its source)
                        if o.postmap && (changed || !postmap_db_current(&o.path)) {
                            if let Err(e) = run_postmap(&o.path, POSTMAP) {
                                rep.error = Some(e);
                            }
                        }
                    }
                    Err(e) => rep.error = Some(e.to_string()),
                }
            }
            Err(e) => rep.error = Some(e),
        }
        out.push(rep);
    }
    out
}

/// Whether `postmap`'s database of the table at `path` (`.db`, `.lmdb` or `.cdb`) exists and
/// is no older than the table.
fn postmap_db_current(path: &Path) -> bool {
    let Ok(source) = fs::metadata(path).and_then(|m| m.modified()) else {
        return false;
    };
    [".db", ".lmdb", ".cdb"].iter().any(|ext| {
        let mut db = path.as_os_str().to_os_string();
        db.push(ext);
        fs::metadata(&db)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= source)
    })
}

/// Where `postmap` is looked for: the PATH first, then where Debian and most systems install
/// it (cron's PATH is often `/usr/bin:/bin`, without the sbin directories).
const POSTMAP: &[&str] = &["postmap", "/usr/sbin/postmap", "/usr/local/sbin/postmap"];

/// Run the first of `programs` that exists on the table at `path`.
fn run_postmap(path: &Path, programs: &[&str]) -> Result<(), String> {
    let mut tried = Vec::new();
    let o = programs
        .iter()
        .find_map(|p| match std::process::Command::new(p).arg(path).output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tried.push(*p);
                None
            }
            other => Some(other),
        });
    let o = match o {
        Some(o) => o.map_err(|e| format!("postmap: {e}"))?,
        None => return Err(format!("postmap not found (tried {})", tried.join(", "))),
    };
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "postmap {}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr).trim().replace('\n', " ")
        ))
    }
}

/// Failure classes, for the danefail sections.
pub fn is_dns_class(c: FailureClass) -> bool {
    matches!(c, FailureClass::Dnssec | FailureClass::TlsaUnusable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The database counts as current only when it is no older than the table: a postmap
    /// that failed after the table was rewritten is run again by the next run.
    #[test]
    fn a_database_older_than_its_table_is_not_current() {
        let d = tempfile::tempdir().unwrap();
        let table = d.path().join("tls_policy");
        fs::write(&table, "a.example may\n").unwrap();
        assert!(!postmap_db_current(&table));
        let db = d.path().join("tls_policy.lmdb");
        fs::write(&db, "x").unwrap();
        let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let touch = |p: &Path, t| {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(t)
                .unwrap()
        };
        touch(&table, at(2_000_000_000));
        touch(&db, at(1_999_999_999));
        assert!(!postmap_db_current(&table));
        touch(&db, at(2_000_000_000));
        assert!(postmap_db_current(&table));
    }

    /// `postmap` is looked for in turn; the first that exists runs, and its failure is told.
    #[test]
    fn postmap_is_found_off_the_path_and_its_failure_told() {
        let d = tempfile::tempdir().unwrap();
        let table = d.path().join("tls_policy");
        fs::write(&table, "a.example may\n").unwrap();
        let script = |name: &str, body: &str| {
            let p = d.path().join(name);
            fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            p.display().to_string()
        };
        let ok = script("ok", "touch \"$1.db\"");
        let bad = script("bad", "echo 'fatal: broken' >&2; exit 1");
        let missing = d.path().join("missing").display().to_string();
        assert!(run_postmap(&table, &[&missing, &ok]).is_ok());
        assert!(postmap_db_current(&table));
        let e = run_postmap(&table, &[&bad, &ok]).unwrap_err();
        assert!(e.contains("fatal: broken"), "{e}");
        let e = run_postmap(&table, &[&missing]).unwrap_err();
        assert!(e.contains("not found"), "{e}");
    }
}
