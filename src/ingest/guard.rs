//! Mapped files that shrink while they are read.
//!
//! Reading a page of a mapped file beyond the file's end raises SIGBUS, which kills the
//! process: a log truncated in place (logrotate's `copytruncate`) during a nightly scan would
//! take the whole run down. While a [`MapGuard`] watches a mapping, a SIGBUS on one of its
//! addresses is answered by mapping zero pages over the rest of it, so the read goes on, and
//! the place is kept: the scan stops there and reports that the file shrank, as the `pread`
//! path does.
//!
//! A SIGBUS anywhere else goes to the handler that was there before (the Rust runtime's, or
//! the default, which ends the process).

use memmap2::Mmap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many mappings can be watched at once (one per input being read; inputs are read one
/// after the other).
const SLOTS: usize = 8;

/// One watched mapping.
struct Slot {
    /// The slot is taken.
    busy: AtomicBool,
    /// Odd while `start` and `end` change: the handler reads them only between two equal
    /// even values, so it never sees one mapping's start with another's end.
    generation: AtomicUsize,
    /// The watched address range (`start` 0 while nothing is watched).
    start: AtomicUsize,
    end: AtomicUsize,
    /// The lowest address that faulted, `usize::MAX` if none did.
    faulted: AtomicUsize,
}

static SLOT: [Slot; SLOTS] = [const {
    Slot {
        busy: AtomicBool::new(false),
        generation: AtomicUsize::new(0),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        faulted: AtomicUsize::new(usize::MAX),
    }
}; SLOTS];
/// The size of a memory page.
pub fn page_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        // SAFETY: `sysconf` with a valid name has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(page)
            .ok()
            .filter(|&p| p > 0)
            .unwrap_or(4096)
    })
}
static INSTALLED: std::sync::OnceLock<Option<Previous>> = std::sync::OnceLock::new();

/// The SIGBUS action before ours.
struct Previous(libc::sigaction);

// SAFETY: a `sigaction` is plain data (a handler address, flags and a signal mask).
unsafe impl Sync for Previous {}
// SAFETY: as for `Sync`.
unsafe impl Send for Previous {}

/// A watched mapping (see the module's text); it stops watching when dropped, so it must be
/// dropped before the map is.
pub struct MapGuard {
    slot: usize,
    start: usize,
}

impl MapGuard {
    /// Watch `map`. `None` when the handler cannot be installed or too many maps are watched:
    /// a file that shrinks then ends the process, as it would without a guard.
    pub fn watch(map: &Mmap) -> Option<MapGuard> {
        if map.is_empty() || INSTALLED.get_or_init(install).is_none() {
            return None;
        }
        let start = map.as_ptr() as usize;
        let slot = (0..SLOTS).find(|&i| {
            SLOT[i]
                .busy
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        let s = &SLOT[slot];
        s.generation.fetch_add(1, Ordering::AcqRel);
        s.faulted.store(usize::MAX, Ordering::Release);
        s.end.store(start + map.len(), Ordering::Release);
        s.start.store(start, Ordering::Release);
        s.generation.fetch_add(1, Ordering::AcqRel);
        Some(MapGuard { slot, start })
    }

    /// The offset in the map of the first page read after the file shrank, if one was.
    pub fn shrunk_at(&self) -> Option<usize> {
        let at = SLOT[self.slot].faulted.load(Ordering::Acquire);
        at.checked_sub(self.start).filter(|_| at != usize::MAX)
    }
}

impl Drop for MapGuard {
    fn drop(&mut self) {
        let s = &SLOT[self.slot];
        s.generation.fetch_add(1, Ordering::AcqRel);
        s.start.store(0, Ordering::Release);
        s.generation.fetch_add(1, Ordering::AcqRel);
        s.busy.store(false, Ordering::Release);
    }
}

/// Install the handler, keeping the action it replaces.
fn install() -> Option<Previous> {
    // known before the handler can run (it only reads it then)
    let _ = page_size();
    // SAFETY: `sigaction` is called with valid arguments; the handler only does what is
    // allowed in a signal handler (atomics, `mmap`, `sigaction`).
    unsafe {
        let mut ours: libc::sigaction = std::mem::zeroed();
        ours.sa_sigaction = on_sigbus as *const () as usize;
        ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut ours.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(libc::SIGBUS, &ours, &mut old) == 0).then_some(Previous(old))
    }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    let page = page_size();
    // only a fault the kernel raised (not a SIGBUS sent by a process: `si_code` <= 0)
    for s in SLOT.iter().filter(|_| code > 0) {
        let before = s.generation.load(Ordering::Acquire);
        let start = s.start.load(Ordering::Acquire);
        let end = s.end.load(Ordering::Acquire);
        if before % 2 == 1 || s.generation.load(Ordering::Acquire) != before {
            continue;
        }
        if start == 0 || addr < start || addr >= end {
            continue;
        }
        let from = addr & !(page - 1);
        // the place first: a thread that reads the zero pages without a fault of its own
        // must find it
        s.faulted.fetch_min(from, Ordering::AcqRel);
        // SAFETY: `from..end` lies in a mapping that a live guard watches (its map is
        // dropped only after the guard): zero pages replace the file's pages that are gone.
        let p = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            return;
        }
    }
    // not a watched map: the handler before ours decides
    if let Some(Some(Previous(old))) = INSTALLED.get() {
        let h = old.sa_sigaction;
        if old.sa_flags & libc::SA_SIGINFO != 0 && h != libc::SIG_DFL && h != libc::SIG_IGN {
            // SAFETY: an `SA_SIGINFO` handler has this signature; it was installed for SIGBUS.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(h) };
            f(sig, info, ctx);
            return;
        }
        // SAFETY: restoring the earlier action; the faulting access runs again and gets it.
        unsafe { libc::sigaction(libc::SIGBUS, old, std::ptr::null_mut()) };
        return;
    }
    // SAFETY: no earlier action known: the default one, which ends the process.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Set for the child process of the test below: a directory to work in.
    const CHILD: &str = "DANEMINE_GUARD_CHILD";

    /// A file of `pages` pages of `x`, mapped, and the file opened for writing.
    fn mapped_file(path: &std::path::Path, pages: usize) -> (std::fs::File, Mmap) {
        let page = page_size();
        let mut f = std::fs::File::create(path).expect("create");
        f.write_all(&vec![b'x'; pages * page]).expect("write");
        f.sync_all().expect("sync");
        let file = std::fs::File::open(path).expect("open");
        // SAFETY: the test's own file, truncated on purpose
        let map = unsafe { Mmap::map(&file) }.expect("map");
        (f, map)
    }

    #[test]
    #[ignore = "the child of a_sigbus_outside_watched_maps_still_ends_the_process"]
    fn child_reads_past_the_end_of_an_unwatched_map() {
        let Some(dir) = std::env::var_os(CHILD) else {
            return;
        };
        let dir = std::path::Path::new(&dir);
        let (_, watched) = mapped_file(&dir.join("watched"), 2);
        let _guard = MapGuard::watch(&watched).expect("guard");
        let (f, map) = mapped_file(&dir.join("other"), 4);
        f.set_len(10).expect("truncate");
        // SAFETY: inside the map; the page is gone, so this raises SIGBUS
        let b = unsafe { std::ptr::read_volatile(map.as_ptr().add(3 * 4096)) };
        println!("survived, read {b}");
    }

    /// The guard answers only for the maps it watches: a SIGBUS anywhere else goes to the
    /// handler before it, and ends the process as it would have.
    #[test]
    fn a_sigbus_outside_watched_maps_still_ends_the_process() {
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--ignored",
                "--exact",
                "ingest::guard::tests::child_reads_past_the_end_of_an_unwatched_map",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run the child");
        // a handler that swallowed the fault would have the child fault forever: a failure
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait for the child") {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the child neither died of SIGBUS nor ended within 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut o, &mut stdout);
        }
        assert_eq!(status.signal(), Some(libc::SIGBUS), "{stdout}");
        assert!(!stdout.contains("survived"), "{stdout}");
    }

    #[test]
    fn a_read_past_the_end_of_a_truncated_map_gives_zeros_and_the_place() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let page = page_size();
        let (f, map) = mapped_file(&dir.path().join("maillog"), 4);
        let guard = MapGuard::watch(&map).expect("guard");
        assert_eq!(map[page], b'x');
        assert_eq!(guard.shrunk_at(), None);
        f.set_len((page + 10) as u64).expect("truncate");
        let read = |i: usize| {
            // SAFETY: inside the map; volatile so that the read is done here
            unsafe { std::ptr::read_volatile(map.as_ptr().add(i)) }
        };
        // the page that still holds the file's end reads as before
        assert_eq!(read(page + 5), b'x');
        assert_eq!(read(3 * page + 7), 0);
        assert_eq!(guard.shrunk_at(), Some(3 * page));
        // an earlier page gone too: the place moves back to it
        assert_eq!(read(2 * page), 0);
        assert_eq!(guard.shrunk_at(), Some(2 * page));
        assert_eq!(read(page), b'x');
        drop(guard);
        drop(map);
    }
}
