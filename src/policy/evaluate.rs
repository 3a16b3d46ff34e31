//! One policy -> Allow/Deny/NoMatch; the layers -> a [`Decision`] with AWS's message.
//!
//! Sources: IAM User Guide, "Policy evaluation logic", "Cross-account policy evaluation logic" and
//! AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies".

use super::document::{Effect, Negatable, Policy, PrincipalEntry, PrincipalMatch, ResourceEntry, Statement};
use super::facts::assumed_role;
pub(crate) use super::facts::Facts;
use super::matching::escaped_resource_match;
use super::request::{AuthzRequest, ANONYMOUS};

/// The final answer; spelled once, in `spelling.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some layer allowed and none denied.
    Allow,
    /// A statement with `Effect: Deny` matched.
    ExplicitDeny,
    /// A required layer had no matching `Allow`.
    ImplicitDeny,
}

/// Which policy layer decided; spelled once, in `spelling.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The VPC endpoint policy attached to the service.
    VpcEndpoint,
    /// The caller's identity-based policies.
    Identity,
    /// The repository's (or bucket's) resource-based policy.
    Resource,
}

/// A statement that matched, for `simulate`/`explain` output and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Matched {
    /// The layer the statement belongs to.
    pub policy: Layer,
    /// The statement's Sid, if any.
    pub sid: Option<String>,
    /// The statement's effect.
    pub effect: Effect,
}

/// The outcome, the layer that refused, AWS's message and the statements that matched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// Allow, explicit or implicit deny.
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// The layer that refused; `None` when allowed.
    pub denied_by: Option<Layer>,
    /// `User: ... is not authorized to perform: ...`; `None` when allowed.
    pub message: Option<String>,
    /// Statements that matched, in evaluation order.
    pub matched: Vec<Matched>,
}

impl Decision {
    /// The Sid of the statement that decided: the last matching Deny of an explicit deny, else the last
    /// statement that matched (the audit line's `statementSid`).
    pub fn deciding_sid(&self) -> Option<&str> {
        let deciding = self.matched.iter().rev().find(|m| match self.outcome {
            Outcome::ExplicitDeny => m.effect == Effect::Deny,
            _ => true,
        });
        deciding.and_then(|m| m.sid.as_deref())
    }
}

/// The policies that apply to one request. `identity: None` and `resource: None` together mean
/// endpoint-only mode: what a real endpoint decides on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyLayers<'a> {
    /// The endpoint policy for the request's service; `None` means no endpoint in the path.
    pub endpoint: Option<&'a Policy>,
    /// The caller's identity policies; `None` when not configured.
    pub identity: Option<&'a [Policy]>,
    /// The resource policy; `None` when not configured.
    pub resource: Option<&'a Policy>,
}

/// AWS's denial text, e.g. `User: P is not authorized to perform: A on resource: R because no VPC
/// endpoint policy allows the A action`. The resource is not quoted: S3 quotes it, the caller adds that.
/// Only denials have a message; for [`Outcome::Allow`] the implicit-deny wording is returned.
pub fn denial_message(
    principal: &str,
    action: &str,
    resource: &str,
    outcome: Outcome,
    layer: Layer,
) -> String {
    let head = format!("User: {principal} is not authorized to perform: {action} on resource: {resource}");
    let kind = match layer {
        Layer::VpcEndpoint => "VPC endpoint",
        Layer::Identity => "identity-based",
        Layer::Resource => "resource-based",
    };
    match outcome {
        Outcome::ExplicitDeny => {
            let article = if layer == Layer::Identity { "an" } else { "a" };
            format!("{head} with an explicit deny in {article} {kind} policy")
        }
        Outcome::ImplicitDeny | Outcome::Allow => {
            format!("{head} because no {kind} policy allows the {action} action")
        }
    }
}

/// Decides a request against the layers with AWS's evaluation logic: an explicit deny anywhere wins;
/// the endpoint policy, when present, must allow; with identity or resource policies configured,
/// same-account requests need an identity allow or a resource allow that reached the caller through more
/// than an account entry ([`Reach`]), cross-account requests both, and anonymous requests a
/// resource-policy allow.
pub fn decide(layers: &PolicyLayers<'_>, request: &AuthzRequest) -> Decision {
    let facts = Facts::new(request);
    let mut matched = Vec::new();
    let endpoint = layers.endpoint.map(|p| evaluate(p, Layer::VpcEndpoint, &facts, &mut matched));
    let full = layers.identity.is_some() || layers.resource.is_some();
    let anonymous = request.principal == ANONYMOUS;
    let mut identity = LayerResult::default();
    if full && !anonymous {
        for policy in layers.identity.unwrap_or(&[]) {
            identity.merge(evaluate(policy, Layer::Identity, &facts, &mut matched));
        }
    }
    let resource =
        layers.resource.map(|p| evaluate(p, Layer::Resource, &facts, &mut matched)).unwrap_or_default();
    let results = [
        (endpoint.unwrap_or_default(), Layer::VpcEndpoint),
        (identity, Layer::Identity),
        (resource, Layer::Resource),
    ];
    let refusal = if let Some((_, layer)) = results.iter().find(|(r, _)| r.deny) {
        Some((Outcome::ExplicitDeny, *layer))
    } else if endpoint.is_some_and(|e| !e.allow) {
        Some((Outcome::ImplicitDeny, Layer::VpcEndpoint))
    } else if !full {
        None
    } else if anonymous {
        (!resource.allow).then_some((Outcome::ImplicitDeny, Layer::Resource))
    } else if facts.same_account() {
        (!identity.allow && !resource.grants)
            .then_some((Outcome::ImplicitDeny, same_account_refuser(layers, resource)))
    } else if !identity.allow {
        Some((Outcome::ImplicitDeny, Layer::Identity))
    } else {
        (!resource.allow).then_some((Outcome::ImplicitDeny, Layer::Resource))
    };
    match refusal {
        None => Decision { outcome: Outcome::Allow, denied_by: None, message: None, matched },
        Some((outcome, layer)) => Decision {
            outcome,
            denied_by: Some(layer),
            message: Some(denial_message(
                &request.principal,
                &request.action,
                &request.resource,
                outcome,
                layer,
            )),
            matched,
        },
    }
}

/// The layer a same-account implicit deny names. A resource policy that is attached and allows nothing
/// to the caller is what refused: AWS reports `because no resource-based policy allows` (the AWS
/// Marketplace blog's developer push to `prod-repository`, ARCHITECTURE.md §3). Without one, or when it
/// allowed through an account entry and so deferred to the identity policies, those are what refused.
fn same_account_refuser(layers: &PolicyLayers<'_>, resource: LayerResult) -> Layer {
    if layers.resource.is_some() && !resource.allow {
        Layer::Resource
    } else {
        Layer::Identity
    }
}

/// How a matching statement reached the caller. Naming an account in a resource policy delegates to that
/// account's identity policies (IAM User Guide, "IAM JSON policy elements: Principal", AWS account
/// principals), so an allow reached only through account entries needs an identity-policy allow as well,
/// even in the same account; one that matches through any other entry grants by itself ("Policy
/// evaluation logic"). Decided per request, because one Principal list may hold both kinds; ordered so that
/// the strongest entry a caller matches wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Reach {
    /// Only through `"ACCOUNT"` / `arn:P:iam::ACCOUNT:root` entries.
    Account,
    /// Through an entry naming the caller or everyone, through NotPrincipal, or with no Principal at all.
    Caller,
}

/// What one layer said.
#[derive(Debug, Clone, Copy, Default)]
struct LayerResult {
    deny: bool,
    allow: bool,
    /// An allow from a statement that grants by itself: one that reached the caller as [`Reach::Caller`].
    grants: bool,
}

impl LayerResult {
    fn merge(&mut self, other: LayerResult) {
        self.deny |= other.deny;
        self.allow |= other.allow;
        self.grants |= other.grants;
    }
}

fn evaluate(policy: &Policy, layer: Layer, facts: &Facts<'_>, matched: &mut Vec<Matched>) -> LayerResult {
    let mut result = LayerResult::default();
    for statement in &policy.statements {
        let Some(reach) = statement_applies(statement, facts) else { continue };
        matched.push(Matched { policy: layer, sid: statement.sid.clone(), effect: statement.effect });
        match statement.effect {
            Effect::Deny => result.deny = true,
            Effect::Allow => {
                result.allow = true;
                result.grants |= reach == Reach::Caller;
            }
        }
    }
    result
}

/// Whether the statement applies to the request, and if so how its Principal reached the caller.
fn statement_applies(statement: &Statement, facts: &Facts<'_>) -> Option<Reach> {
    if !actions_match(&statement.actions, &facts.request.action) {
        return None;
    }
    let reach = match &statement.principal {
        None => Reach::Caller,
        Some(principal) => principal_reach(principal, facts)?,
    };
    let resources = statement.resources.as_ref().map_or(true, |r| resources_match(r, facts));
    (resources && statement.condition.holds(facts)).then_some(reach)
}

pub(super) fn actions_match(actions: &Negatable<Vec<super::matching::Glob>>, action: &str) -> bool {
    actions.items.iter().any(|g| g.matches_ignore_case(action)) != actions.negated
}

pub(super) fn resources_match(resources: &Negatable<Vec<ResourceEntry>>, facts: &Facts<'_>) -> bool {
    let resource = facts.request.resource.as_str();
    let any = resources.items.iter().any(|entry| match entry {
        ResourceEntry::Static(pattern) => pattern.matches_parts(&facts.resource_parts),
        ResourceEntry::Dynamic(t) => {
            t.resolve(|k| facts.single(k), true).is_some_and(|pat| escaped_resource_match(&pat, resource))
        }
    });
    any != resources.negated
}

/// The strongest [`Reach`] among the entries that match the caller; `None` when none does. A NotPrincipal
/// reaches everyone it does not list, and reaches them as themselves.
pub(super) fn principal_reach(principal: &PrincipalMatch, facts: &Facts<'_>) -> Option<Reach> {
    let reach = principal
        .entries
        .iter()
        .filter(|entry| entry_matches(entry, facts))
        .map(|entry| match entry {
            PrincipalEntry::Account(_) => Reach::Account,
            _ => Reach::Caller,
        })
        .max();
    if principal.negated {
        reach.is_none().then_some(Reach::Caller)
    } else {
        reach
    }
}

/// Whether one Principal entry names the caller; a role entry also names the role's sessions.
fn entry_matches(entry: &PrincipalEntry, facts: &Facts<'_>) -> bool {
    let caller = facts.request.principal.as_str();
    match entry {
        PrincipalEntry::Anyone => true,
        PrincipalEntry::Account(account) => facts.principal_account == Some(&**account),
        PrincipalEntry::Exact(arn) => **arn == *caller,
        PrincipalEntry::Role { arn, account, name } => {
            **arn == *caller || assumed_role(caller).is_some_and(|(a, n)| a == &**account && n == &**name)
        }
    }
}
