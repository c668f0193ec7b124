//! `danemine pr` on a clone of the real danefail list history: blocks added in the right
//! section with dates and evidence, recovered blocks removed, commits in the list's style, the
//! PR body, pushing only when asked (to a local bare repository).

mod common;

use danemine::act::pr::{prepare, PrOptions};
use danemine::act::store::Entry;
use danemine::danefail::list::{List, Section};
use danemine::model::FailureClass;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn clone_at_talk(dir: &Path) -> PathBuf {
    let repo = dir.join("list");
    common::clone_danefail_list(&repo);
    // the list as it stood on 2018-10-02 (147 entries), as a local branch
    let id = git(
        &repo,
        &[
            "log",
            "-1",
            "--format=%H",
            "--before=2018-10-02T23:59:59-04:00",
        ],
    );
    git(&repo, &["checkout", "-q", "-b", "talk", id.trim()]);
    repo
}

/// Options for a branch named `branch` on the list's main file, dated 2026-11-28, not pushed.
fn options(branch: &str) -> PrOptions {
    PrOptions {
        file: "dane_fail_list.dat".into(),
        branch: Some(branch.into()),
        date: "2026-11-28".into(),
        push: None,
        verify_hint: String::new(),
    }
}

fn entry(domain: &str, class: FailureClass, mx: &str) -> Entry {
    Entry {
        domain: domain.into(),
        class,
        mx_hosts: vec![mx.into()],
        first_seen: Some(1_790_000_000),
        added: 1_790_000_000,
        confirmed_at: 1_790_000_000,
        expires: 1_792_592_000,
        evidence: vec![format!(
            "_25._tcp.{mx} TLSA 3 1 1 ab12... does not match the certificate"
        )],
    }
}

#[test]
fn pull_request_branch_on_the_real_list() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone_at_talk(d.path());
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let e1 = entry(
        "broken-dane.example",
        FailureClass::CertMismatch,
        "mx.broken-dane.example",
    );
    let e2 = entry(
        "bogus-tlsa.example",
        FailureClass::Dnssec,
        "ns-mx.bogus-tlsa.example",
    );
    let mut recovered = BTreeMap::new();
    recovered.insert("stansoft.bg".to_string(), "dane-ok".to_string());
    let opts = options("danemine/test");
    let out = prepare::<List>(&repo, &opts, &[&e1, &e2], &recovered).unwrap();
    assert_eq!(out.branch.as_deref(), Some("danemine/test"));
    assert!(!out.pushed);
    // the clone is back on its branch, unchanged
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before);
    let subjects = git(&repo, &["log", "--format=%s", "talk..danemine/test"]);
    assert!(subjects.contains("mx.broken-dane.example"), "{subjects}");
    assert!(subjects.contains("resolved"), "{subjects}");
    let text = git(&repo, &["show", "danemine/test:dane_fail_list.dat"]);
    let l = List::parse(&text, "new").unwrap();
    let idx = l
        .lines
        .iter()
        .position(|x| x.raw == "broken-dane.example")
        .unwrap();
    assert_eq!(l.section_of(idx), Some(Section::Starttls));
    assert_eq!(l.block_hosts(idx), vec!["mx.broken-dane.example"]);
    let idx = l
        .lines
        .iter()
        .position(|x| x.raw == "bogus-tlsa.example")
        .unwrap();
    assert_eq!(l.section_of(idx), Some(Section::Dns));
    // the block is dated by the first failure seen in the logs
    assert!(
        text.contains("## mx.broken-dane.example\n# 2026-09-21\n"),
        "{text}"
    );
    assert!(!l.domains().contains("stansoft.bg"));
    assert_eq!(l.domains().len(), 147 - 1 + 2);
    assert!(
        out.body.contains("danemine verify") && out.body.contains("broken-dane.example"),
        "{}",
        out.body
    );
    // push only when asked: to a local bare repository
    let bare = d.path().join("remote.git");
    assert!(Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&bare)
        .status()
        .unwrap()
        .success());
    git(&repo, &["remote", "add", "fork", bare.to_str().unwrap()]);
    let e3 = entry(
        "third.example",
        FailureClass::NoStarttls,
        "mx.third.example",
    );
    let opts = PrOptions {
        branch: Some("danemine/pushed".into()),
        push: Some("fork".into()),
        ..opts
    };
    let out = prepare::<List>(&repo, &opts, &[&e3], &BTreeMap::new()).unwrap();
    assert!(out.pushed);
    let remote = Command::new("git")
        .arg("-C")
        .arg(&bare)
        .args(["branch", "--list", "danemine/pushed"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&remote.stdout).contains("danemine/pushed"));
}

/// `danemine pr --config`: an entry of the state whose domain the configuration protects now
/// (protected after the last nightly run) is not proposed; nor is one confirmed in the future.
#[test]
fn pr_leaves_out_protected_and_future_entries() {
    use danemine::act::state::{State, STATE_VERSION};
    let d = tempfile::tempdir().unwrap();
    let repo = clone_at_talk(d.path());
    let now = chrono::Utc::now().timestamp();
    let fresh = |domain: &str, at: i64| Entry {
        confirmed_at: at,
        ..entry(domain, FailureClass::CertMismatch, &format!("mx.{domain}"))
    };
    let mut st = State {
        version: STATE_VERSION,
        ..State::default()
    };
    for e in [
        fresh("broken-dane.example", now - 60),
        fresh("own.example", now - 60),
        fresh("future.example", now + 5 * 86_400),
    ] {
        st.store.entries.insert(e.domain.clone(), e);
    }
    let state = d.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    st.save(&state).unwrap();
    let cfg = d.path().join("nightly.toml");
    std::fs::write(
        &cfg,
        "state_dir = \"state\"\n[logs]\npaths = [\"logs/mail.log*\"]\nmta = \"postfix\"\n\
         [exclusions]\nprotected = [\"own.example\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_danemine"))
        .args(["pr", "--branch", "danemine/p", "--repo"])
        .arg(&repo)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = git(&repo, &["show", "danemine/p:dane_fail_list.dat"]);
    assert!(list.contains("broken-dane.example"), "{list}");
    assert!(!list.contains("own.example"), "protected: {list}");
    assert!(!list.contains("future.example"), "future: {list}");
    // a recovered domain is one that works again, not one that fails otherwise
    let rec = d.path().join("recovered.txt");
    std::fs::write(&rec, "stansoft.bg cert-mismatch\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_danemine"))
        .args(["pr", "--repo"])
        .arg(&repo)
        .arg("--config")
        .arg(&cfg)
        .arg("--recovered")
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("recovered.txt:1") && err.contains("dane-ok or not-dane"),
        "{err}"
    );
}

/// A clone on a detached HEAD is left detached at the same commit, not on the new branch.
#[test]
fn a_detached_clone_is_left_where_it_was() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone_at_talk(d.path());
    git(&repo, &["checkout", "-q", "--detach", "talk"]);
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let e = entry(
        "broken-dane.example",
        FailureClass::CertMismatch,
        "mx.broken-dane.example",
    );
    let opts = options("danemine/detached");
    let out = prepare::<List>(&repo, &opts, &[&e], &BTreeMap::new()).unwrap();
    assert_eq!(out.branch.as_deref(), Some("danemine/detached"));
    assert_eq!(
        git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "HEAD"
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before);
}

/// A commit that fails (here a pre-commit hook) leaves the clone clean, on its branch, with
/// no half-made branch; a clone another preparer holds is refused, not shared.
#[test]
fn a_failed_commit_or_a_busy_clone_leaves_the_clone_usable() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let repo = clone_at_talk(d.path());
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\necho refused by hook >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = entry(
        "broken-dane.example",
        FailureClass::CertMismatch,
        "mx.broken-dane.example",
    );
    let opts = options("danemine/hooked");
    let err = prepare::<List>(&repo, &opts, &[&e], &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("refused by hook"), "{err}");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "talk"
    );
    assert_eq!(git(&repo, &["branch", "--list", "danemine/hooked"]), "");
    // the hook gone, the same call succeeds
    std::fs::remove_file(&hook).unwrap();
    let held = danemine::act::pr::Git { repo: repo.clone() }
        .lock()
        .unwrap();
    let busy = prepare::<List>(&repo, &opts, &[&e], &BTreeMap::new()).unwrap_err();
    assert!(busy.to_string().contains("another danemine"), "{busy}");
    drop(held);
    let out = prepare::<List>(&repo, &opts, &[&e], &BTreeMap::new()).unwrap();
    assert_eq!(out.branch.as_deref(), Some("danemine/hooked"));
}

/// A confirmed domain is proposed once: one on the main list is left alone (`already_listed`);
/// one on the partial list is moved by the commit that adds its block, so that it is never on
/// both lists. `misbegotten.net` is the only domain of its partial block (the block goes with
/// it); `bimify.app` shares its block with 17 others (the block stays).
#[test]
fn a_domain_on_either_list_is_not_listed_twice() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone_at_talk(d.path());
    let partial_before = git(&repo, &["show", "talk:partial_fail_list.dat"]);
    assert!(partial_before.contains("\nmisbegotten.net\n"));
    let on_main = entry(
        "stansoft.bg",
        FailureClass::CertMismatch,
        "eufront.stansoft.bg",
    );
    let moved = entry(
        "misbegotten.net",
        FailureClass::CertMismatch,
        "mail.misbegotten.net",
    );
    let shared = entry(
        "bimify.app",
        FailureClass::CertMismatch,
        "astrid.strebsjig.net",
    );
    let opts = options("danemine/once");
    let out =
        prepare::<List>(&repo, &opts, &[&on_main, &moved, &shared], &BTreeMap::new()).unwrap();
    assert_eq!(out.already_listed, ["stansoft.bg"]);
    let main = List::parse(
        &git(&repo, &["show", "danemine/once:dane_fail_list.dat"]),
        "main",
    )
    .unwrap();
    let partial_text = git(&repo, &["show", "danemine/once:partial_fail_list.dat"]);
    let partial = List::parse(&partial_text, "partial").unwrap();
    for dom in ["misbegotten.net", "bimify.app"] {
        assert_eq!(
            main.entries().iter().filter(|e| **e == dom).count(),
            1,
            "{dom}"
        );
        assert!(
            !partial.domains().contains(dom),
            "{dom} still on the partial list"
        );
    }
    assert_eq!(
        main.entries()
            .iter()
            .filter(|e| **e == "stansoft.bg")
            .count(),
        1
    );
    assert_eq!(main.domains().len(), 147 + 2);
    assert_eq!(partial.domains().len(), 19 - 2);
    // the emptied partial block went whole; the shared one kept its header and evidence
    assert!(
        !partial_text.contains("mail.misbegotten.net"),
        "{partial_text}"
    );
    assert!(partial_text.contains("## astrid.strebsjig.net\n# 2018-08-21\n"));
    assert!(
        partial_text.contains("#\nstrebsjig.net\necdba.nl\n"),
        "{partial_text}"
    );
    // each move is in the commit that adds the block: both files change together
    for (id, subject) in &out.commits {
        let files = git(&repo, &["show", "--format=", "--name-only", id]);
        assert!(
            files.contains("dane_fail_list.dat") && files.contains("partial_fail_list.dat"),
            "{subject}: {files}"
        );
    }
    assert_eq!(out.commits.len(), 2);
    assert!(
        out.body.contains("Moved from `partial_fail_list.dat`")
            && out.body.contains("`misbegotten.net`"),
        "{}",
        out.body
    );
}

/// A domain on the partial list that verifies again is taken off it, as the list's maintainers
/// did ("mail.misbegotten.net resolved"); the main list stays as it is.
#[test]
fn a_recovered_domain_leaves_the_partial_list() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone_at_talk(d.path());
    let opts = options("danemine/recovered");
    let recovered = BTreeMap::from([("misbegotten.net".to_string(), "dane-ok".to_string())]);
    let out = prepare::<List>(&repo, &opts, &[], &recovered).unwrap();
    assert_eq!(out.removals.len(), 1, "{:?}", out.removals);
    assert!(out.removals[0].partial && out.removals[0].whole_block);
    let partial = List::parse(
        &git(&repo, &["show", "danemine/recovered:partial_fail_list.dat"]),
        "partial",
    )
    .unwrap();
    assert!(!partial.domains().contains("misbegotten.net"));
    assert_eq!(partial.domains().len(), 19 - 1);
    assert_eq!(
        git(&repo, &["show", "danemine/recovered:dane_fail_list.dat"]),
        git(&repo, &["show", "talk:dane_fail_list.dat"])
    );
    assert_eq!(out.commits.len(), 1);
    assert_eq!(out.commits[0].1, "mail.misbegotten.net resolved");
    assert!(
        out.body.contains("From `partial_fail_list.dat`."),
        "{}",
        out.body
    );
}
