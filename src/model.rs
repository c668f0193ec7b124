//! The data model shared by every stage: attempts, DANE outcomes, failure classes and verdicts.
//!
//! The meanings are the contract of `../shared/DESIGN.md`; the names follow the field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which kind of MTA wrote a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mta {
    Postfix,
    Exim,
    Gateway,
}

impl Mta {
    pub fn as_str(self) -> &'static str {
        match self {
            Mta::Postfix => "postfix",
            Mta::Exim => "exim",
            Mta::Gateway => "gateway",
        }
    }
}

/// How strongly the sending MTA applied DANE to an attempt, as far as the log tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DaneMode {
    /// DANE was mandatory (usable TLSA records, Postfix `dane`/`dane-only`, gateway `dane strict`).
    Strict,
    /// DANE was tried where available (gateway `dane opportunistic`).
    Opportunistic,
    /// No DANE at all for this attempt.
    None,
    /// The log does not say.
    #[default]
    Unknown,
}

impl DaneMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DaneMode::Strict => "strict",
            DaneMode::Opportunistic => "opportunistic",
            DaneMode::None => "none",
            DaneMode::Unknown => "unknown",
        }
    }
}

/// Why a DANE delivery attempt failed (DESIGN.md, "FailureClass").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum FailureClass {
    /// Usable TLSA records, none matches the presented chain (including DANE-TA name failures).
    #[serde(rename = "cert-mismatch")]
    CertMismatch,
    /// MX/TLSA/address lookup bogus, SERVFAIL or timed out under DNSSEC.
    #[serde(rename = "dnssec")]
    Dnssec,
    /// TLSA records present, none usable, and delivery refused for it.
    #[serde(rename = "tlsa-unusable")]
    TlsaUnusable,
    /// STARTTLS not offered or refused while DANE required TLS.
    #[serde(rename = "no-starttls")]
    NoStarttls,
    /// Handshake failure, protocol error or implementation bug.
    #[serde(rename = "tls-failure")]
    TlsFailure,
    /// Anything else; the text is kept with the attempt.
    #[serde(rename = "other")]
    Other,
}

impl FailureClass {
    /// Every class, in report order.
    pub const ALL: [FailureClass; 6] = [
        FailureClass::CertMismatch,
        FailureClass::Dnssec,
        FailureClass::TlsaUnusable,
        FailureClass::NoStarttls,
        FailureClass::TlsFailure,
        FailureClass::Other,
    ];

    /// The class's name as written in grammars, CSV and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::CertMismatch => "cert-mismatch",
            FailureClass::Dnssec => "dnssec",
            FailureClass::TlsaUnusable => "tlsa-unusable",
            FailureClass::NoStarttls => "no-starttls",
            FailureClass::TlsFailure => "tls-failure",
            FailureClass::Other => "other",
        }
    }

    /// The RFC 8460 `result-type` this class is reported as.
    pub fn rfc8460_result_type(self) -> &'static str {
        match self {
            FailureClass::CertMismatch => "validation-failure",
            FailureClass::Dnssec => "dnssec-invalid",
            FailureClass::TlsaUnusable => "tlsa-invalid",
            FailureClass::NoStarttls => "starttls-not-supported",
            FailureClass::TlsFailure => "validation-failure",
            FailureClass::Other => "validation-failure",
        }
    }

    /// Index into per-class counter arrays (same order as [`FailureClass::ALL`]).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown failure class {s:?}"))
    }
}

/// The DANE outcome of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "class")]
pub enum DaneOutcome {
    /// DANE authentication succeeded.
    Verified,
    /// No usable DANE for this destination (insecure, no TLSA, plain TLS or clear text).
    NotDane,
    /// DANE applied and failed.
    Failed(FailureClass),
    /// A TLS failure that cannot be attributed to DANE from the logs alone.
    Unknown,
}

impl DaneOutcome {
    /// Short text form: `verified`, `not-dane`, `unknown` or `failed:<class>`.
    pub fn label(&self) -> String {
        match self {
            DaneOutcome::Verified => "verified".into(),
            DaneOutcome::NotDane => "not-dane".into(),
            DaneOutcome::Unknown => "unknown".into(),
            DaneOutcome::Failed(c) => format!("failed:{c}"),
        }
    }
}

/// One recipient's outcome at one MX connection (DESIGN.md counting rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When the attempt's line was logged (UTC).
    pub time: DateTime<Utc>,
    pub mta: Mta,
    /// Recipient domain: lower-case, punycode, validated host name.
    pub domain: String,
    /// The recipient address as logged.
    #[serde(default)]
    pub recipient: String,
    /// MX host name, when known (`relay=`/`H=`).
    pub mx_host: Option<String>,
    /// MX address, when known.
    pub mx_addr: Option<String>,
    pub port: Option<u16>,
    pub mode: DaneMode,
    /// TLS protocol (`TLSv1.3`), when known.
    pub tls_protocol: Option<String>,
    /// TLS cipher, when known.
    pub tls_cipher: Option<String>,
    pub outcome: DaneOutcome,
    /// Delivery status notification code (`4.7.5`, or the gateway's `250`).
    pub dsn: Option<String>,
    /// Delivery status word (`sent`, `deferred`, `bounced`) or the MTA's equivalent.
    pub status: Option<String>,
    /// The outcome text (reason), shortened.
    pub detail: Option<String>,
    /// Source file as given on the command line (`-` for stdin).
    pub file: String,
    /// 1-based line number of the line that completed the attempt.
    pub line: u64,
}

/// A domain's verdict over a window of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// At least one DANE-verified attempt and no DANE failure.
    Valid,
    /// DANE failures and no verified attempt.
    Failing,
    /// Both: some MX fail, or flapping. Watch list, never excluded.
    Partial,
    /// No DANE at all.
    NoDane,
    /// Only attempts whose DANE status cannot be told.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Failing => "failing",
            Verdict::Partial => "partial",
            Verdict::NoDane => "no-dane",
            Verdict::Unknown => "unknown",
        }
    }

    /// Whether the verdict counts as "failing" in the talk's comparison (failing and partial).
    pub fn has_failures(self) -> bool {
        matches!(self, Verdict::Failing | Verdict::Partial)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Verdict::Valid,
            Verdict::Failing,
            Verdict::Partial,
            Verdict::NoDane,
            Verdict::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown verdict {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip_and_map_to_rfc8460() {
        for c in FailureClass::ALL {
            assert_eq!(c.as_str().parse::<FailureClass>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        assert_eq!(FailureClass::Dnssec.rfc8460_result_type(), "dnssec-invalid");
        assert_eq!(
            FailureClass::NoStarttls.rfc8460_result_type(),
            "starttls-not-supported"
        );
        assert!("bogus".parse::<FailureClass>().is_err());
    }

    #[test]
    fn verdict_failing_region_includes_partial() {
        assert!(Verdict::Partial.has_failures());
        assert!(Verdict::Failing.has_failures());
        assert!(!Verdict::Valid.has_failures());
        assert_eq!("no-dane".parse::<Verdict>().unwrap(), Verdict::NoDane);
    }
}
