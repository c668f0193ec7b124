//! The danefail list file format (`dane_fail_list.dat`, `partial_fail_list.dat`).
//!
//! A list is a sequence of lines: section rules (`# -----`), section titles (`# DNS problems: …`,
//! `# STARTTLS problems: …`, and the older `# Bogus/security failure`, `# SERVFAIL`,
//! `# Doesn't match` group comments), block headers (`## mx-host`, also dnsviz URLs), date lines
//! (`# 2018-09-06`, `# 20180323`), evidence comments, blank lines and domain lines (one domain
//! a line; trailing spaces and duplicates occur in the real history). The model keeps every line
//! as written, so parse → render is byte-for-byte identical; what it interprets is derived from
//! the lines: entries, sections, blocks. Edits add and remove whole blocks and domain lines.

use crate::domain;
use std::collections::BTreeSet;
use thiserror::Error;

/// A line of a list that is neither blank, nor a comment, nor a valid domain.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{source_name}:{line}: malformed list line {text:?}: {reason}")]
pub struct ListError {
    pub source_name: String,
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    /// `# -----------------`
    Rule,
    /// `## mx.example.net` or `## http://dnsviz.net/...`
    BlockHeader(String),
    /// `# 2018-09-06` or `# 20180323`, as `YYYY-MM-DD`.
    Date(String),
    /// Any other `#` line.
    Comment,
    /// An entry: the raw text is kept in `Line::raw`; this is the normalised domain.
    Domain(String),
}

/// One line as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub raw: String,
    pub kind: LineKind,
}

/// The two sections of the current format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// DNS problems: TLSA lookup failures, bogus denial of existence, ...
    Dns,
    /// STARTTLS problems: TLSA records that do not match, no STARTTLS.
    Starttls,
}

impl Section {
    /// The section a failure class belongs in.
    pub fn for_class(c: crate::model::FailureClass) -> Section {
        use crate::model::FailureClass::*;
        match c {
            Dnssec | TlsaUnusable => Section::Dns,
            CertMismatch | NoStarttls | TlsFailure | Other => Section::Starttls,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Section::Dns => "DNS problems",
            Section::Starttls => "STARTTLS problems",
        }
    }
}

/// A parsed list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct List {
    pub lines: Vec<Line>,
    /// Whether the file ended with a newline.
    pub final_newline: bool,
}

fn parse_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let ok = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' && ok(&b[..4]) && ok(&b[5..7]) && ok(&b[8..]) => {
            Some(s.to_string())
        }
        8 if ok(b) => Some(format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])),
        _ => None,
    }
}

fn classify(raw: &str) -> Result<LineKind, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(LineKind::Blank);
    }
    if let Some(rest) = t.strip_prefix("##") {
        // early partial lists date a block with `## 2018-08-20`: a date, not a host
        if let Some(d) = parse_date(rest.trim()) {
            return Ok(LineKind::Date(d));
        }
        return Ok(LineKind::BlockHeader(rest.trim().to_string()));
    }
    if let Some(rest) = t.strip_prefix('#') {
        let r = rest.trim();
        if r.len() >= 3 && r.bytes().all(|c| c == b'-') {
            return Ok(LineKind::Rule);
        }
        if let Some(d) = parse_date(r) {
            return Ok(LineKind::Date(d));
        }
        return Ok(LineKind::Comment);
    }
    domain::normalize(t)
        .map(|d| LineKind::Domain(d.into_owned()))
        .map_err(|e| e.to_string())
}

impl List {
    /// Parse a list; `source_name` names the file in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<List, ListError> {
        let final_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = Vec::new();
        if !text.is_empty() {
            for (i, raw) in body.split('\n').enumerate() {
                let kind = classify(raw).map_err(|reason| ListError {
                    source_name: source_name.to_string(),
                    line: i + 1,
                    text: raw.to_string(),
                    reason,
                })?;
                lines.push(Line {
                    raw: raw.to_string(),
                    kind,
                });
            }
        }
        Ok(List {
            lines,
            final_newline,
        })
    }

    /// The list as text, byte for byte as parsed (plus any edits).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&l.raw);
        }
        if self.final_newline && !self.lines.is_empty() {
            s.push('\n');
        }
        s
    }

    /// Entry lines as written (untrimmed), in order, duplicates included.
    pub fn raw_entries(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| matches!(l.kind, LineKind::Domain(_)))
            .map(|l| l.raw.as_str())
            .collect()
    }

    /// Normalised domains of the entry lines, in order, duplicates included.
    pub fn entries(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Domain(d) => Some(d.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Distinct normalised domains.
    pub fn domains(&self) -> BTreeSet<String> {
        self.entries().into_iter().map(str::to_string).collect()
    }

    /// The section a line index lies in (by the title after the last rule before it).
    pub fn section_of(&self, idx: usize) -> Option<Section> {
        let mut section = None;
        let mut after_rule = false;
        for l in self.lines.iter().take(idx + 1) {
            match &l.kind {
                LineKind::Rule => after_rule = true,
                LineKind::Comment if after_rule => {
                    if l.raw.contains("DNS problems") {
                        section = Some(Section::Dns);
                    } else if l.raw.contains("STARTTLS problems") {
                        section = Some(Section::Starttls);
                    }
                    after_rule = false;
                }
                _ => after_rule = false,
            }
        }
        section
    }

    /// The MX hosts (block headers) of the block that holds the domain line `idx`.
    pub fn block_hosts(&self, idx: usize) -> Vec<String> {
        let (start, _) = self.block_bounds(idx);
        self.lines[start..=idx]
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::BlockHeader(h) => Some(h.clone()),
                _ => None,
            })
            .collect()
    }

    /// The line range `[start, end)` of the block around line `idx`: from the first line after
    /// the previous blank line to the next blank line.
    fn block_bounds(&self, idx: usize) -> (usize, usize) {
        let mut start = idx;
        while start > 0 && self.lines[start - 1].kind != LineKind::Blank {
            start -= 1;
        }
        let mut end = idx;
        while end < self.lines.len() && self.lines[end].kind != LineKind::Blank {
            end += 1;
        }
        (start, end)
    }

    /// Append a block (`## host` headers, `# YYYY-MM-DD`, evidence comments, domains) at the
    /// end of `section`, creating the section when the list has none. Every name must pass
    /// domain validation; evidence lines are made single-line comments.
    pub fn add_block(
        &mut self,
        section: Section,
        mx_hosts: &[String],
        date: &str,
        evidence: &[String],
        domains: &[String],
    ) -> Result<(), crate::domain::DomainError> {
        let mut block = Vec::new();
        for h in mx_hosts {
            let h = domain::normalize_owned(h)?;
            block.push(Line {
                raw: format!("## {h}"),
                kind: LineKind::BlockHeader(h),
            });
        }
        block.push(Line {
            raw: format!("# {date}"),
            kind: parse_date(date)
                .map(LineKind::Date)
                .unwrap_or(LineKind::Comment),
        });
        if !evidence.is_empty() {
            block.push(Line {
                raw: "#".into(),
                kind: LineKind::Comment,
            });
        }
        for e in evidence {
            let clean: String = e
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let raw = if clean.trim().is_empty() {
                "#".to_string()
            } else {
                format!("# {}", clean.trim_end())
            };
            block.push(Line {
                raw,
                kind: LineKind::Comment,
            });
        }
        if !evidence.is_empty() {
            block.push(Line {
                raw: "#".into(),
                kind: LineKind::Comment,
            });
        }
        for d in domains {
            let d = domain::normalize_owned(d)?;
            block.push(Line {
                raw: d.clone(),
                kind: LineKind::Domain(d),
            });
        }
        // insertion point: the end of the section (before the next rule), or a new section
        let sec_start = (0..self.lines.len()).find(|&i| {
            self.lines[i].kind == LineKind::Comment
                && i > 0
                && self.lines[i - 1].kind == LineKind::Rule
                && self.lines[i].raw.contains(section.title())
        });
        let at = match sec_start {
            Some(s) => {
                let mut e = s;
                while e < self.lines.len() && self.lines[e].kind != LineKind::Rule {
                    e += 1;
                }
                // step back over trailing blank lines of the section
                while e > s && self.lines[e - 1].kind == LineKind::Blank {
                    e -= 1;
                }
                e
            }
            None => {
                if !self.lines.is_empty()
                    && self.lines.last().is_some_and(|l| l.kind != LineKind::Blank)
                {
                    self.lines.push(Line {
                        raw: String::new(),
                        kind: LineKind::Blank,
                    });
                }
                self.lines.push(Line {
                    raw: "# -----------------".into(),
                    kind: LineKind::Rule,
                });
                self.lines.push(Line {
                    raw: format!("# {}", section.title()),
                    kind: LineKind::Comment,
                });
                self.lines.len()
            }
        };
        let mut insert = vec![Line {
            raw: String::new(),
            kind: LineKind::Blank,
        }];
        insert.extend(block);
        let next_is_content = self
            .lines
            .get(at)
            .is_some_and(|l| l.kind != LineKind::Blank);
        if next_is_content {
            insert.push(Line {
                raw: String::new(),
                kind: LineKind::Blank,
            });
        }
        self.lines.splice(at..at, insert);
        self.final_newline = true;
        Ok(())
    }

    /// Remove every entry line of these (normalised) domains; a block left without domains is
    /// removed whole (headers, date, evidence). Returns the MX hosts of the blocks touched.
    pub fn remove_domains(&mut self, remove: &[String]) -> Vec<String> {
        let set: BTreeSet<&str> = remove.iter().map(String::as_str).collect();
        let mut hosts = Vec::new();
        let mut i = 0;
        while i < self.lines.len() {
            let hit =
                matches!(&self.lines[i].kind, LineKind::Domain(d) if set.contains(d.as_str()));
            if !hit {
                i += 1;
                continue;
            }
            for h in self.block_hosts(i) {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
            self.lines.remove(i);
            let (start, end) = if i < self.lines.len() && self.lines[i].kind != LineKind::Blank {
                self.block_bounds(i)
            } else if i > 0 && self.lines[i - 1].kind != LineKind::Blank {
                self.block_bounds(i - 1)
            } else {
                (i, i)
            };
            let has_domains = self.lines[start..end]
                .iter()
                .any(|l| matches!(l.kind, LineKind::Domain(_)));
            let is_section_head = self.lines[start..end]
                .iter()
                .any(|l| l.kind == LineKind::Rule);
            if !has_domains && !is_section_head && end > start {
                // drop the block and one blank line before it
                let from = if start > 0 && self.lines[start - 1].kind == LineKind::Blank {
                    start - 1
                } else {
                    start
                };
                self.lines.drain(from..end);
                i = from;
            }
        }
        hosts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# -----------------\n# DNS problems: TLSA record lookup failure\n\n## mx.a.example\n# 2018-05-26\n#\n# evidence\n#\na.example\nb.example \n\n# -----------------\n# STARTTLS problems: TLSA records that don't match\n\n## mx.c.example\n# 20180323\nc.example\n";

    #[test]
    fn round_trip_and_interpretation() {
        let l = List::parse(SAMPLE, "t").unwrap();
        assert_eq!(l.render(), SAMPLE);
        assert_eq!(
            l.raw_entries(),
            vec!["a.example", "b.example ", "c.example"]
        );
        assert_eq!(l.entries(), vec!["a.example", "b.example", "c.example"]);
        let idx = l.lines.iter().position(|x| x.raw == "c.example").unwrap();
        assert_eq!(l.section_of(idx), Some(Section::Starttls));
        assert_eq!(l.block_hosts(idx), vec!["mx.c.example"]);
        assert!(l
            .lines
            .iter()
            .any(|x| x.kind == LineKind::Date("2018-03-23".into())));
    }

    /// Early partial lists dated a block with `## 2018-08-20`: a date, not an MX host.
    #[test]
    fn a_dated_block_header_is_a_date() {
        let l = List::parse("## 2018-08-20\n## mx.d.example\nd.example\n", "t").unwrap();
        assert_eq!(l.lines[0].kind, LineKind::Date("2018-08-20".into()));
        assert_eq!(l.block_hosts(2), vec!["mx.d.example"]);
    }

    #[test]
    fn add_and_remove_blocks() {
        let mut l = List::parse(SAMPLE, "t").unwrap();
        l.add_block(
            Section::Dns,
            &["mx.new.example".into()],
            "2026-11-28",
            &["TLSA lookup SERVFAIL".into(), "bad\nline".into()],
            &["New.Example".into()],
        )
        .unwrap();
        let text = l.render();
        let again = List::parse(&text, "t").unwrap();
        let idx = again
            .lines
            .iter()
            .position(|x| x.raw == "new.example")
            .unwrap();
        assert_eq!(again.section_of(idx), Some(Section::Dns));
        assert_eq!(again.block_hosts(idx), vec!["mx.new.example"]);
        assert!(text.contains("# bad line\n"), "{text}");
        assert!(text.find("new.example").unwrap() < text.find("STARTTLS problems").unwrap());
        let hosts = l.remove_domains(&["c.example".into()]);
        assert_eq!(hosts, vec!["mx.c.example"]);
        let t = l.render();
        assert!(
            !t.contains("mx.c.example") && !t.contains("20180323"),
            "{t}"
        );
        assert!(t.contains("STARTTLS problems"));
        // injection attempts never reach the file
        assert!(l
            .add_block(
                Section::Dns,
                &["mx.x.example".into()],
                "2026-11-28",
                &[],
                &["evil.example\nother.example may".into()]
            )
            .is_err());
    }

    #[test]
    fn malformed_line_names_source_and_line() {
        let e =
            List::parse("# ok\nfine.example\nnot a domain\n", "dane_fail_list.dat").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e
            .to_string()
            .starts_with("dane_fail_list.dat:3: malformed list line"));
    }
}
