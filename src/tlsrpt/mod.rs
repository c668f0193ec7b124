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
    #[serde(
        rename = "additional-information",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_information: Option<String>,
}

/// A report with its policy domain and day.
#[derive(Debug, Clone)]
pub struct DayReport {
    pub policy_domain: String,
    /// Unix seconds of 00:00:00Z and 23:59:59Z.
    pub begin: i64,
    pub end: i64,
    pub report: Report,
}

impl DayReport {
    /// RFC 8460 §5.3 file name: `sender!policy-domain!begin!end!id.json.gz`.
    pub fn file_name(&self, sender: &str) -> String {
        format!(
            "{sender}!{}!{}!{}!{}.json.gz",
            self.policy_domain, self.begin, self.end, self.report.report_id
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
        let day = a.time.timestamp().div_euclid(86_400) * 86_400;
        let g = self.groups.entry((a.domain.clone(), day)).or_default();
        if let Some(mx) = &a.mx_host {
            g.mx.insert(mx.clone());
        }
        match class {
            None => g.success += 1,
            Some(c) => {
                let key = (
                    c.rfc8460_result_type().to_string(),
                    a.mx_host.clone().unwrap_or_default(),
                    a.mx_addr.clone().unwrap_or_default(),
                );
                let e = g.failures.entry(key).or_insert((0, String::new()));
                e.0 += 1;
                if e.1.is_empty() {
                    e.1 = format!("{}: {}", c.as_str(), a.detail.clone().unwrap_or_default());
                    e.1.truncate(300);
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
            let strings = tlsa.get(domain).cloned().unwrap_or_default();
            let policy = Policy {
                policy_type: if strings.is_empty() {
                    "no-policy-found"
                } else {
                    "tlsa"
                }
                .to_string(),
                policy_domain: domain.clone(),
                mx_host: if strings.is_empty() {
                    Vec::new()
                } else {
                    g.mx.iter().cloned().collect()
                },
                policy_string: strings,
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
                    additional_information: Some(info.clone()).filter(|i| !i.is_empty()),
                })
                .collect();
            let id = format!(
                "{}-{}-{}@{}",
                crate::timefmt::rfc3339(begin).get(..10).unwrap_or(""),
                domain,
                &crate::verify::tlsa::sha256_hex(
                    format!("{domain}{begin}{}{failed}", g.success).as_bytes()
                )[..12],
                sub.domain
            );
            out.push(DayReport {
                policy_domain: domain.clone(),
                begin,
                end,
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
        let r = b.reports(&sub, &BTreeMap::new());
        let v: serde_json::Value = serde_json::from_str(&r[0].json()).unwrap();
        assert_eq!(v["policies"][0]["policy"]["policy-type"], "no-policy-found");
    }
}
