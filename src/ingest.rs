//! Ingest: which files to read, in which order, and how their bytes arrive.
//!
//! Plain files are read in place by the scanner's workers (`pread`, each its own piece of a
//! batch) or, on request, memory-mapped; gzip and zstd (detected by magic bytes, never by
//! name) and standard input are streamed. Either way the scanner parses whole lines: a line
//! cut at the end of a batch is finished in the next.

use memmap2::Mmap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[cfg(target_os = "linux")]
mod guard;
#[cfg(target_os = "linux")]
pub use guard::{page_size, MapGuard};

/// The size of a memory page.
#[cfg(not(target_os = "linux"))]
pub fn page_size() -> usize {
    4096
}

/// A plain file's memory map, watched (where it can be) for the file shrinking under it.
pub struct Mapping {
    // (declared first: it stops watching before the map goes)
    #[cfg(target_os = "linux")]
    guard: Option<MapGuard>,
    map: Mmap,
    /// The file, for its length once it has shrunk.
    file: File,
}

impl Mapping {
    fn new(map: Mmap, file: File) -> Mapping {
        Mapping {
            #[cfg(target_os = "linux")]
            guard: MapGuard::watch(&map),
            map,
            file,
        }
    }

    /// Where in the map the file was found to have shrunk while it was read: the first page
    /// read after it had gone (it and the rest of the map read as zeros since), or the
    /// file's new end when that lies in the page just before it (whose rest reads as zeros
    /// without a fault). A page further down was read before the file shrank, or not since.
    pub fn shrunk_at(&self) -> Option<usize> {
        #[cfg(target_os = "linux")]
        let at = self.guard.as_ref().and_then(MapGuard::shrunk_at);
        #[cfg(not(target_os = "linux"))]
        let at: Option<usize> = None;
        let at = at?;
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        Some(match usize::try_from(len) {
            Ok(len) if len < at && len + page_size() >= at => len,
            _ => at,
        })
    }
}

impl std::ops::Deref for Mapping {
    type Target = Mmap;
    fn deref(&self) -> &Mmap {
        &self.map
    }
}

/// Errors while finding or opening inputs.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{pattern}: {message}")]
    Glob { pattern: String, message: String },
    #[error("{path}: no such file, directory or matching glob")]
    Missing { path: String },
}

/// One input as the scanner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// The name used in messages and output (`-` for standard input).
    pub display: String,
    /// `None` means standard input.
    pub path: Option<PathBuf>,
    /// Bytes to skip at the start (incremental reading of plain files; must be a line start).
    pub start_offset: u64,
    /// Lines (after `start_offset`) read again only to restore correlation state: the nightly
    /// job's overlap with the part of a log that its last run read. An attempt that the reading
    /// of one of these lines completes was counted then, and is not emitted now; nor is a
    /// non-final-MX attempt found there to have met no recipient line.
    pub warm_up_lines: u64,
    /// Lines of this input after this many are read again by the next nightly run, as its
    /// warm-up: a non-final-MX attempt on one of them that still waits for its recipient
    /// line at the end of the scan is left to that run instead of reported as a problem.
    pub read_again_after: Option<u64>,
}

impl InputSpec {
    /// A whole file.
    pub fn file(path: impl Into<PathBuf>) -> InputSpec {
        let path = path.into();
        InputSpec {
            display: path.display().to_string(),
            path: Some(path),
            start_offset: 0,
            warm_up_lines: 0,
            read_again_after: None,
        }
    }

    /// Standard input.
    pub fn stdin() -> InputSpec {
        InputSpec {
            display: "-".into(),
            path: None,
            start_offset: 0,
            warm_up_lines: 0,
            read_again_after: None,
        }
    }
}

/// How a log file name sorts within its rotated set: (base name, age rank); larger age = older.
///
/// `maillog` → (maillog, 0); `maillog.1` → (maillog, 1); `maillog.3.gz` → (maillog, 3);
/// `maillog-20261101(.gz)` → dated: older dates rank older; `maillog.gz` → (maillog, 0).
pub fn rotation_key(name: &str) -> (String, i64) {
    let mut base = name;
    for ext in [".gz", ".zst", ".zstd", ".xz", ".bz2"] {
        if let Some(b) = base.strip_suffix(ext) {
            base = b;
            break;
        }
    }
    if let Some(dot) = base.rfind('.') {
        let n = &base[dot + 1..];
        if !n.is_empty() && n.len() <= 4 && n.bytes().all(|c| c.is_ascii_digit()) {
            if let Ok(v) = n.parse::<i64>() {
                return (base[..dot].to_string(), v);
            }
        }
    }
    if let Some(dash) = base.rfind('-') {
        let d = &base[dash + 1..];
        if d.len() == 8 && d.bytes().all(|c| c.is_ascii_digit()) {
            if let Ok(v) = d.parse::<i64>() {
                // dated rotation: 20261101 is older than 20261102; keep them older than `.N`-less base
                return (base[..dash].to_string(), 1_000_000_000 - v);
            }
        }
    }
    (base.to_string(), 0)
}

fn sort_rotated(paths: &mut [PathBuf]) {
    paths.sort_by(|a, b| {
        let ka = rotation_key(
            &a.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let kb = rotation_key(
            &b.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let da = a.parent();
        let db = b.parent();
        da.cmp(&db)
            .then(ka.0.cmp(&kb.0))
            .then(kb.1.cmp(&ka.1))
            .then(a.cmp(b))
    });
}

/// What makes two paths the same file: its device and inode where there are such, else its
/// canonical path.
#[derive(Debug, PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(p: &Path) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(p) {
            return FileId::Inode(m.dev(), m.ino());
        }
    }
    FileId::Path(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// Expand command-line arguments into inputs: files, directories (their regular files), globs
/// and `-` for standard input. File inputs are ordered per rotated set, oldest first
/// (`maillog.3.gz maillog.2.gz maillog.1 maillog`); standard input comes where it was named.
/// A file named more than once (by other paths, links or overlapping globs) is read once, where
/// it first comes.
pub fn expand<S: AsRef<OsStr>>(args: &[S]) -> Result<Vec<InputSpec>, IngestError> {
    expand_with(args, false)
}

/// [`expand`] for the commands that read logs: a path that does not exist, or a glob that
/// matches no file, is kept as an input whose opening fails, so that it is reported like an
/// unreadable file (named, with the other inputs still read, exit code 2 at the end).
pub fn expand_keeping_missing<S: AsRef<OsStr>>(args: &[S]) -> Result<Vec<InputSpec>, IngestError> {
    expand_with(args, true)
}

fn expand_with<S: AsRef<OsStr>>(
    args: &[S],
    keep_missing: bool,
) -> Result<Vec<InputSpec>, IngestError> {
    let mut out: Vec<InputSpec> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen: std::collections::HashSet<FileId> = std::collections::HashSet::new();
    let flush = |files: &mut Vec<PathBuf>,
                 out: &mut Vec<InputSpec>,
                 seen: &mut std::collections::HashSet<FileId>| {
        sort_rotated(files);
        for f in files.drain(..) {
            if seen.insert(file_id(&f)) {
                out.push(InputSpec::file(f));
            }
        }
    };
    for a in args {
        let a = a.as_ref();
        let shown = || a.to_string_lossy().into_owned();
        if a == "-" {
            flush(&mut files, &mut out, &mut seen);
            // standard input redirected from a file that is named too is that file, read once
            if seen.insert(file_id(Path::new("/dev/stdin"))) {
                out.push(InputSpec::stdin());
            }
            continue;
        }
        let p = Path::new(a);
        // (a pattern is text; a name that is not UTF-8 is only ever a path)
        let pattern = a.to_str().filter(|t| t.contains(['*', '?', '[']));
        if p.is_dir() {
            let open = |source| IngestError::Open {
                path: shown(),
                source,
            };
            for e in std::fs::read_dir(p).map_err(open)? {
                let path = e.map_err(open)?.path();
                if path.is_file() {
                    files.push(path);
                }
            }
        } else if p.exists() {
            files.push(p.to_path_buf());
        } else if let Some(pattern) = pattern {
            let matched = glob_files(pattern)?;
            if matched.is_empty() {
                if !keep_missing {
                    return Err(IngestError::Missing { path: shown() });
                }
                flush(&mut files, &mut out, &mut seen);
                out.push(InputSpec::file(p));
            }
            files.extend(matched);
        } else if keep_missing {
            flush(&mut files, &mut out, &mut seen);
            out.push(InputSpec::file(p));
        } else {
            return Err(IngestError::Missing { path: shown() });
        }
    }
    flush(&mut files, &mut out, &mut seen);
    Ok(out)
}

/// The regular files a glob names, sorted per directory. Each component with `*`, `?` or
/// `[` is matched against the entries of the directories so far, whatever bytes their names
/// hold: a name that is not UTF-8 is matched as its lossy text (each bad sequence one `U+FFFD`,
/// which `*` and `?` match), where the `glob` crate passes over such names. A pattern with a
/// recursive `**` goes to the `glob` crate.
fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, IngestError> {
    let bad = |message: String| IngestError::Glob {
        pattern: pattern.to_string(),
        message,
    };
    if pattern.contains("**") {
        let mut files = Vec::new();
        for g in glob::glob(pattern).map_err(|e| bad(e.to_string()))? {
            let path = g.map_err(|e| bad(e.to_string()))?;
            if path.is_file() {
                files.push(path);
            }
        }
        return Ok(files);
    }
    let options = glob::MatchOptions::new();
    let mut found: Vec<PathBuf> = vec![PathBuf::new()];
    for part in Path::new(pattern).components() {
        let text = part.as_os_str().to_str().unwrap_or_default();
        if !text.contains(['*', '?', '[']) {
            for f in &mut found {
                f.push(part);
            }
            continue;
        }
        let wanted = glob::Pattern::new(text).map_err(|e| bad(e.to_string()))?;
        let mut next = Vec::new();
        for dir in found {
            let listed = match dir.as_os_str().is_empty() {
                true => std::fs::read_dir("."),
                false => std::fs::read_dir(&dir),
            };
            let entries = match listed {
                Ok(entries) => entries,
                // a path so far that is no directory, or none, matches nothing under it
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                    continue
                }
                // one that cannot be read is said, as the glob crate says it
                Err(e) => return Err(bad(format!("{}: {e}", dir.display()))),
            };
            let mut names = Vec::new();
            for e in entries {
                names.push(
                    e.map_err(|e| bad(format!("{}: {e}", dir.display())))?
                        .file_name(),
                );
            }
            names.sort();
            for n in names {
                if wanted.matches_with(&n.to_string_lossy(), options) {
                    next.push(dir.join(n));
                }
            }
        }
        found = next;
    }
    found.retain(|f| f.is_file());
    Ok(found)
}

/// Compression detected from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Detect gzip (`1f 8b`) or zstd magic bytes: a zstd frame (`28 b5 2f fd`) or a skippable
/// frame (`5? 2a 4d 18`, which `pzstd` and seekable zstd put first; the decoder skips it).
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18])
    {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The compression format of `head` when it is one danemine does not read (xz, bzip2, lz4,
/// lzip): read as text, it would only give lines of binary noise.
fn unsupported(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xfd, b'7', b'z', b'X']) {
        Some("xz")
    } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        Some("bzip2")
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some("lz4")
    } else if head.starts_with(b"LZIP") {
        Some("lzip")
    } else {
        None
    }
}

/// The error of an input in a format of [`unsupported`].
fn unsupported_error(format: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{format}-compressed: danemine reads plain text, gzip and zstd; decompress it first"
        ),
    )
}

/// The bytes an uncompressed file input will deliver (for a progress total); `None` for
/// standard input, compressed files and unreadable ones.
pub fn plain_size(spec: &InputSpec) -> Option<u64> {
    use std::io::Read as _;
    let path = spec.path.as_ref()?;
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut head = [0u8; 4];
    let n = f.read(&mut head).ok()?;
    (detect(&head[..n]) == Compression::None).then(|| len.saturating_sub(spec.start_offset))
}

/// How plain files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAccess {
    /// Workers read their pieces of each batch with `pread` into one reused buffer, and parse
    /// each piece while it is still in their core's cache. No page of the file is mapped.
    /// The default where a shrinking mapped file cannot be guarded (not Linux).
    Read,
    /// The file is memory-mapped and parsed in place, each piece's pages mapped in one call
    /// before it is parsed and the pages of processed batches dropped; a file that shrinks
    /// meanwhile is an error, not a SIGBUS ([`MapGuard`]). No copy: 10–13% less time than
    /// `Read` for `domains` (docs/scan-performance.md). The default on Linux. A file that
    /// cannot be mapped (some special files) is read instead.
    Map,
}

impl Default for FileAccess {
    fn default() -> FileAccess {
        match cfg!(target_os = "linux") {
            true => FileAccess::Map,
            false => FileAccess::Read,
        }
    }
}

/// An opened input: a plain file, a mapping of one, or a stream of decompressed bytes.
pub enum Opened {
    /// A plain file read with `pread` from `start` to `end` (its length when opened).
    File {
        file: File,
        start: u64,
        end: u64,
        mtime: Option<i64>,
    },
    /// A plain file memory-mapped from `start` (`FileAccess::Map`; no map when it is empty).
    Mapped {
        map: Option<Mapping>,
        start: usize,
        mtime: Option<i64>,
    },
    /// Standard input, a pipe or a compressed file, decompressed as it is read.
    Stream {
        reader: Box<dyn Read + Send>,
        compression: Compression,
        mtime: Option<i64>,
    },
}

fn mtime_of(f: &File) -> Option<i64> {
    let m = f.metadata().ok()?.modified().ok()?;
    let d = m.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// The gzip members of a stream one after another, as `gzip -d` reads them, where zero bytes
/// after a member (the padding of a tape or a block device) end the stream instead of being
/// read as a broken member header.
pub struct GzMembers<R: BufRead> {
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    /// Decode the members of `r`.
    pub fn new(r: R) -> GzMembers<R> {
        GzMembers {
            member: Some(flate2::bufread::GzDecoder::new(r)),
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // the member ended: another, the end, or padding to its end
            let Some(done) = self.member.take() else {
                return Ok(0);
            };
            let mut r = done.into_inner();
            if r.fill_buf()?.first() == Some(&0) {
                loop {
                    let b = r.fill_buf()?;
                    if b.is_empty() {
                        return Ok(0);
                    }
                    if b.iter().any(|&x| x != 0) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "data after the zero padding of a gzip stream",
                        ));
                    }
                    let k = b.len();
                    r.consume(k);
                }
            }
            if r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.member = Some(flate2::bufread::GzDecoder::new(r));
        }
    }
}

fn decoder(
    r: Box<dyn BufRead + Send>,
    c: Compression,
    name: &str,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(GzMembers::new(r)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| io::Error::new(e.kind(), format!("{name}: zstd: {e}")))?,
        ),
    })
}

/// Open an input; plain files as `access` says.
pub fn open(spec: &InputSpec, access: FileAccess) -> Result<Opened, IngestError> {
    let err = |source| IngestError::Open {
        path: spec.display.clone(),
        source,
    };
    match &spec.path {
        None => {
            let mut r: Box<dyn BufRead + Send> =
                Box::new(BufReader::with_capacity(1 << 20, io::stdin()));
            let head = r.fill_buf().map_err(err)?;
            if let Some(format) = unsupported(head) {
                return Err(err(unsupported_error(format)));
            }
            let c = detect(head);
            Ok(Opened::Stream {
                reader: decoder(r, c, "-").map_err(err)?,
                compression: c,
                mtime: None,
            })
        }
        Some(p) => {
            let mut f = File::open(p).map_err(err)?;
            let mut head = [0u8; 4];
            let mut n = 0;
            while n < 4 {
                match f.read(&mut head[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(err(e)),
                }
            }
            if let Some(format) = unsupported(&head[..n]) {
                return Err(err(unsupported_error(format)));
            }
            let c = detect(&head[..n]);
            let mtime = mtime_of(&f);
            if c == Compression::None && f.metadata().map(|m| m.is_file()).unwrap_or(false) {
                let len = f.metadata().map_err(err)?.len();
                if access == FileAccess::Read {
                    return Ok(Opened::File {
                        file: f,
                        start: spec.start_offset.min(len),
                        end: len,
                        mtime,
                    });
                }
                if len == 0 {
                    return Ok(Opened::Mapped {
                        map: None,
                        start: 0,
                        mtime,
                    });
                }
                // SAFETY: the mapping is read-only. A log file that shrinks while it is mapped
                // (truncated in place) raises SIGBUS on the pages gone: the mapping's guard
                // answers it with zero pages and keeps the place, where the scan stops.
                let Ok(map) = (unsafe { Mmap::map(&f) }) else {
                    // some special files (sysfs, procfs) cannot be mapped: read them
                    return Ok(Opened::File {
                        file: f,
                        start: spec.start_offset.min(len),
                        end: len,
                        mtime,
                    });
                };
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                let start = usize::try_from(spec.start_offset.min(len)).unwrap_or(0);
                return Ok(Opened::Mapped {
                    map: Some(Mapping::new(map, f)),
                    start,
                    mtime,
                });
            }
            // the bytes read to tell the compression go first: a named pipe (or a process
            // substitution's `/dev/fd/N`) cannot be opened again to read them once more
            let head = io::Cursor::new(head[..n].to_vec());
            let r: Box<dyn BufRead + Send> =
                Box::new(BufReader::with_capacity(1 << 20, head.chain(f)));
            Ok(Opened::Stream {
                reader: decoder(r, c, &spec.display).map_err(err)?,
                compression: c,
                mtime,
            })
        }
    }
}

enum BatchState {
    Reading,
    Failed(io::Error),
    Done,
}

/// Reads a stream in batches that end at a line boundary.
pub struct Batches {
    reader: Box<dyn Read + Send>,
    /// The unfinished line after the last newline of the batch before.
    carry: Vec<u8>,
    batch: usize,
    state: BatchState,
    /// Buffers given back by [`recycle`](Self::recycle), to be filled again.
    spare: Vec<Vec<u8>>,
}

impl Batches {
    /// Batches of about `batch` bytes.
    pub fn new(reader: Box<dyn Read + Send>, batch: usize) -> Batches {
        Batches {
            reader,
            carry: Vec::new(),
            batch: batch.max(4096),
            state: BatchState::Reading,
            spare: Vec::new(),
        }
    }

    /// Give a batch's buffer back once its lines are used: the next batch is read into it
    /// rather than into a fresh allocation that would be zero-filled first.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 2 {
            self.spare.push(buf);
        }
    }

    /// The next batch of whole lines (the last batch may lack a final newline), or `None` at
    /// the end. A read error (e.g. a truncated gzip) ends the stream: the bytes decoded before
    /// it come back first, then the error. A line longer than a batch is cut into pieces.
    pub fn next_batch(&mut self) -> Option<io::Result<Vec<u8>>> {
        loop {
            match std::mem::replace(&mut self.state, BatchState::Done) {
                BatchState::Done => return None,
                BatchState::Failed(e) => return Some(Err(e)),
                BatchState::Reading => self.state = BatchState::Reading,
            }
            let target = self.batch;
            // A recycled buffer keeps its length: its old bytes are overwritten before they
            // are used, and only growth is zero-filled (once per buffer, not once per read).
            let mut buf = self.spare.pop().unwrap_or_default();
            let mut filled = self.carry.len();
            if buf.len() < target.max(filled) {
                buf.resize(target.max(filled), 0);
            }
            buf[..filled].copy_from_slice(&self.carry);
            self.carry.clear();
            let mut ended = false;
            while filled < target {
                match self.reader.read(&mut buf[filled..target]) {
                    Ok(0) => {
                        ended = true;
                        self.state = BatchState::Done;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        ended = true;
                        self.state = BatchState::Failed(e);
                        break;
                    }
                }
            }
            buf.truncate(filled);
            if !ended {
                if let Some(i) = memchr::memrchr(b'\n', &buf) {
                    self.carry.extend_from_slice(&buf[i + 1..]);
                    buf.truncate(i + 1);
                }
            }
            if !buf.is_empty() {
                return Some(Ok(buf));
            }
            self.recycle(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Globs match names whatever bytes they hold (a name that is not UTF-8 by its lossy
    /// text), per component, sorted per directory; a name that is not UTF-8 given as an
    /// argument is a path; `**` still recurses; a glob that matches nothing is missing.
    #[test]
    fn globs_match_names_that_are_not_utf8() {
        use std::ffi::OsString;
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let d = tempfile::tempdir().unwrap();
        let odd = OsString::from_vec(b"mail\xfflog.1".to_vec());
        for (dir, names) in [
            ("a", vec![OsString::from("maillog"), odd.clone()]),
            ("b", vec![OsString::from("maillog.2")]),
        ] {
            std::fs::create_dir(d.path().join(dir)).unwrap();
            for n in names {
                std::fs::write(d.path().join(dir).join(n), "x\n").unwrap();
            }
        }
        std::fs::create_dir(d.path().join("a/sub.log")).unwrap();
        let root = d.path().to_str().unwrap();
        let names = |specs: Vec<InputSpec>| -> Vec<Vec<u8>> {
            let paths = specs.into_iter().filter_map(|s| s.path);
            let rel = paths.map(|p| {
                p.strip_prefix(d.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            });
            rel.collect()
        };
        // files only (not `a/sub.log`), in every directory the pattern names
        let mut got = names(expand(&[format!("{root}/*/*l*")]).unwrap());
        got.sort();
        assert_eq!(
            got,
            [
                b"a/maillog".to_vec(),
                b"a/mail\xfflog.1".to_vec(),
                b"b/maillog.2".to_vec()
            ]
        );
        let got = names(expand(&[format!("{root}/a/mail?log.1")]).unwrap());
        assert_eq!(got, [b"a/mail\xfflog.1".to_vec()]);
        let got = names(expand(&[format!("{root}/**/maillog*")]).unwrap());
        assert_eq!(got.len(), 2, "{got:?}");
        let mut arg = OsString::from(format!("{root}/a/"));
        arg.push(&odd);
        assert_eq!(
            names(expand(&[arg]).unwrap()),
            [b"a/mail\xfflog.1".to_vec()]
        );
        assert!(matches!(
            expand(&[format!("{root}/c/*")]),
            Err(IngestError::Missing { .. })
        ));
        assert!(matches!(
            expand(&[format!("{root}/a/[")]),
            Err(IngestError::Glob { .. })
        ));
        // a file where a directory should be matches nothing; a directory that cannot be read
        // (here a symbolic link to itself) is an error, as the glob crate made it
        assert!(matches!(
            expand(&[format!("{root}/a/maillog/*")]),
            Err(IngestError::Missing { .. })
        ));
        std::os::unix::fs::symlink(d.path().join("self"), d.path().join("self")).unwrap();
        let got = expand(&[format!("{root}/self/*")]);
        assert!(
            matches!(&got, Err(IngestError::Glob { message, .. }) if message.contains("self")),
            "{got:?}"
        );
    }

    /// A reader that gives its bytes in reads of the scripted sizes (as a pipe or a decoder
    /// does), then an error if one is scripted.
    struct Scripted {
        data: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        next: usize,
        fail: bool,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return match self.fail {
                    true => Err(io::Error::other("cut short")),
                    false => Ok(0),
                };
            }
            let size = self.sizes.get(self.next % self.sizes.len()).copied();
            self.next += 1;
            let n = size
                .unwrap_or(1)
                .clamp(1, buf.len())
                .min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    proptest! {
        /// Whatever the read sizes, and whether buffers come back or not, the batches give the
        /// stream's bytes in order, each but the last ending at a newline unless it is one
        /// piece of a line longer than a batch; an error comes after the bytes before it.
        #[test]
        fn batches_give_every_byte_once(
            lines in proptest::collection::vec((0usize..9000, any::<u8>()), 0..40),
            sizes in proptest::collection::vec(1usize..20000, 1..8),
            recycle in any::<bool>(),
            fail in any::<bool>(),
            last_newline in any::<bool>(),
        ) {
            let mut data = Vec::new();
            for (len, b) in &lines {
                data.extend(std::iter::repeat_n(b'a' + b % 26, *len));
                data.push(b'\n');
            }
            if !last_newline {
                data.pop();
            }
            let reader = Scripted { data: data.clone(), at: 0, sizes, next: 0, fail };
            let mut batches = Batches::new(Box::new(reader), 4096);
            let mut got = Vec::new();
            let mut error = false;
            while let Some(b) = batches.next_batch() {
                prop_assert!(!error, "nothing after the error");
                match b {
                    Ok(buf) => {
                        prop_assert!(!buf.is_empty() && buf.len() <= 4096);
                        let whole = buf.last() == Some(&b'\n');
                        let piece = !buf.contains(&b'\n') && buf.len() == 4096;
                        let rest = got.len() + buf.len() == data.len();
                        prop_assert!(whole || piece || rest, "batch ends inside a line");
                        got.extend_from_slice(&buf);
                        if recycle {
                            batches.recycle(buf);
                        }
                    }
                    Err(_) => error = true,
                }
            }
            prop_assert_eq!(error, fail);
            prop_assert_eq!(got, data);
        }
    }
}
