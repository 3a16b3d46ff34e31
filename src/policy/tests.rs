//! Table-driven tests of the policy engine: one row per AWS rule, each table naming the IAM User Guide
//! page it comes from.

mod conditions;
mod grammar;
mod layers;
mod matching;
mod principals;
mod trace;
mod variables;

use super::{decide, AuthzRequest, ContextValue, Decision, Outcome, Policy, PolicyLayers, RequestContext};

/// A request with a context given as JSON: string -> single value, array -> multivalued, as `simulate`.
pub(crate) fn request(principal: &str, action: &str, resource: &str, context: &str) -> AuthzRequest {
    let mut ctx = RequestContext::new();
    let value: serde_json::Value = serde_json::from_str(context).expect("test context is JSON");
    for (key, v) in value.as_object().expect("test context is an object") {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let parsed = match v {
            serde_json::Value::Array(items) => ContextValue::Multi(items.iter().map(text).collect()),
            other => ContextValue::Single(text(other).into()),
        };
        ctx.insert(key, parsed);
    }
    AuthzRequest {
        principal: principal.into(),
        action: action.into(),
        resource: resource.into(),
        resource_account: None,
        context: ctx,
    }
}

/// Parses a policy that the test knows to be valid.
pub(crate) fn policy(text: &str) -> Policy {
    Policy::parse(text).unwrap_or_else(|e| panic!("test policy does not parse: {e}\n{text}"))
}

/// Endpoint-only decision: what a real VPC endpoint decides with just its policy.
pub(crate) fn endpoint_decision(endpoint: &Policy, req: &AuthzRequest) -> Decision {
    decide(&PolicyLayers { endpoint: Some(endpoint), identity: None, resource: None }, req)
}

/// Whether an endpoint policy allows the request.
pub(crate) fn endpoint_allows(endpoint: &Policy, req: &AuthzRequest) -> bool {
    endpoint_decision(endpoint, req).outcome == Outcome::Allow
}

/// The principal most rows use: an IAM user in account 111122223333.
pub(crate) const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
/// A repository of account 111122223333.
pub(crate) const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/app";
