//! The nightly job's state directory: what was read of which log file, the daily aggregates,
//! the exclusion store, and the lock against overlapping runs.
//!
//! Layout: `state.json` (the single commit point: file table, day index, store), `days/` (one
//! aggregate file per UTC day, named after the run that wrote it), `lock`.
//! A run writes new day files under new names first, then replaces `state.json` atomically;
//! files no `state.json` refers to are left-overs of a run that died and are removed. So a
//! crash at any point leaves the previous consistent state, and no line is counted twice.

use super::store::Store;
use crate::aggregate::{Aggregate, HashMap, Row};
use crate::fsutil;
use crate::ingest::{detect, Compression};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Bytes of content (decompressed for compressed files) hashed to recognise a file.
pub const HEAD_BYTES: usize = 4096;
/// Version of `state.json`.
pub const STATE_VERSION: u32 = 1;

/// Errors of the state directory.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("{path}: another nightly run holds the lock")]
    Locked { path: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What is known of one log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// Where it was last seen.
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    /// gzip or zstd.
    pub compressed: bool,
    /// Content bytes read (decompressed bytes for a compressed file).
    pub offset: u64,
    /// Lines before `offset` (for line numbers in examples).
    pub lines: u64,
    /// SHA-256 (hex) of the first `head_len` content bytes.
    pub head: String,
    pub head_len: u64,
}

/// `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Committed runs so far.
    pub run: u64,
    /// Unix time of the last committed run.
    pub last_run: Option<i64>,
    pub files: Vec<FileState>,
    /// UTC day number (days since 1970-01-01) → file name in `days/`.
    pub days: BTreeMap<i32, String>,
    pub store: Store,
    /// Domains the last committed run added whose notice (its summary and pull request) it
    /// did not get to: it was stopped after its commit. The next run reports them as added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unannounced: Vec<String>,
}

impl State {
    /// Path of `state.json` in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Load the state (a fresh one when there is none yet).
    pub fn load(dir: &Path) -> Result<State, StateError> {
        let p = State::path(dir);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    ..State::default()
                })
            }
            Err(e) => return Err(io_err(&p)(e)),
        };
        let s: State = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        if s.version != STATE_VERSION {
            return Err(StateError::Corrupt {
                path: p.display().to_string(),
                message: format!(
                    "state version {} (this danemine reads {STATE_VERSION})",
                    s.version
                ),
            });
        }
        Ok(s)
    }

    /// Commit: replace `state.json` atomically (the previous one kept as `state.json.prev`).
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let p = State::path(dir);
        let bytes = serde_json::to_vec(self).map_err(|e| StateError::Corrupt {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        fsutil::write_atomic(&p, &bytes, true).map_err(io_err(&p))
    }
}

/// How long a held lock is retried before a run is refused.
pub const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The lock against overlapping runs; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock in `dir` (created if missing).
    ///
    /// A held lock is retried for [`LOCK_GRACE`] before the run is refused: a
    /// child forked by this process (e.g. `postmap`, `git`) shares the lock's
    /// open file until its `exec` closes it, and that short window must not be
    /// taken for an overlapping run.
    pub fn acquire(dir: &Path) -> Result<Lock, StateError> {
        fs::create_dir_all(dir.join("days")).map_err(io_err(dir))?;
        let p = dir.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        let start = std::time::Instant::now();
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(Lock { _file: f }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_GRACE => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StateError::Locked {
                        path: p.display().to_string(),
                    })
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err(&p)(e)),
            }
        }
    }
}

/// One UTC day's aggregate as stored in `days/`: a JSON object whose rows are written sorted
/// by name (the files compare and diff well), and read into the aggregate's own tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFile {
    pub day: i32,
    #[serde(serialize_with = "sorted_rows")]
    pub domains: HashMap<String, Row>,
    #[serde(serialize_with = "sorted_rows")]
    pub mx: HashMap<String, Row>,
}

/// A table's rows as a JSON object in name order.
fn sorted_rows<S: serde::Serializer>(rows: &HashMap<String, Row>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(crate::aggregate::sorted(rows))
}

impl DayFile {
    /// From an in-memory aggregate (its tables are moved, not copied).
    pub fn from_aggregate(day: i32, a: Aggregate) -> DayFile {
        DayFile {
            day,
            domains: a.domains,
            mx: a.mx,
        }
    }

    /// Into an in-memory aggregate.
    pub fn into_aggregate(self) -> Aggregate {
        Aggregate {
            domains: self.domains,
            mx: self.mx,
        }
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn day_name(day: i32) -> String {
    super::writers::date(i64::from(day) * 86_400)
}

/// Read a day file.
pub fn read_day(dir: &Path, name: &str) -> Result<DayFile, StateError> {
    let p = dir.join("days").join(name);
    let bytes = fs::read(&p).map_err(io_err(&p))?;
    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        path: p.display().to_string(),
        message: e.to_string(),
    })
}

/// Write a day file under a new name for run `run`; returns the name.
pub fn write_day(dir: &Path, run: u64, d: &DayFile) -> Result<String, StateError> {
    let name = format!("{}.r{run}.json", day_name(d.day));
    let p = dir.join("days").join(&name);
    // written as it is serialised: no copy of the whole file in memory first
    fsutil::write_atomic_with(&p, false, |w| {
        serde_json::to_writer(w, d).map_err(io::Error::other)
    })
    .map_err(io_err(&p))?;
    Ok(name)
}

/// Remove files in `days/` that `state` does not refer to (left-overs of a run that died, or
/// days that left the window), and the spool directories of runs that died. Returns how many
/// were removed. The caller holds the lock.
pub fn collect_garbage(dir: &Path, state: &State) -> Result<usize, StateError> {
    let d = dir.join("days");
    let keep: std::collections::BTreeSet<&str> = state.days.values().map(String::as_str).collect();
    let mut n = 0;
    let days = match fs::read_dir(&d) {
        Ok(rd) => Some(rd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(&d)(e)),
    };
    for e in days.into_iter().flatten() {
        let e = e.map_err(io_err(&d))?;
        let name = e.file_name();
        if !keep.contains(name.to_string_lossy().as_ref()) {
            fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
            n += 1;
        }
    }
    // the spool directories of runs that were killed (the caller holds the lock: no other
    // run is using one)
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        if e.file_name().to_string_lossy().starts_with("spool.") && e.path().is_dir() {
            fs::remove_dir_all(e.path()).map_err(io_err(&e.path()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// A log file as found now.
#[derive(Debug, Clone)]
pub struct Probe {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// Size on disk.
    pub len: u64,
    pub compressed: bool,
    /// The first [`HEAD_BYTES`] content bytes (decompressed).
    pub head: Vec<u8>,
}

/// SHA-256 in hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, b).as_ref())
}

fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Decompressing reader of a gzip or zstd file.
pub fn decompressed(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut f = File::open(path)?;
    let magic = read_up_to(&mut f, 4)?;
    let f = File::open(path)?;
    let r = io::BufReader::new(f);
    Ok(match detect(&magic) {
        Compression::Gzip => Box::new(crate::ingest::GzMembers::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

impl Probe {
    /// Look at a file: identity, size, compression and the first content bytes.
    pub fn of(path: &Path) -> io::Result<Probe> {
        use std::os::unix::fs::MetadataExt;
        let mut f = File::open(path)?;
        let meta = f.metadata()?;
        let magic = read_up_to(&mut f, 4)?;
        let compressed = detect(&magic) != Compression::None;
        let head = if compressed {
            // a truncated archive still identifies by what decompresses
            let mut r = decompressed(path)?;
            let mut buf = vec![0u8; HEAD_BYTES];
            let mut got = 0;
            while got < HEAD_BYTES {
                match r.read(&mut buf[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got += k,
                }
            }
            buf.truncate(got);
            buf
        } else {
            let mut f = File::open(path)?;
            read_up_to(&mut f, HEAD_BYTES)?
        };
        Ok(Probe {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            compressed,
            head,
        })
    }

    fn head_matches(&self, k: &FileState) -> bool {
        let n = k.head_len as usize;
        n <= self.head.len() && sha256_hex(&self.head[..n]) == k.head
    }

    /// The state to record after reading this file up to `offset` content bytes.
    pub fn state(&self, offset: u64, lines: u64) -> FileState {
        FileState {
            path: self.path.display().to_string(),
            dev: self.dev,
            ino: self.ino,
            compressed: self.compressed,
            offset,
            lines,
            head: sha256_hex(&self.head),
            head_len: self.head.len() as u64,
        }
    }
}

/// What to do with a file this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Never seen: read it all.
    New,
    /// The same file (same inode, same first bytes): read from `offset` (nothing new when
    /// `offset` equals its size).
    Continue { offset: u64, lines: u64 },
    /// Same inode, but shorter than what was read or other first bytes: truncated or replaced;
    /// read it all.
    Restarted,
    /// A compressed file already read in full.
    Done { offset: u64, lines: u64 },
    /// Content known from another file (a rotated copy, or the compressed rotation of a plain
    /// file read up to `offset`): read from `offset`.
    Rotated {
        from: String,
        offset: u64,
        lines: u64,
    },
}

/// Decide how to read `p`, given what the previous run knew.
pub fn decide(p: &Probe, known: &[FileState]) -> Decision {
    let same_inode = known
        .iter()
        .find(|k| k.compressed == p.compressed && (k.dev, k.ino) == (p.dev, p.ino));
    if let Some(k) = same_inode {
        if p.head_matches(k) {
            if p.compressed {
                return Decision::Done {
                    offset: k.offset,
                    lines: k.lines,
                };
            }
            if p.len >= k.offset {
                return Decision::Continue {
                    offset: k.offset,
                    lines: k.lines,
                };
            }
        }
    }
    // recognise the content (a copy, a compressed rotation, or an inode reused by a file
    // known under another name): the longest known head that matches, then the furthest read
    let best = known
        .iter()
        .filter(|k| k.head_len > 0 && p.head_matches(k))
        .max_by_key(|k| (k.head_len, k.offset));
    match best {
        Some(k) if p.compressed && k.compressed => Decision::Done {
            offset: k.offset,
            lines: k.lines,
        },
        Some(k) if p.compressed || p.len >= k.offset => Decision::Rotated {
            from: k.path.clone(),
            offset: k.offset,
            lines: k.lines,
        },
        _ if same_inode.is_some() && !p.compressed => Decision::Restarted,
        _ => Decision::New,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(path: &Path, data: &[u8]) {
        let f = File::create(path).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap();
    }

    #[test]
    fn rotation_truncation_and_compression_are_recognised() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("mail.log");
        let first: String = (0..200)
            .map(|i| format!("line {i} of the first file\n"))
            .collect();
        fs::write(&log, &first).unwrap();
        let p = Probe::of(&log).unwrap();
        assert_eq!(decide(&p, &[]), Decision::New);
        let known = vec![p.state(first.len() as u64, 200)];

        // grown
        let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"one more\n").unwrap();
        let p = Probe::of(&log).unwrap();
        assert_eq!(
            decide(&p, &known),
            Decision::Continue {
                offset: first.len() as u64,
                lines: 200
            }
        );

        // renamed to .1 (same inode) and a new file started
        fs::rename(&log, d.path().join("mail.log.1")).unwrap();
        fs::write(&log, "a brand new file\n").unwrap();
        let p1 = Probe::of(&d.path().join("mail.log.1")).unwrap();
        assert!(matches!(decide(&p1, &known), Decision::Continue { .. }));
        assert_eq!(decide(&Probe::of(&log).unwrap(), &known), Decision::New);

        // compressed: recognised by the decompressed head as the file read up to the offset
        let full = fs::read(d.path().join("mail.log.1")).unwrap();
        gz(&d.path().join("mail.log.2.gz"), &full);
        let pz = Probe::of(&d.path().join("mail.log.2.gz")).unwrap();
        assert!(pz.compressed);
        assert_eq!(
            decide(&pz, &known),
            Decision::Rotated {
                from: log.display().to_string(),
                offset: first.len() as u64,
                lines: 200
            }
        );
        // once recorded as a compressed file read in full, it is done
        let known2 = vec![pz.state(full.len() as u64, 201)];
        assert_eq!(
            decide(&pz, &known2),
            Decision::Done {
                offset: full.len() as u64,
                lines: 201
            }
        );

        // truncated in place (copytruncate): same inode, shorter → read from the start
        fs::write(&log, "x\n").unwrap();
        let pl = Probe::of(&log).unwrap();
        let known3 = vec![pl.state(2, 1)];
        let f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .unwrap();
        drop(f);
        fs::write(&log, "y\n").unwrap();
        assert_eq!(
            decide(&Probe::of(&log).unwrap(), &known3),
            Decision::Restarted
        );
    }

    #[test]
    fn state_round_trip_lock_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        let lock = Lock::acquire(d.path()).unwrap();
        assert!(matches!(
            Lock::acquire(d.path()),
            Err(StateError::Locked { .. })
        ));
        let mut s = State::load(d.path()).unwrap();
        assert_eq!(s.version, STATE_VERSION);
        let mut a = Aggregate::default();
        a.add(
            "a.example",
            Some("mx.a.example"),
            86_400 * 3 + 5,
            crate::model::DaneOutcome::Verified,
            0,
            1,
            "f",
            "t",
            true,
        );
        // more domains, added out of name order: the file has them in name order
        for n in ["z.example", "c.example", "m.example"] {
            a.add(
                n,
                None,
                86_400 * 3 + 9,
                crate::model::DaneOutcome::NotDane,
                0,
                2,
                "f",
                "t",
                true,
            );
        }
        let name = write_day(d.path(), 1, &DayFile::from_aggregate(3, a.clone())).unwrap();
        assert_eq!(name, "1970-01-04.r1.json");
        let text = fs::read_to_string(d.path().join("days").join(&name)).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":{{")).unwrap();
        assert!(at("a.example") < at("c.example") && at("c.example") < at("m.example"));
        assert!(at("m.example") < at("z.example"), "{text}");
        let mut back = read_day(d.path(), &name).unwrap().into_aggregate();
        // examples lose their input index (not stored); everything else round-trips
        for r in back.domains.values_mut().chain(back.mx.values_mut()) {
            if let Some(v) = r.verified_example.as_mut() {
                v.input = 0;
            }
        }
        assert_eq!(back, a);
        fs::write(d.path().join("days/1970-01-04.r0.json"), "{}").unwrap();
        s.days.insert(3, name.clone());
        s.run = 1;
        s.save(d.path()).unwrap();
        assert_eq!(collect_garbage(d.path(), &s).unwrap(), 1);
        assert_eq!(State::load(d.path()).unwrap(), s);
        drop(lock);
        Lock::acquire(d.path()).unwrap();
        fs::write(State::path(d.path()), "{not json").unwrap();
        assert!(matches!(
            State::load(d.path()),
            Err(StateError::Corrupt { .. })
        ));
    }
}
