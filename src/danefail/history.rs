//! Where a danefail list comes from: a file, or a git repository at HEAD, at a date, or as the
//! union of every domain ever listed up to a date.
//!
//! The git history is read through the git CLI (`git log`, `git cat-file --batch`): it is on
//! every machine that holds a clone, needs no C library in the build (libgit2 would add a
//! vendored C build), and `cat-file --batch` reads all 511 versions of the real list in one
//! process in well under a second.

use super::list::{List, ListError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use thiserror::Error;

/// The main list's file name in the danefail repository.
pub const MAIN: &str = "dane_fail_list.dat";
/// The partial ("watch") list's file name.
pub const PARTIAL: &str = "partial_fail_list.dat";

/// Errors reading a danefail source.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path}: {message}")]
    Git { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    List(#[from] ListError),
    #[error("{0}: not a date (YYYY-MM-DD)")]
    BadDate(String),
    #[error("{path}: no commit touches {MAIN} on or before {date}")]
    NoCommit { path: String, date: String },
    #[error("{0}: https sources are not supported by this build; clone the list with git and pass the clone")]
    Url(String),
    #[error("{0}: a list file has no history: --ever and --as-of need a git clone of the list")]
    NoHistory(String),
    #[error("{path}:{line}: not UTF-8")]
    NotUtf8 { path: String, line: usize },
}

/// One commit that touched the list files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    /// Committer date in the committer's own zone (ISO 8601).
    pub date: String,
    pub subject: String,
}

impl Commit {
    /// The committer's local calendar date (`YYYY-MM-DD`).
    pub fn day(&self) -> &str {
        self.date.get(..10).unwrap_or(&self.date)
    }
}

fn git(repo: &Path, args: &[&str]) -> Result<String, SourceError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|source| SourceError::Io {
            path: repo.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg
            .lines()
            .next()
            .unwrap_or("git failed")
            .trim()
            .to_string();
        return Err(SourceError::Git {
            path: repo.display().to_string(),
            message: first,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Commits that touched the list files, oldest first.
pub fn commits(repo: &Path) -> Result<Vec<Commit>, SourceError> {
    let text = git(
        repo,
        &[
            "log",
            "--reverse",
            "--format=%H%x09%cI%x09%s",
            "--",
            MAIN,
            PARTIAL,
        ],
    )?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            Some(Commit {
                id: p.next()?.to_string(),
                date: p.next()?.to_string(),
                subject: p.next().unwrap_or("").to_string(),
            })
        })
        .collect())
}

/// Read many `commit:path` blobs with one `git cat-file --batch`; missing ones are `None`.
pub fn read_blobs(repo: &Path, specs: &[String]) -> Result<Vec<Option<String>>, SourceError> {
    let err = |source| SourceError::Io {
        path: repo.display().to_string(),
        source,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(err)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| err(std::io::Error::other("no stdin")))?;
    let requests: String = specs.iter().map(|s| format!("{s}\n")).collect();
    let writer = std::thread::spawn(move || {
        let r = stdin.write_all(requests.as_bytes());
        drop(stdin);
        r
    });
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| err(std::io::Error::other("no stdout")))?;
    let mut r = BufReader::new(stdout);
    let mut out = Vec::with_capacity(specs.len());
    for _ in specs {
        let mut header = String::new();
        if r.read_line(&mut header).map_err(err)? == 0 {
            break;
        }
        let h = header.trim_end();
        if h.ends_with(" missing") || h.ends_with(" ambiguous") {
            out.push(None);
            continue;
        }
        let size: usize = h
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| SourceError::Git {
                path: repo.display().to_string(),
                message: format!("unexpected cat-file header {h:?}"),
            })?;
        let mut buf = vec![0u8; size + 1];
        r.read_exact(&mut buf).map_err(err)?;
        buf.truncate(size);
        out.push(Some(String::from_utf8_lossy(&buf).into_owned()));
    }
    let _ = writer.join();
    let status = child.wait().map_err(err)?;
    if !status.success() || out.len() != specs.len() {
        let mut msg = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut msg);
        }
        return Err(SourceError::Git {
            path: repo.display().to_string(),
            message: msg
                .lines()
                .next()
                .unwrap_or("git cat-file failed")
                .to_string(),
        });
    }
    Ok(out)
}

/// One version of the list files at a commit.
#[derive(Debug, Clone)]
pub struct Version {
    pub commit: Commit,
    pub main: Option<String>,
    pub partial: Option<String>,
}

/// Every version of the list files, oldest first.
pub fn versions(repo: &Path) -> Result<Vec<Version>, SourceError> {
    let cs = commits(repo)?;
    let mut specs = Vec::with_capacity(cs.len() * 2);
    for c in &cs {
        specs.push(format!("{}:{MAIN}", c.id));
        specs.push(format!("{}:{PARTIAL}", c.id));
    }
    let blobs = read_blobs(repo, &specs)?;
    let mut it = blobs.into_iter();
    Ok(cs
        .into_iter()
        .map(|commit| Version {
            commit,
            main: it.next().flatten(),
            partial: it.next().flatten(),
        })
        .collect())
}

/// A danefail source as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A list file (`dane_fail_list.dat`); a `partial_fail_list.dat` beside it is read too.
    File(PathBuf),
    /// A git clone of a danefail-format list.
    Git(PathBuf),
    /// An https URL (not fetched by this build).
    Url(String),
}

impl Source {
    /// A path that is a directory is a git clone; `https://` is a URL; anything else a file.
    pub fn from_arg(s: &str) -> Source {
        if s.starts_with("https://") || s.starts_with("http://") {
            Source::Url(s.to_string())
        } else if Path::new(s).is_dir() {
            Source::Git(PathBuf::from(s))
        } else {
            Source::File(PathBuf::from(s))
        }
    }
}

/// What is read from a source for a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// Where it came from, for reports (`repo at 2018-10-02 (9b674e6)`, `every version up to …`).
    pub description: String,
    /// Distinct raw entry lines of the main list (untrimmed, as written).
    pub raw_lines: BTreeSet<String>,
    /// For a snapshot (a file, or one commit): the main list's entry lines as written,
    /// duplicates included — what `history.csv` counts (`entries`), 152 at 2018-12-10 where
    /// two lines are listed twice and `domains` holds 150. `None` for `--ever`: a union of
    /// versions has no line count, its raw figure is the distinct lines (`raw_lines`, 622 up to
    /// 2018-10-02).
    pub entry_lines: Option<usize>,
    /// Distinct normalised domains of the main list.
    pub domains: BTreeSet<String>,
    /// Distinct normalised domains of the partial list (reported apart).
    pub partial: BTreeSet<String>,
    /// For `--ever`: first commit date each main-list domain was seen.
    pub first_listed: BTreeMap<String, String>,
}

fn check_date(d: &str) -> Result<(), SourceError> {
    crate::timefmt::parse_user_time(d)
        .filter(|_| d.len() == 10)
        .map(|_| ())
        .ok_or_else(|| SourceError::BadDate(d.to_string()))
}

impl Listed {
    /// The raw entry-line figure shown beside the distinct domains: a snapshot's entry lines
    /// with duplicates ([`Listed::entry_lines`]), or for `--ever` the distinct raw lines.
    pub fn raw_line_count(&self) -> usize {
        self.entry_lines.unwrap_or(self.raw_lines.len())
    }
}

fn add_list(l: &mut Listed, list: &List) {
    for raw in list.raw_entries() {
        l.raw_lines.insert(raw.to_string());
    }
    for d in list.entries() {
        l.domains.insert(d.to_string());
    }
}

/// Read a source: a snapshot (HEAD, or the last commit on or before `as_of`), or with `ever`
/// the union of the main list over every commit on or before `as_of` (committer's local date).
pub fn load(src: &Source, as_of: Option<&str>, ever: bool) -> Result<Listed, SourceError> {
    if let Some(d) = as_of {
        check_date(d)?;
    }
    match src {
        Source::Url(u) => Err(SourceError::Url(u.clone())),
        Source::File(p) if ever || as_of.is_some() => {
            Err(SourceError::NoHistory(p.display().to_string()))
        }
        Source::File(p) => {
            let read = |p: &Path| {
                let bytes = std::fs::read(p).map_err(|source| SourceError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                String::from_utf8(bytes).map_err(|e| {
                    let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                    SourceError::NotUtf8 {
                        path: p.display().to_string(),
                        line: ok.iter().filter(|&&b| b == b'\n').count() + 1,
                    }
                })
            };
            let mut l = Listed {
                description: p.display().to_string(),
                ..Listed::default()
            };
            let main = List::parse(&read(p)?, &p.display().to_string())?;
            add_list(&mut l, &main);
            l.entry_lines = Some(main.entries().len());
            let partial = p.with_file_name(PARTIAL);
            if partial.is_file() && partial != *p {
                let pl = List::parse(&read(&partial)?, &partial.display().to_string())?;
                l.partial = pl.domains();
            }
            Ok(l)
        }
        Source::Git(repo) => from_versions(repo, &versions(repo)?, as_of, ever),
    }
}

/// [`load`] for a clone whose versions were read already (`versions(repo)`): a snapshot at the
/// last commit on or before `as_of` (HEAD without it), or with `ever` the union of the main
/// list over every such commit. `repo` names the clone in descriptions and errors.
pub fn from_versions(
    repo: &Path,
    all: &[Version],
    as_of: Option<&str>,
    ever: bool,
) -> Result<Listed, SourceError> {
    if let Some(d) = as_of {
        check_date(d)?;
    }
    let upto: Vec<&Version> = all
        .iter()
        .filter(|v| as_of.is_none_or(|d| v.commit.day() <= d))
        .collect();
    let Some(last) = upto.last() else {
        return Err(SourceError::NoCommit {
            path: repo.display().to_string(),
            date: as_of.unwrap_or("HEAD").to_string(),
        });
    };
    let name = |v: &Version, f: &str| {
        format!(
            "{}@{}:{f}",
            repo.display(),
            &v.commit.id[..v.commit.id.len().min(7)]
        )
    };
    let mut l = Listed::default();
    if ever {
        l.description = format!(
            "{}: every version of {MAIN} up to {} ({} commits)",
            repo.display(),
            as_of.unwrap_or("HEAD"),
            upto.len()
        );
        for v in &upto {
            if let Some(t) = &v.main {
                let list = List::parse(t, &name(v, MAIN))?;
                for d in list.entries() {
                    l.first_listed
                        .entry(d.to_string())
                        .or_insert_with(|| v.commit.date.clone());
                }
                add_list(&mut l, &list);
            }
            if let Some(t) = &v.partial {
                l.partial
                    .extend(List::parse(t, &name(v, PARTIAL))?.domains());
            }
        }
    } else {
        l.description = format!(
            "{}: {MAIN} at {} ({})",
            repo.display(),
            last.commit.date,
            &last.commit.id[..last.commit.id.len().min(7)]
        );
        let mut lines = 0;
        if let Some(t) = &last.main {
            let list = List::parse(t, &name(last, MAIN))?;
            lines = list.entries().len();
            add_list(&mut l, &list);
        }
        l.entry_lines = Some(lines);
        if let Some(t) = &last.partial {
            l.partial = List::parse(t, &name(last, PARTIAL))?.domains();
        }
    }
    Ok(l)
}
