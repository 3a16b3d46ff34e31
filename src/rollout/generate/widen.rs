//! Making a policy fit AWS's size limit by widening it, one step at a time and only as far as needed.
//!
//! The steps, in this fixed order, each applied one unit at a time until the policy fits before the
//! next step is tried; every unit is a note on stderr saying exactly what it widened, and a unit that
//! does not shorten the policy is undone and ends its step:
//! 1. resources under a common path: `.../repository/team/a`, `.../repository/team/b` become
//!    `.../repository/team/*`, S3 keys `bucket/dir/k1`, `bucket/dir/k2` become `bucket/dir/*`; the
//!    deepest path first (the narrowest widening), then the largest group, then by name; a path needs
//!    two resources under it;
//! 2. principals to their account (`{"AWS": "111122223333"}`), the account with most principals first;
//! 3. accounts to their organizations (`"*"` with `aws:PrincipalOrgID`), in every statement whose
//!    principals all have a known organization, all such statements at once (one note each);
//! 4. resources to the whole registry or bucket: `arn:P:ecr:R:A:repository/*`, `arn:P:s3:::bucket/*`,
//!    the registry or bucket with most resources first;
//! 5. a statement's actions of one service to that service's wildcard (`ecr:*`), statements in output order.
//!
//! Resource `*` (registry-level actions) is never widened, since it is already everything.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::grants::{render, size, statements, Grantee, Grants};

/// One widening step: widens one unit of `grants` and says what it did, or `None` when none is left.
type Step<'a> = dyn Fn(&mut Grants) -> Option<Vec<String>> + 'a;

/// Widens `grants` until its policy has at most `max_chars` characters; the text, or its smallest size.
/// A unit that does not make the text shorter is undone and ends its step: an organization written as
/// `"*"` plus a Condition is longer than one or two account ids, and widening for nothing is not wanted.
pub(crate) fn fit(
    grants: &mut Grants,
    max_chars: usize,
    orgs: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<String, usize> {
    let to_orgs = |g: &mut Grants| org_step(g, orgs);
    let steps: [&Step<'_>; 5] = [&prefix_step, &account_step, &to_orgs, &root_step, &action_step];
    let mut text = render(grants);
    for step in steps {
        while size(&text) > max_chars {
            let before = grants.clone();
            let Some(said) = step(grants) else { break };
            let widened = render(grants);
            if size(&widened) >= size(&text) {
                *grants = before;
                break;
            }
            notes.extend(said);
            text = widened;
        }
    }
    if size(&text) <= max_chars {
        Ok(text)
    } else {
        Err(size(&text))
    }
}

/// `arn:P:ecr:R:A:repository/` or `arn:P:s3:::BUCKET/`, and the name or key after it.
pub(crate) fn split_root(resource: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    let [arn, _, service, _, _, rest] = parts[..] else { return None };
    let root = match service {
        "ecr" if rest.starts_with("repository/") => "repository/".len(),
        "s3" => rest.find('/')? + 1,
        _ => return None,
    };
    (arn == "arn").then(|| resource.split_at(resource.len() - rest.len() + root))
}

/// The path a resource sits in below its root: `.../repository/team/` for `team/app` and `team/app/*`.
fn parent(resource: &str) -> Option<String> {
    let (root, rest) = split_root(resource)?;
    let rest = rest.strip_suffix('*').unwrap_or(rest);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let cut = rest.rfind('/')?;
    Some(format!("{root}{}", &rest[..=cut]))
}

/// Replaces every resource in `members` with `target`.
fn replace_resources(grants: &mut Grants, members: &BTreeSet<String>, target: &str) {
    *grants = std::mem::take(grants)
        .into_iter()
        .map(|(g, a, r)| if members.contains(&r) { (g, a, target.to_string()) } else { (g, a, r) })
        .collect();
}

fn resources(grants: &Grants) -> BTreeSet<&str> {
    grants.iter().map(|(_, _, r)| r.as_str()).collect()
}

/// Step 1: the deepest path with two or more resources under it becomes `path*`.
fn prefix_step(grants: &mut Grants) -> Option<Vec<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in resources(grants) {
        if let Some(p) = parent(r) {
            groups.entry(p).or_default().insert(r.to_string());
        }
    }
    let (path, members) = groups
        .into_iter()
        .filter(|(_, m)| m.len() >= 2)
        .min_by_key(|(p, m)| (Reverse(p.matches('/').count()), Reverse(m.len()), p.clone()))?;
    let target = format!("{path}*");
    replace_resources(grants, &members, &target);
    Some(vec![format!("widened {} resources under {path} to {target}", members.len())])
}

/// Step 4: every resource of the registry or bucket with most resources becomes `root*`.
fn root_step(grants: &mut Grants) -> Option<Vec<String>> {
    let mut groups: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in resources(grants) {
        if let Some((root, _)) = split_root(r).filter(|(_, rest)| *rest != "*") {
            groups.entry(root).or_default().insert(r.to_string());
        }
    }
    let (root, members) = groups.into_iter().min_by_key(|(root, m)| (Reverse(m.len()), *root))?;
    let (root, target) = (root.to_string(), format!("{root}*"));
    replace_resources(grants, &members, &target);
    Some(vec![format!("widened {} resources under {root} to {target}", members.len())])
}

/// The account field of an ARN.
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Step 2: the principals of the account with most of them become the account.
fn account_step(grants: &mut Grants) -> Option<Vec<String>> {
    let mut by_account: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (g, _, _) in grants.iter() {
        if let Grantee::Arn(arn) = g {
            if let Some(account) = account_of(arn) {
                by_account.entry(account.to_string()).or_default().insert(arn.clone());
            }
        }
    }
    let (account, arns) = by_account.into_iter().min_by_key(|(a, m)| (Reverse(m.len()), a.clone()))?;
    *grants = std::mem::take(grants)
        .into_iter()
        .map(|(g, a, r)| match g {
            Grantee::Arn(arn) if arns.contains(&arn) => (Grantee::Account(account.clone()), a, r),
            g => (g, a, r),
        })
        .collect();
    let list = arns.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
    Some(vec![format!(
        "widened {} principal(s) of account {account} ({list}) to the account {account}",
        arns.len()
    )])
}

/// The organization of an ARN or account grantee, when known.
fn org_of(grantee: &Grantee, orgs: &BTreeMap<String, String>) -> Option<String> {
    let account = match grantee {
        Grantee::Arn(arn) => account_of(arn)?,
        Grantee::Account(account) => account,
        _ => return None,
    };
    orgs.get(account).cloned()
}

/// Step 3, as one unit: every statement whose principals all have known organizations grants to those
/// organizations instead (one note per statement).
fn org_step(grants: &mut Grants, orgs: &BTreeMap<String, String>) -> Option<Vec<String>> {
    let mut notes = Vec::new();
    for st in statements(grants) {
        let mapped: Option<Vec<(Grantee, String)>> =
            st.grantees.iter().map(|g| org_of(g, orgs).map(|o| (g.clone(), o))).collect();
        let Some(mapped) = mapped else { continue };
        for action in &st.actions {
            for resource in &st.resources {
                for (grantee, org) in &mapped {
                    grants.remove(&(grantee.clone(), action.clone(), resource.clone()));
                    grants.insert((Grantee::Org(org.clone()), action.clone(), resource.clone()));
                }
            }
        }
        let who: Vec<String> = mapped.iter().map(|(g, _)| g.to_string()).collect();
        let to: BTreeSet<&str> = mapped.iter().map(|(_, o)| o.as_str()).collect();
        notes.push(format!(
            "widened principals {} to organization {} (\"Principal\": \"*\" with aws:PrincipalOrgID) for {} action(s) on {} resource(s)",
            who.join(", "),
            to.into_iter().collect::<Vec<_>>().join(", "),
            st.actions.len(),
            st.resources.len()
        ));
    }
    (!notes.is_empty()).then_some(notes)
}

/// Step 5: the first statement with two or more actions of one service grants `service:*` instead.
fn action_step(grants: &mut Grants) -> Option<Vec<String>> {
    for st in statements(grants) {
        let mut by_service: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for action in &st.actions {
            if let Some((service, _)) = action.split_once(':').filter(|(_, n)| *n != "*") {
                by_service.entry(service).or_default().push(action);
            }
        }
        let Some((service, actions)) = by_service.into_iter().find(|(_, a)| a.len() >= 2) else { continue };
        let target = format!("{service}:*");
        for grantee in &st.grantees {
            for resource in &st.resources {
                for action in &actions {
                    grants.remove(&(grantee.clone(), (*action).clone(), resource.clone()));
                }
                grants.insert((grantee.clone(), target.clone(), resource.clone()));
            }
        }
        let list = actions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
        let who = st.grantees.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        return Some(vec![format!(
            "widened {} actions ({list}) to {target} for {who} on {} resource(s)",
            actions.len(),
            st.resources.len()
        )]);
    }
    None
}
