//! TLSA matching per RFC 7671 and RFC 7672: usages 2 (DANE-TA) and 3 (DANE-EE), selectors 0
//! (full certificate) and 1 (SubjectPublicKeyInfo), matching types 0 (exact), 1 (SHA-256) and
//! 2 (SHA-512). DANE-EE ignores names and dates; DANE-TA needs the trust anchor in the chain (or,
//! for a Full(0) record, takes the record's certificate or key as the anchor), a valid chain from
//! it, validity dates (optionally `days` ahead) and a name check against the reference
//! identifiers (the subjectAltName dNSNames, or without any the subject CN), wildcards only as
//! a whole leftmost label.

use ring::digest;
use rustls_pki_types::{CertificateDer, Der, ServerName, TrustAnchor, UnixTime};
use serde::Serialize;
use std::fmt;

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    #[serde(serialize_with = "hex_ser")]
    pub data: Vec<u8>,
}

fn hex_ser<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.matching,
            hex::encode(&self.data)
        )
    }
}

impl Tlsa {
    /// Usable for SMTP (RFC 7672 §3.1.3): usage 2 or 3, selector 0/1, matching 0/1/2, and data
    /// that fits them (see [`Tlsa::well_formed`]).
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3)
            && self.selector <= 1
            && self.matching <= 2
            && self.well_formed()
    }

    /// The data fits the selector and matching type: a SHA-256 digest of 32 bytes, a SHA-512
    /// digest of 64, a full certificate (selector 0) or SubjectPublicKeyInfo (selector 1) that
    /// parses as one with nothing after it. A malformed record is unusable (RFC 7671 §4 and §5),
    /// as OpenSSL's `SSL_dane_tlsa_add` and so Postfix treat it.
    pub fn well_formed(&self) -> bool {
        use x509_parser::prelude::FromDer;
        match (self.selector, self.matching) {
            (_, 1) => self.data.len() == digest::SHA256_OUTPUT_LEN,
            (_, 2) => self.data.len() == digest::SHA512_OUTPUT_LEN,
            (0, 0) => matches!(
                x509_parser::parse_x509_certificate(&self.data),
                Ok((rest, _)) if rest.is_empty()
            ),
            (1, 0) => matches!(
                x509_parser::x509::SubjectPublicKeyInfo::from_der(&self.data),
                Ok((rest, _)) if rest.is_empty()
            ),
            _ => false,
        }
    }

    /// Parse `3 1 1 <hex>` (as in zone files and test fixtures).
    pub fn parse(s: &str) -> Option<Tlsa> {
        let mut w = s.split_whitespace();
        let usage = w.next()?.parse().ok()?;
        let selector = w.next()?.parse().ok()?;
        let matching = w.next()?.parse().ok()?;
        let hexs: String = w.collect();
        Some(Tlsa {
            usage,
            selector,
            matching,
            data: hex::decode(hexs).ok()?,
        })
    }

    fn matches_bytes(&self, selected: &[u8]) -> bool {
        match self.matching {
            0 => selected == self.data.as_slice(),
            1 => digest::digest(&digest::SHA256, selected).as_ref() == self.data.as_slice(),
            2 => digest::digest(&digest::SHA512, selected).as_ref() == self.data.as_slice(),
            _ => false,
        }
    }
}

/// The SubjectPublicKeyInfo DER of a certificate.
pub fn spki(cert: &[u8]) -> Option<Vec<u8>> {
    let (_, c) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(c.tbs_certificate.subject_pki.raw.to_vec())
}

fn selected(cert: &[u8], selector: u8) -> Option<Vec<u8>> {
    match selector {
        0 => Some(cert.to_vec()),
        1 => spki(cert),
        _ => None,
    }
}

/// SHA-256 hex of bytes (evidence).
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b))
}

/// At most this many certificates after the end entity are looked at, as trust anchors and as
/// intermediates, in any order: webpki builds paths of at most 6 intermediates, and Postfix's
/// default `smtp_tls_scert_verifydepth` is 9.
const MAX_ISSUERS: usize = 10;

/// The outcome of matching a chain against a TLSA RRset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum MatchOutcome {
    /// A usable record matched (and, for DANE-TA, the chain and name checked out). `depth`: of
    /// the certificate that matched in the chain as sent; for a DANE-TA anchor taken from the
    /// record, one above the topmost certificate of the verified path.
    Match { record: String, depth: usize },
    /// No usable record matched; the reasons per record.
    NoMatch { reasons: Vec<String> },
    /// The RRset has no usable record.
    Unusable,
}

/// Match `chain` (end entity first) against `records` with reference identifiers `names`
/// (TLSA base domain first), at `now` plus `days` for DANE-TA validity.
pub fn match_chain(
    records: &[Tlsa],
    chain: &[Vec<u8>],
    names: &[String],
    days: u32,
) -> MatchOutcome {
    let usable: Vec<&Tlsa> = records.iter().filter(|r| r.usable()).collect();
    if usable.is_empty() {
        return MatchOutcome::Unusable;
    }
    let mut reasons = Vec::new();
    let Some(ee) = chain.first() else {
        return MatchOutcome::NoMatch {
            reasons: vec!["the server presented no certificate".into()],
        };
    };
    // DANE-EE first: the cheapest and the most common
    for r in usable.iter().filter(|r| r.usage == 3) {
        match selected(ee, r.selector) {
            Some(sel) if r.matches_bytes(&sel) => {
                return MatchOutcome::Match {
                    record: r.to_string(),
                    depth: 0,
                }
            }
            Some(_) => reasons.push(format!("{r}: no match with the end-entity certificate")),
            None => reasons.push(format!("{r}: end-entity certificate does not parse")),
        }
    }
    for r in usable.iter().filter(|r| r.usage == 2) {
        let mut found = false;
        for (depth, cert) in chain.iter().enumerate().skip(1).take(MAX_ISSUERS) {
            let Some(sel) = selected(cert, r.selector) else {
                continue;
            };
            if !r.matches_bytes(&sel) {
                continue;
            }
            found = true;
            let ta_der = CertificateDer::from(cert.as_slice());
            let verified = anchor_in_date(cert, days)
                .and_then(|()| {
                    webpki::anchor_from_trusted_cert(&ta_der)
                        .map_err(|e| format!("not a usable trust anchor ({e:?})"))
                })
                .and_then(|anchor| {
                    let ta = (depth, cert.as_slice());
                    check_ta_chain(chain, Some(ta), &[anchor], names, days)
                });
            match verified {
                Ok(_) => {
                    return MatchOutcome::Match {
                        record: r.to_string(),
                        depth,
                    }
                }
                Err(e) => reasons.push(format!("{r}: trust anchor at depth {depth}: {e}")),
            }
        }
        if found {
            continue;
        }
        if r.matching != 0 {
            reasons.push(format!("{r}: no certificate in the chain matches"));
            continue;
        }
        // a full certificate or key the server did not send is the trust anchor itself
        // (RFC 7671 §5.2.2, RFC 7672 §3.1.2)
        match check_record_anchor(r, chain, names, days) {
            Ok(depth) => {
                return MatchOutcome::Match {
                    record: r.to_string(),
                    depth,
                }
            }
            Err(e) => reasons.push(format!(
                "{r}: not in the chain, the record's {} as trust anchor: {e}",
                if r.selector == 0 {
                    "certificate"
                } else {
                    "key"
                }
            )),
        }
    }
    MatchOutcome::NoMatch { reasons }
}

/// DANE-TA with a Full(0) record whose trust anchor is not in the chain: the record's certificate
/// (selector 0) or bare key (selector 1) is the anchor. Returns the anchor's depth, one above
/// the topmost certificate of the verified path.
fn check_record_anchor(
    r: &Tlsa,
    chain: &[Vec<u8>],
    names: &[String],
    days: u32,
) -> Result<usize, String> {
    if r.selector == 0 {
        // the end entity is never its own trust anchor (as with digests, where depth 0 is not
        // looked at)
        if chain.first() == Some(&r.data) {
            return Err("it is the end-entity certificate".into());
        }
        anchor_in_date(&r.data, days)?;
        let der = CertificateDer::from(r.data.as_slice());
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| format!("not a usable trust anchor ({e:?})"))?;
        // (a depth past the chain: no certificate of the chain is left out for it)
        return check_ta_chain(chain, Some((usize::MAX, &r.data)), &[anchor], names, days);
    }
    // webpki holds a trust anchor's key and subject as the contents of their SEQUENCEs
    let key = sequence_contents(&r.data).ok_or("the key does not parse")?;
    // A bare key has no name: the anchor gets each issuer name of the chain, all with this key.
    // The signatures decide which, if any, this key issued.
    let mut subjects: Vec<Vec<u8>> = Vec::new();
    for c in chain.iter().take(1 + MAX_ISSUERS) {
        let der = CertificateDer::from(c.as_slice());
        if let Ok(cert) = webpki::EndEntityCert::try_from(&der) {
            let issuer = cert.issuer();
            if !subjects.iter().any(|s| s.as_slice() == issuer) {
                subjects.push(issuer.to_vec());
            }
        }
    }
    let anchors: Vec<TrustAnchor<'_>> = subjects
        .iter()
        .map(|s| TrustAnchor {
            subject: Der::from(s.as_slice()),
            subject_public_key_info: Der::from(key),
            name_constraints: None,
        })
        .collect();
    check_ta_chain(chain, None, &anchors, names, days)
}

/// The Unix time `days` days from now, when certificates are checked for validity.
fn days_ahead(days: u32) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_add(u64::from(days) * 86_400)
}

/// A trust anchor certificate's own dates, at `now` plus `days`. webpki keeps no dates for an
/// anchor, but OpenSSL (so Postfix) checks them for a DANE-TA certificate as for the others:
/// `openssl s_client -dane_tlsa_rrdata '2 0 1 …'` against a chain whose matching CA
/// certificate has expired fails with "certificate has expired" at its depth.
fn anchor_in_date(cert: &[u8], days: u32) -> Result<(), String> {
    let (_, c) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("trust anchor certificate does not parse ({e})"))?;
    let v = c.validity();
    let at = i64::try_from(days_ahead(days)).unwrap_or(i64::MAX);
    if v.not_before.timestamp() <= at && at <= v.not_after.timestamp() {
        return Ok(());
    }
    let when = match days {
        0 => "now".to_string(),
        d => format!("{d} days ahead"),
    };
    Err(format!(
        "trust anchor certificate not valid {when} (valid {} to {})",
        v.not_before, v.not_after
    ))
}

/// The contents of a DER SEQUENCE that is all of `der`.
fn sequence_contents(der: &[u8]) -> Option<&[u8]> {
    use x509_parser::asn1_rs::{Any, FromDer, Tag};
    match Any::from_der(der) {
        Ok((rest, any)) if rest.is_empty() && any.tag() == Tag::Sequence => Some(any.data),
        _ => None,
    }
}

/// Verify the end-entity certificate up to one of `anchors`, through any certificate of the
/// chain but the end entity and the trust anchor (its depth in the chain and its certificate,
/// when it is one), and its names. Returns the anchor's depth in the verified path.
fn check_ta_chain(
    chain: &[Vec<u8>],
    ta: Option<(usize, &[u8])>,
    anchors: &[TrustAnchor<'_>],
    names: &[String],
    days: u32,
) -> Result<usize, String> {
    let ee_der = CertificateDer::from(chain.first().ok_or("no certificate")?.as_slice());
    let ee = webpki::EndEntityCert::try_from(&ee_der)
        .map_err(|e| format!("end-entity certificate: {e:?}"))?;
    // every other certificate the server sent, whatever its order (RFC 8446 §4.4.2): webpki
    // builds the path itself
    let intermediates: Vec<CertificateDer<'_>> = chain
        .iter()
        .enumerate()
        .skip(1)
        .take(MAX_ISSUERS)
        .filter(|&(i, _)| Some(i) != ta.map(|(d, _)| d))
        .map(|(_, c)| CertificateDer::from(c.as_slice()))
        .collect();
    let now = days_ahead(days);
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| {
            if days > 0 {
                format!("chain not valid {days} days ahead: {e:?}")
            } else {
                format!("chain not valid: {e:?}")
            }
        })?;
    let depth = path.intermediate_certificates().count() + 1;
    // webpki reads only the subjectAltName; without a dNSName there, the CN counts, within
    // the name constraints of the certificates above it
    let cns = fallback_common_names(&ee_der);
    if !cns.is_empty() {
        let issuers = path.intermediate_certificates().map(|c| c.der());
        let issuers: Vec<CertificateDer<'_>> = issuers.collect();
        let above = issuers.iter().map(|c| c.as_ref()).chain(ta.map(|(_, c)| c));
        common_names_constrained(&cns, above)?;
    }
    let mut last = String::from("no reference identifier");
    for n in names {
        let Ok(sn) = ServerName::try_from(n.as_str()) else {
            continue;
        };
        match ee.verify_is_valid_for_subject_name(&sn) {
            Ok(()) => return Ok(depth),
            Err(e) => last = format!("name {n}: {e:?}"),
        }
        if let ServerName::DnsName(d) = &sn {
            if cns.iter().any(|cn| dns_name_matches(cn, d.as_ref())) {
                return Ok(depth);
            }
            if !cns.is_empty() {
                last = format!("name {n}: no dNSName subjectAltName, subject CN {cns:?}");
            }
        }
    }
    Err(last)
}

/// The subject CNs of a certificate that has no dNSName subjectAltName: RFC 7672 §3.2.3 (and
/// OpenSSL's host check, so Postfix) then match the reference identifiers against the CN. None
/// when it has one, or when the certificate or its subjectAltName does not parse.
fn fallback_common_names(cert: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, c)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    match c.subject_alternative_name() {
        Ok(None) => {}
        Ok(Some(san))
            if !san
                .value
                .general_names
                .iter()
                .any(|g| matches!(g, GeneralName::DNSName(_))) => {}
        _ => return Vec::new(),
    }
    c.subject().iter_common_name().filter_map(cn_text).collect()
}

/// A CN's text, from any of the string types OpenSSL turns into UTF-8 for its host and name
/// constraint checks (x509-parser's `as_str` reads only the UTF-8 and ASCII ones): BMPString as
/// UTF-16, UniversalString as UTF-32, TeletexString as Latin-1. `None` when it does not decode.
fn cn_text(a: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Option<String> {
    use x509_parser::asn1_rs::Tag;
    if let Ok(s) = a.as_str() {
        return Some(s.to_owned());
    }
    let v = a.attr_value();
    let d = v.data;
    match v.tag() {
        Tag::BmpString if d.len() % 2 == 0 => {
            let units = d.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        Tag::UniversalString if d.len() % 4 == 0 => d
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        Tag::TeletexString => Some(d.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

/// The end entity's subject CNs (used as names: it has no dNSName subjectAltName) against the
/// dNSName name constraints of each CA certificate `above` it, the trust anchor's included.
/// webpki applies name constraints to subjectAltNames only; OpenSSL (so Postfix) applies them
/// to such a CN too, when the CN has the form of a DNS name, and fails the chain if one falls
/// outside the permitted subtrees or inside an excluded one.
fn common_names_constrained<'c>(
    cns: &[String],
    above: impl Iterator<Item = &'c [u8]>,
) -> Result<(), String> {
    use x509_parser::extensions::GeneralName;
    let names: Vec<&String> = cns.iter().filter(|cn| looks_like_dns_name(cn)).collect();
    if names.is_empty() {
        return Ok(());
    }
    for der in above {
        let (_, c) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("issuer certificate does not parse ({e})"))?;
        let Some(nc) = c
            .name_constraints()
            .map_err(|e| format!("name constraints of {} do not parse ({e})", c.subject()))?
        else {
            continue;
        };
        let dns = |trees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            let trees = trees.iter().flatten();
            let bases = trees.filter_map(|t| match t.base {
                GeneralName::DNSName(b) => Some(b.to_string()),
                _ => None,
            });
            bases.collect::<Vec<String>>()
        };
        let (permitted, excluded) = (
            dns(&nc.value.permitted_subtrees),
            dns(&nc.value.excluded_subtrees),
        );
        for cn in &names {
            if !permitted.is_empty() && !permitted.iter().any(|b| within_dns_subtree(cn, b)) {
                return Err(format!(
                    "subject CN {cn} outside the names {} permits ({})",
                    c.subject(),
                    permitted.join(", ")
                ));
            }
            if let Some(b) = excluded.iter().find(|b| within_dns_subtree(cn, b)) {
                return Err(format!(
                    "subject CN {cn} inside the names {} excludes ({b})",
                    c.subject()
                ));
            }
        }
    }
    Ok(())
}

/// Whether a CN has the form of a DNS name, as OpenSSL's `cn2dnsid` asks before it checks a CN
/// against name constraints (any other CN is not checked): letters, digits and `_`; `-` and
/// `.` neither first nor last; a `.` next to no other `.` and no `-`; at least one `.`. So a
/// wildcard (`*.example.net`) or a trailing dot makes it no DNS name.
fn looks_like_dns_name(cn: &str) -> bool {
    let b = cn.as_bytes();
    let mut dotted = false;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c == b'_' {
            continue;
        }
        let (before, after) = match (i.checked_sub(1).and_then(|j| b.get(j)), b.get(i + 1)) {
            (Some(&x), Some(&y)) => (x, y),
            _ => return false,
        };
        match c {
            b'-' => {}
            b'.' if after != b'.' && before != b'-' && after != b'-' => dotted = true,
            _ => return false,
        }
    }
    dotted
}

/// A name against a dNSName constraint's base (RFC 5280 §4.2.1.10, as OpenSSL reads it): an
/// empty base holds every name; `example.com` holds itself and every name under it; a base
/// with a leading dot (`.example.com`) only the names under it. ASCII case-insensitive.
fn within_dns_subtree(name: &str, base: &str) -> bool {
    let (name, base) = (name.as_bytes(), base.as_bytes());
    if base.is_empty() {
        return true;
    }
    if name.len() < base.len() {
        return false;
    }
    let (head, tail) = name.split_at(name.len() - base.len());
    let joined = head.is_empty() || base.first() == Some(&b'.') || head.last() == Some(&b'.');
    joined && tail.eq_ignore_ascii_case(base)
}

/// A presented DNS name (a CN) against a reference identifier: ASCII case-insensitive; a
/// wildcard only as the whole leftmost label, standing for exactly one non-empty label, with
/// at least two labels after it (as webpki matches dNSName subjectAltNames).
fn dns_name_matches(presented: &str, reference: &str) -> bool {
    let reference = reference.strip_suffix('.').unwrap_or(reference);
    let (presented, reference) = match presented.strip_prefix("*.") {
        Some(parent) => {
            if parent.split('.').count() < 2 {
                return false;
            }
            match reference.split_once('.') {
                Some((label, rest)) if !label.is_empty() => (parent, rest),
                _ => return false,
            }
        }
        None => (presented, reference),
    };
    !presented.is_empty() && !presented.contains('*') && presented.eq_ignore_ascii_case(reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    struct Pki {
        ca: Vec<u8>,
        leaf: Vec<u8>,
        other: Vec<u8>,
    }

    fn pki(leaf_name: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_p = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_p.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca = ca_p.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_p = CertificateParams::new(vec![leaf_name.to_string()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_p.clone(), &ca_key);
        let leaf = leaf_p.signed_by(&leaf_key, &issuer).unwrap();
        let other_key = KeyPair::generate().unwrap();
        let other = CertificateParams::new(vec!["other.test".to_string()])
            .unwrap()
            .self_signed(&other_key)
            .unwrap();
        Pki {
            ca: ca.der().to_vec(),
            leaf: leaf.der().to_vec(),
            other: other.der().to_vec(),
        }
    }

    fn rec(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> Tlsa {
        let sel = selected(cert, selector).unwrap();
        let data = match matching {
            0 => sel,
            1 => digest::digest(&digest::SHA256, &sel).as_ref().to_vec(),
            _ => digest::digest(&digest::SHA512, &sel).as_ref().to_vec(),
        };
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    #[test]
    fn dane_ee_all_selectors_and_matchings() {
        let p = pki("mx.example.test");
        let chain = vec![p.leaf.clone(), p.ca.clone()];
        for s in 0..=1 {
            for m in 0..=2 {
                let r = rec(3, s, m, &p.leaf);
                assert!(
                    matches!(
                        match_chain(&[r], &chain, &[], 0),
                        MatchOutcome::Match { depth: 0, .. }
                    ),
                    "3 {s} {m}"
                );
            }
        }
        // DANE-EE ignores names: a wrong reference name still matches
        let r = rec(3, 1, 1, &p.leaf);
        assert!(matches!(
            match_chain(&[r], &chain, &["unrelated.test".into()], 0),
            MatchOutcome::Match { .. }
        ));
        let wrong = rec(3, 1, 1, &p.other);
        assert!(matches!(
            match_chain(&[wrong], &chain, &[], 0),
            MatchOutcome::NoMatch { .. }
        ));
    }

    #[test]
    fn dane_ta_chain_and_names() {
        let p = pki("mx.example.test");
        let chain = vec![p.leaf.clone(), p.ca.clone()];
        for (s, m) in [(0, 1), (1, 2), (1, 0), (0, 0)] {
            let r = rec(2, s, m, &p.ca);
            let got = match_chain(
                std::slice::from_ref(&r),
                &chain,
                &["mx.example.test".into()],
                0,
            );
            assert!(
                matches!(got, MatchOutcome::Match { depth: 1, .. }),
                "2 {s} {m}: {got:?}"
            );
        }
        let r = rec(2, 0, 1, &p.ca);
        let got = match_chain(std::slice::from_ref(&r), &chain, &["other.test".into()], 0);
        assert!(
            matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("name")),
            "{got:?}"
        );
        // the TA must be in the chain, not the end entity itself
        let r = rec(2, 0, 1, &p.leaf);
        assert!(matches!(
            match_chain(&[r], &chain, &["mx.example.test".into()], 0),
            MatchOutcome::NoMatch { .. }
        ));
        // expiry checked days ahead: rcgen certificates are valid until 4096; 400000 days is past that
        let r = rec(2, 0, 1, &p.ca);
        let got = match_chain(&[r], &chain, &["mx.example.test".into()], 800_000);
        assert!(
            matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("days ahead")),
            "{got:?}"
        );
    }

    /// A DANE-TA certificate's own dates count (as in OpenSSL): an expired CA, in the chain
    /// or as a `2 0 0` record, is no trust anchor; one that expires within `days` neither.
    #[test]
    fn an_expired_trust_anchor_certificate_does_not_match() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_p = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_p.distinguished_name
            .push(rcgen::DnType::CommonName, "Old CA");
        ca_p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca_p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let ca = ca_p.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["mx.example.test".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &rcgen::Issuer::new(ca_p.clone(), &ca_key))
            .unwrap();
        let (ca, leaf) = (ca.der().to_vec(), leaf.der().to_vec());
        let names = ["mx.example.test".to_string()];
        for (chain, r) in [
            (vec![leaf.clone(), ca.clone()], rec(2, 0, 1, &ca)),
            (vec![leaf.clone(), ca.clone()], rec(2, 1, 1, &ca)),
            (vec![leaf.clone()], rec(2, 0, 0, &ca)),
        ] {
            let got = match_chain(std::slice::from_ref(&r), &chain, &names, 0);
            assert!(
                matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("trust anchor certificate not valid now")),
                "{r}: {got:?}"
            );
        }
        // the same CA in date matches; expiring within the days asked for, it does not
        let p = pki("mx.example.test");
        let r = rec(2, 0, 1, &p.ca);
        let chain = vec![p.leaf.clone(), p.ca.clone()];
        assert!(matches!(
            match_chain(std::slice::from_ref(&r), &chain, &names, 0),
            MatchOutcome::Match { depth: 1, .. }
        ));
        let got = match_chain(&[r], &chain, &names, 800_000);
        assert!(
            matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("800000 days ahead")),
            "{got:?}"
        );
    }

    /// A CA with dNSName name constraints, and a leaf of its without a subjectAltName whose
    /// subject CN is `cn`: (CA, leaf).
    fn constrained_pki(permitted: &[&str], excluded: &[&str], cn: &str) -> (Vec<u8>, Vec<u8>) {
        constrained_pki_cn(permitted, excluded, cn.into())
    }

    /// [`constrained_pki`] with the CN as any string type.
    fn constrained_pki_cn(
        permitted: &[&str],
        excluded: &[&str],
        cn: rcgen::DnValue,
    ) -> (Vec<u8>, Vec<u8>) {
        let tree = |names: &[&str]| {
            let names = names.iter();
            names
                .map(|n| rcgen::GeneralSubtree::DnsName(n.to_string()))
                .collect()
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_p = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_p.distinguished_name
            .push(rcgen::DnType::CommonName, "Constrained CA");
        ca_p.name_constraints = Some(rcgen::NameConstraints {
            permitted_subtrees: tree(permitted),
            excluded_subtrees: tree(excluded),
        });
        let ca = ca_p.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_p = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf_p
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let leaf = leaf_p
            .signed_by(&leaf_key, &rcgen::Issuer::new(ca_p.clone(), &ca_key))
            .unwrap();
        (ca.der().to_vec(), leaf.der().to_vec())
    }

    /// Without a dNSName subjectAltName the CN is the name, and the trust anchor's name
    /// constraints hold for it as OpenSSL holds them: outside the permitted names or inside
    /// an excluded one, no match (the anchor in the chain, or as the record's certificate).
    #[test]
    fn a_common_name_must_lie_within_the_anchors_name_constraints() {
        let cases: [(&[&str], &[&str], &str, bool); 7] = [
            (&["example.net"], &[], "mx.example.net", true),
            (&["example.net"], &[], "example.net", true),
            (&[".example.net"], &[], "example.net", false),
            (&["example.net"], &[], "mx.evil.test", false),
            (&["example.net"], &[], "mx.badexample.net", false),
            (&[], &["evil.test"], "mx.evil.test", false),
            (
                &["example.net", "evil.test"],
                &["mx.evil.test"],
                "MX.Evil.Test",
                false,
            ),
        ];
        for (permitted, excluded, cn, ok) in cases {
            let (ca, leaf) = constrained_pki(permitted, excluded, cn);
            let names = [cn.to_ascii_lowercase()];
            for (chain, r) in [
                (vec![leaf.clone(), ca.clone()], rec(2, 0, 1, &ca)),
                (vec![leaf.clone(), ca.clone()], rec(2, 1, 1, &ca)),
                (vec![leaf.clone()], rec(2, 0, 0, &ca)),
            ] {
                let got = match_chain(std::slice::from_ref(&r), &chain, &names, 0);
                match ok {
                    true => assert!(
                        matches!(got, MatchOutcome::Match { .. }),
                        "{cn} {r}: {got:?}"
                    ),
                    false => assert!(
                        matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("subject CN")),
                        "{cn} {r}: {got:?}"
                    ),
                }
            }
        }
        // a CN that is no DNS name for OpenSSL (a wildcard) is not held to the constraints;
        // it still names the host
        let (ca, leaf) = constrained_pki(&["example.net"], &[], "*.evil.test");
        let chain = vec![leaf, ca.clone()];
        let got = match_chain(&[rec(2, 0, 1, &ca)], &chain, &["mx.evil.test".into()], 0);
        assert!(matches!(got, MatchOutcome::Match { .. }), "{got:?}");
        // a CN in a BMPString is read (as OpenSSL reads it): it names the host, and it is held
        // to the constraints
        for (cn, ok) in [("mx.example.net", true), ("mx.evil.test", false)] {
            let bmp = rcgen::DnValue::BmpString(cn.try_into().unwrap());
            let (ca, leaf) = constrained_pki_cn(&["example.net"], &[], bmp);
            let chain = vec![leaf, ca.clone()];
            let got = match_chain(&[rec(2, 0, 1, &ca)], &chain, &[cn.to_string()], 0);
            match ok {
                true => assert!(matches!(got, MatchOutcome::Match { .. }), "{got:?}"),
                false => assert!(
                    matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("outside")),
                    "{got:?}"
                ),
            }
        }
        // a bare key as the anchor carries no constraints: the CN alone decides
        let (ca, leaf) = constrained_pki(&["example.net"], &[], "mx.evil.test");
        let chain = vec![leaf];
        let r = rec(2, 1, 0, &ca);
        let got = match_chain(&[r], &chain, &["mx.evil.test".into()], 0);
        assert!(matches!(got, MatchOutcome::Match { .. }), "{got:?}");
    }

    #[test]
    fn dns_subtrees_and_dns_like_names() {
        assert!(within_dns_subtree("a.example.net", "example.net"));
        assert!(within_dns_subtree("A.EXAMPLE.net", "example.NET"));
        assert!(within_dns_subtree("a.example.net", ".example.net"));
        assert!(!within_dns_subtree("example.net", ".example.net"));
        assert!(!within_dns_subtree("aexample.net", "example.net"));
        assert!(!within_dns_subtree("net", "example.net"));
        assert!(within_dns_subtree("anything.test", ""));
        assert!(looks_like_dns_name("mx.example.net"));
        assert!(looks_like_dns_name("_x.Example.net"));
        assert!(looks_like_dns_name("a-b.c"));
        // as OpenSSL's cn2dnsid: no wildcard, no trailing dot, no label that starts or ends
        // with a hyphen next to a dot
        assert!(!looks_like_dns_name("*.example.net"));
        assert!(!looks_like_dns_name("mx.example.net."));
        assert!(!looks_like_dns_name("Test CA"));
        assert!(!looks_like_dns_name("localhost"));
        assert!(!looks_like_dns_name("a..b"));
        assert!(!looks_like_dns_name("-a.b"));
        assert!(!looks_like_dns_name("a-.b"));
        assert!(!looks_like_dns_name("a.-b"));
        assert!(!looks_like_dns_name(""));
    }

    #[test]
    fn usage_0_and_1_are_unusable_for_smtp() {
        let p = pki("mx.example.test");
        let chain = vec![p.leaf.clone(), p.ca.clone()];
        let rs = vec![
            rec(0, 0, 1, &p.ca),
            rec(1, 1, 1, &p.leaf),
            Tlsa {
                usage: 3,
                selector: 2,
                matching: 1,
                data: vec![0; 32],
            },
        ];
        assert_eq!(match_chain(&rs, &chain, &[], 0), MatchOutcome::Unusable);
        assert!(!Tlsa::parse("3 1 1 00ff").unwrap().usable());
        assert!(Tlsa::parse(&format!("3 1 1 {}", "00".repeat(32)))
            .unwrap()
            .usable());
        assert!(Tlsa::parse("3 1 1 zz").is_none());
    }
}
