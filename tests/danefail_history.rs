//! The real danefail list history (../shared/data/danefail): every version round-trips, the
//! entry counts equal history.csv, and the talk's "ever listed" figure comes out.

use danemine::aggregate::Aggregate;
use danemine::danefail::compare::compare;
use danemine::danefail::history::{from_versions, load, versions, Source};
use danemine::danefail::list::List;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/danefail")
}

fn clone(dir: &Path) -> PathBuf {
    let repo = dir.join("danefail-list");
    let st = Command::new("git")
        .args(["clone", "-q"])
        .arg(data().join("danefail-list-history.bundle"))
        .arg(&repo)
        .status()
        .expect("git");
    assert!(st.success());
    repo
}

#[test]
fn all_511_versions_round_trip_and_count_like_history_csv() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone(d.path());
    let vs = versions(&repo).unwrap();
    let csv = std::fs::read_to_string(data().join("history.csv")).unwrap();
    let expected: Vec<(String, usize)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(vs.len(), 511);
    assert_eq!(vs.len(), expected.len());
    for (v, (date, entries)) in vs.iter().zip(&expected) {
        assert_eq!(&v.commit.date, date);
        let text = v.main.as_deref().unwrap_or("");
        let l = List::parse(text, &v.commit.id).unwrap();
        assert_eq!(l.render(), text, "round trip at {}", v.commit.id);
        assert_eq!(
            l.entries().len(),
            *entries,
            "entries at {} {}",
            v.commit.id,
            date
        );
        if let Some(p) = &v.partial {
            let pl = List::parse(p, "partial").unwrap();
            assert_eq!(&pl.render(), p);
        }
    }
}

/// What danemine shows as a snapshot's raw entry lines is history.csv's `entries` (entry lines
/// with duplicates) for every date in it, taking the last commit of that day; the distinct
/// domains stay history-detail.csv's `unique_entries` (150 against 152 at 2018-12-10).
#[test]
fn snapshot_raw_counts_equal_history_csv_for_every_date() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone(d.path());
    let vs = versions(&repo).unwrap();
    let read = |name: &str| std::fs::read_to_string(data().join(name)).unwrap();
    // day -> (entries, unique entries) of the day's last commit (the file is oldest first)
    let mut want = std::collections::BTreeMap::new();
    for (row, detail) in read("history.csv")
        .lines()
        .zip(read("history-detail.csv").lines())
        .skip(1)
    {
        let f: Vec<&str> = row.split(',').collect();
        let g: Vec<&str> = detail.split(',').collect();
        assert_eq!(f[1], g[1]);
        let entries: usize = f[2].parse().unwrap();
        let unique: usize = g[3].parse().unwrap();
        want.insert(f[0][..10].to_string(), (entries, unique));
    }
    assert_eq!(want.len(), 248);
    let empty = Aggregate::default();
    for (day, &(entries, unique)) in &want {
        let listed = from_versions(&repo, &vs, Some(day), false).unwrap();
        let c = compare(&empty, &listed);
        assert_eq!(c.danefail_raw_lines, entries, "raw entry lines at {day}");
        assert_eq!(c.danefail.len(), unique, "distinct domains at {day}");
    }
    let c = compare(
        &empty,
        &load(&Source::Git(repo.clone()), Some("2018-12-10"), false).unwrap(),
    );
    assert!(
        c.table()
            .contains("     150  on danefail (152 raw entry lines)\n"),
        "{}",
        c.table()
    );
    // a list file counts its lines alike
    let day = vs.iter().rfind(|v| v.commit.day() <= "2018-12-10").unwrap();
    let dir = d.path().join("file");
    std::fs::create_dir(&dir).unwrap();
    let f = dir.join("dane_fail_list.dat");
    std::fs::write(&f, day.main.as_deref().unwrap()).unwrap();
    let l = load(&Source::File(f), None, false).unwrap();
    assert_eq!((l.raw_line_count(), l.domains.len()), (152, 150));
}

#[test]
fn ever_listed_up_to_the_talk() {
    let d = tempfile::tempdir().unwrap();
    let repo = clone(d.path());
    let src = Source::Git(repo.clone());
    let ever = load(&src, Some("2018-10-02"), true).unwrap();
    assert_eq!(ever.raw_lines.len(), 622);
    assert_eq!(ever.raw_line_count(), 622);
    assert_eq!(ever.domains.len(), 620);
    let snap = load(&src, Some("2018-10-02"), false).unwrap();
    assert_eq!(snap.domains.len(), 147);
    assert_eq!(snap.partial.len(), 19);
    // the snapshot equals the verbatim copy of that day
    let copy = std::fs::read_to_string(data().join("list-2018-10-02.txt")).unwrap();
    assert_eq!(List::parse(&copy, "copy").unwrap().domains(), snap.domains);
    // every domain ever on the main list, and its first listing date, as entries-ever.csv says
    let all = load(&src, None, true).unwrap();
    let csv = std::fs::read_to_string(data().join("entries-ever.csv")).unwrap();
    let mut want = std::collections::BTreeMap::new();
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[1] == "main" {
            want.insert(f[0].to_string(), f[2].to_string());
        }
    }
    assert_eq!(want.len(), 1508);
    assert_eq!(all.domains.len(), want.len());
    assert_eq!(all.first_listed, want);
    let head = load(&src, None, false).unwrap();
    assert!(head.domains.is_empty(), "the list is empty since 2020");
}

#[test]
fn bad_sources_are_one_line_errors() {
    let d = tempfile::tempdir().unwrap();
    let e = load(&Source::Git(d.path().to_path_buf()), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&d.path().display().to_string())
            && e.to_lowercase().contains("not a git repository"),
        "{e}"
    );
    assert!(!e.contains('\n'));
    let repo = clone(d.path());
    let e = load(&Source::Git(repo.clone()), Some("2016-01-01"), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no commit") && e.contains("2016-01-01"), "{e}");
    let e = load(&Source::Git(repo), Some("2018-13-45"), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2018-13-45"), "{e}");
    let f = d.path().join("dane_fail_list.dat");
    std::fs::write(&f, "# x\nok.example\nthis is not a domain\n").unwrap();
    let e = load(&Source::File(f), None, false).unwrap_err().to_string();
    assert!(e.contains("dane_fail_list.dat:3"), "{e}");
}
