//! `danemine tlsrpt`: RFC 8460 TLS reports from logs, optionally discovered and delivered.

use super::common::{print_out, print_stats, report_problems, LogArgs};
use crate::tlsrpt::deliver::{mime_message, post_https, roots, send_mail};
use crate::tlsrpt::discover::{discover, Rua};
use crate::tlsrpt::{Builder, Kept, Submitter};
use crate::verify::dns::{Dns, DnsMode, DnssecStatus};
use anyhow::{anyhow, bail, Context, Result};
use hickory_resolver::proto::rr::{RData, RecordType};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `danemine tlsrpt`.
#[derive(Debug, clap::Args)]
pub struct TlsrptArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    /// Directory for the report files (`sender!domain!begin!end!id.json.gz`).
    #[arg(long, default_value = "tlsrpt")]
    pub out_dir: PathBuf,
    /// `organization-name` of the reports.
    #[arg(long)]
    pub organization: String,
    /// `contact-info` of the reports (e.g. mailto:postmaster@example.net).
    #[arg(long)]
    pub contact: String,
    /// The submitter's domain (file names, TLS-Report-Submitter).
    #[arg(long)]
    pub submitter: String,
    /// `sending-mta-ip` of failure details.
    #[arg(long)]
    pub sending_ip: Option<String>,
    /// Look up `_smtp._tls` policies and TLSA records (policy-string) through this validating
    /// resolver (AD bit), or validate in-process with --trust-anchor/--nameserver.
    #[arg(long, value_name = "ADDR:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Validate in-process against these DNSKEY records (default: the IANA root KSKs).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// Nameserver for in-process validation (default: the first of /etc/resolv.conf).
    #[arg(long, value_name = "ADDR:PORT")]
    pub nameserver: Option<SocketAddr>,
    /// Discover and look up DNS (with --resolver or the in-process validator).
    #[arg(long)]
    pub lookup: bool,
    /// Deliver the reports to the discovered rua addresses (off unless asked).
    #[arg(long)]
    pub deliver: bool,
    /// Write files only, even with --deliver.
    #[arg(long)]
    pub dry_run: bool,
    /// The sendmail command for mailto: destinations (split on spaces).
    #[arg(long, default_value = "/usr/sbin/sendmail -i")]
    pub sendmail: String,
    /// The From address of report mail.
    #[arg(long)]
    pub from: Option<String>,
    /// A PEM CA bundle for https delivery (default: the system bundle).
    #[arg(long)]
    pub ca: Option<PathBuf>,
}

/// Run the command.
pub fn run(a: TlsrptArgs) -> Result<i32> {
    crate::domain::normalize(&a.submitter).map_err(|e| anyhow!("--submitter: {e}"))?;
    let inputs = a.logs.inputs()?;
    let opts = a.logs.options()?;
    let lookups = a.lookup || a.deliver;
    // Without DNS work, attempts are counted as they come and memory stays flat. With it, the
    // DANE sessions wait until the lookups are done (the rua mailboxes they find are left out
    // of the counts), kept as numbers of strings stored once.
    let mut b = Builder::default();
    let mut kept = Kept::default();
    let t = std::time::Instant::now();
    let scanned = crate::scan::scan_attempt_batches_counted(&inputs, &opts, &mut |batch| {
        for x in batch {
            match lookups {
                true => kept.push(&x),
                false => b.add(&x),
            }
        }
    })?;
    // the scan's figures, before DNS lookups and delivery take their time
    if a.logs.stats {
        print_stats("tlsrpt", scanned.lines, scanned.bytes, scanned.attempts, t);
    }
    let problems = scanned.problems;
    let mut domains: Vec<&str> = kept.sessions().map(|x| x.domain).collect();
    domains.sort_unstable();
    domains.dedup();
    let mut ruas: BTreeMap<String, Vec<Rua>> = BTreeMap::new();
    let mut tlsa: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if lookups {
        let mode = match a.resolver {
            Some(r) => DnsMode::TrustAd { resolver: r },
            None => DnsMode::Validate {
                trust_anchor: a.trust_anchor.clone(),
                nameserver: a.nameserver,
            },
        };
        // each domain's MX hosts in the order first seen
        let mut mx_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for x in kept.sessions() {
            if let Some(m) = x.mx_host {
                let v = mx_of.entry(x.domain).or_default();
                if !v.contains(&m) {
                    v.push(m);
                }
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let dns = Dns::new(&mode, Duration::from_secs(5))?;
            let (mut answered, mut unanswered) = (0usize, None);
            for &d in &domains {
                let found = discover(&dns, d).await;
                if found.status == DnssecStatus::Indeterminate {
                    let n = unanswered.as_ref().map_or(0, |(n, _)| *n);
                    unanswered = Some((n + 1, found.error.clone().unwrap_or_default()));
                } else {
                    answered += 1;
                }
                // a resolver that answers nothing would cost minutes per hundred domains
                if answered == 0 && unanswered.as_ref().is_some_and(|(n, _)| *n == 3) {
                    break;
                }
                if let Some(r) = found.ruas {
                    ruas.insert(d.to_string(), r);
                }
                for mx in mx_of.get(d).into_iter().flatten() {
                    let ans = dns
                        .lookup(&format!("_25._tcp.{mx}"), RecordType::TLSA)
                        .await;
                    if ans.status != DnssecStatus::Secure {
                        continue;
                    }
                    for r in &ans.records {
                        if let RData::TLSA(t) = r {
                            tlsa.entry(d.to_string()).or_default().push(format!(
                                "_25._tcp.{mx}. IN TLSA {} {} {} {}",
                                u8::from(t.cert_usage),
                                u8::from(t.selector),
                                u8::from(t.matching),
                                hex::encode(&t.cert_data)
                            ));
                        }
                    }
                }
            }
            if let (0, Some((_, why))) = (answered, unanswered) {
                eprintln!(
                    "danemine: no DNS lookup was answered ({why}): the reports are written \
                     without TLSA records and delivered to nobody"
                );
            }
            Ok::<(), anyhow::Error>(())
        })?;
    }
    b.skip_recipients(ruas.values().flatten().filter_map(|r| match r {
        Rua::Mailto(m) => Some(m.clone()),
        Rua::Https(_) => None,
    }));
    for x in kept.sessions() {
        b.add_session(x);
    }
    let sub = Submitter {
        organization: a.organization.clone(),
        contact: a.contact.clone(),
        domain: a.submitter.clone(),
        sending_ip: a.sending_ip.clone(),
    };
    let reports = b.reports(&sub, &tlsa);
    std::fs::create_dir_all(&a.out_dir).with_context(|| a.out_dir.display().to_string())?;
    let now = chrono::Utc::now().timestamp();
    let mut failures = 0;
    // Each file is compressed, written and synced on its own; with thousands of them that is
    // the disk's time, so they are written on every thread (the syncs overlap), and the
    // directory's entries are made durable once, after the last of them. Then, in order, each
    // is named and delivered.
    let written: Vec<(std::path::PathBuf, Vec<u8>)> = reports
        .par_iter()
        .map(|r| {
            let path = a.out_dir.join(r.file_name(&a.submitter));
            let gz = r
                .gzip()
                .and_then(|gz| crate::fsutil::write_atomic_deferred(&path, &gz).map(|()| gz))
                .with_context(|| path.display().to_string())?;
            // the compressed bytes are kept only for delivery
            let keep = if a.deliver && !a.dry_run {
                gz
            } else {
                Vec::new()
            };
            Ok((path, keep))
        })
        .collect::<Result<_>>()?;
    for (r, (path, gz)) in reports.iter().zip(&written) {
        print_out(&format!("{}\n", path.display()))?;
        if !a.deliver || a.dry_run {
            continue;
        }
        for rua in ruas.get(&r.policy_domain).into_iter().flatten() {
            let res = match rua {
                Rua::Https(url) => roots(a.ca.as_deref()).and_then(|roots| {
                    post_https(url, gz, roots, Duration::from_secs(30)).map(|status| {
                        if !(200..300).contains(&status) {
                            eprintln!("danemine: {url}: HTTP {status}");
                        }
                    })
                }),
                Rua::Mailto(to) => {
                    let from = a
                        .from
                        .clone()
                        .unwrap_or_else(|| format!("tlsrpt-noreply@{}", a.submitter));
                    let msg = mime_message(r, &a.submitter, &from, to, gz, now);
                    let cmd: Vec<String> =
                        a.sendmail.split_whitespace().map(str::to_string).collect();
                    send_mail(&cmd, to, msg.as_bytes())
                }
            };
            if let Err(e) = res {
                eprintln!("danemine: {e}");
                failures += 1;
            }
        }
    }
    if !reports.is_empty() {
        crate::fsutil::fsync_dir(&a.out_dir).with_context(|| a.out_dir.display().to_string())?;
    }
    if b.skipped_reports > 0 {
        eprintln!(
            "danemine: {} deliveries of reports themselves were left out",
            b.skipped_reports
        );
    }
    if a.deliver && !a.dry_run && ruas.is_empty() && !reports.is_empty() {
        eprintln!("danemine: no TLSRPT policy found for any reported domain");
    }
    let code = report_problems(&problems);
    if failures > 0 {
        bail!("{failures} report deliveries failed");
    }
    Ok(code)
}
