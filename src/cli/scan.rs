//! `danemine scan` (attempts) and `danemine domains` (per-domain or per-MX verdicts).

use super::common::{print_stats, progress_bar, report_problems, stdout_is_terminal, LogArgs};
use crate::aggregate::Row;
use crate::model::{Attempt, FailureClass};
use crate::scan::{scan_attempt_batches_counted, scan_rows, AttemptScan, ScanOptions};
use crate::timefmt::rfc3339;
use anyhow::{bail, Context, Result};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `danemine scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    /// Output format: csv, jsonl or parquet (parquet needs --out).
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// Arguments of `danemine domains`.
#[derive(Debug, clap::Args)]
pub struct DomainsArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    /// Output format: csv, json or table (default: table on a terminal, csv otherwise).
    #[arg(long)]
    pub format: Option<String>,
    /// One row per recipient domain (`domain`, default) or per MX host (`mx`).
    #[arg(long, default_value = "domain")]
    pub by: String,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// The CSV header of `domains` (DESIGN.md interface; more columns may only be appended).
pub const DOMAINS_HEADER: [&str; 14] = [
    "domain",
    "verdict",
    "attempts",
    "dane_verified",
    "dane_failed",
    "cert_mismatch",
    "dnssec",
    "tlsa_unusable",
    "no_starttls",
    "tls_failure",
    "other_failure",
    "mx_hosts",
    "first_seen",
    "last_seen",
];

/// The CSV header of `domains --by mx`.
pub const MX_HEADER: [&str; 14] = [
    "mx_host",
    "verdict",
    "attempts",
    "dane_verified",
    "dane_failed",
    "cert_mismatch",
    "dnssec",
    "tlsa_unusable",
    "no_starttls",
    "tls_failure",
    "other_failure",
    "domains",
    "first_seen",
    "last_seen",
];

/// One output row's fields, in header order.
pub fn row_fields(name: &str, r: &Row) -> Vec<String> {
    let c = &r.counts;
    let names: Vec<&str> = r.names.iter().map(String::as_str).collect();
    vec![
        name.to_string(),
        c.verdict().as_str().to_string(),
        c.attempts.to_string(),
        c.dane_verified.to_string(),
        c.dane_failed.to_string(),
        c.class(FailureClass::CertMismatch).to_string(),
        c.class(FailureClass::Dnssec).to_string(),
        c.class(FailureClass::TlsaUnusable).to_string(),
        c.class(FailureClass::NoStarttls).to_string(),
        c.class(FailureClass::TlsFailure).to_string(),
        c.class(FailureClass::Other).to_string(),
        names.join(";"),
        rfc3339(c.first_seen),
        rfc3339(c.last_seen),
    ]
}

/// Append the CSV record of [`row_fields`] to `line`, without a `String` per field: the table
/// of a large log has tens of thousands of rows, and writing them is the serial tail of
/// `domains`. The bytes are those the `csv` crate writes (quotes only where needed, `\n`).
fn csv_row(line: &mut Vec<u8>, name: &str, r: &Row, scratch: &mut String) {
    let counts = &r.counts;
    csv_field(line, name.as_bytes());
    // verdicts, numbers and stamps never need quotes
    line.extend_from_slice(counts.verdict().as_str().as_bytes());
    line.push(b',');
    let classes = FailureClass::ALL.map(|c| counts.class(c));
    for n in [counts.attempts, counts.dane_verified, counts.dane_failed]
        .into_iter()
        .chain(classes)
    {
        line.extend_from_slice(decimal(n, &mut [0; 20]));
        line.push(b',');
    }
    scratch.clear();
    for (i, n) in r.names.iter().enumerate() {
        if i > 0 {
            scratch.push(';');
        }
        scratch.push_str(n);
    }
    csv_field(line, scratch.as_bytes());
    for t in [counts.first_seen, counts.last_seen] {
        scratch.clear();
        // writing to a String cannot fail
        let _ = crate::timefmt::write_rfc3339(t, scratch);
        line.extend_from_slice(scratch.as_bytes());
        line.push(b',');
    }
    if let Some(last) = line.last_mut() {
        *last = b'\n';
    }
}

/// Append one field and a comma, quoted as the `csv` crate quotes by default: only when it
/// holds a quote, a comma or a line break, with quotes doubled.
fn csv_field(line: &mut Vec<u8>, f: &[u8]) {
    if f.iter().any(|&b| matches!(b, b'"' | b',' | b'\n' | b'\r')) {
        line.push(b'"');
        for &b in f {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(f);
    }
    line.push(b',');
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// One row of `--format json`, serialised as it is written: its keys in the order of a sorted
/// map (the order the output has always had), without building a value tree of the whole
/// table first (a large provider's table took four times the memory of the scan that way).
struct JsonRow<'a> {
    by_mx: bool,
    name: &'a str,
    row: &'a Row,
}

/// An example line, its keys in sorted order as in a sorted map.
struct JsonExample<'a>(&'a crate::aggregate::Example);

impl serde::Serialize for JsonExample<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("file", &e.file)?;
        m.serialize_entry("line", &e.line)?;
        m.serialize_entry("outcome", &e.outcome)?;
        m.serialize_entry("text", &e.text)?;
        m.end()
    }
}

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (r, c) = (self.row, &self.row.counts);
        let examples: Vec<JsonExample<'_>> = r.examples.iter().map(JsonExample).collect();
        let mut m = s.serialize_map(Some(21))?;
        m.serialize_entry("attempts", &c.attempts)?;
        m.serialize_entry("cert_mismatch", &c.class(FailureClass::CertMismatch))?;
        m.serialize_entry("dane_failed", &c.dane_failed)?;
        m.serialize_entry("dane_verified", &c.dane_verified)?;
        m.serialize_entry("dnssec", &c.class(FailureClass::Dnssec))?;
        // a domain row's key sorts here, an MX row's list of domains too
        match self.by_mx {
            false => m.serialize_entry("domain", self.name)?,
            true => m.serialize_entry("domains", &r.names)?,
        }
        m.serialize_entry("examples", &examples)?;
        // the failing names of a domain's row are MX hosts, of an MX row domains
        let failing_key = match self.by_mx {
            false => "failing_mx",
            true => "failing_domains",
        };
        m.serialize_entry(failing_key, &r.failing_names)?;
        m.serialize_entry("first_seen", &rfc3339(c.first_seen))?;
        m.serialize_entry("last_seen", &rfc3339(c.last_seen))?;
        match self.by_mx {
            false => m.serialize_entry("mx_hosts", &r.names)?,
            true => m.serialize_entry("mx_host", self.name)?,
        }
        m.serialize_entry("no_starttls", &c.class(FailureClass::NoStarttls))?;
        m.serialize_entry("not_dane", &c.not_dane)?;
        m.serialize_entry("other_failure", &c.class(FailureClass::Other))?;
        m.serialize_entry("tls_failure", &c.class(FailureClass::TlsFailure))?;
        m.serialize_entry("tlsa_unusable", &c.class(FailureClass::TlsaUnusable))?;
        m.serialize_entry("unknown", &c.unknown)?;
        m.serialize_entry("verdict", c.verdict().as_str())?;
        m.serialize_entry(
            "verified_example",
            &r.verified_example.as_deref().map(JsonExample),
        )?;
        m.end()
    }
}

/// The rows of a table, serialised one after another.
struct JsonRows<'a> {
    by_mx: bool,
    rows: &'a [(&'a str, &'a Row)],
}

impl serde::Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows.iter().map(|(name, row)| JsonRow {
            by_mx: self.by_mx,
            name,
            row,
        }))
    }
}

/// Format `items` in blocks of `size` on every thread (`fmt` appends a block's bytes) and
/// write the blocks in order: what comes after a scan, or between its batches, runs while the
/// pool's threads would otherwise wait.
fn write_in_blocks<T: Sync>(
    items: &[T],
    size: usize,
    w: &mut dyn Write,
    fmt: impl Fn(&mut Vec<u8>, &[T]) -> io::Result<()> + Sync,
) -> io::Result<()> {
    use rayon::prelude::*;
    let blocks: Vec<io::Result<Vec<u8>>> = items
        .par_chunks(size.max(1))
        .map(|block| {
            let mut out = Vec::with_capacity(block.len() * 256);
            fmt(&mut out, block)?;
            Ok(out)
        })
        .collect();
    for b in blocks {
        w.write_all(&b?)?;
    }
    Ok(())
}

/// Write the per-domain (or per-MX) table in `format` (csv, json, table).
pub fn write_table(
    rows: &[(&str, &Row)],
    by_mx: bool,
    format: &str,
    w: &mut dyn Write,
) -> io::Result<()> {
    let header = if by_mx { &MX_HEADER } else { &DOMAINS_HEADER };
    match format {
        "csv" => {
            let mut c = csv::Writer::from_writer(&mut *w);
            c.write_record(header.iter())?;
            c.flush()?;
            drop(c);
            write_in_blocks(rows, 1024, w, |out, block| {
                let mut scratch = String::new();
                use crate::aggregate::prefetch_line;
                for (i, (name, r)) in block.iter().enumerate() {
                    // In name order the rows lie anywhere in memory, and each row's name and
                    // MX names lie elsewhere again: later rows are loaded into cache in three
                    // steps, each reading only what the step before loaded, while this one is
                    // written.
                    if let Some((n, r)) = block.get(i + 12) {
                        let row = *r as *const Row as *const u8;
                        prefetch_line(n.as_ptr());
                        for off in [0, 64, 128] {
                            prefetch_line(row.wrapping_add(off));
                        }
                    }
                    if let Some((_, r)) = block.get(i + 6) {
                        r.names.prefetch();
                    }
                    if let Some(first) = block.get(i + 3).and_then(|(_, r)| r.names.iter().next()) {
                        prefetch_line(first.as_ptr());
                    }
                    csv_row(out, name, r, &mut scratch);
                }
                Ok(())
            })?;
        }
        "json" => {
            let rows = JsonRows { by_mx, rows };
            serde_json::to_writer_pretty(&mut *w, &rows).map_err(io::Error::other)?;
            writeln!(w)?;
        }
        "table" => {
            let cols = [0usize, 1, 2, 3, 4, 11, 12, 13];
            let mut table: Vec<Vec<String>> =
                vec![cols.iter().map(|&i| header[i].to_string()).collect()];
            for (name, r) in rows {
                let f = row_fields(name, r);
                let mut row: Vec<String> = cols.iter().map(|&i| f[i].clone()).collect();
                if row[5].len() > 40 {
                    row[5] = format!("{}…", row[5].chars().take(39).collect::<String>());
                }
                table.push(row);
            }
            let widths: Vec<usize> = (0..cols.len())
                .map(|i| {
                    table
                        .iter()
                        .map(|r| r[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for r in table {
                let line: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                writeln!(w, "{}", line.join("  ").trim_end())?;
            }
        }
        other => return Err(io::Error::other(format!("unknown format {other:?}"))),
    }
    Ok(())
}

/// Run `domains`.
pub fn run_domains(a: DomainsArgs) -> Result<i32> {
    let format = a.format.clone().unwrap_or_else(|| {
        if a.out.is_none() && stdout_is_terminal() {
            "table"
        } else {
            "csv"
        }
        .into()
    });
    if !["csv", "json", "table"].contains(&format.as_str()) {
        bail!("--format: unknown format {format:?} (csv, json, table)");
    }
    let by_mx = match a.by.as_str() {
        "domain" => false,
        "mx" => true,
        o => bail!("--by: {o:?} is neither domain nor mx"),
    };
    let inputs = a.logs.inputs()?;
    let mut opts = ScanOptions {
        // the table has no per-day columns, MX rows only with --by mx, and examples and
        // failing names only as JSON
        per_day: false,
        mx_rows: by_mx,
        row_details: format == "json",
        ..a.logs.options()?
    };
    let t = Instant::now();
    let bar = progress_bar("danemine domains", &inputs, &mut opts);
    let r = scan_rows(&inputs, &opts)?;
    drop(bar);
    let rows = if by_mx { r.rows.mx() } else { r.rows.domains() };
    match &a.out {
        Some(p) => {
            crate::fsutil::write_atomic_with(p, false, |w| write_table(&rows, by_mx, &format, w))
                .with_context(|| format!("writing {}", p.display()))?
        }
        None => {
            let stdout = io::stdout();
            let mut lock = io::BufWriter::new(stdout.lock());
            write_table(&rows, by_mx, &format, &mut lock)?;
            lock.flush()?;
        }
    }
    if a.logs.stats {
        print_stats("domains", r.lines, r.bytes, r.attempts, t);
    }
    let code = report_problems(&r.problems);
    // The process ends right after this: freeing every row one by one would only cost time.
    drop(rows);
    std::mem::forget(r);
    Ok(code)
}

/// The CSV header of `scan --format csv`.
pub const ATTEMPT_HEADER: [&str; 16] = [
    "time",
    "mta",
    "domain",
    "mx_host",
    "mx_addr",
    "port",
    "mode",
    "tls_protocol",
    "tls_cipher",
    "outcome",
    "class",
    "dsn",
    "status",
    "detail",
    "file",
    "line",
];

/// Append the CSV record of [`attempt_record`] to `out`, as the `csv` crate writes it, without
/// a `String` per field.
fn attempt_csv(out: &mut Vec<u8>, a: &Attempt, scratch: &mut String) {
    let opt = |out: &mut Vec<u8>, s: &Option<String>| {
        csv_field(out, s.as_deref().unwrap_or("").as_bytes())
    };
    scratch.clear();
    // writing to a String cannot fail
    let _ = crate::timefmt::write_rfc3339(a.time.timestamp(), scratch);
    csv_field(out, scratch.as_bytes());
    csv_field(out, a.mta.as_str().as_bytes());
    csv_field(out, a.domain.as_bytes());
    opt(out, &a.mx_host);
    opt(out, &a.mx_addr);
    match a.port {
        Some(p) => csv_field(out, decimal(u64::from(p), &mut [0; 20])),
        None => csv_field(out, b""),
    }
    csv_field(out, a.mode.as_str().as_bytes());
    opt(out, &a.tls_protocol);
    opt(out, &a.tls_cipher);
    match a.outcome {
        crate::model::DaneOutcome::Failed(c) => {
            csv_field(out, b"failed");
            csv_field(out, c.as_str().as_bytes());
        }
        other => {
            csv_field(out, other.label().as_bytes());
            csv_field(out, b"");
        }
    }
    opt(out, &a.dsn);
    opt(out, &a.status);
    opt(out, &a.detail);
    csv_field(out, a.file.as_bytes());
    csv_field(out, decimal(a.line, &mut [0; 20]));
    if let Some(last) = out.last_mut() {
        *last = b'\n';
    }
}

/// One attempt's CSV fields (the record [`attempt_csv`] writes).
#[cfg(test)]
fn attempt_record(a: &Attempt) -> Vec<String> {
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    let (outcome, class) = match a.outcome {
        crate::model::DaneOutcome::Failed(c) => ("failed".to_string(), c.as_str().to_string()),
        other => (other.label(), String::new()),
    };
    vec![
        a.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        a.mta.as_str().into(),
        a.domain.clone(),
        o(&a.mx_host),
        o(&a.mx_addr),
        a.port.map(|p| p.to_string()).unwrap_or_default(),
        a.mode.as_str().into(),
        o(&a.tls_protocol),
        o(&a.tls_cipher),
        outcome,
        class,
        o(&a.dsn),
        o(&a.status),
        o(&a.detail),
        a.file.clone(),
        a.line.to_string(),
    ]
}

/// Run `scan`.
pub fn run_scan(a: ScanArgs) -> Result<i32> {
    let inputs = a.logs.inputs()?;
    let mut opts = a.logs.options()?;
    let format = a.format.as_str();
    let t = Instant::now();
    // only when the attempts do not go to the terminal as well
    let bar = match (&a.out, stdout_is_terminal()) {
        (None, true) => None,
        _ => progress_bar("danemine scan", &inputs, &mut opts),
    };
    match format {
        "csv" | "jsonl" => {}
        #[cfg(feature = "parquet")]
        "parquet" => {
            let out = a
                .out
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("--format parquet needs --out FILE"))?;
            // attempts go into the file a row group at a time, as the scan finds them
            let mut scanned: Option<Result<AttemptScan, crate::scan::ScanError>> = None;
            crate::fsutil::write_atomic_file(out, false, |w| {
                let mut p = crate::export::ParquetWriter::new(w)?;
                let mut failed: Option<io::Error> = None;
                let r = scan_attempt_batches_counted(&inputs, &opts, &mut |batch| {
                    for x in batch {
                        if failed.is_some() {
                            break;
                        }
                        failed = p.push(x).err();
                    }
                });
                let ok = r.is_ok();
                scanned = Some(r);
                match failed {
                    Some(e) => Err(e),
                    // a scan that could not start leaves no file behind
                    None if !ok => Err(io::Error::other("the scan failed")),
                    None => p.finish(),
                }
            })
            .or_else(|e| match &scanned {
                Some(Err(_)) => Ok(()),
                _ => Err(e),
            })
            .with_context(|| format!("writing {}", out.display()))?;
            let r = match scanned {
                Some(r) => r?,
                None => bail!("writing {}: the scan did not run", out.display()),
            };
            drop(bar);
            if a.logs.stats {
                print_stats("scan", r.lines, r.bytes, r.attempts, t);
            }
            return Ok(report_problems(&r.problems));
        }
        #[cfg(not(feature = "parquet"))]
        "parquet" => bail!("this danemine was built without the `parquet` feature"),
        o => bail!("--format: unknown format {o:?} (csv, jsonl, parquet)"),
    }
    let write_all = |w: &mut dyn Write| -> io::Result<AttemptScan> {
        let csv = format == "csv";
        if csv {
            let mut c = csv::Writer::from_writer(&mut *w);
            c.write_record(ATTEMPT_HEADER.iter())?;
            c.flush()?;
        }
        let mut err: Option<io::Error> = None;
        // Each batch's records are formatted on every thread (the scan's workers wait between
        // batches), in blocks written in order. The batch is freed here, on one thread: freed
        // on every thread, its strings (made by other threads) cost 20% more CPU time.
        let scanned = scan_attempt_batches_counted(&inputs, &opts, &mut |batch| {
            if err.is_some() {
                return;
            }
            err = write_in_blocks(&batch, 2048, &mut *w, |out, chunk| {
                let mut scratch = String::new();
                for a in chunk {
                    if csv {
                        attempt_csv(out, a, &mut scratch);
                    } else {
                        serde_json::to_writer(&mut *out, a).map_err(io::Error::other)?;
                        out.push(b'\n');
                    }
                }
                Ok(())
            })
            .err();
        })
        .map_err(io::Error::other)?;
        match err {
            Some(e) => Err(e),
            None => Ok(scanned),
        }
    };
    let r = match &a.out {
        Some(p) => {
            let mut got = None;
            crate::fsutil::write_atomic_with(p, false, |w| {
                got = Some(write_all(w)?);
                Ok(())
            })
            .with_context(|| format!("writing {}", p.display()))?;
            got.unwrap_or_default()
        }
        None => {
            let stdout = io::stdout();
            let mut lock = io::BufWriter::new(stdout.lock());
            let p = write_all(&mut lock)?;
            lock.flush()?;
            p
        }
    };
    drop(bar);
    if a.logs.stats {
        print_stats("scan", r.lines, r.bytes, r.attempts, t);
    }
    Ok(report_problems(&r.problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Aggregate;
    use crate::model::DaneOutcome;
    use proptest::prelude::*;

    proptest! {
        /// The CSV writer without per-field strings writes what writing `row_fields` does.
        #[test]
        fn csv_row_writer_matches_row_fields(
            counts in proptest::collection::vec((0i64..4_000_000_000, 0u8..10, 0usize..40), 1..60),
            names in proptest::collection::btree_set("[a-z0-9]{1,8}\\.[a-z]{2,3}", 0..5),
            n in any::<u64>(),
        ) {
            let mut agg = Aggregate::default();
            let outcomes = |k: u8| match k {
                0..=2 => DaneOutcome::Verified,
                3 | 4 => DaneOutcome::NotDane,
                5 => DaneOutcome::Unknown,
                k => DaneOutcome::Failed(FailureClass::ALL[(k as usize) % FailureClass::ALL.len()]),
            };
            for (i, (t, k, mx)) in counts.iter().enumerate() {
                let mx_name = names.iter().nth(mx % names.len().max(1)).map(String::as_str);
                agg.add("a.example", mx_name, *t, outcomes(*k), 0, i as u64, "f", "line", true);
            }
            let (name, row) = agg.sorted_domains()[0];
            let mut fast = Vec::new();
            let mut slow = csv::Writer::from_writer(Vec::new());
            csv_row(&mut fast, name, row, &mut String::new());
            slow.write_record(row_fields(name, row)).unwrap();
            prop_assert_eq!(fast, slow.into_inner().unwrap());
            let (mut buf, text) = ([0; 20], n.to_string());
            prop_assert_eq!(decimal(n, &mut buf), text.as_bytes());
        }
    }

    /// A row as `--format json` wrote it before it was streamed: a value tree of sorted maps.
    fn json_value(by_mx: bool, name: &str, r: &Row) -> serde_json::Value {
        let (key, names_key, failing_key) = if by_mx {
            ("mx_host", "domains", "failing_domains")
        } else {
            ("domain", "mx_hosts", "failing_mx")
        };
        let f = row_fields(name, r);
        let c = &r.counts;
        serde_json::json!({
            key: name,
            "verdict": f[1],
            "attempts": c.attempts,
            "dane_verified": c.dane_verified,
            "dane_failed": c.dane_failed,
            "cert_mismatch": c.class(FailureClass::CertMismatch),
            "dnssec": c.class(FailureClass::Dnssec),
            "tlsa_unusable": c.class(FailureClass::TlsaUnusable),
            "no_starttls": c.class(FailureClass::NoStarttls),
            "tls_failure": c.class(FailureClass::TlsFailure),
            "other_failure": c.class(FailureClass::Other),
            names_key: r.names,
            "first_seen": f[12],
            "last_seen": f[13],
            "not_dane": c.not_dane,
            "unknown": c.unknown,
            failing_key: r.failing_names,
            "examples": r.examples,
            "verified_example": r.verified_example,
        })
    }

    proptest! {
        /// The streamed JSON table is, byte for byte, the value tree's pretty print.
        #[test]
        fn json_rows_stream_what_the_value_tree_printed(
            attempts in proptest::collection::vec((0u8..4, 0u8..10, 0u8..5, 0i64..200_000), 1..80),
        ) {
            let mut agg = Aggregate::default();
            for (i, (d, k, mx, t)) in attempts.iter().enumerate() {
                let outcome = match k {
                    0..=2 => DaneOutcome::Verified,
                    3 => DaneOutcome::NotDane,
                    4 => DaneOutcome::Unknown,
                    k => DaneOutcome::Failed(FailureClass::ALL[(*k as usize) % FailureClass::ALL.len()]),
                };
                let domain = format!("d{d}.example");
                let mx = format!("mx{mx}.example");
                let text = format!("line \"{i}\", with a comma");
                agg.add(&domain, Some(&mx), *t, outcome, 0, i as u64, "f.log", &text, false);
            }
            for by_mx in [false, true] {
                let rows = if by_mx { agg.sorted_mx() } else { agg.sorted_domains() };
                let tree: Vec<serde_json::Value> = rows.iter().map(|(n, r)| json_value(by_mx, n, r)).collect();
                let streamed = serde_json::to_string_pretty(&JsonRows { by_mx, rows: &rows }).unwrap();
                prop_assert_eq!(streamed, serde_json::to_string_pretty(&tree).unwrap());
            }
        }
    }

    proptest! {
        /// An attempt's CSV record is, byte for byte, what the csv crate writes of its fields,
        /// whatever its strings hold (quotes, commas, line breaks, any character).
        #[test]
        fn attempt_records_are_what_the_csv_crate_writes(
            strings in proptest::collection::vec(proptest::option::of("(\\PC|[\",\r\n ]){0,12}"), 9),
            t in -70_000_000_000i64..300_000_000_000,
            port in proptest::option::of(any::<u16>()),
            line in any::<u64>(),
            k in 0usize..9,
        ) {
            use crate::model::{DaneMode, Mta};
            let s = |i: usize| strings[i].clone();
            let outcome = match k {
                0 => DaneOutcome::Verified,
                1 => DaneOutcome::NotDane,
                2 => DaneOutcome::Unknown,
                k => DaneOutcome::Failed(FailureClass::ALL[(k - 3) % FailureClass::ALL.len()]),
            };
            let a = Attempt {
                time: chrono::DateTime::from_timestamp(t, 0).unwrap_or_default(),
                mta: [Mta::Postfix, Mta::Exim, Mta::Gateway][k % 3],
                domain: s(0).unwrap_or_default(),
                recipient: String::new(),
                mx_host: s(1),
                mx_addr: s(2),
                port,
                mode: [DaneMode::Strict, DaneMode::Opportunistic, DaneMode::None, DaneMode::Unknown][k % 4],
                tls_protocol: s(3),
                tls_cipher: s(4),
                outcome,
                dsn: s(5),
                status: s(6),
                detail: s(7),
                file: s(8).unwrap_or_default(),
                line,
            };
            let mut fast = Vec::new();
            attempt_csv(&mut fast, &a, &mut String::new());
            let mut slow = csv::Writer::from_writer(Vec::new());
            slow.write_record(attempt_record(&a)).unwrap();
            let slow = slow.into_inner().unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&slow));
        }
    }

    proptest! {
        /// Fields are quoted as the csv crate quotes them, whatever bytes they hold.
        #[test]
        fn csv_fields_quote_as_the_csv_crate(fields in proptest::collection::vec("[a-z\",\r\n ;-]{0,6}", 2..6)) {
            let mut fast = Vec::new();
            for f in &fields {
                csv_field(&mut fast, f.as_bytes());
            }
            if let Some(last) = fast.last_mut() {
                *last = b'\n';
            }
            let mut slow = csv::Writer::from_writer(Vec::new());
            slow.write_record(&fields).unwrap();
            prop_assert_eq!(fast, slow.into_inner().unwrap());
        }
    }

    /// A table of more rows than one formatting block comes out whole, sorted by name, each row
    /// as the csv crate writes its fields.
    #[test]
    fn a_large_table_is_written_whole_and_in_order() {
        let mut agg = Aggregate::default();
        // names in an order that is not the sorted one
        for i in 0..3000u64 {
            let d = format!("d{}.example", (i * 7919) % 3000);
            agg.add(
                &d,
                Some("mx.example"),
                i as i64,
                DaneOutcome::Verified,
                0,
                i,
                "f",
                "l",
                false,
            );
        }
        let mut out = Vec::new();
        write_table(&agg.sorted_domains(), false, "csv", &mut out).unwrap();
        let mut expected = csv::Writer::from_writer(Vec::new());
        expected.write_record(DOMAINS_HEADER.iter()).unwrap();
        let mut names: Vec<&String> = agg.domains.keys().collect();
        names.sort();
        for n in names {
            expected
                .write_record(row_fields(n, &agg.domains[n]))
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected.into_inner().unwrap()).unwrap()
        );
    }

    #[test]
    fn decimal_edges() {
        for n in [0, 9, 10, 99, 100, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }
}
