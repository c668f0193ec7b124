//! Correlation: tie TLS, verification and policy lines to the delivery lines they explain, and
//! produce one classified attempt per delivery attempt (DESIGN.md counting rules).
//!
//! Postfix lines are correlated per `(host, program, pid)`: an smtp process handles one
//! connection at a time, so its TLS lines describe its next delivery lines to the same target.
//! Exim lines are correlated per message id. State is owned, small, and kept per key; a
//! correlator sees each key's events in log order, whatever the chunking (see `scan`).

use crate::aggregate::{HashMap, Key};
use crate::bytesearch;
use crate::classify::{apply_rule, TlsField, TlsLevel};
use crate::grammar::{Grammars, VerbMeaning};
use crate::model::{DaneMode, DaneOutcome, FailureClass, Mta};
use crate::parse::{
    same, same_bytes, tlsrpt_type_key, Delivery, EximEvent, EximFlag, KeyValueLine, PostfixEvent,
    Target, Trust,
};
use memchr::memmem::Finder;
use std::collections::hash_map::Entry;
use std::sync::LazyLock;

/// A classified attempt, borrowing from the line and the correlation state.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRef<'x> {
    pub time: i64,
    pub mta: Mta,
    /// Raw recipient domain (not yet normalised).
    pub domain: &'x str,
    /// The recipient address as logged (without angle brackets).
    pub recipient: &'x str,
    pub mx_host: Option<&'x str>,
    pub mx_addr: Option<&'x str>,
    pub port: Option<u16>,
    pub mode: DaneMode,
    pub tls_protocol: Option<&'x str>,
    pub tls_cipher: Option<&'x str>,
    pub outcome: DaneOutcome,
    pub dsn: Option<&'x str>,
    pub status: Option<&'x str>,
    pub detail: Option<&'x str>,
    pub input: u32,
    pub line: u64,
    /// The line whose reading emitted the attempt: `line`, except for a non-final-MX attempt,
    /// which waits for the delivery line that names its recipient (a line of the input being
    /// read, which may come after `input`).
    pub emitted_at: u64,
    /// The whole log line that completed the attempt.
    pub text: &'x str,
}

/// Where correlated attempts and problems go.
pub trait Emit {
    fn attempt(&mut self, a: &AttemptRef<'_>);
    fn problem(&mut self, input: u32, line: u64, kind: &'static str, text: &str);
    /// Whether attempts need their TLS protocol and cipher. Counting alone does not: then a
    /// summary line's protocol and cipher are not parsed (`parse::postfix_message_for`).
    fn wants_tls_details(&self) -> bool {
        true
    }
    /// Whether a non-final-MX attempt on this line, still waiting for its recipient line at
    /// the end of the input, is left to a later read of that line (not a problem).
    fn read_again(&self, _input: u32, _line: u64) -> bool {
        false
    }
    /// A non-final-MX attempt at `line` of `input` (its line `text`) that met no recipient
    /// line, found so at `now`: on reading line `now.1` of input `now.0`, where its process
    /// expired or came back as a new one ([`AFTER_ALL_INPUT`] at the very end). A problem of
    /// kind [`UNMATCHED_NON_FINAL`] unless the sink knows better.
    fn unmatched(&mut self, input: u32, line: u64, text: &str, now: (u32, u64)) {
        let _ = now;
        self.problem(input, line, UNMATCHED_NON_FINAL, text);
    }
}

/// The problem kind of a non-final-MX attempt that never met the line naming its recipient.
pub const UNMATCHED_NON_FINAL: &str = "non-final-without-recipient";

/// Where [`Emit::unmatched`] is told the scan stands once every input is read.
pub const AFTER_ALL_INPUT: (u32, u64) = (u32::MAX, u64::MAX);

/// The position and time of an event.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub input: u32,
    pub line: u64,
    pub time: i64,
    pub text: &'a str,
}

fn mode_of(o: DaneOutcome) -> DaneMode {
    match o {
        DaneOutcome::Verified | DaneOutcome::Failed(_) => DaneMode::Strict,
        DaneOutcome::NotDane => DaneMode::None,
        DaneOutcome::Unknown => DaneMode::Unknown,
    }
}

fn recipient_domain(addr: &str) -> &str {
    // `<local@domain>` as Postfix writes it: nothing to trim at either end
    let b = addr.as_bytes();
    if b.len() >= 2 && b.first() == Some(&b'<') && b.last() == Some(&b'>') {
        let inner = &b[1..b.len() - 1];
        return match bytesearch::rfind(inner, b'@') {
            // SAFETY: the bytes between the `@` and the `>`, both ASCII, of a `&str`: they
            // start and end at char boundaries, so they are valid UTF-8
            Some(at) => unsafe { std::str::from_utf8_unchecked(&inner[at + 1..]) },
            None => "",
        };
    }
    crate::domain::domain_of_address(addr).unwrap_or("")
}

/// `s` without the `<`s before and the `>`s after it, as `trim_start_matches('<')` and
/// `trim_end_matches('>')` leave it; a single pair is taken off without a loop.
fn strip_angles(s: &str) -> &str {
    let b = s.as_bytes();
    let n = b.len();
    if n >= 3 && b[0] == b'<' && b[1] != b'<' && b[n - 1] == b'>' && b[n - 2] != b'>' {
        return &s[1..n - 1];
    }
    s.trim_start_matches('<').trim_end_matches('>')
}

// ---------------------------------------------------------------------------------------------
// Postfix

/// An optional string that keeps its buffer when it is reset: one smtp process sets up
/// thousands of connections, and each would otherwise allocate its strings anew.
#[derive(Debug, Clone, Default)]
struct Buf {
    text: String,
    set: bool,
}

impl Buf {
    fn set(&mut self, v: Option<&str>) {
        self.set = v.is_some();
        if let Some(v) = v {
            // a process meets the same protocols, ciphers and addresses again and again: a
            // compare is cheaper than a copy
            copy_if_new(&mut self.text, v);
        }
    }

    fn get(&self) -> Option<&str> {
        self.set.then_some(self.text.as_str())
    }
}

/// Make `to` hold `v`, copying only when it holds something else.
#[inline(always)]
fn copy_if_new(to: &mut String, v: &str) {
    if !same(to, v) {
        to.clear();
        to.push_str(v);
    }
}

/// What is known about the current connection of one smtp process.
#[derive(Debug, Clone, Default)]
struct Conn {
    host: String,
    addr: Buf,
    port: Option<u16>,
    trust: Option<Trust>,
    proto: Buf,
    cipher: Buf,
    /// DANE was demonstrably applied (num=65, TLSA lookup problem, TLSRPT tlsa line).
    dane_evidence: bool,
    /// The failure class the evidence itself names.
    evidence_class: Option<FailureClass>,
    verify_failed: bool,
    ssl_error: bool,
    /// Some delivery or queue note already used this connection.
    used: bool,
    /// The queue id of the message that used it ([`qid_key`]): its other recipients' lines
    /// share it.
    used_by: u64,
}

/// A queue id as a number, compared instead of the text (a copy and a compare of the text on
/// every delivery cost 1-2% of a scan): its first, middle and last eight bytes and its length
/// folded together. Postfix ids are at most 24 characters; two live messages of one process
/// whose keys agree do not occur.
fn qid_key(qid: &str) -> u64 {
    let b = qid.as_bytes();
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        let k = s.len().min(8);
        w[..k].copy_from_slice(&s[..k]);
        u64::from_le_bytes(w)
    };
    let n = b.len();
    let head = word(b);
    let tail = if n > 8 { word(&b[n - 8..]) } else { 0 };
    let mid = if n > 16 { word(&b[8..]) } else { 0 };
    head ^ tail.rotate_left(21) ^ mid.rotate_left(42) ^ ((n as u64) << 58)
}

impl Conn {
    fn new(t: &Target<'_>) -> Conn {
        let mut c = Conn::default();
        c.reset(t);
        c
    }

    /// Start over for a new connection to `t`, keeping the string buffers.
    fn reset(&mut self, t: &Target<'_>) {
        copy_if_new(&mut self.host, t.host);
        self.addr.set(t.addr);
        self.port = t.port;
        self.trust = None;
        self.proto.set(None);
        self.cipher.set(None);
        self.dane_evidence = false;
        self.evidence_class = None;
        self.verify_failed = false;
        self.ssl_error = false;
        self.used = false;
        self.used_by = 0;
    }

    /// Mark the connection used by message `qid`.
    fn use_for(&mut self, qid: &str) {
        self.used = true;
        self.used_by = qid_key(qid);
    }

    /// Whether a delivery of message `qid` (with `conn_use=` when `reused`) took place on this
    /// connection as far as its state goes: one not used yet, the same message's next
    /// recipient, or a connection Postfix says it reused. Any other delivery after the first
    /// had a connection of its own, whose lines are not this one's.
    fn serves(&self, qid: &str, reused: bool) -> bool {
        !self.used || reused || self.used_by == qid_key(qid)
    }

    #[inline]
    fn same_target(&self, t: &Target<'_>) -> bool {
        // the same bytes, as written in both lines, is the common case and the cheaper test
        (same(&self.host, t.host) || self.host.eq_ignore_ascii_case(t.host))
            && match (self.addr.get(), t.addr) {
                (Some(a), Some(b)) => same(a, b),
                _ => true,
            }
            && match (self.port, t.port) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// A non-final-MX failure waiting for the message's recipient domain.
#[derive(Debug, Clone)]
struct Pending {
    qid: String,
    at_input: u32,
    at_line: u64,
    time: i64,
    text: String,
    outcome: DaneOutcome,
    host: Option<String>,
    addr: Option<String>,
    port: Option<u16>,
    proto: Option<String>,
    cipher: Option<String>,
}

/// Correlation state of one Postfix smtp/lmtp process.
#[derive(Debug, Clone, Default)]
pub struct PostfixState {
    /// The process: `host` 0x1f `program` 0x1f `pid`.
    key: Key,
    conn: Option<Conn>,
    pending: Vec<Pending>,
    /// Log time of the last event of this process.
    pub last_time: i64,
}

/// A process silent this long (log time) is gone: smtp(8) exits after `max_idle` (100 s), and
/// its pid may be reused by a new process that shares nothing with it.
pub const PROCESS_EXPIRY: i64 = 3600;

/// At most this many non-final attempts wait per process for their recipient; the oldest
/// beyond them is reported as unmatched.
const MAX_PENDING: usize = 64;

impl PostfixState {
    /// The current connection if it matches `t` and `ok` holds, else a new one for `t`.
    fn conn_for(&mut self, t: &Target<'_>, ok: impl Fn(&Conn) -> bool) -> &mut Conn {
        let reuse = self
            .conn
            .as_ref()
            .is_some_and(|c| ok(c) && c.same_target(t));
        if !reuse {
            self.set_conn(t);
        }
        match self.conn.as_mut() {
            Some(c) => c,
            None => unreachable!("connection was just set"),
        }
    }

    /// A new connection to `t` (reusing the old one's buffers).
    fn set_conn(&mut self, t: &Target<'_>) {
        match self.conn.as_mut() {
            Some(c) => c.reset(t),
            None => self.conn = Some(Conn::new(t)),
        }
    }

    /// Whether this process's state has expired at log time `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.last_time + PROCESS_EXPIRY < now
    }

    /// Feed one event of this process.
    pub fn feed(
        &mut self,
        g: &Grammars,
        level: TlsLevel,
        ev: &PostfixEvent<'_>,
        at: At<'_>,
        out: &mut dyn Emit,
    ) {
        if self.expired(at.time) {
            // a new process with the same pid: nothing carries over
            self.finish(out, (at.input, at.line));
            self.conn = None;
        }
        self.last_time = self.last_time.max(at.time);
        match *ev {
            PostfixEvent::Summary {
                trust,
                target,
                proto,
                cipher,
            } => {
                let c = self.conn_for(&target, |c| c.trust.is_none() && !c.used);
                c.trust = Some(trust);
                c.proto.set(proto);
                c.cipher.set(cipher);
            }
            PostfixEvent::VerifyFailed { target, dane, .. } => {
                let c = self.conn_for(&target, |c| c.trust.is_none() && !c.used);
                c.verify_failed = true;
                if dane {
                    c.dane_evidence = true;
                    c.evidence_class.get_or_insert(FailureClass::CertMismatch);
                }
            }
            PostfixEvent::TlsaProblem { host, .. } => {
                let c = self.conn_for(&Target::host_only(host), |c| !c.used);
                c.dane_evidence = true;
                c.evidence_class.get_or_insert(FailureClass::Dnssec);
            }
            PostfixEvent::PolicyProblem { host, .. } => {
                self.conn_for(&Target::host_only(host), |c| !c.used);
            }
            PostfixEvent::SslError { target, .. } => {
                let c = self.conn_for(&target, |c| c.trust.is_none() && !c.used);
                c.ssl_error = true;
            }
            PostfixEvent::TlsLibrary { .. } => {
                if let Some(c) = self.conn.as_mut().filter(|c| !c.used) {
                    c.ssl_error = true;
                }
            }
            PostfixEvent::SettingUp { target } => {
                self.set_conn(&target);
            }
            PostfixEvent::Tlsrpt {
                success,
                mx,
                failure_type,
                ..
            } => {
                let c = self.conn_for(&mx, |_| true);
                if !success {
                    let key = failure_type.map(tlsrpt_type_key).unwrap_or_default();
                    match g.postfix.tlsrpt.get(&key) {
                        Some(Some(class)) => {
                            c.dane_evidence = true;
                            c.evidence_class = Some(*class);
                        }
                        Some(None) => {}
                        None => {
                            c.dane_evidence = true;
                            c.evidence_class.get_or_insert(FailureClass::Other);
                        }
                    }
                }
            }
            PostfixEvent::Delivery(ref d) => self.delivery(g, level, d, at, out),
            PostfixEvent::QueueNote { qid, text } => self.note(g, level, (qid, text), at, out),
            PostfixEvent::Other => {}
        }
    }

    fn matching_conn(&mut self, relay: Option<&Target<'_>>, text: &str) -> Option<&mut Conn> {
        let c = self.conn.as_mut()?;
        let hit = match relay {
            Some(t) => c.same_target(t),
            None => {
                !c.host.is_empty()
                    && memchr::memmem::find(text.as_bytes(), c.host.as_bytes()).is_some()
            }
        };
        hit.then_some(c)
    }

    fn note(
        &mut self,
        g: &Grammars,
        level: TlsLevel,
        (qid, text): (&str, &str),
        at: At<'_>,
        out: &mut dyn Emit,
    ) {
        let Some(rule) = g.postfix.rule(text) else {
            return;
        };
        // the connection whose lines came just before: one not used by another message yet,
        // and to the host the note names, if it names one
        // (a host is named with its address in brackets: a note that holds none, such as
        // "Server certificate not verified", skips the search)
        let named = memchr::memchr(b'[', text.as_bytes()).and_then(|_| text_target(text));
        let conn = self
            .conn
            .as_mut()
            .filter(|c| c.serves(qid, false) && named.as_ref().is_none_or(|t| c.same_target(t)));
        let (evidence, eclass) = conn
            .as_ref()
            .map(|c| (c.dane_evidence, c.evidence_class))
            .unwrap_or((false, None));
        let outcome = apply_rule(rule, level.implies_dane(), evidence, eclass);
        let p = match conn {
            Some(c) => {
                c.use_for(qid);
                Pending {
                    qid: qid.to_string(),
                    at_input: at.input,
                    at_line: at.line,
                    time: at.time,
                    text: at.text.to_string(),
                    outcome,
                    host: Some(c.host.clone()),
                    addr: c.addr.get().map(str::to_string),
                    port: c.port,
                    proto: c.proto.get().map(str::to_string),
                    cipher: c.cipher.get().map(str::to_string),
                }
            }
            None => Pending {
                qid: qid.to_string(),
                at_input: at.input,
                at_line: at.line,
                time: at.time,
                text: at.text.to_string(),
                outcome,
                host: named.map(|t| t.host.to_string()),
                addr: named.and_then(|t| t.addr).map(str::to_string),
                port: named.and_then(|t| t.port),
                proto: None,
                cipher: None,
            },
        };
        if self.pending.len() >= MAX_PENDING {
            // the oldest gives up waiting for its recipient
            let old = self.pending.remove(0);
            out.unmatched(old.at_input, old.at_line, &old.text, (at.input, at.line));
        }
        self.pending.push(p);
    }

    fn delivery(
        &mut self,
        g: &Grammars,
        level: TlsLevel,
        d: &Delivery<'_>,
        at: At<'_>,
        out: &mut dyn Emit,
    ) {
        if g.postfix
            .not_attempts
            .iter()
            .any(|p| d.text.starts_with(p.as_str()))
        {
            return;
        }
        let domain = recipient_domain(d.to);
        let recipient = strip_angles(d.to);
        // Non-final-MX attempts of this message: now we know the recipient domain.
        if !self.pending.is_empty() {
            let mut i = 0;
            while i < self.pending.len() {
                if self.pending[i].qid == d.qid {
                    let p = self.pending.remove(i);
                    out.attempt(&AttemptRef {
                        time: p.time,
                        mta: Mta::Postfix,
                        domain,
                        recipient,
                        mx_host: p.host.as_deref(),
                        mx_addr: p.addr.as_deref(),
                        port: p.port,
                        mode: mode_of(p.outcome),
                        tls_protocol: p.proto.as_deref(),
                        tls_cipher: p.cipher.as_deref(),
                        outcome: p.outcome,
                        dsn: None,
                        status: Some("non-final"),
                        detail: None,
                        input: p.at_input,
                        line: p.at_line,
                        // (what completes it is this delivery line, which names the recipient)
                        emitted_at: at.line,
                        text: &p.text,
                    });
                } else {
                    i += 1;
                }
            }
        }
        let field = d.tls.map(TlsField::parse);
        // only a delivery without relay names its MX host in the text
        let text_host = if d.relay.is_none() {
            text_target(d.text)
        } else {
            None
        };
        let target = d.relay.or(text_host);
        let reused = d.conn_use.is_some();
        let matched = self
            .matching_conn(target.as_ref(), d.text)
            .is_some_and(|c| c.serves(d.qid, reused));
        // classification reads the connection as it was before this delivery marks it used
        let conn = if matched { self.conn.as_ref() } else { None };
        let outcome = classify_delivery(g, level, d, field, conn);
        let (mx_host, mx_addr, port) = match (target, conn) {
            (Some(t), _) => (Some(t.host), t.addr, t.port),
            (None, Some(c)) => (Some(c.host.as_str()), c.addr.get(), c.port),
            (None, None) => (None, None, None),
        };
        out.attempt(&AttemptRef {
            time: at.time,
            mta: Mta::Postfix,
            domain,
            recipient,
            mx_host,
            mx_addr,
            port,
            mode: mode_of(outcome),
            tls_protocol: conn.and_then(|c| c.proto.get()),
            tls_cipher: conn.and_then(|c| c.cipher.get()),
            outcome,
            dsn: d.dsn,
            status: Some(d.status),
            detail: Some(d.text),
            input: at.input,
            line: at.line,
            emitted_at: at.line,
            text: at.text,
        });
        if matched {
            if let Some(c) = self.conn.as_mut() {
                c.use_for(d.qid);
            }
        }
    }

    /// Report non-final attempts that never met their recipient line (the process expired),
    /// found so at `now` (as [`Emit::unmatched`] takes it).
    pub fn finish(&mut self, out: &mut dyn Emit, now: (u32, u64)) {
        self.finish_pending(out, false, now);
    }

    /// As [`finish`](Self::finish); at the end of all input (`at_end`), a non-final attempt
    /// whose line is read again later ([`Emit::read_again`]) is left to that read.
    fn finish_pending(&mut self, out: &mut dyn Emit, at_end: bool, now: (u32, u64)) {
        for p in self.pending.drain(..) {
            if at_end && out.read_again(p.at_input, p.at_line) {
                continue;
            }
            out.unmatched(p.at_input, p.at_line, &p.text, now);
        }
    }
}

/// A host named in a deferral text: `connect to H[A]:25`, `TLSA lookup error for H:25`,
/// `by host H[A]`, `host H[A] said`.
fn text_target(text: &str) -> Option<Target<'_>> {
    // (finders built once: a `str::find` builds its searcher on every call)
    static KEYS: LazyLock<[Finder<'static>; 5]> = LazyLock::new(|| {
        [
            "connect to ",
            "by host ",
            "host ",
            "lookup error for ",
            "conversation with ",
        ]
        .map(Finder::new)
    });
    for key in KEYS.iter() {
        if let Some(i) = key.find(text.as_bytes()) {
            let r = &text[i + key.needle().len()..];
            if let Some((t, _)) = crate::parse::parse_target(r) {
                if t.host.contains('.') {
                    return Some(t);
                }
            }
        }
    }
    None
}

fn classify_delivery(
    g: &Grammars,
    level: TlsLevel,
    d: &Delivery<'_>,
    field: Option<TlsField<'_>>,
    conn: Option<&Conn>,
) -> DaneOutcome {
    let sent = d.status == "sent";
    let field_dane = field.is_some_and(|f| f.dane_configured());
    let evidence =
        conn.is_some_and(|c| c.dane_evidence) || field.is_some_and(|f| f.dane_in_force());
    let eclass = conn.and_then(|c| c.evidence_class);
    if let Some(f) = field {
        if f.dane_configured() && !f.dane_in_force() {
            // dane downgraded (halfdane, unusable TLSA → encrypt): not DANE
            if sent {
                return DaneOutcome::NotDane;
            }
        }
    }
    if !sent {
        if let Some(rule) = g.postfix.rule(d.text) {
            return apply_rule(rule, level.implies_dane(), evidence, eclass);
        }
    }
    let trust = conn.and_then(|c| c.trust);
    let verified_dane = trust == Some(Trust::Verified)
        && (level.implies_dane() || field.is_some_and(|f| f.dane_in_force()) || evidence);
    if let Some(f) = field {
        if !f.dane_configured() && !evidence {
            return if sent || trust.is_some() {
                DaneOutcome::NotDane
            } else {
                DaneOutcome::Unknown
            };
        }
    }
    if sent {
        return match (trust, conn) {
            _ if verified_dane => DaneOutcome::Verified,
            (Some(Trust::Verified), _) => DaneOutcome::NotDane,
            // unusable TLSA records: Postfix went on without DANE, and the message went
            (Some(_), Some(c)) if c.evidence_class == Some(FailureClass::TlsaUnusable) => {
                DaneOutcome::NotDane
            }
            (Some(_), Some(c)) if c.dane_evidence => DaneOutcome::Unknown,
            (Some(_), _) => DaneOutcome::NotDane,
            (None, _) if field_dane => DaneOutcome::Verified,
            (None, _) if d.conn_use.unwrap_or(1) > 1 => DaneOutcome::Unknown,
            (None, _) => DaneOutcome::NotDane,
        };
    }
    // deferred or bounced for a reason that names no TLS problem
    if verified_dane {
        return DaneOutcome::Verified;
    }
    if let (Some(c), Some(class)) = (conn, eclass) {
        // (unusable TLSA records refuse nothing: Postfix goes on without DANE, so a deferral
        // for another reason, such as greylisting, is not theirs)
        if c.dane_evidence && class != FailureClass::TlsaUnusable {
            return DaneOutcome::Failed(class);
        }
    }
    match trust {
        Some(_) => DaneOutcome::NotDane,
        None => DaneOutcome::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// Exim

#[derive(Debug, Clone)]
struct EximNote {
    host: Option<String>,
    addr: Option<String>,
    class: Option<FailureClass>,
}

/// Correlation state of one Exim message: DANE notes waiting for the outcome line.
#[derive(Debug, Clone, Default)]
pub struct EximState {
    notes: Vec<EximNote>,
}

const MAX_NOTES: usize = 16;

impl EximState {
    /// Whether nothing is left to remember for this message.
    pub fn is_idle(&self) -> bool {
        self.notes.is_empty()
    }

    /// Feed one event of this message.
    pub fn feed(
        &mut self,
        g: &Grammars,
        level: TlsLevel,
        ev: &EximEvent<'_>,
        at: At<'_>,
        out: &mut dyn Emit,
    ) {
        match *ev {
            EximEvent::Note { host, text, .. } => {
                if text == "Completed" {
                    self.notes.clear();
                    return;
                }
                if g.exim
                    .dane_evidence
                    .iter()
                    .any(|e| text.contains(e.as_str()))
                {
                    let class =
                        g.exim
                            .rule(text)
                            .and_then(|r| match apply_rule(r, true, true, None) {
                                DaneOutcome::Failed(c) => Some(c),
                                _ => None,
                            });
                    if self.notes.len() >= MAX_NOTES {
                        self.notes.remove(0);
                    }
                    self.notes.push(EximNote {
                        host: host.map(|h| h.host.to_string()),
                        addr: host.and_then(|h| h.addr).map(str::to_string),
                        class,
                    });
                }
            }
            EximEvent::Outcome {
                flag,
                rcpt,
                host,
                tls,
                cv,
                text,
                ..
            } => {
                if flag != EximFlag::Delivered
                    && g.exim
                        .not_attempts
                        .iter()
                        .any(|p| text.contains(p.as_str()))
                {
                    return;
                }
                // the notes that concern this outcome's host (or any, when no host is named)
                let idx = self.notes.iter().position(|n| match (host, &n.host) {
                    (Some(h), Some(nh)) => nh.eq_ignore_ascii_case(h.host),
                    _ => true,
                });
                let note = idx.map(|i| self.notes.remove(i));
                let outcome = match flag {
                    EximFlag::Delivered => match cv {
                        Some("dane") => DaneOutcome::Verified,
                        _ => DaneOutcome::NotDane,
                    },
                    _ => {
                        let evidence = note.is_some();
                        let eclass = note.as_ref().and_then(|n| n.class);
                        match g.exim.rule(text) {
                            Some(rule) => apply_rule(rule, level.implies_dane(), evidence, eclass),
                            None => match eclass {
                                Some(c) => DaneOutcome::Failed(c),
                                None => DaneOutcome::Unknown,
                            },
                        }
                    }
                };
                let (mx_host, mx_addr, port) = match (host, &note) {
                    (Some(h), _) => (Some(h.host), h.addr, h.port),
                    (None, Some(n)) => (n.host.as_deref(), n.addr.as_deref(), None),
                    (None, None) => (None, None, None),
                };
                let (proto, cipher) = match tls {
                    Some(x) => match x.split_once(':') {
                        Some((p, rest)) => (Some(p), Some(rest.split(':').next().unwrap_or(rest))),
                        None => (Some(x), None),
                    },
                    None => (None, None),
                };
                let status = match flag {
                    EximFlag::Delivered => "delivered",
                    EximFlag::Deferred => "deferred",
                    EximFlag::Failed => "failed",
                };
                out.attempt(&AttemptRef {
                    time: at.time,
                    mta: Mta::Exim,
                    domain: recipient_domain(rcpt),
                    recipient: rcpt,
                    mx_host,
                    mx_addr,
                    port,
                    mode: mode_of(outcome),
                    tls_protocol: proto,
                    tls_cipher: cipher,
                    outcome,
                    dsn: None,
                    status: Some(status),
                    detail: Some(text),
                    input: at.input,
                    line: at.line,
                    emitted_at: at.line,
                    text: at.text,
                });
            }
            EximEvent::Other => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// key=value lines (gateway): one line is one attempt, no correlation needed

/// Classify and emit one key=value line of grammar `gi`.
pub fn keyvalue_attempt(
    g: &Grammars,
    gi: usize,
    kv: &KeyValueLine<'_>,
    at: At<'_>,
    out: &mut dyn Emit,
) {
    let Some(gr) = g.keyvalue.get(gi) else {
        return;
    };
    let (verb, reason) = match crate::bytesearch::find_pair(kv.outcome.as_bytes(), b' ', b'(') {
        Some(i) => (
            &kv.outcome[..i],
            kv.outcome[i + 2..]
                .strip_suffix(')')
                .unwrap_or(&kv.outcome[i + 2..]),
        ),
        None => (kv.outcome, ""),
    };
    let outcome = match gr.verb(verb) {
        Some(VerbMeaning::Verified) => DaneOutcome::Verified,
        Some(VerbMeaning::NotDane) => DaneOutcome::NotDane,
        Some(VerbMeaning::Unknown) => DaneOutcome::Unknown,
        Some(VerbMeaning::Fail) => DaneOutcome::Failed(gr.reason_class(reason)),
        None => {
            out.problem(at.input, at.line, "unknown-outcome-verb", at.text);
            return;
        }
    };
    let mode = kv
        .mode
        .and_then(|m| gr.mode(m))
        .unwrap_or_else(|| mode_of(outcome));
    let (mx_host, mx_addr) = match kv.relay {
        Some(r) => {
            let (h, rest) = match crate::parse::find1(r, b' ') {
                Some(i) => (&r[..i], &r[i + 1..]),
                None => (r, ""),
            };
            let a = rest
                .trim()
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'));
            (Some(h), a)
        }
        None => (None, None),
    };
    let (proto, cipher) = match kv.tls {
        Some("none") | None => (None, None),
        Some(t) => match crate::parse::find1(t, b':') {
            Some(i) => (Some(&t[..i]), Some(&t[i + 1..])),
            None => (Some(t), None),
        },
    };
    out.attempt(&AttemptRef {
        time: at.time,
        mta: Mta::Gateway,
        domain: recipient_domain(kv.recipient),
        recipient: kv.recipient,
        mx_host,
        mx_addr,
        port: None,
        mode,
        tls_protocol: proto,
        tls_cipher: cipher,
        outcome,
        dsn: kv.dsn,
        status: None,
        detail: Some(kv.outcome),
        input: at.input,
        line: at.line,
        emitted_at: at.line,
        text: at.text,
    });
}

/// The hasher of a map keyed by a process key's hash (from phase A, already well mixed): the
/// hash turned by half a word, since its low bits pick the partition and so are alike within
/// one, and a map's bucket is picked by the low bits.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHashHasher(u64);

impl std::hash::Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // not used by `u64` keys; any mixing will do
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v.rotate_left(32);
    }
}

type ProcessMap =
    std::collections::HashMap<u64, PostfixState, std::hash::BuildHasherDefault<KeyHashHasher>>;

/// Correlation state for one partition of keys, kept across batches of a scan. Aligned to 128
/// bytes, so that the states of partitions that two threads walk side by side share no cache
/// line (see `Queue`).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PartitionState {
    /// Postfix processes by the hash of their key (each state holds its whole key).
    postfix: ProcessMap,
    /// Processes whose key hash is taken by another process (a 64-bit collision).
    postfix_collided: HashMap<Key, PostfixState>,
    pub exim: HashMap<String, EximState>,
    /// The latest log time among the events of every partition since the last place where
    /// process states expire (`None` for no event): that expiry's clock.
    pub(crate) window: Option<i64>,
}

/// Whether `key` is `host` 0x1f `prog` 0x1f `pid`.
fn key_is(key: &str, host: &str, prog: &str, pid: &str) -> bool {
    let k = key.as_bytes();
    let (h, p) = (host.len(), prog.len());
    k.len() == h + p + pid.len() + 2
        && same_bytes(&k[..h], host.as_bytes())
        && k[h] == 0x1f
        && same_bytes(&k[h + 1..h + 1 + p], prog.as_bytes())
        && k[h + 1 + p] == 0x1f
        && same_bytes(&k[h + 2 + p..], pid.as_bytes())
}

impl PartitionState {
    /// The state of the Postfix process `host`/`prog`/`pid`, whose key hashes to `hash`.
    pub fn postfix_process(
        &mut self,
        hash: u64,
        host: &str,
        prog: &str,
        pid: &str,
    ) -> &mut PostfixState {
        let key = || {
            let mut k = String::with_capacity(host.len() + prog.len() + pid.len() + 2);
            for (i, part) in [host, prog, pid].into_iter().enumerate() {
                if i > 0 {
                    k.push('\u{1f}');
                }
                k.push_str(part);
            }
            Key::new(&k)
        };
        match self.postfix.entry(hash) {
            Entry::Occupied(o) if key_is(o.get().key.as_str(), host, prog, pid) => {
                return o.into_mut()
            }
            Entry::Occupied(_) => {}
            // a process that collided stays where it is when the slot's owner has expired
            Entry::Vacant(v)
                if self.postfix_collided.is_empty()
                    || !self.postfix_collided.contains_key(&key()) =>
            {
                return v.insert(PostfixState {
                    key: key(),
                    ..PostfixState::default()
                })
            }
            Entry::Vacant(_) => {}
        }
        let key = key();
        self.postfix_collided
            .entry(key.clone())
            .or_insert_with(|| PostfixState {
                key,
                ..PostfixState::default()
            })
    }

    /// The Postfix process states for which `pick` holds, in key order (for deterministic
    /// flushing).
    fn postfix_in_order(&mut self, pick: impl Fn(&PostfixState) -> bool) -> Vec<&mut PostfixState> {
        let mut v: Vec<&mut PostfixState> = self
            .postfix
            .values_mut()
            .chain(self.postfix_collided.values_mut())
            .filter(|s| pick(s))
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Drop the state of processes silent for [`PROCESS_EXPIRY`] before `now` (log time),
    /// reporting their pending attempts. Where log time only moves forward, results do not
    /// depend on when this runs: an expired state is reset on its next event anyway. A log
    /// that goes back by more than the expiry can bring a dropped process back within it, so
    /// the scan runs this at places that the input defines (`ScanOptions::expiry_bytes`),
    /// never where a batch, a chunk or a thread's share happens to end.
    /// `reached` is where the scan stands (as [`Emit::unmatched`] takes it).
    pub fn expire(&mut self, now: i64, reached: (u32, u64), out: &mut dyn Emit) {
        for s in self.postfix_in_order(|s| s.expired(now)) {
            s.finish(out, reached);
        }
        self.postfix.retain(|_, s| !s.expired(now));
        self.postfix_collided.retain(|_, s| !s.expired(now));
    }

    /// Flush what is still pending at the end of the input.
    pub fn finish(&mut self, out: &mut dyn Emit) {
        for s in self.postfix_in_order(|_| true) {
            s.finish_pending(out, true, AFTER_ALL_INPUT);
        }
        self.postfix.clear();
        self.postfix_collided.clear();
        self.exim.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sink;
    impl Emit for Sink {
        fn attempt(&mut self, _: &AttemptRef<'_>) {}
        fn problem(&mut self, _: u32, _: u64, _: &'static str, _: &str) {}
    }

    /// A TLSRPT `tlsa_invalid` line says the TLSA records were unusable: Postfix went on
    /// without DANE, so a message sent over that connection is not DANE, and a deferral for
    /// another reason (greylisting) is no `tlsa-unusable` failure.
    #[test]
    fn unusable_tlsa_refuses_nothing() {
        let l = |pid: u32, m: &str| format!("2026-11-01T10:00:00Z h postfix/smtp[{pid}]: {m}\n");
        let tls = |pid, h: &str| {
            l(pid, &format!("Untrusted TLS connection established to {h}[192.0.2.1]:25: TLSv1.3 with cipher X (256/256 bits)"))
        };
        let rpt = |pid, h: &str| {
            l(pid, &format!("TLSRPT: status=failure, domain=x, receiving_mx={h}[192.0.2.1], failure_type=tlsa_invalid"))
        };
        let log = [
            tls(700, "mx.r.example"),
            rpt(700, "mx.r.example"),
            l(700, "ABC010: to=<u@r.example>, relay=mx.r.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"),
            rpt(601, "mx.s.example"),
            tls(601, "mx.s.example"),
            l(601, "ABC011: to=<u@s.example>, relay=mx.s.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=4.2.0, status=deferred (host mx.s.example[192.0.2.1] said: 450 4.2.0 Greylisted (in reply to RCPT TO command))"),
        ]
        .concat();
        let (a, _) = crate::scan::trace(&log, &crate::scan::ScanOptions::default()).unwrap();
        let got: Vec<DaneOutcome> = a.iter().map(|x| x.outcome).collect();
        assert_eq!(got, [DaneOutcome::NotDane, DaneOutcome::NotDane]);
    }

    /// Queue ids of both Postfix shapes and of every length keep distinct keys.
    #[test]
    fn queue_id_keys_keep_ids_apart() {
        let mut keys = std::collections::HashSet::new();
        let mut n = 0;
        for i in 0u64..20_000 {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let short = format!("{:X}", x >> 24);
            let long = format!("3xm4g1{:x}Hz{}", x, i % 97);
            for q in [
                short.as_str(),
                &short[..short.len().min(7)],
                long.as_str(),
                &long[..long.len().min(24)],
            ] {
                n += 1;
                keys.insert((q.to_string(), qid_key(q)));
            }
        }
        let ids: std::collections::HashSet<&String> = keys.iter().map(|k| &k.0).collect();
        let distinct: std::collections::HashSet<u64> = keys.iter().map(|k| k.1).collect();
        assert!(n >= ids.len());
        assert_eq!(distinct.len(), ids.len());
    }

    /// A connection's lines belong to the deliveries over it: another message's delivery
    /// without `conn_use=` had a connection of its own (found by a review: a timeout twenty
    /// minutes later inherited an old num=65 and counted as a DANE failure); a non-final note
    /// takes the connection only when it is to the host the note names.
    #[test]
    fn a_used_connection_is_not_the_next_messages() {
        use crate::model::FailureClass::CertMismatch;
        let p = |t: &str, m: &str| format!("2026-11-01T10:{t}Z h postfix/smtp[1001]: {m}\n");
        let to = |q: &str, r: &str, tail: &str| {
            format!("{q}: to=<{r}>, relay=mx.nc.example[192.0.2.3]:25, {tail}delay=1, delays=0/0/0/1, dsn=4.7.5, status=deferred (Server certificate not verified)")
        };
        let log = [
            p("00:00", "CA certificate verification failed for mx.nc.example[192.0.2.3]:25: num=65:no matching DANE TLSA records"),
            p("00:00", "Untrusted TLS connection established to mx.nc.example[192.0.2.3]:25: TLSv1.3 with cipher X (256/256 bits)"),
            p("00:00", &to("ABF003", "u@nc.example", "")),
            // the same message's next recipient, on the same connection
            p("00:01", &to("ABF003", "v@nc.example", "")),
            // another message, later: a connection of its own that timed out
            p("20:00", "ABF004: to=<v@nc.example>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.nc.example[192.0.2.3]:25: Connection timed out)"),
            // another message over the cached connection: conn_use= says so
            p("21:00", &to("ABF006", "x@nc.example", "conn_use=2, ")),
            // a note naming another host than the connection's
            p("22:00", "ABF005: TLS is required, but was not offered by host mx1.ne.example[192.0.2.9]"),
            p("22:01", "ABF005: to=<u@ne.example>, relay=mx2.ne.example[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"),
        ]
        .concat();
        let opts = crate::scan::ScanOptions {
            tls_level: crate::classify::TlsLevel::May,
            ..crate::scan::ScanOptions::default()
        };
        let (a, _) = crate::scan::trace(&log, &opts).unwrap();
        let got: Vec<(&str, Option<&str>, DaneOutcome)> = a
            .iter()
            .map(|x| (x.domain.as_str(), x.mx_host.as_deref(), x.outcome))
            .collect();
        let nc = Some("mx.nc.example");
        assert_eq!(
            got,
            [
                ("nc.example", nc, DaneOutcome::Failed(CertMismatch)),
                ("nc.example", nc, DaneOutcome::Failed(CertMismatch)),
                ("nc.example", nc, DaneOutcome::Unknown),
                ("nc.example", nc, DaneOutcome::Failed(CertMismatch)),
                ("ne.example", Some("mx1.ne.example"), DaneOutcome::Unknown),
                ("ne.example", Some("mx2.ne.example"), DaneOutcome::NotDane),
            ]
        );
    }

    proptest::proptest! {
        /// The shortcuts for `<local@domain>` give what the general trims give.
        #[test]
        fn recipient_shortcuts_match_the_trims(s in "[<>@a-z. \t\u{a0}é]{0,12}") {
            proptest::prop_assert_eq!(
                recipient_domain(&s),
                crate::domain::domain_of_address(&s).unwrap_or("")
            );
            proptest::prop_assert_eq!(
                strip_angles(&s),
                s.trim_start_matches('<').trim_end_matches('>')
            );
        }

        /// A buffer that copies only changed text still reads back what was set last.
        #[test]
        fn buffers_read_back_what_was_set(
            vals in proptest::collection::vec(proptest::option::of("[ab]{0,3}"), 0..8),
        ) {
            let mut b = Buf::default();
            let mut host = String::new();
            for v in &vals {
                b.set(v.as_deref());
                proptest::prop_assert_eq!(b.get(), v.as_deref());
                copy_if_new(&mut host, v.as_deref().unwrap_or(""));
                proptest::prop_assert_eq!(host.as_str(), v.as_deref().unwrap_or(""));
            }
        }
    }

    /// Two processes whose keys share a hash keep separate states; the same process finds its
    /// own state again.
    #[test]
    fn processes_with_colliding_hashes_stay_apart() {
        let procs = [
            ("postfix/smtp", "100", 7),
            ("postfix/smtp", "101", 9),
            ("postfix/smt", "p100", 11),
        ];
        let mut p = PartitionState::default();
        let time_of = |p: &mut PartitionState, (prog, pid, _): (&str, &str, i64)| {
            p.postfix_process(42, "mail01", prog, pid).last_time
        };
        for (prog, pid, t) in procs {
            p.postfix_process(42, "mail01", prog, pid).last_time = t;
        }
        for proc in procs {
            assert_eq!(time_of(&mut p, proc), proc.2);
        }
        assert_eq!(p.postfix.len() + p.postfix_collided.len(), 3);
        // the owner of hash 42 (the first) expires: the others keep their states all the same
        let owner = p.postfix.get(&42).map(|s| s.key.clone()).unwrap();
        assert_eq!(owner.as_str(), "mail01\u{1f}postfix/smtp\u{1f}100");
        p.postfix_process(42, "mail01", "postfix/smtp", "100")
            .last_time = -PROCESS_EXPIRY * 10;
        p.expire(0, (0, 0), &mut Sink);
        assert!(p.postfix.is_empty());
        for proc in &procs[1..] {
            assert_eq!(time_of(&mut p, *proc), proc.2);
        }
        assert_eq!(p.postfix.len() + p.postfix_collided.len(), 2);
        assert!(key_is("a\u{1f}b\u{1f}c", "a", "b", "c"));
        assert!(!key_is("a\u{1f}b\u{1f}c", "a", "b", "cd"));
        assert!(!key_is("ab\u{1f}\u{1f}c", "a", "b", "c"));
    }
}
