//! `vpce-proxy replay --audit FILE... --policy SERVICE=FILE... [--config FILE] [--json]`: which recorded
//! requests a candidate endpoint policy would decide differently (ARCHITECTURE.md §10).
//!
//! Exit 0 when no request that was allowed becomes denied, 1 when one does, 2 on bad input. The log is
//! streamed; memory is bounded by the number of groups of changes, not by the log's length.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::authorize::Authorizer;
use crate::classify::{Permission, Service};
use crate::load::{self, Fingerprints, LoadError};
use crate::policy::validate::PolicyKind;
use crate::rollout::recorded::{AuditReader, Recorded};
use crate::rollout::replay::{change_json, Tally};

/// Why replay could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// `--policy` is not `SERVICE=FILE` with a service key.
    #[error("--policy {0:?}: write SERVICE=FILE with SERVICE one of ecr.api, ecr.dkr, s3")]
    PolicyArg(String),
    /// The config or a policy could not be loaded (FILE:LINE:COL where there is one).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A policy file could not be read.
    #[error("{0}: cannot read: {1}")]
    Read(PathBuf, std::io::Error),
    /// The audit log is unreadable or has a line that is not an audit line.
    #[error("{0}")]
    Audit(String),
}

/// Runs replay and prints its report; the exit code follows the module's rule.
pub fn main(audit: &[PathBuf], policies: &[String], config: Option<&Path>, json: bool) -> ExitCode {
    match replay(audit, policies, config, json) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(error) => {
            eprintln!("vpce-proxy replay: {error}");
            ExitCode::from(2)
        }
    }
}

/// The authorizer of `config` with each `--policy SERVICE=FILE` in place of that service's endpoint
/// policy, loaded and linted as `run` loads policies.
fn authorizer(policies: &[String], config: Option<&Path>) -> Result<Authorizer, ReplayError> {
    let (config, mut loaded) = load::load(config, &mut Fingerprints::default())?;
    for arg in policies {
        let (service, file) = arg.split_once('=').ok_or_else(|| ReplayError::PolicyArg(arg.clone()))?;
        let service = Service::from_key(service).ok_or_else(|| ReplayError::PolicyArg(arg.clone()))?;
        let path = PathBuf::from(file);
        let bytes = crate::files::read(&path).map_err(|e| ReplayError::Read(path.clone(), e))?;
        loaded.replace_endpoint(service, load::compile(&path, &bytes, PolicyKind::Endpoint)?);
    }
    Ok(Authorizer::new(&config, loaded))
}

/// Returns whether a request that was allowed is denied under the given policies.
fn replay(
    audit: &[PathBuf],
    policies: &[String],
    config: Option<&Path>,
    json: bool,
) -> Result<bool, ReplayError> {
    let authorizer = authorizer(policies, config)?;
    let mut tally = Tally::default();
    let mut reader = AuditReader::new(audit);
    let mut out = std::io::stdout().lock();
    for item in reader.by_ref() {
        let recorded = item.map_err(|e| ReplayError::Audit(e.to_string()))?;
        let now = redecide(&authorizer, &recorded);
        if tally.add(&recorded, &now).is_some() && json {
            let line = change_json(&recorded, &now, now.deciding_sid());
            let _ = writeln!(out, "{line}");
        }
    }
    eprint!("{}", reader.skipped());
    if json {
        eprintln!("{}", tally.summary());
    } else {
        let _ = tally.print(&mut out);
    }
    Ok(tally.denies_anything_allowed())
}

fn redecide(authorizer: &Authorizer, r: &Recorded) -> crate::policy::Decision {
    let permission = |(action, resource): (&str, &str)| Permission {
        action: action.to_string(),
        resource: resource.to_string(),
        resource_account: None,
    };
    let main = r.action.as_deref().zip(r.resource.as_deref()).map(permission);
    let additional: Vec<Permission> = r.additional.iter().map(|(a, res)| permission((a, res))).collect();
    authorizer.redecide(r.service, &r.principal, (main.as_ref(), &additional), r.context.clone())
}
