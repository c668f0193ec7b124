//! The real log lines of ../shared/corpus go through the scanner without a panic, and the
//! DANE-relevant real sequences get the outcome documented in the README.

use danemine::ingest::InputSpec;
use danemine::model::{DaneOutcome, FailureClass};
use danemine::scan::{scan_aggregate, trace, ScanOptions, TraceAttempt};
use std::path::PathBuf;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name)
}

fn lines(name: &str, range: std::ops::RangeInclusive<usize>) -> String {
    let text = std::fs::read_to_string(corpus(name)).expect("corpus file (../shared/corpus)");
    let mut out = String::new();
    for (i, l) in text.lines().enumerate() {
        if range.contains(&(i + 1)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn run(text: &str) -> Vec<TraceAttempt> {
    let opts = ScanOptions {
        year: Some(2024),
        ..ScanOptions::default()
    };
    trace(text, &opts).expect("trace").0
}

fn failed(c: FailureClass) -> DaneOutcome {
    DaneOutcome::Failed(c)
}

#[test]
fn every_corpus_file_scans_without_panic() {
    for f in [
        "postfix.log",
        "postfix-msgonly.log",
        "exim.log",
        "other-halon.log",
        "other-sendmail.log",
        "other-opensmtpd.log",
        "other-cloudmark.log",
    ] {
        let r = scan_aggregate(&[InputSpec::file(corpus(f))], &ScanOptions::default())
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!r.problems.has_errors(), "{f}: {:?}", r.problems);
    }
}

#[test]
fn mailu_num65_sequence_is_a_cert_mismatch() {
    // lines 8-10: CA certificate verification failed ... num=65, Untrusted, deferred 4.7.5
    let a = run(&lines("postfix.log", 8..=10));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].outcome, failed(FailureClass::CertMismatch));
    assert_eq!(a[0].mx_host.as_deref(), Some("mail.mydomain.com"));
    // the reporter's anonymised recipient domain has an underscore: never emitted as a domain
    assert_eq!(a[0].domain, "my_domain.com");
    // told with its line, whether the rows keep their details or not (without, the line is
    // read only when a domain is bad)
    let mut told = Vec::new();
    for row_details in [true, false] {
        let r = scan_aggregate(
            &[InputSpec::file(corpus("postfix.log"))],
            &ScanOptions {
                row_details,
                ..ScanOptions::default()
            },
        )
        .unwrap();
        let p = &r.problems.inputs[&0];
        assert_eq!(p.counts.get("bad-domain"), Some(&1));
        let e = p
            .examples
            .iter()
            .find(|e| e.line == 10 && e.kind == "bad-domain")
            .expect("the bad domain's line");
        assert!(e.text.contains("my_domain.com"), "{}", e.text);
        told.push(e.text.clone());
        assert!(!r.aggregate.domains.contains_key("my_domain.com"));
    }
    assert_eq!(told[0], told[1]);
}

#[test]
fn kernel_error_non_final_mx_sequence() {
    // lines 11-14: Trusted + "QID: Server certificate not verified" on the IPv6 address (a
    // non-final MX attempt, no to=), then the final deferral on IPv4. Without DANE evidence in
    // the log (Postfix 2.11 logged no num=65 line), both attempts are Unknown (DESIGN.md).
    let a = run(&lines("postfix.log", 11..=14));
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a.iter().all(|x| x.domain == "domain.tld"));
    assert!(a.iter().all(|x| x.outcome == DaneOutcome::Unknown));
    assert_eq!(a[0].line, 2);
    assert_eq!(a[1].line, 4);
    // with DANE evidence for that pid and host the same sequence is a cert-mismatch
    let mut text = lines("postfix.log", 11..=14);
    text.insert_str(
        0,
        "Feb  2 12:15:21 postfix/smtp[1520]: certificate verification failed for domain.tld[2001:1111:1:1111::1]:25: num=65:no matching DANE TLSA records\n",
    );
    let a = run(&text);
    assert_eq!(a[0].outcome, failed(FailureClass::CertMismatch), "{a:?}");
    assert_eq!(
        a[1].outcome,
        DaneOutcome::Unknown,
        "the IPv4 connection had no evidence"
    );
}

#[test]
fn verified_summary_then_delivery_is_verified() {
    let mut text = lines("postfix.log", 1..=1);
    text.push_str("Jul 24 04:38:18 mail postfix/smtp[30582]: 5270320179: to=<a@gmail.com>, relay=gmail-smtp-in.l.google.com[108.177.14.26]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 2.0.0 OK)\n");
    let a = run(&text);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].outcome, DaneOutcome::Verified);
    // under a non-DANE default level a Verified line is PKIX, not DANE
    let opts = ScanOptions {
        tls_level: "verify".parse().unwrap(),
        year: Some(2024),
        ..ScanOptions::default()
    };
    let a = trace(&text, &opts).unwrap().0;
    assert_eq!(a[0].outcome, DaneOutcome::NotDane);
}

#[test]
fn postfix_texts_by_level_and_evidence() {
    let pf = lines("postfix.log", 15..=16); // serverfault: secure level, name mismatch
    assert_eq!(run(&pf)[0].outcome, DaneOutcome::Unknown);
    let a = run(&lines("postfix.log", 27..=27)); // dane-only, unsigned: non DNSSEC destination
    assert_eq!(a[0].outcome, DaneOutcome::NotDane);
    let a = run(&lines("postfix.log", 31..=31)); // MX lookup SERVFAIL: not attributable
    assert_eq!(a[0].outcome, DaneOutcome::Unknown);
    let a = run(&lines("postfix.log", 33..=33)); // postfix/error: not an attempt
    assert!(a.is_empty(), "{a:?}");
    let a = run(&lines("postfix.log", 43..=45)); // inbound smtpd: ignored
    assert!(a.is_empty(), "{a:?}");
    let a = run(&lines("postfix.log", 34..=34)); // connect timeout: unknown, MX from text
    assert_eq!(a[0].outcome, DaneOutcome::Unknown);
    assert_eq!(
        a[0].mx_host.as_deref(),
        Some("alt4.gmail-smtp-in.l.google.com")
    );
}

#[test]
fn postfix_311_tls_field() {
    let text = lines("postfix-msgonly.log", 22..=27);
    let opts = ScanOptions::default();
    // message-only lines have no prefix: give them one
    let with_prefix: String = text
        .lines()
        .map(|l| format!("Oct  1 10:00:00 mx postfix/smtp[1]: {l}\n"))
        .collect();
    let a = trace(&with_prefix, &opts).unwrap().0;
    let o: Vec<DaneOutcome> = a.iter().map(|x| x.outcome).collect();
    assert_eq!(
        o,
        vec![
            DaneOutcome::Verified, // tls=dane
            DaneOutcome::NotDane,  // tls=may?
            DaneOutcome::NotDane,  // tls=may:none
            DaneOutcome::Verified, // tls=dane/requiretls
            DaneOutcome::Verified, // tls=dane/!requiretls:nocertmatch (the requiretls part failed)
            DaneOutcome::Verified, // tls=dane/requiretls?
        ]
    );
    let half = "Oct  1 10:00:00 mx postfix/smtp[1]: 7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane:halfdane, dsn=2.0.0, status=sent (250 ok)\n";
    assert_eq!(
        trace(half, &opts).unwrap().0[0].outcome,
        DaneOutcome::NotDane
    );
}

#[test]
fn tlsrpt_lines_both_spellings() {
    for ft in ["tlsa_invalid", "TLSRPT_TLSA_INVALID"] {
        let text = format!(
            "Oct  1 10:00:00 mx postfix/smtp[7]: TLSRPT: status=failure, domain=example.org, receiving_mx=mx.example.org[192.0.2.1], failure_type={ft}\n\
             Oct  1 10:00:01 mx postfix/smtp[7]: ABCDEF123: to=<u@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)\n\
             Oct  1 10:00:02 mx postfix/smtp[8]: TLSRPT: status=failure, domain=example.net, receiving_mx=mx.example.net[192.0.2.2], failure_type={ft}\n\
             Oct  1 10:00:03 mx postfix/smtp[8]: ABCDEF124: to=<u@example.net>, relay=mx.example.net[192.0.2.2]:25, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 ok)\n"
        );
        let a = run(&text);
        assert_eq!(a[0].outcome, failed(FailureClass::TlsaUnusable), "{ft}");
        // TLSA unusable but mail still went out (encrypt fallback): not DANE
        assert_eq!(a[1].outcome, DaneOutcome::NotDane, "{ft}");
    }
}

#[test]
fn exim_real_lines() {
    let outcome = |n: usize| {
        let a = run(&lines("exim.log", n..=n));
        assert_eq!(a.len(), 1, "line {n}: {a:?}");
        a[0].outcome
    };
    for n in [1, 2, 9, 23, 24, 28, 56] {
        assert_eq!(outcome(n), DaneOutcome::Verified, "CV=dane line {n}");
    }
    for n in [3, 10, 11, 58, 60, 62, 63] {
        assert_eq!(outcome(n), DaneOutcome::NotDane, "line {n}");
    }
    assert_eq!(outcome(14), failed(FailureClass::Dnssec));
    assert_eq!(outcome(19), DaneOutcome::NotDane); // lookup not DNSSEC
    assert_eq!(outcome(47), failed(FailureClass::NoStarttls));
    // per-host DANE notes tied to the message's outcome line
    let a = run(&lines("exim.log", 12..=13));
    assert_eq!(a[0].outcome, failed(FailureClass::Dnssec));
    assert_eq!(a[0].mx_host.as_deref(), Some("danelazy.test.ex"));
    let a = run(&lines("exim.log", 16..=17));
    assert_eq!(a[0].outcome, failed(FailureClass::CertMismatch));
    let a = run(&lines("exim.log", 20..=21));
    assert_eq!(a[0].outcome, failed(FailureClass::CertMismatch));
    let a = run(&lines("exim.log", 30..=31));
    assert_eq!(a[0].outcome, failed(FailureClass::TlsFailure));
    // without the DANE note the same TLS text cannot be attributed to DANE
    assert_eq!(outcome(17), DaneOutcome::Unknown);
    assert_eq!(outcome(48), DaneOutcome::Unknown);
}

#[test]
fn gateway_real_lines() {
    let a = run(&lines("other-cloudmark.log", 1..=2));
    assert_eq!(a[0].outcome, DaneOutcome::NotDane);
    assert_eq!(a[1].outcome, DaneOutcome::Verified);
    assert_eq!(a[1].mx_host.as_deref(), Some("mx1.xs4all.nl"));
}
