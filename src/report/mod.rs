//! The HTML report: a self-contained page with inline SVG (a Venn diagram of valid / danefail /
//! failing, failure classes as bars, failing domains per day, a table of failing domains) and
//! the CSV/JSON tables behind it.
//!
//! Plain Rust string building: the tables are small (one row per failing domain, one per day),
//! and polars would add 13–17 minutes of build time for a few group-bys (see README).

use crate::aggregate::{Aggregate, Row};
use crate::danefail::compare::Comparison;
use crate::model::FailureClass;
use crate::timefmt::rfc3339;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The tables behind the page.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Failures per class over all failing domains.
    pub classes: Vec<(FailureClass, u64)>,
    /// Per UTC day: (date, failing domains that day, failures that day).
    pub per_day: Vec<(String, usize, u64)>,
    /// Failing domains (verdicts failing and partial), sorted by failures, most first.
    pub failing: Vec<(String, Row)>,
}

/// Build the tables from an aggregate.
pub fn tables(agg: &Aggregate) -> Tables {
    let mut classes = [0u64; 6];
    let mut days: BTreeMap<i32, (usize, u64)> = BTreeMap::new();
    let mut failing = Vec::new();
    for (d, r) in &agg.domains {
        if !r.counts.verdict().has_failures() {
            continue;
        }
        for (i, n) in r.counts.by_class.iter().enumerate() {
            classes[i] += n;
        }
        for (day, n) in &r.failure_days {
            let e = days.entry(*day).or_default();
            e.0 += 1;
            e.1 += n;
        }
        failing.push((d.clone(), r.clone()));
    }
    failing.sort_by(|a, b| {
        b.1.counts
            .dane_failed
            .cmp(&a.1.counts.dane_failed)
            .then(a.0.cmp(&b.0))
    });
    Tables {
        classes: FailureClass::ALL
            .iter()
            .map(|c| (*c, classes[c.index()]))
            .collect(),
        per_day: days
            .into_iter()
            .map(|(d, (n, f))| (rfc3339(i64::from(d) * 86_400)[..10].to_string(), n, f))
            .collect(),
        failing,
    }
}

/// The Venn diagram: valid and failing here are disjoint (a domain has one verdict), so their
/// circles do not meet; the danefail circle overlaps both.
fn venn(c: &Comparison) -> String {
    let valid_only = c.valid.len() - c.valid_and_danefail.len();
    let failing_only = c.failing.len() - c.failing_and_danefail.len();
    let listed_only = c
        .danefail
        .len()
        .saturating_sub(c.valid_and_danefail.len() + c.failing_and_danefail.len());
    format!(
        r##"<svg class="venn" viewBox="0 0 520 330" width="520" height="330" role="img" aria-label="Venn diagram">
<circle cx="140" cy="190" r="110" fill="#2e7d32" fill-opacity="0.25" stroke="#2e7d32"/>
<circle cx="380" cy="190" r="110" fill="#c62828" fill-opacity="0.25" stroke="#c62828"/>
<circle cx="260" cy="120" r="95" fill="#1565c0" fill-opacity="0.25" stroke="#1565c0"/>
<text x="90" y="225" class="n" text-anchor="middle" id="venn-valid-only">{valid_only}</text>
<text x="430" y="225" class="n" text-anchor="middle" id="venn-failing-only">{failing_only}</text>
<text x="260" y="65" class="n" text-anchor="middle" id="venn-listed-only">{listed_only}</text>
<text x="195" y="155" class="n" text-anchor="middle" id="venn-valid-listed">{vl}</text>
<text x="325" y="155" class="n" text-anchor="middle" id="venn-failing-listed">{fl}</text>
<text x="80" y="315" class="l">valid here: {valid}</text>
<text x="330" y="315" class="l">failing here: {failing}</text>
<text x="260" y="12" class="l" text-anchor="middle">danefail: {listed}</text>
</svg>"##,
        vl = c.valid_and_danefail.len(),
        fl = c.failing_and_danefail.len(),
        valid = c.valid.len(),
        failing = c.failing.len(),
        listed = c.danefail.len(),
    )
}

fn bars(classes: &[(FailureClass, u64)]) -> String {
    let max = classes.iter().map(|c| c.1).max().unwrap_or(0).max(1);
    let mut s = String::from(
        r#"<svg class="bars" viewBox="0 0 520 200" width="520" height="200" role="img" aria-label="failure classes">"#,
    );
    for (i, (c, n)) in classes.iter().enumerate() {
        let y = 10 + i * 30;
        let w = (*n as f64 / max as f64 * 330.0).round() as u64;
        let _ = write!(
            s,
            r##"<text x="0" y="{ty}" class="l">{c}</text><rect x="120" y="{y}" width="{w}" height="20" fill="#c62828"/><text x="{tx}" y="{ty}" class="l">{n}</text>"##,
            ty = y + 15,
            tx = 125 + w
        );
    }
    s.push_str("</svg>");
    s
}

fn per_day(days: &[(String, usize, u64)]) -> String {
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let n = days.len().max(1);
    let bw = (480.0 / n as f64).max(2.0);
    let mut s = String::from(
        r#"<svg class="days" viewBox="0 0 520 220" width="520" height="220" role="img" aria-label="failing domains per day">"#,
    );
    for (i, (day, doms, _)) in days.iter().enumerate() {
        let h = (*doms as f64 / max as f64 * 170.0).round();
        let x = 30.0 + i as f64 * bw;
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#ef6c00"><title>{day}: {doms} failing domains</title></rect>"##,
            y = 190.0 - h,
            w = (bw - 1.0).max(1.0)
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            s,
            r#"<text x="30" y="210" class="l">{}</text><text x="510" y="210" class="l" text-anchor="end">{}</text><text x="0" y="25" class="l">{max}</text>"#,
            first.0, last.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Render the page.
pub fn html(title: &str, c: &Comparison, t: &Tables) -> String {
    let mut rows = String::new();
    for (d, r) in &t.failing {
        let class = r.counts.main_class().map(|c| c.as_str()).unwrap_or("-");
        let mx: Vec<&str> = r.failing_names.iter().map(String::as_str).collect();
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(d),
            esc(&mx.join(" ")),
            class,
            r.counts.verdict(),
            r.counts.dane_failed,
            r.counts.dane_verified,
            if c.danefail.contains(d) { "yes" } else { "" },
            rfc3339(r.counts.first_seen),
            rfc3339(r.counts.last_seen)
        );
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
.n {{ font-size: 22px; font-weight: bold; }} .l {{ font-size: 13px; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; }}
.counts td:first-child {{ text-align: right; font-weight: bold; }}
</style></head><body>
<h1>{title}</h1>
<p>danefail source: {source}</p>
<table class="counts" id="counts">
<tr><td id="count-valid">{valid}</td><td>domains verified fine here (valid)</td></tr>
<tr><td id="count-danefail">{listed}</td><td>on danefail{raw}</td></tr>
<tr><td id="count-failing">{failing}</td><td>failing here ({failing_only} failing, {partial} partial)</td></tr>
<tr><td id="count-failing-danefail">{fl}</td><td>failing here and on danefail</td></tr>
<tr><td id="count-valid-danefail">{vl}</td><td>on danefail but verifying fine here (stale entries)</td></tr>
</table>
<h2>Valid, danefail and failing</h2>
{venn}
<h2>Failure classes</h2>
{bars}
<h2>Failing domains per day</h2>
{days}
<h2>Failing domains</h2>
<table id="failing"><tr><th>domain</th><th>failing MX</th><th>class</th><th>verdict</th><th>failures</th><th>verified</th><th>on danefail</th><th>first seen</th><th>last seen</th></tr>
{rows}</table>
</body></html>
"#,
        title = esc(title),
        source = esc(&c.source),
        valid = c.valid.len(),
        listed = c.danefail.len(),
        raw = if c.danefail_raw_lines != c.danefail.len() {
            format!(" ({} raw entry lines)", c.danefail_raw_lines)
        } else {
            String::new()
        },
        failing = c.failing.len(),
        failing_only = c.failing_only.len(),
        partial = c.partial_here.len(),
        fl = c.failing_and_danefail.len(),
        vl = c.valid_and_danefail.len(),
        venn = venn(c),
        bars = bars(&t.classes),
        days = per_day(&t.per_day),
    )
}

/// Write `dir/index.html` and the tables behind it (`comparison.json`, `failing.csv`,
/// `classes.csv`, `per_day.csv`), each atomically. Returns the page's path.
pub fn write(dir: &Path, title: &str, c: &Comparison, agg: &Aggregate) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let t = tables(agg);
    let w = |name: &str, text: String| {
        crate::fsutil::write_atomic(&dir.join(name), text.as_bytes(), false)
    };
    w(
        "comparison.json",
        serde_json::to_string_pretty(&c.to_json()).map_err(io::Error::other)?,
    )?;
    let mut s = String::from("class,failures\n");
    for (cl, n) in &t.classes {
        let _ = writeln!(s, "{cl},{n}");
    }
    w("classes.csv", s)?;
    let mut s = String::from("day,failing_domains,failures\n");
    for (d, n, f) in &t.per_day {
        let _ = writeln!(s, "{d},{n},{f}");
    }
    w("per_day.csv", s)?;
    let mut s = String::from(
        "domain,failing_mx,class,verdict,failures,verified,on_danefail,first_seen,last_seen\n",
    );
    for (d, r) in &t.failing {
        let mx: Vec<&str> = r.failing_names.iter().map(String::as_str).collect();
        let _ = writeln!(
            s,
            "{d},{},{},{},{},{},{},{},{}",
            mx.join(";"),
            r.counts.main_class().map(|c| c.as_str()).unwrap_or(""),
            r.counts.verdict(),
            r.counts.dane_failed,
            r.counts.dane_verified,
            c.danefail.contains(d),
            rfc3339(r.counts.first_seen),
            rfc3339(r.counts.last_seen)
        );
    }
    w("failing.csv", s)?;
    let page = dir.join("index.html");
    crate::fsutil::write_atomic(&page, html(title, c, &t).as_bytes(), false)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::danefail::compare::compare;
    use crate::danefail::history::Listed;
    use crate::model::DaneOutcome;

    #[test]
    fn page_escapes_and_counts() {
        let mut a = Aggregate::default();
        a.add(
            "bad.example",
            Some("mx.bad.example"),
            86_400 * 3,
            DaneOutcome::Failed(FailureClass::Dnssec),
            0,
            1,
            "f",
            "<script>",
            true,
        );
        a.add(
            "ok.example",
            Some("mx.ok.example"),
            86_400 * 3,
            DaneOutcome::Verified,
            0,
            2,
            "f",
            "t",
            true,
        );
        let listed = Listed {
            description: "<list>".into(),
            domains: ["bad.example".to_string()].into(),
            raw_lines: ["bad.example".to_string()].into(),
            ..Listed::default()
        };
        let c = compare(&a, &listed);
        let t = tables(&a);
        assert_eq!(t.per_day, vec![("1970-01-04".to_string(), 1, 1)]);
        let h = html("DANE report <x>", &c, &t);
        assert!(h.contains("DANE report &lt;x&gt;") && h.contains("&lt;list&gt;"));
        assert!(h.contains(r#"<td id="count-failing-danefail">1</td>"#));
        assert!(!h.contains("<script>"));
    }

    /// Each number of the Venn diagram stands in its own region: inside the circles of its
    /// sets and outside the others; the valid and failing circles never meet.
    #[test]
    fn venn_regions_hold_their_numbers() {
        let svg = venn(&compare(&Aggregate::default(), &Listed::default()));
        let attr = |tag: &str, name: &str| -> f64 {
            let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[at..].split('"').next().unwrap().parse().unwrap()
        };
        let circles: Vec<(f64, f64, f64)> = svg
            .split("<circle")
            .skip(1)
            .map(|t| (attr(t, "cx"), attr(t, "cy"), attr(t, "r")))
            .collect();
        let (valid, failing, listed) = (circles[0], circles[1], circles[2]);
        let dist =
            |a: (f64, f64), b: (f64, f64)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        assert!(dist((valid.0, valid.1), (failing.0, failing.1)) > valid.2 + failing.2);
        let inside = |p: (f64, f64), c: (f64, f64, f64)| dist(p, (c.0, c.1)) < c.2;
        for (id, want) in [
            ("venn-valid-only", [true, false, false]),
            ("venn-failing-only", [false, true, false]),
            ("venn-listed-only", [false, false, true]),
            ("venn-valid-listed", [true, false, true]),
            ("venn-failing-listed", [false, true, true]),
        ] {
            let tag = svg.split("<text").find(|t| t.contains(id)).unwrap();
            let p = (attr(tag, "x"), attr(tag, "y"));
            let got = [valid, failing, listed].map(|c| inside(p, c));
            assert_eq!(got, want, "{id}");
        }
    }
}
