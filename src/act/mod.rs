//! Actions: the exclusion store and its writers, pull requests to a danefail-format list, and the
//! nightly job that drives every stage from a config file.

pub mod config;
pub mod nightly;
pub mod pr;
pub mod state;
pub mod store;
pub mod writers;
