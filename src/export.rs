//! Attempt tables for analytics engines (Parquet).

use crate::model::Attempt;
use std::io::{self, Write};

/// Write attempts as a Parquet file.
pub fn write_parquet(_rows: &[Attempt], _w: &mut dyn Write) -> io::Result<()> {
    Err(io::Error::other("Parquet output is not built yet"))
}
