//! The danefail list: its file format, its git history, and the comparison with local verdicts.

pub mod compare;
pub mod history;
pub mod list;
