//! Pull requests to a danefail-format list: a branch and commits in a local clone, in the
//! list's own style, plus a Markdown body with the evidence. Git runs through its CLI; nothing
//! is pushed unless asked.

use super::store::{clean_text, Entry};
use crate::domain;
use crate::model::FailureClass;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Errors while preparing a pull request.
#[derive(Debug, Error)]
pub enum PrError {
    #[error("{repo}: git {args}: {message}")]
    Git {
        repo: String,
        args: String,
        message: String,
    },
    #[error("{repo}: the work tree has uncommitted changes; commit or stash them first")]
    Dirty { repo: String },
    #[error("{repo}: another danemine is preparing a pull request in this clone")]
    Busy { repo: String },
    #[error("{path}: {message}")]
    List { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The two sections of a danefail-format list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListSection {
    /// TLSA lookup failures, bogus answers, broken denial of existence.
    Dns,
    /// TLSA records that match no certificate, no or broken STARTTLS.
    Starttls,
}

/// The section a failure class belongs in.
pub fn section_of(c: FailureClass) -> ListSection {
    match c {
        FailureClass::Dnssec | FailureClass::TlsaUnusable => ListSection::Dns,
        _ => ListSection::Starttls,
    }
}

/// What the commit subject says about a class, in the list's words.
pub fn class_words(c: FailureClass) -> &'static str {
    match c {
        FailureClass::CertMismatch => "stale TLSA",
        FailureClass::TlsaUnusable => "bad TLSA",
        FailureClass::Dnssec => "TLSA lookup failure",
        FailureClass::NoStarttls => "no STARTTLS",
        FailureClass::TlsFailure => "broken STARTTLS",
        FailureClass::Other => "DANE failure",
    }
}

/// Host names as the list's subjects write them: `mx1.example.net` and `mx2.example.net`
/// become `mx[12].example.net`; unrelated names are joined with `, `.
pub fn compress_hosts(hosts: &[String]) -> String {
    if hosts.len() < 2 {
        return hosts.first().cloned().unwrap_or_default();
    }
    let first = hosts[0].as_bytes();
    let same_shape = hosts.iter().all(|h| h.len() == first.len());
    if same_shape {
        let diff: Vec<usize> = (0..first.len())
            .filter(|&i| hosts.iter().any(|h| h.as_bytes()[i] != first[i]))
            .collect();
        if diff.len() == 1 {
            let i = diff[0];
            let mut chars: Vec<u8> = hosts.iter().map(|h| h.as_bytes()[i]).collect();
            chars.sort_unstable();
            chars.dedup();
            if chars.iter().all(|c| c.is_ascii_alphanumeric()) {
                return format!(
                    "{}[{}]{}",
                    &hosts[0][..i],
                    String::from_utf8_lossy(&chars),
                    &hosts[0][i + 1..]
                );
            }
        }
    }
    hosts.join(", ")
}

/// A block to add: confirmed domains that fail the same way at the same MX hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    pub section: ListSection,
    pub class: FailureClass,
    /// Failing MX hosts (the block's `## host` lines); the domain itself when none is known.
    pub hosts: Vec<String>,
    /// `YYYY-MM-DD` of the confirmation.
    pub date: String,
    pub evidence: Vec<String>,
    pub domains: Vec<String>,
    /// Of `domains`, those on the partial list (`partial_fail_list.dat` beside the list file):
    /// the commit that adds the block takes them off the partial list (see [`prepare`]).
    pub from_partial: Vec<String>,
    /// Latest confirmation (Unix seconds).
    pub confirmed_at: i64,
}

impl Addition {
    /// The commit subject: `mx.example.net stale TLSA`.
    pub fn subject(&self) -> String {
        format!(
            "{} {}",
            compress_hosts(&self.hosts),
            class_words(self.class)
        )
    }
}

/// Group confirmed exclusion entries into blocks (one per failing MX host set and class).
/// Names are validated again; entries with none left are dropped.
pub fn group_additions(entries: &[&Entry]) -> Vec<Addition> {
    let mut groups: BTreeMap<(ListSection, FailureClass, Vec<String>), Addition> = BTreeMap::new();
    for e in entries {
        let Ok(d) = domain::normalize_owned(&e.domain) else {
            continue;
        };
        let mut hosts: Vec<String> = e
            .mx_hosts
            .iter()
            .filter_map(|h| domain::normalize_owned(h).ok())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if hosts.is_empty() {
            hosts.push(d.clone());
        }
        let section = section_of(e.class);
        let a = groups
            .entry((section, e.class, hosts.clone()))
            .or_insert_with(|| Addition {
                section,
                class: e.class,
                hosts,
                date: super::writers::date(e.confirmed_at),
                evidence: Vec::new(),
                domains: Vec::new(),
                from_partial: Vec::new(),
                confirmed_at: e.confirmed_at,
            });
        a.domains.push(d);
        if e.confirmed_at > a.confirmed_at {
            a.confirmed_at = e.confirmed_at;
            a.date = super::writers::date(e.confirmed_at);
        }
        for l in &e.evidence {
            let l = clean_text(l);
            if !l.is_empty() && !a.evidence.contains(&l) && a.evidence.len() < 24 {
                a.evidence.push(l);
            }
        }
    }
    let mut v: Vec<Addition> = groups.into_values().collect();
    for a in &mut v {
        a.domains.sort();
        a.domains.dedup();
    }
    v
}

/// A removal: listed domains of one block that verify again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The block's MX hosts (from its `## host` lines).
    pub hosts: Vec<String>,
    pub domains: Vec<String>,
    /// Whether the whole block goes.
    pub whole_block: bool,
    /// Live verdict words per domain (`dane-ok`, `not-dane`).
    pub verdicts: BTreeMap<String, String>,
    /// The block is on the partial list (`partial_fail_list.dat`), not the list file.
    pub partial: bool,
}

impl Removal {
    /// The commit subject: `mx.example.net resolved`, or the domains when part of a block stays.
    pub fn subject(&self) -> String {
        if self.whole_block && !self.hosts.is_empty() {
            format!("{} resolved", compress_hosts(&self.hosts))
        } else if self.domains.len() <= 3 {
            format!("{} resolved", self.domains.join(", "))
        } else {
            format!(
                "{} and {} more resolved",
                self.domains[..2].join(", "),
                self.domains.len() - 2
            )
        }
    }
}

/// The git command line on one repository.
#[derive(Debug, Clone)]
pub struct Git {
    pub repo: PathBuf,
}

impl Git {
    /// Run git with `args`; its standard output on success.
    pub fn run(&self, args: &[&str]) -> Result<String, PrError> {
        let mut c = Command::new("git");
        c.arg("-C").arg(&self.repo).args(args);
        // commits need an identity; use danemine's when the clone has none configured
        if !self.has_identity() {
            c.env("GIT_AUTHOR_NAME", "danemine")
                .env("GIT_AUTHOR_EMAIL", "danemine@localhost")
                .env("GIT_COMMITTER_NAME", "danemine")
                .env("GIT_COMMITTER_EMAIL", "danemine@localhost");
        }
        let o = c.output().map_err(|e| PrError::Git {
            repo: self.repo.display().to_string(),
            args: args.join(" "),
            message: e.to_string(),
        })?;
        if !o.status.success() {
            return Err(PrError::Git {
                repo: self.repo.display().to_string(),
                args: args.join(" "),
                message: String::from_utf8_lossy(&o.stderr).trim().replace('\n', " "),
            });
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn has_identity(&self) -> bool {
        Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["config", "user.email"])
            .output()
            .map(|o| o.status.success() && !o.stdout.is_empty())
            .unwrap_or(false)
            || std::env::var_os("GIT_AUTHOR_EMAIL").is_some()
    }

    /// Hold the clone's preparer lock (`.git/danemine-pr.lock`, an advisory lock released when
    /// the returned file is dropped); `Busy` when another process holds it.
    pub fn lock(&self) -> Result<std::fs::File, PrError> {
        let git_dir = self.run(&["rev-parse", "--absolute-git-dir"])?;
        let p = Path::new(git_dir.trim()).join("danemine-pr.lock");
        let io = |source| PrError::Io {
            path: p.display().to_string(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io)?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => Err(PrError::Busy {
                repo: self.repo.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Fail unless the work tree is clean.
    pub fn ensure_clean(&self) -> Result<(), PrError> {
        if self.run(&["status", "--porcelain"])?.trim().is_empty() {
            Ok(())
        } else {
            Err(PrError::Dirty {
                repo: self.repo.display().to_string(),
            })
        }
    }

    /// What to check out to come back here: the current branch, or the commit when HEAD is
    /// detached (checking out `HEAD` later would stay wherever HEAD is then).
    pub fn current_branch(&self) -> Result<String, PrError> {
        let name = self
            .run(&["rev-parse", "--abbrev-ref", "HEAD"])?
            .trim()
            .to_string();
        if name != "HEAD" {
            return Ok(name);
        }
        Ok(self.run(&["rev-parse", "HEAD"])?.trim().to_string())
    }

    /// Whether a local branch exists.
    pub fn branch_exists(&self, name: &str) -> bool {
        self.run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{name}"),
        ])
        .is_ok()
    }
}

/// The PR body in Markdown.
pub fn render_body(
    branch: &str,
    additions: &[Addition],
    removals: &[Removal],
    verify_hint: &str,
) -> String {
    let mut s = String::new();
    let mut title: Vec<String> = additions.iter().map(Addition::subject).collect();
    title.extend(removals.iter().map(Removal::subject));
    let _ = writeln!(s, "# {}\n", title.join("; "));
    let _ = writeln!(
        s,
        "Prepared by danemine on branch `{branch}` from live re-verification (DNSSEC, STARTTLS and TLSA matching) of domains with DANE failures in our delivery logs.\n"
    );
    if !additions.is_empty() {
        let _ = writeln!(s, "## Additions\n");
        for a in additions {
            let _ = writeln!(
                s,
                "### {} ({}, confirmed {})\n",
                a.subject(),
                a.class,
                a.date
            );
            let _ = writeln!(
                s,
                "MX hosts: {}\n",
                a.hosts
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                s,
                "Domains: {}\n",
                a.domains
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !a.from_partial.is_empty() {
                let _ = writeln!(
                    s,
                    "Moved from `{}` (some MX hosts failing): every MX host fails now: {}\n",
                    crate::danefail::history::PARTIAL,
                    a.from_partial
                        .iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !a.evidence.is_empty() {
                s.push_str("```\n");
                for l in &a.evidence {
                    let _ = writeln!(s, "{l}");
                }
                s.push_str("```\n\n");
            }
        }
    }
    if !removals.is_empty() {
        let _ = writeln!(s, "## Removals\n");
        for r in removals {
            let _ = writeln!(s, "### {}\n", r.subject());
            if r.partial {
                let _ = writeln!(s, "From `{}`.\n", crate::danefail::history::PARTIAL);
            }
            for d in &r.domains {
                let v = r.verdicts.get(d).map(String::as_str).unwrap_or("dane-ok");
                let _ = writeln!(s, "- `{d}`: {v}");
            }
            s.push('\n');
        }
    }
    let mut all: Vec<&str> = additions
        .iter()
        .flat_map(|a| a.domains.iter().map(String::as_str))
        .chain(
            removals
                .iter()
                .flat_map(|r| r.domains.iter().map(String::as_str)),
        )
        .collect();
    all.sort_unstable();
    all.dedup();
    let _ = writeln!(s, "## Reproduce\n");
    let _ = writeln!(
        s,
        "```\ndanemine verify {}{}\n```",
        verify_hint,
        all.join(" ")
    );
    s
}

/// What `pr` needs of a danefail-format list (implemented by `danemine::danefail::list::List`).
pub trait ListEdit: Sized {
    /// Parse the list file.
    fn parse_list(text: &str) -> Result<Self, String>;
    /// Every listed domain with its section (when known) and its block's MX hosts.
    fn listed(&self) -> Vec<(Option<ListSection>, Vec<String>, String)>;
    /// Add a block: `## host` lines, a `# YYYY-MM-DD` line, `#` evidence lines, the domains.
    fn add_block(
        &mut self,
        section: ListSection,
        hosts: &[String],
        date: &str,
        evidence: &[String],
        domains: &[String],
    );
    /// Remove these domains (and blocks left without domains).
    fn remove_domains(&mut self, domains: &BTreeSet<String>);
    /// The file's text.
    fn render_list(&self) -> String;
}

/// How to prepare the pull request.
#[derive(Debug, Clone)]
pub struct PrOptions {
    /// The list file inside the repository.
    pub file: String,
    /// Branch name (default `danemine/<date>`, with `-2`, `-3`... when it exists).
    pub branch: Option<String>,
    /// `YYYY-MM-DD` for the new blocks' date lines.
    pub date: String,
    /// Push the branch to this remote.
    pub push: Option<String>,
    /// Options for the reproducing `danemine verify` command (e.g. `--format json `).
    pub verify_hint: String,
}

/// What `prepare` did.
#[derive(Debug, Clone, Default)]
pub struct PrOutcome {
    /// The branch created (`None` when there was nothing to propose).
    pub branch: Option<String>,
    /// (commit id, subject), oldest first.
    pub commits: Vec<(String, String)>,
    pub additions: Vec<Addition>,
    pub removals: Vec<Removal>,
    /// Confirmed domains that are on the list already.
    pub already_listed: Vec<String>,
    /// The Markdown body (empty when nothing was proposed).
    pub body: String,
    pub pushed: bool,
}

/// A list file of the repository being edited: where it is, its path for git, its content.
struct ListFile<L> {
    path: PathBuf,
    rel: String,
    list: L,
}

/// Read and parse `rel` in `repo`.
fn read_list<L: ListEdit>(repo: &Path, rel: &str) -> Result<ListFile<L>, PrError> {
    let path = repo.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|source| PrError::Io {
        path: display(&path),
        source,
    })?;
    let list = L::parse_list(&text).map_err(|message| PrError::List {
        path: display(&path),
        message,
    })?;
    Ok(ListFile {
        path,
        rel: rel.to_string(),
        list,
    })
}

/// The partial list beside the list file `file` (`partial_fail_list.dat` in the same
/// directory), when the repository has one and it is not `file` itself.
fn partial_beside<L: ListEdit>(repo: &Path, file: &str) -> Result<Option<ListFile<L>>, PrError> {
    let Some(rel) = Path::new(file)
        .with_file_name(crate::danefail::history::PARTIAL)
        .to_str()
        .map(str::to_string)
    else {
        return Ok(None);
    };
    if rel == file || !repo.join(&rel).is_file() {
        return Ok(None);
    }
    read_list(repo, &rel).map(Some)
}

/// Prepare a branch with one commit per added block and per removal on the clone at `repo`,
/// and the PR body. `confirmed` are exclusion entries with a live confirmation; `recovered`
/// maps domains that verify again to their live verdict word. The clone is left on the branch
/// it was on; the work tree must be clean.
///
/// A confirmed domain already on the list is not proposed again (it is named in
/// `already_listed`). One on the partial list beside it (`partial_fail_list.dat`, the watch
/// list of domains where only some MX hosts fail) is *moved*: a confirmed entry failed live at
/// every MX host (a live or log verdict `partial` never reaches the exclusion store), so it is
/// no longer a partial failure; the commit that adds its block to the list removes it from the
/// partial list (with its block when no other domain is left there), as the list's maintainers
/// did (`mx2.veelenturf.email bad TLSA`, 2019-05-30), and the PR body says so. Leaving it on
/// the partial list would list it twice; not proposing it would leave a fully failing domain
/// only on a list that is not meant for DANE bypass.
pub fn prepare<L: ListEdit>(
    repo: &Path,
    opts: &PrOptions,
    confirmed: &[&Entry],
    recovered: &BTreeMap<String, String>,
) -> Result<PrOutcome, PrError> {
    let git = Git {
        repo: repo.to_path_buf(),
    };
    // one preparer at a time per clone (`danemine pr` beside a nightly run): each checks out
    // its own branch
    let _lock = git.lock()?;
    git.ensure_clean()?;
    let mut main = read_list::<L>(repo, &opts.file)?;
    let mut partial = partial_beside::<L>(repo, &opts.file)?;
    let listed = main.list.listed();
    let listed_names: BTreeSet<&str> = listed.iter().map(|(_, _, d)| d.as_str()).collect();
    let partial_names: BTreeSet<String> = partial
        .as_ref()
        .map(|p| p.list.listed().into_iter().map(|(_, _, d)| d).collect())
        .unwrap_or_default();
    let mut out = PrOutcome::default();
    let fresh: Vec<&Entry> = confirmed
        .iter()
        .copied()
        .filter(|e| {
            let on = listed_names.contains(e.domain.as_str());
            if on {
                out.already_listed.push(e.domain.clone());
            }
            !on
        })
        .collect();
    out.additions = group_additions(&fresh);
    for a in &mut out.additions {
        a.from_partial = a
            .domains
            .iter()
            .filter(|d| partial_names.contains(*d))
            .cloned()
            .collect();
    }
    // removals, per block, from the list and from the partial list beside it (a domain that
    // verifies again at every MX host has no failing host left either)
    let partial_listed = partial
        .as_ref()
        .map(|p| p.list.listed())
        .unwrap_or_default();
    // (on the partial list, the block's hosts) → (its domains, those that verify again)
    type Block = (bool, Vec<String>);
    let mut blocks: BTreeMap<Block, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let sources = [(false, &listed), (true, &partial_listed)];
    for (on_partial, list) in sources {
        for (_, hosts, d) in list {
            let b = blocks.entry((on_partial, hosts.clone())).or_default();
            b.0.push(d.clone());
            if recovered.contains_key(d) {
                b.1.push(d.clone());
            }
        }
    }
    for ((on_partial, hosts), (all, gone)) in blocks {
        if gone.is_empty() {
            continue;
        }
        let mut domains: Vec<String> = gone
            .iter()
            .filter_map(|d| domain::normalize_owned(d).ok())
            .collect();
        domains.sort();
        domains.dedup();
        if domains.is_empty() {
            continue;
        }
        out.removals.push(Removal {
            whole_block: domains.len() == all.len(),
            verdicts: domains
                .iter()
                .filter_map(|d| recovered.get(d).map(|v| (d.clone(), clean_text(v))))
                .collect(),
            // the list's `## host` lines are its own text: one line of printable ASCII each
            // before they name a commit or the pull request
            hosts: hosts.iter().map(|h| clean_text(h)).collect(),
            domains,
            partial: on_partial,
        });
    }
    if out.additions.is_empty() && out.removals.is_empty() {
        return Ok(out);
    }
    let base = opts
        .branch
        .clone()
        .unwrap_or_else(|| format!("danemine/{}", opts.date));
    let mut branch = base.clone();
    let mut n = 2;
    while git.branch_exists(&branch) {
        branch = format!("{base}-{n}");
        n += 1;
    }
    let original = git.current_branch()?;
    git.run(&["checkout", "-q", "-b", &branch, "--"])?;
    let result = commit_changes(&git, &mut main, partial.as_mut(), &mut out);
    if result.is_err() {
        // a commit that failed (a hook, a full disk) leaves its changes: the tree was clean
        // before, so they are all ours to drop, with the branch, and the clone stays usable
        let _ = git.run(&["reset", "-q", "--hard", "HEAD"]);
    }
    // back to where the clone was, whatever happened
    let back = git.run(&["checkout", "-q", &original, "--"]);
    if result.is_err() && back.is_ok() {
        let _ = git.run(&["branch", "-q", "-D", &branch]);
    }
    result?;
    back?;
    out.body = render_body(&branch, &out.additions, &out.removals, &opts.verify_hint);
    if let Some(remote) = &opts.push {
        git.run(&[
            "push",
            "-q",
            "--",
            remote,
            &format!("refs/heads/{branch}:refs/heads/{branch}"),
        ])?;
        out.pushed = true;
    }
    out.branch = Some(branch);
    Ok(out)
}

fn commit_changes<L: ListEdit>(
    git: &Git,
    main: &mut ListFile<L>,
    mut partial: Option<&mut ListFile<L>>,
    out: &mut PrOutcome,
) -> Result<(), PrError> {
    let removals = out.removals.clone();
    let additions = out.additions.clone();
    let write = |f: &ListFile<L>| -> Result<(), PrError> {
        crate::fsutil::write_atomic(&f.path, f.list.render_list().as_bytes(), false).map_err(
            |source| PrError::Io {
                path: display(&f.path),
                source,
            },
        )?;
        git.run(&["add", "--", &f.rel])?;
        Ok(())
    };
    let mut commit = |subject: String| -> Result<(), PrError> {
        git.run(&["commit", "-q", "-m", &subject])?;
        let id = git.run(&["rev-parse", "HEAD"])?.trim().to_string();
        out.commits.push((id, subject));
        Ok(())
    };
    for r in &removals {
        let file = match (r.partial, partial.as_deref_mut()) {
            (true, Some(p)) => p,
            (true, None) => continue,
            (false, _) => &mut *main,
        };
        file.list
            .remove_domains(&r.domains.iter().cloned().collect());
        write(file)?;
        commit(r.subject())?;
    }
    for a in &additions {
        main.list
            .add_block(a.section, &a.hosts, &a.date, &a.evidence, &a.domains);
        write(main)?;
        if let Some(p) = partial.as_deref_mut() {
            if !a.from_partial.is_empty() {
                p.list
                    .remove_domains(&a.from_partial.iter().cloned().collect());
                write(p)?;
            }
        }
        commit(a.subject())?;
    }
    Ok(())
}

/// Path helper for error messages.
pub fn display(p: &Path) -> String {
    p.display().to_string()
}

impl ListEdit for crate::danefail::list::List {
    fn parse_list(text: &str) -> Result<Self, String> {
        crate::danefail::list::List::parse(text, "danefail list").map_err(|e| e.to_string())
    }

    fn listed(&self) -> Vec<(Option<ListSection>, Vec<String>, String)> {
        use crate::danefail::list::{LineKind, Section};
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.kind {
                LineKind::Domain(d) => {
                    let section = self.section_of(i).map(|s| match s {
                        Section::Dns => ListSection::Dns,
                        Section::Starttls => ListSection::Starttls,
                    });
                    Some((section, self.block_hosts(i), d.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn add_block(
        &mut self,
        section: ListSection,
        hosts: &[String],
        date: &str,
        evidence: &[String],
        domains: &[String],
    ) {
        let s = match section {
            ListSection::Dns => crate::danefail::list::Section::Dns,
            ListSection::Starttls => crate::danefail::list::Section::Starttls,
        };
        // names reaching here were validated by the store; a name that still fails is left out
        // rather than written
        let hosts: Vec<String> = hosts
            .iter()
            .filter(|h| crate::domain::normalize(h).is_ok())
            .cloned()
            .collect();
        let domains: Vec<String> = domains
            .iter()
            .filter(|d| crate::domain::normalize(d).is_ok())
            .cloned()
            .collect();
        let _ = crate::danefail::list::List::add_block(self, s, &hosts, date, evidence, &domains);
    }

    fn remove_domains(&mut self, domains: &BTreeSet<String>) {
        let v: Vec<String> = domains.iter().cloned().collect();
        crate::danefail::list::List::remove_domains(self, &v);
    }

    fn render_list(&self) -> String {
        self.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(d: &str, c: FailureClass, mx: &[&str], at: i64) -> Entry {
        Entry {
            domain: d.into(),
            class: c,
            mx_hosts: mx.iter().map(|s| s.to_string()).collect(),
            first_seen: None,
            added: at,
            confirmed_at: at,
            expires: at + 1,
            evidence: vec![format!("evidence for {d}")],
        }
    }

    #[test]
    fn hosts_compress_like_the_list_does() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(compress_hosts(&v(&["mx.example.net"])), "mx.example.net");
        assert_eq!(
            compress_hosts(&v(&[
                "mx1.spamsponge.de",
                "mx3.spamsponge.de",
                "mx2.spamsponge.de"
            ])),
            "mx[123].spamsponge.de"
        );
        assert_eq!(
            compress_hosts(&v(&["a.smtp.sasr.com", "c.smtp.sasr.com"])),
            "[ac].smtp.sasr.com"
        );
        assert_eq!(
            compress_hosts(&v(&["mx.a.example", "mail.b.example"])),
            "mx.a.example, mail.b.example"
        );
    }

    #[test]
    fn additions_group_by_hosts_and_class_in_the_right_section() {
        let e = [
            entry(
                "b.example",
                FailureClass::CertMismatch,
                &["mx.shared.example"],
                100,
            ),
            entry(
                "a.example",
                FailureClass::CertMismatch,
                &["MX.shared.example."],
                200,
            ),
            entry("c.example", FailureClass::Dnssec, &["mx.c.example"], 100),
            entry("d.example", FailureClass::TlsaUnusable, &[], 100),
            entry(
                "e.example",
                FailureClass::NoStarttls,
                &["mx.e.example", "bad host"],
                100,
            ),
        ];
        let refs: Vec<&Entry> = e.iter().collect();
        let g = group_additions(&refs);
        assert_eq!(g.len(), 4);
        let shared = g.iter().find(|a| a.hosts == ["mx.shared.example"]).unwrap();
        assert_eq!(shared.domains, ["a.example", "b.example"]);
        assert_eq!(shared.section, ListSection::Starttls);
        assert_eq!(shared.subject(), "mx.shared.example stale TLSA");
        assert_eq!(shared.confirmed_at, 200);
        let c = g.iter().find(|a| a.domains == ["c.example"]).unwrap();
        assert_eq!(
            (c.section, c.subject().as_str()),
            (ListSection::Dns, "mx.c.example TLSA lookup failure")
        );
        let d = g.iter().find(|a| a.domains == ["d.example"]).unwrap();
        assert_eq!(d.hosts, ["d.example"]);
        assert_eq!(d.subject(), "d.example bad TLSA");
        let e = g.iter().find(|a| a.domains == ["e.example"]).unwrap();
        assert_eq!(e.subject(), "mx.e.example no STARTTLS");
    }

    #[test]
    fn removal_subjects() {
        let r = Removal {
            hosts: vec!["mx.example.net".into()],
            domains: vec!["a.example".into()],
            whole_block: true,
            verdicts: BTreeMap::new(),
            partial: false,
        };
        assert_eq!(r.subject(), "mx.example.net resolved");
        let r = Removal {
            whole_block: false,
            ..r
        };
        assert_eq!(r.subject(), "a.example resolved");
    }
}
