//! danemine: mine MTA logs for DANE (RFC 7672) delivery failures, compare them with a danefail
//! list, re-verify candidates live and act on the result.
//!
//! One module per pipeline stage; data flows one way:
//! `ingest` → `grammar`/`parse` → `correlate` → `classify` → `aggregate` → `danefail` (compare)
//! → `verify` (live) → `act` (exclusions, pull requests, nightly) / `report` / `tlsrpt`.

pub mod aggregate;
pub mod bytesearch;
pub mod classify;
pub mod correlate;
pub mod domain;
#[cfg(feature = "parquet")]
pub mod export;
pub mod fsutil;
pub mod grammar;
pub mod ingest;
pub mod model;
pub mod parse;
pub mod progress;
pub mod scan;
pub mod timefmt;

pub mod act;
pub mod danefail;
pub mod report;
pub mod tlsrpt;
pub mod verify;

#[path = "../samples/generator.rs"]
pub mod samplegen;
#[path = "../samples/talk.rs"]
pub mod talkgen;

pub mod cli;
