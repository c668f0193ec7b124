//! The nightly job's TOML config (see `examples/nightly.toml` for a commented one).

use super::store::{Policy, Protected, StoreError, DAY};
use super::writers::Format;
use crate::classify::TlsLevel;
use crate::model::Mta;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors reading or checking a config file.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The whole config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where state (read offsets, daily aggregates, the exclusion store, the lock) lives.
    pub state_dir: PathBuf,
    /// The logs.
    pub logs: LogsConfig,
    /// When a domain from the logs becomes a candidate for exclusion.
    #[serde(default)]
    pub candidates: CandidateConfig,
    /// Live re-verification.
    #[serde(default)]
    pub verify: VerifyConfig,
    /// Exclusion rules.
    #[serde(default)]
    pub exclusions: ExclusionConfig,
    /// Files written from the exclusion store.
    #[serde(default, rename = "output")]
    pub outputs: Vec<OutputConfig>,
    /// A danefail-format list to compare with and, optionally, to prepare pull requests for.
    #[serde(default)]
    pub danefail: Option<DanefailConfig>,
}

/// Which logs to read, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Files, directories or globs (rotated sets are read oldest first).
    pub paths: Vec<String>,
    /// Only lines of this MTA: postfix, exim or gateway (default: every MTA recognised).
    #[serde(default)]
    pub mta: Option<String>,
    /// The MTA's default TLS security level (Postfix `smtp_tls_security_level`).
    #[serde(default = "default_tls_level")]
    pub tls_level: String,
    /// Extra grammar files.
    #[serde(default)]
    pub grammars: Vec<PathBuf>,
    /// Days of daily aggregates that make up the window.
    #[serde(default = "default_window")]
    pub window_days: u32,
    /// KiB before where the last run stopped that are read again, only to restore correlation
    /// (a TLS line or a non-final-MX attempt logged before the stop, whose delivery line comes
    /// after it); attempts completed there were counted then and are not counted again.
    #[serde(default = "default_overlap")]
    pub overlap_kib: u64,
}

fn default_tls_level() -> String {
    "dane".into()
}
fn default_window() -> u32 {
    7
}
fn default_overlap() -> u64 {
    16 * 1024
}

/// Thresholds for candidates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateConfig {
    /// Minimum DANE failures in the window.
    #[serde(default = "default_min_failures")]
    pub min_failures: u64,
    /// Minimum distinct days with a DANE failure in the window.
    #[serde(default = "default_min_days")]
    pub min_days: u32,
}

fn default_min_failures() -> u64 {
    3
}
fn default_min_days() -> u32 {
    2
}

impl Default for CandidateConfig {
    fn default() -> Self {
        CandidateConfig {
            min_failures: default_min_failures(),
            min_days: default_min_days(),
        }
    }
}

/// Live re-verification settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Re-verify at all (without it nothing enters the exclusions; entries only expire).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A validating resolver (`127.0.0.1:53`) whose AD bit is trusted; without it, danemine
    /// validates DNSSEC itself from `trust_anchor` (default: the real root).
    #[serde(default)]
    pub resolver: Option<String>,
    /// Resolver to ask while validating in-process (`ip:port`).
    #[serde(default)]
    pub nameserver: Option<String>,
    /// Trust anchor file (DNSKEY or DS records in zone-file syntax).
    #[serde(default)]
    pub trust_anchor: Option<PathBuf>,
    /// SMTP port (25 except in tests).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Seconds per connection step.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Domains verified at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Re-verify the domains of the danefail list too (needed to propose removals).
    #[serde(default)]
    pub danefail_domains: bool,
    /// The name the probes greet with (EHLO); default: this host's name when fully
    /// qualified, else `danemine.invalid`.
    #[serde(default)]
    pub ehlo_name: Option<String>,
    /// The MTA refuses hosts whose TLSA records are all unusable (Postfix `dane-only`, Exim
    /// `hosts_require_dane`), so that such a host is a `tlsa-unusable` failure; default: when
    /// `logs.tls_level` is `dane-only` or `logs.mta` is `exim`.
    #[serde(default)]
    pub unusable_tlsa_refuses: Option<bool>,
}

fn yes() -> bool {
    true
}
fn default_port() -> u16 {
    25
}
fn default_timeout() -> u64 {
    20
}
fn default_concurrency() -> usize {
    16
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            enabled: true,
            resolver: None,
            nameserver: None,
            trust_anchor: None,
            port: default_port(),
            timeout_secs: default_timeout(),
            concurrency: default_concurrency(),
            danefail_domains: false,
            ehlo_name: None,
            unusable_tlsa_refuses: None,
        }
    }
}

/// Exclusion rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExclusionConfig {
    /// Never excluded: `example.org` (that name), `.example.net` (its subdomains).
    #[serde(default)]
    pub protected: Vec<String>,
    /// A confirmation older than this many hours is not accepted.
    #[serde(default = "default_max_age")]
    pub max_confirmation_age_hours: u32,
    /// Entries not re-confirmed for this many days are dropped.
    #[serde(default = "default_expiry")]
    pub expiry_days: u32,
}

fn default_max_age() -> u32 {
    24
}
fn default_expiry() -> u32 {
    30
}

impl Default for ExclusionConfig {
    fn default() -> Self {
        ExclusionConfig {
            protected: Vec::new(),
            max_confirmation_age_hours: default_max_age(),
            expiry_days: default_expiry(),
        }
    }
}

/// One output file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub path: PathBuf,
    pub format: Format,
    /// Run `postmap PATH` after a Postfix table changed.
    #[serde(default)]
    pub postmap: bool,
}

/// The danefail list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DanefailConfig {
    /// A local clone of the list's repository.
    pub repo: PathBuf,
    /// The list file inside it.
    #[serde(default = "default_list_file")]
    pub file: String,
    /// Prepare a branch, commits and a PR body after each run that changes something.
    #[serde(default)]
    pub pull_request: bool,
    /// Where the PR body is written (default: `<state_dir>/pr.md`).
    #[serde(default)]
    pub body: Option<PathBuf>,
}

fn default_list_file() -> String {
    "dane_fail_list.dat".into()
}

impl Config {
    /// Read and check a config file. Relative paths in it are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: p.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.resolve(base);
        c.check()
            .map_err(|message| ConfigError::Invalid { path: p, message })?;
        Ok(c)
    }

    /// Parse from a string (relative paths resolved against `base`).
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "config".into(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        c.resolve(base);
        c.check().map_err(|message| ConfigError::Invalid {
            path: "config".into(),
            message,
        })?;
        Ok(c)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.state_dir);
        for l in &mut self.logs.paths {
            if l != "-" && Path::new(l).is_relative() {
                *l = base.join(&*l).to_string_lossy().into_owned();
            }
        }
        for g in &mut self.logs.grammars {
            fix(g);
        }
        if let Some(t) = &mut self.verify.trust_anchor {
            fix(t);
        }
        for o in &mut self.outputs {
            fix(&mut o.path);
        }
        if let Some(d) = &mut self.danefail {
            fix(&mut d.repo);
            if let Some(b) = &mut d.body {
                fix(b);
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.logs.paths.is_empty() {
            return Err("logs.paths is empty".into());
        }
        if self.logs.paths.iter().any(|p| p == "-") {
            return Err("logs.paths: standard input cannot be read incrementally".into());
        }
        self.tls_level()?;
        self.mta()?;
        // (ten years: beyond, day numbers and times stop making sense)
        if !(1..=3660).contains(&self.logs.window_days) {
            return Err("logs.window_days must be from 1 to 3660".into());
        }
        if !(1..=3660).contains(&self.exclusions.expiry_days) {
            return Err("exclusions.expiry_days must be from 1 to 3660".into());
        }
        if self.candidates.min_failures == 0 {
            return Err("candidates.min_failures must be at least 1".into());
        }
        if self.verify.port == 0 {
            return Err("verify.port must not be 0".into());
        }
        if let Some(n) = &self.verify.ehlo_name {
            crate::verify::check_ehlo_name(n).map_err(|e| format!("verify.ehlo_name: {e}"))?;
        }
        self.policy()
            .map_err(|e| format!("exclusions.protected: {e}"))?;
        for (i, o) in self.outputs.iter().enumerate() {
            // an output must not overwrite another output, the state or a log
            let shown = o.path.display();
            if self.outputs[..i].iter().any(|p| p.path == o.path) {
                return Err(format!("output {shown} is named twice"));
            }
            let state_file = o.path.strip_prefix(&self.state_dir).is_ok_and(|rel| {
                let first = rel.iter().next().map(|c| c.to_string_lossy());
                first.is_some_and(|f| {
                    f.starts_with("state.json")
                        || f == "lock"
                        || f == "days"
                        || f.starts_with("spool.")
                })
            });
            if state_file {
                return Err(format!("output {shown} is a file of the state directory"));
            }
            let is_log = self.logs.paths.iter().any(|l| {
                Path::new(l) == o.path
                    || glob::Pattern::new(l).is_ok_and(|g| g.matches_path(&o.path))
            });
            if is_log {
                return Err(format!("output {shown} is one of the logs read"));
            }
            if o.postmap && o.format != Format::Postfix {
                return Err(format!(
                    "output {}: postmap applies to the postfix format only",
                    o.path.display()
                ));
            }
        }
        if let Some(d) = &self.danefail {
            if d.file.contains("..") || Path::new(&d.file).is_absolute() {
                return Err("danefail.file must be a path inside the repository".into());
            }
        }
        Ok(())
    }

    /// The TLS level.
    pub fn tls_level(&self) -> Result<TlsLevel, String> {
        self.logs.tls_level.parse()
    }

    /// The MTA filter.
    pub fn mta(&self) -> Result<Option<Mta>, String> {
        match self.logs.mta.as_deref() {
            None => Ok(None),
            Some("postfix") => Ok(Some(Mta::Postfix)),
            Some("exim") => Ok(Some(Mta::Exim)),
            Some("gateway") => Ok(Some(Mta::Gateway)),
            Some(o) => Err(format!(
                "logs.mta: unknown MTA {o:?} (postfix, exim, gateway)"
            )),
        }
    }

    /// The store's rules.
    pub fn policy(&self) -> Result<Policy, StoreError> {
        Ok(Policy {
            max_confirmation_age: i64::from(self.exclusions.max_confirmation_age_hours) * 3600,
            expiry: i64::from(self.exclusions.expiry_days) * DAY,
            protected: Protected::parse(&self.exclusions.protected)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_full_configs() {
        let c = Config::parse(
            "state_dir = \"state\"\n[logs]\npaths = [\"/var/log/mail.log*\"]\n",
            Path::new("/etc/danemine"),
        )
        .unwrap();
        assert_eq!(c.state_dir, Path::new("/etc/danemine/state"));
        assert_eq!(c.logs.window_days, 7);
        assert_eq!(c.candidates.min_failures, 3);
        assert!(c.verify.enabled);
        let p = c.policy().unwrap();
        assert_eq!((p.max_confirmation_age, p.expiry), (24 * 3600, 30 * DAY));

        let full = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly.toml"),
        )
        .unwrap();
        let c = Config::parse(&full, Path::new("/")).unwrap();
        assert!(!c.outputs.is_empty());
        assert!(c.policy().unwrap().protected.matches("mail.example.net"));
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let out = |path: &str, format: &str| {
            format!("[[output]]\npath = \"{path}\"\nformat = \"{format}\"\n")
        };
        let base = "state_dir = \"s\"\n[logs]\npaths = [\"logs/mail.log*\"]\n";
        for (text, want) in [
            (
                format!("{base}{}{}", out("x", "plain"), out("x", "postfix")),
                "named twice",
            ),
            (
                format!("{base}{}", out("s/state.json", "plain")),
                "state directory",
            ),
            (
                format!("{base}{}", out("logs/mail.log.1", "plain")),
                "one of the logs",
            ),
            (format!("{base}window_days = 4000000000\n"), "window_days"),
            (
                format!("{base}window_days = 3661\n"),
                "window_days must be from 1 to 3660",
            ),
        ] {
            let e = Config::parse(&text, Path::new("/etc/danemine"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        for (text, want) in [
            ("state_dir = \"s\"\n[logs]\npaths = []\n", "logs.paths is empty"),
            ("state_dir = \"s\"\n[logs]\npaths = [\"-\"]\n", "standard input"),
            (
                "state_dir = \"s\"\n[logs]\npaths = [\"x\"]\ntls_level = \"daen\"\n",
                "daen",
            ),
            // a line break would let the name carry a second SMTP command
            (
                "state_dir = \"s\"\n[logs]\npaths = [\"x\"]\n[verify]\nehlo_name = \"a.example\\r\\nMAIL FROM:<x>\"\n",
                "verify.ehlo_name",
            ),
            (
                "state_dir = \"s\"\n[logs]\npaths = [\"x\"]\n[exclusions]\nprotected = [\"a b.example\"]\n",
                "exclusions.protected",
            ),
            (
                "state_dir = \"s\"\n[logs]\npaths = [\"x\"]\n[[output]]\npath = \"p\"\nformat = \"plain\"\npostmap = true\n",
                "postfix format only",
            ),
            (
                "state_dir = \"s\"\n[logs]\npaths = [\"x\"]\n[[output]]\npath = \"p\"\nformat = \"csv\"\n",
                "unknown variant",
            ),
            ("state_dir = \"s\"\n[logs]\npaths = [\"x\"]\nbogus = 1\n", "bogus"),
        ] {
            let e = Config::parse(text, Path::new("/")).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
