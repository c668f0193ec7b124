//! The floor of any `danemine domains` design, for the benchmark: the least work a scan of
//! the generated Postfix log needs, with nothing of danemine's generality. Each core takes
//! half of the file, reads it with `pread` in 4 MiB blocks into one reused buffer (faster than
//! a memory map here: no page faults), and per line:
//! - finds the newline;
//! - reads the RFC 3339 stamp (converted once per second);
//! - finds the host and the `program[pid]` tag;
//! - keeps the trust of a TLS summary line per process (one hash map);
//! - counts a `to=` line's domain, with its verified count and last time (another map).
//!
//! No other line shape, no grammar, no correlation beyond the last summary, no validation, no
//! examples or name sets, no output but two numbers. Usage: `floor FILE`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Counts of one domain: attempts, verified attempts, last time.
type Counts = (u64, u64, i64);

/// Bytes read at a time.
const BLOCK: usize = 4 << 20;

/// Seconds of `2026-11-01T00:00:00` (close enough to a calendar for a benchmark).
fn seconds(b: &[u8]) -> Option<i64> {
    let d = |i: usize| b.get(i).map(|c| i64::from(c.wrapping_sub(b'0')));
    let two = |i: usize| Some(d(i)? * 10 + d(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let days = (year * 12 + two(5)?) * 31 + two(8)?;
    Some(days * 86_400 + two(11)? * 3600 + two(14)? * 60 + two(17)?)
}

/// What one core keeps while it reads its half.
#[derive(Default)]
struct Scan {
    trust: Map<Vec<u8>, bool>,
    domains: Map<Vec<u8>, Counts>,
    stamp: Vec<u8>,
    time: i64,
    lines: u64,
}

impl Scan {
    /// Whole lines of a block.
    fn lines(&mut self, data: &[u8]) {
        let mut start = 0;
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
            self.line(&data[start..end]);
            start = end + 1;
        }
    }

    fn line(&mut self, line: &[u8]) {
        self.lines += 1;
        let Some(stamp) = line.get(..19) else { return };
        if stamp != self.stamp.as_slice() {
            self.stamp.clear();
            self.stamp.extend_from_slice(stamp);
            self.time = seconds(stamp).unwrap_or(0);
        }
        // `STAMP host prog[pid]: message`; the stamp with its fraction and zone is 32 bytes
        let Some(rest) = line.get(33..) else { return };
        let Some(host_end) = memchr::memchr(b' ', rest) else {
            return;
        };
        let Some(open) = memchr::memchr(b'[', &rest[host_end..]).map(|i| host_end + i) else {
            return;
        };
        let Some(close) = memchr::memchr(b']', &rest[open..]).map(|i| open + i) else {
            return;
        };
        let process = &rest[..close];
        let msg = rest.get(close + 3..).unwrap_or(b"");
        let head = |n: usize| &msg[..msg.len().min(n)];
        if let Some(p) = memchr::memmem::find(head(40), b" TLS connection established") {
            let verified = &msg[..p] == b"Verified";
            match self.trust.get_mut(process) {
                Some(t) => *t = verified,
                None => {
                    self.trust.insert(process.to_vec(), verified);
                }
            }
        } else if let Some(p) = memchr::memmem::find(head(30), b": to=<") {
            let addr = &msg[p + 6..];
            let Some(gt) = memchr::memchr(b'>', addr) else {
                return;
            };
            let Some(at) = memchr::memrchr(b'@', &addr[..gt]) else {
                return;
            };
            let verified = self.trust.get(process).copied().unwrap_or(false);
            let domain = &addr[at + 1..gt];
            let c = match self.domains.get_mut(domain) {
                Some(c) => c,
                None => self
                    .domains
                    .entry(domain.to_vec())
                    .or_insert((0, 0, self.time)),
            };
            c.0 += 1;
            c.1 += u64::from(verified);
            c.2 = c.2.max(self.time);
        }
    }
}

/// Read and count the lines that start in `[from, to)` of `file` (`from` is a line start).
fn half(file: &File, from: u64, to: u64) -> std::io::Result<Scan> {
    let mut scan = Scan::default();
    let mut buf = vec![0u8; BLOCK];
    let (mut kept, mut pos) = (0usize, from);
    while pos < to {
        let want = usize::try_from(to - pos).map_or(BLOCK, |left| left.min(BLOCK - kept));
        let n = file.read_at(&mut buf[kept..kept + want], pos)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        let filled = kept + n;
        let cut = if pos >= to {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(filled, |i| i + 1)
        };
        scan.lines(&buf[..cut]);
        buf.copy_within(cut..filled, 0);
        kept = filled - cut;
    }
    Ok(scan)
}

fn main() -> std::io::Result<()> {
    let path = std::env::args_os().nth(1).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "usage: floor FILE")
    })?;
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    // the second half starts after the first newline past the middle
    let mut probe = vec![0u8; 1 << 16];
    let n = file.read_at(&mut probe, len / 2)?;
    let mid = memchr::memchr(b'\n', &probe[..n]).map_or(len, |i| len / 2 + i as u64 + 1);
    let (first, second) = std::thread::scope(|s| {
        let h = s.spawn(|| half(&file, mid, len));
        (half(&file, 0, mid), h.join())
    });
    let (mut all, other) = (
        first?,
        second.map_err(|_| std::io::Error::other("thread"))??,
    );
    for (k, v) in other.domains {
        let c = all.domains.entry(k).or_insert((0, 0, v.2));
        c.0 += v.0;
        c.1 += v.1;
        c.2 = c.2.max(v.2);
    }
    println!(
        "{} domains, {} lines",
        all.domains.len(),
        all.lines + other.lines
    );
    Ok(())
}
