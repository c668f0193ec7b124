//! Classification of delivery attempts into DANE outcomes and failure classes.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The sending MTA's default TLS security level (Postfix `smtp_tls_security_level`), an input of
/// classification: under `dane`, mandatory TLS only arises from usable TLSA records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsLevel {
    #[default]
    Dane,
    DaneOnly,
    None,
    May,
    Encrypt,
    Verify,
    Secure,
}

impl TlsLevel {
    /// Whether a mandatory-TLS failure under this level can only come from DANE.
    pub fn implies_dane(self) -> bool {
        matches!(self, TlsLevel::Dane | TlsLevel::DaneOnly)
    }
}

impl FromStr for TlsLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "dane" => TlsLevel::Dane,
            "dane-only" => TlsLevel::DaneOnly,
            "none" => TlsLevel::None,
            "may" => TlsLevel::May,
            "encrypt" => TlsLevel::Encrypt,
            "verify" => TlsLevel::Verify,
            "secure" => TlsLevel::Secure,
            _ => return Err(format!("unknown TLS security level {s:?} (dane, dane-only, none, may, encrypt, verify, secure)")),
        })
    }
}

use crate::grammar::{Evidence, Rule, RuleOutcome};
use crate::model::{DaneOutcome, FailureClass};

/// What a Postfix 3.11 `tls=` field says: `LEVEL[?][:DOWNGRADE][/[!]requiretls[?][:X]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsField<'a> {
    pub level: &'a str,
    pub undecided: bool,
    pub downgrade: Option<&'a str>,
}

impl<'a> TlsField<'a> {
    /// Parse the field's value (`dane`, `may:none`, `dane/!requiretls:nocertmatch`).
    pub fn parse(v: &'a str) -> TlsField<'a> {
        let sec = v.split('/').next().unwrap_or(v);
        let (head, downgrade) = match sec.split_once(':') {
            Some((h, d)) => (h, Some(d).filter(|d| !d.is_empty())),
            None => (sec, None),
        };
        let (level, undecided) = match head.strip_suffix('?') {
            Some(l) => (l, true),
            None => (head, false),
        };
        TlsField {
            level,
            undecided,
            downgrade,
        }
    }

    /// DANE was the effective level of the delivery (not downgraded, e.g. to `halfdane`).
    pub fn dane_in_force(&self) -> bool {
        matches!(self.level, "dane" | "dane-only") && self.downgrade.is_none()
    }

    /// DANE was configured (even if downgraded): evidence that TLSA records were looked up.
    pub fn dane_configured(&self) -> bool {
        matches!(self.level, "dane" | "dane-only")
    }
}

/// Apply a matched outcome rule.
///
/// `level_implies_dane`: the default level is `dane`/`dane-only`; `dane_evidence`: the
/// connection carries DANE evidence; `evidence_class`: a more precise class that evidence gave.
pub fn apply_rule(
    rule: &Rule,
    level_implies_dane: bool,
    dane_evidence: bool,
    evidence_class: Option<FailureClass>,
) -> DaneOutcome {
    match rule.outcome {
        RuleOutcome::NotDane => DaneOutcome::NotDane,
        RuleOutcome::Unknown => DaneOutcome::Unknown,
        RuleOutcome::Fail => match rule.evidence {
            Evidence::Dane => DaneOutcome::Failed(rule.class),
            Evidence::Level if level_implies_dane || dane_evidence => {
                DaneOutcome::Failed(rule.class)
            }
            Evidence::NeedsDane if dane_evidence => {
                DaneOutcome::Failed(evidence_class.unwrap_or(rule.class))
            }
            _ => DaneOutcome::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::Grammars;

    #[test]
    fn tls_field_shapes() {
        let f = TlsField::parse("dane");
        assert!(f.dane_in_force());
        let f = TlsField::parse("may:none");
        assert_eq!((f.level, f.downgrade), ("may", Some("none")));
        assert!(!f.dane_configured());
        let f = TlsField::parse("dane/!requiretls:nocertmatch");
        assert!(f.dane_in_force());
        let f = TlsField::parse("dane:halfdane");
        assert!(f.dane_configured() && !f.dane_in_force());
        let f = TlsField::parse("may?");
        assert!(f.undecided && f.level == "may");
    }

    #[test]
    fn rules_need_evidence_as_the_grammar_says() {
        let g = Grammars::builtin();
        let not_verified = g.postfix.rule("Server certificate not verified").unwrap();
        assert_eq!(
            apply_rule(not_verified, true, false, None),
            DaneOutcome::Unknown
        );
        assert_eq!(
            apply_rule(not_verified, false, true, None),
            DaneOutcome::Failed(FailureClass::CertMismatch)
        );
        let no_tls = g
            .postfix
            .rule("TLS is required, but was not offered by host x")
            .unwrap();
        assert_eq!(
            apply_rule(no_tls, true, false, None),
            DaneOutcome::Failed(FailureClass::NoStarttls)
        );
        assert_eq!(apply_rule(no_tls, false, false, None), DaneOutcome::Unknown);
        let insecure = g.postfix.rule("non DNSSEC destination").unwrap();
        assert_eq!(apply_rule(insecure, true, true, None), DaneOutcome::NotDane);
        let tlsa = g
            .postfix
            .rule("TLSA lookup error for mx.example:25")
            .unwrap();
        assert_eq!(
            apply_rule(tlsa, false, false, None),
            DaneOutcome::Failed(FailureClass::Dnssec)
        );
    }
}
