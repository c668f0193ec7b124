//! Atomic output files: temp file in the same directory, fsync, rename, directory fsync.
//!
//! A reader (or a crash at any point) sees either the complete old file or the complete new
//! one, never a torn one. With `keep_previous`, the old version is kept as `<name>.prev`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

fn sibling(path: &Path, suffix: &str) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
    })?;
    let mut n = name.to_os_string();
    n.push(suffix);
    Ok(path.with_file_name(n))
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)?.sync_all()
}

/// Write `bytes` to `path` atomically; optionally keep the replaced version as `<path>.prev`.
pub fn write_atomic(path: &Path, bytes: &[u8], keep_previous: bool) -> io::Result<()> {
    write_atomic_with(path, keep_previous, |w| w.write_all(bytes))
}

/// [`write_atomic`] for one of many files written into one directory: the file is complete
/// on disk before it takes its name, as there, but the directory is not synced; the caller
/// makes the new names durable with one [`fsync_dir`] after the last file (one open and one
/// sync of the directory, not one per file).
pub fn write_atomic_deferred(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_atomically(path, false, false, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by a closure writing into the temp file.
pub fn write_atomic_with<F>(path: &Path, keep_previous: bool, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    write_atomic_file(path, keep_previous, |w| fill(w))
}

/// [`write_atomic_with`] for a writer that needs the temp file's own type (one that must be
/// `Send`, as the Parquet writer's).
pub fn write_atomic_file<F>(path: &Path, keep_previous: bool, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
{
    replace_atomically(path, keep_previous, true, fill)
}

/// Fill a temp file beside `path`, sync it, optionally keep the old file as `<path>.prev`,
/// rename the temp file to `path` and, when `sync_dir`, sync the directory. On an error the
/// temp file is removed and `path` is as it was.
fn replace_atomically<F>(
    path: &Path,
    keep_previous: bool,
    sync_dir: bool,
    fill: F,
) -> io::Result<()>
where
    F: FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
{
    let dir = path.parent().unwrap_or(Path::new(""));
    let tmp = sibling(path, &format!(".tmp.{}", std::process::id()))?;
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        keep_mode_and_owner(path, &file)?;
        file.sync_all()?;
        drop(file);
        if keep_previous && path.exists() {
            // Link, never rename, the old file away: `path` must exist at every instant.
            let prev_tmp = sibling(path, &format!(".prev.tmp.{}", std::process::id()))?;
            let _ = fs::remove_file(&prev_tmp);
            fs::hard_link(path, &prev_tmp).or_else(|_| fs::copy(path, &prev_tmp).map(|_| ()))?;
            fs::rename(&prev_tmp, sibling(path, ".prev")?)?;
        }
        fs::rename(&tmp, path)?;
        match sync_dir {
            true => fsync_dir(dir),
            false => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Give the new version of `path` the mode and owner of the old one, if there is one: a file
/// that another program reads (an Exim list read by the Exim user, a Postfix table) must stay
/// readable to it. The owner is kept where this process may set it (as root), else left.
#[cfg(unix)]
fn keep_mode_and_owner(path: &Path, file: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(old) = fs::metadata(path) else {
        return Ok(());
    };
    let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
    file.set_permissions(old.permissions())
}

#[cfg(not(unix))]
fn keep_mode_and_owner(_: &Path, _: &fs::File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rewritten file keeps the old one's mode (and owner), whatever the umask.
    #[cfg(unix)]
    #[test]
    fn a_rewritten_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("exim_list");
        write_atomic(&p, b"one\n", false).unwrap();
        for mode in [0o644, 0o600, 0o640] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            write_atomic(&p, format!("{mode}\n").as_bytes(), true).unwrap();
            let got = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            assert_eq!(got, mode);
        }
    }

    #[test]
    fn replaces_and_keeps_previous() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("policy");
        write_atomic(&p, b"one\n", true).unwrap();
        assert!(!d.path().join("policy.prev").exists());
        write_atomic(&p, b"two\n", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two\n");
        assert_eq!(fs::read(d.path().join("policy.prev")).unwrap(), b"one\n");
        // no temp files left behind
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// Many files into one directory, synced once: each is whole under its name, the old
    /// content replaced, no temp file left; a file that cannot be made leaves nothing.
    #[test]
    fn deferred_writes_replace_whole_files() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..20 {
            write_atomic_deferred(&d.path().join(format!("r{i}.json.gz")), b"old").unwrap();
        }
        for i in 0..20 {
            write_atomic_deferred(&d.path().join(format!("r{i}.json.gz")), b"new").unwrap();
        }
        fsync_dir(d.path()).unwrap();
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(names.len(), 20, "{names:?}");
        assert!(names.iter().all(|p| fs::read(p).unwrap() == b"new"));
        let gone = d.path().join("no such dir").join("r.json.gz");
        assert!(write_atomic_deferred(&gone, b"x").is_err());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 20);
    }

    #[test]
    fn failed_fill_leaves_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        write_atomic(&p, b"old", false).unwrap();
        let e = write_atomic_with(&p, false, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(e.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
