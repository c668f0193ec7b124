//! `danemine report` writes a self-contained page that headless Chromium renders: a non-empty
//! screenshot, and the counts in the page text.

use std::process::Command;

#[test]
fn report_renders_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium not installed: the Debian package `chromium` is listed in .ci/packages");
    let d = tempfile::tempdir().unwrap();
    let list = d.path().join("dane_fail_list.dat");
    // one failing domain of the sample on the list, plus one never seen
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/gateway-small.log");
    let truth = std::fs::read_to_string(sample.with_file_name("gateway-small.truth.csv")).unwrap();
    let failing: Vec<&str> = truth
        .lines()
        .filter(|l| l.contains(",failing,"))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let valid = truth.lines().filter(|l| l.contains(",valid,")).count();
    std::fs::write(&list, format!("# -----------------\n# STARTTLS problems\n\n## mx.example\n# 2026-11-01\n{}\nnever-seen.example\n", failing[0])).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_danemine"))
        .args(["report", "--year", "2026", "--name", "sample", "--out"])
        .arg(d.path().join("reports"))
        .arg("--danefail")
        .arg(&list)
        .arg(&sample)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = d.path().join("reports/sample/index.html");
    for f in [
        "comparison.json",
        "failing.csv",
        "classes.csv",
        "per_day.csv",
    ] {
        assert!(d.path().join("reports/sample").join(f).is_file(), "{f}");
    }
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: no external resources"
    );
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ];
    let shot = d.path().join("shot.png");
    let profile = d.path().join("profile");
    let st = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1100,1400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(&format!(r#"<td id="count-valid">{valid}</td>"#)),
        "valid count"
    );
    assert!(
        dom.contains(&format!(r#"<td id="count-failing">{}</td>"#, failing.len())),
        "failing count"
    );
    assert!(dom.contains(r#"<td id="count-danefail">2</td>"#));
    assert!(dom.contains(r#"<td id="count-failing-danefail">1</td>"#));
    assert!(dom.contains(failing[0]));
}
