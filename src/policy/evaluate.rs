//! One policy -> Allow/Deny/NoMatch; the layers -> a [`Decision`] with AWS's message.
//!
//! INTERFACE STUB: the engine work replaces the body of this file; keep the public names.

use super::document::{Effect, Policy};
use super::AuthzRequest;

/// The final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    /// Some layer allowed and none denied.
    Allow,
    /// A statement with `Effect: Deny` matched.
    ExplicitDeny,
    /// A required layer had no matching `Allow`.
    ImplicitDeny,
}

/// Which policy layer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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

/// Decides a request against the layers with AWS's evaluation logic.
pub fn decide(_layers: &PolicyLayers<'_>, _request: &AuthzRequest) -> Decision {
    todo!("engine")
}
