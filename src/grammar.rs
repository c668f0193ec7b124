//! Grammars: what differs between MTAs, loaded from the TOML files in `grammars/`.
//!
//! The built-in grammars are embedded in the binary; `--grammar FILE` adds rules (they take
//! precedence over the built-in ones of the same MTA) or a whole new key=value grammar. The
//! engine (prefix parser, tokenizer, correlation) is code; texts and vocabularies are data.

use crate::bytesearch;
use crate::model::FailureClass;
use crate::parse::{find1, rfind1};
use crate::timefmt::{self, Stamp};
use aho_corasick::{AhoCorasick, Input, MatchKind};
use memchr::memmem;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors while loading a grammar file.
#[derive(Debug, Error)]
pub enum GrammarError {
    #[error("cannot read grammar {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("grammar {path}: {message}")]
    Syntax { path: String, message: String },
}

/// The built-in grammar files, embedded at compile time.
pub const BUILTIN: [(&str, &str); 4] = [
    (
        "grammars/prefix.toml",
        include_str!("../grammars/prefix.toml"),
    ),
    (
        "grammars/postfix.toml",
        include_str!("../grammars/postfix.toml"),
    ),
    ("grammars/exim.toml", include_str!("../grammars/exim.toml")),
    (
        "grammars/gateway.toml",
        include_str!("../grammars/gateway.toml"),
    ),
];

/// How much DANE evidence a failure text needs before it counts as a DANE failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// The text itself proves DANE.
    Dane,
    /// A DANE failure when the default TLS level implies DANE, or with DANE evidence.
    #[default]
    Level,
    /// A DANE failure only with DANE evidence for the connection.
    NeedsDane,
}

/// What a matched text means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RuleOutcome {
    #[default]
    Fail,
    NotDane,
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    text: String,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    evidence: Evidence,
    #[serde(default)]
    outcome: RuleOutcome,
}

/// One outcome text and its meaning.
#[derive(Debug, Clone)]
pub struct Rule {
    pub text: String,
    pub class: FailureClass,
    pub evidence: Evidence,
    pub outcome: RuleOutcome,
}

impl Rule {
    fn compile(r: RawRule, path: &str) -> Result<Rule, GrammarError> {
        if r.text.is_empty() {
            return Err(syntax(path, "an outcome rule has an empty text"));
        }
        let class = match (&r.class, r.outcome) {
            (Some(c), _) => c.parse().map_err(|e: String| syntax(path, &e))?,
            (None, RuleOutcome::Fail) => {
                return Err(syntax(path, &format!("rule {:?} needs a class", r.text)))
            }
            (None, _) => FailureClass::Other,
        };
        Ok(Rule {
            text: r.text,
            class,
            evidence: r.evidence,
            outcome: r.outcome,
        })
    }
}

/// A grammar's outcome rules in their order, with one automaton for all their texts: a text
/// is searched once or twice instead of once per rule.
#[derive(Debug, Clone)]
pub struct Rules {
    list: Vec<Rule>,
    /// Leftmost-first: at each position, the earliest-listed rule that matches there.
    texts: AhoCorasick,
    /// The same search without the automaton's general entry: a packed (Teddy) searcher,
    /// when the CPU and the number of rules allow one. (The general entry cost about a third
    /// of a rule search's instructions.)
    packed: Option<aho_corasick::packed::Searcher>,
    /// Per rule: whether an earlier-listed rule's text can start inside this one's text (after
    /// its first byte). When none can, the search goes on after a match instead of one byte
    /// into it.
    nested: Vec<bool>,
}

/// Whether some text of `earlier` can occur in a text at a position inside an occurrence of
/// `text`, after its first byte: as a substring of the rest, or with a start that the rest
/// ends with.
fn may_start_inside(text: &[u8], earlier: &[&[u8]]) -> bool {
    (1..text.len()).any(|o| {
        let rest = &text[o..];
        earlier.iter().any(|e| {
            if e.len() <= rest.len() {
                rest.starts_with(e)
            } else {
                e.starts_with(rest)
            }
        })
    })
}

impl Rules {
    fn new(list: Vec<Rule>, path: &str) -> Result<Rules, GrammarError> {
        let texts = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(list.iter().map(|r| r.text.as_bytes()))
            .map_err(|e| syntax(path, &format!("outcome rules: {e}")))?;
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(list.iter().map(|r| r.text.as_bytes()))
            .build();
        let all: Vec<&[u8]> = list.iter().map(|r| r.text.as_bytes()).collect();
        let nested = (0..all.len())
            .map(|k| may_start_inside(all[k], &all[..k]))
            .collect();
        Ok(Rules {
            list,
            texts,
            packed,
            nested,
        })
    }

    /// The first rule, in the grammar's order, whose text occurs anywhere in `s`.
    pub fn first(&self, s: &str) -> Option<&Rule> {
        // every position where some rule starts, each with its earliest-listed rule there
        let mut best = usize::MAX;
        let mut from = 0;
        let find = |from: usize| match &self.packed {
            Some(p) => p.find_in(
                s,
                aho_corasick::Span {
                    start: from,
                    end: s.len(),
                },
            ),
            None => self.texts.find(Input::new(s).range(from..)),
        };
        while let Some(m) = find(from) {
            let k = m.pattern().as_usize();
            best = best.min(k);
            // no earlier rule starts at the match (leftmost-first took the earliest-listed
            // there) nor before it; one inside it only where `nested` says so
            from = if self.nested.get(k).copied().unwrap_or(true) {
                m.start() + 1
            } else {
                // (an empty text, which no grammar may hold, would match without moving on)
                m.end().max(m.start() + 1)
            };
            if best == 0 || from >= s.len() {
                break;
            }
        }
        self.list.get(best)
    }

    /// `extra`'s rules, then these (a later grammar file's rules take precedence).
    fn prepend(&mut self, extra: Vec<Rule>, path: &str) -> Result<(), GrammarError> {
        let mut all = extra;
        all.append(&mut self.list);
        *self = Rules::new(all, path)?;
        Ok(())
    }

    /// The rules in order.
    #[cfg(test)]
    fn iter(&self) -> std::slice::Iter<'_, Rule> {
        self.list.iter()
    }
}

fn syntax(path: &str, message: &str) -> GrammarError {
    GrammarError::Syntax {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// Prefix grammar: timestamps, severity words and the container column separator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixGrammar {
    pub timestamps: Vec<String>,
    pub severities: Vec<String>,
    pub container_separator: String,
    /// The byte of `container_separator` that a search looks for (its first byte that is not
    /// a space: spaces are everywhere in a line) and where it lies in the separator.
    #[serde(skip)]
    container_key: (u8, usize),
    /// The separator's second byte, when the separator is a space and then a byte that is
    /// neither a space nor a digit (as `" | "`): then a line `STAMP host ...` cannot have a
    /// container column, and [`PrefixGrammar::parse_common`] may run. `None` turns it off.
    #[serde(skip)]
    common_key: Option<u8>,
    /// `timestamps`, compiled.
    #[serde(skip)]
    pub stamp_kinds: Vec<StampKind>,
}

/// A timestamp format of the prefix grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampKind {
    Rfc3339,
    Bsd,
    Exim,
}

/// Postfix grammar (see `grammars/postfix.toml`).
#[derive(Debug, Clone)]
pub struct PostfixGrammar {
    pub tag_prefix: String,
    pub delivery_agents: Vec<String>,
    pub not_attempts: Vec<String>,
    pub summary_verified: Vec<String>,
    pub summary_trusted: Vec<String>,
    pub summary_untrusted: Vec<String>,
    pub summary_anonymous: Vec<String>,
    /// Texts that prove DANE in a certificate-verification line (see
    /// [`dane_evidence`](Self::dane_evidence)); private, so that `evidence` stays its search.
    dane_evidence: Vec<String>,
    /// `dane_evidence` searched all at once (built again whenever it changes).
    evidence: AhoCorasick,
    pub rules: Rules,
    /// TLSRPT failure type (lower case, no `tlsrpt_` prefix) → class, or `None` for not-dane.
    pub tlsrpt: BTreeMap<String, Option<FailureClass>>,
}

impl PostfixGrammar {
    /// The first outcome rule whose text occurs in `s`.
    pub fn rule(&self, s: &str) -> Option<&Rule> {
        self.rules.first(s)
    }

    /// Whether one of the [`dane_evidence`](Self::dane_evidence) texts occurs in `s`.
    pub fn has_dane_evidence(&self, s: &str) -> bool {
        self.evidence.is_match(s)
    }

    /// The texts that prove DANE in a certificate-verification line.
    pub fn dane_evidence(&self) -> &[String] {
        &self.dane_evidence
    }
}

/// The search for any of `texts` (a `contains` of each, in one pass).
fn any_of(texts: &[String], path: &str) -> Result<AhoCorasick, GrammarError> {
    AhoCorasick::new(texts).map_err(|e| syntax(path, &format!("evidence texts: {e}")))
}

/// Exim grammar (see `grammars/exim.toml`).
#[derive(Debug, Clone)]
pub struct EximGrammar {
    pub tags: Vec<String>,
    pub not_attempts: Vec<String>,
    pub dane_evidence: Vec<String>,
    pub rules: Rules,
}

impl EximGrammar {
    /// The first outcome rule whose text occurs in `s`.
    pub fn rule(&self, s: &str) -> Option<&Rule> {
        self.rules.first(s)
    }
}

/// What a key=value grammar's outcome verb means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerbMeaning {
    Verified,
    NotDane,
    Unknown,
    Fail,
}

/// A key=value line grammar such as the gateway `logline:` format.
#[derive(Debug, Clone)]
pub struct KeyValueGrammar {
    pub name: String,
    pub marker: String,
    /// Precompiled search for `marker`.
    pub marker_finder: memmem::Finder<'static>,
    pub field_recipient: String,
    pub field_mode: Option<String>,
    pub field_outcome: String,
    pub field_tls: Option<String>,
    pub field_relay: Option<String>,
    pub field_dsn: Option<String>,
    pub modes: BTreeMap<String, crate::model::DaneMode>,
    pub verbs: BTreeMap<String, VerbMeaning>,
    /// Reason texts of failing verbs → class (first match wins; no match → `other`).
    pub reasons: Vec<(String, FailureClass)>,
}

impl KeyValueGrammar {
    /// What an outcome's verb means (the grammar has a handful: compared in place, not
    /// looked up through the map's ordered compares).
    pub fn verb(&self, verb: &str) -> Option<VerbMeaning> {
        let mut verbs = self.verbs.iter();
        verbs
            .find(|(v, _)| crate::parse::same(v, verb))
            .map(|(_, m)| *m)
    }

    /// The DANE mode a mode value names, as [`verb`](Self::verb) finds a verb.
    pub fn mode(&self, mode: &str) -> Option<crate::model::DaneMode> {
        let mut modes = self.modes.iter();
        modes
            .find(|(m, _)| crate::parse::same(m, mode))
            .map(|(_, d)| *d)
    }

    /// The class of a failure reason.
    pub fn reason_class(&self, reason: &str) -> FailureClass {
        self.reasons
            .iter()
            .find(|(t, _)| reason.contains(t.as_str()))
            .map(|(_, c)| *c)
            .unwrap_or(FailureClass::Other)
    }
}

/// All grammars in force for a run.
#[derive(Debug, Clone)]
pub struct Grammars {
    pub prefix: PrefixGrammar,
    pub postfix: PostfixGrammar,
    pub exim: EximGrammar,
    pub keyvalue: Vec<KeyValueGrammar>,
}

#[derive(Deserialize)]
struct Kind {
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    #[serde(default)]
    verified: Vec<String>,
    #[serde(default)]
    trusted: Vec<String>,
    #[serde(default)]
    untrusted: Vec<String>,
    #[serde(default)]
    anonymous: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEvidence {
    #[serde(default)]
    dane: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostfix {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    tag_prefix: Option<String>,
    #[serde(default)]
    delivery_agents: Vec<String>,
    #[serde(default)]
    not_attempts: Vec<String>,
    #[serde(default)]
    summary: RawSummary,
    #[serde(default)]
    evidence: RawEvidence,
    #[serde(default)]
    outcome: Vec<RawRule>,
    #[serde(default)]
    tlsrpt: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExim {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    not_attempts: Vec<String>,
    #[serde(default)]
    evidence: RawEvidence,
    #[serde(default)]
    outcome: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFields {
    recipient: String,
    outcome: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    relay: Option<String>,
    #[serde(default)]
    dsn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReason {
    text: String,
    class: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyValue {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    fields: Option<RawFields>,
    #[serde(default)]
    modes: BTreeMap<String, String>,
    #[serde(default)]
    verbs: BTreeMap<String, VerbMeaning>,
    #[serde(default)]
    reasons: Vec<RawReason>,
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &str) -> Result<T, GrammarError> {
    toml::from_str(text).map_err(|e| syntax(path, &e.to_string().replace('\n', " ")))
}

fn parse_mode(s: &str, path: &str) -> Result<crate::model::DaneMode, GrammarError> {
    use crate::model::DaneMode;
    Ok(match s {
        "strict" => DaneMode::Strict,
        "opportunistic" => DaneMode::Opportunistic,
        "none" => DaneMode::None,
        "unknown" => DaneMode::Unknown,
        _ => return Err(syntax(path, &format!("unknown mode {s:?}"))),
    })
}

fn compile_rules(raw: Vec<RawRule>, path: &str) -> Result<Vec<Rule>, GrammarError> {
    raw.into_iter().map(|r| Rule::compile(r, path)).collect()
}

/// Prepend `extra` to `base` so that added entries take precedence, without duplicates.
fn prepend<T: PartialEq>(base: &mut Vec<T>, extra: Vec<T>) {
    let mut v: Vec<T> = extra;
    for b in base.drain(..) {
        if !v.contains(&b) {
            v.push(b);
        }
    }
    *base = v;
}

impl Grammars {
    /// The built-in grammars.
    pub fn builtin() -> Grammars {
        // The built-in files are part of the binary and covered by tests: failing here is a
        // build defect, not an input error.
        match Self::from_sources(&BUILTIN.map(|(p, t)| (p.to_string(), t.to_string()))) {
            Ok(g) => g,
            Err(e) => panic!("built-in grammar is invalid: {e}"),
        }
    }

    /// Built-ins plus the given grammar files (later files take precedence).
    pub fn load(extra: &[PathBuf]) -> Result<Grammars, GrammarError> {
        let mut sources: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for p in extra {
            let text = std::fs::read_to_string(p).map_err(|source| GrammarError::Read {
                path: p.clone(),
                source,
            })?;
            sources.push((p.display().to_string(), text));
        }
        Self::from_sources(&sources)
    }

    fn from_sources(sources: &[(String, String)]) -> Result<Grammars, GrammarError> {
        let mut prefix: Option<PrefixGrammar> = None;
        let mut postfix: Option<PostfixGrammar> = None;
        let mut exim: Option<EximGrammar> = None;
        let mut keyvalue: Vec<KeyValueGrammar> = Vec::new();
        for (path, text) in sources {
            let kind: Kind = parse_toml(text, path)?;
            match kind.kind.as_deref() {
                None => {
                    let mut p: PrefixGrammar = parse_toml(text, path)?;
                    if p.container_separator.is_empty() {
                        return Err(syntax(path, "empty container_separator"));
                    }
                    p.container_key = separator_key(p.container_separator.as_bytes());
                    p.common_key = common_key(p.container_separator.as_bytes());
                    for t in &p.timestamps {
                        p.stamp_kinds.push(match t.as_str() {
                            "rfc3339" => StampKind::Rfc3339,
                            "bsd" => StampKind::Bsd,
                            "exim" => StampKind::Exim,
                            _ => {
                                return Err(syntax(
                                    path,
                                    &format!("unknown timestamp format {t:?}"),
                                ))
                            }
                        });
                    }
                    prefix = Some(p);
                }
                Some("postfix") => {
                    let r: RawPostfix = parse_toml(text, path)?;
                    let _ = (&r.name, &r.kind);
                    let mut tlsrpt = BTreeMap::new();
                    for (k, v) in r.tlsrpt {
                        let c = if v == "not-dane" {
                            None
                        } else {
                            Some(v.parse().map_err(|e: String| syntax(path, &e))?)
                        };
                        tlsrpt.insert(k.to_ascii_lowercase(), c);
                    }
                    let rules = compile_rules(r.outcome, path)?;
                    match postfix.as_mut() {
                        None => {
                            postfix = Some(PostfixGrammar {
                                tag_prefix: r.tag_prefix.unwrap_or_else(|| "postfix".into()),
                                delivery_agents: r.delivery_agents,
                                not_attempts: r.not_attempts,
                                summary_verified: r.summary.verified,
                                summary_trusted: r.summary.trusted,
                                summary_untrusted: r.summary.untrusted,
                                summary_anonymous: r.summary.anonymous,
                                evidence: any_of(&r.evidence.dane, path)?,
                                dane_evidence: r.evidence.dane,
                                rules: Rules::new(rules, path)?,
                                tlsrpt,
                            })
                        }
                        Some(g) => {
                            if let Some(t) = r.tag_prefix {
                                g.tag_prefix = t;
                            }
                            prepend(&mut g.delivery_agents, r.delivery_agents);
                            prepend(&mut g.not_attempts, r.not_attempts);
                            prepend(&mut g.summary_verified, r.summary.verified);
                            prepend(&mut g.summary_trusted, r.summary.trusted);
                            prepend(&mut g.summary_untrusted, r.summary.untrusted);
                            prepend(&mut g.summary_anonymous, r.summary.anonymous);
                            prepend(&mut g.dane_evidence, r.evidence.dane);
                            g.evidence = any_of(&g.dane_evidence, path)?;
                            g.rules.prepend(rules, path)?;
                            g.tlsrpt.extend(tlsrpt);
                        }
                    }
                }
                Some("exim") => {
                    let r: RawExim = parse_toml(text, path)?;
                    let _ = (&r.name, &r.kind);
                    let rules = compile_rules(r.outcome, path)?;
                    match exim.as_mut() {
                        None => {
                            exim = Some(EximGrammar {
                                tags: r.tags,
                                not_attempts: r.not_attempts,
                                dane_evidence: r.evidence.dane,
                                rules: Rules::new(rules, path)?,
                            })
                        }
                        Some(g) => {
                            prepend(&mut g.tags, r.tags);
                            prepend(&mut g.not_attempts, r.not_attempts);
                            prepend(&mut g.dane_evidence, r.evidence.dane);
                            g.rules.prepend(rules, path)?;
                        }
                    }
                }
                Some("keyvalue") => {
                    let r: RawKeyValue = parse_toml(text, path)?;
                    let _ = &r.kind;
                    let mut modes = BTreeMap::new();
                    for (k, v) in &r.modes {
                        modes.insert(k.clone(), parse_mode(v, path)?);
                    }
                    let mut reasons = Vec::new();
                    for rr in r.reasons {
                        let c: FailureClass =
                            rr.class.parse().map_err(|e: String| syntax(path, &e))?;
                        reasons.push((rr.text, c));
                    }
                    if let Some(g) = keyvalue.iter_mut().find(|g| g.name == r.name) {
                        if let Some(m) = r.marker {
                            if m.is_empty() {
                                return Err(syntax(path, "empty marker"));
                            }
                            g.marker_finder = memmem::Finder::new(m.as_bytes()).into_owned();
                            g.marker = m;
                        }
                        g.modes.extend(modes);
                        g.verbs.extend(r.verbs);
                        prepend(&mut g.reasons, reasons);
                    } else {
                        let fields = r
                            .fields
                            .ok_or_else(|| syntax(path, "a new keyvalue grammar needs [fields]"))?;
                        let marker = r
                            .marker
                            .ok_or_else(|| syntax(path, "a new keyvalue grammar needs a marker"))?;
                        if marker.is_empty() {
                            return Err(syntax(path, "empty marker"));
                        }
                        keyvalue.push(KeyValueGrammar {
                            name: r.name,
                            marker_finder: memmem::Finder::new(marker.as_bytes()).into_owned(),
                            marker,
                            field_recipient: fields.recipient,
                            field_mode: fields.mode,
                            field_outcome: fields.outcome,
                            field_tls: fields.tls,
                            field_relay: fields.relay,
                            field_dsn: fields.dsn,
                            modes,
                            verbs: r.verbs,
                            reasons,
                        });
                    }
                }
                Some(other) => {
                    return Err(syntax(
                        path,
                        &format!("unknown grammar kind {other:?} (postfix, exim, keyvalue)"),
                    ))
                }
            }
        }
        Ok(Grammars {
            prefix: prefix.ok_or_else(|| syntax("grammars", "no prefix grammar"))?,
            postfix: postfix.ok_or_else(|| syntax("grammars", "no postfix grammar"))?,
            exim: exim.ok_or_else(|| syntax("grammars", "no exim grammar"))?,
            keyvalue,
        })
    }
}

/// The parts of a log line before the MTA's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefix<'a> {
    pub stamp: Option<Stamp>,
    /// Whether the stamp is Exim's own (`2019-02-28 13:51:09`) rather than a syslog stamp.
    pub exim_stamp: bool,
    pub host: Option<&'a str>,
    /// The syslog tag's program (`postfix/smtp`, `postfix-out/smtp`, `exim`).
    pub program: Option<&'a str>,
    /// The tag's pid as written (`30582`, or anonymised `xxxxx`).
    pub pid: Option<&'a str>,
    pub message: &'a str,
}

/// A line of the common shape (see [`PrefixGrammar::parse_common`]): its stamp and where its
/// parts lie, as byte ranges `(start, end)` of the line. The host, a space, the program, `[`
/// and the pid follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonShape {
    pub stamp: Stamp,
    pub host: (usize, usize),
    pub program: (usize, usize),
    pub pid: (usize, usize),
    /// Where the message starts; `None` when the tag ends the line, whose message is then
    /// not a part of it (as `split_token` gives it).
    pub message: Option<usize>,
}

impl CommonShape {
    /// The same shape with its places `by` bytes further on (found in a part of the line that
    /// starts there).
    fn shifted(self, by: usize) -> CommonShape {
        let on = |(from, to): (usize, usize)| (from + by, to + by);
        CommonShape {
            host: on(self.host),
            program: on(self.program),
            pid: on(self.pid),
            message: self.message.map(|m| m + by),
            ..self
        }
    }

    /// The line's prefix, as the general parse gives it.
    pub fn prefix<'a>(&self, line: &'a str) -> Option<Prefix<'a>> {
        let part = |(from, to): (usize, usize)| line.get(from..to);
        Some(Prefix {
            stamp: Some(self.stamp),
            exim_stamp: false,
            host: Some(part(self.host)?),
            program: Some(part(self.program)?),
            pid: Some(part(self.pid)?),
            message: match self.message {
                Some(m) => line.get(m..)?,
                None => "",
            },
        })
    }
}

/// Bytes of a syslog tag's program name: letters, digits and `/`, `-`, `_`, `.`.
static TAG_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.');
        c += 1;
    }
    t
};

fn is_tag_char(c: u8) -> bool {
    TAG_CHAR[c as usize]
}

/// `program[pid]:` or `program:` → (program, pid).
fn parse_tag(tok: &str) -> Option<(&str, Option<&str>)> {
    let t = tok.strip_suffix(':')?;
    if let Some(body) = t.strip_suffix(']') {
        let open = rfind1(body, b'[')?;
        let prog = &body[..open];
        let pid = &body[open + 1..];
        if prog.is_empty() || pid.is_empty() || !prog.bytes().all(is_tag_char) {
            return None;
        }
        if !pid.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        Some((prog, Some(pid)))
    } else {
        if t.is_empty()
            || !t.bytes().all(is_tag_char)
            || !t.bytes().any(|c| c.is_ascii_alphabetic())
        {
            return None;
        }
        Some((t, None))
    }
}

/// The byte of a (non-empty) separator to look for, and where it lies: its first byte that is
/// not a space, since spaces are everywhere in a line.
fn separator_key(sep: &[u8]) -> (u8, usize) {
    let at = sep.iter().position(|&c| c != b' ').unwrap_or(0);
    (sep.get(at).copied().unwrap_or(b' '), at)
}

/// See [`PrefixGrammar::common_key`].
fn common_key(sep: &[u8]) -> Option<u8> {
    match *sep {
        [b' ', k, ..] if k != b' ' && !k.is_ascii_digit() => Some(k),
        _ => None,
    }
}

/// Where `sep` first occurs in `head`: the key byte is looked for 16 bytes at a time, and
/// each hit checked against the whole separator.
fn find_separator(head: &[u8], sep: &[u8], (key, key_at): (u8, usize)) -> Option<usize> {
    let mut from = key_at;
    while let Some(i) = head.get(from..).and_then(|h| bytesearch::find(h, key)) {
        let start = from + i - key_at;
        if head.get(start..start + sep.len()) == Some(sep) {
            return Some(start);
        }
        from += i + 1;
    }
    None
}

/// Whether `b` can start with a stamp of any kind: each starts with a digit or a month's
/// capital, and has a space at 3 (BSD syslog `Nov  1`) or a dash at 4 (RFC 3339, Exim).
#[inline(always)]
fn may_start_with_stamp(b: &[u8]) -> bool {
    b.first().is_some_and(|c| {
        matches!(
            c,
            b'0'..=b'9' | b'J' | b'F' | b'M' | b'A' | b'S' | b'O' | b'N' | b'D'
        )
    }) && (b.get(3) == Some(&b' ') || b.get(4) == Some(&b'-'))
}

/// Classes of the 16 bytes of `block`: bit `i` of the first mask is set when byte `i` is a
/// tag character ([`is_tag_char`]), of the second when it is ASCII alphanumeric.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tag_classes16(block: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics are always available; the
    // unaligned load reads exactly the 16 bytes that `block` borrows.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        // lo..=hi as a signed compare: bytes from 0x80 are negative, below every bound here
        let within = |x: __m128i, lo: u8, hi: u8| {
            _mm_and_si128(
                _mm_cmpgt_epi8(x, _mm_set1_epi8((lo - 1) as i8)),
                _mm_cmpgt_epi8(_mm_set1_epi8((hi + 1) as i8), x),
            )
        };
        let letter = within(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', b'z');
        let alnum = _mm_or_si128(letter, within(v, b'0', b'9'));
        // `-`, `.`, `/` and the digits are 0x2d..=0x39
        let tag = _mm_or_si128(
            _mm_or_si128(letter, within(v, b'-', b'9')),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8)),
        );
        (
            _mm_movemask_epi8(tag) as u32,
            _mm_movemask_epi8(alnum) as u32,
        )
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn tag_classes16(block: &[u8; 16]) -> (u32, u32) {
    let (mut tag, mut alnum) = (0u32, 0u32);
    for (i, &c) in block.iter().enumerate() {
        tag |= u32::from(is_tag_char(c)) << i;
        alnum |= u32::from(c.is_ascii_alphanumeric()) << i;
    }
    (tag, alnum)
}

/// The first 32 bytes of `s`; a shorter `s` is copied into `padded` (zeros after it).
#[inline(always)]
fn first_32<'a>(s: &'a [u8], padded: &'a mut [u8; 32]) -> &'a [u8; 32] {
    match s.first_chunk::<32>() {
        Some(w) => w,
        None => {
            let n = s.len().min(32);
            padded[..n].copy_from_slice(&s[..n]);
            padded
        }
    }
}

/// A syslog tag `program[pid]:` at the start of `s`, as (program length, pid length), when its
/// `]:` ends within 32 bytes; `None` otherwise (also for the tags that [`parse_tag`] takes but
/// this does not, so a caller falls back to it).
#[inline(always)]
fn tag_at_start(s: &[u8]) -> Option<(usize, usize)> {
    // zero bytes are neither tag characters nor brackets: the tag ends in `s` or not at all
    let mut padded = [0u8; 32];
    let w = first_32(s, &mut padded);
    let (lo, hi) = halves(w);
    let ((t0, a0), (t1, a1)) = (tag_classes16(lo), tag_classes16(hi));
    let tag = u64::from(t0) | u64::from(t1) << 16;
    let alnum = u64::from(a0) | u64::from(a1) << 16;
    let prog = (!tag).trailing_zeros() as usize;
    if prog == 0 || w.get(prog) != Some(&b'[') {
        return None;
    }
    let pid = (!(alnum >> (prog + 1))).trailing_zeros() as usize;
    let close = prog + 1 + pid;
    (pid > 0 && w.get(close..close + 2) == Some(b"]:")).then_some((prog, pid))
}

fn split_token(s: &str) -> (&str, &str) {
    match find1(s, b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// The last timestamp parsed, for the next line of the same second: consecutive log lines
/// mostly share their stamp up to the fraction of a second. A hit gives exactly what parsing
/// would, because each kind's result (and every other kind's failure) depends only on the
/// bytes compared: the 19 bytes up to the seconds, the fraction's separator and the offset
/// after the fraction for RFC 3339 (the fraction's digits only need to be digits, as many as
/// before: the offset that follows starts with no digit), the first 15 bytes for BSD syslog.
/// Stamps longer than 32 bytes are not kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampMemo {
    /// The stamp as written (zero after it).
    text: [u8; 32],
    /// Bit `i`: byte `i` of a line must be `text[i]`.
    same: u32,
    /// Bit `i`: byte `i` of a line must be an ASCII digit (a fraction's).
    digits: u32,
    len: u8,
    /// Where the two digits of the seconds are.
    secs_at: u8,
    /// Whether the kept stamp is Exim's (its end is found again on each line: what may
    /// follow its time is optional).
    exim: bool,
    /// `None`: nothing kept.
    stamp: Option<Stamp>,
}

/// The memo of [`PrefixGrammar::parse_common`]: the [`StampMemo`], and the last few line shapes
/// taken, each as its bytes from the space after the stamp through the `[` of the tag
/// (` mail01 postfix/smtp[`). Consecutive lines mostly come from a few programs of one host:
/// a line that repeats a kept shape's bytes after its stamp has that shape's host and program,
/// and only its pid and what follows are read. Shapes longer than 32 bytes are not kept. A
/// memo serves one grammar (a kept shape passed that grammar's checks).
#[derive(Debug, Clone, Copy, Default)]
pub struct PrefixMemo {
    stamp: StampMemo,
    shapes: [Shape; SHAPES_KEPT],
    /// Numbers the shapes as they are kept (the first is 1).
    kept: u32,
    /// The shape of the line that `parse_common` took last, as (slot, number).
    current: Option<(usize, u32)>,
    /// The slot of the shape last repeated or kept.
    last: usize,
    /// Set when the last line that the common shape declined had no container column either:
    /// then only every 64th such line is searched for one (see
    /// [`PrefixGrammar::parse_common_contained`]).
    no_container: bool,
    /// Lines that the common shape declined.
    declined: u32,
}

/// How many line shapes a [`PrefixMemo`] keeps.
pub const SHAPES_KEPT: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    /// ` host program[`, zero after it.
    text: [u8; 32],
    /// Bytes of `text` that a line repeats after its stamp (zero: no shape kept).
    len: u8,
    /// Where the host's space is in `text` (the program starts after it).
    host_end: u8,
    /// Its number (see [`PrefixMemo::shape`]).
    number: u32,
}

impl PrefixMemo {
    /// The shape that the last line taken by [`PrefixGrammar::parse_common`] repeated or
    /// left: its slot (below [`SHAPES_KEPT`]) and its number, which changes when the slot
    /// takes another shape. `None` when that line's shape is not kept. What a caller derives
    /// from a line's host and program alone can so be kept per slot while the number stays.
    pub fn shape(&self) -> Option<(usize, u32)> {
        self.current
    }

    /// The kept shape whose bytes `b` repeats from `n` on: its `text` length and host end.
    #[inline(always)]
    fn shape_at(&self, b: &[u8], n: usize) -> Option<(usize, usize, usize)> {
        let mut padded = [0u8; 32];
        let w = first_32(b.get(n..)?, &mut padded);
        let hit = |i: usize| {
            let s = self.shapes.get(i)?;
            let need = bits(0, s.len as usize);
            (need != 0 && same_bytes32(w, &s.text) & need == need).then_some((
                i,
                s.len as usize,
                s.host_end as usize,
            ))
        };
        // mostly the shape of the line before
        let last = self.last;
        hit(last).or_else(|| (0..SHAPES_KEPT).filter(|&i| i != last).find_map(hit))
    }

    /// Keep the shape `b[n..end]` (the host's space at `host_end`), when it fits.
    fn keep(&mut self, b: &[u8], n: usize, host_end: usize, end: usize) {
        self.current = None;
        let Some(text) = b.get(n..end).filter(|t| t.len() <= 32) else {
            return;
        };
        self.kept = self.kept.wrapping_add(1).max(1);
        let slot = self.kept as usize % SHAPES_KEPT;
        let mut s = Shape {
            text: [0; 32],
            len: text.len() as u8,
            host_end: (host_end - n) as u8,
            number: self.kept,
        };
        s.text[..text.len()].copy_from_slice(text);
        if let Some(dst) = self.shapes.get_mut(slot) {
            *dst = s;
            self.current = Some((slot, s.number));
            self.last = slot;
        }
    }
}

/// Where an RFC 3339 stamp's offset starts: after the seconds and any fraction (as
/// [`timefmt::parse_rfc3339`] reads them).
fn fraction_end(b: &[u8]) -> usize {
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    i
}

/// Bits `from..to` of a `u32` (`to <= 32`).
fn bits(from: usize, to: usize) -> u32 {
    let upto = |n: usize| 1u32.checked_shl(n as u32).map_or(u32::MAX, |b| b - 1);
    upto(to) & !upto(from)
}

/// For 16 bytes `v` and `t`: bit `i` of the first mask is set when `v[i] == t[i]`, of the
/// second when `v[i]` is an ASCII digit.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn same_and_digits16(v: &[u8; 16], t: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics are always available; the
    // unaligned loads read exactly the 16 bytes that `v` and `t` borrow.
    unsafe {
        let x = _mm_loadu_si128(v.as_ptr().cast::<__m128i>());
        let y = _mm_loadu_si128(t.as_ptr().cast::<__m128i>());
        // '0'..='9' as a signed compare: bytes from 0x80 are negative, below both bounds
        let digit = _mm_and_si128(
            _mm_cmpgt_epi8(x, _mm_set1_epi8((b'0' - 1) as i8)),
            _mm_cmpgt_epi8(_mm_set1_epi8((b'9' + 1) as i8), x),
        );
        (
            _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) as u32,
            _mm_movemask_epi8(digit) as u32,
        )
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn same_and_digits16(v: &[u8; 16], t: &[u8; 16]) -> (u32, u32) {
    let (mut same, mut digits) = (0u32, 0u32);
    for (i, (a, b)) in v.iter().zip(t).enumerate() {
        same |= u32::from(a == b) << i;
        digits |= u32::from(a.is_ascii_digit()) << i;
    }
    (same, digits)
}

/// The two halves of 32 bytes.
#[inline(always)]
fn halves(a: &[u8; 32]) -> (&[u8; 16], &[u8; 16]) {
    let (lo, hi) = a.split_first_chunk::<16>().unwrap_or((&[0; 16], &[]));
    (lo, hi.first_chunk::<16>().unwrap_or(&[0; 16]))
}

/// [`same_and_digits16`] for 32 bytes.
#[inline(always)]
fn same_and_digits(v: &[u8; 32], t: &[u8; 32]) -> (u32, u32) {
    let ((v0, v1), (t0, t1)) = (halves(v), halves(t));
    let (s0, d0) = same_and_digits16(v0, t0);
    let (s1, d1) = same_and_digits16(v1, t1);
    (s0 | s1 << 16, d0 | d1 << 16)
}

/// Bit `i` set when `v[i] == t[i]`, for 32 bytes.
#[inline(always)]
fn same_bytes32(v: &[u8; 32], t: &[u8; 32]) -> u32 {
    same_and_digits(v, t).0
}

impl StampMemo {
    /// The kept stamp when `b` starts with one that parses the same; or one second of the same
    /// minute, which is kept then. A stamp's result depends on its seconds only through
    /// their two digits: they are digits, at most 60, and add `min(seconds, 59)`.
    #[inline(always)]
    fn get(&mut self, b: &[u8]) -> Option<(Stamp, usize, bool)> {
        let stamp = self.stamp?;
        // a stamp's bytes are not zero: a shorter line fails the comparison
        let mut padded = [0u8; 32];
        let w = first_32(b, &mut padded);
        let (same, digits) = same_and_digits(w, &self.text);
        // an Exim stamp ends where its optional parts do: the kept one's bytes up to its
        // end say nothing of a fraction or an offset that the line has and it had not
        if self.exim && timefmt::exim_tail(b).0 != self.len as usize {
            return None;
        }
        if same & self.same == self.same && digits & self.digits == self.digits {
            return Some((stamp, self.len as usize, self.exim));
        }
        let at = self.secs_at as usize;
        let secs = 3u32 << at;
        let want = self.digits | secs;
        if (same | secs) & self.same != self.same || digits & want != want {
            return None;
        }
        let two = |t: &[u8; 32]| {
            let d = |i: usize| u32::from(t.get(i).map_or(0, |c| c.wrapping_sub(b'0')));
            d(at) * 10 + d(at + 1)
        };
        let (old, new) = (two(&self.text), two(w));
        if new > 60 {
            return None;
        }
        let stamp = Stamp {
            secs: stamp.secs - old.min(59) + new.min(59),
            ..stamp
        };
        if let (Some(dst), Some(src)) = (self.text.get_mut(at..at + 2), w.get(at..at + 2)) {
            dst.copy_from_slice(src);
            self.stamp = Some(stamp);
        }
        Some((stamp, self.len as usize, self.exim))
    }

    fn put(&mut self, kind: StampKind, b: &[u8], stamp: Stamp, n: usize) {
        self.stamp = None;
        let (same, digits, secs_at) = match kind {
            StampKind::Rfc3339 => {
                // the fraction's digits (after its separator at 19) may differ
                let i = fraction_end(b);
                let d = if i > 19 { bits(20, i) } else { 0 };
                (bits(0, n) & !d, d, 17)
            }
            StampKind::Bsd => (bits(0, 15), 0, 13),
            StampKind::Exim => {
                // `YYYY-MM-DD hh:mm:ss`, then maybe a fraction's digits, maybe ` +hhmm`
                let i = match b.get(19) {
                    Some(b'.') => fraction_end(b),
                    _ => 19,
                };
                let d = if i > 19 { bits(20, i) } else { 0 };
                (bits(0, n) & !d, d, 17)
            }
        };
        let (Some(src), Some(dst)) = (b.get(..n), self.text.get_mut(..n)) else {
            return;
        };
        dst.copy_from_slice(src);
        self.text[n..].fill(0);
        self.same = same;
        self.digits = digits;
        self.secs_at = secs_at;
        self.len = n as u8;
        self.exim = kind == StampKind::Exim;
        self.stamp = Some(stamp);
    }
}

impl PrefixGrammar {
    fn container_at(&self, head: &[u8]) -> Option<usize> {
        find_separator(
            head,
            self.container_separator.as_bytes(),
            self.container_key,
        )
    }

    fn stamp(&self, s: &str, memo: &mut StampMemo) -> Option<(Stamp, usize, bool)> {
        let b = s.as_bytes();
        if let Some(hit) = memo.get(b) {
            return Some(hit);
        }
        for t in &self.stamp_kinds {
            let r = match t {
                StampKind::Rfc3339 => timefmt::parse_rfc3339(b).map(|(s, n)| (s, n, false)),
                StampKind::Bsd => timefmt::parse_bsd(b).map(|(s, n)| (s, n, false)),
                StampKind::Exim => timefmt::parse_exim(b).map(|(s, n)| (s, n, true)),
            };
            if let Some((st, n, _)) = r {
                memo.put(*t, b, st, n);
                return r;
            }
        }
        None
    }

    /// [`stamp`](Self::stamp) when it finds an RFC 3339 or BSD stamp, else `None`, without
    /// trying the other kinds: a stamp's kinds exclude each other (RFC 3339 has a `T` at 10
    /// where Exim has a space, BSD starts with a month's name), so the first kind that parses
    /// is the only one.
    /// (Out of line: with the memo, it runs once a minute of log, or for other shapes.)
    #[cold]
    #[inline(never)]
    fn syslog_stamp(&self, b: &[u8], memo: &mut StampMemo) -> Option<(Stamp, usize)> {
        if !may_start_with_stamp(b) {
            return None;
        }
        for &t in &self.stamp_kinds {
            let r = match t {
                StampKind::Rfc3339 => timefmt::parse_rfc3339(b),
                StampKind::Bsd => timefmt::parse_bsd(b),
                StampKind::Exim => continue,
            };
            if let Some((st, n)) = r {
                memo.put(t, b, st, n);
                return r;
            }
        }
        None
    }

    /// Split a line into its prefix and message. Lines without a recognisable prefix come back
    /// with everything in `message`.
    pub fn parse<'a>(&self, line: &'a str) -> Prefix<'a> {
        self.parse_depth(line, 0, &mut StampMemo::default())
    }

    /// [`parse`](Self::parse), reusing the timestamp of the line before when it is the same.
    pub fn parse_memo<'a>(&self, line: &'a str, memo: &mut PrefixMemo) -> Prefix<'a> {
        match self
            .parse_common_contained(line, memo)
            .and_then(|c| c.prefix(line))
        {
            Some(p) => p,
            None => self.parse_general(line, memo),
        }
    }

    /// [`parse_memo`](Self::parse_memo) for a line whose common shape has just been tried
    /// ([`parse_common_contained`](Self::parse_common_contained)) and declined: the general
    /// parse alone, with the memo's timestamp.
    pub fn parse_general<'a>(&self, line: &'a str, memo: &mut PrefixMemo) -> Prefix<'a> {
        self.parse_depth(line, 0, &mut memo.stamp)
    }

    /// [`parse_common`](Self::parse_common), and where that declines and the line starts with
    /// a container column (`mailu-smtp  | `), the common shape after it, its places counted in
    /// the whole line: what the general path reads after the column is what the common shape
    /// reads there, when that does not decline. May decline a line with a column where lines
    /// without one came before (the general path then reads it).
    pub fn parse_common_contained(&self, line: &str, memo: &mut PrefixMemo) -> Option<CommonShape> {
        if let Some(c) = self.parse_common(line, memo) {
            return Some(c);
        }
        // (a log of other lines, Exim's say, is not searched for the column on every line)
        memo.declined = memo.declined.wrapping_add(1);
        if memo.no_container && !memo.declined.is_multiple_of(64) {
            return None;
        }
        let rest = self.after_container(line);
        memo.no_container = rest.is_none();
        let rest = rest?;
        let by = rest.as_ptr() as usize - line.as_ptr() as usize;
        self.parse_common(rest, memo).map(|c| c.shifted(by))
    }

    /// What follows a container column at the start of `s` (`postfix         | `: a name
    /// without spaces, the separator, spaces), if it has one.
    fn after_container<'a>(&self, s: &'a str) -> Option<&'a str> {
        let head = s.get(..s.len().min(80))?;
        let i = self.container_at(head.as_bytes())?;
        let name = s[..i].trim_end();
        (!name.is_empty() && !name.contains(' '))
            .then(|| s[i + self.container_separator.len()..].trim_start())
    }

    /// The common shape `STAMP host program[pid]: message` (RFC 3339 or BSD stamp, one space
    /// each between stamp, host and tag), parsed without the general path's detours: what
    /// [`parse_depth`](Self::parse_depth) finds, or `None` for any other line. It declines
    /// when the general path could find another meaning:
    /// - a container column: the separator starts with a space and then `common_key`, and the
    ///   stamp holds no space followed by that byte, so only a separator right after the stamp
    ///   could be one; the byte after the stamp's space is neither a space nor `common_key`;
    /// - a severity column: the host does not start with a capital;
    /// - a host-less tag: the host does not end with `:`;
    /// - a doubled prefix: the message cannot start with a stamp.
    pub fn parse_common(&self, line: &str, memo: &mut PrefixMemo) -> Option<CommonShape> {
        memo.current = None;
        let key = self.common_key?;
        let b = line.as_bytes();
        let (stamp, n) = match memo.stamp.get(b) {
            Some((stamp, n, false)) => (stamp, n),
            // (an Exim stamp: not the common shape)
            Some((_, _, true)) => return None,
            None => self.syslog_stamp(b, &mut memo.stamp)?,
        };
        // a kept shape: its bytes passed every check below up to the tag's `[`
        if let Some((slot, len, host_end)) = memo.shape_at(b, n) {
            let (h1, p0) = (n + host_end, n + host_end + 1);
            let d0 = n + len;
            // the pid's alphanumeric run, as `tag_at_start` finds it in its 32 bytes from p0
            let mut padded = [0u8; 16];
            let block = match b.get(d0..).and_then(|r| r.first_chunk::<16>()) {
                Some(block) => block,
                None => {
                    let r = b.get(d0..).unwrap_or_default();
                    padded[..r.len()].copy_from_slice(r);
                    &padded
                }
            };
            let pid = (!tag_classes16(block).1).trailing_zeros() as usize;
            if pid < 16 {
                let d1 = d0 + pid;
                let shape = (pid > 0 && d1 + 2 <= p0 + 32 && b.get(d1..d1 + 2) == Some(b"]:"))
                    .then(|| self.common_tail(b, stamp, (n + 1, h1), (p0, d0 - 1), d1))
                    .flatten();
                if shape.is_some() {
                    memo.current = memo.shapes.get(slot).map(|s| (slot, s.number));
                    memo.last = slot;
                }
                return shape;
            }
        }
        if b.get(n) != Some(&b' ') {
            return None;
        }
        let h0 = n + 1;
        let c = *b.get(h0)?;
        if !c.is_ascii_graphic() || c == key || c.is_ascii_uppercase() {
            return None;
        }
        let h1 = h0 + bytesearch::find(b.get(h0..)?, b' ')?;
        if b.get(h1 - 1) == Some(&b':') {
            return None;
        }
        let p0 = h1 + 1;
        let (prog, pid) = tag_at_start(b.get(p0..)?)?;
        let (d0, d1) = (p0 + prog + 1, p0 + prog + 1 + pid);
        let shape = self.common_tail(b, stamp, (h0, h1), (p0, p0 + prog), d1)?;
        memo.keep(b, n, h1, d0);
        Some(shape)
    }

    /// The rest of [`parse_common`](Self::parse_common) once the tag's `]:` is found at `d1`:
    /// a space or the end after it, and a message that cannot start with a stamp.
    #[inline(always)]
    fn common_tail(
        &self,
        b: &[u8],
        stamp: Stamp,
        host: (usize, usize),
        program: (usize, usize),
        d1: usize,
    ) -> Option<CommonShape> {
        // `]:` lies in the line, then a space or the end
        let message = match b.get(d1 + 2) {
            None => None,
            Some(b' ') => Some(d1 + 3),
            Some(_) => return None,
        };
        if may_start_with_stamp(b.get(message.unwrap_or(d1 + 2)..)?) {
            return None;
        }
        Some(CommonShape {
            stamp,
            host,
            program,
            pid: (program.1 + 1, d1),
            message,
        })
    }

    fn parse_depth<'a>(&self, line: &'a str, depth: u8, memo: &mut StampMemo) -> Prefix<'a> {
        // container column: "postfix         | 2021-..."
        let mut s = self.after_container(line).unwrap_or(line);
        let mut p = Prefix {
            message: s,
            ..Prefix::default()
        };
        if let Some((st, n, exim)) = self.stamp(s, memo) {
            p.stamp = Some(st);
            p.exim_stamp = exim;
            s = s[n..].trim_start_matches(' ');
        }
        // severity column: "INFO    postfix/smtp[138]: ..."
        let (mut t1, mut r1) = split_token(s);
        if (3..=8).contains(&t1.len())
            && t1.bytes().all(|c| c.is_ascii_uppercase())
            && self.severities.iter().any(|w| w == t1)
        {
            s = r1.trim_start_matches(' ');
            (t1, r1) = split_token(s);
        }
        // host and tag
        if let Some((prog, pid)) = parse_tag(t1) {
            p.program = Some(prog);
            p.pid = pid;
            s = r1;
        } else {
            let (t2, r2) = split_token(r1);
            if !t1.is_empty() && !t1.ends_with(':') {
                if let Some((prog, pid)) = parse_tag(t2) {
                    p.host = Some(t1);
                    p.program = Some(prog);
                    p.pid = pid;
                    s = r2;
                }
            }
        }
        p.message = s;
        // a forwarded container line: the message starts with another syslog prefix (skip the
        // attempt for messages that cannot start with a stamp, such as "6954A7365A: to=<...")
        if p.program.is_some() && depth < 3 && may_start_with_stamp(s.as_bytes()) {
            let inner_has_stamp = self.stamp(s, memo).is_some_and(|(_, _, exim)| !exim);
            if inner_has_stamp {
                let inner = self.parse_depth(s, depth + 1, memo);
                if inner.program.is_some() {
                    return Prefix {
                        stamp: p.stamp.or(inner.stamp),
                        exim_stamp: false,
                        ..inner
                    };
                }
            }
        }
        p
    }
}

/// Read a grammar file name for error messages.
pub fn describe(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load() {
        let g = Grammars::builtin();
        assert!(g.postfix.delivery_agents.contains(&"smtp".to_string()));
        assert_eq!(g.keyvalue.len(), 1);
        assert_eq!(g.keyvalue[0].name, "gateway");
        let r = g
            .postfix
            .rule("status=deferred (TLS is required, but was not offered by host x[1.2.3.4])")
            .unwrap();
        assert_eq!(r.class, FailureClass::NoStarttls);
        assert_eq!(r.evidence, Evidence::Level);
        assert_eq!(
            g.postfix.tlsrpt["tlsa_invalid"],
            Some(FailureClass::TlsaUnusable)
        );
    }

    #[test]
    fn extra_grammar_takes_precedence_and_extends_vocabulary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("site.toml");
        std::fs::write(
            &p,
            "name = \"gateway\"\nkind = \"keyvalue\"\n[[reasons]]\ntext = \"TLSA record mismatch\"\nclass = \"other\"\n[[reasons]]\ntext = \"Bad MX cert\"\nclass = \"cert-mismatch\"\n",
        )
        .unwrap();
        let g = Grammars::load(&[p]).unwrap();
        let gw = &g.keyvalue[0];
        assert_eq!(gw.reason_class("TLSA record mismatch"), FailureClass::Other);
        assert_eq!(
            gw.reason_class("Bad MX cert seen"),
            FailureClass::CertMismatch
        );
        assert_eq!(
            gw.reason_class("STARTTLS not offered"),
            FailureClass::NoStarttls
        );
    }

    #[test]
    fn bad_grammar_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.toml");
        std::fs::write(
            &p,
            "kind = \"postfix\"\n[[outcome]]\ntext = \"x\"\nclass = \"nonsense\"\n",
        )
        .unwrap();
        let e = Grammars::load(std::slice::from_ref(&p))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.toml") && e.contains("nonsense"), "{e}");
        std::fs::write(&p, "kind = \"sendmail\"\n").unwrap();
        assert!(Grammars::load(&[p])
            .unwrap_err()
            .to_string()
            .contains("unknown grammar kind"));
    }

    proptest::proptest! {
        /// The rule found is the first one in the grammar's order whose text occurs anywhere,
        /// with texts that overlap, nest and repeat (one that starts inside another's match
        /// must be seen too).
        #[test]
        fn the_first_rule_in_order_wins(
            texts in proptest::collection::vec(proptest::sample::select(vec![
                "ab", "b", "abc", "bca", "ca", "TLS is required", "is required, but", "c a",
            ]), 1..6),
            text in proptest::collection::vec(proptest::sample::select(b"abcTLS isrequd,".to_vec()), 0..40),
        ) {
            let list: Vec<Rule> = texts
                .iter()
                .map(|t| Rule {
                    text: t.to_string(),
                    class: FailureClass::Other,
                    evidence: Evidence::Level,
                    outcome: RuleOutcome::Fail,
                })
                .collect();
            let rules = Rules::new(list, "test").unwrap();
            // the automaton's search too, which runs where no packed searcher can be built
            let mut general = rules.clone();
            general.packed = None;
            let text = String::from_utf8(text).unwrap();
            for t in [text.clone(), format!("{text}TLS is required, but"), format!("bca{text}abc")] {
                let want = texts.iter().position(|r| t.contains(r));
                for rules in [&rules, &general] {
                    let got = rules.first(&t).map(|r| rules.iter().position(|x| std::ptr::eq(x, r)).unwrap());
                    proptest::prop_assert_eq!(got, want, "{:?} in {:?}", texts, t);
                }
            }
        }
    }

    proptest::proptest! {
        /// The separator search finds what a plain substring search finds, for separators with
        /// and without leading spaces, or of spaces only.
        #[test]
        fn separator_search_is_a_substring_search(
            head in proptest::collection::vec(proptest::sample::select(b" |a:".to_vec()), 0..90),
            sep in proptest::sample::select(vec![" | ", "|", "  ", " :: ", "a|", " "]),
        ) {
            let sep = sep.as_bytes();
            let want = head.windows(sep.len()).position(|w| w == sep);
            proptest::prop_assert_eq!(find_separator(&head, sep, separator_key(sep)), want);
        }
    }

    /// A seeded picker of indices below `m` (a small LCG: tests stay reproducible).
    fn picker(seed: u64) -> impl FnMut(usize) -> usize {
        let mut x = seed;
        move |m| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as usize) % m
        }
    }

    /// The quick test before looking for a doubled prefix lets through every stamp that a
    /// parser accepts (over stamps of every kind, and random bytes around their shapes).
    #[test]
    fn stamp_filter_keeps_every_stamp() {
        let mut next = picker(11);
        let shapes = [
            "2026-11-01T00:00:07.123+01:00 ",
            "2019-02-28 13:51:09 ",
            "Nov  1 00:00:07 ",
            "Dec 31 23:59:59 ",
            "6954A7365A: to=<a@b.c>",
            "Feb 29 12:00:00 ",
        ];
        let alphabet = b"0123456789-: TJFMASONDabcelnoprtuvy";
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut b = shapes[next(shapes.len())].as_bytes().to_vec();
            for _ in 0..next(3) {
                let i = next(b.len());
                b[i] = alphabet[next(alphabet.len())];
            }
            let parsed = timefmt::parse_rfc3339(&b).is_some()
                || timefmt::parse_bsd(&b).is_some()
                || timefmt::parse_exim(&b).is_some();
            if parsed {
                accepted += 1;
                assert!(
                    may_start_with_stamp(&b),
                    "{:?}",
                    String::from_utf8_lossy(&b)
                );
            }
        }
        assert!(accepted > 10_000, "{accepted}");
        assert!(!may_start_with_stamp(b"6954A7365A: to=<a@b.c>"));
        assert!(!may_start_with_stamp(b"Anonymous TLS connection"));
    }

    /// Parsing with the memo of the lines before gives what parsing each line alone gives,
    /// over random sequences of stamps that share heads but differ in fraction, offset, kind
    /// or a doubled prefix.
    #[test]
    fn stamp_memo_changes_nothing() {
        let g = Grammars::builtin();
        let heads = [
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:01",
            "2026-11-01T00:00:59",
            "2026-11-01T00:00:60",
            "2026-11-01T00:00:61",
            "2026-11-01T00:00:1x",
            "2026-11-01T00:01:07",
            "2026-02-30T00:00:01",
            "Nov  1 00:00:00",
            "Nov  1 00:00:01",
            "Nov  1 00:00:60",
            "Nov  1 00:00:75",
            "Nov  1 00:00:4:",
            "Nov 11 00:00:01",
            "2026-11-01 00:00:00",
            "2026-11-01 00:00:01",
            "2026-11-01 00:00:59",
            "2026-11-01 00:00:60",
            "2026-11-01 00:00:1x",
            "2026-11-01 00:01:07",
            "2026-02-30 00:00:01",
        ];
        let fractions = ["", ".5", ".082005", ",25", ".", ".123456789", ".1234567"];
        let offsets = [
            "+00:00", "Z", "+0100", "-05:30", "+01:0", "", "+99:00", " +0100", " -0500", " +01",
            "", "",
        ];
        let rests = [
            " mail postfix/smtp[1]: Verified TLS connection",
            " postfix/smtp[2]: 3C1D8C1D28: to=<a@b.c>",
            " mailu-smtp[840]: Aug 26 08:06:18 mail postfix/smtp[38144]: warning: x",
            " mailu-smtp[840]: 2026-11-01T00:00:00.1+00:00 mail postfix/smtp[3]: x",
            " 1wtYVW-0000000GFxD-3Ryp => logs@myip.gr R=x",
            "",
        ];
        let mut next = picker(7);
        let mut memo = PrefixMemo::default();
        let (mut hits, mut exim_hits) = (0, 0);
        for _ in 0..40_000 {
            let line = format!(
                "{}{}{}{}",
                heads[next(heads.len())],
                fractions[next(fractions.len())],
                offsets[next(offsets.len())],
                rests[next(rests.len())]
            );
            let mut before = memo;
            let with = g.prefix.parse_memo(&line, &mut memo);
            if let Some((_, _, exim)) = before.stamp.get(line.as_bytes()) {
                hits += 1;
                exim_hits += usize::from(exim);
            }
            assert_eq!(with, g.prefix.parse(&line), "{line}");
        }
        assert!(hits > 1000, "the memo was used {hits} times");
        assert!(
            exim_hits > 200,
            "the memo was used {exim_hits} times for Exim stamps"
        );
    }

    /// The tag classes of the vector code are the byte tables', for every byte at every
    /// position of a block.
    #[test]
    fn tag_classes_are_the_tables() {
        for c in 0..=255u8 {
            for at in 0..16 {
                let mut block = [b'['; 16];
                block[at] = c;
                let (tag, alnum) = tag_classes16(&block);
                assert_eq!(tag >> at & 1 == 1, is_tag_char(c), "{c:#x} at {at}");
                assert_eq!(
                    alnum >> at & 1 == 1,
                    c.is_ascii_alphanumeric(),
                    "{c:#x} at {at}"
                );
                assert_eq!(tag & !(1 << at), 0);
            }
        }
    }

    /// Lines of real shapes (generator, corpus), with stamps of every kind, container and
    /// severity columns, host-less tags, doubled prefixes and other messages.
    const SHAPES: [&str; 18] = [
        "2026-11-01T00:00:00.082005+00:00 mail01 postfix/smtp[20637]: 06C6477375: to=<u9@yahoo.com>, relay=none",
        "2026-11-01T00:00:00.031808+00:00 mail01 postfix-out/smtp[20728]: Trusted TLS connection established",
        "2026-11-28T19:27:32+0000 host postfix/qmgr[1]: 4XyZ: removed",
        "2026-11-01T00:00:07Z mx postfix/smtpd[3007]: connect from unknown[198.51.100.23]",
        "Nov  1 00:00:00 mail01 postfix/smtp[20735]: sNTw2gyR4Gt2Ngj: to=<u0@yahoo.com>, relay=mx1",
        "Apr 09 09:29:47 mail2 postfix-out/smtp[16549]: CA certificate verification failed for x",
        "Jan 17 13:01:58 hz-relay01 postfix/smtp[42498]: warning: smtp_tls_policy_maps",
        "postfix         | 2021-01-24T14:43:35.880327+00:00 INFO    postfix/smtp[138]: Untrusted TLS",
        "2024-12-30T12:16:32.052694+01:00 WARNING postfix/smtp[1204]: warning: TLS library problem: x",
        "Aug 26 06:06:18 mail.mydomain.de mailu-smtp[840]: Aug 26 08:06:18 mail postfix/smtp[38144]: warning: x",
        "2026-11-01T00:00:00.1+00:00 mail mailu-smtp[840]: 2026-11-01T00:00:00.1+00:00 mail postfix/smtp[3]: x",
        "Feb  2 12:15:21 postfix/smtp[1520]: 30E4E7461347: Server certificate not verified",
        "Sep 24 03:23:34 pf sm-mta[20342]: STARTTLS=server, relay=lists.sourceforge.net [216.34.181.88]",
        "2019-02-28 13:51:09 10HmaX-000000005vi-0000 => t@mxdane512ee.test.ex R=client",
        "postfix/smtp[11338]: 74F8C10009EA: to=<klingmannm@gmail.com>, relay=none",
        "Jul 24 04:38:17 mail postfix/smtp[xxxxx]: Mar  1 20:26 is no stamp",
        "2026-11-01T00:00:00.031808+00:00 mail01 postfix-out/smtp[20728]:",
        "mailu-smtp  | 2026-11-01T00:00:00.082005+00:00 mail01 postfix/smtp[20637]: 06C6477375: x",
    ];

    /// Bytes that change a prefix's meaning when put into one.
    const MUTANTS: &[u8] = b" |[]:0123456789-+.,TZzNovJFINFOWARNmailpstfx/_\t\xc3";

    /// One line of `SHAPES`, changed at up to four places near its start: a byte replaced,
    /// inserted or removed, or the line cut there.
    fn mutated(shape: usize, edits: &[(usize, u8, usize)]) -> String {
        let mut b = SHAPES[shape % SHAPES.len()].as_bytes().to_vec();
        for &(at, op, byte) in edits {
            if b.is_empty() {
                break;
            }
            let at = at % b.len().min(90);
            let c = MUTANTS[byte % MUTANTS.len()];
            match op % 8 {
                0..=2 => b[at] = c,
                3..=5 => b.insert(at, c),
                6 => {
                    b.remove(at);
                }
                _ => b.truncate(at),
            }
        }
        String::from_utf8_lossy(&b).into_owned()
    }

    proptest::proptest! {
        /// The common shape's parse is the general path's, or declines: on real and mutated
        /// lines, alone and in sequences that share the stamp memo.
        #[test]
        fn common_shape_is_the_general_path(
            lines in proptest::collection::vec(
                (0usize..SHAPES.len(), proptest::collection::vec((0usize..200, 0u8..8, 0usize..64), 0..4)),
                1..12,
            ),
        ) {
            let g = Grammars::builtin();
            let mut memo = PrefixMemo::default();
            for (shape, edits) in &lines {
                let line = mutated(*shape, edits);
                let general = g.prefix.parse_depth(&line, 0, &mut StampMemo::default());
                if let Some(c) = g.prefix.parse_common(&line, &mut PrefixMemo::default()) {
                    let p = c.prefix(&line);
                    proptest::prop_assert_eq!(p, Some(general), "{}", line);
                    // callers find the message by its place in the line
                    let inside = |m: &str| line.as_bytes().as_ptr_range().contains(&m.as_ptr())
                        || m.as_ptr() == line.as_bytes().as_ptr_range().end;
                    proptest::prop_assert_eq!(p.map(|p| inside(p.message)), Some(inside(general.message)));
                }
                proptest::prop_assert_eq!(g.prefix.parse_memo(&line, &mut memo), general, "{}", line);
            }
        }
    }

    /// A kept shape is taken only where the line alone would be: a tag whose `]:` ends past
    /// 32 bytes from the program declines (the general path reads it) with or without it.
    #[test]
    fn kept_shapes_keep_the_tag_window() {
        let g = Grammars::builtin();
        let stamp = "2026-11-01T00:00:00.082005+00:00";
        let short = format!("{stamp} h postfix-outbound-relay/smtp[1]: x");
        let long = format!("{stamp} h postfix-outbound-relay/smtp[12345]: x");
        let mut memo = PrefixMemo::default();
        assert!(g.prefix.parse_common(&short, &mut memo).is_some());
        assert!(memo.shape().is_some());
        assert_eq!(g.prefix.parse_common(&long, &mut memo), None);
        assert_eq!(g.prefix.parse_memo(&long, &mut memo), g.prefix.parse(&long));
        assert_eq!(g.prefix.parse(&long).pid, Some("12345"));
        // the same shape with another pid and message is taken from the memo
        let kept = memo.kept;
        let other = format!("{stamp} h postfix-outbound-relay/smtp[77]: y z");
        let c = g.prefix.parse_common(&other, &mut memo);
        assert_eq!(memo.kept, kept);
        assert_eq!(
            c.and_then(|c| c.prefix(&other)),
            Some(g.prefix.parse(&other))
        );
    }

    /// The same over many seeded lines, counting how often the common shape applies (so the
    /// property above is not met by always declining).
    #[test]
    fn common_shape_is_taken_and_exact() {
        let g = Grammars::builtin();
        let mut next = picker(23);
        let mut memo = PrefixMemo::default();
        let (mut taken, mut mutated_taken, mut repeated, mut contained) = (0, 0, 0, 0);
        for _ in 0..100_000 {
            let edits: Vec<_> = (0..next(4))
                .map(|_| (next(200), next(8) as u8, next(64)))
                .collect();
            let line = mutated(next(SHAPES.len()), &edits);
            let general = g.prefix.parse(&line);
            let kept = memo.kept;
            let common = g.prefix.parse_common(&line, &mut memo);
            // the memo changes no result, not even declining
            assert_eq!(
                common,
                g.prefix.parse_common(&line, &mut PrefixMemo::default()),
                "{line}"
            );
            if let Some(c) = common {
                assert_eq!(c.prefix(&line), Some(general), "{line}");
                taken += 1;
                mutated_taken += usize::from(!edits.is_empty());
                // a kept shape repeated: nothing new kept
                repeated += usize::from(memo.kept == kept && memo.shape().is_some());
            }
            // after a container column, the common shape reads what the general path does
            if common.is_none() {
                let c = g
                    .prefix
                    .parse_common_contained(&line, &mut PrefixMemo::default());
                if let Some(c) = c {
                    assert_eq!(c.prefix(&line), Some(general), "{line}");
                    contained += 1;
                }
            }
            assert_eq!(g.prefix.parse_memo(&line, &mut memo), general, "{line}");
        }
        assert!(
            taken > 20_000 && mutated_taken > 10_000 && repeated > 10_000 && contained > 2_000,
            "{taken} {mutated_taken} {repeated} {contained}"
        );
        // a container or severity column, a doubled prefix and a host-less tag decline
        for shape in [7, 8, 9, 10, 11, 15] {
            assert!(
                g.prefix.parse_common(SHAPES[shape], &mut memo).is_none(),
                "{shape}"
            );
        }
        // with a separator whose second byte is a digit, the common shape is off
        let mut p = g.prefix.clone();
        p.common_key = common_key(b" 1 ");
        assert!(p.parse_common(SHAPES[0], &mut memo).is_none());
        assert_eq!(common_key(b" | "), Some(b'|'));
        assert_eq!(common_key(b"|"), None);
        assert_eq!(common_key(b"  |"), None);
    }

    fn pre(line: &str) -> Prefix<'_> {
        Grammars::builtin().prefix.parse(line)
    }

    #[test]
    fn prefixes() {
        let p = pre("Jul 24 04:38:17 mail postfix/smtp[30582]: Verified TLS connection");
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("mail"), Some("postfix/smtp"), Some("30582"))
        );
        assert_eq!(p.message, "Verified TLS connection");
        let p = pre(
            "Feb  2 12:15:21 postfix/smtp[1520]: 30E4E7461347: Server certificate not verified",
        );
        assert_eq!((p.host, p.program), (None, Some("postfix/smtp")));
        let p = pre("postfix         | 2021-01-24T14:43:33.171226+00:00 INFO    postfix/smtp[138]: 3C1D8C1D28: Server certificate not trusted");
        assert_eq!((p.program, p.pid), (Some("postfix/smtp"), Some("138")));
        assert_eq!(p.message, "3C1D8C1D28: Server certificate not trusted");
        let p = pre("2024-12-30T12:16:32.052694+01:00 WARNING postfix/smtp[1204]: warning: TLS library problem: x");
        assert_eq!(p.message, "warning: TLS library problem: x");
        let p = pre("Aug 26 06:06:18 mail.mydomain.de mailu-smtp[840]: Aug 26 08:06:18 mail postfix/smtp[38144]: warning: TLS policy lookup");
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("mail"), Some("postfix/smtp"), Some("38144"))
        );
        assert_eq!(p.stamp.unwrap().secs, 6 * 3600 + 6 * 60 + 18);
        let p = pre("postfix/smtp[xxxxx]: Untrusted TLS connection");
        assert_eq!(p.pid, Some("xxxxx"));
        let p = pre("mx postfix/smtp[108]: CF6F54EA: to=<info@b.com>");
        assert_eq!((p.host, p.program), (Some("mx"), Some("postfix/smtp")));
        let p = pre("2026-08-11 01:30:13 1wtYVW-0000000GFxD-3Ryp => logs@myip.gr R=x");
        assert!(p.exim_stamp && p.program.is_none());
        assert_eq!(p.message, "1wtYVW-0000000GFxD-3Ryp => logs@myip.gr R=x");
        let p = pre(
            "2025-02-10T14:32:18.582649+00:00 mail postfix/smtpd-amavis/smtpd[949]: connect from x",
        );
        assert_eq!(p.program, Some("postfix/smtpd-amavis/smtpd"));
        let p = pre("Verified TLS connection established to x[1.2.3.4]:25: TLSv1");
        assert!(p.program.is_none() && p.stamp.is_none());
    }
}
