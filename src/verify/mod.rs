//! Live re-verification (RFC 7672): DNSSEC-validated MX, address and TLSA lookups, STARTTLS on
//! every address of every MX, and the presented chain matched against the TLSA records.

pub mod dns;
pub mod smtp;
pub mod tlsa;

pub use dns::{DnsAnswer, DnsMode, DnssecStatus};

use crate::model::FailureClass;
use dns::Dns;
use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tlsa::{match_chain, MatchOutcome, Tlsa};
use tokio::sync::Semaphore;

/// Options of a re-verification run.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub dns: DnsMode,
    /// SMTP port (25; tests use another).
    pub port: u16,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Total time for one address (connect, SMTP, TLS).
    pub deadline: Duration,
    /// DNS query timeout.
    pub dns_timeout: Duration,
    /// Domains verified at once.
    pub concurrency: usize,
    /// Connections at once to one address.
    pub per_host: usize,
    /// Check DANE-TA chain validity this many days ahead.
    pub days: u32,
    /// The name the probe greets with (`EHLO name`): by default this host's name when it is
    /// a fully qualified one, as Postfix's `myhostname`, else `danemine.invalid`.
    pub ehlo_name: String,
    /// The sending MTA refuses delivery to a host whose TLSA records are all unusable
    /// (Postfix `dane-only`; Exim with `hosts_require_dane`). Without it such a host gets
    /// TLS without authentication, as RFC 7672 §2.2 and Postfix's `dane` level do, and mail
    /// goes out: `not-dane` when the handshake succeeds.
    pub unusable_tlsa_refuses: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            dns: DnsMode::Validate {
                trust_anchor: None,
                nameserver: None,
            },
            port: 25,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
            dns_timeout: Duration::from_secs(5),
            concurrency: 64,
            per_host: 2,
            days: 0,
            ehlo_name: default_ehlo_name(),
            unusable_tlsa_refuses: false,
        }
    }
}

/// An EHLO name as given (CLI, config): a fully qualified host name or an address literal such
/// as `[192.0.2.1]`; nothing that could carry a line break or a second command.
pub fn check_ehlo_name(s: &str) -> Result<String, String> {
    let literal = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|a| {
            a.parse::<std::net::Ipv4Addr>().is_ok()
                || a.strip_prefix("IPv6:")
                    .is_some_and(|v| v.parse::<std::net::Ipv6Addr>().is_ok())
        });
    if literal || crate::domain::validate_ldh(&s.to_ascii_lowercase()).is_ok() {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is neither a host name nor an address literal ([192.0.2.1], [IPv6:2001:db8::1])"
        ))
    }
}

/// This host's name when it is a fully qualified host name, else `danemine.invalid`.
pub fn default_ehlo_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = (rc == 0)
        .then(|| {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            std::str::from_utf8(&buf[..end])
                .ok()
                .map(str::to_ascii_lowercase)
        })
        .flatten();
    match name {
        Some(n) if n.contains('.') && crate::domain::validate_ldh(&n).is_ok() => n,
        _ => "danemine.invalid".into(),
    }
}

/// The verdict of re-verification, per address, MX or domain.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyVerdict {
    DaneOk,
    CertMismatch,
    Dnssec,
    TlsaUnusable,
    NoStarttls,
    TlsFailure,
    NotDane,
    Unreachable,
    Partial,
}

impl VerifyVerdict {
    /// Every verdict word.
    pub const ALL: [VerifyVerdict; 9] = [
        VerifyVerdict::DaneOk,
        VerifyVerdict::CertMismatch,
        VerifyVerdict::Dnssec,
        VerifyVerdict::TlsaUnusable,
        VerifyVerdict::NoStarttls,
        VerifyVerdict::TlsFailure,
        VerifyVerdict::NotDane,
        VerifyVerdict::Unreachable,
        VerifyVerdict::Partial,
    ];

    /// The verdict word.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyVerdict::DaneOk => "dane-ok",
            VerifyVerdict::CertMismatch => "cert-mismatch",
            VerifyVerdict::Dnssec => "dnssec",
            VerifyVerdict::TlsaUnusable => "tlsa-unusable",
            VerifyVerdict::NoStarttls => "no-starttls",
            VerifyVerdict::TlsFailure => "tls-failure",
            VerifyVerdict::NotDane => "not-dane",
            VerifyVerdict::Unreachable => "unreachable",
            VerifyVerdict::Partial => "partial",
        }
    }

    /// The failure class of a failing verdict.
    pub fn failure_class(self) -> Option<FailureClass> {
        Some(match self {
            VerifyVerdict::CertMismatch => FailureClass::CertMismatch,
            VerifyVerdict::Dnssec => FailureClass::Dnssec,
            VerifyVerdict::TlsaUnusable => FailureClass::TlsaUnusable,
            VerifyVerdict::NoStarttls => FailureClass::NoStarttls,
            VerifyVerdict::TlsFailure => FailureClass::TlsFailure,
            _ => return None,
        })
    }

    /// Whether this is a DANE failure (including `partial`).
    pub fn is_failure(self) -> bool {
        self.failure_class().is_some() || self == VerifyVerdict::Partial
    }

    fn severity(self) -> u8 {
        match self {
            VerifyVerdict::Dnssec => 6,
            VerifyVerdict::CertMismatch => 5,
            VerifyVerdict::TlsaUnusable => 4,
            VerifyVerdict::NoStarttls => 3,
            VerifyVerdict::TlsFailure => 2,
            _ => 0,
        }
    }
}

impl std::fmt::Display for VerifyVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VerifyVerdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifyVerdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown verdict {s:?}"))
    }
}

/// Evidence of one address of one MX.
#[derive(Debug, Clone, Serialize)]
pub struct AddrReport {
    pub address: String,
    pub verdict: VerifyVerdict,
    pub detail: String,
    /// SHA-256 of the end-entity certificate and of its public key, when TLS was established.
    pub cert_sha256: Option<String>,
    pub spki_sha256: Option<String>,
    pub tls_protocol: Option<String>,
    pub chain_length: usize,
    pub millis: u64,
}

/// Evidence of one MX host.
#[derive(Debug, Clone, Serialize)]
pub struct MxReport {
    pub host: String,
    pub preference: u16,
    pub verdict: VerifyVerdict,
    pub address_dnssec: DnssecStatus,
    pub tlsa_dnssec: Option<DnssecStatus>,
    pub tlsa: Vec<Tlsa>,
    pub detail: String,
    pub addresses: Vec<AddrReport>,
}

/// The re-verification of one domain.
#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub domain: String,
    pub verdict: VerifyVerdict,
    pub mx_dnssec: DnssecStatus,
    /// The domain has no MX: its own address records were used (RFC 5321 §5.1).
    pub implicit_mx: bool,
    pub detail: String,
    pub mx: Vec<MxReport>,
    pub checked_at: String,
    pub millis: u64,
}

/// Errors that stop a run before any domain is verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Dns(#[from] dns::DnsSetupError),
    #[error("TLS client: {0}")]
    Tls(String),
    #[error("runtime: {0}")]
    Runtime(String),
}

/// The probe of one (address, MX name), shared by every domain that uses it.
type ProbeCell = Arc<tokio::sync::OnceCell<smtp::Probe>>;

struct Ctx {
    dns: Dns,
    opts: VerifyOptions,
    tls: Arc<rustls::ClientConfig>,
    global: Semaphore,
    per_addr: std::sync::Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    probes: std::sync::Mutex<HashMap<(IpAddr, String), ProbeCell>>,
}

fn combine(vs: &[VerifyVerdict]) -> VerifyVerdict {
    use VerifyVerdict::*;
    if vs.is_empty() {
        return Unreachable;
    }
    let failing: Vec<VerifyVerdict> = vs
        .iter()
        .copied()
        .filter(|v| v.failure_class().is_some() || *v == Partial)
        .collect();
    let good = vs.iter().any(|v| matches!(v, DaneOk | NotDane));
    if vs.contains(&Partial) || (!failing.is_empty() && good) {
        return Partial;
    }
    if let Some(worst) = failing.iter().copied().max_by_key(|v| v.severity()) {
        return worst;
    }
    if vs.contains(&DaneOk) {
        DaneOk
    } else if vs.contains(&NotDane) {
        NotDane
    } else {
        Unreachable
    }
}

fn lookup_err(a: &DnsAnswer, what: &str) -> String {
    format!(
        "{what}: {} ({})",
        a.error.as_deref().unwrap_or("no answer"),
        serde_json::to_string(&a.status).unwrap_or_default()
    )
}

async fn verify_mx(
    ctx: &Arc<Ctx>,
    domain: &str,
    host: String,
    pref: u16,
    mx_secure: bool,
) -> MxReport {
    let mut rep = MxReport {
        host: host.clone(),
        preference: pref,
        verdict: VerifyVerdict::Unreachable,
        address_dnssec: DnssecStatus::Indeterminate,
        tlsa_dnssec: None,
        tlsa: Vec::new(),
        detail: String::new(),
        addresses: Vec::new(),
    };
    let (a, aaaa) = tokio::join!(
        ctx.dns.lookup(&host, RecordType::A),
        ctx.dns.lookup(&host, RecordType::AAAA)
    );
    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut statuses = Vec::new();
    for ans in [&a, &aaaa] {
        match ans.status {
            DnssecStatus::Bogus | DnssecStatus::Indeterminate => {
                if ans.status == DnssecStatus::Bogus
                    || (a.records.is_empty() && aaaa.records.is_empty())
                {
                    rep.address_dnssec = ans.status;
                    // as for the MX: only proven bogus data is a DNSSEC failure
                    rep.verdict = if ans.status == DnssecStatus::Bogus {
                        VerifyVerdict::Dnssec
                    } else {
                        VerifyVerdict::Unreachable
                    };
                    rep.detail = lookup_err(ans, &format!("address of {host}"));
                    return rep;
                }
            }
            s => statuses.push(s),
        }
        for r in &ans.records {
            match r {
                RData::A(x) => addrs.push(IpAddr::V4(x.0)),
                RData::AAAA(x) => addrs.push(IpAddr::V6(x.0)),
                _ => {}
            }
        }
    }
    rep.address_dnssec = if statuses.iter().all(|s| *s == DnssecStatus::Secure) {
        DnssecStatus::Secure
    } else {
        DnssecStatus::Insecure
    };
    if addrs.is_empty() {
        rep.detail = format!("{host} has no address");
        return rep;
    }
    // TLSA only for a secure MX host (RFC 7672 §2.2.2)
    let mut records: Vec<Tlsa> = Vec::new();
    let mut dane = false;
    let mut tlsa_base_alias: Option<String> = None;
    // the name sent as SNI: the TLSA base domain (RFC 7672 §8.1)
    let mut tlsa_base = host.clone();
    if rep.address_dnssec == DnssecStatus::Secure {
        // RFC 7672 §2.2.3: for an alias, the TLSA base is the CNAME-expanded name first,
        // then the original MX name
        let alias = a.canonical.clone().or_else(|| aaaa.canonical.clone());
        let mut t = ctx
            .dns
            .lookup(
                &format!("_25._tcp.{}", alias.as_deref().unwrap_or(&host)),
                RecordType::TLSA,
            )
            .await;
        if let Some(al) = &alias {
            if t.empty || t.status == DnssecStatus::Insecure {
                t = ctx
                    .dns
                    .lookup(&format!("_25._tcp.{host}"), RecordType::TLSA)
                    .await;
            } else {
                rep.detail = format!("TLSA base {al} (CNAME of {host})");
                tlsa_base = al.clone();
            }
            tlsa_base_alias = Some(al.clone());
        }
        rep.tlsa_dnssec = Some(t.status);
        match t.status {
            // a TLSA answer too large for UDP that this verifier's own resolver would not
            // give over TCP says nothing about the receiver's DNS
            DnssecStatus::Indeterminate if t.resolver_failed => {
                rep.verdict = VerifyVerdict::Unreachable;
                rep.detail = lookup_err(&t, &format!("TLSA _25._tcp.{host}"));
                return rep;
            }
            // A failed TLSA lookup is a DNSSEC failure even unproven: the same resolver has
            // just answered the host's address lookups securely, so it is working, and a
            // receiver whose servers fail TLSA queries defers DANE mail (RFC 7672 §2.2).
            DnssecStatus::Bogus | DnssecStatus::Indeterminate => {
                rep.verdict = VerifyVerdict::Dnssec;
                rep.detail = lookup_err(&t, &format!("TLSA _25._tcp.{host}"));
                return rep;
            }
            DnssecStatus::Secure if !t.records.is_empty() => {
                for r in &t.records {
                    if let RData::TLSA(x) = r {
                        records.push(Tlsa {
                            usage: u8::from(x.cert_usage),
                            selector: u8::from(x.selector),
                            matching: u8::from(x.matching),
                            data: x.cert_data.clone(),
                        });
                    }
                }
                dane = true;
            }
            _ => {}
        }
    }
    rep.tlsa = records.clone();
    if !dane {
        rep.verdict = VerifyVerdict::NotDane;
        rep.detail = if rep.address_dnssec != DnssecStatus::Secure {
            format!("{host}: insecure address records, DANE does not apply")
        } else {
            format!("_25._tcp.{host}: no TLSA records (securely denied or insecure)")
        };
        return rep;
    }
    if !mx_secure {
        // half-dane: TLSA usable, MX RRset insecure; reported, but not DANE for the domain
        rep.detail =
            "MX RRset insecure (half-dane): the MX host name is not a reference identifier".into();
    }
    if !records.iter().any(Tlsa::usable) {
        // what this means for delivery depends on the handshake: each address says
        rep.detail = "TLSA records present, none usable for SMTP (usages 0/1, unknown \
                      parameters or malformed data)"
            .into();
    }
    let mut names = Vec::new();
    if let Some(al) = &tlsa_base_alias {
        names.push(al.clone());
    }
    names.push(host.clone());
    if mx_secure && host != domain {
        names.push(domain.to_string());
    }
    let mut tasks = Vec::new();
    for ip in addrs {
        let ctx2 = ctx.clone();
        let base2 = tlsa_base.clone();
        let records2 = records.clone();
        let names2 = names.clone();
        tasks.push(tokio::spawn(async move {
            verify_addr(ctx2, ip, base2, records2, names2).await
        }));
    }
    for t in tasks {
        if let Ok(a) = t.await {
            rep.addresses.push(a);
        }
    }
    let vs: Vec<VerifyVerdict> = rep.addresses.iter().map(|a| a.verdict).collect();
    rep.verdict = combine(&vs);
    if !mx_secure && rep.verdict == VerifyVerdict::DaneOk {
        rep.verdict = VerifyVerdict::NotDane;
    }
    rep
}

/// Probe `ip` with `host`, the TLSA base domain, as SNI, and match what it presents.
async fn verify_addr(
    ctx: Arc<Ctx>,
    ip: IpAddr,
    host: String,
    records: Vec<Tlsa>,
    names: Vec<String>,
) -> AddrReport {
    let start = Instant::now();
    let addr = SocketAddr::new(ip, ctx.opts.port);
    // One probe per (address, SNI name) and run: many domains share a few MX hosts, and what
    // such a server presents does not depend on the recipient domain.
    let cell = {
        let mut m = ctx.probes.lock().unwrap_or_else(|e| e.into_inner());
        m.entry((ip, host.clone())).or_default().clone()
    };
    let probe = cell
        .get_or_init(|| async {
            let sem = {
                let mut m = ctx.per_addr.lock().unwrap_or_else(|e| e.into_inner());
                m.entry(ip)
                    .or_insert_with(|| Arc::new(Semaphore::new(ctx.opts.per_host.max(1))))
                    .clone()
            };
            let _permit = sem.acquire_owned().await;
            let (cfg, o) = (ctx.tls.clone(), ctx.opts.clone());
            let host2 = host.clone();
            tokio::task::spawn_blocking(move || {
                smtp::probe(
                    addr,
                    &host2,
                    &o.ehlo_name,
                    &cfg,
                    o.connect_timeout,
                    o.read_timeout,
                    o.deadline,
                )
            })
            .await
            // a probe that panicked is the verifier's failure, not the server's
            .unwrap_or_else(|e| smtp::Probe::Unreachable(format!("probe task: {e}")))
        })
        .await
        .clone();
    let mut rep = AddrReport {
        address: addr.to_string(),
        verdict: VerifyVerdict::Unreachable,
        detail: String::new(),
        cert_sha256: None,
        spki_sha256: None,
        tls_protocol: None,
        chain_length: 0,
        millis: 0,
    };
    match probe {
        smtp::Probe::Unreachable(d) => rep.detail = d,
        smtp::Probe::NoStarttls(d) => {
            rep.verdict = VerifyVerdict::NoStarttls;
            rep.detail = d;
        }
        smtp::Probe::TlsFailure(d) => {
            rep.verdict = VerifyVerdict::TlsFailure;
            rep.detail = d;
        }
        smtp::Probe::Tls { chain, protocol } => {
            rep.tls_protocol = Some(protocol);
            rep.chain_length = chain.len();
            if let Some(ee) = chain.first() {
                rep.cert_sha256 = Some(tlsa::sha256_hex(ee));
                rep.spki_sha256 = tlsa::spki(ee).map(|s| tlsa::sha256_hex(&s));
            }
            match match_chain(&records, &chain, &names, ctx.opts.days) {
                MatchOutcome::Match { record, depth } => {
                    rep.verdict = VerifyVerdict::DaneOk;
                    rep.detail = format!("TLSA {record} matched at depth {depth}");
                }
                MatchOutcome::NoMatch { reasons } => {
                    rep.verdict = VerifyVerdict::CertMismatch;
                    rep.detail = reasons.join("; ");
                }
                // RFC 7672 §2.2: no usable record leaves TLS without authentication, and
                // mail goes out over it, unless the sender refuses such hosts
                MatchOutcome::Unusable if ctx.opts.unusable_tlsa_refuses => {
                    rep.verdict = VerifyVerdict::TlsaUnusable;
                    rep.detail = "no usable TLSA record: the sender refuses the host".into();
                }
                MatchOutcome::Unusable => {
                    rep.verdict = VerifyVerdict::NotDane;
                    rep.detail = "no usable TLSA record: TLS without authentication".into();
                }
            }
        }
    }
    rep.millis = start.elapsed().as_millis() as u64;
    let _ = host;
    rep
}

async fn verify_one(ctx: Arc<Ctx>, domain: String) -> DomainReport {
    let _permit = ctx.global.acquire().await;
    let start = Instant::now();
    let mut rep = DomainReport {
        domain: domain.clone(),
        verdict: VerifyVerdict::Unreachable,
        mx_dnssec: DnssecStatus::Indeterminate,
        implicit_mx: false,
        detail: String::new(),
        mx: Vec::new(),
        checked_at: crate::timefmt::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        ),
        millis: 0,
    };
    let mx = ctx.dns.lookup(&domain, RecordType::MX).await;
    rep.mx_dnssec = mx.status;
    let mut hosts: Vec<(u16, String)> = Vec::new();
    let mut null_mx = false;
    match mx.status {
        // a failure without proof of bogus data cannot be told from an outage of the
        // resolver or of the domain's servers: not a confirmation of anything
        DnssecStatus::Bogus | DnssecStatus::Indeterminate => {
            rep.verdict = if mx.status == DnssecStatus::Bogus {
                VerifyVerdict::Dnssec
            } else {
                VerifyVerdict::Unreachable
            };
            rep.detail = lookup_err(&mx, &format!("MX {domain}"));
            rep.millis = start.elapsed().as_millis() as u64;
            return rep;
        }
        _ => {
            for r in &mx.records {
                if let RData::MX(m) = r {
                    let h = m.exchange.to_ascii();
                    let h = h.trim_end_matches('.').to_ascii_lowercase();
                    if h.is_empty() {
                        null_mx = true;
                    } else {
                        hosts.push((m.preference, h));
                    }
                }
            }
        }
    }
    if hosts.is_empty() && null_mx {
        // RFC 7505: the domain accepts no mail; there is no host to try, nor its address
        rep.verdict = VerifyVerdict::NotDane;
        rep.detail = format!("null MX (RFC 7505): {domain} accepts no mail");
        rep.millis = start.elapsed().as_millis() as u64;
        return rep;
    }
    if hosts.is_empty() {
        rep.implicit_mx = true;
        hosts.push((0, domain.clone()));
    }
    hosts.sort();
    let mx_secure = mx.status == DnssecStatus::Secure;
    let mut futs = Vec::new();
    for (pref, h) in hosts {
        let ctx2 = ctx.clone();
        let d = domain.clone();
        futs.push(tokio::spawn(async move {
            verify_mx(&ctx2, &d, h, pref, mx_secure).await
        }));
    }
    for f in futs {
        if let Ok(m) = f.await {
            rep.mx.push(m);
        }
    }
    let vs: Vec<VerifyVerdict> = rep.mx.iter().map(|m| m.verdict).collect();
    rep.verdict = combine(&vs);
    rep.detail = rep
        .mx
        .iter()
        .map(|m| format!("{}: {}", m.host, m.verdict.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    rep.millis = start.elapsed().as_millis() as u64;
    rep
}

/// Verify domains with bounded concurrency; reports come back in the order given.
pub async fn verify_domains(
    domains: &[String],
    opts: &VerifyOptions,
) -> Result<Vec<DomainReport>, VerifyError> {
    let dns = Dns::new(&opts.dns, opts.dns_timeout)?;
    let tls = smtp::client_config().map_err(|e| VerifyError::Tls(e.to_string()))?;
    let ctx = Arc::new(Ctx {
        dns,
        opts: opts.clone(),
        tls,
        global: Semaphore::new(opts.concurrency.max(1)),
        per_addr: std::sync::Mutex::new(HashMap::new()),
        probes: std::sync::Mutex::new(HashMap::new()),
    });
    let mut handles = Vec::with_capacity(domains.len());
    for d in domains {
        handles.push(tokio::spawn(verify_one(ctx.clone(), d.clone())));
    }
    let mut out = Vec::with_capacity(domains.len());
    for (h, d) in handles.into_iter().zip(domains) {
        match h.await {
            Ok(r) => out.push(r),
            Err(e) => out.push(DomainReport {
                domain: d.clone(),
                verdict: VerifyVerdict::Unreachable,
                mx_dnssec: DnssecStatus::Indeterminate,
                implicit_mx: false,
                detail: format!("internal error: {e}"),
                mx: Vec::new(),
                checked_at: String::new(),
                millis: 0,
            }),
        }
    }
    Ok(out)
}

/// [`verify_domains`] on its own tokio runtime, for callers without one.
pub fn verify_domains_blocking(
    domains: &[String],
    opts: &VerifyOptions,
) -> Result<Vec<DomainReport>, VerifyError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(512)
        .build()
        .map_err(|e| VerifyError::Runtime(e.to_string()))?;
    rt.block_on(verify_domains(domains, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use VerifyVerdict::*;

    #[test]
    fn ehlo_names() {
        for ok in [
            "mx.example.org",
            "MX.Example.org",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            assert_eq!(check_ehlo_name(ok).as_deref(), Ok(ok));
        }
        let bad = [
            "a.example\r\nMAIL FROM:<x>",
            "a b.example",
            "[192.0.2.300]",
            "",
            "[x]",
            "localhost",
        ];
        for bad in bad {
            assert!(check_ehlo_name(bad).is_err(), "{bad:?}");
        }
        let d = default_ehlo_name();
        assert!(check_ehlo_name(&d).is_ok() && d.contains('.'), "{d}");
    }

    #[test]
    fn combining_verdicts() {
        assert_eq!(combine(&[DaneOk, DaneOk]), DaneOk);
        assert_eq!(combine(&[DaneOk, CertMismatch]), Partial);
        assert_eq!(combine(&[NotDane, NoStarttls]), Partial);
        assert_eq!(combine(&[CertMismatch, Unreachable]), CertMismatch);
        assert_eq!(combine(&[TlsFailure, Dnssec]), Dnssec);
        assert_eq!(combine(&[DaneOk, Unreachable]), DaneOk);
        assert_eq!(combine(&[Unreachable]), Unreachable);
        assert_eq!(combine(&[NotDane]), NotDane);
        assert_eq!(combine(&[]), Unreachable);
        assert!(Partial.is_failure() && !NotDane.is_failure() && !Unreachable.is_failure());
        assert_eq!(
            CertMismatch.failure_class(),
            Some(FailureClass::CertMismatch)
        );
    }
}
