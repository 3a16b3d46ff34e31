//! `vpce-proxy generate`: an endpoint policy that allows what the audit log shows succeeding, and
//! nothing else, for one service.
//!
//! The steps: [`observe`] counts each (principal, action, resource) of the service's successful
//! requests; `--min-count` drops the rare ones; a grant to `"*"` (anonymous traffic) covers the same
//! action and resource for everyone else; the login rule adds `ecr:GetAuthorizationToken`; [`grants`]
//! groups the rest into statements; [`widen`] makes the text fit AWS's size limit, if it has to.
//!
//! **Anonymous callers.** An endpoint policy cannot name a caller the proxy could not identify, so an
//! anonymous request that succeeded is allowed by `"Principal": "*"` for exactly its action and
//! resource. That is the form AWS documents for the traffic that is anonymous in practice: layer
//! downloads from ECR's S3 bucket, whose presigned URLs ECR signs itself (Amazon ECR User Guide,
//! "Minimum Amazon S3 bucket permissions for Amazon ECR": `"Principal": "*"`, `s3:GetObject` on
//! `arn:aws:s3:::prod-REGION-starport-layer-bucket/*`). It is safe because an endpoint policy is not the
//! only layer: the caller's identity policy or the resource's policy must still allow the request
//! (AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies").
//!
//! **Nothing observed** is an error (exit 2), not an empty policy: a policy without statements is
//! invalid, and one that allows nothing is better written by hand than inferred from an empty log.

mod grants;
mod observe;
mod widen;

use std::collections::BTreeMap;

pub(crate) use self::grants::Grantee;
use self::grants::Grants;
use self::observe::Observed;
use crate::classify::Service;
use crate::policy::validate::ENDPOINT_POLICY_MAX_CHARS;
use crate::rollout::recorded::{ReadError, Recorded};

/// The registry-level action `docker login` needs on `*` (Amazon ECR User Guide, "Private registry
/// authentication": the token comes from `GetAuthorizationToken`).
const LOGIN: &str = "ecr:GetAuthorizationToken";

/// What to generate.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The endpoint the policy is for.
    pub(crate) service: Service,
    /// Grants seen fewer times than this are dropped (1 keeps everything).
    pub(crate) min_count: u64,
    /// The largest policy, in characters, white space included.
    pub(crate) max_chars: usize,
    /// Account -> organization from `--config`'s `[[account]] org_id`; wins over the log's.
    pub(crate) orgs: BTreeMap<String, String>,
}

impl Options {
    /// The defaults: keep every grant, AWS's endpoint policy limit, no organizations known.
    pub(crate) fn new(service: Service) -> Options {
        Options { service, min_count: 1, max_chars: ENDPOINT_POLICY_MAX_CHARS, orgs: BTreeMap::new() }
    }
}

/// Why no policy was written; every one is exit 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GenerateError {
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// No line of the service succeeded with a permission (or `--min-count` dropped them all).
    #[error("no successful {service} request that needed a permission is in the audit log{after}: there is nothing to allow, and an endpoint policy needs a statement")]
    NothingObserved { service: &'static str, after: &'static str },
    /// Even the widest policy the steps make is too large.
    #[error("the policy has {chars} characters after every widening, more than the {max} allowed (AWS PrivateLink Guide, \"Control access to VPC endpoints using endpoint policies\"): raise --min-count, or split the traffic over several endpoints")]
    TooLarge { chars: usize, max: usize },
}

/// Generates the policy text (pretty JSON, newline-terminated). `notes` receives one line per thing
/// worth saying on stderr (what was dropped, added or widened), also when generation fails.
pub(crate) fn generate(
    records: impl IntoIterator<Item = Result<Recorded, ReadError>>,
    options: &Options,
    notes: &mut Vec<String>,
) -> Result<String, GenerateError> {
    let observed = Observed::collect(records, options.service)?;
    let service = options.service.key();
    if observed.counts.is_empty() {
        return Err(GenerateError::NothingObserved { service, after: "" });
    }
    let mut grants = keep_frequent(&observed, options.min_count, notes);
    if grants.is_empty() {
        return Err(GenerateError::NothingObserved { service, after: " after --min-count" });
    }
    cover_by_anyone(&mut grants, notes);
    login(&mut grants, &observed, options.service, notes);
    let mut orgs = observed.orgs.clone();
    orgs.extend(options.orgs.iter().map(|(a, o)| (a.clone(), o.clone())));
    widen::fit(&mut grants, options.max_chars, &orgs, notes)
        .map_err(|chars| GenerateError::TooLarge { chars, max: options.max_chars })
}

/// The grants seen at least `min_count` times; one note per grant dropped.
fn keep_frequent(observed: &Observed, min_count: u64, notes: &mut Vec<String>) -> Grants {
    let mut grants = Grants::new();
    for ((grantee, action, resource), &count) in &observed.counts {
        if count >= min_count {
            grants.insert((grantee.clone(), action.clone(), resource.clone()));
        } else {
            notes.push(format!(
                "dropped {grantee} {action} {resource}: seen {count} time(s), fewer than --min-count {min_count}"
            ));
        }
    }
    grants
}

/// A grant to `"*"` already covers every other principal for the same action and resource.
fn cover_by_anyone(grants: &mut Grants, notes: &mut Vec<String>) {
    let open: Vec<(String, String)> = grants
        .iter()
        .filter(|(g, _, _)| *g == Grantee::Anyone)
        .map(|(_, a, r)| (a.clone(), r.clone()))
        .collect();
    let before = grants.len();
    grants.retain(|(g, a, r)| *g == Grantee::Anyone || !open.contains(&(a.clone(), r.clone())));
    if grants.len() < before {
        notes.push(format!(
            "{} grant(s) to named principals are covered by \"Principal\": \"*\" for the same action and resource, \
             which anonymous requests needed",
            before - grants.len()
        ));
    }
}

/// `docker login` calls `ecr:GetAuthorizationToken` on the ECR API endpoint, on `*`, before any registry
/// request: an `ecr.api` policy allows it to every principal that used the registry. Any ECR policy
/// that still grants nobody the login also gets it, for its own principals (`"*"` when it names none),
/// since `validate` warns otherwise (`ecr-login-not-allowed`): on the registry endpoint no request asks
/// for that action, so it allows nothing more there.
fn login(grants: &mut Grants, observed: &Observed, service: Service, notes: &mut Vec<String>) {
    if service == Service::S3 {
        return;
    }
    let granted = |grants: &mut Grants, who: Vec<Grantee>| {
        let added = who.into_iter().filter(|g| grants.insert((g.clone(), LOGIN.into(), "*".into()))).count();
        (added > 0).then_some(added)
    };
    if service == Service::EcrApi && observed.registry_seen {
        let users = observed.registry_users.iter().cloned().collect();
        if let Some(n) = granted(grants, users) {
            notes.push(format!(
                "added {LOGIN} on \"*\" for {n} principal(s) seen using the registry (ecr.dkr): docker login needs it"
            ));
        }
    }
    if grants.iter().any(|(_, a, r)| a == LOGIN && r == "*") {
        return;
    }
    let mut own: Vec<Grantee> =
        grants.iter().map(|(g, _, _)| g.clone()).filter(|g| *g != Grantee::Anyone).collect();
    own.dedup();
    let n = own.len();
    let who = if own.is_empty() { vec![Grantee::Anyone] } else { own };
    granted(grants, who);
    let whom = if n == 0 { "\"*\"".to_string() } else { format!("the {n} principal(s) of this policy") };
    notes.push(format!(
        "added {LOGIN} on \"*\" for {whom}: an ECR endpoint policy that allows nobody to log in fails validate \
         (ecr-login-not-allowed){}",
        if service == Service::EcrDkr { "; no registry request asks for it, so it allows nothing more here" } else { "" }
    ));
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "generate_widen_tests.rs"]
mod widen_tests;
