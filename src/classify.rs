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
