//! Ingest and parallelism: compressed inputs, rotated sets, stdin, bad input, and the property
//! that every chunking and thread count gives the single-threaded result.

use danemine::ingest::{expand, FileAccess, InputSpec};
use danemine::model::DaneOutcome;
use danemine::scan::{scan_aggregate, ScanOptions, ScanResult, MAX_LINE};
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;

/// A small deterministic generator of interleaved Postfix smtp traffic (independent of the
/// sample generator): each pid opens connections whose TLS lines and delivery lines are
/// separated by other pids' lines.
fn interleaved_log(seed: u64, conns: usize) -> String {
    interleaved_log_jumping(seed, conns, false)
}

/// As [`interleaved_log`]; with `jumps`, the log's time goes back by two hours now and then
/// (as where two hosts' logs are concatenated), past the correlation's process expiry.
fn interleaved_log_jumping(seed: u64, conns: usize, jumps: bool) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // per pid: a queue of pending lines of its current connection
    let pids = 12;
    let mut queues: Vec<Vec<String>> = vec![Vec::new(); pids];
    let mut out = String::new();
    let mut made = 0;
    let mut t = if jumps { 23 * 3600 } else { 0u64 };
    let mut qid = 0x10000u64;
    while made < conns || queues.iter().any(|q| !q.is_empty()) {
        let p = (next() % pids as u64) as usize;
        if queues[p].is_empty() {
            if made >= conns {
                continue;
            }
            made += 1;
            let d = next() % 40;
            let host = format!("mx{}.d{d}.example", next() % 2);
            let addr = format!("192.0.2.{}", d + 1);
            let kind = next() % 5;
            let mut q = Vec::new();
            match kind {
                0 => q.push(format!("Verified TLS connection established to {host}[{addr}]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")),
                1 => {
                    q.push(format!("certificate verification failed for {host}[{addr}]:25: num=65:no matching DANE TLSA records"));
                    q.push(format!("Untrusted TLS connection established to {host}[{addr}]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"));
                }
                2 => q.push(format!("Untrusted TLS connection established to {host}[{addr}]:25: TLSv1.2 with cipher X (256/256 bits)")),
                3 => q.push(format!("SSL_connect error to {host}[{addr}]:25: lost connection")),
                _ => {}
            }
            let rcpts = 1 + next() % 3;
            qid += 1;
            for r in 0..rcpts {
                let (dsn, status) = match kind {
                    1 => ("4.7.5", "deferred (Server certificate not verified)".to_string()),
                    3 => ("4.7.5", "deferred (Cannot start TLS: handshake failure)".to_string()),
                    4 => ("4.7.4", format!("deferred (TLS is required, but was not offered by host {host}[{addr}])")),
                    _ => ("2.0.0", "sent (250 2.0.0 Ok)".to_string()),
                };
                q.push(format!("{qid:X}: to=<u{r}@d{d}.example>, relay={host}[{addr}]:25, delay=1, delays=0.1/0/0.5/0.4, dsn={dsn}, status={status}"));
            }
            q.reverse();
            queues[p] = q;
        }
        if let Some(msg) = queues[p].pop() {
            t += next() % 3;
            if jumps && next() % 50 == 0 {
                t = t.saturating_sub(2 * 3600);
            }
            let (h, m, s) = (t / 3600 % 24, t / 60 % 60, t % 60);
            out.push_str(&format!(
                "Nov  2 {h:02}:{m:02}:{s:02} mail postfix/smtp[{}]: {msg}\n",
                4000 + p
            ));
            if next() % 4 == 0 {
                out.push_str(&format!("Nov  2 {h:02}:{m:02}:{s:02} mail postfix/qmgr[99]: {qid:X}: from=<a@b.example>, size=1, nrcpt=1 (queue active)\n"));
            }
        }
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn opts() -> ScanOptions {
    ScanOptions {
        year: Some(2026),
        ..ScanOptions::default()
    }
}

fn scan(inputs: &[InputSpec], o: &ScanOptions) -> ScanResult {
    scan_aggregate(inputs, o).expect("scan")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn generator_makes_every_outcome() {
    let d = tempfile::tempdir().unwrap();
    let log = interleaved_log(7, 400);
    let p = write(d.path(), "maillog", log.as_bytes());
    let r = scan(&[InputSpec::file(&p)], &opts());
    let total: u64 = r
        .aggregate
        .domains
        .values()
        .map(|x| x.counts.attempts)
        .sum();
    let verified: u64 = r
        .aggregate
        .domains
        .values()
        .map(|x| x.counts.dane_verified)
        .sum();
    let failed: u64 = r
        .aggregate
        .domains
        .values()
        .map(|x| x.counts.dane_failed)
        .sum();
    assert!(
        total > 400 && verified > 50 && failed > 100,
        "{total} {verified} {failed}"
    );
    assert_eq!(r.problems.total(), 0, "{}", r.problems.summary());
}

fn same_but_file_names(
    a: &danemine::aggregate::Aggregate,
    b: &danemine::aggregate::Aggregate,
) -> bool {
    let strip = |x: &danemine::aggregate::Aggregate| {
        let mut x = x.clone();
        for r in x.domains.values_mut().chain(x.mx.values_mut()) {
            for e in r
                .examples
                .iter_mut()
                .chain(r.verified_example.as_deref_mut())
            {
                e.file.clear();
            }
        }
        x
    };
    strip(a) == strip(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any chunk and batch size, any thread count: the same aggregate as one thread, one chunk.
    #[test]
    /// With a log whose time goes back past the process expiry too: the places where process
    /// states expire are the input's, not the chunks' or the batches'.
    #[test]
    fn chunking_never_changes_the_result(seed in 0u64..1000, chunk in 1usize..4000, batch in 64usize..20000, threads in 1usize..4, jumps: bool, expiry in 100usize..30000) {
        let d = tempfile::tempdir().unwrap();
        let log = interleaved_log_jumping(seed, 150, jumps);
        let p = write(d.path(), "maillog", log.as_bytes());
        let base = ScanOptions { expiry_bytes: expiry, file_access: FileAccess::Read, ..opts() };
        let reference = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| {
            scan(&[InputSpec::file(&p)], &ScanOptions { chunk_bytes: usize::MAX / 4, batch_bytes: usize::MAX / 4, flight_bytes: usize::MAX / 4, ..base.clone() })
        });
        let o = ScanOptions { chunk_bytes: chunk, batch_bytes: batch, flight_bytes: batch, ..base };
        let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| scan(&[InputSpec::file(&p)], &o));
        prop_assert!(got.aggregate == reference.aggregate, "aggregates differ (chunk {}, batch {}, threads {})", chunk, batch, threads);
        prop_assert_eq!(got.lines, reference.lines);
        // the file memory-mapped instead of read: the same again
        let mapped = ScanOptions { file_access: FileAccess::Map, ..o.clone() };
        let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| scan(&[InputSpec::file(&p)], &mapped));
        prop_assert!(got.aggregate == reference.aggregate, "mapped: aggregates differ (chunk {}, batch {}, threads {})", chunk, batch, threads);
        prop_assert_eq!(got.lines, reference.lines);
        // streamed (gzip) with the same small batches: the same result again
        let gz = write(d.path(), "maillog.gz", &gzip(log.as_bytes()));
        let got = scan(&[InputSpec::file(&gz)], &o);
        prop_assert!(same_but_file_names(&got.aggregate, &reference.aggregate));
    }
}

/// Lines that cross pieces and batches of a read file in awkward ways: longer than a line
/// may be (and longer than a batch), CRLF, empty, invalid UTF-8, NUL bytes, no final newline.
fn awkward_log() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(interleaved_log(5, 30).as_bytes());
    b.extend_from_slice(b"Nov  2 10:00:00 mail postfix/smtp[7]: ABCDE1: to=<a@crlf.example>, relay=mx.crlf.example[192.0.2.7]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)\r\n\n\n");
    b.extend_from_slice(&[b'y'; MAX_LINE + 1]);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(&[b'z'; 3 * MAX_LINE]);
    b.push(b'\n');
    b.extend_from_slice(&[b'w'; MAX_LINE]);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(b"Nov  2 10:00:00 mail postfix/smtp[7]: \xff\xfe\n\0\0\n");
    b.extend_from_slice(interleaved_log(6, 30).as_bytes());
    b.extend_from_slice(b"Nov  2 10:00:02 mail postfix/smtp[2]: ABCDE5: to=<ok@e.example>, relay=mx.e.example[192.0.2.9]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)");
    b
}

#[test]
fn read_and_mapped_files_agree_on_awkward_lines() {
    let d = tempfile::tempdir().unwrap();
    let bytes = awkward_log();
    let p = write(d.path(), "awkward.log", &bytes);
    for complete_lines_only in [false, true] {
        let base = ScanOptions {
            complete_lines_only,
            ..opts()
        };
        let mapped = ScanOptions {
            file_access: FileAccess::Map,
            ..base.clone()
        };
        let reference = scan(&[InputSpec::file(&p)], &mapped);
        assert!(reference.problems.inputs[&0].counts["too-long"] >= 2);
        let last_line = bytes.len() - memchr::memrchr(b'\n', &bytes).unwrap() - 1;
        let expected_end = bytes.len() - if complete_lines_only { last_line } else { 0 };
        assert_eq!(reference.end_offsets, [expected_end as u64]);
        for (chunk, batch) in [
            (1, 64),
            (7, 100),
            (100, 150),
            (4096, 70_000),
            (1 << 20, 8 << 20),
        ] {
            let o = ScanOptions {
                chunk_bytes: chunk,
                batch_bytes: batch,
                flight_bytes: batch,
                ..base.clone()
            };
            // one, two and three threads: each thread joins the lines at the chunks' edges
            // for its partition, and partition 0 reports their problems
            for threads in [1, 2, 3] {
                let got = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| scan(&[InputSpec::file(&p)], &o));
                let what = format!(
                    "chunk {chunk}, batch {batch}, complete lines only {complete_lines_only}, \
                     {threads} threads"
                );
                assert_eq!(got.aggregate, reference.aggregate, "{what}");
                assert_eq!(got.problems, reference.problems, "{what}");
                assert_eq!(
                    (got.lines, got.bytes, got.attempts, &got.end_offsets),
                    (
                        reference.lines,
                        reference.bytes,
                        reference.attempts,
                        &reference.end_offsets
                    ),
                    "{what}"
                );
            }
        }
    }
}

/// A plain stream (here a named pipe, as standard input would be) is read on a thread of its
/// own a batch ahead, into buffers that come back: many small batches give what the file does.
#[cfg(unix)]
#[test]
fn a_pipe_gives_what_the_file_gives() {
    let d = tempfile::tempdir().unwrap();
    let log = interleaved_log(9, 1500);
    let p = write(d.path(), "maillog", log.as_bytes());
    let fifo = d.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, log) = (fifo.clone(), log.clone());
        // a pipe takes 64 KiB at a time: the reader sees many short reads
        std::thread::spawn(move || std::fs::write(fifo, log.as_bytes()).unwrap())
    };
    let o = ScanOptions {
        chunk_bytes: 1000,
        batch_bytes: 5000,
        flight_bytes: 5000,
        ..opts()
    };
    assert!(log.len() > 20 * 5000, "several batches");
    let piped = scan(&[InputSpec::file(&fifo)], &o);
    writer.join().unwrap();
    let file = scan(&[InputSpec::file(&p)], &o);
    assert!(file.attempts > 1000);
    assert!(same_but_file_names(&piped.aggregate, &file.aggregate));
    assert_eq!(
        (
            piped.lines,
            piped.bytes,
            piped.attempts,
            piped.problems.total()
        ),
        (file.lines, file.bytes, file.attempts, file.problems.total())
    );
}

#[test]
fn a_start_offset_skips_what_was_read_before_either_way() {
    let d = tempfile::tempdir().unwrap();
    let log = interleaved_log(8, 100);
    let p = write(d.path(), "maillog", log.as_bytes());
    let offset = log.match_indices('\n').nth(99).map(|(i, _)| i + 1).unwrap();
    let spec = InputSpec {
        start_offset: offset as u64,
        ..InputSpec::file(&p)
    };
    let small = ScanOptions {
        chunk_bytes: 300,
        batch_bytes: 1000,
        flight_bytes: 1000,
        ..opts()
    };
    let read = scan(std::slice::from_ref(&spec), &small);
    let mapped = scan(
        &[spec],
        &ScanOptions {
            file_access: FileAccess::Map,
            ..small
        },
    );
    assert_eq!(read.lines, log.lines().count() as u64 - 100);
    assert_eq!(read.end_offsets, [log.len() as u64]);
    assert_eq!(read.bytes, (log.len() - offset) as u64);
    assert_eq!(read.aggregate, mapped.aggregate);
    assert_eq!(
        (read.lines, read.bytes, &read.end_offsets),
        (mapped.lines, mapped.bytes, &mapped.end_offsets)
    );
}

/// With `complete_lines_only`, the month of the newest whole BSD line sets the year, however
/// long an unfinished last line is; read or mapped alike. And a start past the end (a file
/// cut since the last run) ends at the end.
#[test]
fn the_newest_whole_line_sets_the_year_and_a_late_start_ends_at_the_end() {
    let d = tempfile::tempdir().unwrap();
    let mut text = b"Dec 31 23:59:59 m postfix/smtp[1]: ABCDE1: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)\n\
Jan  1 00:00:01 m postfix/smtp[1]: ABCDE2: to=<b@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)\n".to_vec();
    let whole = text.len() as u64;
    text.extend_from_slice(&[b'x'; 300 * 1024]);
    let p = write(d.path(), "m", &text);
    for file_access in [FileAccess::Read, FileAccess::Map] {
        let o = ScanOptions {
            year: Some(2027),
            complete_lines_only: true,
            file_access,
            ..opts()
        };
        let r = scan(&[InputSpec::file(&p)], &o);
        let c = &r.aggregate.domains["x.example"].counts;
        assert_eq!(
            danemine::timefmt::rfc3339(c.first_seen),
            "2026-12-31T23:59:59Z",
            "{file_access:?}"
        );
        assert_eq!(r.end_offsets, [whole], "{file_access:?}");
        let late = InputSpec {
            start_offset: text.len() as u64 + 100,
            ..InputSpec::file(&p)
        };
        let r = scan(&[late], &o);
        assert_eq!((r.lines, &r.end_offsets), (0, &vec![text.len() as u64]));
    }
}

/// A mapped file truncated in place while it is scanned (logrotate's `copytruncate`): no
/// SIGBUS, but an error naming the file and the byte before which its lines were used, and
/// they were: at least the attempts that reading those bytes alone gives. Counted (as
/// `domains`) and with the attempts kept (as `scan`), on one thread and two.
#[cfg(target_os = "linux")]
#[test]
fn a_mapped_file_truncated_while_it_is_scanned_is_an_error_not_a_crash() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let d = tempfile::tempdir().unwrap();
    let mut log = String::new();
    let mut seed = 0;
    while log.len() < 40 << 20 {
        log.push_str(&interleaved_log(seed, 2000));
        seed += 1;
    }
    let p = write(d.path(), "maillog", log.as_bytes());
    let progress = std::sync::Arc::new(AtomicU64::new(0));
    // the attempts of the log's lines before byte `n`, read
    let before = |n: usize| {
        let whole = log.as_bytes()[..n]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let q = write(d.path(), "prefix", &log.as_bytes()[..whole]);
        let o = ScanOptions {
            file_access: FileAccess::Read,
            ..opts()
        };
        scan(&[InputSpec::file(&q)], &o).attempts
    };
    let mut lost = 0;
    for (threads, keep) in [(1, false), (2, false), (2, false), (1, true), (2, true)] {
        std::fs::write(&p, log.as_bytes()).unwrap();
        progress.store(0, Ordering::Relaxed);
        let o = ScanOptions {
            progress: Some(progress.clone()),
            year: Some(2026),
            ..ScanOptions::with_access(FileAccess::Map)
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (attempts, problems) = std::thread::scope(|s| {
            let scanning = s.spawn(|| {
                pool.install(|| match keep {
                    false => {
                        let r = scan(&[InputSpec::file(&p)], &o);
                        (r.attempts, r.problems)
                    }
                    true => {
                        let mut n = 0u64;
                        let problems =
                            danemine::scan::scan_attempts(&[InputSpec::file(&p)], &o, &mut |_| {
                                n += 1
                            })
                            .expect("scan");
                        (n, problems)
                    }
                })
            });
            // cut the file to nothing once the scan is well into it
            while progress.load(Ordering::Relaxed) < 8 << 20 {
                std::thread::yield_now();
            }
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_len(0).unwrap();
            scanning.join().expect("the scan ends")
        });
        let Some(input) = problems.inputs.get(&0).filter(|i| !i.errors.is_empty()) else {
            // the scan ended before the cut (a busy machine): a try lost, not a failure
            lost += 1;
            continue;
        };
        let what = format!(
            "{threads} threads, attempts kept: {keep}: {:?}",
            input.errors
        );
        let error = input
            .errors
            .iter()
            .find(|e| e.starts_with("the file shrank while it was read: "))
            .expect(&what);
        assert!(problems.summary().contains("maillog"), "{what}");
        // "... the lines before byte N were used", or "reading stopped at byte N ...; the
        // lines before it were used"
        let number = |after: &str| {
            let at = error.find(after)? + after.len();
            let digits: String = error[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().ok()
        };
        let used = number("the lines before byte ")
            .or_else(|| number("reading stopped at byte "))
            .expect(&what);
        assert!(used >= 8 << 20 && used < log.len(), "{what}");
        assert!(attempts >= before(used), "{what}: {attempts} attempts");
    }
    assert!(
        lost < 2,
        "the scan ended before the cut in {lost} of 5 tries"
    );
}

/// A file that gives fewer bytes than its length said (it shrank while it was read): an error
/// naming the file and where reading stopped, after the lines read. A sysfs file stands in
/// for it: it claims 4096 bytes and holds a few.
#[test]
fn a_file_that_ends_early_is_an_error_after_its_lines() {
    let p = Path::new("/sys/devices/system/cpu/online");
    let len = std::fs::metadata(p).expect("sysfs is mounted").len();
    let content = std::fs::read(p).unwrap();
    assert!(content.len() < len as usize, "{len} {}", content.len());
    // in one piece; and in pieces of a byte, two to a batch, so that reading stops in a later
    // batch while the batches after it are already set up (one, two and three threads)
    let small = ScanOptions {
        chunk_bytes: 1,
        batch_bytes: 2,
        flight_bytes: 2,
        ..opts()
    };
    for (o, threads) in [
        (opts(), 2),
        (small.clone(), 1),
        (small.clone(), 2),
        (small, 3),
    ] {
        let r = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| scan(&[InputSpec::file(p)], &o));
        let errors = &r.problems.inputs[&0].errors;
        let want = format!(
            "the file shrank while it was read: reading stopped at byte {} of {len}",
            content.len()
        );
        assert!(errors.iter().any(|e| e.starts_with(&want)), "{errors:?}");
        assert!(r
            .problems
            .summary()
            .contains("/sys/devices/system/cpu/online"));
        assert!(r.problems.has_errors());
        assert_eq!(r.lines, 1);
        assert_eq!(r.end_offsets, [content.len() as u64]);
    }
}

#[test]
fn split_between_tls_line_and_delivery_line() {
    // chunk boundaries right after every TLS line
    let log = interleaved_log(3, 60);
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "maillog", log.as_bytes());
    let reference = scan(&[InputSpec::file(&p)], &opts());
    for chunk in [1, 2, 100, 200] {
        let got = scan(
            &[InputSpec::file(&p)],
            &ScanOptions {
                chunk_bytes: chunk,
                batch_bytes: chunk * 3,
                flight_bytes: chunk * 3,
                ..opts()
            },
        );
        assert_eq!(got.aggregate, reference.aggregate, "chunk {chunk}");
    }
}

/// Each domain's counts, in name order.
fn domain_counts(r: &ScanResult) -> Vec<(String, danemine::aggregate::Counts)> {
    let mut v: Vec<_> = r
        .aggregate
        .domains
        .iter()
        .map(|(k, x)| (k.clone(), x.counts.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn gzip_zstd_and_plain_agree_and_magic_wins_over_suffix() {
    let log = interleaved_log(11, 200);
    let d = tempfile::tempdir().unwrap();
    let plain = write(d.path(), "a.log", log.as_bytes());
    let gz = write(d.path(), "b.log", &gzip(log.as_bytes())); // gzip without .gz suffix
    let zst = write(
        d.path(),
        "c.gz",
        &zstd::encode_all(log.as_bytes(), 3).unwrap(),
    ); // zstd named .gz
    let r0 = scan(&[InputSpec::file(&plain)], &opts());
    let r1 = scan(&[InputSpec::file(&gz)], &opts());
    let r2 = scan(&[InputSpec::file(&zst)], &opts());
    assert_eq!(domain_counts(&r0), domain_counts(&r1));
    assert_eq!(domain_counts(&r0), domain_counts(&r2));
    assert_eq!(r0.lines, r1.lines);
}

/// A zstd file that starts with a skippable frame (as `pzstd` writes) is zstd; a file in a
/// compression danemine does not read is an error naming the format, not binary noise; a byte
/// order mark does not hide the first line.
#[test]
fn skippable_zstd_frames_unsupported_compression_and_a_byte_order_mark() {
    let log = interleaved_log(12, 100);
    let d = tempfile::tempdir().unwrap();
    let plain = write(d.path(), "a.log", log.as_bytes());
    let mut pz = vec![0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    pz.extend(zstd::encode_all(log.as_bytes(), 3).unwrap());
    let pz = write(d.path(), "b.log", &pz);
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(log.as_bytes());
    let bom = write(d.path(), "c.log", &bom);
    let r0 = scan(&[InputSpec::file(&plain)], &opts());
    for other in [&pz, &bom] {
        let r = scan(&[InputSpec::file(other)], &opts());
        assert_eq!(domain_counts(&r), domain_counts(&r0), "{}", other.display());
        assert_eq!(r.problems.total(), 0, "{}", r.problems.summary());
    }
    let xz = write(d.path(), "d.log", b"\xfd7zXZ\x00\x00\x04binary");
    let r = scan(&[InputSpec::file(&xz), InputSpec::file(&plain)], &opts());
    let s = r.problems.summary();
    assert!(s.contains("d.log: xz-compressed"), "{s}");
    assert_eq!(r.problems.total(), 0, "no line of it is read: {s}");
    assert_eq!(domain_counts(&r), domain_counts(&r0));
}

/// gzip as `gzip -d` reads it: members one after another, and zero padding after the last
/// (tape or block padding) ends the stream; data after the padding is an error.
#[test]
fn gzip_members_and_zero_padding() {
    let log = interleaved_log(13, 120);
    let half = log.len() / 2;
    let cut = log[..half].rfind('\n').unwrap() + 1;
    let d = tempfile::tempdir().unwrap();
    let plain = write(d.path(), "a.log", log.as_bytes());
    let mut two = gzip(&log.as_bytes()[..cut]);
    two.extend(gzip(&log.as_bytes()[cut..]));
    let mut padded = two.clone();
    padded.extend(std::iter::repeat_n(0u8, 100_000));
    let r0 = scan(&[InputSpec::file(&plain)], &opts());
    for (name, bytes) in [("two.gz", &two), ("padded.gz", &padded)] {
        let p = write(d.path(), name, bytes);
        let r = scan(&[InputSpec::file(&p)], &opts());
        assert!(!r.problems.has_errors(), "{name}: {}", r.problems.summary());
        assert_eq!(domain_counts(&r), domain_counts(&r0), "{name}");
    }
    let mut bad = padded;
    bad.extend_from_slice(b"junk");
    let p = write(d.path(), "bad.gz", &bad);
    let r = scan(&[InputSpec::file(&p)], &opts());
    assert!(
        r.problems.summary().contains("zero padding"),
        "{}",
        r.problems.summary()
    );
    assert_eq!(domain_counts(&r), domain_counts(&r0));
}

#[test]
fn truncated_gzip_names_the_file_and_other_files_still_count() {
    let log = interleaved_log(5, 300);
    let d = tempfile::tempdir().unwrap();
    let full = gzip(log.as_bytes());
    let cut = write(d.path(), "maillog.1.gz", &full[..full.len() / 2]);
    let good = write(d.path(), "maillog", interleaved_log(6, 50).as_bytes());
    let r = scan(&[InputSpec::file(&cut), InputSpec::file(&good)], &opts());
    assert!(r.problems.has_errors());
    let s = r.problems.summary();
    assert!(
        s.contains("maillog.1.gz") && s.contains("truncated or corrupt gzip"),
        "{s}"
    );
    let alone = scan(&[InputSpec::file(&good)], &opts());
    assert!(
        r.aggregate
            .domains
            .values()
            .map(|x| x.counts.attempts)
            .sum::<u64>()
            > alone
                .aggregate
                .domains
                .values()
                .map(|x| x.counts.attempts)
                .sum::<u64>(),
        "the decodable part of the truncated file is used too"
    );
    // the binary: exit 2, error on stderr, output still written
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_danemine"))
        .args(["domains", "--format", "csv", "--year", "2026"])
        .arg(&cut)
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("maillog.1.gz"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("domain,verdict,"));
}

#[test]
fn rotated_sets_are_read_oldest_first() {
    let d = tempfile::tempdir().unwrap();
    for n in [
        "maillog",
        "maillog.1",
        "maillog.2.gz",
        "maillog.3.gz",
        "other.log",
    ] {
        write(d.path(), n, b"");
    }
    let args = vec![d.path().join("maillog*").display().to_string()];
    let got: Vec<String> = expand(&args)
        .unwrap()
        .iter()
        .map(|i| {
            Path::new(&i.display)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        got,
        ["maillog.3.gz", "maillog.2.gz", "maillog.1", "maillog"]
    );
    let got: Vec<String> = expand(&[d.path().display().to_string()])
        .unwrap()
        .iter()
        .map(|i| {
            Path::new(&i.display)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        got,
        [
            "maillog.3.gz",
            "maillog.2.gz",
            "maillog.1",
            "maillog",
            "other.log"
        ]
    );
    assert!(expand(&["/nonexistent/x.log"]).is_err());
}

#[test]
fn bad_input_is_counted_never_panics() {
    let d = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(interleaved_log(9, 20).as_bytes());
    bytes.extend_from_slice(b"Nov  2 10:00:00 mail postfix/smtp[1]: ABCDE1: to=<a@b\xff\xfe.example>, relay=x[1.2.3.4]:25, dsn=2.0.0, status=sent (ok)\n");
    bytes.extend_from_slice(
        b"Nov  2 10:00:00 mail postfix/smtp[1]: \0\0\0\0 ABCDE2: to=<a@c.example>\n",
    );
    bytes.extend_from_slice(&[b'x'; 100_000]);
    bytes.push(b'\n');
    bytes.extend_from_slice(
        b"Nov  2 10:00:01 mail postfix/smtp[1]: ABCDE3: to=<a@d.example>, relay=x[1.2.3.4]:2\n",
    );
    bytes.extend_from_slice(b"postfix/smtp[xxxxx]: ABCDE4: to=<******@[x.x.x.x]>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to [x.x.x.x]:25: timed out)\n");
    bytes.extend_from_slice(b"garbage without any prefix\n");
    bytes.extend_from_slice(b"Nov  2 10:00:02 mail postfix/smtp[2]: ABCDE5: to=<ok@e.example>, relay=mx.e.example[192.0.2.9]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)");
    let p = write(d.path(), "bad.log", &bytes);
    let r = scan(&[InputSpec::file(&p)], &opts());
    let c = &r.problems.inputs[&0].counts;
    for k in [
        "invalid-utf8",
        "nul-byte",
        "too-long",
        "malformed-postfix",
        "bad-domain",
        "no-prefix",
    ] {
        assert!(c.contains_key(k), "missing {k}: {c:?}");
    }
    let summary = r.problems.summary();
    assert!(summary.contains("bad.log:"), "{summary}");
    // the last line has no newline and still counts
    assert_eq!(
        r.aggregate.domains["e.example"].counts.verdict(),
        danemine::model::Verdict::NoDane
    );
}

#[test]
fn stdin_gzip_works() {
    let log = interleaved_log(12, 80);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_danemine"))
        .args(["domains", "--format", "csv", "--year", "2026", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&gzip(log.as_bytes()))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "m", log.as_bytes());
    let file_out = std::process::Command::new(env!("CARGO_BIN_EXE_danemine"))
        .args(["domains", "--format", "csv", "--year", "2026"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.stdout, file_out.stdout);
}

#[test]
fn year_inference_across_new_year() {
    let d = tempfile::tempdir().unwrap();
    let text = "Dec 31 23:59:59 m postfix/smtp[1]: ABCDE1: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)\n\
                Jan  1 00:00:01 m postfix/smtp[1]: ABCDE2: to=<b@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)\n";
    let p = write(d.path(), "m", text.as_bytes());
    let r = scan(
        &[InputSpec::file(&p)],
        &ScanOptions {
            year: Some(2027),
            ..opts()
        },
    );
    let c = &r.aggregate.domains["x.example"].counts;
    assert_eq!(
        danemine::timefmt::rfc3339(c.first_seen),
        "2026-12-31T23:59:59Z"
    );
    assert_eq!(
        danemine::timefmt::rfc3339(c.last_seen),
        "2027-01-01T00:00:01Z"
    );
    let _ = DaneOutcome::Verified;
}

#[test]
fn progress_counts_every_byte_read() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    let text = interleaved_log(7, 400);
    let plain = write(d.path(), "mail.log", text.as_bytes());
    let gz = write(d.path(), "mail.log.1", &gzip(text.as_bytes()));
    let specs = [InputSpec::file(&gz), InputSpec::file(&plain)];
    // the total a bar can show: known for plain files only
    assert_eq!(
        danemine::ingest::plain_size(&specs[1]),
        Some(text.len() as u64)
    );
    assert_eq!(danemine::ingest::plain_size(&specs[0]), None);
    let counter = Arc::new(AtomicU64::new(0));
    let o = ScanOptions {
        progress: Some(counter.clone()),
        batch_bytes: 4096,
        flight_bytes: 4096,
        ..opts()
    };
    let r = scan(&specs, &o);
    assert!(r.attempts > 0);
    // decompressed bytes of the gzip file, then the plain file
    assert_eq!(counter.load(Ordering::Relaxed), 2 * text.len() as u64);
}

#[test]
fn a_non_final_failure_delivered_in_the_next_input_is_judged_by_that_inputs_warm_up() {
    // the first input's first two lines are warm-up; its non-final failure after them is
    // new, and so is the delivery line that names its recipient, early in the next input
    let d = tempfile::tempdir().unwrap();
    let p = "Nov  2 10:00:00 mail postfix/smtp[7]:";
    let q = "Nov  2 10:00:31 mail postfix/smtp[7]:";
    let a = write(
        d.path(),
        "maillog.1",
        format!(
            "{p} Verified TLS connection established to mx.old.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} ABCDE01: to=<u@old.example>, relay=mx.old.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 ok)\n\
             {p} CA certificate verification failed for mxa.nf.example[192.0.2.9]:25: num=65:no matching DANE TLSA records\n\
             {p} Untrusted TLS connection established to mxa.nf.example[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} ABCDE02: Server certificate not verified\n"
        )
        .as_bytes(),
    );
    let b = write(
        d.path(),
        "maillog",
        format!(
            "{q} Verified TLS connection established to mxb.nf.example[192.0.2.10]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {q} ABCDE02: to=<u@nf.example>, relay=mxb.nf.example[192.0.2.10]:25, delay=31, delays=0.1/0/31/0.1, dsn=2.0.0, status=sent (250 ok)\n"
        )
        .as_bytes(),
    );
    let mut first = InputSpec::file(&a);
    first.warm_up_lines = 2;
    let r = scan(&[first, InputSpec::file(&b)], &opts());
    assert!(!r.aggregate.domains.contains_key("old.example"));
    let nf = &r.aggregate.domains["nf.example"].counts;
    assert_eq!((nf.dane_failed, nf.dane_verified), (1, 1), "{nf:?}");
}

#[test]
fn a_non_final_failure_found_unmatched_within_the_warm_up_is_left_out() {
    // two non-final-MX failures in the warm-up; pid 7's process comes back as a new one two
    // hours later within it (the read that took those lines first found that), pid 8's only
    // after it (found now: a problem at its line)
    let failure = |pid: u32, qid: &str| {
        let p = format!("Nov  2 10:00:00 mail postfix/smtp[{pid}]:");
        format!(
            "{p} CA certificate verification failed for mxa.nf.example[192.0.2.9]:25: num=65:no matching DANE TLSA records\n\
             {p} Untrusted TLS connection established to mxa.nf.example[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
             {p} {qid}: Server certificate not verified\n"
        )
    };
    let back = |pid: u32| {
        format!(
            "Nov  2 12:00:00 mail postfix/smtp[{pid}]: Verified TLS connection established to \
             mx.other.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
        )
    };
    let log = failure(7, "ABCDE07") + &failure(8, "ABCDE08") + &back(7) + &back(8);
    let d = tempfile::tempdir().unwrap();
    let path = write(d.path(), "maillog", log.as_bytes());
    for warm_up in [0, 7] {
        let mut spec = InputSpec::file(&path);
        spec.warm_up_lines = warm_up;
        let r = scan(&[spec], &opts());
        let p = &r.problems.inputs[&0];
        let lines: Vec<u64> = p.examples.iter().map(|e| e.line).collect();
        let want: &[u64] = if warm_up == 0 { &[3, 6] } else { &[6] };
        assert_eq!(lines, want, "warm-up {warm_up}: {p:?}");
        assert_eq!(p.counts["non-final-without-recipient"], want.len() as u64);
    }
}

#[test]
fn a_non_final_failure_pushed_out_of_its_process_is_reported() {
    // one process with more non-final-MX failures waiting than it keeps (64): the oldest is
    // reported when the 65th comes, the rest at the end; none is lost
    let log: String = (0..65)
        .map(|i| {
            format!(
                "Nov  2 10:00:00 mail postfix/smtp[7]: AB{i:05}: Server certificate not verified\n"
            )
        })
        .collect();
    let d = tempfile::tempdir().unwrap();
    let path = write(d.path(), "maillog", log.as_bytes());
    let r = scan(&[InputSpec::file(&path)], &opts());
    let p = &r.problems.inputs[&0];
    assert_eq!(p.counts["non-final-without-recipient"], 65, "{p:?}");
    assert_eq!(p.examples[0].line, 1, "{p:?}");
}

/// A log that goes back in time by more than the process expiry: states expire where the
/// input says (before the first line at or after each multiple of `expiry_bytes`), with the
/// latest time since the last such place as the clock, for any batch size and thread count.
#[test]
fn expiry_after_a_jump_back_in_time_is_placed_by_the_input() {
    let tls = |t: &str, pid: u32, host: &str| {
        format!(
            "Nov  2 {t} mail postfix/smtp[{pid}]: Verified TLS connection established to \
             {host}[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
        )
    };
    let pids = 200..216u32;
    let mut first = tls("12:00:00", 100, "mx.late.example");
    for pid in pids.clone() {
        first.push_str(&tls("10:00:00", pid, &format!("mx.d{pid}.example")));
    }
    let mut log = first.clone();
    for pid in pids.clone() {
        log.push_str(&format!(
            "Nov  2 10:00:01 mail postfix/smtp[{pid}]: 1A2B{pid}: to=<u@d{pid}.example>, \
             relay=mx.d{pid}.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, \
             status=sent (250 2.0.0 Ok)\n"
        ));
    }
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "maillog", log.as_bytes());
    let verified = |r: &ScanResult| -> (u64, u64) {
        let c = r.aggregate.domains.values().map(|r| &r.counts);
        (
            c.clone().map(|c| c.attempts).sum(),
            c.map(|c| c.dane_verified).sum(),
        )
    };
    // an expiry between the summaries and their deliveries: at 12:00, every process seen at
    // 10:00 has been silent for two hours, and its delivery line loses its TLS summary; with
    // the default (8 MiB) there is none in this log
    for (expiry, want) in [
        (first.len(), (16, 0)),
        (first.len() - 40, (16, 0)),
        (8 << 20, (16, 16)),
    ] {
        let base = ScanOptions {
            expiry_bytes: expiry,
            ..opts()
        };
        let reference = scan(&[InputSpec::file(&p)], &base);
        assert_eq!(verified(&reference), want, "expiry every {expiry} bytes");
        for (chunk, batch) in [(300, 64), (300, first.len()), (1000, 1000), (7, 100)] {
            for threads in 1..=3 {
                let o = ScanOptions {
                    chunk_bytes: chunk,
                    batch_bytes: batch,
                    flight_bytes: batch,
                    ..base.clone()
                };
                let got = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| scan(&[InputSpec::file(&p)], &o));
                assert!(
                    got.aggregate == reference.aggregate,
                    "expiry {expiry}, chunk {chunk}, batch {batch}, {threads} threads: {:?}",
                    verified(&got)
                );
            }
        }
    }
    // an input's end is such a place too: the same log in two files, cut there
    let a = write(d.path(), "maillog.1", first.as_bytes());
    let b = write(d.path(), "maillog", &log.as_bytes()[first.len()..]);
    let two = scan(&[InputSpec::file(&a), InputSpec::file(&b)], &opts());
    assert_eq!(verified(&two), (16, 0));
}

/// Read and mapped files agree on everything a scan reports, for files of awkward lengths
/// (empty, one byte, around a page) and start offsets (mid-line, at a line, at and past the
/// end), with and without `complete_lines_only`, in pieces of several sizes; and so do the
/// attempts of `scan_attempts`.
#[test]
fn read_and_mapped_files_agree_on_lengths_and_start_offsets() {
    let d = tempfile::tempdir().unwrap();
    let full = awkward_log();
    for cut in [0usize, 1, 4095, 4096, 4097, full.len() / 2, full.len()] {
        let bytes = &full[..cut];
        let p = write(d.path(), "a.log", bytes);
        let starts: Vec<u64> = [0u64, 1, 200, cut as u64, cut as u64 + 5]
            .into_iter()
            .chain(
                memchr::memchr_iter(b'\n', bytes)
                    .step_by(41)
                    .map(|i| i as u64 + 1),
            )
            .collect();
        for start in starts {
            for complete in [false, true] {
                for (chunk, batch) in [(7usize, 100usize), (4096, 70_000), (1 << 20, 8 << 20)] {
                    let spec = InputSpec {
                        start_offset: start,
                        ..InputSpec::file(&p)
                    };
                    let with = |file_access| ScanOptions {
                        complete_lines_only: complete,
                        file_access,
                        chunk_bytes: chunk,
                        batch_bytes: batch,
                        flight_bytes: batch,
                        ..opts()
                    };
                    let what = format!("cut {cut} start {start} complete {complete} chunk {chunk}");
                    let read = scan(std::slice::from_ref(&spec), &with(FileAccess::Read));
                    let mapped = scan(std::slice::from_ref(&spec), &with(FileAccess::Map));
                    assert_eq!(read.end_offsets, mapped.end_offsets, "{what}");
                    assert_eq!(read.aggregate, mapped.aggregate, "{what}");
                    assert_eq!(
                        (read.lines, read.bytes, &read.problems),
                        (mapped.lines, mapped.bytes, &mapped.problems),
                        "{what}"
                    );
                    let attempts = |file_access| {
                        let mut n = 0;
                        let problems = danemine::scan::scan_attempts(
                            std::slice::from_ref(&spec),
                            &with(file_access),
                            &mut |_| n += 1,
                        )
                        .unwrap();
                        (n, problems)
                    };
                    assert_eq!(
                        attempts(FileAccess::Read),
                        attempts(FileAccess::Map),
                        "attempts: {what}"
                    );
                }
            }
        }
    }
}
