//! Deterministic sample logs with their ground truth.
//!
//! `generate` writes a Postfix (RFC 3339 or BSD prefix), Exim or gateway log for a seeded set
//! of recipient domains, each with a fixed DANE profile, and returns the truth: exactly the rows
//! `danemine domains --format csv` must print for that log. Traffic is skewed (a few big
//! receivers dominate), smtp processes interleave their lines, pids are reused, and noise
//! lines (qmgr, smtpd, cleanup, postfix/error) that are not attempts are mixed in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, Write};

/// The log format to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Postfix with RFC 3339 prefixes (rsyslog high-precision style).
    Postfix,
    /// Postfix with BSD syslog prefixes (no year: read it with `--year`).
    PostfixBsd,
    /// Exim's own main log.
    Exim,
    /// The gateway `logline:` format.
    Gateway,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "postfix" => Ok(Format::Postfix),
            "postfix-bsd" => Ok(Format::PostfixBsd),
            "exim" => Ok(Format::Exim),
            "gateway" => Ok(Format::Gateway),
            _ => Err(format!(
                "unknown format {s:?} (postfix, postfix-bsd, exim, gateway)"
            )),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub format: Format,
    pub seed: u64,
    /// Number of distinct recipient domains (the same seed and count give the same domains and
    /// profiles whatever the size).
    pub domains: usize,
    /// Stop after about this many bytes of log.
    pub target_bytes: u64,
    /// Unix seconds of the first line.
    pub start: i64,
    /// Concurrent smtp processes (Postfix) or deliveries (Exim).
    pub processes: usize,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            format: Format::Postfix,
            seed: 1,
            domains: 1000,
            target_bytes: 1 << 20,
            start: 1_793_491_200, // 2026-11-01T00:00:00Z
            processes: 64,
        }
    }
}

/// splitmix64: small, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p` percent.
    pub fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// The DANE profile of a generated domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// DANE verifies on every MX.
    Valid,
    /// No DANE (insecure or no TLSA): TLS without DANE, or plain text.
    NotDane,
    /// Every MX fails DANE with this class (index into the scanner's class order).
    Failing(Class),
    /// The first MX fails (cert mismatch), the second verifies: partial.
    Partial,
    /// Connections time out: the DANE status cannot be told.
    Unreachable,
}

/// Failure classes, in the `domains` CSV column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    CertMismatch = 0,
    Dnssec = 1,
    TlsaUnusable = 2,
    NoStarttls = 3,
    TlsFailure = 4,
}

/// A generated recipient domain.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub mx: Vec<(String, String)>,
    pub profile: Profile,
    /// Relative traffic weight.
    pub weight: u64,
}

const TLDS: [&str; 8] = ["nl", "de", "com", "org", "se", "net", "dk", "cz"];
const SYLL: [&str; 16] = [
    "ka", "lo", "mi", "ra", "ven", "dor", "tis", "ul", "pe", "an", "sko", "bel", "fri", "mon",
    "zu", "ha",
];
const BIG: [&str; 6] = [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "gmx.de",
    "web.de",
    "icloud.com",
];

/// The domain set of a seed: names, MX hosts, profiles and traffic weights.
pub fn domain_set(seed: u64, n: usize, format: Format) -> Vec<Domain> {
    let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let name = if i < BIG.len() && n > 20 {
            BIG[i].to_string()
        } else {
            let parts = 2 + r.below(2) as usize;
            let mut s = String::new();
            for _ in 0..parts {
                s.push_str(SYLL[r.below(SYLL.len() as u64) as usize]);
            }
            format!(
                "{s}{}.{}",
                r.below(1000),
                TLDS[r.below(TLDS.len() as u64) as usize]
            )
        };
        i += 1;
        if !seen.insert(name.clone()) {
            continue;
        }
        let idx = out.len();
        let big = idx < BIG.len() && n > 20;
        let roll = r.below(100);
        let profile = if big {
            Profile::NotDane
        } else if roll < 40 {
            Profile::Valid
        } else if roll < 75 {
            Profile::NotDane
        } else if roll < 80 {
            Profile::Partial
        } else if roll < 84 {
            Profile::Unreachable
        } else {
            let classes: &[Class] = match format {
                Format::Postfix | Format::PostfixBsd => &[
                    Class::CertMismatch,
                    Class::Dnssec,
                    Class::NoStarttls,
                    Class::TlsFailure,
                ],
                Format::Exim => &[
                    Class::CertMismatch,
                    Class::Dnssec,
                    Class::TlsaUnusable,
                    Class::NoStarttls,
                ],
                Format::Gateway => &[
                    Class::CertMismatch,
                    Class::Dnssec,
                    Class::TlsaUnusable,
                    Class::NoStarttls,
                    Class::TlsFailure,
                ],
            };
            Profile::Failing(classes[r.below(classes.len() as u64) as usize])
        };
        let nmx = if profile == Profile::Partial {
            2
        } else {
            1 + r.below(2) as usize
        };
        let shared = !big && r.pct(20);
        let mut mx = Vec::new();
        for m in 0..nmx {
            let host = if shared {
                format!("mx{m}.provider{}.example", r.below(7))
            } else {
                format!("mx{}.{name}", m + 1)
            };
            let addr = if r.pct(25) {
                format!("2001:db8:{:x}::{}", idx % 65_000, m + 25)
            } else {
                format!("192.0.{}.{}", (idx / 250) % 250, idx % 250 + 1)
            };
            mx.push((host, addr));
        }
        // Zipf-like: the big receivers dominate
        let weight = if big {
            2_000 / (idx as u64 + 1)
        } else {
            1 + 200 / (idx as u64 + 1)
        };
        out.push(Domain {
            name,
            mx,
            profile,
            weight,
        });
    }
    out
}

/// The expected `domains` row of one domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruthRow {
    pub attempts: u64,
    pub verified: u64,
    pub failed: [u64; 6],
    pub not_dane: u64,
    pub unknown: u64,
    pub mx_hosts: BTreeSet<String>,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// What one attempt is, as the truth counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    NotDane,
    Failed(Class),
    Unknown,
}

/// Ground truth: the expected rows per domain.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub rows: BTreeMap<String, TruthRow>,
    pub lines: u64,
}

impl Truth {
    fn add(&mut self, domain: &str, mx: Option<&str>, time: i64, o: Outcome) {
        let r = self.rows.entry(domain.to_string()).or_default();
        if r.attempts == 0 {
            r.first_seen = time;
        }
        r.first_seen = r.first_seen.min(time);
        r.last_seen = r.last_seen.max(time);
        r.attempts += 1;
        match o {
            Outcome::Verified => r.verified += 1,
            Outcome::NotDane => r.not_dane += 1,
            Outcome::Unknown => r.unknown += 1,
            Outcome::Failed(c) => r.failed[c as usize] += 1,
        }
        if let Some(m) = mx {
            r.mx_hosts.insert(m.to_string());
        }
    }

    /// The verdict word of a row.
    pub fn verdict(r: &TruthRow) -> &'static str {
        let failed: u64 = r.failed.iter().sum();
        match (r.verified > 0, failed > 0) {
            (true, false) => "valid",
            (false, true) => "failing",
            (true, true) => "partial",
            (false, false) if r.not_dane > 0 => "no-dane",
            _ => "unknown",
        }
    }

    /// Write the truth as `domains --format csv` would.
    pub fn write_csv(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "domain,verdict,attempts,dane_verified,dane_failed,cert_mismatch,dnssec,tlsa_unusable,no_starttls,tls_failure,other_failure,mx_hosts,first_seen,last_seen")?;
        for (d, r) in &self.rows {
            let failed: u64 = r.failed.iter().sum();
            let mx: Vec<&str> = r.mx_hosts.iter().take(32).map(String::as_str).collect();
            writeln!(
                w,
                "{d},{},{},{},{failed},{},{},{},{},{},{},{},{},{}",
                Self::verdict(r),
                r.attempts,
                r.verified,
                r.failed[0],
                r.failed[1],
                r.failed[2],
                r.failed[3],
                r.failed[4],
                r.failed[5],
                mx.join(";"),
                rfc3339(r.first_seen),
                rfc3339(r.last_seen)
            )?;
        }
        Ok(())
    }
}

fn rfc3339(t: i64) -> String {
    crate::timefmt::rfc3339(t)
}

/// A line waiting in a process's queue, with the attempt it completes (if any).
struct Pending {
    text: String,
    attempt: Option<(usize, Option<String>, Outcome)>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn prefix(buf: &mut String, f: Format, t: i64, micros: u64, host: &str, tag: &str) {
    use std::fmt::Write as _;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match f {
        Format::PostfixBsd | Format::Gateway => {
            let _ = write!(
                buf,
                "{} {d:>2} {h:02}:{mi:02}:{s:02} {host} {tag}: ",
                MONTHS[(mo - 1) as usize]
            );
        }
        Format::Postfix => {
            let _ = write!(
                buf,
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}+00:00 {host} {tag}: "
            );
        }
        Format::Exim => {
            let _ = write!(buf, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} ");
        }
    }
}

fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

struct Picker {
    cum: Vec<u64>,
    total: u64,
}

impl Picker {
    fn new(ds: &[Domain]) -> Picker {
        let mut cum = Vec::with_capacity(ds.len());
        let mut t = 0;
        for d in ds {
            t += d.weight;
            cum.push(t);
        }
        Picker { cum, total: t }
    }
    fn pick(&self, r: &mut Rng) -> usize {
        let x = r.below(self.total);
        self.cum
            .partition_point(|&c| c <= x)
            .min(self.cum.len() - 1)
    }
}

fn qid(r: &mut Rng) -> String {
    if r.pct(20) {
        const A: &[u8] = b"0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjkmnpqrstvwxyz";
        (0..15)
            .map(|_| A[r.below(A.len() as u64) as usize] as char)
            .collect()
    } else {
        format!("{:010X}", r.next_u64() & 0xff_ffff_ffff)
    }
}

fn exim_id(r: &mut Rng) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut p = |n: usize| -> String { (0..n).map(|_| A[r.below(62) as usize] as char).collect() };
    format!("{}-{}-{}", p(6), p(11), p(4))
}

/// Lines of one Postfix connection for `d` (queued for its smtp process).
fn postfix_connection(r: &mut Rng, di: usize, d: &Domain) -> Vec<Pending> {
    let mut v = Vec::new();
    let q = qid(r);
    let rcpts = 1 + r.below(3) as usize;
    let tls13 = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256";
    let tls12 = "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)";
    let line = |text: String| Pending {
        text,
        attempt: None,
    };
    let (h, a) = d.mx[0].clone();
    let deliver = |v: &mut Vec<Pending>,
                   h: &str,
                   a: &str,
                   dsn: &str,
                   status: &str,
                   o: Outcome,
                   rel: bool| {
        for i in 0..rcpts {
            let relay = if rel {
                format!("{h}[{a}]:25")
            } else {
                "none".to_string()
            };
            v.push(Pending {
                text: format!("{q}: to=<u{i}@{}>, relay={relay}, delay=0.5, delays=0.1/0/0.2/0.2, dsn={dsn}, status={status}", d.name),
                attempt: Some((di, Some(h.to_string()), o)),
            });
        }
    };
    match d.profile {
        Profile::Valid => {
            v.push(line(format!(
                "Verified TLS connection established to {h}[{a}]:25: {tls13}"
            )));
            if r.pct(10) {
                deliver(&mut v, &h, &a, "4.2.0", &format!("deferred (host {h}[{a}] said: 450 4.2.0 Greylisted (in reply to RCPT TO command))"), Outcome::Verified, true);
            } else {
                deliver(
                    &mut v,
                    &h,
                    &a,
                    "2.0.0",
                    "sent (250 2.0.0 Ok: queued as 4XyZ)",
                    Outcome::Verified,
                    true,
                );
            }
        }
        Profile::NotDane => {
            match r.below(4) {
                0 => v.push(line(format!(
                    "Trusted TLS connection established to {h}[{a}]:25: {tls13}"
                ))),
                1 => v.push(line(format!(
                    "Anonymous TLS connection established to {h}[{a}]:25: {tls12}"
                ))),
                2 => {}
                _ => v.push(line(format!(
                    "Untrusted TLS connection established to {h}[{a}]:25: {tls12}"
                ))),
            }
            deliver(
                &mut v,
                &h,
                &a,
                "2.0.0",
                "sent (250 2.0.0 Ok: queued as 4XyZ)",
                Outcome::NotDane,
                true,
            );
        }
        Profile::Failing(c) => match c {
            Class::CertMismatch => {
                v.push(line(format!("certificate verification failed for {h}[{a}]:25: num=65:no matching DANE TLSA records")));
                v.push(line(format!(
                    "Untrusted TLS connection established to {h}[{a}]:25: {tls12}"
                )));
                deliver(
                    &mut v,
                    &h,
                    &a,
                    "4.7.5",
                    "deferred (Server certificate not verified)",
                    Outcome::Failed(c),
                    true,
                );
            }
            Class::Dnssec => {
                v.push(line(format!("warning: DANE TLSA lookup problem: Host or domain name not found. Name service error for name=_25._tcp.{h} type=TLSA: Host not found, try again")));
                deliver(
                    &mut v,
                    &h,
                    &a,
                    "4.7.5",
                    &format!("deferred (TLSA lookup error for {h}:25)"),
                    Outcome::Failed(c),
                    false,
                );
            }
            Class::NoStarttls => {
                deliver(
                    &mut v,
                    &h,
                    &a,
                    "4.7.4",
                    &format!("deferred (TLS is required, but was not offered by host {h}[{a}])"),
                    Outcome::Failed(c),
                    true,
                );
            }
            Class::TlsFailure | Class::TlsaUnusable => {
                v.push(line(format!(
                    "SSL_connect error to {h}[{a}]:25: lost connection"
                )));
                deliver(
                    &mut v,
                    &h,
                    &a,
                    "4.7.5",
                    "deferred (Cannot start TLS: handshake failure)",
                    Outcome::Failed(Class::TlsFailure),
                    true,
                );
            }
        },
        Profile::Partial => {
            let (h2, a2) = d.mx[1].clone();
            v.push(line(format!("certificate verification failed for {h}[{a}]:25: num=65:no matching DANE TLSA records")));
            v.push(line(format!(
                "Untrusted TLS connection established to {h}[{a}]:25: {tls12}"
            )));
            v.push(Pending {
                text: format!("{q}: Server certificate not verified"),
                attempt: Some((di, Some(h.clone()), Outcome::Failed(Class::CertMismatch))),
            });
            v.push(line(format!(
                "Verified TLS connection established to {h2}[{a2}]:25: {tls13}"
            )));
            deliver(
                &mut v,
                &h2,
                &a2,
                "2.0.0",
                "sent (250 2.0.0 Ok: queued as 4XyZ)",
                Outcome::Verified,
                true,
            );
        }
        Profile::Unreachable => {
            v.push(Pending {
                text: format!("{q}: to=<u0@{}>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to {h}[{a}]:25: Connection timed out)", d.name),
                attempt: Some((di, Some(h.clone()), Outcome::Unknown)),
            });
        }
    }
    v
}

fn exim_message(r: &mut Rng, di: usize, d: &Domain) -> Vec<Pending> {
    let id = exim_id(r);
    let (h, a) = d.mx[r.below(d.mx.len() as u64) as usize].clone();
    let att = |text: String, o: Outcome| Pending {
        text,
        attempt: Some((di, Some(h.clone()), o)),
    };
    let line = |text: String| Pending {
        text,
        attempt: None,
    };
    let mut v = vec![line(format!(
        "{id} <= s{}@sender.example H=(client.example) [198.51.100.7] P=esmtps S={}",
        r.below(99),
        1000 + r.below(90_000)
    ))];
    let rcpt = format!("u{}@{}", r.below(50), d.name);
    let x = "X=TLS1.3:TLS_AES_256_GCM_SHA384:256";
    match d.profile {
        Profile::Valid | Profile::Partial => v.push(att(format!("{id} => {rcpt} R=dnslookup T=remote_smtp H={h} [{a}] {x} CV=dane C=\"250 2.0.0 Ok: queued as 4XyZ\""), Outcome::Verified)),
        Profile::NotDane => {
            let cv = if r.pct(50) { format!(" {x} CV=yes") } else if r.pct(50) { format!(" {x} CV=no") } else { String::new() };
            v.push(att(format!("{id} => {rcpt} R=dnslookup T=remote_smtp H={h} [{a}]{cv} C=\"250 ok\""), Outcome::NotDane));
        }
        Profile::Failing(c) => match c {
            Class::CertMismatch => {
                v.push(line(format!("{id} DANE attempt failed; TLS connection to {h} [{a}]: (certificate verification failed): certificate invalid")));
                v.push(att(format!("{id} == {rcpt} R=dnslookup T=remote_smtp defer (-37) H={h} [{a}]: TLS session: (certificate verification failed): certificate invalid"), Outcome::Failed(c)));
            }
            Class::Dnssec => {
                v.push(line(format!("{id} H={h} [{a}]: DANE error: tlsa lookup DEFER")));
                v.push(att(format!("{id} == {rcpt} R=dnslookup T=remote_smtp defer (-36): DANE error: tlsa lookup DEFER"), Outcome::Failed(c)));
            }
            Class::TlsaUnusable => v.push(att(format!("{id} == {rcpt} R=dnslookup T=remote_smtp defer (-36) H={h} [{a}]: DANE error: No usable TLSA records"), Outcome::Failed(c))),
            Class::NoStarttls | Class::TlsFailure => v.push(att(format!("{id} == {rcpt} R=dnslookup T=remote_smtp defer (-38) H={h} [{a}]: a TLS session is required, but the server did not offer TLS support"), Outcome::Failed(Class::NoStarttls))),
        },
        Profile::Unreachable => {
            v.push(line(format!("{id} H={h} [{a}] Connection timed out")));
            v.push(att(format!("{id} == {rcpt} R=dnslookup T=remote_smtp defer (110) H={h} [{a}]: Connection timed out"), Outcome::Unknown));
        }
    }
    v.push(line(format!("{id} Completed")));
    v
}

fn gateway_line(r: &mut Rng, di: usize, d: &Domain) -> Pending {
    let (h, a) = d.mx[r.below(d.mx.len() as u64) as usize].clone();
    let rcpt = format!("u{}@{}", r.below(50), d.name);
    let (mode, dane, tls, dsn, o) = match d.profile {
        Profile::Valid => (
            "dane strict",
            "Verify (Secure TLSA RRs found)",
            "TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384",
            "250",
            Outcome::Verified,
        ),
        Profile::NotDane | Profile::Unreachable => (
            "dane opportunistic",
            "Skip (Insecure host information)",
            "TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256",
            "250",
            Outcome::NotDane,
        ),
        Profile::Partial => (
            "dane strict",
            "Verify (Secure TLSA RRs found)",
            "TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384",
            "250",
            Outcome::Verified,
        ),
        Profile::Failing(c) => {
            let reason = match c {
                Class::CertMismatch => "Fail (TLSA record mismatch)",
                Class::Dnssec => {
                    if r.pct(50) {
                        "Fail (DNSSEC validation failure)"
                    } else {
                        "Defer (TLSA lookup failure)"
                    }
                }
                Class::TlsaUnusable => "Fail (No usable TLSA records)",
                Class::NoStarttls => "Fail (STARTTLS not offered)",
                Class::TlsFailure => "Fail (TLS handshake failure)",
            };
            ("dane strict", reason, "none", "451", Outcome::Failed(c))
        }
    };
    Pending {
        text: format!("logline: to={rcpt}, mode={mode}, dane=\"{dane}\", tls={tls}, tlsvalid=\"0 (ok)\", relay={h} [{a}], dsn={dsn}"),
        attempt: Some((di, Some(h), o)),
    }
}

/// Generate a log into `log`; returns the truth.
pub fn generate(spec: &GenSpec, log: &mut dyn Write) -> io::Result<Truth> {
    let ds = domain_set(spec.seed, spec.domains.max(1), spec.format);
    let picker = Picker::new(&ds);
    let mut r = Rng::new(spec.seed);
    let mut truth = Truth::default();
    let procs = spec.processes.max(1);
    let mut queues: Vec<VecDeque<Pending>> = (0..procs).map(|_| VecDeque::new()).collect();
    let mut pids: Vec<u32> = (0..procs).map(|i| 20_000 + i as u32 * 7).collect();
    let mut t = spec.start;
    let mut micros = 0u64;
    let mut written = 0u64;
    let mut buf = String::with_capacity(512);
    let mut out = io::BufWriter::with_capacity(1 << 20, log);
    let mut draining = false;
    loop {
        if written >= spec.target_bytes {
            draining = true;
        }
        if draining && queues.iter().all(VecDeque::is_empty) {
            break;
        }
        let p = r.below(procs as u64) as usize;
        if queues[p].is_empty() {
            if draining {
                continue;
            }
            if r.pct(3) {
                // the process exits; a new one gets a fresh pid (pids are reused serially, but
                // never held by two live processes at once)
                pids[p] = loop {
                    let pid = 20_000 + (r.below(30_000) as u32);
                    if !pids.contains(&pid) {
                        break pid;
                    }
                };
            }
            let di = picker.pick(&mut r);
            let lines = match spec.format {
                Format::Postfix | Format::PostfixBsd => postfix_connection(&mut r, di, &ds[di]),
                Format::Exim => exim_message(&mut r, di, &ds[di]),
                Format::Gateway => vec![gateway_line(&mut r, di, &ds[di])],
            };
            queues[p].extend(lines);
        }
        let Some(item) = queues[p].pop_front() else {
            continue;
        };
        // time moves forward by 0-2 s per line on average
        micros += r.below(400_000);
        if micros >= 1_000_000 {
            t += (micros / 1_000_000) as i64;
            micros %= 1_000_000;
        }
        buf.clear();
        let tag = match spec.format {
            Format::Gateway => format!("cmgw[{}]", pids[p]),
            _ if p % 5 == 4 => format!("postfix-out/smtp[{}]", pids[p]),
            _ => format!("postfix/smtp[{}]", pids[p]),
        };
        prefix(&mut buf, spec.format, t, micros, "mail01", &tag);
        buf.push_str(&item.text);
        buf.push('\n');
        out.write_all(buf.as_bytes())?;
        written += buf.len() as u64;
        truth.lines += 1;
        if let Some((di, mx, o)) = item.attempt {
            truth.add(&ds[di].name, mx.as_deref(), t, o);
        }
        // noise that is not an attempt
        if spec.format != Format::Gateway && r.pct(25) {
            buf.clear();
            let (tag, text) = match (spec.format, r.below(4)) {
                (Format::Exim, _) => {
                    prefix(&mut buf, spec.format, t, micros, "", "");
                    let id = exim_id(&mut r);
                    buf.push_str(&format!("{id} == x{}@retry.example R=dnslookup T=remote_smtp defer (-53): retry time not reached for any host\n", r.below(9)));
                    out.write_all(buf.as_bytes())?;
                    written += buf.len() as u64;
                    truth.lines += 1;
                    continue;
                }
                (_, 0) => (
                    format!("postfix/qmgr[{}]", 900),
                    format!(
                        "{}: from=<s@sender.example>, size={}, nrcpt=1 (queue active)",
                        qid(&mut r),
                        1000 + r.below(9000)
                    ),
                ),
                (_, 1) => (
                    format!("postfix/smtpd[{}]", 3000 + r.below(50)),
                    "connect from unknown[198.51.100.23]".to_string(),
                ),
                (_, 2) => (
                    format!("postfix/cleanup[{}]", 1200 + r.below(9)),
                    format!(
                        "{}: message-id=<{}@sender.example>",
                        qid(&mut r),
                        r.next_u64()
                    ),
                ),
                _ => {
                    let d = &ds[picker.pick(&mut r)];
                    (format!("postfix/error[{}]", 4400 + r.below(9)), format!("{}: to=<u9@{}>, relay=none, delay=9, delays=9/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to {}[{}]:25: Connection timed out)", qid(&mut r), d.name, d.mx[0].0, d.mx[0].1))
                }
            };
            prefix(&mut buf, spec.format, t, micros, "mail01", &tag);
            buf.push_str(&text);
            buf.push('\n');
            out.write_all(buf.as_bytes())?;
            written += buf.len() as u64;
            truth.lines += 1;
        }
    }
    out.flush()?;
    Ok(truth)
}

/// Parse a size such as `100M`, `1G`, `4G`, `500K` or a plain byte count.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(format: Format, seed: u64, size: u64) -> (Vec<u8>, Truth) {
        let mut v = Vec::new();
        let t = generate(
            &GenSpec {
                format,
                seed,
                domains: 300,
                target_bytes: size,
                ..GenSpec::default()
            },
            &mut v,
        )
        .unwrap();
        (v, t)
    }

    #[test]
    fn deterministic_per_seed() {
        for f in [
            Format::Postfix,
            Format::PostfixBsd,
            Format::Exim,
            Format::Gateway,
        ] {
            let (a, ta) = gen(f, 7, 200_000);
            let (b, _) = gen(f, 7, 200_000);
            let (c, _) = gen(f, 8, 200_000);
            assert_eq!(a, b, "{f:?}");
            assert_ne!(a, c, "{f:?}");
            assert!(
                a.len() as u64 >= 200_000 && (a.len() as u64) < 220_000,
                "{f:?} {}",
                a.len()
            );
            let mut csv = Vec::new();
            ta.write_csv(&mut csv).unwrap();
            assert!(String::from_utf8(csv)
                .unwrap()
                .starts_with("domain,verdict,attempts,"));
        }
    }

    #[test]
    fn truth_is_consistent_and_covers_every_verdict() {
        let (_, t) = gen(Format::Postfix, 3, 2_000_000);
        let mut verdicts = BTreeSet::new();
        for r in t.rows.values() {
            let failed: u64 = r.failed.iter().sum();
            assert_eq!(r.attempts, r.verified + failed + r.not_dane + r.unknown);
            assert!(r.first_seen <= r.last_seen);
            verdicts.insert(Truth::verdict(r));
        }
        for v in ["valid", "failing", "partial", "no-dane", "unknown"] {
            assert!(verdicts.contains(v), "missing {v}: {verdicts:?}");
        }
    }

    #[test]
    fn same_domain_set_for_any_size() {
        let a = domain_set(5, 100, Format::Postfix);
        let b = domain_set(5, 100, Format::Postfix);
        assert_eq!(
            a.iter().map(|d| &d.name).collect::<Vec<_>>(),
            b.iter().map(|d| &d.name).collect::<Vec<_>>()
        );
        for d in &a {
            assert!(crate::domain::normalize(&d.name).is_ok(), "{}", d.name);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("100M"), Some(100 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
    }
}
