//! Domain names from logs: normalisation (lower case, no trailing dot, IDN to punycode) and
//! validation as host names. Nothing that fails here may reach a policy file, a list or a report.

use std::borrow::Cow;
use thiserror::Error;

/// Why a string is not an acceptable mail domain.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    #[error("empty domain")]
    Empty,
    #[error("domain longer than 253 characters")]
    TooLong,
    #[error("label {0:?} is empty or longer than 63 characters")]
    BadLabelLength(String),
    #[error("label {0:?} has a character outside letters, digits and hyphen")]
    BadCharacter(String),
    #[error("label {0:?} starts or ends with a hyphen")]
    BadHyphen(String),
    #[error("{0:?} is a single label, not a mail domain")]
    SingleLabel(String),
    #[error("{0:?} looks like an address literal, not a domain")]
    NumericTld(String),
    #[error("IDNA conversion failed for {0:?}")]
    Idna(String),
}

/// Normalise and validate a domain taken from a log line or a list.
///
/// Lower-cases, removes one trailing dot, converts IDNs to punycode and checks LDH host-name
/// syntax: labels of 1 to 63 letters, digits or hyphens (not at either end), at most 253
/// characters, at least two labels, and a top-level label that is not all digits.
/// Returns a borrowed string when the input is already normal.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, DomainError> {
    let s = raw.strip_suffix('.').unwrap_or(raw);
    if s.is_empty() {
        return Err(DomainError::Empty);
    }
    let ascii_lower = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let out: Cow<'_, str> = if ascii_lower {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        if s.bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        {
            return Err(DomainError::BadCharacter(s.to_string()));
        }
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        // Reject control characters and white space before IDNA, which would map some of them.
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == ':')
        {
            return Err(DomainError::BadCharacter(s.to_string()));
        }
        let a = idna::domain_to_ascii_strict(s).map_err(|_| DomainError::Idna(s.to_string()))?;
        Cow::Owned(a)
    };
    validate_ldh(&out)?;
    Ok(out)
}

/// An MX host as a log names it (`relay=` and the like): its normalised host name, `None` for
/// an IP address (a relay reached by address has no name to count: Postfix's
/// `relay=192.0.2.1[192.0.2.1]:25`, Exim's `H=[192.0.2.1]` or `H=[IPv6:2001:db8::25]`), or why
/// it is neither.
pub fn mx_name(raw: &str) -> Result<Option<Cow<'_, str>>, DomainError> {
    match normalize(raw) {
        Ok(name) => Ok(Some(name)),
        Err(_) if is_address(raw) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An IP address, bare or as an address literal in brackets (`[192.0.2.1]`, `[IPv6:…]`).
fn is_address(raw: &str) -> bool {
    let inner = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    let inner = inner.map_or(raw, |i| {
        let tagged = i.get(..5).filter(|t| t.eq_ignore_ascii_case("IPv6:"));
        tagged.map_or(i, |_| &i[5..])
    });
    inner.parse::<std::net::IpAddr>().is_ok()
}

/// Normalise into an owned `String` (convenience for callers that store the name).
pub fn normalize_owned(raw: &str) -> Result<String, DomainError> {
    normalize(raw).map(Cow::into_owned)
}

/// Check that an already lower-case ASCII name is a valid LDH host name of two or more labels.
pub fn validate_ldh(s: &str) -> Result<(), DomainError> {
    if s.is_empty() {
        return Err(DomainError::Empty);
    }
    if s.len() > 253 {
        return Err(DomainError::TooLong);
    }
    let mut labels = 0usize;
    let mut last = "";
    for label in s.split('.') {
        labels += 1;
        if label.is_empty() || label.len() > 63 {
            return Err(DomainError::BadLabelLength(label.to_string()));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(DomainError::BadCharacter(label.to_string()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError::BadHyphen(label.to_string()));
        }
        // an A-label must decode (a name written in punycode by hand, or mangled), and be the
        // one IDNA makes of what it decodes to: `xn--ber-ska` decodes to "Über", which IDNA
        // writes `xn--ber-goa`, so the first would list the same name under a second spelling
        if let Some(p) = label.strip_prefix("xn--") {
            let canonical = idna::punycode::decode_to_string(p)
                .filter(|u| !u.is_empty() && !u.is_ascii())
                .and_then(|u| idna::domain_to_ascii_strict(&u).ok())
                .is_some_and(|a| a == label);
            if !canonical {
                return Err(DomainError::Idna(label.to_string()));
            }
        }
        last = label;
    }
    if labels < 2 {
        return Err(DomainError::SingleLabel(s.to_string()));
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::NumericTld(s.to_string()));
    }
    Ok(())
}

/// The domain part of an address such as `<user@Example.COM>` or `user@example.com`, raw.
pub fn domain_of_address(addr: &str) -> Option<&str> {
    let a = addr.trim();
    let a = a.strip_prefix('<').unwrap_or(a);
    let a = a.strip_suffix('>').unwrap_or(a);
    let at = crate::parse::rfind1(a, b'@')?;
    let d = &a[at + 1..];
    if d.is_empty() {
        None
    } else {
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mx_name_is_a_host_name_or_an_address() {
        assert_eq!(
            mx_name("MX1.Example.COM.").unwrap().as_deref(),
            Some("mx1.example.com")
        );
        assert_eq!(mx_name("192.0.2.1").unwrap(), None);
        assert_eq!(mx_name("2001:db8::25").unwrap(), None);
        assert_eq!(mx_name("[192.0.2.1]").unwrap(), None);
        assert_eq!(mx_name("[IPv6:2001:db8::25]").unwrap(), None);
        assert_eq!(mx_name("[ipv6:2001:db8::25]").unwrap(), None);
        assert!(mx_name("[mx.example]").is_err());
        assert!(mx_name("[192.0.2.1").is_err());
        assert!(mx_name("x.x.x.x").is_ok());
        assert!(mx_name("mx 1.example").is_err());
        assert!(mx_name("192.0.2.999").is_err());
        assert!(mx_name("localhost").is_err());
    }

    #[test]
    fn normalises_case_dot_and_idn() {
        assert_eq!(normalize("Example.COM.").unwrap(), "example.com");
        assert!(matches!(
            normalize("example.com").unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            normalize("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            normalize("XN--BCHER-KVA.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(normalize("müller.de").unwrap(), "xn--mller-kva.de");
        // an A-label that does not decode, or decodes to plain ASCII, is no name
        for bad in ["xn--zz.de", "xn--abc-.de", "mail.xn--.de"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize("xn--mller-kva.de").unwrap(), "xn--mller-kva.de");
        // an A-label that decodes, but not to what IDNA would write for it: a second spelling
        // of another name (upper case, which IDNA maps to lower case)
        assert_eq!(normalize("Über.example").unwrap(), "xn--ber-goa.example");
        assert!(normalize("xn--ber-ska.example").is_err());
    }

    #[test]
    fn rejects_injection_and_garbage() {
        for bad in [
            "",
            ".",
            "example.com may",
            "example.com\nevil.com may",
            "example.com\tmay",
            "#example.com",
            "exa#mple.com",
            "example..com",
            "-example.com",
            "example-.com",
            "under_score.com",
            "com",
            "1.2.3.4",
            "[1.2.3.4]",
            "example.com:25",
            "ex\0ample.com",
            "ünï code\n.de",
            "******.com",
        ] {
            assert!(normalize(bad).is_err(), "accepted {bad:?}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(
            normalize(&long_label),
            Err(DomainError::BadLabelLength("a".repeat(64)))
        );
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert_eq!(normalize(&long_name), Err(DomainError::TooLong));
    }

    #[test]
    fn address_domain() {
        assert_eq!(domain_of_address("<hebj@telia.com>"), Some("telia.com"));
        assert_eq!(domain_of_address("a@b@c.example"), Some("c.example"));
        assert_eq!(
            domain_of_address("<******@fontarboleas.es>"),
            Some("fontarboleas.es")
        );
        assert_eq!(domain_of_address("<>"), None);
        assert_eq!(domain_of_address("root"), None);
    }
}
