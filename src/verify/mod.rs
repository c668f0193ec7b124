//! Live re-verification (RFC 7672): DNSSEC-validated MX, address and TLSA lookups, STARTTLS on
//! every address of every MX, and the presented chain matched against the TLSA records.
