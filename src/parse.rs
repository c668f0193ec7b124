//! Message parsers: turn the message part of a Postfix, Exim or key=value line into an event.
//!
//! Zero-copy: events borrow from the line. Nothing here allocates on the common path.

use crate::bytesearch;
use crate::grammar::{KeyValueGrammar, PostfixGrammar};
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// Position of the two-byte pattern `ab` in `s`.
#[inline]
pub fn find2(s: &str, a: u8, b: u8) -> Option<usize> {
    bytesearch::find_pair(s.as_bytes(), a, b)
}

/// Position of the ASCII byte `b` in `s` (see [`bytesearch`]: cheaper than `str::find` with a
/// `char`, and than memchr over the short distances inside a line).
#[inline]
pub fn find1(s: &str, b: u8) -> Option<usize> {
    bytesearch::find(s.as_bytes(), b)
}

/// `s[a..b]`, or `""` when `a..b` does not cut `s` at char boundaries. Inline, unlike `str`
/// indexing (whose `get` the compiler keeps out of line): the hot paths cut lines at the
/// positions of ASCII bytes many times per line.
///
/// `ASCII` says that `s` is all ASCII, so that no boundary needs a check: the functions of
/// this module that take it pass it on unchanged, and it is `true` only below
/// [`postfix_message_ascii`], whose caller promises an ASCII message.
#[inline(always)]
fn cut<const ASCII: bool>(s: &str, a: usize, b: usize) -> &str {
    match s.as_bytes().get(a..b) {
        Some(sub) if ASCII => {
            debug_assert!(s.is_ascii());
            // SAFETY: `s` is ASCII (see above), and any byte range of ASCII text is valid
            // UTF-8.
            unsafe { std::str::from_utf8_unchecked(sub) }
        }
        Some(sub) if s.is_char_boundary(a) && s.is_char_boundary(b) => {
            // SAFETY: `s` is valid UTF-8 and `a` and `b` are char boundaries of it (checked
            // just above), so the bytes between them are valid UTF-8 too.
            unsafe { std::str::from_utf8_unchecked(sub) }
        }
        _ => "",
    }
}

/// `s[a..]`, as [`cut`] makes it.
#[inline(always)]
fn cut_from<const ASCII: bool>(s: &str, a: usize) -> &str {
    cut::<ASCII>(s, a, s.len())
}

/// [`find1`] with the first 16 bytes searched inline, for a byte that mostly lies there.
#[inline(always)]
fn find1_near(s: &str, b: u8) -> Option<usize> {
    match bytesearch::find_near(s.as_bytes(), b) {
        Some(i) => Some(i),
        None => find1(s, b),
    }
}

/// Last position of the ASCII byte `b` in `s`.
#[inline]
pub fn rfind1(s: &str, b: u8) -> Option<usize> {
    bytesearch::rfind(s.as_bytes(), b)
}

/// Whether `a` and `b` hold the same bytes. For the short names of log lines this is faster
/// than `==`, which calls libc's `memcmp`: it compares at most two pairs of overlapping words
/// that together cover every byte.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    /// Equal when `N <= len <= 2N`: the first and last `N` bytes overlap or meet.
    #[inline(always)]
    fn ends<const N: usize>(a: &[u8], b: &[u8]) -> bool {
        a.first_chunk::<N>() == b.first_chunk::<N>() && a.last_chunk::<N>() == b.last_chunk::<N>()
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a.first() == b.first() && a.get(n / 2) == b.get(n / 2) && a.last() == b.last(),
        4..=7 => ends::<4>(a, b),
        8..=16 => ends::<8>(a, b),
        17..=32 => ends::<16>(a, b),
        _ => a == b,
    }
}

/// [`same_bytes`] for strings.
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

macro_rules! finder {
    ($name:ident, $text:expr) => {
        static $name: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new($text));
    };
}

finder!(TLS_CONNECTION, " TLS connection ");
finder!(VERIFY_FAILED, "certificate verification failed for ");
finder!(DELIVERY_STATUS, ", status=");
finder!(WITH_CIPHER, " with cipher ");
finder!(TLSA_NAME, "name=_");
finder!(TCP_LABEL, "._tcp.");
finder!(EXIM_HOST, " H=");
finder!(EXIM_TLS, " X=");
finder!(EXIM_CV, " CV=");
finder!(EXIM_TLS_TO, "TLS connection to ");

#[inline]
fn find_with(f: &Finder<'_>, s: &str) -> Option<usize> {
    f.find(s.as_bytes())
}

/// The first occurrence of `pat` (which starts with a space, and whose finder is `f`) in `s`.
/// It mostly follows the first word ("Verified TLS connection", "TLSv1.3 with cipher"), so
/// that place is tried first; no earlier occurrence can exist, as it would hold an earlier
/// space. Elsewhere the finder searches the whole text.
#[inline(always)]
fn find_after_first_word(s: &str, pat: &str, f: &Finder<'_>) -> Option<usize> {
    match find1_near(s, b' ') {
        Some(i) if s.as_bytes()[i..].starts_with(pat.as_bytes()) => Some(i),
        _ => find_with(f, s),
    }
}

/// A connection target `host[addr]:port` as Postfix writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Target<'a> {
    pub host: &'a str,
    pub addr: Option<&'a str>,
    pub port: Option<u16>,
}

impl<'a> Target<'a> {
    /// A target known only by its host name.
    pub fn host_only(host: &'a str) -> Target<'a> {
        Target {
            host,
            addr: None,
            port: None,
        }
    }
}

/// Parse `host[addr]:port`, `host[addr]` or `host`; returns the target and the rest of `s`.
pub fn parse_target(s: &str) -> Option<(Target<'_>, &str)> {
    target_of::<false>(s)
}

/// The port of `:digits` at `at` in `b` and where it ends; no port (and `at`) when none
/// stands there. Digits are read as `u16::from_str` reads them: more than 65535 is no port,
/// though its digits are passed all the same.
#[inline(always)]
fn port_after(b: &[u8], at: usize) -> (Option<u16>, usize) {
    if b.get(at) != Some(&b':') {
        return (None, at);
    }
    let mut n = at + 1;
    let mut v = 0u32;
    while let Some(&c) = b.get(n) {
        if !c.is_ascii_digit() {
            break;
        }
        v = (v * 10 + u32::from(c - b'0')).min(1 << 16);
        n += 1;
    }
    if n > at + 1 {
        (u16::try_from(v).ok(), n)
    } else {
        (None, at)
    }
}

/// [`parse_target`], inline: in the hot paths the target then stays in registers.
#[inline(always)]
fn target_of<const ASCII: bool>(s: &str) -> Option<(Target<'_>, &str)> {
    // a host name ends at a space, comma, colon or bracket
    let b = s.as_bytes();
    let mut end_host = bytesearch::find_any(b, [b' ', b',', b':', b'[']).unwrap_or(b.len());
    if b.get(end_host) == Some(&b':') {
        end_host = ipv6_host_end(b).unwrap_or(end_host);
    }
    if end_host == 0 {
        return None;
    }
    // (every cut below is at an ASCII byte that a search or compare found, or at the end)
    let host = cut::<ASCII>(s, 0, end_host);
    if b.get(end_host) != Some(&b'[') {
        return Some((Target::host_only(host), cut_from::<ASCII>(s, end_host)));
    }
    let close = end_host + find1_near(cut_from::<ASCII>(s, end_host), b']')?;
    let addr = cut::<ASCII>(s, end_host + 1, close);
    let (port, end) = port_after(b, close + 1);
    let rest = cut_from::<ASCII>(s, end);
    Some((
        Target {
            host,
            addr: Some(addr),
            port,
        },
        rest,
    ))
}

/// Where a host that is an IPv6 address ends, at the `[` after it: Postfix names a relay
/// reached by address by the address (`relay=2001:db8::25[2001:db8::25]:25`), whose colons
/// are no port's. `None` when what comes before the first `[` is no IPv6 address.
#[cold]
fn ipv6_host_end(b: &[u8]) -> Option<usize> {
    // (the longest IPv6 text, with an IPv4 tail, has 45 bytes)
    let open = b.iter().take(46).position(|&c| c == b'[')?;
    let host = std::str::from_utf8(b.get(..open)?).ok()?;
    host.parse::<std::net::Ipv6Addr>().is_ok().then_some(open)
}

/// Trust level of a Postfix TLS summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Verified,
    Trusted,
    Untrusted,
    Anonymous,
    /// Pre-2.5 shape without a trust word.
    Unstated,
}

/// The fields of a Postfix delivery (`to=`) line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub qid: &'a str,
    pub to: &'a str,
    /// `None` for `relay=none`.
    pub relay: Option<Target<'a>>,
    pub conn_use: Option<u32>,
    /// The Postfix 3.11 `tls=` field.
    pub tls: Option<&'a str>,
    pub dsn: Option<&'a str>,
    pub status: &'a str,
    /// The text in parentheses after the status word.
    pub text: &'a str,
}

/// A Postfix smtp/lmtp message, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostfixEvent<'a> {
    /// `<Trust> TLS connection established to host[addr]:port: proto with cipher c ...`
    Summary {
        trust: Trust,
        target: Target<'a>,
        proto: Option<&'a str>,
        cipher: Option<&'a str>,
    },
    /// `certificate verification failed for host[addr]:port: text`
    VerifyFailed {
        target: Target<'a>,
        dane: bool,
        text: &'a str,
    },
    /// `warning: DANE TLSA lookup problem: ... name=_25._tcp.HOST type=TLSA ...`
    TlsaProblem { host: &'a str, text: &'a str },
    /// `warning: TLS policy lookup for domain/host: text`
    PolicyProblem {
        domain: &'a str,
        host: &'a str,
        text: &'a str,
    },
    /// `SSL_connect error to host[addr]:port: text`
    SslError { target: Target<'a>, text: &'a str },
    /// `warning: TLS library problem: text`
    TlsLibrary { text: &'a str },
    /// `setting up TLS connection to host[addr]:port`
    SettingUp { target: Target<'a> },
    /// `TLSRPT: status=..., domain=..., receiving_mx=host[addr], failure_type=...`
    Tlsrpt {
        success: bool,
        domain: &'a str,
        mx: Target<'a>,
        failure_type: Option<&'a str>,
        text: &'a str,
    },
    /// `QID: to=<...>, relay=..., ..., status=word (text)`
    Delivery(Delivery<'a>),
    /// `QID: text` without fields: a non-final-MX outcome or other per-message note.
    QueueNote { qid: &'a str, text: &'a str },
    /// A line of the delivery agent that does not matter for DANE.
    Other,
}

/// Byte classes of queue-id characters: bit 0, a short-id character (digit or `A`–`F`);
/// bit 1, a long-id character (letter or digit other than a vowel); bit 2, the `X` or `x` of an
/// id anonymised as a run of them.
static QID_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let short = b.is_ascii_digit() || (b >= b'A' && b <= b'F');
        let vowel = matches!(
            b,
            b'a' | b'e' | b'i' | b'o' | b'u' | b'A' | b'E' | b'I' | b'O' | b'U'
        );
        let long = b.is_ascii_alphanumeric() && !vowel;
        let anonymised = b == b'X' || b == b'x';
        t[c] = (short as u8) | ((long as u8) << 1) | ((anonymised as u8) << 2);
        c += 1;
    }
    t
};

/// Postfix queue ids: short ones are upper-case hex; long ones (`enable_long_queue_ids`) are
/// 12+ letters and digits without vowels; an anonymised one is a run of `X` (or `x`).
#[cfg(test)]
fn is_qid(s: &str) -> bool {
    if !(5..=24).contains(&s.len()) {
        return false;
    }
    let class = s.bytes().fold(7u8, |acc, c| acc & QID_CLASS[c as usize]);
    qid_by_class(s.len(), class)
}

/// Whether `n` characters whose classes AND to `class` make a queue id (`n` in 5..=24).
#[inline(always)]
fn qid_by_class(n: usize, class: u8) -> bool {
    let short = n <= 20 && class & 1 != 0;
    let long = n >= 12 && class & 2 != 0;
    short || long || class & 4 != 0
}

/// The queue id that `m` starts with, and the text after its `": "`. The id's characters are
/// classed while they are looked for: it ends at the first character that no id holds, which
/// must be the `:` of `": "`. (So a queue-id line is what [`is_qid`] accepts before the first
/// `": "`: any earlier `:` would end the scan, and ids are at most 24 characters.)
#[inline(always)]
fn qid_prefix<const ASCII: bool>(m: &str) -> Option<(&str, &str)> {
    let b = m.as_bytes();
    // mostly the id is shorter than 16 characters, and its ": " (the first) in the first block
    if let Some(n) = bytesearch::find_pair_near(b, b':', b' ') {
        if n < 5 {
            return None;
        }
        // mostly a short id, all upper-case hex: then it is one (n < 16 <= 20)
        let all = (1u32 << n) - 1;
        if let Some(block) = b.first_chunk::<16>() {
            if bytesearch::ranges_mask16(block, [(b'0', b'9'), (b'A', b'F')]) & all == all {
                return Some((cut::<ASCII>(m, 0, n), cut_from::<ASCII>(m, n + 2)));
            }
        }
        let class = b[..n]
            .iter()
            .fold(7u8, |acc, &c| acc & QID_CLASS[c as usize]);
        return qid_by_class(n, class)
            .then(|| (cut::<ASCII>(m, 0, n), cut_from::<ASCII>(m, n + 2)));
    }
    let mut class = 7u8;
    let mut n = 0;
    while n < 25 {
        let c = match b.get(n) {
            Some(&c) => QID_CLASS[c as usize],
            None => 0,
        };
        if c == 0 {
            break;
        }
        class &= c;
        n += 1;
    }
    if !(5..=24).contains(&n) || b.get(n) != Some(&b':') || b.get(n + 1) != Some(&b' ') {
        return None;
    }
    qid_by_class(n, class).then(|| (cut::<ASCII>(m, 0, n), cut_from::<ASCII>(m, n + 2)))
}

/// The keys of a delivery line that [`parse_delivery`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeliveryKey {
    To,
    Relay,
    ConnUse,
    Tls,
    Dsn,
    Status,
    Other,
}

/// The first bytes of `p` (at most 8) as a little-endian word, and the mask of those bytes.
const fn prefix_word(p: &[u8]) -> (u64, u64) {
    let mut v = 0u64;
    let mut i = 0;
    while i < p.len() && i < 8 {
        v |= (p[i] as u64) << (8 * i);
        i += 1;
    }
    let mask = if i == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * i)) - 1
    };
    (v, mask)
}

/// The key at the start of `s` and the position of its `=`. The keys that Postfix writes are
/// told by `s`'s first 8 bytes, compared as one word with each key and its `=` (no key holds a
/// `=`, so that `=` is the first); other keys, and lines shorter than 8 bytes, through a
/// search for the `=`.
#[inline(always)]
fn delivery_key(s: &str) -> Option<(DeliveryKey, usize)> {
    use DeliveryKey::*;
    if let Some(w) = s.as_bytes().first_chunk::<8>() {
        let w = u64::from_le_bytes(*w);
        macro_rules! known {
            ($($text:literal => $key:expr),* $(,)?) => {
                $(
                    const { assert!($text.len() <= 8) };
                    let (v, m) = const { prefix_word($text) };
                    if w & m == v {
                        return Some(($key, $text.len() - 1));
                    }
                )*
            };
        }
        // in the order Postfix writes them; "delay=" is no prefix of "delays="
        known!(b"to=" => To, b"relay=" => Relay, b"delay=" => Other, b"delays=" => Other,
            b"tls=" => Tls, b"dsn=" => Dsn, b"status=" => Status, b"orig_to=" => Other);
    }
    let eq = find1(s, b'=')?;
    let key = match &s[..eq] {
        "to" => To,
        "relay" => Relay,
        "conn_use" => ConnUse,
        "tls" => Tls,
        "dsn" => Dsn,
        "status" => Status,
        _ => Other,
    };
    Some((key, eq))
}

/// The end of the value at `s[from..]`: the position of the first `", "`, as
/// [`parse_delivery`] finds it. `None` also for a value that starts with `<`, which that
/// parser ends otherwise.
#[inline(always)]
fn value_end(s: &[u8], from: usize) -> Option<usize> {
    let v = s.get(from..)?;
    if v.first() == Some(&b'<') {
        return None;
    }
    Some(from + bytesearch::find_pair(v, b',', b' ')?)
}

/// A delivery line in the order Postfix writes its fields,
/// `to=<..>, relay=.., delay=.., delays=.., [tls=.., ]dsn=.., status=word (text)`, read in one
/// forward pass. `None` when the line deviates from that shape (`orig_to=`, `conn_use=`, a
/// value without `<`, a missing field...): the general [`parse_delivery`] then decides. Where
/// it gives `Some`, it is what [`parse_delivery`] gives (the proptests hold it to that).
#[inline]
fn delivery_fast<'a, const ASCII: bool>(qid: &'a str, s: &'a str) -> Option<Delivery<'a>> {
    let b = s.as_bytes();
    // `to=<`: the value ends at the first ">," (which must be followed by a space)
    if !b.starts_with(b"to=<") {
        return None;
    }
    let gt = 3 + bytesearch::find_pair(b.get(3..)?, b'>', b',')?;
    if b.get(gt + 2) != Some(&b' ') {
        return None;
    }
    // (every cut below is at an ASCII byte that a search or compare found)
    let to = cut::<ASCII>(s, 3, gt + 1);
    let mut at = gt + 3;
    let field = |at: usize, key: &[u8]| b.get(at..).is_some_and(|r| r.starts_with(key));
    if !field(at, b"relay=") {
        return None;
    }
    let (relay, end) = match relay_in_place::<ASCII>(s, at + 6) {
        Some(r) => r,
        None => {
            let end = value_end(b, at + 6)?;
            let relay_text = cut::<ASCII>(s, at + 6, end);
            let relay = if relay_text == "none" {
                None
            } else {
                target_of::<ASCII>(relay_text).map(|(t, _)| t)
            };
            (relay, end)
        }
    };
    at = end + 2;
    if !field(at, b"delay=") {
        return None;
    }
    at = value_end(b, at + 6)? + 2;
    if !field(at, b"delays=") {
        return None;
    }
    at = value_end(b, at + 7)? + 2;
    let mut tls = None;
    if field(at, b"tls=") {
        let end = value_end(b, at + 4)?;
        tls = Some(cut::<ASCII>(s, at + 4, end));
        at = end + 2;
    }
    if !field(at, b"dsn=") {
        return None;
    }
    let end = value_end(b, at + 4)?;
    let dsn = Some(cut::<ASCII>(s, at + 4, end));
    at = end + 2;
    if !field(at, b"status=") {
        return None;
    }
    let after = cut_from::<ASCII>(s, at + 7);
    let a = after.as_bytes();
    // mostly `word (text)`: then no white space to trim, and the text ends at the last byte
    let (status, text) = match bytesearch::find_near(a, b' ') {
        Some(i) if a.get(i + 1) == Some(&b'(') && a.last() == Some(&b')') && a.len() >= i + 3 => (
            cut::<ASCII>(after, 0, i),
            cut::<ASCII>(after, i + 2, a.len() - 1),
        ),
        _ => status_text(after),
    };
    if status.is_empty() {
        return None;
    }
    Some(Delivery {
        qid,
        to,
        relay,
        conn_use: None,
        tls,
        dsn,
        status,
        text,
    })
}

/// The relay value at `s[v..]` and its end (the position of the `", "` after it), read where
/// it stands: `none`, or a target `host[addr]:port` parsed as [`target_of`] parses the value,
/// but without first searching the value's end. That end is where the target ends, when a
/// `", "` follows it there and none lies inside it: the host holds no `,` (it ends at one),
/// nor does the port; the address is searched for `]` and `,` together. `None` for anything
/// else (a `,` in the address, text after the target, a value starting with `<`): then the
/// caller finds the value's end and parses the value.
#[inline(always)]
fn relay_in_place<const ASCII: bool>(s: &str, v: usize) -> Option<(Option<Target<'_>>, usize)> {
    let b = s.as_bytes();
    let r = b.get(v..)?;
    if r.first() == Some(&b'<') {
        return None;
    }
    if r.starts_with(b"none, ") {
        return Some((None, v + 4));
    }
    let mut end_host = bytesearch::find_any(r, [b' ', b',', b':', b'['])?;
    if r.get(end_host) == Some(&b':') {
        end_host = ipv6_host_end(r).unwrap_or(end_host);
    }
    if end_host == 0 || r.get(end_host) != Some(&b'[') {
        // a host alone: its value ends where the host does, when a ", " follows
        return (end_host > 0 && r.get(end_host..end_host + 2) == Some(b", ")).then(|| {
            (
                Some(Target::host_only(cut::<ASCII>(s, v, v + end_host))),
                v + end_host,
            )
        });
    }
    let a = r.get(end_host + 1..)?;
    let close = match bytesearch::find_near(a, b']') {
        // the first `]`, with no `,` before it
        Some(i) if bytesearch::find_near(a, b',').is_none_or(|c| c > i) => end_host + 1 + i,
        _ => end_host + 1 + bytesearch::find_any(a, [b']', b','])?,
    };
    if r.get(close) != Some(&b']') {
        return None;
    }
    // the port as `target_of` reads it
    let (port, end) = port_after(r, close + 1);
    if r.get(end..end + 2) != Some(b", ") {
        return None;
    }
    let t = Target {
        host: cut::<ASCII>(s, v, v + end_host),
        addr: Some(cut::<ASCII>(s, v + end_host + 1, v + close)),
        port,
    };
    Some((Some(t), v + end))
}

/// The status word and the text in its parentheses, from what follows `status=`.
#[inline(always)]
fn status_text(after: &str) -> (&str, &str) {
    let (word, tail) = match find1(after, b' ') {
        Some(i) => (&after[..i], after[i + 1..].trim_start()),
        None => (after, ""),
    };
    let text = match (find1(tail, b'('), rfind1(tail, b')')) {
        (Some(a), Some(b)) if b > a => &tail[a + 1..b],
        _ => tail,
    };
    (word, text)
}

/// Split "key=value, key=value, ..., status=word (text)" into a delivery.
fn parse_delivery<'a>(qid: &'a str, s: &'a str) -> Option<Delivery<'a>> {
    let mut d = Delivery {
        qid,
        to: "",
        relay: None,
        conn_use: None,
        tls: None,
        dsn: None,
        status: "",
        text: "",
    };
    let mut rest = s;
    let mut seen_relay = false;
    loop {
        let (key, eq) = delivery_key(rest)?;
        let after = &rest[eq + 1..];
        if key == DeliveryKey::Status {
            (d.status, d.text) = status_text(after);
            break;
        }
        let (value, next) = if after.starts_with('<') {
            match find2(after, b'>', b',').filter(|&i| after.as_bytes().get(i + 2) == Some(&b' ')) {
                Some(i) => (&after[..=i], &after[i + 3..]),
                None => return None,
            }
        } else {
            match find2(after, b',', b' ') {
                Some(i) => (&after[..i], &after[i + 2..]),
                None => return None,
            }
        };
        match key {
            DeliveryKey::To => d.to = value,
            DeliveryKey::Relay => {
                seen_relay = true;
                if value != "none" {
                    d.relay = parse_target(value).map(|(t, _)| t);
                }
            }
            DeliveryKey::ConnUse => d.conn_use = value.parse().ok(),
            DeliveryKey::Tls => d.tls = Some(value),
            DeliveryKey::Dsn => d.dsn = Some(value),
            DeliveryKey::Status | DeliveryKey::Other => {}
        }
        rest = next;
    }
    if d.to.is_empty() || !seen_relay || d.status.is_empty() {
        return None;
    }
    Some(d)
}

/// Parse the message of a Postfix delivery agent. `None` means the line is malformed (it looks
/// like a delivery line but its fields cannot be read).
pub fn postfix_message<'a>(g: &PostfixGrammar, m: &'a str) -> Option<PostfixEvent<'a>> {
    postfix_message_for(g, m, true)
}

/// [`postfix_message`], reading a TLS summary's protocol and cipher only when `tls_details`
/// holds (without, they are `None`; everything else is the same). Counting does not use them
/// (see `Emit::wants_tls_details`). Kept out of line, as [`postfix_message_ascii`]: inlined into
/// the scan's loop, its event was built aside and copied.
#[inline(never)]
pub fn postfix_message_for<'a>(
    g: &PostfixGrammar,
    m: &'a str,
    tls_details: bool,
) -> Option<PostfixEvent<'a>> {
    message::<false>(g, m, tls_details)
}

/// [`postfix_message_for`] for a message that is all ASCII (as most logs are): the same
/// result, without checking that each field is cut at char boundaries.
///
/// # Safety
/// `m` is all ASCII.
#[inline(never)]
pub unsafe fn postfix_message_ascii<'a>(
    g: &PostfixGrammar,
    m: &'a str,
    tls_details: bool,
) -> Option<PostfixEvent<'a>> {
    message::<true>(g, m, tls_details)
}

/// [`postfix_message_for`]; `ASCII` as for [`cut`].
#[inline(always)]
fn message<'a, const ASCII: bool>(
    g: &PostfixGrammar,
    m: &'a str,
    tls_details: bool,
) -> Option<PostfixEvent<'a>> {
    // queue-id lines first: they are the bulk of the traffic
    if let Some((qid, rest)) = qid_prefix::<ASCII>(m) {
        if rest.starts_with("to=") {
            // (each built where it is returned: an `Option<Delivery>` in between is copied)
            if let Some(d) = delivery_fast::<ASCII>(qid, rest) {
                return Some(PostfixEvent::Delivery(d));
            }
            return parse_delivery(qid, rest).map(PostfixEvent::Delivery);
        }
        if looks_like_delivery(rest) {
            // fields out of order, a doubled id: malformed, not a note to pass over
            return None;
        }
        return Some(PostfixEvent::QueueNote { qid, text: rest });
    }
    // "<Trust> TLS connection established to ..." and, for a resumed session, "... reused to"
    if let Some(i) = find_after_first_word(m, " TLS connection ", &TLS_CONNECTION) {
        // (cuts at the space the search found and after the ASCII text that follows it)
        let word = cut::<ASCII>(m, 0, i);
        let rest = cut_from::<ASCII>(m, i + " TLS connection ".len());
        // anything else ("established from": inbound; "setting up TLS connection to") falls through
        if let Some(rest) = rest
            .strip_prefix("established to ")
            .or_else(|| rest.strip_prefix("reused to "))
        {
            return summary_line::<ASCII>(g, word, rest, tls_details);
        }
    }
    if let Some(r) = m.strip_prefix("TLS connection established to ") {
        let (target, _) = parse_target(r)?;
        return Some(PostfixEvent::Summary {
            trust: Trust::Unstated,
            target,
            proto: None,
            cipher: None,
        });
    }
    postfix_other_lines(g, m)
}

fn summary_line<'a, const ASCII: bool>(
    g: &PostfixGrammar,
    word: &str,
    rest: &'a str,
    tls_details: bool,
) -> Option<PostfixEvent<'a>> {
    let is = |words: &[String]| words.iter().any(|w| same(w, word));
    let trust = if is(&g.summary_verified) {
        Trust::Verified
    } else if is(&g.summary_trusted) {
        Trust::Trusted
    } else if is(&g.summary_untrusted) {
        Trust::Untrusted
    } else if is(&g.summary_anonymous) {
        Trust::Anonymous
    } else {
        Trust::Unstated
    };
    let (target, tail) = target_of::<ASCII>(rest)?;
    if !tls_details {
        return Some(PostfixEvent::Summary {
            trust,
            target,
            proto: None,
            cipher: None,
        });
    }
    let tail = tail.strip_prefix(": ").unwrap_or(tail);
    let (proto, cipher) = match find_after_first_word(tail, " with cipher ", &WITH_CIPHER) {
        Some(w) => {
            // (cuts at the space found, after the ASCII pattern, and at the cipher's end)
            let c = cut_from::<ASCII>(tail, w + " with cipher ".len());
            let c = Some(cut::<ASCII>(c, 0, find1_near(c, b' ').unwrap_or(c.len())))
                .filter(|c| !c.is_empty());
            (Some(cut::<ASCII>(tail, 0, w)).filter(|p| !p.is_empty()), c)
        }
        None => (None, None),
    };
    Some(PostfixEvent::Summary {
        trust,
        target,
        proto,
        cipher,
    })
}

fn postfix_other_lines<'a>(g: &PostfixGrammar, m: &'a str) -> Option<PostfixEvent<'a>> {
    const VERIFY: &str = "certificate verification failed for ";
    // mostly the message starts with it (a search that finds nothing costs more than a
    // compare)
    let verify = match m.starts_with(VERIFY) {
        true => Some(0),
        false => find_with(&VERIFY_FAILED, m),
    };
    if let Some(i) = verify {
        let rest = &m[i + VERIFY.len()..];
        let (target, tail) = parse_target(rest)?;
        let text = tail.strip_prefix(": ").unwrap_or(tail);
        let dane = g.has_dane_evidence(text);
        return Some(PostfixEvent::VerifyFailed { target, dane, text });
    }
    if let Some(rest) = m.strip_prefix("warning: ") {
        if rest.starts_with("DANE TLSA lookup problem") {
            let host = find_with(&TLSA_NAME, rest)
                .map(|i| &rest[i + 5..])
                .map(|n| n.split([' ', ',']).next().unwrap_or(""))
                .map(strip_tlsa_owner)
                .unwrap_or("");
            return Some(PostfixEvent::TlsaProblem { host, text: rest });
        }
        if let Some(r) = rest.strip_prefix("TLS policy lookup for ") {
            let colon = r.find(": ")?;
            let dh = &r[..colon];
            let (domain, host) = match find1(dh, b'/') {
                Some(s) => (&dh[..s], &dh[s + 1..]),
                None => (dh, ""),
            };
            return Some(PostfixEvent::PolicyProblem {
                domain,
                host,
                text: &r[colon + 2..],
            });
        }
        if let Some(r) = rest.strip_prefix("TLS library problem: ") {
            return Some(PostfixEvent::TlsLibrary { text: r });
        }
        return Some(PostfixEvent::Other);
    }
    if let Some(r) = m.strip_prefix("SSL_connect error to ") {
        let (target, tail) = parse_target(r)?;
        return Some(PostfixEvent::SslError {
            target,
            text: tail.strip_prefix(": ").unwrap_or(tail),
        });
    }
    if let Some(r) = m.strip_prefix("setting up TLS connection to ") {
        let (target, _) = parse_target(r)?;
        return Some(PostfixEvent::SettingUp { target });
    }
    if let Some(r) = m.strip_prefix("TLSRPT: ") {
        return parse_tlsrpt(r);
    }
    if looks_like_delivery(m) {
        // a delivery line without a queue id in its place (a doubled tag, an id of another
        // shape): malformed, so that it is counted rather than passed over
        return None;
    }
    Some(PostfixEvent::Other)
}

/// Whether a message that did not parse as a delivery line still holds one's status field
/// (and recipient): no other line of a delivery agent holds `, status=`, which is searched
/// first with a prepared finder, as every queue note is asked.
fn looks_like_delivery(m: &str) -> bool {
    find_with(&DELIVERY_STATUS, m).is_some() && m.contains("to=<")
}

/// `_25._tcp.mx.example.com` (possibly with a trailing dot) → `mx.example.com`.
fn strip_tlsa_owner(n: &str) -> &str {
    let n = n.strip_suffix('.').unwrap_or(n);
    match n.strip_prefix('_') {
        Some(r) => match find_with(&TCP_LABEL, r) {
            Some(i) => &r[i + "._tcp.".len()..],
            None => n,
        },
        None => n,
    }
}

fn parse_tlsrpt(r: &str) -> Option<PostfixEvent<'_>> {
    let mut success = None;
    let mut domain = "";
    let mut mx = None;
    let mut failure_type = None;
    for part in r.split(", ") {
        let (k, v) = part.split_once('=')?;
        match k {
            "status" => success = Some(v == "success"),
            "domain" => domain = v,
            "receiving_mx" => mx = parse_target(v).map(|(t, _)| t),
            "failure_type" => failure_type = Some(v),
            _ => {}
        }
    }
    Some(PostfixEvent::Tlsrpt {
        success: success?,
        domain,
        mx: mx?,
        failure_type,
        text: r,
    })
}

/// Normalise a TLSRPT failure type: `TLSRPT_TLSA_INVALID` and `tlsa_invalid` → `tlsa_invalid`.
pub fn tlsrpt_type_key(t: &str) -> String {
    let l = t.to_ascii_lowercase();
    match l.strip_prefix("tlsrpt_") {
        Some(s) => s.to_string(),
        None => l,
    }
}

/// Which kind of Exim log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EximFlag {
    /// `=>` delivered (`->` additional address)
    Delivered,
    /// `==` deferred
    Deferred,
    /// `**` failed
    Failed,
}

/// An Exim message line (after the message id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EximEvent<'a> {
    Outcome {
        msgid: &'a str,
        flag: EximFlag,
        rcpt: &'a str,
        host: Option<Target<'a>>,
        /// `X=` cipher field.
        tls: Option<&'a str>,
        /// `CV=` value.
        cv: Option<&'a str>,
        /// Everything after the address: for `==`/`**` the error text.
        text: &'a str,
    },
    /// A per-message note (`H=host [ip]: DANE error: ...`, `DANE attempt failed; ...`).
    Note {
        msgid: &'a str,
        host: Option<Target<'a>>,
        text: &'a str,
    },
    Other,
}

/// Exim message ids: 16 (`1gzK7S-0007Td-Bt`) or 23 (`1wtYVW-0000000GFxD-3Ryp`) characters,
/// ASCII letters and digits with a `-` at 6 and at 13 or 18. Checked 16 bytes at a time.
pub fn is_exim_msgid(s: &str) -> bool {
    const ALNUM: [(u8, u8); 3] = [(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')];
    let b = s.as_bytes();
    let dash = match b.len() {
        16 => 13,
        23 => 18,
        _ => return false,
    };
    if b.get(6) != Some(&b'-') || b.get(dash) != Some(&b'-') {
        return false;
    }
    // letters and digits everywhere else: the first 16 bytes, then the last 16
    let (Some(head), Some(tail)) = (b.first_chunk::<16>(), b.last_chunk::<16>()) else {
        return false;
    };
    // (bit i of a mask is byte i of its block; the last 16 start at `off`, 0 or 7)
    let off = b.len() - 16;
    let in_head = 0xffff & !(1u32 << 6) & !(1u32 << dash);
    let in_tail = 0xffff & !(1u32 << (dash - off)) & if off == 0 { !(1u32 << 6) } else { !0 };
    let m = bytesearch::ranges_mask16(head, ALNUM);
    let t = bytesearch::ranges_mask16(tail, ALNUM);
    m & in_head == in_head && t & in_tail == in_tail
}

/// Exim's `H=host [ip]` (optionally `H=host [ip]:port`, `H=host DS [ip]`, `[ip]*`).
fn exim_host(s: &str) -> Option<Target<'_>> {
    let i = if s.starts_with("H=") {
        0
    } else {
        find_with(&EXIM_HOST, s)? + 1
    };
    let r = &s[i + 2..];
    let sp = find1(r, b' ')?;
    let host = &r[..sp];
    let mut after = &r[sp + 1..];
    if let Some(a) = after.strip_prefix("DS ") {
        after = a;
    }
    let addr = after
        .strip_prefix('[')
        .and_then(|a| find1(a, b']').map(|e| &a[..e]));
    let port = addr.and_then(|a| {
        let rest = &after[a.len() + 2..];
        let rest = rest.strip_prefix(':')?;
        let n = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
        rest[..n].parse().ok()
    });
    if host.is_empty() {
        return None;
    }
    Some(Target { host, addr, port })
}

/// The value of `key` (`X=`, `CV=`; `spaced` is the same after a space, as its finder looks
/// for it) where it starts `s` or a word of it: up to the next space.
fn exim_field<'a>(s: &'a str, key: &str, spaced: &Finder<'_>) -> Option<&'a str> {
    let at = match s.starts_with(key) {
        true => 0,
        false => find_with(spaced, s)? + 1,
    };
    let v = &s[at + key.len()..];
    Some(match find1(v, b' ') {
        Some(e) => &v[..e],
        None => v,
    })
}

/// The message id of an Exim line (the part after the timestamp, with an optional `[pid]`),
/// and what follows it: what [`exim_message`] reads first, for a line it does not give
/// [`EximEvent::Other`].
pub fn exim_msgid(m: &str) -> Option<(&str, &str)> {
    let m = if m.starts_with('[') {
        match bytesearch::find_pair(m.as_bytes(), b']', b' ') {
            Some(i) => &m[i + 2..],
            None => m,
        }
    } else {
        m
    };
    let i = find1(m, b' ')?;
    let (msgid, rest) = (&m[..i], &m[i + 1..]);
    is_exim_msgid(msgid).then_some((msgid, rest))
}

/// Parse the part of an Exim line after the timestamp (and an optional `[pid]`).
pub fn exim_message(m: &str) -> EximEvent<'_> {
    let Some((msgid, rest)) = exim_msgid(m) else {
        return EximEvent::Other;
    };
    let flag = match rest.get(..3) {
        Some("=> ") | Some("-> ") => Some(EximFlag::Delivered),
        Some("== ") => Some(EximFlag::Deferred),
        Some("** ") => Some(EximFlag::Failed),
        _ => None,
    };
    match flag {
        Some(flag) => {
            let body = rest[3..].trim_start();
            // a quoted local part (`"a b"@example.com`) may hold spaces: the address then ends
            // at the first space after its closing quote
            let end = match body.strip_prefix('"').and_then(|b| find1(b, b'"')) {
                Some(q) => find1(&body[q + 2..], b' ').map(|i| q + 2 + i),
                None => find1(body, b' '),
            };
            let (rcpt, after) = match end {
                Some(i) => (&body[..i], &body[i + 1..]),
                None => (body, ""),
            };
            // "userx <userx@test.ex>": the routed address follows in angle brackets
            let rcpt = if !rcpt.contains('@') {
                after
                    .strip_prefix('<')
                    .and_then(|a| find1(a, b'>').map(|e| &a[..e]))
                    .unwrap_or(rcpt)
            } else {
                rcpt
            };
            EximEvent::Outcome {
                msgid,
                flag,
                rcpt,
                host: exim_host(after),
                tls: exim_field(after, "X=", &EXIM_TLS),
                cv: exim_field(after, "CV=", &EXIM_CV),
                text: after,
            }
        }
        None => EximEvent::Note {
            msgid,
            host: exim_host(rest).or_else(|| {
                // "DANE attempt failed; TLS connection to host [ip]: ..."
                let i = find_with(&EXIM_TLS_TO, rest)?;
                let r = &rest[i + "TLS connection to ".len()..];
                let sp = find1(r, b' ')?;
                let addr = r[sp + 1..]
                    .strip_prefix('[')
                    .and_then(|a| find1(a, b']').map(|e| &a[..e]));
                Some(Target {
                    host: &r[..sp],
                    addr,
                    port: None,
                })
            }),
            text: rest,
        },
    }
}

/// The fields of a key=value line (the gateway `logline:` format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyValueLine<'a> {
    pub recipient: &'a str,
    pub mode: Option<&'a str>,
    pub outcome: &'a str,
    pub tls: Option<&'a str>,
    pub relay: Option<&'a str>,
    pub dsn: Option<&'a str>,
}

/// Parse `key=value, key="quoted, value", ...` after the grammar's marker.
pub fn keyvalue_line<'a>(g: &KeyValueGrammar, m: &'a str) -> Option<KeyValueLine<'a>> {
    let mut out = KeyValueLine::default();
    let mut rest = m;
    let mut have_outcome = false;
    while !rest.is_empty() {
        let eq = find1(rest, b'=')?;
        let key = &rest[..eq];
        // mostly nothing to trim: then no search for white space from either end
        let graphic = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_graphic());
        let key = match graphic(key.as_bytes().first()) && graphic(key.as_bytes().last()) {
            true => key,
            false => key.trim(),
        };
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = find1(q, b'"')?;
            let tail = &q[end + 1..];
            (
                &q[..end],
                tail.strip_prefix(", ")
                    .unwrap_or(tail.trim_start_matches(',')),
            )
        } else {
            match find2(after, b',', b' ') {
                Some(i) => (&after[..i], &after[i + 2..]),
                None => (after.trim_end(), ""),
            }
        };
        // (inline compares: a call to compare a few bytes cost more than the compare)
        let is = |name: Option<&str>| name.is_some_and(|n| same(n, key));
        if same(key, &g.field_recipient) {
            out.recipient = value;
        } else if same(key, &g.field_outcome) {
            out.outcome = value;
            have_outcome = true;
        } else if is(g.field_mode.as_deref()) {
            out.mode = Some(value);
        } else if is(g.field_tls.as_deref()) {
            out.tls = Some(value);
        } else if is(g.field_relay.as_deref()) {
            out.relay = Some(value);
        } else if is(g.field_dsn.as_deref()) {
            out.dsn = Some(value);
        }
        rest = next;
    }
    (have_outcome && !out.recipient.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::Grammars;

    fn pf(m: &str) -> Option<PostfixEvent<'_>> {
        let g = Grammars::builtin();
        // leak the grammar for the test's borrow: fine in tests
        let g: &'static Grammars = Box::leak(Box::new(g));
        postfix_message(&g.postfix, m)
    }

    /// Message shapes from the generator and the corpus, the starting points of the
    /// fast-path proptests.
    const SHAPES: &[&str] = &[
        "6954A7365A: to=<u0@yahoo.com>, relay=mx1.yahoo.com[192.0.0.3]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XyZ)",
        "nYjbF4NBK7R969q: to=<u0@gmail.com>, relay=mx1.gmx.de[2001:db8:3::25]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XyZ)",
        "06C6477375: to=<u9@yahoo.com>, relay=none, delay=9, delays=9/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx1.yahoo.com[192.0.0.3]:25: Connection timed out)",
        "0D9633D: to=<jos@example.com>, orig_to=<bestuur@example.com>, relay=mail1.example.net[10.74.103.11]:25, delay=11, delays=5.4/0.06/5.1/0.03, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as F12DF84004)",
        "7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane/!requiretls:nocertmatch, dsn=2.1.5, status=sent (250 2.0.0 Ok: queued as 153053D)",
        "732BB407C3: to=<redacted@domain.com>, relay=mail.domain.com[1.1.1.1]:25, delay=6.2, delays=0.1/0/5.2/0.87, dsn=4.0.0, status=deferred (host mail.domain.com[1.1.1.1] said: 451 DT:SPM 163 (in reply to end of DATA command))",
        "AD6E41CDC05C: to=<admin@example.com>, relay=sub1.example.com[private/dovecot-lmtp], delay=0.15, delays=0.04/0/0.02/0.08, dsn=2.0.0, status=sent (250 2.0.0 <admin@example.com> qYyyBMsl9FRuZQAAA15QOA Saved)",
        "199041033BE: to=<me@domain.fr>, relay=virtual, conn_use=2, delay=0.08, delays=0.08/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
        "2298F5F619: to=<admin@corp.com>, relay=none, delay=89758, delays=89758/0.02/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mail.corp.com[1.1.1.1]:25: Connection timed out) 215",
        "30E4E7461347: Server certificate not verified",
        "CAA64C5206: from=<s@sender.example>, size=3672, nrcpt=1 (queue active)",
        "Verified TLS connection established to mx1.x.nl[2001:db8::25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256",
        "Untrusted TLS connection established to mx1.gmail.com[192.0.0.1]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
        "Anonymous TLS connection established to mx1.outlook.com[2001:db8:1::25]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
        "Trusted TLS connection reused to domain.tld[1.2.3.4]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
        "TLS connection established to domain.tld[1.2.3.4]:25: TLSv1 with cipher X (256/256 bits)",
        "certificate verification failed for mx1.monbel257.cz[192.0.0.18]:25: num=65:no matching DANE TLSA records",
        "CA certificate verification failed for mail.mydomain.com[157.0.0.1]:25: num=2:unable to get issuer certificate",
        "certificate verification failed for mx.example[192.0.2.1]:25: untrusted issuer /CN=x TLSA",
        "warning: DANE TLSA lookup problem: Host or domain name not found. Name service error for name=_25._tcp.mx0.provider5.example type=TLSA: Host not found, try again",
        "warning: DANE TLSA lookup problem: name=_25._tcp.mx.example.org.",
        "SSL_connect error to smtp.gmail.com[142.250.110.108]:587: -1",
        "setting up TLS connection to in1-smtp.messagingengine.com[66.111.4.74]:25",
        "warning: TLS policy lookup for problemdomain.de/aspmx.l.google.com: non DNSSEC destination",
        "TLSRPT: status=failure, domain=example.org, receiving_mx=mx.example.org[192.0.2.1], failure_type=TLSRPT_TLSA_INVALID",
    ];

    /// Characters that make or break a field: inserted, replaced, or cut at.
    const EDIT_CHARS: &[char] = &[
        ' ', ',', ':', '[', ']', '<', '>', '=', '(', ')', '@', '.', '/', '0', '9', 'A', 'F', 'a',
        'z', 'é', '\t',
    ];

    /// `base` with `edits` applied, by character: (position, kind, character); kind 0
    /// replaces, 1 inserts, 2 deletes, 3 cuts the text there.
    fn mutate(base: &str, edits: &[(usize, u8, usize)]) -> String {
        let mut c: Vec<char> = base.chars().collect();
        for &(pos, kind, ch) in edits {
            let pos = pos % (c.len() + 1);
            let ch = EDIT_CHARS[ch % EDIT_CHARS.len()];
            match kind % 4 {
                0 if pos < c.len() => c[pos] = ch,
                1 => c.insert(pos, ch),
                2 if pos < c.len() => {
                    c.remove(pos);
                }
                3 => c.truncate(pos),
                _ => {}
            }
        }
        c.into_iter().collect()
    }

    /// A delivery line in Postfix's field order, each field kept, dropped or replaced by
    /// another (`picks`: one choice and one separator per field), with good and bad separators.
    fn fields_line(picks: &[(usize, usize)], status: usize) -> String {
        const ORDER: &[&str] = &[
            "to=<u0@yahoo.com>",
            "relay=mx1.yahoo.com[192.0.0.3]:25",
            "delay=0.5",
            "delays=0.1/0/0.2/0.2",
            "tls=dane",
            "dsn=2.0.0",
        ];
        const OTHERS: &[&str] = &[
            "",
            "relay=none",
            "orig_to=<o@example.org>",
            "conn_use=2",
            "to=u0@yahoo.com",
            "relay=<x>",
            "delay=<1>, 2",
            "x=y",
            "to=<a>,b>",
            "relay=h[a, b]:25",
            "dsn=<5, 6>",
            "relay=<a, b>",
            "relay=<a>,b",
            "dsn=<5>,6",
            "delays=<1>x, 2",
            "tls=<a>",
            "delays=",
            "relay=h[a,b]:25",
            "relay=h[a]:2x5",
            "relay=h[a]x",
            "relay=none[x]",
            "relay=h:25",
            "relay=h]",
            "relay=[a]:25",
            "relay=h[a]:99999",
            "relay=h[a]:",
            "relay=h.example.com[2001:db8:0::25]:25",
            "relay=h.example.com[2001:db8:0::25],]:25",
            "relay=2001:db8::25[2001:db8::25]:25",
            "relay=2001:db8::25:25",
            "relay=2001:db8::zz[a]:25",
            "relay=::1[::1]",
            "relay=h",
            "relay=none",
        ];
        const SEPS: &[&str] = &[",", " ", ", , ", ",  "];
        const STATUS: &[&str] = &[
            "status=sent (250 2.0.0 Ok: queued as 4XyZ)",
            "status=deferred (connect to h.example[1.2.3.4]:25: x)",
            "status= (x)",
            "status=sent",
            "status=bounced x)",
            "status=sent ()",
            "status=sent  (a) b)",
            "",
        ];
        let status = STATUS.get(status).unwrap_or(&STATUS[0]);
        let mut s = String::from("6954A7365A: ");
        for (i, &(pick, sep)) in picks.iter().enumerate() {
            let field = match (OTHERS.get(pick), ORDER.get(i)) {
                (Some(other), _) => other,
                (None, Some(f)) => f,
                (None, None) => OTHERS[pick % OTHERS.len()],
            };
            s.push_str(field);
            s.push_str(SEPS.get(sep).unwrap_or(&", "));
        }
        s.push_str(status);
        s
    }

    fn same_as_reference(m: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let g = Grammars::builtin();
        proptest::prop_assert_eq!(
            postfix_message(&g.postfix, m),
            super::reference::postfix_message(&g.postfix, m),
            "{:?}",
            m
        );
        // the delivery fast path alone, on the text after a queue id
        if let Some(rest) = m.split_once(": ").map(|(_, r)| r) {
            if let Some(d) = delivery_fast::<false>("Q", rest) {
                proptest::prop_assert_eq!(
                    Some(d),
                    super::reference::parse_delivery("Q", rest),
                    "{:?}",
                    rest
                );
            }
            proptest::prop_assert_eq!(
                parse_delivery("Q", rest),
                super::reference::parse_delivery("Q", rest)
            );
        }
        proptest::prop_assert_eq!(parse_target(m), super::reference::parse_target(m));
        // without TLS details: the same event, without a summary's protocol and cipher
        fn lean(e: PostfixEvent<'_>) -> PostfixEvent<'_> {
            match e {
                PostfixEvent::Summary { trust, target, .. } => PostfixEvent::Summary {
                    trust,
                    target,
                    proto: None,
                    cipher: None,
                },
                e => e,
            }
        }
        proptest::prop_assert_eq!(
            postfix_message_for(&g.postfix, m, false),
            super::reference::postfix_message(&g.postfix, m).map(lean),
            "{:?}",
            m
        );
        // an ASCII message read without boundary checks: the same events
        if m.is_ascii() {
            for details in [false, true] {
                // SAFETY: `m` is ASCII (checked just above)
                let fast = unsafe { postfix_message_ascii(&g.postfix, m, details) };
                proptest::prop_assert_eq!(fast, postfix_message_for(&g.postfix, m, details));
            }
            if let Some(rest) = m.split_once(": ").map(|(_, r)| r) {
                proptest::prop_assert_eq!(
                    delivery_fast::<true>("Q", rest),
                    delivery_fast::<false>("Q", rest)
                );
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Real shapes with bytes replaced, inserted, deleted and the text cut: the fast paths
        /// read them as the general path does.
        #[test]
        fn mutated_shapes_parse_as_the_general_path(
            shape in 0..SHAPES.len(),
            edits in proptest::collection::vec((0usize..400, 0u8..4, 0usize..64), 0..4),
        ) {
            same_as_reference(&mutate(SHAPES[shape], &edits))?;
        }

        /// Delivery lines in Postfix's order with fields missing, replaced or malformed.
        #[test]
        fn shuffled_fields_parse_as_the_general_path(
            picks in proptest::collection::vec((0usize..64, 0usize..64), 0..9),
            status in 0usize..12,
            edits in proptest::collection::vec((0usize..200, 0u8..4, 0usize..64), 0..2),
        ) {
            same_as_reference(&mutate(&fields_line(&picks, status), &edits))?;
        }

        /// Any text at all.
        #[test]
        fn any_text_parses_as_the_general_path(m in "\\PC{0,80}") {
            same_as_reference(&m)?;
        }
    }

    proptest::proptest! {
        /// `cut` is `str::get`, with `""` where that gives nothing; in ASCII text too
        /// without its checks of char boundaries.
        #[test]
        fn cuts_are_gets(s in "[aé€ ]{0,8}", a in 0usize..20, b in 0usize..20) {
            proptest::prop_assert_eq!(cut::<false>(&s, a, b), s.get(a..b).unwrap_or(""));
            proptest::prop_assert_eq!(cut_from::<false>(&s, a), s.get(a..).unwrap_or(""));
            let t = s.replace(['é', '€'], "e");
            proptest::prop_assert_eq!(cut::<true>(&t, a, b), t.get(a..b).unwrap_or(""));
            proptest::prop_assert_eq!(cut_from::<true>(&t, a), t.get(a..).unwrap_or(""));
        }
    }

    #[test]
    fn shapes_parse_as_the_general_path() {
        for m in SHAPES {
            same_as_reference(m).unwrap();
        }
        // the fast path reads the common shapes itself
        for m in &SHAPES[..3] {
            let (q, rest) = m.split_once(": ").unwrap();
            assert!(delivery_fast::<false>(q, rest).is_some(), "{m}");
        }
    }

    /// The queue-id rule as written in words: short ids are 5–20 upper-case hex characters,
    /// long ones 12–24 letters and digits without vowels, anonymised ones 5–24 `X` or `x`.
    fn is_qid_spec(s: &str) -> bool {
        let anonymised = (5..=24).contains(&s.len()) && s.bytes().all(|c| c == b'X' || c == b'x');
        let short = (5..=20).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c));
        let long = (12..=24).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() && !b"aeiouAEIOU".contains(&c));
        short || long || anonymised
    }

    proptest::proptest! {
        #[test]
        fn qid_table_follows_the_rule(s in proptest::prop_oneof![
            "[0-9A-F]{0,22}",
            "[0-9A-Za-z]{10,26}",
            "[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{9,26}",
            "[0-9A-Fa-zGU:é ]{0,26}",
            "[xX]{0,26}",
            "[xX]{3,8}[0-9A-F]{0,3}",
        ]) {
            proptest::prop_assert_eq!(is_qid(&s), is_qid_spec(&s), "{:?}", s);
        }
    }

    proptest::proptest! {
        #[test]
        fn same_bytes_is_equality(a in proptest::collection::vec(0u8..4, 0..70), flip in 0usize..80) {
            let mut b = a.clone();
            proptest::prop_assert!(same_bytes(&a, &b));
            if let Some(x) = b.get_mut(flip) {
                *x ^= 1;
                proptest::prop_assert!(!same_bytes(&a, &b));
            }
            b.push(0);
            proptest::prop_assert!(!same_bytes(&a, &b));
            proptest::prop_assert_eq!(same_bytes(&a[a.len() / 2..], &b[..a.len() - a.len() / 2]), a[a.len() / 2..] == b[..a.len() - a.len() / 2]);
        }
    }

    proptest::proptest! {
        #[test]
        fn first_word_search_is_a_search(s in "[a-cT ]{0,12}( TLS connection )?[a-c ]{0,12}( TLS connection )?") {
            proptest::prop_assert_eq!(
                find_after_first_word(&s, " TLS connection ", &TLS_CONNECTION),
                s.find(" TLS connection ")
            );
        }

        #[test]
        fn byte_searches_are_searches(s in "[a-c=]{0,40}") {
            proptest::prop_assert_eq!(find1(&s, b'='), s.find('='));
            proptest::prop_assert_eq!(rfind1(&s, b'='), s.rfind('='));
        }
    }

    /// A delivery line that cannot be read is malformed wherever its fields stand, never
    /// passed over as a note or another line; an anonymised id is an id.
    #[test]
    fn delivery_lines_out_of_shape_are_malformed() {
        let g = Grammars::builtin();
        let tail = "to=<a@q.example>, relay=mx.q.example[192.0.2.1]:25, delay=0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)";
        let anon = format!("XXXXXXXXXX: {tail}");
        match postfix_message(&g.postfix, &anon) {
            Some(PostfixEvent::Delivery(d)) => {
                assert_eq!((d.qid, d.to), ("XXXXXXXXXX", "<a@q.example>"))
            }
            other => panic!("{other:?}"),
        }
        for m in [
            format!("ABCDEF0105: ABCDEF0105: {tail}"),
            format!("postfix/smtp[104]: ABCDEF0104: {tail}"),
            format!("abcdef0123: {tail}"),
            format!("ABCDEF0123: orig_to=<x@n.example>, {tail}"),
        ] {
            assert!(postfix_message(&g.postfix, &m).is_none(), "{m}");
            assert!(
                super::reference::postfix_message(&g.postfix, &m).is_none(),
                "{m}"
            );
        }
        // a note that names a recipient is still a note
        let note = "ABCDEF0106: host mx[192.0.2.1] said: 550 5.1.1 <to=<x@y>: no such user";
        assert!(matches!(
            postfix_message(&g.postfix, note),
            Some(PostfixEvent::QueueNote { .. })
        ));
    }

    #[test]
    fn qid_shapes() {
        for (s, want) in [
            ("6954A7365A", true),
            ("0D9633D", true),
            ("4XyZ", false),
            ("3ZqJx65Pz4zGNdL", true),
            ("3ZqJx65Pz4zGNdLa", false),
            ("6954a7365a", false),
            ("ABCDEF0123456789ABCD", true),
            ("ABCDEF0123456789ABCDE", false),
            ("BCDFGHJKLMNPQRSTVWXYZbcdf", false),
            ("XXXXXXXXXX", true),
            ("xxxxx", true),
            ("XXXX", false),
            ("XXXXXXXXXXXXXXXXXXXXXXXXX", false),
        ] {
            assert_eq!(is_qid(s), want, "{s}");
            assert_eq!(is_qid_spec(s), want, "{s}");
        }
    }

    #[test]
    fn targets() {
        let (t, r) = parse_target("mail.telia.com[81.236.60.210]:25, delay=1").unwrap();
        assert_eq!(
            (t.host, t.addr, t.port, r),
            (
                "mail.telia.com",
                Some("81.236.60.210"),
                Some(25),
                ", delay=1"
            )
        );
        // a relay reached by its IPv6 address is named by it
        let (t, r) = parse_target("2001:db8::25[2001:db8::25]:25: lost connection").unwrap();
        assert_eq!(
            (t.host, t.addr, t.port, r),
            (
                "2001:db8::25",
                Some("2001:db8::25"),
                Some(25),
                ": lost connection"
            )
        );
        let (t, _) = parse_target("2001:db8::[2001:db8::]").unwrap();
        assert_eq!((t.host, t.addr), ("2001:db8::", Some("2001:db8::")));
        // (a host:port that is no address still ends at the colon)
        let (t, r) = parse_target("mx.example:25[x]").unwrap();
        assert_eq!((t.host, r), ("mx.example", ":25[x]"));
        let d = delivery_fast::<true>("Q", "to=<a@b.example>, relay=2001:db8::25[2001:db8::25]:25, delay=1, delays=0/0/0/0, dsn=2.0.0, status=sent (ok)").unwrap();
        assert_eq!(
            d.relay.map(|t| (t.host, t.port)),
            Some(("2001:db8::25", Some(25)))
        );
        let (t, _) = parse_target("uriports.com[2001:678:6a0::3:101]:25").unwrap();
        assert_eq!(t.addr, Some("2001:678:6a0::3:101"));
        let (t, _) = parse_target("sub1.example.com[private/dovecot-lmtp]").unwrap();
        assert_eq!((t.addr, t.port), (Some("private/dovecot-lmtp"), None));
        let (t, _) = parse_target("xyz.domain.tld[xx.yyy.xx.xx]:25").unwrap();
        assert_eq!(t.addr, Some("xx.yyy.xx.xx"));
        assert!(parse_target("[1.2.3.4]:25").is_none());
        for (port, want) in [
            ("0", Some(0)),
            ("00025", Some(25)),
            ("65535", Some(65535)),
            ("65536", None),
            ("99999999999999999999", None),
        ] {
            let text = format!("h[a]:{port}, x");
            let (t, r) = parse_target(&text).unwrap();
            assert_eq!((t.port, r), (want, ", x"), "{port}");
        }
    }

    #[test]
    fn delivery_lines() {
        let e = pf("0D9633D: to=<jos@example.com>, orig_to=<bestuur@example.com>, relay=mail1.example.net[10.74.103.11]:25, delay=11, delays=5.4/0.06/5.1/0.03, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as F12DF84004)").unwrap();
        let PostfixEvent::Delivery(d) = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (d.qid, d.to, d.status, d.dsn),
            ("0D9633D", "<jos@example.com>", "sent", Some("2.0.0"))
        );
        assert_eq!(d.text, "250 2.0.0 Ok: queued as F12DF84004");
        assert_eq!(d.relay.unwrap().host, "mail1.example.net");
        let e = pf("732BB407C3: to=<redacted@domain.com>, relay=mail.domain.com[1.1.1.1]:25, delay=6.2, delays=0.1/0/5.2/0.87, dsn=4.0.0, status=deferred (host mail.domain.com[1.1.1.1] said: 451 DT:SPM 163 (in reply to end of DATA command))").unwrap();
        let PostfixEvent::Delivery(d) = e else {
            panic!()
        };
        assert!(
            d.text.ends_with("(in reply to end of DATA command)"),
            "{}",
            d.text
        );
        let e = pf("7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane/!requiretls:nocertmatch, dsn=2.1.5, status=sent (250 2.0.0 Ok: queued as 153053D)").unwrap();
        let PostfixEvent::Delivery(d) = e else {
            panic!()
        };
        assert_eq!(d.tls, Some("dane/!requiretls:nocertmatch"));
        let e = pf("4YmjlP6JTKz3VMh: to=<xxx@randboats.com>, relay=none, delay=1070, delays=1070/0/0.03/0, dsn=4.7.5, status=deferred (non DNSSEC destination)").unwrap();
        let PostfixEvent::Delivery(d) = e else {
            panic!()
        };
        assert!(d.relay.is_none());
        let e = pf("2298F5F619: to=<admin@corp.com>, relay=none, delay=89758, delays=89758/0.02/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mail.corp.com[1.1.1.1]:25: Connection timed out) 215").unwrap();
        let PostfixEvent::Delivery(d) = e else {
            panic!()
        };
        assert!(d.text.starts_with("delivery temporarily suspended"));
        // truncated delivery line: malformed
        assert_eq!(pf("7EE668039: to=<user@example.com>, relay=mail.exa"), None);
    }

    #[test]
    fn tls_lines() {
        let e = pf("CA certificate verification failed for mail.mydomain.com[157.90.161.81]:25: num=65:no matching DANE TLSA records").unwrap();
        assert!(matches!(e, PostfixEvent::VerifyFailed { dane: true, .. }));
        let e = pf("certificate verification failed for gmail-smtp-in.l.google.com[108.177.126.26]:25: untrusted issuer /OU=GlobalSign").unwrap();
        assert!(matches!(e, PostfixEvent::VerifyFailed { dane: false, .. }));
        let e = pf("Verified TLS connection established to mail.sys4.de[2001:1578:400:111::7]:25: TLSv1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)").unwrap();
        let PostfixEvent::Summary {
            trust,
            target,
            proto,
            cipher,
        } = e
        else {
            panic!()
        };
        assert_eq!(
            (trust, target.host, proto, cipher),
            (
                Trust::Verified,
                "mail.sys4.de",
                Some("TLSv1"),
                Some("ECDHE-RSA-AES256-SHA")
            )
        );
        let e = pf("Verified TLS connection reused to mx.example.net[192.0.2.7]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)").unwrap();
        assert!(
            matches!(
                e,
                PostfixEvent::Summary {
                    trust: Trust::Verified,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(pf("Trusted TLS connection established from mail.outbound.protection.outlook.com[1.1.1.1]: TLSv1.2 with cipher X (256/256 bits)"), Some(PostfixEvent::Other));
        let e = pf("warning: DANE TLSA lookup problem: Host or domain name not found. Name service error for name=_25._tcp.mx.example.com type=TLSA: Host not found, try again").unwrap();
        assert!(
            matches!(
                e,
                PostfixEvent::TlsaProblem {
                    host: "mx.example.com",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = pf("warning: TLS policy lookup for problemdomain.de/aspmx.l.google.com: non DNSSEC destination").unwrap();
        assert!(matches!(
            e,
            PostfixEvent::PolicyProblem {
                domain: "problemdomain.de",
                host: "aspmx.l.google.com",
                text: "non DNSSEC destination"
            }
        ));
        let e = pf("TLSRPT: status=failure, domain=example.org, receiving_mx=mx.example.org[192.0.2.1], failure_type=TLSRPT_TLSA_INVALID").unwrap();
        let PostfixEvent::Tlsrpt {
            success,
            failure_type,
            mx,
            ..
        } = e
        else {
            panic!()
        };
        assert!(!success);
        assert_eq!(tlsrpt_type_key(failure_type.unwrap()), "tlsa_invalid");
        assert_eq!(mx.addr, Some("192.0.2.1"));
        let e = pf("30E4E7461347: Server certificate not verified").unwrap();
        assert_eq!(
            e,
            PostfixEvent::QueueNote {
                qid: "30E4E7461347",
                text: "Server certificate not verified"
            }
        );
    }

    /// A quoted local part with a space is one address; the fields after it are still read.
    #[test]
    fn exim_quoted_local_parts() {
        let e = exim_message("1aAAAA-000011-AA => \"a b\"@k.example R=dnslookup T=remote_smtp H=mx.k.example [192.0.2.1] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=dane C=\"250 ok\"");
        let EximEvent::Outcome { rcpt, host, cv, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(rcpt, "\"a b\"@k.example");
        assert_eq!(host.map(|h| h.host), Some("mx.k.example"));
        assert_eq!(cv, Some("dane"));
        // an unclosed quote: the address ends at the first space, as before
        let e = exim_message("1aAAAA-000011-AA => \"a@k.example R=x");
        assert!(
            matches!(
                e,
                EximEvent::Outcome {
                    rcpt: "\"a@k.example",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn exim_lines() {
        let e = exim_message("10HmaX-000000005vi-0000 => t@mxdane512ee.test.ex R=client T=send_to_server H=dane512ee.test.ex [ip4.ip4.ip4.ip4] X=TLS1.x:ke-RSA-AES256-SHAnnn:xxx CV=dane C=\"250 OK id=10HmaY-000000005vi-0000\"");
        let EximEvent::Outcome {
            flag,
            rcpt,
            host,
            cv,
            tls,
            ..
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            (flag, rcpt, cv),
            (EximFlag::Delivered, "t@mxdane512ee.test.ex", Some("dane"))
        );
        assert_eq!(host.unwrap().host, "dane512ee.test.ex");
        assert_eq!(tls, Some("TLS1.x:ke-RSA-AES256-SHAnnn:xxx"));
        let e = exim_message("10HmbH-000000005vi-0000 H=danelazy.test.ex [ip4.ip4.ip4.ip4]: DANE error: tlsa lookup DEFER");
        let EximEvent::Note { host, .. } = e else {
            panic!()
        };
        assert_eq!(host.unwrap().host, "danelazy.test.ex");
        let e = exim_message("10HmbP-000000005vi-0000 DANE attempt failed; TLS connection to danebroken2.test.ex [127.0.0.1]: (certificate verification failed): x");
        let EximEvent::Note { host, .. } = e else {
            panic!()
        };
        assert_eq!(host.unwrap().addr, Some("127.0.0.1"));
        let e = exim_message("[1235] 10HmaX-000000005vi-0000 => userx <userx@test.ex> R=r1 T=t1");
        let EximEvent::Outcome { rcpt, .. } = e else {
            panic!()
        };
        assert_eq!(rcpt, "userx@test.ex");
        assert!(is_exim_msgid("1gzK7S-0007Td-Bt"));
        assert!(!is_exim_msgid("1gzK7S-0007Td-B"));
    }

    proptest::proptest! {
        /// The 16-byte check of a message id says what a check of each byte says.
        #[test]
        fn exim_msgids_are_checked_as_byte_by_byte(
            len in proptest::prop_oneof![4 => proptest::sample::select(vec![16usize, 23]), 1 => 14usize..25],
            seed in proptest::collection::vec(
                proptest::prop_oneof![
                    30 => proptest::sample::select(vec!['0', '9', 'a', 'z', 'A', 'Z', 'q']),
                    1 => proptest::sample::select(vec!['-', '_', '.', '/', '@', 'é', '`', '{']),
                ],
                24,
            ),
            dashes in proptest::bool::weighted(0.8),
        ) {
            let mut chars = seed;
            chars.truncate(len);
            // mostly the dashes where ids have them, so that the rest decides
            if dashes {
                let d = if chars.len() > 20 { 18 } else { 13 };
                for at in [6, d] {
                    if let Some(c) = chars.get_mut(at) {
                        *c = '-';
                    }
                }
            }
            let s: String = chars.into_iter().collect();
            let b = s.as_bytes();
            let ok = |r: &[u8]| r.iter().all(|c| c.is_ascii_alphanumeric());
            let want = match b.len() {
                16 => b[6] == b'-' && b[13] == b'-' && ok(&b[..6]) && ok(&b[7..13]) && ok(&b[14..]),
                23 => b[6] == b'-' && b[18] == b'-' && ok(&b[..6]) && ok(&b[7..18]) && ok(&b[19..]),
                _ => false,
            };
            proptest::prop_assert_eq!(is_exim_msgid(&s), want, "{:?}", s);
        }

        /// A field is found as a search for the key at the start or after any space finds it.
        #[test]
        fn exim_fields_are_found_as_word_starts(s in "[ XCV=a]{0,24}") {
            for (key, spaced) in [("X=", &*EXIM_TLS), ("CV=", &*EXIM_CV)] {
                let want = (0..s.len())
                    .find(|&at| s[at..].starts_with(key) && (at == 0 || s.as_bytes()[at - 1] == b' '))
                    .map(|at| s[at + key.len()..].split(' ').next().unwrap_or(""));
                proptest::prop_assert_eq!(exim_field(&s, key, spaced), want, "{:?}", s);
            }
        }
    }

    #[test]
    fn keyvalue_lines() {
        let g = Grammars::builtin();
        let kv = &g.keyvalue[0];
        let l = keyvalue_line(kv, "to=example@xs4all.nl, mode=dane strict, dane=\"Verify (Secure TLSA RRs found)\", tls=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384, tlsvalid=\"0 (ok)\", relay=mx1.xs4all.nl [194.109.24.132], dsn=250").unwrap();
        assert_eq!(l.recipient, "example@xs4all.nl");
        assert_eq!(l.mode, Some("dane strict"));
        assert_eq!(l.outcome, "Verify (Secure TLSA RRs found)");
        assert_eq!(l.relay, Some("mx1.xs4all.nl [194.109.24.132]"));
        assert_eq!(l.dsn, Some("250"));
        assert!(keyvalue_line(kv, "to=a@b.example, dane=\"Verify (unterminated").is_none());
    }

    proptest::proptest! {
        /// Key=value lines with keys padded by white space (ASCII or not), empty, quoted or
        /// cut values: read as with the standard library's trims and searches.
        #[test]
        fn keyvalue_lines_parse_as_the_reference(
            parts in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["to", "mode", "dane", "tls", "relay", "dsn", "x", ""]),
                    proptest::sample::select(vec!["", " ", "\u{a0}", "\t", "\u{3000}"]),
                    proptest::sample::select(vec!["", " "]),
                    "[a-z@. (),\"]{0,12}",
                ),
                0..8,
            ),
        ) {
            let g = Grammars::builtin();
            let kv = &g.keyvalue[0];
            let line: String = parts
                .iter()
                .map(|(k, pad, pre, v)| format!("{pad}{k}{pre}={v}, "))
                .collect();
            for m in [line.as_str(), line.trim_end_matches(", ")] {
                proptest::prop_assert_eq!(
                    keyvalue_line(kv, m),
                    super::reference::keyvalue_line(kv, m),
                    "{:?}",
                    m
                );
            }
        }
    }
}

/// The message parsers as they were before the fast paths (2026-11-29), with plain standard
/// library searches: the general path that the fast ones are tested against.
#[cfg(test)]
mod reference {
    use super::{
        find_with, is_qid, same, Delivery, PostfixEvent, PostfixGrammar, Target, Trust,
        TLS_CONNECTION, VERIFY_FAILED, WITH_CIPHER,
    };
    use memchr::memmem::Finder;

    fn find_after_first_word(s: &str, pat: &str, _: &Finder<'_>) -> Option<usize> {
        s.find(pat)
    }

    fn strip_tlsa_owner(n: &str) -> &str {
        let n = n.strip_suffix('.').unwrap_or(n);
        match n.strip_prefix('_') {
            Some(r) => match r.find("._tcp.") {
                Some(i) => &r[i + "._tcp.".len()..],
                None => n,
            },
            None => n,
        }
    }

    fn find1(s: &str, b: u8) -> Option<usize> {
        s.bytes().position(|c| c == b)
    }

    fn rfind1(s: &str, b: u8) -> Option<usize> {
        s.bytes().rposition(|c| c == b)
    }

    fn find2(s: &str, a: u8, b: u8) -> Option<usize> {
        s.as_bytes().windows(2).position(|w| w == [a, b])
    }

    /// Parse `host[addr]:port`, `host[addr]` or `host`; returns the target and the rest of `s`.
    pub fn parse_target(s: &str) -> Option<(Target<'_>, &str)> {
        // a host name ends at a space, comma, colon or bracket; an IPv6 address as the host
        // at the bracket after it
        let mut end_host = s.find([' ', ',', ':', '[']).unwrap_or(s.len());
        if s.as_bytes().get(end_host) == Some(&b':') {
            if let Some(o) = s.find('[') {
                if s[..o].parse::<std::net::Ipv6Addr>().is_ok() {
                    end_host = o;
                }
            }
        }
        match s.as_bytes().get(end_host) {
            Some(b'[') => {
                let o = end_host;
                let host = &s[..o];
                let close = find1(&s[o..], b']')? + o;
                let addr = &s[o + 1..close];
                let mut rest = &s[close + 1..];
                let mut port = None;
                if let Some(r) = rest.strip_prefix(':') {
                    // digits as `u16::from_str` reads them: more than 65535 is no port
                    let mut n = 0;
                    let mut v = 0u32;
                    for c in r.bytes().take_while(u8::is_ascii_digit) {
                        v = (v * 10 + u32::from(c - b'0')).min(1 << 16);
                        n += 1;
                    }
                    if n > 0 {
                        port = u16::try_from(v).ok();
                        rest = &r[n..];
                    }
                }
                if host.is_empty() {
                    return None;
                }
                Some((
                    Target {
                        host,
                        addr: Some(addr),
                        port,
                    },
                    rest,
                ))
            }
            _ => {
                let host = &s[..end_host];
                if host.is_empty() {
                    return None;
                }
                Some((
                    Target {
                        host,
                        addr: None,
                        port: None,
                    },
                    &s[end_host..],
                ))
            }
        }
    }

    /// Split "key=value, key=value, ..., status=word (text)" into a delivery.
    pub fn parse_delivery<'a>(qid: &'a str, s: &'a str) -> Option<Delivery<'a>> {
        let mut d = Delivery {
            qid,
            to: "",
            relay: None,
            conn_use: None,
            tls: None,
            dsn: None,
            status: "",
            text: "",
        };
        let mut rest = s;
        let mut seen_relay = false;
        loop {
            let eq = find1(rest, b'=')?;
            let key = &rest[..eq];
            let after = &rest[eq + 1..];
            if key == "status" {
                let (word, tail) = match find1(after, b' ') {
                    Some(i) => (&after[..i], after[i + 1..].trim_start()),
                    None => (after, ""),
                };
                d.status = word;
                d.text = match (find1(tail, b'('), rfind1(tail, b')')) {
                    (Some(a), Some(b)) if b > a => &tail[a + 1..b],
                    _ => tail,
                };
                break;
            }
            let (value, next) = if after.starts_with('<') {
                match find2(after, b'>', b',')
                    .filter(|&i| after.as_bytes().get(i + 2) == Some(&b' '))
                {
                    Some(i) => (&after[..=i], &after[i + 3..]),
                    None => return None,
                }
            } else {
                match find2(after, b',', b' ') {
                    Some(i) => (&after[..i], &after[i + 2..]),
                    None => return None,
                }
            };
            match key {
                "to" => d.to = value,
                "relay" => {
                    seen_relay = true;
                    if value != "none" {
                        d.relay = parse_target(value).map(|(t, _)| t);
                    }
                }
                "conn_use" => d.conn_use = value.parse().ok(),
                "tls" => d.tls = Some(value),
                "dsn" => d.dsn = Some(value),
                _ => {}
            }
            rest = next;
        }
        if d.to.is_empty() || !seen_relay || d.status.is_empty() {
            return None;
        }
        Some(d)
    }

    /// Parse the message of a Postfix delivery agent. `None` means the line is malformed (it looks
    /// like a delivery line but its fields cannot be read).
    pub fn postfix_message<'a>(g: &PostfixGrammar, m: &'a str) -> Option<PostfixEvent<'a>> {
        // queue-id lines first: they are the bulk of the traffic (an id has at most 24 characters,
        // so its ": " lies within the first 26 bytes)
        let head = m.get(..m.len().min(26)).unwrap_or(m);
        if let Some(colon) = find2(head, b':', b' ') {
            let qid = &m[..colon];
            if is_qid(qid) {
                let rest = &m[colon + 2..];
                if rest.starts_with("to=") {
                    return parse_delivery(qid, rest).map(PostfixEvent::Delivery);
                }
                if rest.contains("to=<") && rest.contains(", status=") {
                    return None;
                }
                return Some(PostfixEvent::QueueNote { qid, text: rest });
            }
        }
        // "<Trust> TLS connection established to ..." and, for a resumed session, "... reused to"
        if let Some(i) = find_after_first_word(m, " TLS connection ", &TLS_CONNECTION) {
            let word = &m[..i];
            let rest = &m[i + " TLS connection ".len()..];
            // anything else ("established from": inbound; "setting up TLS connection to") falls through
            if let Some(rest) = rest
                .strip_prefix("established to ")
                .or_else(|| rest.strip_prefix("reused to "))
            {
                return summary_line(g, word, rest);
            }
        }
        if let Some(r) = m.strip_prefix("TLS connection established to ") {
            let (target, _) = parse_target(r)?;
            return Some(PostfixEvent::Summary {
                trust: Trust::Unstated,
                target,
                proto: None,
                cipher: None,
            });
        }
        postfix_other_lines(g, m)
    }

    fn summary_line<'a>(g: &PostfixGrammar, word: &str, rest: &'a str) -> Option<PostfixEvent<'a>> {
        let is = |words: &[String]| words.iter().any(|w| same(w, word));
        let trust = if is(&g.summary_verified) {
            Trust::Verified
        } else if is(&g.summary_trusted) {
            Trust::Trusted
        } else if is(&g.summary_untrusted) {
            Trust::Untrusted
        } else if is(&g.summary_anonymous) {
            Trust::Anonymous
        } else {
            Trust::Unstated
        };
        let (target, tail) = parse_target(rest)?;
        let tail = tail.strip_prefix(": ").unwrap_or(tail);
        let (proto, cipher) = match find_after_first_word(tail, " with cipher ", &WITH_CIPHER) {
            Some(w) => {
                let c = &tail[w + " with cipher ".len()..];
                let c = Some(&c[..find1(c, b' ').unwrap_or(c.len())]).filter(|c| !c.is_empty());
                (Some(&tail[..w]).filter(|p| !p.is_empty()), c)
            }
            None => (None, None),
        };
        Some(PostfixEvent::Summary {
            trust,
            target,
            proto,
            cipher,
        })
    }

    fn postfix_other_lines<'a>(g: &PostfixGrammar, m: &'a str) -> Option<PostfixEvent<'a>> {
        if let Some(i) = find_with(&VERIFY_FAILED, m) {
            let rest = &m[i + "certificate verification failed for ".len()..];
            let (target, tail) = parse_target(rest)?;
            let text = tail.strip_prefix(": ").unwrap_or(tail);
            let dane = g.dane_evidence().iter().any(|e| text.contains(e.as_str()));
            return Some(PostfixEvent::VerifyFailed { target, dane, text });
        }
        if let Some(rest) = m.strip_prefix("warning: ") {
            if rest.starts_with("DANE TLSA lookup problem") {
                let host = rest
                    .find("name=_")
                    .map(|i| &rest[i + 5..])
                    .map(|n| n.split([' ', ',']).next().unwrap_or(""))
                    .map(strip_tlsa_owner)
                    .unwrap_or("");
                return Some(PostfixEvent::TlsaProblem { host, text: rest });
            }
            if let Some(r) = rest.strip_prefix("TLS policy lookup for ") {
                let colon = r.find(": ")?;
                let dh = &r[..colon];
                let (domain, host) = match find1(dh, b'/') {
                    Some(s) => (&dh[..s], &dh[s + 1..]),
                    None => (dh, ""),
                };
                return Some(PostfixEvent::PolicyProblem {
                    domain,
                    host,
                    text: &r[colon + 2..],
                });
            }
            if let Some(r) = rest.strip_prefix("TLS library problem: ") {
                return Some(PostfixEvent::TlsLibrary { text: r });
            }
            return Some(PostfixEvent::Other);
        }
        if let Some(r) = m.strip_prefix("SSL_connect error to ") {
            let (target, tail) = parse_target(r)?;
            return Some(PostfixEvent::SslError {
                target,
                text: tail.strip_prefix(": ").unwrap_or(tail),
            });
        }
        if let Some(r) = m.strip_prefix("setting up TLS connection to ") {
            let (target, _) = parse_target(r)?;
            return Some(PostfixEvent::SettingUp { target });
        }
        if let Some(r) = m.strip_prefix("TLSRPT: ") {
            return parse_tlsrpt(r);
        }
        if m.contains("to=<") && m.contains(", status=") {
            return None;
        }
        Some(PostfixEvent::Other)
    }

    fn parse_tlsrpt(r: &str) -> Option<PostfixEvent<'_>> {
        let mut success = None;
        let mut domain = "";
        let mut mx = None;
        let mut failure_type = None;
        for part in r.split(", ") {
            let (k, v) = part.split_once('=')?;
            match k {
                "status" => success = Some(v == "success"),
                "domain" => domain = v,
                "receiving_mx" => mx = parse_target(v).map(|(t, _)| t),
                "failure_type" => failure_type = Some(v),
                _ => {}
            }
        }
        Some(PostfixEvent::Tlsrpt {
            success: success?,
            domain,
            mx: mx?,
            failure_type,
            text: r,
        })
    }

    /// [`super::keyvalue_line`] with the standard library's trims and compares.
    pub fn keyvalue_line<'a>(
        g: &super::KeyValueGrammar,
        m: &'a str,
    ) -> Option<super::KeyValueLine<'a>> {
        let mut out = super::KeyValueLine::default();
        let mut rest = m;
        let mut have_outcome = false;
        while !rest.is_empty() {
            let eq = rest.find('=')?;
            let key = rest[..eq].trim();
            let after = &rest[eq + 1..];
            let (value, next) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                let tail = &q[end + 1..];
                (
                    &q[..end],
                    tail.strip_prefix(", ")
                        .unwrap_or(tail.trim_start_matches(',')),
                )
            } else {
                match after.find(", ") {
                    Some(i) => (&after[..i], &after[i + 2..]),
                    None => (after.trim_end(), ""),
                }
            };
            if key == g.field_recipient {
                out.recipient = value;
            } else if key == g.field_outcome {
                out.outcome = value;
                have_outcome = true;
            } else if g.field_mode.as_deref() == Some(key) {
                out.mode = Some(value);
            } else if g.field_tls.as_deref() == Some(key) {
                out.tls = Some(value);
            } else if g.field_relay.as_deref() == Some(key) {
                out.relay = Some(value);
            } else if g.field_dsn.as_deref() == Some(key) {
                out.dsn = Some(value);
            }
            rest = next;
        }
        (have_outcome && !out.recipient.is_empty()).then_some(out)
    }
}
