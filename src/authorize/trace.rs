//! A recorded decision, explained: the permission that decided, every policy that applied with each
//! statement's result, AWS's message and the reasons in sentences (the decision viewer's detail pane,
//! ARCHITECTURE.md §11).
//!
//! It decides the record again through [`Decider`] (the authorizer's own decision, one permission at a
//! time), so the request it traces is exactly the one the policies saw; the shadow candidate gets the
//! same treatment. [`Decider`] is a trait so this file does not depend on `authorize.rs`, which calls it.

use serde::Serialize;

use crate::audit::Authorization;
use crate::classify::{Permission, Service};
use crate::policy::{
    layer_name, reasons, trace_policy, AuthzRequest, Decision, Layer, Outcome, Policy, StatementTrace,
};

/// Why one recorded request was decided as it was.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// AWS's denial message; `None` when allowed.
    pub message: Option<String>,
    /// The reasons, in sentences.
    pub reasons: Vec<String>,
    /// Each policy that applied, statement by statement.
    pub policies: Vec<PolicyTrace>,
    /// The `[shadow_policies]` candidate's view, when the service has one.
    pub shadow: Option<ShadowExplanation>,
}

/// One policy document and how each of its statements met the request.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyTrace {
    /// Which layer the policy belongs to.
    pub layer: Layer,
    /// What to call it on the page.
    pub name: String,
    /// The document as written.
    pub text: Option<String>,
    /// Every statement, in order.
    pub statements: Vec<StatementTrace>,
}

/// The shadow candidate's decision on the same request, explained the same way.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowExplanation {
    /// What the candidate decides.
    pub decision: Outcome,
    /// The layer that refused under it.
    #[serde(rename = "deniedBy")]
    pub denied_by: Option<Layer>,
    /// The Sid of its deciding statement.
    #[serde(rename = "statementSid")]
    pub sid: Option<String>,
    /// The reasons, in sentences.
    pub reasons: Vec<String>,
    /// Each policy that applied under the candidate.
    pub policies: Vec<PolicyTrace>,
}

/// The permission that decided a request and the request the policies saw for it.
struct Decided<'a> {
    permission: &'a Permission,
    decision: Decision,
    request: AuthzRequest,
}

/// What explaining needs of the authorizer (implemented by `Authorizer`).
pub(super) trait Decider {
    /// Decides one permission as the proxy does, leaving in `request` what the policies saw.
    fn decide_one(
        &self,
        endpoint: &Policy,
        identity: Option<&[Policy]>,
        permission: &Permission,
        request: &mut AuthzRequest,
    ) -> Decision;
    /// The caller's identity policies, when `[[principal]]` gives it any.
    fn identity_of(&self, principal: &str) -> Option<&[Policy]>;
    /// The repository policy of a resource ARN (the resource layer).
    fn repository_policy(&self, resource: &str) -> Option<&Policy>;
}

/// Explains a recorded decision under `live` (and the `shadow` candidate when there is one); `None` for a
/// request that needed no permission (the registry's `GET /v2/`) or was not decided at all.
pub(super) fn explain(
    decider: &impl Decider,
    service: Service,
    (live, shadow): (&Policy, Option<&Policy>),
    principal: &str,
    authorization: &Authorization,
) -> Option<Explanation> {
    let decided = decide_each(decider, live, principal, authorization)?;
    let (reasons, policies) = trace(decider, service, live, &decided);
    let shadow = shadow.and_then(|candidate| {
        let decided = decide_each(decider, candidate, principal, authorization)?;
        let (reasons, policies) = trace(decider, service, candidate, &decided);
        let d = &decided.decision;
        let sid = d.deciding_sid().map(str::to_owned);
        Some(ShadowExplanation { decision: d.outcome, denied_by: d.denied_by, sid, reasons, policies })
    });
    Some(Explanation { message: decided.decision.message.clone(), reasons, policies, shadow })
}

/// Decides each permission on its own, as the proxy does in turn: the first one refused decided the
/// request; when all are allowed, the main one is explained.
fn decide_each<'a>(
    decider: &impl Decider,
    endpoint: &Policy,
    principal: &str,
    authorization: &'a Authorization,
) -> Option<Decided<'a>> {
    let identity = decider.identity_of(principal);
    let mut first: Option<Decided<'a>> = None;
    for permission in authorization.main.iter().chain(&authorization.additional) {
        let mut request = AuthzRequest {
            principal: principal.to_string(),
            action: String::new(),
            resource: String::new(),
            resource_account: None,
            context: authorization.context.clone(),
        };
        request.context.retain(|key| !crate::directory::is_resource_key(key));
        let decision = decider.decide_one(endpoint, identity, permission, &mut request);
        let refused = decision.outcome != Outcome::Allow;
        let decided = Decided { permission, decision, request };
        if refused {
            return Some(decided);
        }
        first.get_or_insert(decided);
    }
    first
}

/// Every policy that applied to the decided permission, traced, and the sentences they give.
fn trace(
    decider: &impl Decider,
    service: Service,
    endpoint: &Policy,
    decided: &Decided<'_>,
) -> (Vec<String>, Vec<PolicyTrace>) {
    let Decided { permission, decision, request } = decided;
    let mut layers =
        vec![(Layer::VpcEndpoint, format!("VPC endpoint policy for {}", service.key()), endpoint)];
    for (i, policy) in decider.identity_of(&request.principal).unwrap_or_default().iter().enumerate() {
        let name = format!("identity-based policy {} of {}", i + 1, request.principal);
        layers.push((Layer::Identity, name, policy));
    }
    if let Some(policy) = decider.repository_policy(&permission.resource) {
        layers.push((Layer::Resource, format!("resource-based policy of {}", permission.resource), policy));
    }
    let mut sentences = Vec::new();
    if decision.outcome == Outcome::ImplicitDeny && decision.denied_by != Some(Layer::VpcEndpoint) {
        // Identity or resource layers refused: which one, in AWS's words, comes first.
        let layer = decision.denied_by.map_or("a policy", layer_name);
        sentences.push(format!("{layer} grants nothing here, so the request is implicitly denied"));
    }
    let mut policies = Vec::new();
    for (layer, name, policy) in layers {
        let statements = trace_policy(policy, request, decision.outcome);
        let refused = decision.outcome == Outcome::ImplicitDeny && decision.denied_by == Some(layer);
        sentences.extend(reasons(layer, &statements, request, refused));
        let text = policy.source.as_deref().map(str::to_owned);
        policies.push(PolicyTrace { layer, name, text, statements });
    }
    (sentences, policies)
}
