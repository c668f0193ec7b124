//! Attempt tables for analytics engines: Parquet (one row per attempt, zstd pages).
//!
//! Written with the `parquet` crate's low-level column writer, without Arrow or polars: the
//! whole export costs about 40 s of build time instead of the 13–17 minutes polars needs on
//! two cores (../shared/notes). Any Parquet engine (polars, DuckDB, Spark, Trino) reads it.

use crate::model::{Attempt, DaneOutcome};
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::io::{self, Write};
use std::sync::Arc;

/// The Parquet schema of the attempt table (same columns as `scan --format csv`).
pub const SCHEMA: &str = "message attempt {
  REQUIRED INT64 time (TIMESTAMP(MILLIS,true));
  REQUIRED BYTE_ARRAY mta (UTF8);
  REQUIRED BYTE_ARRAY domain (UTF8);
  OPTIONAL BYTE_ARRAY mx_host (UTF8);
  OPTIONAL BYTE_ARRAY mx_addr (UTF8);
  OPTIONAL INT32 port;
  REQUIRED BYTE_ARRAY mode (UTF8);
  OPTIONAL BYTE_ARRAY tls_protocol (UTF8);
  OPTIONAL BYTE_ARRAY tls_cipher (UTF8);
  REQUIRED BYTE_ARRAY outcome (UTF8);
  OPTIONAL BYTE_ARRAY class (UTF8);
  OPTIONAL BYTE_ARRAY dsn (UTF8);
  OPTIONAL BYTE_ARRAY status (UTF8);
  OPTIONAL BYTE_ARRAY detail (UTF8);
  REQUIRED BYTE_ARRAY file (UTF8);
  REQUIRED INT64 line;
}";

/// Rows per row group: the rows of one group wait in memory until it is written (some 30 MB
/// of attempts), so that the export's memory does not grow with the log.
const ROW_GROUP: usize = 64 * 1024;

fn err(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(format!("parquet: {e}"))
}

fn strings<'a>(
    rows: &'a [Attempt],
    f: impl Fn(&'a Attempt) -> Option<&'a str>,
) -> (Vec<ByteArray>, Vec<i16>) {
    let mut values = Vec::with_capacity(rows.len());
    let mut defs = Vec::with_capacity(rows.len());
    for r in rows {
        match f(r) {
            Some(s) => {
                values.push(ByteArray::from(s.as_bytes().to_vec()));
                defs.push(1);
            }
            None => defs.push(0),
        }
    }
    (values, defs)
}

fn class_of(a: &Attempt) -> Option<&str> {
    match a.outcome {
        DaneOutcome::Failed(c) => Some(c.as_str()),
        _ => None,
    }
}

fn outcome_of(a: &Attempt) -> &'static str {
    match a.outcome {
        DaneOutcome::Verified => "verified",
        DaneOutcome::NotDane => "not-dane",
        DaneOutcome::Unknown => "unknown",
        DaneOutcome::Failed(_) => "failed",
    }
}

/// A Parquet file of attempts written as they come: each [`ROW_GROUP`] of them is written as a
/// row group, and only the group being filled is kept.
pub struct ParquetWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    group: Vec<Attempt>,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// A writer of the attempt table ([`SCHEMA`], zstd pages) into `w`.
    pub fn new(w: W) -> io::Result<ParquetWriter<W>> {
        let schema = Arc::new(parse_message_type(SCHEMA).map_err(err)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_created_by(format!("danemine {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        Ok(ParquetWriter {
            writer: SerializedFileWriter::new(w, schema, props).map_err(err)?,
            group: Vec::new(),
        })
    }

    /// Add one attempt (a full group is written).
    pub fn push(&mut self, a: Attempt) -> io::Result<()> {
        self.group.push(a);
        if self.group.len() >= ROW_GROUP {
            self.write_group()?;
        }
        Ok(())
    }

    /// Write the last group and the file's footer.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.group.is_empty() {
            self.write_group()?;
        }
        self.writer.close().map_err(err)?;
        Ok(())
    }

    /// Write the waiting attempts as one row group.
    fn write_group(&mut self) -> io::Result<()> {
        let group = std::mem::take(&mut self.group);
        let mut rg = self.writer.next_row_group().map_err(err)?;
        let mut idx = 0usize;
        while let Some(mut col) = rg.next_column().map_err(err)? {
            let str_col: Option<(Vec<ByteArray>, Vec<i16>)> = match idx {
                1 => Some(strings(&group, |a| Some(a.mta.as_str()))),
                2 => Some(strings(&group, |a| Some(a.domain.as_str()))),
                3 => Some(strings(&group, |a| a.mx_host.as_deref())),
                4 => Some(strings(&group, |a| a.mx_addr.as_deref())),
                6 => Some(strings(&group, |a| Some(a.mode.as_str()))),
                7 => Some(strings(&group, |a| a.tls_protocol.as_deref())),
                8 => Some(strings(&group, |a| a.tls_cipher.as_deref())),
                9 => Some(strings(&group, |a| Some(outcome_of(a)))),
                10 => Some(strings(&group, class_of)),
                11 => Some(strings(&group, |a| a.dsn.as_deref())),
                12 => Some(strings(&group, |a| a.status.as_deref())),
                13 => Some(strings(&group, |a| a.detail.as_deref())),
                14 => Some(strings(&group, |a| Some(a.file.as_str()))),
                _ => None,
            };
            match (idx, str_col) {
                (_, Some((values, defs))) => {
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&defs), None)
                        .map_err(err)?;
                }
                (0, None) => {
                    let v: Vec<i64> = group.iter().map(|a| a.time.timestamp_millis()).collect();
                    col.typed::<Int64Type>()
                        .write_batch(&v, None, None)
                        .map_err(err)?;
                }
                (5, None) => {
                    let v: Vec<i32> = group.iter().filter_map(|a| a.port.map(i32::from)).collect();
                    let d: Vec<i16> = group.iter().map(|a| i16::from(a.port.is_some())).collect();
                    col.typed::<Int32Type>()
                        .write_batch(&v, Some(&d), None)
                        .map_err(err)?;
                }
                (15, None) => {
                    let v: Vec<i64> = group.iter().map(|a| a.line as i64).collect();
                    col.typed::<Int64Type>()
                        .write_batch(&v, None, None)
                        .map_err(err)?;
                }
                (other, None) => {
                    return Err(io::Error::other(format!(
                        "parquet: unexpected column {other}"
                    )))
                }
            }
            col.close().map_err(err)?;
            idx += 1;
        }
        rg.close().map_err(err)?;
        // the emptied vector again, with its room
        self.group = group;
        self.group.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DaneMode, FailureClass, Mta};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;

    fn attempt(i: u64, outcome: DaneOutcome) -> Attempt {
        Attempt {
            time: chrono::DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap(),
            mta: Mta::Postfix,
            domain: format!("d{i}.example"),
            recipient: format!("u@d{i}.example"),
            mx_host: i.is_multiple_of(2).then(|| format!("mx.d{i}.example")),
            mx_addr: None,
            port: i.is_multiple_of(3).then_some(25),
            mode: DaneMode::Strict,
            tls_protocol: Some("TLSv1.3".into()),
            tls_cipher: None,
            outcome,
            dsn: Some("2.0.0".into()),
            status: Some("sent".into()),
            detail: None,
            file: "maillog".into(),
            line: i + 1,
        }
    }

    /// Attempts beyond one row group go into further groups, written as they fill: every row
    /// comes back, in order.
    #[test]
    fn many_attempts_make_several_row_groups() {
        let n = 2 * ROW_GROUP + ROW_GROUP / 2;
        let mut out = Vec::new();
        let mut p = ParquetWriter::new(&mut out).unwrap();
        for i in 0..n as u64 {
            p.push(attempt(i, DaneOutcome::Verified)).unwrap();
        }
        p.finish().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        assert_eq!(reader.metadata().file_metadata().num_rows(), n as i64);
        let last = reader.get_row_iter(None).unwrap().last().unwrap().unwrap();
        assert_eq!(last.get_long(15).unwrap(), n as i64);
        assert_eq!(last.get_string(2).unwrap(), &format!("d{}.example", n - 1));
    }

    #[test]
    fn round_trip_through_a_parquet_reader() {
        let rows: Vec<Attempt> = (0..1000)
            .map(|i| {
                attempt(
                    i,
                    if i.is_multiple_of(5) {
                        DaneOutcome::Failed(FailureClass::Dnssec)
                    } else {
                        DaneOutcome::Verified
                    },
                )
            })
            .collect();
        let mut out = Vec::new();
        let mut p = ParquetWriter::new(&mut out).unwrap();
        for a in rows {
            p.push(a).unwrap();
        }
        p.finish().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 1000);
        let got: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got[0].get_string(2).unwrap(), "d0.example");
        assert_eq!(got[0].get_string(10).unwrap(), "dnssec");
        assert!(
            got[1].get_string(10).is_err(),
            "class is null for a verified attempt"
        );
        assert_eq!(got[3].get_int(5).unwrap(), 25);
        assert_eq!(got[999].get_long(15).unwrap(), 1000);
        assert_eq!(got[2].get_string(3).unwrap(), "mx.d2.example");
    }
}
