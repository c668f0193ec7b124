//! RFC 8460 SMTP TLS reports built from parsed attempts, their discovery and their delivery.
//!
//! One report per policy domain per UTC day. The policy domain is the recipient domain, as
//! Postfix does it. Only DANE sessions count: `Verified` attempts are successful sessions,
//! `Failed(class)` attempts failures (result type from
//! [`FailureClass::rfc8460_result_type`]); not-DANE and unknown attempts are not sessions of a
//! `tlsa` policy and are left out.
//!
//! [`FailureClass::rfc8460_result_type`]: crate::model::FailureClass::rfc8460_result_type

pub mod deliver;
pub mod discover;

use crate::model::{Attempt, DaneOutcome};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::rc::Rc;

/// Who sends the reports.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// `organization-name`.
    pub organization: String,
    /// `contact-info` (an address or URL).
    pub contact: String,
    /// The submitter's domain, used in file names and the `TLS-Report-Submitter` header.
    pub domain: String,
    /// `sending-mta-ip` of failure details.
    pub sending_ip: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    success: u64,
    failures: BTreeMap<(String, String, String), (u64, String)>,
    mx: BTreeSet<String>,
}

/// One report (the RFC 8460 JSON object) with where it belongs.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(rename = "organization-name")]
    pub organization_name: String,
    #[serde(rename = "date-range")]
    pub date_range: DateRange,
    #[serde(rename = "contact-info")]
    pub contact_info: String,
    #[serde(rename = "report-id")]
    pub report_id: String,
    pub policies: Vec<PolicyReport>,
}

/// `date-range`.
#[derive(Debug, Clone, Serialize)]
pub struct DateRange {
    #[serde(rename = "start-datetime")]
    pub start: String,
    #[serde(rename = "end-datetime")]
    pub end: String,
}

/// One entry of `policies`.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub policy: Policy,
    pub summary: Summary,
    #[serde(rename = "failure-details", skip_serializing_if = "Vec::is_empty")]
    pub failure_details: Vec<FailureDetail>,
}

/// `policy`.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    #[serde(rename = "policy-type")]
    pub policy_type: String,
    #[serde(rename = "policy-string", skip_serializing_if = "Vec::is_empty")]
    pub policy_string: Vec<String>,
    #[serde(rename = "policy-domain")]
    pub policy_domain: String,
    /// An array, per RFC 8460 errata 6241.
    #[serde(rename = "mx-host", skip_serializing_if = "Vec::is_empty")]
    pub mx_host: Vec<String>,
}

/// `summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(rename = "total-successful-session-count")]
    pub successful: u64,
    #[serde(rename = "total-failure-session-count")]
    pub failed: u64,
}

/// One entry of `failure-details`.
#[derive(Debug, Clone, Serialize)]
pub struct FailureDetail {
    #[serde(rename = "result-type")]
    pub result_type: String,
    #[serde(rename = "sending-mta-ip", skip_serializing_if = "Option::is_none")]
    pub sending_mta_ip: Option<String>,
    #[serde(
        rename = "receiving-mx-hostname",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiving_mx_hostname: Option<String>,
    #[serde(rename = "receiving-ip", skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<String>,
    #[serde(rename = "failed-session-count")]
    pub failed_session_count: u64,
    /// The failure as the log gave it (class and text); `additional-information` would be a
    /// URI (RFC 8460 §4.4).
    #[serde(
        rename = "failure-reason-code",
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_reason_code: Option<String>,
}

/// A report with its policy domain and day.
#[derive(Debug, Clone)]
pub struct DayReport {
    pub policy_domain: String,
    /// Unix seconds of 00:00:00Z and 23:59:59Z.
    pub begin: i64,
    pub end: i64,
    /// The file name's unique id: letters and digits only (RFC 8460 §5.3).
    pub unique_id: String,
    pub report: Report,
}

impl DayReport {
    /// RFC 8460 §5.3 file name: `sender!policy-domain!begin!end!unique-id.json.gz`.
    pub fn file_name(&self, sender: &str) -> String {
        format!(
            "{sender}!{}!{}!{}!{}.json.gz",
            self.policy_domain, self.begin, self.end, self.unique_id
        )
    }

    /// The JSON text.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.report).unwrap_or_default()
    }

    /// The gzip-compressed JSON.
    pub fn gzip(&self) -> std::io::Result<Vec<u8>> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(self.json().as_bytes())?;
        e.finish()
    }
}

/// What [`Builder`] reads of an attempt.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// Unix seconds.
    pub time: i64,
    pub domain: &'a str,
    pub recipient: &'a str,
    pub mx_host: Option<&'a str>,
    pub mx_addr: Option<&'a str>,
    pub outcome: DaneOutcome,
    pub detail: Option<&'a str>,
}

impl<'a> Session<'a> {
    pub fn of(a: &'a Attempt) -> Session<'a> {
        Session {
            time: a.time.timestamp(),
            domain: &a.domain,
            recipient: &a.recipient,
            mx_host: a.mx_host.as_deref(),
            mx_addr: a.mx_addr.as_deref(),
            outcome: a.outcome,
            detail: a.detail.as_deref(),
        }
    }
}

/// DANE sessions kept until the DNS lookups are done (the `rua` mailboxes they find are left
/// out of the counts): per session 32 bytes of string numbers, each distinct string stored
/// once, instead of an [`Attempt`] with its own strings. A failure's detail text is kept
/// (only failures report it); a verified session's is not.
#[derive(Debug, Default)]
pub struct Kept {
    /// The distinct strings by number; the index below shares their allocations.
    strings: Vec<Rc<str>>,
    numbers: crate::aggregate::HashMap<Rc<str>, u32>,
    sessions: Vec<KeptSession>,
}

/// A kept session: strings as numbers in [`Kept::strings`] ([`NONE`] for none).
#[derive(Debug, Clone, Copy)]
struct KeptSession {
    time: i64,
    domain: u32,
    recipient: u32,
    mx_host: u32,
    mx_addr: u32,
    detail: u32,
    outcome: DaneOutcome,
}

const NONE: u32 = u32::MAX;

impl Kept {
    fn number(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.numbers.get(s) {
            return n;
        }
        // (more than 4 billion distinct strings would need more memory than any host has)
        let n = u32::try_from(self.strings.len()).unwrap_or(NONE - 1);
        let shared: Rc<str> = s.into();
        self.strings.push(Rc::clone(&shared));
        self.numbers.insert(shared, n);
        n
    }

    fn maybe(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.number(s))
    }

    fn text(&self, n: u32) -> Option<&str> {
        self.strings.get(n as usize).map(|s| &**s)
    }

    /// Keep `a` if it is a DANE session (verified or failed); other attempts never count.
    pub fn push(&mut self, a: &Attempt) {
        let detail = match a.outcome {
            DaneOutcome::Verified => None,
            DaneOutcome::Failed(_) => a.detail.as_deref(),
            _ => return,
        };
        let k = KeptSession {
            time: a.time.timestamp(),
            domain: self.number(&a.domain),
            recipient: self.number(&a.recipient),
            mx_host: self.maybe(a.mx_host.as_deref()),
            mx_addr: self.maybe(a.mx_addr.as_deref()),
            detail: self.maybe(detail),
            outcome: a.outcome,
        };
        self.sessions.push(k);
    }

    /// How many sessions are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Each kept session, in the order kept.
    pub fn sessions(&self) -> impl Iterator<Item = Session<'_>> {
        self.sessions.iter().map(|k| Session {
            time: k.time,
            domain: self.text(k.domain).unwrap_or_default(),
            recipient: self.text(k.recipient).unwrap_or_default(),
            mx_host: self.text(k.mx_host),
            mx_addr: self.text(k.mx_addr),
            outcome: k.outcome,
            detail: self.text(k.detail),
        })
    }
}

/// Collects attempts into per-domain, per-day groups.
#[derive(Debug, Default)]
pub struct Builder {
    groups: BTreeMap<(String, i64), Group>,
    /// Recipient addresses (lower case) that are report addresses: attempts to them are skipped.
    skip_recipients: BTreeSet<String>,
    /// Attempts skipped because they delivered a report.
    pub skipped_reports: u64,
}

impl Builder {
    /// Never report about deliveries to these addresses (the `rua` mailboxes themselves).
    pub fn skip_recipients<I: IntoIterator<Item = String>>(&mut self, addrs: I) {
        self.skip_recipients
            .extend(addrs.into_iter().map(|a| a.to_ascii_lowercase()));
    }

    /// Count one attempt.
    pub fn add(&mut self, a: &Attempt) {
        self.add_session(Session::of(a));
    }

    /// Count one attempt, as [`Session`] gives what counting reads of it.
    pub fn add_session(&mut self, a: Session<'_>) {
        let class = match a.outcome {
            DaneOutcome::Verified => None,
            DaneOutcome::Failed(c) => Some(c),
            _ => return,
        };
        if !a.recipient.is_empty()
            && self
                .skip_recipients
                .contains(&a.recipient.to_ascii_lowercase())
        {
            self.skipped_reports += 1;
            return;
        }
        let day = a.time.div_euclid(86_400) * 86_400;
        let g = self.groups.entry((a.domain.to_string(), day)).or_default();
        if let Some(mx) = a.mx_host {
            if !g.mx.contains(mx) {
                g.mx.insert(mx.to_string());
            }
        }
        match class {
            None => g.success += 1,
            Some(c) => {
                let key = (
                    c.rfc8460_result_type().to_string(),
                    a.mx_host.unwrap_or_default().to_string(),
                    a.mx_addr.unwrap_or_default().to_string(),
                );
                let e = g.failures.entry(key).or_insert((0, String::new()));
                e.0 += 1;
                if e.1.is_empty() {
                    e.1 = match a.detail.unwrap_or_default() {
                        "" => c.as_str().to_string(),
                        d => format!("{}: {d}", c.as_str()),
                    };
                    // (at a char boundary: a detail from a log may be any UTF-8)
                    let mut end = e.1.len().min(300);
                    while !e.1.is_char_boundary(end) {
                        end -= 1;
                    }
                    e.1.truncate(end);
                }
            }
        }
    }

    /// Domains with reports.
    pub fn domains(&self) -> BTreeSet<String> {
        self.groups.keys().map(|(d, _)| d.clone()).collect()
    }

    /// The reports; `tlsa` gives the TLSA records (presentation form) known per domain.
    pub fn reports(&self, sub: &Submitter, tlsa: &BTreeMap<String, Vec<String>>) -> Vec<DayReport> {
        let mut out = Vec::new();
        for ((domain, day), g) in &self.groups {
            let begin = *day;
            let end = day + 86_399;
            // every session counted applied a TLSA policy (verified, or failed as DANE): the
            // records themselves are known only when looked up
            let policy = Policy {
                policy_type: "tlsa".to_string(),
                policy_domain: domain.clone(),
                mx_host: g.mx.iter().cloned().collect(),
                policy_string: tlsa.get(domain).cloned().unwrap_or_default(),
            };
            let failed: u64 = g.failures.values().map(|v| v.0).sum();
            let details = g
                .failures
                .iter()
                .map(|((rt, mx, ip), (n, info))| FailureDetail {
                    result_type: rt.clone(),
                    sending_mta_ip: sub.sending_ip.clone(),
                    receiving_mx_hostname: Some(mx.clone()).filter(|m| !m.is_empty()),
                    receiving_ip: Some(ip.clone())
                        .filter(|i| i.parse::<std::net::IpAddr>().is_ok()),
                    failed_session_count: *n,
                    failure_reason_code: Some(info.clone()).filter(|i| !i.is_empty()),
                })
                .collect();
            let unique = crate::verify::tlsa::sha256_hex(
                format!("{domain}{begin}{}{failed}", g.success).as_bytes(),
            )[..12]
                .to_string();
            let id = format!(
                "{}-{}-{unique}@{}",
                crate::timefmt::rfc3339(begin).get(..10).unwrap_or(""),
                domain,
                sub.domain
            );
            out.push(DayReport {
                policy_domain: domain.clone(),
                begin,
                end,
                unique_id: unique,
                report: Report {
                    organization_name: sub.organization.clone(),
                    date_range: DateRange {
                        start: crate::timefmt::rfc3339(begin),
                        end: crate::timefmt::rfc3339(end),
                    },
                    contact_info: sub.contact.clone(),
                    report_id: id,
                    policies: vec![PolicyReport {
                        policy,
                        summary: Summary {
                            successful: g.success,
                            failed,
                        },
                        failure_details: details,
                    }],
                },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DaneMode, FailureClass, Mta};

    fn att(domain: &str, rcpt: &str, t: i64, o: DaneOutcome) -> Attempt {
        Attempt {
            time: chrono::DateTime::from_timestamp(t, 0).unwrap(),
            mta: Mta::Postfix,
            domain: domain.into(),
            recipient: rcpt.into(),
            mx_host: Some(format!("mx.{domain}")),
            mx_addr: Some("192.0.2.1".into()),
            port: Some(25),
            mode: DaneMode::Strict,
            tls_protocol: None,
            tls_cipher: None,
            outcome: o,
            dsn: None,
            status: None,
            detail: Some("Server certificate not verified".into()),
            file: "f".into(),
            line: 1,
        }
    }

    /// A long failure text from a log is cut at a char boundary, never inside a character.
    #[test]
    fn a_long_failure_text_is_cut_between_characters() {
        let mut b = Builder::default();
        let mut a = att(
            "example.net",
            "a@example.net",
            1_793_491_200,
            DaneOutcome::Failed(FailureClass::CertMismatch),
        );
        // "cert-mismatch: " is 15 bytes: the 300th byte falls inside an "é"
        a.detail = Some(format!("{}{}", "x".repeat(284), "é".repeat(10)));
        b.add(&a);
        let sub = Submitter {
            organization: "o".into(),
            contact: "c".into(),
            domain: "s.example".into(),
            sending_ip: None,
        };
        let r = b.reports(&sub, &BTreeMap::new());
        let reason = &r[0].report.policies[0].failure_details[0].failure_reason_code;
        let reason = reason.as_deref().unwrap_or_default();
        assert_eq!(reason.len(), 299);
        assert!(reason.ends_with('x'));
    }

    #[test]
    fn groups_per_domain_and_day() {
        let mut b = Builder::default();
        b.skip_recipients(["tlsrpt@example.net".to_string()]);
        let d0 = 1_793_491_200; // 2026-11-01
        b.add(&att(
            "example.net",
            "a@example.net",
            d0 + 10,
            DaneOutcome::Verified,
        ));
        b.add(&att(
            "example.net",
            "b@example.net",
            d0 + 20,
            DaneOutcome::Failed(FailureClass::CertMismatch),
        ));
        b.add(&att(
            "example.net",
            "c@example.net",
            d0 + 30,
            DaneOutcome::Failed(FailureClass::CertMismatch),
        ));
        b.add(&att(
            "example.net",
            "TLSRPT@example.net",
            d0 + 40,
            DaneOutcome::Failed(FailureClass::Dnssec),
        ));
        b.add(&att(
            "example.net",
            "d@example.net",
            d0 + 86_400,
            DaneOutcome::Verified,
        ));
        b.add(&att(
            "plain.example",
            "d@plain.example",
            d0,
            DaneOutcome::NotDane,
        ));
        assert_eq!(b.skipped_reports, 1);
        let sub = Submitter {
            organization: "Example Mail".into(),
            contact: "mailto:postmaster@sender.example".into(),
            domain: "sender.example".into(),
            sending_ip: Some("198.51.100.1".into()),
        };
        let mut tlsa = BTreeMap::new();
        tlsa.insert(
            "example.net".to_string(),
            vec!["_25._tcp.mx.example.net. IN TLSA 3 1 1 ab".to_string()],
        );
        let r = b.reports(&sub, &tlsa);
        assert_eq!(
            r.len(),
            2,
            "two days, and no report for the non-DANE domain"
        );
        let v: serde_json::Value = serde_json::from_str(&r[0].json()).unwrap();
        assert_eq!(v["date-range"]["start-datetime"], "2026-11-01T00:00:00Z");
        assert_eq!(v["date-range"]["end-datetime"], "2026-11-01T23:59:59Z");
        let p = &v["policies"][0];
        assert_eq!(p["policy"]["policy-type"], "tlsa");
        assert_eq!(p["policy"]["mx-host"][0], "mx.example.net");
        assert_eq!(p["summary"]["total-successful-session-count"], 1);
        assert_eq!(p["summary"]["total-failure-session-count"], 2);
        assert_eq!(p["failure-details"][0]["result-type"], "validation-failure");
        assert_eq!(p["failure-details"][0]["failed-session-count"], 2);
        assert_eq!(p["failure-details"][0]["sending-mta-ip"], "198.51.100.1");
        assert!(r[0]
            .file_name("sender.example")
            .starts_with("sender.example!example.net!1793491200!1793577599!"));
        assert!(r[0].file_name("sender.example").ends_with(".json.gz"));
        assert_ne!(r[0].report.report_id, r[1].report.report_id);
        // without the records: still a TLSA policy, with no policy-string
        let r = b.reports(&sub, &BTreeMap::new());
        let v: serde_json::Value = serde_json::from_str(&r[0].json()).unwrap();
        assert_eq!(v["policies"][0]["policy"]["policy-type"], "tlsa");
        assert!(v["policies"][0]["policy"].get("policy-string").is_none());
    }

    proptest::proptest! {
        /// Sessions kept and counted after the lookups give the reports that counting each
        /// attempt as it came gives, report mailboxes left out alike.
        #[test]
        fn kept_sessions_count_as_the_attempts_did(
            seeds in proptest::collection::vec((0usize..3, 0usize..4, 0usize..3, 0usize..5, 0i64..3, proptest::bool::ANY), 0..60),
        ) {
            let domains = ["example.net", "plain.example", "b.example"];
            let rcpts = ["a@example.net", "TLSRPT@example.net", "x@b.example", ""];
            let outcomes = [
                DaneOutcome::Verified,
                DaneOutcome::Failed(FailureClass::CertMismatch),
                DaneOutcome::Failed(FailureClass::Dnssec),
                DaneOutcome::NotDane,
                DaneOutcome::Unknown,
            ];
            let d0 = 1_793_491_200;
            let attempts: Vec<Attempt> = seeds
                .iter()
                .map(|&(d, r, m, o, day, detail)| {
                    let mut a = att(domains[d], rcpts[r], d0 + day * 86_400 + 7, outcomes[o]);
                    a.mx_host = (m > 0).then(|| format!("mx{m}.{}", domains[d]));
                    a.mx_addr = (m > 1).then(|| "2001:db8::25".to_string());
                    a.detail = detail.then(|| format!("text {d} {r} {m}"));
                    a
                })
                .collect();
            let skip = ["tlsrpt@example.net".to_string()];
            let mut direct = Builder::default();
            direct.skip_recipients(skip.clone());
            let mut kept = Kept::default();
            for a in &attempts {
                direct.add(a);
                kept.push(a);
            }
            let mut later = Builder::default();
            later.skip_recipients(skip);
            for s in kept.sessions() {
                later.add_session(s);
            }
            let sub = Submitter {
                organization: "o".into(),
                contact: "c".into(),
                domain: "s.example".into(),
                sending_ip: None,
            };
            let json = |b: &Builder| b.reports(&sub, &BTreeMap::new()).iter().map(|r| r.json()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(json(&direct), json(&later));
            proptest::prop_assert_eq!(direct.skipped_reports, later.skipped_reports);
            let dane = attempts.iter().filter(|a| matches!(a.outcome, DaneOutcome::Verified | DaneOutcome::Failed(_))).count();
            proptest::prop_assert_eq!(kept.len(), dane);
        }
    }
}
