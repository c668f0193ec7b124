//! The comparison of the 2018 talk: local verdicts against a danefail list.

use super::history::Listed;
use crate::aggregate::Aggregate;
use crate::model::Verdict;
use serde::Serialize;
use std::collections::BTreeSet;

/// The regions of the comparison, with the domains behind each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Where the list came from.
    pub source: String,
    /// Domains that verify here (verdict `valid`).
    pub valid: BTreeSet<String>,
    /// Domains with DANE failures here (verdicts `failing` and `partial`).
    pub failing: BTreeSet<String>,
    /// Of `failing`, those with only failures (verdict `failing`).
    pub failing_only: BTreeSet<String>,
    /// Of `failing`, those that also verify somewhere (verdict `partial`).
    pub partial_here: BTreeSet<String>,
    /// Distinct normalised domains on the (main) danefail list.
    pub danefail: BTreeSet<String>,
    /// Raw entry lines on the list (differs from `danefail` where lines carry spaces or are
    /// listed twice): for a snapshot, the file's entry lines with duplicates (as `history.csv`
    /// counts them); for `--ever`, the distinct lines of every version (see
    /// [`Listed::raw_line_count`]).
    pub danefail_raw_lines: usize,
    pub failing_and_danefail: BTreeSet<String>,
    /// Listed, but verifying fine here: stale entries, removal candidates.
    pub valid_and_danefail: BTreeSet<String>,
    /// Listed, but never seen in these logs.
    pub listed_not_seen: BTreeSet<String>,
    /// Failing here and not listed: candidates to add.
    pub failing_not_listed: BTreeSet<String>,
    /// The partial (watch) list, reported apart.
    pub partial_list: BTreeSet<String>,
    pub failing_and_partial_list: BTreeSet<String>,
}

/// Compare verdicts from logs with what a danefail source lists.
pub fn compare(agg: &Aggregate, listed: &Listed) -> Comparison {
    let mut c = Comparison {
        source: listed.description.clone(),
        danefail: listed.domains.clone(),
        danefail_raw_lines: listed.raw_line_count(),
        partial_list: listed.partial.clone(),
        ..Comparison::default()
    };
    for (d, row) in &agg.domains {
        match row.counts.verdict() {
            Verdict::Valid => {
                c.valid.insert(d.clone());
            }
            Verdict::Failing => {
                c.failing.insert(d.clone());
                c.failing_only.insert(d.clone());
            }
            Verdict::Partial => {
                c.failing.insert(d.clone());
                c.partial_here.insert(d.clone());
            }
            Verdict::NoDane | Verdict::Unknown => {}
        }
    }
    c.failing_and_danefail = c.failing.intersection(&c.danefail).cloned().collect();
    c.valid_and_danefail = c.valid.intersection(&c.danefail).cloned().collect();
    c.failing_not_listed = c.failing.difference(&c.danefail).cloned().collect();
    c.failing_and_partial_list = c.failing.intersection(&c.partial_list).cloned().collect();
    c.listed_not_seen = c
        .danefail
        .iter()
        .filter(|d| !agg.domains.contains_key(*d))
        .cloned()
        .collect();
    c
}

impl Comparison {
    /// The JSON object: counts under the region names, the domain lists under `domains`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source,
            "valid": self.valid.len(),
            "failing": self.failing.len(),
            "failing_only": self.failing_only.len(),
            "partial_here": self.partial_here.len(),
            "danefail": self.danefail.len(),
            "danefail_raw_lines": self.danefail_raw_lines,
            "failing_and_danefail": self.failing_and_danefail.len(),
            "valid_and_danefail": self.valid_and_danefail.len(),
            "listed_not_seen": self.listed_not_seen.len(),
            "failing_not_listed": self.failing_not_listed.len(),
            "partial_list": self.partial_list.len(),
            "failing_and_partial_list": self.failing_and_partial_list.len(),
            "domains": {
                "valid": self.valid,
                "failing": self.failing,
                "danefail": self.danefail,
                "failing_and_danefail": self.failing_and_danefail,
                "valid_and_danefail": self.valid_and_danefail,
                "listed_not_seen": self.listed_not_seen,
                "failing_not_listed": self.failing_not_listed,
                "partial_list": self.partial_list,
                "failing_and_partial_list": self.failing_and_partial_list,
            }
        })
    }

    /// The regions as (name, domains) pairs, in report order.
    pub fn regions(&self) -> Vec<(&'static str, &BTreeSet<String>)> {
        vec![
            ("valid", &self.valid),
            ("failing", &self.failing),
            ("danefail", &self.danefail),
            ("failing_and_danefail", &self.failing_and_danefail),
            ("valid_and_danefail", &self.valid_and_danefail),
            ("listed_not_seen", &self.listed_not_seen),
            ("failing_not_listed", &self.failing_not_listed),
            ("partial_list", &self.partial_list),
            ("failing_and_partial_list", &self.failing_and_partial_list),
        ]
    }

    /// The human table.
    pub fn table(&self) -> String {
        let raw = if self.danefail_raw_lines != self.danefail.len() {
            format!(" ({} raw entry lines)", self.danefail_raw_lines)
        } else {
            String::new()
        };
        let mut s = String::new();
        s.push_str(&format!("danefail source: {}\n", self.source));
        s.push_str(&format!(
            "{:>8}  domains verified fine here (valid)\n",
            self.valid.len()
        ));
        s.push_str(&format!("{:>8}  on danefail{raw}\n", self.danefail.len()));
        s.push_str(&format!(
            "{:>8}  failing here ({} failing, {} partial)\n",
            self.failing.len(),
            self.failing_only.len(),
            self.partial_here.len()
        ));
        s.push_str(&format!(
            "{:>8}  failing here and on danefail\n",
            self.failing_and_danefail.len()
        ));
        s.push_str(&format!(
            "{:>8}  on danefail but verifying fine here (stale entries)\n",
            self.valid_and_danefail.len()
        ));
        s.push_str(&format!(
            "{:>8}  on danefail, never seen here\n",
            self.listed_not_seen.len()
        ));
        s.push_str(&format!(
            "{:>8}  failing here, not listed (candidates)\n",
            self.failing_not_listed.len()
        ));
        if !self.partial_list.is_empty() {
            s.push_str(&format!(
                "{:>8}  on the partial list ({} of them failing here)\n",
                self.partial_list.len(),
                self.failing_and_partial_list.len()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DaneOutcome, FailureClass};

    #[test]
    fn regions() {
        let mut a = Aggregate::default();
        let add = |a: &mut Aggregate, d: &str, o| a.add(d, None, 1, o, 0, 1, "f", "t", true);
        add(&mut a, "ok.example", DaneOutcome::Verified);
        add(&mut a, "stale.example", DaneOutcome::Verified);
        add(
            &mut a,
            "bad.example",
            DaneOutcome::Failed(FailureClass::Dnssec),
        );
        add(
            &mut a,
            "new.example",
            DaneOutcome::Failed(FailureClass::CertMismatch),
        );
        add(&mut a, "flap.example", DaneOutcome::Verified);
        add(
            &mut a,
            "flap.example",
            DaneOutcome::Failed(FailureClass::NoStarttls),
        );
        add(&mut a, "plain.example", DaneOutcome::NotDane);
        let listed = Listed {
            description: "test".into(),
            raw_lines: [
                "bad.example",
                "stale.example",
                "gone.example",
                "gone.example ",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            domains: ["bad.example", "stale.example", "gone.example"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            partial: ["flap.example".to_string()].into(),
            ..Listed::default()
        };
        let c = compare(&a, &listed);
        assert_eq!(c.valid.len(), 2);
        assert_eq!(c.failing.len(), 3);
        assert_eq!(
            c.failing_and_danefail.iter().collect::<Vec<_>>(),
            ["bad.example"]
        );
        assert_eq!(
            c.valid_and_danefail.iter().collect::<Vec<_>>(),
            ["stale.example"]
        );
        assert_eq!(
            c.listed_not_seen.iter().collect::<Vec<_>>(),
            ["gone.example"]
        );
        assert_eq!(c.failing_and_partial_list.len(), 1);
        let j = c.to_json();
        assert_eq!(j["danefail"], 3);
        assert_eq!(j["danefail_raw_lines"], 4);
        assert_eq!(j["domains"]["failing_not_listed"][0], "flap.example");
        assert!(c.table().contains("(4 raw entry lines)"));
    }
}
