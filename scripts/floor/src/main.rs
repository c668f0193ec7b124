//! The floor of any `danemine domains` design, for the benchmark: the least work a scan of
//! the generated Postfix log needs, with nothing of danemine's generality. Each core takes
//! half of the file and, per line:
//! - finds the newline;
//! - reads the RFC 3339 stamp (converted once per second);
//! - finds the host and the `program[pid]` tag;
//! - keeps the trust of a TLS summary line per process (one hash map);
//! - counts a `to=` line's domain, with its verified count and last time (another map).
//!
//! No other line shape, no grammar, no correlation beyond the last summary, no validation, no
//! examples or name sets, no output but two numbers. Usage: `floor FILE`.

use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Counts of one domain: attempts, verified attempts, last time.
type Counts = (u64, u64, i64);

/// Seconds of `2026-11-01T00:00:00` (close enough to a calendar for a benchmark).
fn seconds(b: &[u8]) -> Option<i64> {
    let d = |i: usize| b.get(i).map(|c| i64::from(c.wrapping_sub(b'0')));
    let two = |i: usize| Some(d(i)? * 10 + d(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let days = (year * 12 + two(5)?) * 31 + two(8)?;
    Some(days * 86_400 + two(11)? * 3600 + two(14)? * 60 + two(17)?)
}

fn scan(data: &[u8]) -> (Map<Vec<u8>, Counts>, u64) {
    let mut trust: Map<&[u8], bool> = Map::default();
    let mut domains: Map<&[u8], Counts> = Map::default();
    let (mut last_stamp, mut last_time): (&[u8], i64) = (b"", 0);
    let mut lines = 0u64;
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let line = &data[start..end];
        start = end + 1;
        lines += 1;
        let Some(stamp) = line.get(..19) else {
            continue;
        };
        if stamp != last_stamp {
            last_stamp = stamp;
            last_time = seconds(stamp).unwrap_or(0);
        }
        // `STAMP host prog[pid]: message`; the stamp with its fraction and zone is 32 bytes
        let Some(rest) = line.get(33..) else { continue };
        let Some(host_end) = memchr::memchr(b' ', rest) else {
            continue;
        };
        let Some(open) = memchr::memchr(b'[', &rest[host_end..]).map(|i| host_end + i) else {
            continue;
        };
        let Some(close) = memchr::memchr(b']', &rest[open..]).map(|i| open + i) else {
            continue;
        };
        let process = &rest[..close];
        let msg = rest.get(close + 3..).unwrap_or(b"");
        let head = |n: usize| &msg[..msg.len().min(n)];
        if let Some(p) = memchr::memmem::find(head(40), b" TLS connection established") {
            trust.insert(process, &msg[..p] == b"Verified");
        } else if let Some(p) = memchr::memmem::find(head(30), b": to=<") {
            let addr = &msg[p + 6..];
            let Some(gt) = memchr::memchr(b'>', addr) else {
                continue;
            };
            let Some(at) = memchr::memrchr(b'@', &addr[..gt]) else {
                continue;
            };
            let verified = trust.get(process).copied().unwrap_or(false);
            let c = domains
                .entry(&addr[at + 1..gt])
                .or_insert((0, 0, last_time));
            c.0 += 1;
            c.1 += u64::from(verified);
            c.2 = c.2.max(last_time);
        }
    }
    let owned = domains.into_iter().map(|(k, v)| (k.to_vec(), v)).collect();
    (owned, lines)
}

fn main() -> std::io::Result<()> {
    let path = std::env::args_os().nth(1).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "usage: floor FILE")
    })?;
    let file = std::fs::File::open(path)?;
    // SAFETY: a read-only map of a file that the benchmark does not change while it runs.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let data: &[u8] = &map;
    let mid = memchr::memchr(b'\n', &data[data.len() / 2..])
        .map_or(data.len(), |i| data.len() / 2 + i + 1);
    let (first, second) = data.split_at(mid);
    let ((mut all, a), (other, b)) = std::thread::scope(|s| {
        let h = s.spawn(|| scan(second));
        (scan(first), h.join().unwrap_or_default())
    });
    for (k, v) in other {
        let c = all.entry(k).or_insert((0, 0, v.2));
        c.0 += v.0;
        c.1 += v.1;
        c.2 = c.2.max(v.2);
    }
    println!("{} domains, {} lines", all.len(), a + b);
    Ok(())
}
