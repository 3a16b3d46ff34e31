//! The `aws:Principal*`, `aws:username` and `aws:userid` keys of a caller (IAM User Guide, "AWS global
//! condition context keys", principal properties), built once per configured principal.
//!
//! A principal's organization defaults to its `[[account]]`'s (ARCHITECTURE.md §9): the organization is a
//! fact about the account, and repeating it on every principal invites the two to disagree.

use crate::config::{AccountConfig, PrincipalConfig};
use crate::policy::{ContextValue, RequestContext, ANONYMOUS};

/// The keys of one configured principal: a service principal's, or an IAM principal's.
pub(crate) fn principal_context(p: &PrincipalConfig, accounts: &[AccountConfig]) -> RequestContext {
    let mut ctx = RequestContext::new();
    ctx.set("aws:ViaAWSService", "false");
    if let Some(service) = &p.service {
        ctx.set("aws:PrincipalIsAWSService", "true");
        ctx.set("aws:PrincipalServiceName", service.clone());
        return ctx;
    }
    ctx.set("aws:PrincipalIsAWSService", "false");
    let facts = ArnFacts::of(&p.arn);
    ctx.set("aws:PrincipalArn", facts.principal_arn);
    let account = p.account.clone().or(facts.account);
    if let Some(account) = &account {
        if facts.kind == "Account" {
            ctx.set("aws:userid", account.clone());
        }
        ctx.set("aws:PrincipalAccount", account.clone());
    }
    ctx.set("aws:PrincipalType", facts.kind);
    if let Some(name) = facts.username {
        ctx.set("aws:username", name);
    }
    let org = account.as_deref().and_then(|a| accounts.iter().find(|x| x.id == a));
    organization(&mut ctx, p.org_id.as_ref(), &p.org_paths, org);
    for (k, v) in &p.tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    ctx
}

/// Sets the keys of a caller whose access key id no principal names: its account, decoded from the key
/// id, and that account's organization. No ARN, type or user name: the key id does not carry them.
/// Written into the request's context directly: these callers are resolved per request.
pub(crate) fn set_unconfigured_key_keys(ctx: &mut RequestContext, account: &str, accounts: &[AccountConfig]) {
    ctx.set("aws:ViaAWSService", "false");
    ctx.set("aws:PrincipalIsAWSService", "false");
    ctx.set("aws:PrincipalAccount", account);
    organization(ctx, None, &[], accounts.iter().find(|x| x.id == account));
}

/// Sets the keys of an unsigned caller.
pub(crate) fn set_anonymous_keys(ctx: &mut RequestContext) {
    ctx.set("aws:PrincipalType", "Anonymous");
    ctx.set("aws:userid", ANONYMOUS);
}

/// `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths`: the principal's own, else its account's.
fn organization(
    ctx: &mut RequestContext,
    org_id: Option<&String>,
    org_paths: &[String],
    account: Option<&AccountConfig>,
) {
    if let Some(org) = org_id.or(account.and_then(|a| a.org_id.as_ref())) {
        ctx.set("aws:PrincipalOrgID", org.clone());
    }
    let paths = if org_paths.is_empty() { account.map_or(&[][..], |a| &a.org_paths[..]) } else { org_paths };
    if !paths.is_empty() {
        ctx.insert("aws:PrincipalOrgPaths", ContextValue::Multi(paths.to_vec()));
    }
}

/// What an IAM/STS ARN says: the `aws:PrincipalArn` (a session's role), account, type and user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnFacts {
    /// `aws:PrincipalArn`: for `assumed-role/ROLE/SESSION`, the role `arn:P:iam::A:role/ROLE`.
    pub principal_arn: String,
    /// The account field.
    pub account: Option<String>,
    /// `aws:PrincipalType`: `Account`, `User`, `AssumedRole`, `FederatedUser` or `Unknown`.
    pub kind: &'static str,
    /// `aws:username` for IAM users.
    pub username: Option<String>,
}

impl ArnFacts {
    /// Reads an ARN as configured for a principal.
    pub(crate) fn of(arn: &str) -> ArnFacts {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (partition, account, resource) = match parts.as_slice() {
            ["arn", p, _, _, a, r] => (*p, (!a.is_empty()).then(|| a.to_string()), *r),
            _ => {
                return ArnFacts { principal_arn: arn.into(), account: None, kind: "Unknown", username: None }
            }
        };
        let acct = account.clone().unwrap_or_default();
        let mut facts = ArnFacts { principal_arn: arn.into(), account, kind: "Unknown", username: None };
        if resource == "root" {
            facts.kind = "Account";
        } else if let Some(rest) = resource.strip_prefix("user/") {
            facts.kind = "User";
            facts.username = rest.rsplit('/').next().map(str::to_string);
        } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
            facts.kind = "AssumedRole";
            if let Some((role, _session)) = rest.split_once('/') {
                facts.principal_arn = format!("arn:{partition}:iam::{acct}:role/{role}");
            }
        } else if resource.starts_with("federated-user/") {
            facts.kind = "FederatedUser";
        } else if resource.starts_with("role/") {
            facts.kind = "AssumedRole";
        }
        facts
    }
}
