//! TLSA matching (src/verify/tlsa.rs) against certificate chains made with rcgen: unusable and
//! malformed records (RFC 7671 §4, §5), DANE-EE (RFC 7672 §3.1.1), DANE-TA with the trust
//! anchor in the chain, out of order, or only in the record (RFC 7671 §5.2.2, RFC 7672 §3.1.2),
//! and the name checks (RFC 7672 §3.2.3).

use chrono::Datelike;
use danemine::verify::tlsa::{match_chain, MatchOutcome, Tlsa};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use ring::digest;

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

fn ca(cn: &str, issuer: Option<&Ca>) -> Ca {
    ca_with(cn, issuer, |_| {})
}

fn ca_with(cn: &str, issuer: Option<&Ca>, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    edit(&mut p);
    let der = match issuer {
        None => p.self_signed(&key).unwrap().der().to_vec(),
        Some(i) => {
            let iss = Issuer::new(i.params.clone(), &i.key);
            p.signed_by(&key, &iss).unwrap().der().to_vec()
        }
    };
    Ca {
        params: p,
        key,
        der,
    }
}

fn leaf(sans: &[&str], cn: Option<&str>, by: &Ca) -> Vec<u8> {
    leaf_with(sans, cn, by, |_| {})
}

fn leaf_with(
    sans: &[&str],
    cn: Option<&str>,
    by: &Ca,
    edit: impl FnOnce(&mut CertificateParams),
) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        p.distinguished_name.push(DnType::CommonName, cn);
    }
    edit(&mut p);
    let iss = Issuer::new(by.params.clone(), &by.key);
    p.signed_by(&key, &iss).unwrap().der().to_vec()
}

/// A self-signed end-entity certificate for `name`.
fn self_signed(name: &str) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .der()
        .to_vec()
}

fn spki(cert: &[u8]) -> Vec<u8> {
    danemine::verify::tlsa::spki(cert).unwrap()
}

fn rec(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> Tlsa {
    let sel = if selector == 0 {
        cert.to_vec()
    } else {
        spki(cert)
    };
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

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn is_match(o: &MatchOutcome) -> bool {
    matches!(o, MatchOutcome::Match { .. })
}

fn is_no_match(o: &MatchOutcome) -> bool {
    matches!(o, MatchOutcome::NoMatch { .. })
}

const MX: &[&str] = &["mx.example.test"];

// ---------------------------------------------------------------- unusable and malformed records

/// RFC 6698 §2.1.3, RFC 7671 §4 and §5, OpenSSL's SSL_dane_tlsa_add, Postfix: a SHA2-256 record
/// whose data is not 32 bytes (SHA2-512: 64) is malformed, hence unusable. An RRset of only such
/// records is "unusable", not a certificate mismatch.
#[test]
fn wrong_length_digest_is_unusable() {
    let root = ca("Root", None);
    let l = leaf(MX, None, &root);
    let short = Tlsa::parse("3 1 1 00ff00ff").unwrap();
    assert!(
        !short.usable(),
        "3 1 1 with a 4-byte digest is reported usable"
    );
    let got = match_chain(&[short], &[l.clone(), root.der.clone()], &names(MX), 0);
    assert_eq!(got, MatchOutcome::Unusable, "{got:?}");

    // each matching type with the other's length, empty data, one byte too many
    let sha256 = rec(3, 1, 1, &l);
    let sha512 = rec(3, 1, 2, &l);
    let bad = [
        Tlsa {
            matching: 2,
            ..sha256.clone()
        },
        Tlsa {
            matching: 1,
            ..sha512.clone()
        },
        Tlsa {
            data: vec![],
            ..sha256.clone()
        },
        Tlsa {
            data: [sha256.data.as_slice(), &[0]].concat(),
            ..sha256.clone()
        },
        Tlsa {
            usage: 2,
            data: vec![0; 31],
            ..sha256.clone()
        },
    ];
    for r in &bad {
        assert!(!r.usable(), "{r}");
    }
    let got = match_chain(&bad, &[l.clone(), root.der.clone()], &names(MX), 0);
    assert_eq!(got, MatchOutcome::Unusable, "{got:?}");
    assert!(sha256.usable() && sha512.usable());
    // a malformed record next to a good one: the good one decides
    let got = match_chain(
        &[bad[0].clone(), sha256],
        &[l.clone(), root.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_match(&got), "{got:?}");
    let got = match_chain(
        &[bad[0].clone(), rec(3, 1, 1, &root.der)],
        &[l, root.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_no_match(&got), "{got:?}");
}

/// Matching type 0 carries the selected object itself: selector 0 a certificate, selector 1 a
/// SubjectPublicKeyInfo. Data that does not parse as one (or has bytes after it) is malformed.
#[test]
fn full_data_that_does_not_parse_is_unusable() {
    let root = ca("Root", None);
    let l = leaf(MX, None, &root);
    let cert = rec(3, 0, 0, &l);
    let key = rec(3, 1, 0, &l);
    assert!(cert.usable() && key.usable());
    let bad = [
        // a key where a certificate belongs, and the other way round
        Tlsa {
            data: key.data.clone(),
            ..cert.clone()
        },
        Tlsa {
            data: cert.data.clone(),
            ..key.clone()
        },
        // trailing bytes
        Tlsa {
            data: [cert.data.as_slice(), &[0]].concat(),
            ..cert.clone()
        },
        Tlsa {
            data: [key.data.as_slice(), &[0]].concat(),
            ..key.clone()
        },
        // truncated, empty, a digest
        Tlsa {
            data: key.data[..key.data.len() - 1].to_vec(),
            ..key.clone()
        },
        Tlsa {
            data: vec![],
            ..cert.clone()
        },
        Tlsa {
            usage: 2,
            data: vec![0; 32],
            ..key.clone()
        },
    ];
    for r in &bad {
        assert!(!r.usable(), "{r}");
    }
    let got = match_chain(&bad, &[l, root.der.clone()], &names(MX), 0);
    assert_eq!(got, MatchOutcome::Unusable, "{got:?}");
}

/// DANE-EE ignores names and dates (RFC 7672 §3.1.1); usages 0/1 are unusable for SMTP.
#[test]
fn ok_dane_ee_ignores_names_and_expiry_and_pkix_usages_unusable() {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["wrong.test".to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2001, 1, 1);
    p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let ee = p.self_signed(&key).unwrap().der().to_vec();
    for (s, m) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
        let got = match_chain(
            &[rec(3, s, m, &ee)],
            std::slice::from_ref(&ee),
            &names(&["mx.test"]),
            30,
        );
        assert!(is_match(&got), "3 {s} {m}: {got:?}");
    }
    let got = match_chain(
        &[rec(0, 0, 1, &ee), rec(1, 1, 1, &ee)],
        std::slice::from_ref(&ee),
        &[],
        0,
    );
    assert_eq!(got, MatchOutcome::Unusable);
}

// ---------------------------------------------------------------- DANE-TA

/// An EE not signed by the TA (the TA only present in the chain) is rejected.
#[test]
fn ok_dane_ta_requires_signature_not_presence() {
    let root = ca("Root", None);
    let other = ca("Root", None); // same subject name, different key
    let l = leaf(MX, None, &other);
    let r = rec(2, 0, 1, &root.der);
    let got = match_chain(&[r], &[l, root.der.clone()], &names(MX), 0);
    assert!(is_no_match(&got), "{got:?}");
}

/// DANE-TA checks the dates of the certificates below the trust anchor (RFC 7672 §3.1.2),
/// also `days` ahead.
#[test]
fn ok_dane_ta_checks_expiry_of_chain() {
    let root = ca("Root", None);
    let r = rec(2, 0, 1, &root.der);
    let expired = leaf_with(MX, None, &root, |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let got = match_chain(
        std::slice::from_ref(&r),
        &[expired, root.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_no_match(&got), "expired EE: {got:?}");
    let inter = ca_with("Intermediate", Some(&root), |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let l = leaf(MX, None, &inter);
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l, inter.der.clone(), root.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_no_match(&got), "expired intermediate: {got:?}");
    // the EE expires in 10 days: fine today, not 30 days ahead
    let soon = chrono::Utc::now() + chrono::Duration::days(10);
    let l = leaf_with(MX, None, &root, |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(soon.year(), soon.month() as u8, soon.day() as u8);
    });
    let chain = [l, root.der.clone()];
    assert!(is_match(&match_chain(
        std::slice::from_ref(&r),
        &chain,
        &names(MX),
        0
    )));
    let got = match_chain(std::slice::from_ref(&r), &chain, &names(MX), 30);
    assert!(
        matches!(&got, MatchOutcome::NoMatch { reasons } if reasons[0].contains("30 days ahead")),
        "{got:?}"
    );
}

/// RFC 7671 §5.2.2 / RFC 7672 §3.1.2: a DANE-TA(2) SPKI(1) Full(0) record carries the whole
/// trust-anchor key; the server need not send the TA certificate.
#[test]
fn dane_ta_2_1_0_key_not_in_chain_matches() {
    let root = ca("Root", None);
    let l = leaf(MX, None, &root);
    let r = rec(2, 1, 0, &root.der);
    let got = match_chain(std::slice::from_ref(&r), &[l], &names(MX), 0);
    assert!(is_match(&got), "{got:?}");

    // through an intermediate the server sends, the root not sent
    let inter = ca("Intermediate", Some(&root));
    let l = leaf(MX, None, &inter);
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l.clone(), inter.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_match(&got), "{got:?}");
    // the intermediate's own key works too, the root sent or not
    let ri = rec(2, 1, 0, &inter.der);
    assert!(is_match(&match_chain(
        std::slice::from_ref(&ri),
        std::slice::from_ref(&l),
        &names(MX),
        0
    )));
    assert!(is_match(&match_chain(
        std::slice::from_ref(&ri),
        &[l.clone(), inter.der.clone(), root.der.clone()],
        &names(MX),
        0
    )));
    // still dates and names
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l.clone(), inter.der.clone()],
        &names(&["other.test"]),
        0,
    );
    assert!(is_no_match(&got), "{got:?}");
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l.clone(), inter.der.clone()],
        &names(MX),
        800_000,
    );
    assert!(is_no_match(&got), "{got:?}");
    // the intermediate is needed: the EE alone does not chain to the root key
    let got = match_chain(std::slice::from_ref(&r), &[l], &names(MX), 0);
    assert!(is_no_match(&got), "{got:?}");
}

/// The analogous DANE-TA(2) Cert(0) Full(0): the record's certificate is the trust anchor.
#[test]
fn dane_ta_2_0_0_certificate_not_in_chain_matches() {
    let root = ca("Root", None);
    let inter = ca("Intermediate", Some(&root));
    let l = leaf(MX, None, &inter);
    let r = rec(2, 0, 0, &root.der);
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l.clone(), inter.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_match(&got), "{got:?}");
    let got = match_chain(
        std::slice::from_ref(&r),
        std::slice::from_ref(&l),
        &names(MX),
        0,
    );
    assert!(is_no_match(&got), "{got:?}");
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l, inter.der.clone()],
        &names(&["other.test"]),
        0,
    );
    assert!(is_no_match(&got), "{got:?}");
}

/// Full records not in the chain must still sign: a look-alike CA (same name, other key) fails,
/// and digests of a TA that is not in the chain match nothing.
#[test]
fn dane_ta_full_record_not_in_chain_needs_signature() {
    let root = ca("Root", None);
    let lookalike = ca("Root", None);
    let l = leaf(MX, None, &lookalike);
    for r in [rec(2, 1, 0, &root.der), rec(2, 0, 0, &root.der)] {
        let got = match_chain(
            std::slice::from_ref(&r),
            std::slice::from_ref(&l),
            &names(MX),
            0,
        );
        assert!(is_no_match(&got), "{r}: {got:?}");
        let got = match_chain(
            std::slice::from_ref(&r),
            &[l.clone(), lookalike.der.clone()],
            &names(MX),
            0,
        );
        assert!(is_no_match(&got), "{r}: {got:?}");
    }
    let l = leaf(MX, None, &root);
    for (s, m) in [(0, 1), (0, 2), (1, 1), (1, 2)] {
        let got = match_chain(
            &[rec(2, s, m, &root.der)],
            std::slice::from_ref(&l),
            &names(MX),
            0,
        );
        assert!(is_no_match(&got), "2 {s} {m}: {got:?}");
    }
    // a self-signed EE with a 2 0 0 of itself: the TA is never the EE
    let ss = self_signed("mx.example.test");
    let got = match_chain(
        &[rec(2, 0, 0, &ss)],
        std::slice::from_ref(&ss),
        &names(MX),
        0,
    );
    assert!(!is_match(&got), "{got:?}");
}

/// RFC 8446 §4.4.2 (and OpenSSL/Postfix in practice): certificates after the end entity may
/// come in any order.
#[test]
fn dane_ta_out_of_order_chain_matches() {
    let root = ca("Root", None);
    let inter = ca("Intermediate", Some(&root));
    let l = leaf(MX, None, &inter);
    for r in [
        rec(2, 0, 1, &root.der),
        rec(2, 1, 2, &root.der),
        rec(2, 1, 0, &root.der),
    ] {
        let in_order = match_chain(
            std::slice::from_ref(&r),
            &[l.clone(), inter.der.clone(), root.der.clone()],
            &names(MX),
            0,
        );
        assert!(is_match(&in_order), "{r}: {in_order:?}");
        let got = match_chain(
            std::slice::from_ref(&r),
            &[l.clone(), root.der.clone(), inter.der.clone()],
            &names(MX),
            0,
        );
        assert!(is_match(&got), "{r} out of order: {got:?}");
    }
    // two intermediates, reversed, with an unrelated certificate in between
    let inter2 = ca("Intermediate 2", Some(&inter));
    let l2 = leaf(MX, None, &inter2);
    let stray = ca("Stray", None);
    let got = match_chain(
        &[rec(2, 0, 1, &root.der)],
        &[
            l2,
            root.der.clone(),
            inter.der.clone(),
            stray.der,
            inter2.der.clone(),
        ],
        &names(MX),
        0,
    );
    assert!(
        matches!(got, MatchOutcome::Match { depth: 1, .. }),
        "{got:?}"
    );
}

/// Names: wrong name rejected, SAN wins over CN, wildcard only as the whole leftmost label,
/// next-hop domain accepted, TA never matched at depth 0.
#[test]
fn ok_dane_ta_names() {
    let root = ca("Root", None);
    let r = rec(2, 0, 1, &root.der);
    let chk = |l: Vec<u8>, n: &[&str]| {
        match_chain(
            std::slice::from_ref(&r),
            &[l, root.der.clone()],
            &names(n),
            0,
        )
    };
    assert!(!is_match(&chk(leaf(&["other.test"], None, &root), MX)));
    assert!(!is_match(&chk(
        leaf(&["other.test"], Some("mx.example.test"), &root),
        MX
    )));
    assert!(is_match(&chk(leaf(&["*.example.test"], None, &root), MX)));
    assert!(!is_match(&chk(
        leaf(&["*.example.test"], None, &root),
        &["a.mx.example.test"]
    )));
    assert!(!is_match(&chk(leaf(&["m*.example.test"], None, &root), MX)));
    assert!(is_match(&chk(
        leaf(&["example.test"], None, &root),
        &["mx.example.test", "example.test"]
    )));
    // a self-signed EE with a 2 0 1 of itself: not a DANE-TA match
    let ss = self_signed("mx.example.test");
    let got = match_chain(
        &[rec(2, 0, 1, &ss)],
        std::slice::from_ref(&ss),
        &names(MX),
        0,
    );
    assert!(!is_match(&got));
}

/// RFC 7672 §3.2.3: with no subjectAltName dNSName, the CN is checked, with the same wildcard
/// rule. A dNSName SAN, when present, takes precedence.
#[test]
fn dane_ta_cn_only_certificate_matches() {
    let root = ca("Root", None);
    let l = leaf(&[], Some("mx.example.test"), &root);
    let r = rec(2, 0, 1, &root.der);
    let got = match_chain(
        std::slice::from_ref(&r),
        &[l, root.der.clone()],
        &names(MX),
        0,
    );
    assert!(is_match(&got), "{got:?}");

    let chk = |sans: &[&str], cn: &str, n: &[&str]| {
        let l = leaf(sans, Some(cn), &root);
        is_match(&match_chain(
            std::slice::from_ref(&r),
            &[l, root.der.clone()],
            &names(n),
            0,
        ))
    };
    assert!(chk(&[], "MX.Example.Test", MX));
    assert!(chk(&[], "mx.example.test", &["mx.example.test."]));
    assert!(chk(
        &[],
        "example.test",
        &["mx.example.test", "example.test"]
    ));
    assert!(!chk(&[], "other.test", MX));
    assert!(!chk(&[], "mx.example.test.", MX));
    assert!(!chk(&[], "x.mx.example.test", MX));
    assert!(!chk(&[], "mx.example", MX));
    assert!(chk(&[], "*.example.test", MX));
    assert!(!chk(&[], "*.example.test", &["a.mx.example.test"]));
    assert!(!chk(&[], "*.example.test", &["example.test"]));
    assert!(!chk(&[], "m*.example.test", MX));
    assert!(!chk(&[], "*x.example.test", MX));
    assert!(!chk(&[], "mx.*.test", MX));
    assert!(!chk(&[], "*.test", &["example.test"]));
    assert!(!chk(&[], "*", &["test"]));
    // an IP address SAN is not a dNSName: the CN still counts
    assert!(chk(&["192.0.2.1"], "mx.example.test", MX));
    // a dNSName SAN takes precedence over the CN
    assert!(!chk(&["other.test"], "mx.example.test", MX));
    assert!(chk(&["mx.example.test"], "other.test", MX));
    // DANE-TA with the key from the record and a CN-only EE
    let l = leaf(&[], Some("mx.example.test"), &root);
    assert!(is_match(&match_chain(
        &[rec(2, 1, 0, &root.der)],
        &[l],
        &names(MX),
        0
    )));
}
