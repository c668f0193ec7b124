//! A progress bar for long scans, drawn on standard error while a terminal watches; callers
//! start one only when stderr is a terminal, so cron mail never sees it.
//!
//! The scan adds the bytes of each finished batch to a shared counter
//! ([`crate::scan::ScanOptions::progress`]); a thread redraws the bar from it a few times a second.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Width of the bar itself, in characters.
const WIDTH: usize = 30;

fn size(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

/// One line of the bar: `label [#####.....]  42%  1.10 GB / 2.60 GB  540.0 MB/s`. Without a
/// known total (compressed input, stdin) the bar and percentage are left out.
pub fn render(label: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!("{}/s", size((done as f64 / secs) as u64))
    } else {
        "-".to_string()
    };
    match total.filter(|t| *t > 0) {
        Some(t) => {
            let f = (done as f64 / t as f64).clamp(0.0, 1.0);
            let full = (f * WIDTH as f64).round() as usize;
            format!(
                "{label} [{}{}] {:>3.0}%  {} / {}  {rate}",
                "#".repeat(full),
                ".".repeat(WIDTH - full),
                f * 100.0,
                size(done),
                size(t)
            )
        }
        None => format!("{label} {}  {rate}", size(done)),
    }
}

/// A bar being drawn; it is cleared from the terminal when dropped.
pub struct Bar {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// A bar for a scan of `inputs` with `opts`: the scan counts its bytes into the bar, whose
    /// total is known when every input is an uncompressed file.
    pub fn for_scan(
        label: &str,
        inputs: &[crate::ingest::InputSpec],
        opts: &mut crate::scan::ScanOptions,
    ) -> Bar {
        let counter = Arc::new(AtomicU64::new(0));
        opts.progress = Some(counter.clone());
        let total = inputs
            .iter()
            .map(crate::ingest::plain_size)
            .sum::<Option<u64>>();
        Bar::start(label, total, counter)
    }

    /// Draw `counter` (bytes done) against `total` on stderr until the bar is dropped.
    pub fn start(label: &str, total: Option<u64>, counter: Arc<AtomicU64>) -> Bar {
        let stop = Arc::new(AtomicBool::new(false));
        let label = label.to_string();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let line = render(&label, counter.load(Ordering::Relaxed), total, t0.elapsed());
                let mut e = std::io::stderr().lock();
                let _ = write!(e, "\r{line}\x1b[K");
                let _ = e.flush();
                drop(e);
                std::thread::park_timeout(Duration::from_millis(200));
            }
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        });
        Bar {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_lines() {
        let l = render(
            "scan",
            1_100_000_000,
            Some(2_200_000_000),
            Duration::from_secs(2),
        );
        assert_eq!(
            l,
            "scan [###############...............]  50%  1.10 GB / 2.20 GB  550.0 MB/s"
        );
        let l = render("scan", 5_000_000, None, Duration::from_secs(1));
        assert_eq!(l, "scan 5.0 MB  5.0 MB/s");
        // more than the total (a growing file) stays at a full bar
        assert!(render("x", 10, Some(5), Duration::ZERO).contains("100%"));
    }
}
