//! DNS lookups with their DNSSEC status: secure, insecure, bogus or indeterminate.
//!
//! Two modes: hickory validates every answer in-process against a trust anchor (the IANA root
//! KSKs by default, or a file), or danemine trusts the AD bit of a validating resolver the way
//! Postfix does (queries with DO=1 through hickory's low-level client; SERVFAIL with an RFC 8914
//! extended error 6-12 is bogus, and so is one without a reason that is answered when asked
//! again with checking disabled; other SERVFAILs and timeouts are indeterminate). An answer
//! truncated over UDP is asked again over TCP. In-process, an answer reached through an
//! insecure alias is insecure, and one that hickory rejects because it came through a CNAME
//! or a DNAME is validated again hop by hop.

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::client::Client;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::tcp::TcpClientStream;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::{DnsRequest, DnsRequestOptions, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How DNS answers are validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsMode {
    /// Validate in-process against `trust_anchor` (DNSKEY RRs in zone-file syntax; `None` = the
    /// IANA root KSKs), asking `nameserver` (`None` = the first nameserver of /etc/resolv.conf).
    Validate {
        trust_anchor: Option<PathBuf>,
        nameserver: Option<SocketAddr>,
    },
    /// Trust the AD bit of this validating resolver.
    TrustAd { resolver: SocketAddr },
}

/// The DNSSEC status of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnssecStatus {
    Secure,
    Insecure,
    Bogus,
    /// No proof either way: a SERVFAIL that is no validation failure as far as can be told, a
    /// timeout, or no answer at all (as an outage of the resolver or of the servers gives).
    Indeterminate,
}

/// One lookup's result.
#[derive(Debug, Clone, Serialize)]
pub struct DnsAnswer {
    pub status: DnssecStatus,
    /// The records of the queried type (CNAMEs followed).
    #[serde(skip)]
    pub records: Vec<RData>,
    /// The name does not exist (NXDOMAIN) or has no records of the type (NODATA).
    pub empty: bool,
    /// When the name is an alias: the owner name of the records found (CNAME-expanded,
    /// lower case, no trailing dot).
    pub canonical: Option<String>,
    /// Why the lookup failed, when it did.
    pub error: Option<String>,
    /// It failed at this verifier's own resolver: a truncated answer that could not be asked
    /// again over TCP (a resolver or firewall that allows only UDP). Not the receiver's DNS.
    #[serde(skip)]
    pub resolver_failed: bool,
}

impl DnsAnswer {
    /// No records of the type (NXDOMAIN or NODATA), denied with `status`.
    fn denied(status: DnssecStatus) -> DnsAnswer {
        DnsAnswer {
            status,
            records: Vec::new(),
            empty: true,
            canonical: None,
            error: None,
            resolver_failed: false,
        }
    }

    fn failed(status: DnssecStatus, e: String) -> DnsAnswer {
        DnsAnswer {
            status,
            records: Vec::new(),
            empty: false,
            canonical: None,
            error: Some(e),
            resolver_failed: false,
        }
    }
}

enum Inner {
    Validate(Box<TokioResolver>),
    Ad(Client<TokioRuntimeProvider>),
}

/// A DNS client in one of the two modes.
pub struct Dns {
    inner: Inner,
    timeout: Duration,
    /// The validating resolver (AD mode; the nameserver when validating in-process).
    resolver: SocketAddr,
}

/// Errors setting up DNS.
#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    #[error("trust anchor {path}: {message}")]
    Anchor { path: String, message: String },
    #[error("no nameserver given and none found in /etc/resolv.conf")]
    NoNameserver,
    #[error("resolver: {0}")]
    Resolver(String),
}

fn system_nameserver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver"))
            .then(|| w.next())
            .flatten()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

impl Dns {
    /// Set up DNS for `mode`; must be called inside a tokio runtime.
    pub fn new(mode: &DnsMode, timeout: Duration) -> Result<Dns, DnsSetupError> {
        match mode {
            DnsMode::Validate {
                trust_anchor,
                nameserver,
            } => {
                let ns = nameserver
                    .or_else(system_nameserver)
                    .ok_or(DnsSetupError::NoNameserver)?;
                let mut cfg = NameServerConfig::udp_and_tcp(ns.ip());
                for c in &mut cfg.connections {
                    c.port = ns.port();
                }
                let mut b = Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![cfg]),
                    TokioRuntimeProvider::default(),
                );
                let mut o = ResolverOpts::default();
                o.use_hosts_file = ResolveHosts::Never;
                o.cache_size = 1024;
                o.attempts = 2;
                o.timeout = timeout;
                o.validate = true;
                *b.options_mut() = o;
                if let Some(p) = trust_anchor {
                    let ta = TrustAnchors::from_file(p).map_err(|e| DnsSetupError::Anchor {
                        path: p.display().to_string(),
                        message: e.to_string(),
                    })?;
                    b = b.with_trust_anchor(Arc::new(ta));
                }
                let r = b
                    .build()
                    .map_err(|e| DnsSetupError::Resolver(e.to_string()))?;
                Ok(Dns {
                    inner: Inner::Validate(Box::new(r)),
                    timeout,
                    resolver: ns,
                })
            }
            DnsMode::TrustAd { resolver } => {
                let conn = UdpClientStream::builder(*resolver, TokioRuntimeProvider::default())
                    .with_timeout(Some(timeout))
                    .build();
                let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
                tokio::spawn(bg);
                Ok(Dns {
                    inner: Inner::Ad(client),
                    timeout,
                    resolver: *resolver,
                })
            }
        }
    }

    /// Look up `name` (absolute; a trailing dot is added) for `rtype`.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> DnsAnswer {
        self.lookup_as(name, rtype, true).await
    }

    /// [`lookup`](Self::lookup); `realias` says whether an in-process answer that hickory
    /// calls bogus may be looked up again through its aliases (not for the target such a
    /// lookup reaches: a chain that leads on from there, a loop, stays bogus).
    async fn lookup_as(&self, name: &str, rtype: RecordType, realias: bool) -> DnsAnswer {
        let fq = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let qname = match Name::from_ascii(&fq) {
            Ok(n) => n,
            Err(e) => {
                return DnsAnswer::failed(
                    DnssecStatus::Indeterminate,
                    format!("bad name {name:?}: {e}"),
                )
            }
        };
        match &self.inner {
            Inner::Validate(r) => {
                match tokio::time::timeout(self.timeout * 3, r.lookup(qname.clone(), rtype)).await {
                    Err(_) => DnsAnswer::failed(DnssecStatus::Indeterminate, "timeout".into()),
                    Ok(Ok(l)) => {
                        let recs: Vec<&Record> = l
                            .answers()
                            .iter()
                            .filter(|r| r.record_type() == rtype)
                            .collect();
                        // the aliases that led there count too: an insecure CNAME makes the
                        // answer insecure however its target is signed (RFC 7672 §2.2.2)
                        let chain: Vec<&Record> = l
                            .answers()
                            .iter()
                            .filter(|r| {
                                matches!(r.record_type(), RecordType::CNAME | RecordType::DNAME)
                            })
                            .collect();
                        let all = || recs.iter().chain(&chain);
                        let mut status = if all().any(|r| r.proof == Proof::Bogus) {
                            DnssecStatus::Bogus
                        } else if !recs.is_empty() && all().all(|r| r.proof == Proof::Secure) {
                            DnssecStatus::Secure
                        } else {
                            DnssecStatus::Insecure
                        };
                        let canonical = canonical_of(&fq, recs.first().map(|r| &r.name));
                        // an answer from the cache may hold the target's records without the
                        // aliases that lead to them: those are then looked up one by one
                        let asked_alias = chain.iter().any(|c| same_name(&c.name, &fq));
                        if status == DnssecStatus::Secure && !asked_alias {
                            if let Some(end) = &canonical {
                                status = self.alias_chain(r, &qname, end).await;
                            }
                        }
                        DnsAnswer {
                            status,
                            empty: recs.is_empty(),
                            canonical,
                            records: recs.into_iter().map(|r| r.data.clone()).collect(),
                            error: None,
                            resolver_failed: false,
                        }
                    }
                    Ok(Err(NetError::Dns(DnsError::NoRecordsFound(nr)))) => {
                        DnsAnswer::denied(match nr.soa.as_ref().map(|s| s.proof) {
                            Some(Proof::Secure) => DnssecStatus::Secure,
                            Some(Proof::Bogus) => DnssecStatus::Bogus,
                            _ => DnssecStatus::Insecure,
                        })
                    }
                    Ok(Err(NetError::Dns(DnsError::DnssecBogus))) => {
                        let again = match realias {
                            true => self.through_alias(r, &qname, rtype).await,
                            false => None,
                        };
                        match again {
                            Some(a) => a,
                            None => DnsAnswer::failed(DnssecStatus::Bogus, "DNSSEC bogus".into()),
                        }
                    }
                    // a denial of existence, with the status hickory gives its proof: bogus
                    // when it fails, insecure for one it does not judge (an NSEC3 iteration
                    // count above its limit, RFC 9276), secure when it holds
                    Ok(Err(NetError::Dns(DnsError::Nsec { proof, .. }))) => match proof {
                        Proof::Secure => DnsAnswer::denied(DnssecStatus::Secure),
                        Proof::Insecure => DnsAnswer::denied(DnssecStatus::Insecure),
                        Proof::Bogus => DnsAnswer::failed(
                            DnssecStatus::Bogus,
                            "denial of existence proof failed".into(),
                        ),
                        _ => DnsAnswer::failed(
                            DnssecStatus::Indeterminate,
                            "denial of existence not judged".into(),
                        ),
                    },
                    Ok(Err(e)) => DnsAnswer::failed(DnssecStatus::Indeterminate, e.to_string()),
                }
            }
            Inner::Ad(client) => {
                let resp = match self.ask(client, &qname, rtype, false).await {
                    Ok(r) => r,
                    Err(e) => {
                        let mut a = DnsAnswer::failed(DnssecStatus::Indeterminate, e.text);
                        a.resolver_failed = e.resolver;
                        return a;
                    }
                };
                let code = resp.metadata.response_code;
                let ad = resp.metadata.authentic_data;
                if code == ResponseCode::ServFail {
                    // RFC 8914: 6 DNSSEC Bogus, 7 Signature Expired, 8 Not Yet Valid,
                    // 9 DNSKEY Missing, 10 RRSIGs Missing, 11 No Zone Key Bit, 12 NSEC Missing
                    let ede = resp.edns.as_ref().and_then(|e| {
                        e.options().options.iter().find_map(|(_, opt)| {
                            let bytes = opt_bytes(opt)?;
                            (bytes.len() >= 2).then(|| u16::from_be_bytes([bytes[0], bytes[1]]))
                        })
                    });
                    if let Some(c) = ede.filter(|c| (6..=12).contains(c)) {
                        return DnsAnswer::failed(
                            DnssecStatus::Bogus,
                            format!("SERVFAIL (EDE {c})"),
                        );
                    }
                    // Without a reason, a SERVFAIL may be a validation failure or a resolver or
                    // server outage. Asked again with checking disabled (RFC 4035 §3.2.2), the
                    // resolver answers when the data is there and only failed validation.
                    let again = self.ask(client, &qname, rtype, true).await;
                    let answered = again.as_ref().is_ok_and(|r| {
                        matches!(
                            r.metadata.response_code,
                            ResponseCode::NoError | ResponseCode::NXDomain
                        )
                    });
                    let ede = ede.map(|c| format!(" (EDE {c})")).unwrap_or_default();
                    return if answered {
                        DnsAnswer::failed(
                            DnssecStatus::Bogus,
                            format!("SERVFAIL{ede}, answered with checking disabled"),
                        )
                    } else {
                        let how = match again {
                            Ok(r) => r.metadata.response_code.to_string(),
                            Err(e) => e.text,
                        };
                        DnsAnswer::failed(
                            DnssecStatus::Indeterminate,
                            format!("SERVFAIL{ede}, with checking disabled too: {how}"),
                        )
                    };
                }
                if code != ResponseCode::NoError && code != ResponseCode::NXDomain {
                    return DnsAnswer::failed(DnssecStatus::Indeterminate, format!("{code}"));
                }
                let matching: Vec<&Record> = resp
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .collect();
                let canonical = canonical_of(&fq, matching.first().map(|r| &r.name));
                let recs: Vec<RData> = matching.iter().map(|r| r.data.clone()).collect();
                DnsAnswer {
                    status: if ad {
                        DnssecStatus::Secure
                    } else {
                        DnssecStatus::Insecure
                    },
                    empty: recs.is_empty(),
                    canonical,
                    records: recs,
                    error: None,
                    resolver_failed: false,
                }
            }
        }
    }

    /// The DNSSEC status of the aliases from `start` to `end` (lower case, no trailing dot),
    /// each CNAME looked up in turn: secure only when every one is proven, bogus when one is;
    /// insecure otherwise, also when the chain cannot be followed (DANE then does not apply).
    async fn alias_chain(&self, r: &TokioResolver, start: &Name, end: &str) -> DnssecStatus {
        let mut name = start.clone();
        for _ in 0..MAX_HOPS {
            match self.cname_hop(r, &name).await {
                Hop::Alias(Proof::Secure, target) if same_name(&target, end) => {
                    return DnssecStatus::Secure
                }
                Hop::Alias(Proof::Secure, target) => name = target,
                Hop::Alias(Proof::Bogus, _) | Hop::Bogus => return DnssecStatus::Bogus,
                // a hop not answered: not proven secure, and no failure of the receiver's
                // either; addresses with an unknown status would count as secure beside a
                // secure other family, so insecure
                _ => return DnssecStatus::Insecure,
            }
        }
        DnssecStatus::Insecure
    }

    /// The CNAME at `name`, validated alone; for a name under a DNAME, the DNAME's hop.
    async fn cname_hop(&self, r: &TokioResolver, name: &Name) -> Hop {
        let hop = self.cname_alone(r, name).await;
        match hop {
            Hop::Bogus | Hop::Alias(Proof::Bogus | Proof::Insecure | Proof::Indeterminate, _) => {
                // (a DNAME replaces the hop only when its own proof decides: secure or bogus)
                match self.dname_hop(r, name).await {
                    Some(d @ (Hop::Bogus | Hop::Alias(Proof::Secure, _))) => d,
                    _ => hop,
                }
            }
            _ => hop,
        }
    }

    /// The CNAME record at `name`, as hickory validates it.
    async fn cname_alone(&self, r: &TokioResolver, name: &Name) -> Hop {
        let found =
            tokio::time::timeout(self.timeout * 3, r.lookup(name.clone(), RecordType::CNAME));
        let l = match found.await {
            Ok(Ok(l)) => l,
            // hickory reports bogus data as an error
            Ok(Err(NetError::Dns(DnsError::DnssecBogus))) => return Hop::Bogus,
            _ => return Hop::Unanswered,
        };
        let owner = name.to_ascii();
        l.answers()
            .iter()
            .find_map(|c| match &c.data {
                RData::CNAME(t) if same_name(&c.name, &owner) => {
                    Some(Hop::Alias(c.proof, t.0.clone()))
                }
                _ => None,
            })
            .unwrap_or(Hop::NoAlias)
    }

    /// The hop of a DNAME (RFC 6672) at an ancestor of `name`, found by asking each ancestor
    /// for one, from the top down: the name it stands for, with the DNAME's own proof. A
    /// server answers a name under a DNAME with the DNAME and a CNAME synthesized from it,
    /// which is unsigned, as it must be (RFC 6672 §5.3.3: the signed DNAME vouches for it);
    /// hickory (0.26) calls such answers bogus, where unbound (so Postfix) validates them.
    /// The highest DNAME is the one that applies (nothing lies below a DNAME's owner), and
    /// asked at its owner it is answered as it stands, not synthesized. `None` when no
    /// ancestor holds a DNAME, or a lookup fails otherwise.
    async fn dname_hop(&self, r: &TokioResolver, name: &Name) -> Option<Hop> {
        let labels: Vec<&[u8]> = name.iter().collect();
        for cut in (1..labels.len()).rev() {
            let owner = Name::from_labels(labels[cut..].iter().copied()).ok()?;
            let found =
                tokio::time::timeout(self.timeout * 3, r.lookup(owner.clone(), RecordType::DNAME));
            let l = match found.await {
                Ok(Ok(l)) => l,
                Ok(Err(NetError::Dns(DnsError::DnssecBogus))) => return Some(Hop::Bogus),
                Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => continue,
                _ => return None,
            };
            let at = owner.to_ascii();
            // hickory keeps a DNAME's data as raw bytes: its target, uncompressed (RFC 6672
            // §2.5)
            let (proof, target) = l.answers().iter().find_map(|d| match &d.data {
                RData::Unknown { code, rdata } if *code == RecordType::DNAME => {
                    same_name(&d.name, &at).then(|| (d.proof, wire_name(&rdata.anything)))
                }
                _ => None,
            })?;
            let target = target?;
            if proof == Proof::Bogus {
                return Some(Hop::Bogus);
            }
            let below = Name::from_labels(labels[..cut].iter().copied()).ok()?;
            return Some(Hop::Alias(proof, below.append_domain(&target).ok()?));
        }
        None
    }

    /// A lookup that hickory's validator called bogus, done again step by step when `qname` is
    /// an alias: hickory (0.26) rejects some valid answers that hold a CNAME and its target
    /// together (a signed in-zone alias of a signed host), where unbound validates them. Each
    /// CNAME and then the target's records are looked up and validated alone. `None` when
    /// `qname` is no alias or a CNAME on the way is bogus itself: the verdict stands.
    async fn through_alias(
        &self,
        r: &TokioResolver,
        qname: &Name,
        rtype: RecordType,
    ) -> Option<DnsAnswer> {
        let mut name = qname.clone();
        let mut insecure = false;
        let mut hops = 0;
        loop {
            let Hop::Alias(proof, target) = self.cname_hop(r, &name).await else {
                break;
            };
            if hops == MAX_HOPS {
                // a chain longer than any resolver follows, or a loop (two DNAMEs that name
                // each other): no answer
                let why = format!("more than {MAX_HOPS} aliases from {qname}");
                return Some(DnsAnswer::failed(DnssecStatus::Indeterminate, why));
            }
            match proof {
                Proof::Bogus => return None,
                Proof::Secure => {}
                _ => insecure = true,
            }
            name = target;
            hops += 1;
        }
        if hops == 0 {
            return None;
        }
        let target = name.to_ascii();
        let mut a = Box::pin(self.lookup_as(&target, rtype, false)).await;
        if insecure && a.status == DnssecStatus::Secure {
            a.status = DnssecStatus::Insecure;
        }
        if a.canonical.is_none() && !a.records.is_empty() {
            a.canonical = Some(target.trim_end_matches('.').to_ascii_lowercase());
        }
        Some(a)
    }

    /// One query to the validating resolver, with DO set and, when `cd`, checking disabled.
    async fn ask(
        &self,
        client: &Client<TokioRuntimeProvider>,
        qname: &Name,
        rtype: RecordType,
        cd: bool,
    ) -> Result<hickory_resolver::proto::op::DnsResponse, AskError> {
        let mut o = DnsRequestOptions::default();
        o.use_edns = true;
        o.edns_set_dnssec_ok = true;
        o.recursion_desired = true;
        let mut req = DnsRequest::from_query(Query::query(qname.clone(), rtype), o);
        req.metadata.checking_disabled = cd;
        let udp = tokio::time::timeout(self.timeout * 2, client.send(req.clone()).first_answer());
        let resp = match udp.await {
            Err(_) => return Err(AskError::other("timeout".into())),
            Ok(Err(e)) => return Err(AskError::other(e.to_string())),
            Ok(Ok(r)) => r,
        };
        if !resp.metadata.truncation {
            return Ok(resp);
        }
        // too large for UDP (a big TLSA RRset): the resolver sends no records, only TC; the
        // whole answer comes over TCP (RFC 7766)
        let tcp = async {
            let (stream, handle) = TcpClientStream::new(
                self.resolver,
                None,
                Some(self.timeout),
                TokioRuntimeProvider::default(),
            );
            let stream = stream.await.map_err(|e| e.to_string())?;
            let (tcp_client, bg) =
                Client::<TokioRuntimeProvider>::with_timeout(stream, handle, self.timeout);
            let bg = tokio::spawn(bg);
            let answer = tcp_client.send(req).first_answer().await;
            bg.abort();
            answer.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.timeout * 2, tcp).await {
            Err(_) => Err(AskError::tcp("timeout")),
            Ok(r) => r.map_err(|e| AskError::tcp(&e)),
        }
    }
}

/// The longest alias chain followed hop by hop: RFC 7672 §2.2.2 leaves the length to the
/// resolver, and 8 is plenty.
const MAX_HOPS: usize = 8;

/// What a CNAME lookup of one name found.
enum Hop {
    /// A CNAME to the target, with its proof.
    Alias(Proof, Name),
    /// The name is no alias.
    NoAlias,
    /// hickory found the answer bogus.
    Bogus,
    /// No answer (a timeout, an error).
    Unanswered,
}

/// Why a query to the validating resolver got no response.
struct AskError {
    text: String,
    /// The answer was truncated over UDP and the resolver did not give it over TCP: this
    /// verifier's own resolver failed ([`DnsAnswer::resolver_failed`]).
    resolver: bool,
}

impl AskError {
    fn other(text: String) -> AskError {
        AskError {
            text,
            resolver: false,
        }
    }

    fn tcp(why: &str) -> AskError {
        AskError {
            text: format!("truncated over UDP, and over TCP: {why}"),
            resolver: true,
        }
    }
}

/// A domain name in uncompressed wire form (length-prefixed labels, then a zero), all of
/// `b`; `None` for anything else.
fn wire_name(b: &[u8]) -> Option<Name> {
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    loop {
        let len = usize::from(*b.get(at)?);
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(b.get(at + 1..at + 1 + len)?);
        at += 1 + len;
    }
    (at + 1 == b.len()).then_some(())?;
    match labels.is_empty() {
        true => Some(Name::root()),
        false => Name::from_labels(labels).ok(),
    }
}

/// Whether `n` is the name `s` (any case, trailing dot or not).
fn same_name(n: &Name, s: &str) -> bool {
    n.to_ascii()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(s.trim_end_matches('.'))
}

/// The owner name of the answer records when it differs from the name asked (a CNAME chain).
fn canonical_of(asked: &str, owner: Option<&Name>) -> Option<String> {
    let o = owner?.to_ascii().to_ascii_lowercase();
    let o = o.trim_end_matches('.');
    (!o.eq_ignore_ascii_case(asked.trim_end_matches('.'))).then(|| o.to_string())
}

fn opt_bytes(opt: &hickory_resolver::proto::rr::rdata::opt::EdnsOption) -> Option<Vec<u8>> {
    use hickory_resolver::proto::rr::rdata::opt::EdnsOption;
    match opt {
        EdnsOption::Unknown(15, b) => Some(b.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_name_is_read_whole_or_not_at_all() {
        let name = wire_name(b"\x05hosts\x04dane\x04test\x00").unwrap();
        assert_eq!(name.to_ascii(), "hosts.dane.test.");
        assert_eq!(wire_name(b"\x00").unwrap(), Name::root());
        assert!(wire_name(b"\x05hosts\x04dane").is_none()); // no end
        assert!(wire_name(b"\x05hosts\x00\x00").is_none()); // bytes after the end
        assert!(wire_name(b"\xc0\x0c").is_none()); // a compression pointer
        assert!(wire_name(b"").is_none());
    }
}
