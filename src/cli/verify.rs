//! `danemine verify` and `danemine reverify`: live re-verification.

use crate::verify::{verify_domains_blocking, DnsMode, DomainReport, VerifyOptions, VerifyVerdict};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// DNS and SMTP options shared by `verify` and `reverify`.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// Trust the AD bit of this validating resolver (as Postfix does), e.g. 127.0.0.1:53.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["trust_anchor", "nameserver"])]
    pub resolver: Option<SocketAddr>,
    /// Validate in-process against these DNSKEY records (default: the IANA root KSKs).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// Nameserver for in-process validation (default: the first of /etc/resolv.conf).
    #[arg(long, value_name = "ADDR:PORT")]
    pub nameserver: Option<SocketAddr>,
    /// SMTP port to connect to (TLSA is always looked up at _25._tcp).
    #[arg(long, default_value_t = 25)]
    pub port: u16,
    /// Check DANE-TA chains this many days ahead.
    #[arg(long, default_value_t = 0)]
    pub days: u32,
    /// Connect and read timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Domains verified at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// human or json.
    #[arg(long, default_value = "human")]
    pub format: String,
    /// The sending MTA refuses hosts whose TLSA records are all unusable (Postfix `dane-only`,
    /// Exim `hosts_require_dane`): such a host is `tlsa-unusable`. Without it, `not-dane` when
    /// TLS works (RFC 7672 §2.2, Postfix `dane`)
    #[arg(long)]
    pub unusable_tlsa_refuses: bool,
    /// The name to greet with (EHLO); default: this host's name when fully qualified (as
    /// Postfix's myhostname), else danemine.invalid
    #[arg(long, value_name = "NAME", value_parser = crate::verify::check_ehlo_name)]
    pub ehlo_name: Option<String>,
}

impl LiveArgs {
    /// The verifier options.
    pub fn options(&self) -> VerifyOptions {
        let dns = match self.resolver {
            Some(r) => DnsMode::TrustAd { resolver: r },
            None => DnsMode::Validate {
                trust_anchor: self.trust_anchor.clone(),
                nameserver: self.nameserver,
            },
        };
        VerifyOptions {
            dns,
            port: self.port,
            connect_timeout: Duration::from_secs(self.timeout),
            read_timeout: Duration::from_secs(self.timeout),
            deadline: Duration::from_secs(self.timeout * 3),
            dns_timeout: Duration::from_secs(self.timeout.clamp(1, 5)),
            concurrency: self.concurrency,
            days: self.days,
            unusable_tlsa_refuses: self.unusable_tlsa_refuses,
            ehlo_name: self
                .ehlo_name
                .clone()
                .unwrap_or_else(crate::verify::default_ehlo_name),
            ..VerifyOptions::default()
        }
    }
}

/// Arguments of `danemine verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Domains to verify.
    #[arg(required = true)]
    pub domains: Vec<String>,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// Arguments of `danemine reverify`.
#[derive(Debug, clap::Args)]
pub struct ReverifyArgs {
    /// A list (one domain a line, `#` comments; a first line `domain` is a header, as in the
    /// files of `compare --out-dir`), the JSON of `danemine compare --format json` (its
    /// `domains.failing`), or a JSON array of domain names.
    #[arg(long)]
    pub candidates: PathBuf,
    #[command(flatten)]
    pub live: LiveArgs,
}

fn print(reports: &[DomainReport], format: &str) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    match format {
        "json" => writeln!(w, "{}", serde_json::to_string_pretty(reports)?)?,
        _ => {
            for r in reports {
                writeln!(w, "{}: {} ({} ms)", r.domain, r.verdict.as_str(), r.millis)?;
                writeln!(
                    w,
                    "  MX RRset: {:?}{}",
                    r.mx_dnssec,
                    if r.implicit_mx {
                        " (no MX: implicit)"
                    } else {
                        ""
                    }
                )?;
                if r.mx.is_empty() {
                    writeln!(w, "  {}", r.detail)?;
                }
                for m in &r.mx {
                    writeln!(
                        w,
                        "  MX {} {}: {} (addresses {:?}, TLSA {:?})",
                        m.preference,
                        m.host,
                        m.verdict.as_str(),
                        m.address_dnssec,
                        m.tlsa_dnssec
                    )?;
                    for t in &m.tlsa {
                        writeln!(w, "    TLSA {t}")?;
                    }
                    if !m.detail.is_empty() {
                        writeln!(w, "    {}", m.detail)?;
                    }
                    for a in &m.addresses {
                        writeln!(w, "    {} {}: {}", a.address, a.verdict.as_str(), a.detail)?;
                        if let Some(s) = &a.spki_sha256 {
                            writeln!(
                                w,
                                "      cert sha256 {} spki sha256 {s}",
                                a.cert_sha256.as_deref().unwrap_or("-")
                            )?;
                        }
                    }
                }
            }
        }
    }
    w.flush()?;
    let unanswered =
        |r: &crate::verify::DomainReport| r.mx_dnssec == crate::verify::DnssecStatus::Indeterminate;
    if !reports.is_empty() && reports.iter().all(unanswered) {
        eprintln!(
            "danemine: no MX lookup was answered (timeout or SERVFAIL): the resolver may be \
             down or cut off, so nothing was verified"
        );
    }
    Ok(if reports.iter().any(|r| r.verdict.is_failure()) {
        1
    } else {
        0
    })
}

fn check_format(f: &str) -> Result<()> {
    if f != "human" && f != "json" {
        bail!("--format: unknown format {f:?} (human, json)");
    }
    Ok(())
}

fn normalized(domains: &[String]) -> Result<Vec<String>> {
    domains
        .iter()
        .map(|d| crate::domain::normalize_owned(d).map_err(|e| anyhow!("{d:?}: {e}")))
        .collect()
}

/// Run `verify`.
pub fn run_verify(a: VerifyArgs) -> Result<i32> {
    check_format(&a.live.format)?;
    let domains = normalized(&a.domains)?;
    let reports = verify_domains_blocking(&domains, &a.live.options())?;
    print(&reports, &a.live.format)
}

/// Whether a first line is a CSV header: its first field is exactly `domain`.
fn is_domain_header(line: &str) -> bool {
    line.split([',', ' ', '\t']).next() == Some("domain")
}

/// Candidate domains from a list file (a first line `domain` is a header, as in the files of
/// `compare --out-dir`) or `compare --format json` output.
pub fn read_candidates(text: &str, name: &str) -> Result<Vec<String>> {
    let t = text.trim_start();
    let raw: Vec<String> = if t.starts_with('{') || t.starts_with('[') {
        let v: serde_json::Value =
            serde_json::from_str(t).with_context(|| format!("{name}: not JSON"))?;
        let arr = v
            .get("domains")
            .and_then(|d| d.get("failing"))
            .or_else(|| v.get("failing_domains"))
            .or_else(|| v.get("failing").filter(|f| f.is_array()))
            .unwrap_or(&v);
        arr.as_array()
            .ok_or_else(|| {
                anyhow!(
                    "{name}: no list of domains (domains.failing, failing_domains, or an array)"
                )
            })?
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("{name}: {x} is not a string"))
            })
            .collect::<Result<_>>()?
    } else {
        let mut lines = t.lines().peekable();
        // the header of the lists `compare --out-dir` writes
        if lines.peek().is_some_and(|l| is_domain_header(l)) {
            lines.next();
        }
        lines
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    let mut out = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let n = crate::domain::normalize_owned(d)
            .map_err(|e| anyhow!("{name}: entry {}: {d:?}: {e}", i + 1))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Run `reverify`.
pub fn run_reverify(a: ReverifyArgs) -> Result<i32> {
    check_format(&a.live.format)?;
    let text = std::fs::read_to_string(&a.candidates)
        .with_context(|| a.candidates.display().to_string())?;
    let domains = read_candidates(&text, &a.candidates.display().to_string())?;
    let reports = verify_domains_blocking(&domains, &a.live.options())?;
    let _ = VerifyVerdict::DaneOk;
    print(&reports, &a.live.format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_inputs() {
        assert_eq!(
            read_candidates("# c\na.example\nB.example extra\n\na.example\n", "f").unwrap(),
            ["a.example", "b.example"]
        );
        assert_eq!(
            read_candidates(
                r#"{"failing": 2, "domains": {"failing": ["x.example", "y.example"]}}"#,
                "f"
            )
            .unwrap(),
            ["x.example", "y.example"]
        );
        assert_eq!(
            read_candidates(r#"["z.example"]"#, "f").unwrap(),
            ["z.example"]
        );
        assert!(read_candidates("bad domain here\nnot_ok.example\n", "f").is_err());
    }

    #[test]
    fn a_domain_header_is_skipped_only_on_the_first_line() {
        assert_eq!(
            read_candidates("domain\na.example\nb.example\n", "f").unwrap(),
            ["a.example", "b.example"]
        );
        // anywhere else it is a bad entry, and so are other headers
        let later = read_candidates("a.example\ndomain\n", "f").unwrap_err();
        assert!(later.to_string().contains("entry 2: \"domain\""), "{later}");
        assert!(read_candidates("domains\na.example\n", "f").is_err());
        assert!(read_candidates("Domain\na.example\n", "f").is_err());
    }
}
