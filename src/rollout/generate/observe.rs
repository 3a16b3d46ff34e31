//! What the log shows succeeding, counted per (principal, action, resource), plus the facts the later
//! steps need: who used the registry (for the login rule) and which organization an account is in.

use std::collections::{BTreeMap, BTreeSet};

use super::grants::{Grant, Grantee};
use crate::classify::Service;
use crate::policy::facts::assumed_role;
use crate::policy::{ContextValue, ANONYMOUS};
use crate::rollout::recorded::{ReadError, Recorded};

/// The log, reduced to what a policy is generated from.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// How often each permission of the chosen service succeeded upstream.
    pub(crate) counts: BTreeMap<Grant, u64>,
    /// Whether any `ecr.dkr` request was seen.
    pub(crate) registry_seen: bool,
    /// Who made `ecr.dkr` requests as a known principal: each holds a token from GetAuthorizationToken.
    pub(crate) registry_users: BTreeSet<Grantee>,
    /// Account -> organization, from `aws:principalorgid` as the requests were decided.
    pub(crate) orgs: BTreeMap<String, String>,
}

impl Observed {
    /// Reads every record. A line counts when it is of `service`, needed a permission and upstream
    /// answered 200..=399, whatever was decided: a log recorded in report mode under a deny-all policy
    /// is the normal input, and it is what upstream did that shows what the clients need.
    pub(crate) fn collect(
        records: impl IntoIterator<Item = Result<Recorded, ReadError>>,
        service: Service,
    ) -> Result<Observed, ReadError> {
        let mut seen = Observed::default();
        for record in records {
            seen.add(&record?, service);
        }
        Ok(seen)
    }

    fn add(&mut self, record: &Recorded, service: Service) {
        let grantee = grantee(record);
        if let Some((account, org)) = org(record) {
            self.orgs.insert(account, org);
        }
        if record.service == Service::EcrDkr {
            self.registry_seen = true;
            if grantee != Grantee::Anyone {
                self.registry_users.insert(grantee.clone());
            }
        }
        if record.service != service || !record.succeeded_upstream() {
            return;
        }
        for (action, resource) in record.permissions() {
            *self.counts.entry((grantee.clone(), action.to_string(), resource.to_string())).or_default() += 1;
        }
    }
}

/// How a policy names the caller. An assumed-role session is written as its role, which the
/// endpoint matches against every session of it (IAM User Guide, "IAM JSON policy elements:
/// Principal", role sessions): the recorded `aws:principalarn` already holds that form; a caller that is
/// not an ARN is a service principal; `anonymous` can only be allowed through `"*"`.
pub(crate) fn grantee(record: &Recorded) -> Grantee {
    if record.principal == ANONYMOUS {
        return Grantee::Anyone;
    }
    if !record.principal.starts_with("arn:") {
        return Grantee::Service(record.principal.clone());
    }
    match record.context.get("aws:principalarn") {
        Some(ContextValue::Single(arn)) => Grantee::Arn(arn.to_string()),
        _ => Grantee::Arn(role_of_session(&record.principal)),
    }
}

/// `arn:P:sts::A:assumed-role/R/S` -> `arn:P:iam::A:role/R` (the role's path is not in a session ARN);
/// any other ARN as it is.
fn role_of_session(arn: &str) -> String {
    let partition = arn.split(':').nth(1).unwrap_or("aws");
    match assumed_role(arn) {
        Some((account, role)) => format!("arn:{partition}:iam::{account}:role/{role}"),
        None => arn.to_string(),
    }
}

/// The caller's account and organization, when the request was decided with `aws:PrincipalOrgID`.
fn org(record: &Recorded) -> Option<(String, String)> {
    let Some(ContextValue::Single(org)) = record.context.get("aws:principalorgid") else { return None };
    let account = match record.context.get("aws:principalaccount") {
        Some(ContextValue::Single(account)) => Some(account.to_string()),
        _ => record.principal.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string),
    }?;
    Some((account, org.to_string()))
}
