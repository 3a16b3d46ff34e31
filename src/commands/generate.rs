//! `vpce-proxy generate --audit FILE... --service SERVICE [--min-count N] [--max-chars N] [--config FILE]`:
//! an endpoint policy from an audit log, on stdout (see [`crate::rollout::generate`] for what it allows).
//!
//! stderr says every line skipped, every grant dropped, added or widened. Exit 0 with a policy; 2 for
//! an unknown service, an unreadable config or audit file, a malformed line (FILE:LINE), a log in which
//! nothing of the service succeeded, or a policy that cannot be made to fit.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::classify::Service;
use crate::config::Config;
use crate::rollout::generate::{generate, Options};
use crate::rollout::recorded::AuditReader;

/// The command's arguments, as `main.rs` parsed them.
#[derive(Debug, Clone)]
pub struct Args {
    /// Audit files, oldest first (`audit.log.2.gz audit.log.1 audit.log`).
    pub audit: Vec<PathBuf>,
    /// `ecr.api`, `ecr.dkr` or `s3`.
    pub service: String,
    /// Drop (principal, action, resource) triples seen fewer times.
    pub min_count: u64,
    /// The size limit, in characters.
    pub max_chars: usize,
    /// A vpce-proxy.toml whose `[[account]] org_id` names organizations.
    pub config: Option<PathBuf>,
}

/// Runs the command; the exit code is the contract above.
pub fn main(args: &Args) -> ExitCode {
    match run(args) {
        Ok(policy) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(policy.as_bytes()).and_then(|()| out.flush()).is_err() {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("vpce-proxy generate: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let service = Service::from_key(&args.service).ok_or_else(|| {
        format!("unknown service \"{}\": the services are ecr.api, ecr.dkr and s3", args.service)
    })?;
    let orgs = match &args.config {
        Some(path) => orgs(path)?,
        None => BTreeMap::new(),
    };
    let options =
        Options { min_count: args.min_count, max_chars: args.max_chars, orgs, ..Options::new(service) };
    let mut reader = AuditReader::new(&args.audit);
    let mut notes = Vec::new();
    let result = generate(reader.by_ref(), &options, &mut notes);
    eprint!("{}", reader.skipped());
    for note in notes {
        eprintln!("{note}");
    }
    result.map_err(|e| e.to_string())
}

/// Account -> organization from `[[account]]` (ARCHITECTURE.md §9).
fn orgs(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    Ok(config.accounts.into_iter().filter_map(|a| Some((a.id, a.org_id?))).collect())
}
