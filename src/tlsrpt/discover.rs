//! TLSRPT policy discovery: the `_smtp._tls.<domain>` TXT record (RFC 8460 §3).

use crate::verify::dns::{Dns, DnssecStatus};
use hickory_resolver::proto::rr::{RData, RecordType};

/// Where reports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rua {
    Mailto(String),
    Https(String),
}

/// Parse one TXT record; `None` when it is not a valid TLSRPTv1 record.
pub fn parse_record(txt: &str) -> Option<Vec<Rua>> {
    let mut fields = txt.split(';').map(str::trim);
    if fields.next()? != "v=TLSRPTv1" {
        return None;
    }
    let mut ruas = Vec::new();
    let mut seen_rua = false;
    for f in fields {
        if f.is_empty() {
            continue;
        }
        let (k, v) = f.split_once('=')?;
        if k.trim() != "rua" {
            continue; // unknown fields are ignored
        }
        if seen_rua {
            return None;
        }
        seen_rua = true;
        for u in v.split(',').map(str::trim) {
            if let Some(m) = u.strip_prefix("mailto:") {
                let addr = m.split('?').next().unwrap_or("");
                let domain = crate::domain::domain_of_address(addr)?;
                crate::domain::normalize(domain).ok()?;
                if addr.contains(char::is_whitespace) || addr.contains(['<', '>', '\n', '\r']) {
                    return None;
                }
                ruas.push(Rua::Mailto(addr.to_string()));
            } else if u.starts_with("https://") {
                if u.contains(char::is_whitespace) {
                    return None;
                }
                ruas.push(Rua::Https(u.to_string()));
            } else {
                return None;
            }
        }
    }
    (!ruas.is_empty()).then_some(ruas)
}

/// The policy of a domain from its TXT records: exactly one valid TLSRPTv1 record, else none.
pub fn policy_from_txt(records: &[String]) -> Option<Vec<Rua>> {
    let valid: Vec<Vec<Rua>> = records.iter().filter_map(|r| parse_record(r)).collect();
    match valid.len() {
        1 => valid.into_iter().next(),
        _ => None,
    }
}

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub status: DnssecStatus,
    pub ruas: Option<Vec<Rua>>,
    pub error: Option<String>,
}

/// Look up `_smtp._tls.<domain>` through `dns`.
pub async fn discover(dns: &Dns, domain: &str) -> Discovered {
    let a = dns
        .lookup(&format!("_smtp._tls.{domain}"), RecordType::TXT)
        .await;
    let texts: Vec<String> = a
        .records
        .iter()
        .filter_map(|r| match r {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    Discovered {
        status: a.status,
        ruas: policy_from_txt(&texts),
        error: a.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        assert_eq!(
            parse_record(
                "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/tlsrpt"
            ),
            Some(vec![
                Rua::Mailto("tlsrpt@example.com".into()),
                Rua::Https("https://reports.example.com/tlsrpt".into())
            ])
        );
        assert_eq!(
            parse_record("v=TLSRPTv1;rua=mailto:a@b.example;x=y"),
            Some(vec![Rua::Mailto("a@b.example".into())])
        );
        assert_eq!(
            parse_record("rua=mailto:a@b.example; v=TLSRPTv1"),
            None,
            "version first"
        );
        assert_eq!(parse_record("v=TLSRPTv2; rua=mailto:a@b.example"), None);
        assert_eq!(parse_record("v=TLSRPTv1; rua=ftp://x.example/"), None);
        assert_eq!(parse_record("v=TLSRPTv1"), None);
        assert_eq!(
            parse_record("v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example"),
            None
        );
        assert_eq!(parse_record("v=TLSRPTv1; rua=mailto:a b@x.example"), None);
        let one = vec![
            "v=spf1 -all".to_string(),
            "v=TLSRPTv1; rua=mailto:a@b.example".to_string(),
        ];
        assert!(policy_from_txt(&one).is_some());
        let two = vec![
            "v=TLSRPTv1; rua=mailto:a@b.example".to_string(),
            "v=TLSRPTv1; rua=mailto:c@d.example".to_string(),
        ];
        assert_eq!(
            policy_from_txt(&two),
            None,
            "several valid records = no policy"
        );
    }
}
