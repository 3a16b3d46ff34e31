//! Why a policy decided as it did, statement by statement, in sentences an operator can act on.
//!
//! The decision viewer (ARCHITECTURE.md §11) shows, for one recorded request, which statement of which
//! policy decided and, for a refusal nothing allowed, how close each `Allow` came: "the VPC endpoint
//! policy's statement `AllowOrg` allows ecr:PutImage, but its condition aws:PrincipalOrgID StringEquals
//! o-x did not hold: the caller's value is o-y". It re-runs the matching rules of [`super::evaluate`] one
//! element at a time, so it never disagrees with [`super::decide`] on whether a statement applies (a test
//! holds them equal); it runs only when someone opens a row, never on the request path.

use super::condition::ConditionTrace;
use super::document::{Effect, Policy, Statement};
use super::evaluate::{actions_match, principal_reach, resources_match, Facts, Layer, Outcome};
use super::request::AuthzRequest;

/// One statement evaluated against one request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatementTrace {
    /// Position in the policy's `Statement` list, from 0.
    pub index: usize,
    /// The statement's Sid.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// First and last line of the statement in the policy text.
    pub lines: [u32; 2],
    /// Whether `Action` (or `NotAction`) covers the request's action.
    pub action: bool,
    /// Whether `Principal` names the caller; `None` when the statement has no Principal element.
    pub principal: Option<bool>,
    /// Whether `Resource` covers the request's resource; `None` when there is no Resource element.
    pub resource: Option<bool>,
    /// Each condition entry with the caller's values.
    pub conditions: Vec<ConditionTrace>,
    /// Whether the statement applies to the request (every element matches).
    pub applies: bool,
    /// Whether this statement decided the outcome (an applying Deny of an explicit deny, an applying
    /// Allow of an allow); no statement decides an implicit deny.
    pub deciding: bool,
}

/// Every statement of `policy` evaluated against `request`; `outcome` marks the deciding ones.
pub fn trace_policy(policy: &Policy, request: &AuthzRequest, outcome: Outcome) -> Vec<StatementTrace> {
    let facts = Facts::new(request);
    let trace = |(index, statement): (usize, &Statement)| {
        let action = actions_match(&statement.actions, &request.action);
        let principal = statement.principal.as_ref().map(|p| principal_reach(p, &facts).is_some());
        let resource = statement.resources.as_ref().map(|r| resources_match(r, &facts));
        let conditions = statement.condition.trace(&facts);
        let applies = action
            && principal != Some(false)
            && resource != Some(false)
            && conditions.iter().all(|c| c.holds);
        let deciding = applies
            && match outcome {
                Outcome::ExplicitDeny => statement.effect == Effect::Deny,
                Outcome::Allow => statement.effect == Effect::Allow,
                Outcome::ImplicitDeny => false,
            };
        StatementTrace {
            index,
            sid: statement.sid.clone(),
            effect: statement.effect,
            lines: [statement.lines.0, statement.lines.1],
            action,
            principal,
            resource,
            conditions,
            applies,
            deciding,
        }
    };
    policy.statements.iter().enumerate().map(trace).collect()
}

/// The policy's name in a sentence, as AWS's messages name the layers.
pub fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::VpcEndpoint => "the VPC endpoint policy",
        Layer::Identity => "the identity-based policy",
        Layer::Resource => "the resource-based policy",
    }
}

/// The sentences for one policy of the layer `layer`: each deciding statement, and for a layer that
/// refused because nothing allowed, each `Allow` that covers the action and why it did not apply.
pub fn reasons(
    layer: Layer,
    statements: &[StatementTrace],
    request: &AuthzRequest,
    refused: bool,
) -> Vec<String> {
    let name = layer_name(layer);
    let mut out: Vec<String> = statements
        .iter()
        .filter(|s| s.deciding)
        .map(|s| {
            format!("{name}'s {} {} {}: {}", statement_name(s), verb(s.effect), target(request), held(s))
        })
        .collect();
    if !refused || statements.iter().any(|s| s.deciding) {
        return out;
    }
    let near: Vec<&StatementTrace> =
        statements.iter().filter(|s| s.effect == Effect::Allow && s.action && !s.applies).collect();
    if near.is_empty() {
        out.push(format!("no statement of {name} allows {}", request.action));
    }
    for s in near {
        out.push(format!(
            "{name}'s {} allows {}, but {}",
            statement_name(s),
            request.action,
            missed(s, request)
        ));
    }
    out
}

fn statement_name(s: &StatementTrace) -> String {
    match &s.sid {
        Some(sid) => format!("statement `{sid}`"),
        None => format!("statement {} (no Sid)", s.index + 1),
    }
}

fn verb(effect: Effect) -> &'static str {
    match effect {
        Effect::Allow => "allows",
        Effect::Deny => "denies",
    }
}

fn target(request: &AuthzRequest) -> String {
    format!("{} on {}", request.action, request.resource)
}

/// Why an applying statement applied: its conditions, or that it has none.
fn held(s: &StatementTrace) -> String {
    if s.conditions.is_empty() {
        return "its action, principal and resource match and it has no condition".to_string();
    }
    let each: Vec<String> = s.conditions.iter().map(|c| format!("{} ({})", written(c), caller(c))).collect();
    format!("its condition held: {}", each.join("; "))
}

/// Every element that kept a statement from applying, in the order IAM checks them.
fn missed(s: &StatementTrace, request: &AuthzRequest) -> String {
    let mut why = Vec::new();
    if s.principal == Some(false) {
        why.push(format!("its Principal does not name the caller {}", request.principal));
    }
    if s.resource == Some(false) {
        why.push(format!("its Resource does not cover {}", request.resource));
    }
    for c in s.conditions.iter().filter(|c| !c.holds) {
        why.push(format!("its condition {} did not hold: {}", written(c), caller(c)));
    }
    why.join("; and ")
}

fn written(c: &ConditionTrace) -> String {
    format!("{} {} {}", c.key, c.operator, c.values.join(", "))
}

fn caller(c: &ConditionTrace) -> String {
    match c.caller.as_deref() {
        None => format!("the request has no {}", c.key),
        Some([]) => format!("the caller's {} is empty", c.key),
        Some([one]) => format!("the caller's value is {one}"),
        Some(many) => format!("the caller's values are {}", many.join(", ")),
    }
}
