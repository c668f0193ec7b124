//! Puts a file's page cache into a known layout for `scripts/bench-scan.sh`, and tells it.
//!
//! How fast `wc -l` reads a warm file depends on the size of the page-cache folios that hold
//! it, not only on the machine: a file written in small appends (a log, or the generator's
//! output) sits in 4 KiB pages, while a file read back from disk by sequential readahead sits
//! mostly in 2 MiB folios on kernels and file systems with large folios (ext4 since Linux 6.16),
//! and the kernel copies those about twice as fast.
//!
//! Usage: `cache-state FILE small|large|show`
//! - `small`: drops the file's cached pages and reads it back with readahead off, so that each
//!   page is a 4 KiB folio;
//! - `large`: drops them and reads it back sequentially, so that readahead may build large folios;
//! - `show` (also printed after the other two): how much of the file a memory map finds in
//!   2 MiB folios (`FilePmdMapped` of `/proc/self/smaps`), after touching every page.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;

const PMD: usize = 2 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(mode)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: cache-state FILE small|large|show");
        std::process::exit(2);
    };
    let mut file = File::open(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let advice = match mode.as_str() {
        "small" => Some(libc::POSIX_FADV_RANDOM),
        "large" => Some(libc::POSIX_FADV_SEQUENTIAL),
        "show" => None,
        _ => die("the layout is small, large or show"),
    };
    if let Some(advice) = advice {
        let fd = file.as_raw_fd();
        // SAFETY: plain system calls on an open descriptor.
        let dropped = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
        let advised = unsafe { libc::posix_fadvise(fd, 0, 0, advice) };
        if dropped != 0 || advised != 0 {
            die("posix_fadvise failed");
        }
        let mut buf = vec![0u8; 1 << 20];
        while file
            .read(&mut buf)
            .unwrap_or_else(|e| die(&format!("{path}: {e}")))
            > 0
        {}
    }
    let (pmd, len) = pmd_mapped(&file);
    println!(
        "page cache of {path}: {:.0} of {:.0} MB in 2 MB folios",
        pmd as f64 / 1e6,
        len as f64 / 1e6
    );
}

/// Bytes of the file that a 2 MiB-aligned read-only map of it finds in 2 MiB folios, and its length.
fn pmd_mapped(file: &File) -> (usize, usize) {
    let len = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    if len == 0 {
        return (0, 0);
    }
    // SAFETY: an anonymous reservation PMD bytes larger than the file, then the file mapped
    // over its first 2 MiB-aligned address; only read while the file stays open.
    unsafe {
        let reserve = libc::mmap(
            std::ptr::null_mut(),
            len + PMD,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if reserve == libc::MAP_FAILED {
            die("mmap failed");
        }
        let aligned = (reserve as usize).next_multiple_of(PMD) as *mut libc::c_void;
        let map = libc::mmap(
            aligned,
            len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_FIXED,
            file.as_raw_fd(),
            0,
        );
        if map == libc::MAP_FAILED {
            die("mmap of the file failed");
        }
        let bytes = std::slice::from_raw_parts(map as *const u8, len);
        let mut sum = 0u8;
        for page in bytes.chunks(4096) {
            sum = sum.wrapping_add(std::ptr::read_volatile(&page[0]));
        }
        std::hint::black_box(sum);
        let start = format!("{:x}-", map as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let pmd = smaps
            .split_once(&start)
            .and_then(|(_, rest)| rest.lines().find(|l| l.starts_with("FilePmdMapped:")))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024);
        (pmd, len)
    }
}

fn die(message: &str) -> ! {
    eprintln!("cache-state: {message}");
    std::process::exit(2);
}
