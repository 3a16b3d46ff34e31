//! What the audit log says about one request, as types: the decision, the deciding layer and the service
//! stay enums until [`super::line`] spells them.

use std::net::SocketAddr;

use crate::classify::{Permission, Service};
use crate::policy::{Layer, Outcome, RequestContext, ANONYMOUS};

/// What became of a request, as the audit log's `decision` field reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The policies decided: `Allow`, `ExplicitDeny` or `ImplicitDeny`.
    Decided(Outcome),
    /// Refused before any policy was asked: malformed, ambiguous, smuggled, or not an endpoint host.
    Refused,
    /// A registry request without credentials, answered with ECR's `401` challenge before any policy:
    /// the client retries with its token, and that request is decided.
    Challenged,
    /// A CONNECT to a host that is not an endpoint host, tunnelled untouched
    /// (`endpoint.tunnel_unknown_hosts`).
    Tunnel,
}

/// Why an allowed request did not end as a whole upstream answer; serialised as its `errorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Upstream could not be reached, failed, or cut its response (`UpstreamUnavailable`).
    Upstream,
    /// The client closed the connection while its request body was still being sent upstream
    /// (`ClientAborted`): not an upstream fault, so neither counted nor logged as one.
    ClientAborted,
}

impl Failure {
    /// The audit line's `errorCode`.
    pub fn code(self) -> &'static str {
        match self {
            Failure::Upstream => "UpstreamUnavailable",
            Failure::ClientAborted => "ClientAborted",
        }
    }
}

impl Disposition {
    /// The audit and metrics spelling: the [`Outcome`] names, `Refused`, `Challenged` or `Tunnel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Decided(outcome) => outcome.as_str(),
            Disposition::Refused => "Refused",
            Disposition::Challenged => "Challenged",
            Disposition::Tunnel => "Tunnel",
        }
    }

    /// Whether the request was answered with a denial of any kind (never forwarded).
    pub fn is_denial(self) -> bool {
        matches!(
            self,
            Disposition::Refused | Disposition::Decided(Outcome::ExplicitDeny | Outcome::ImplicitDeny)
        )
    }
}

/// A record that nothing decided claims nothing was allowed.
impl Default for Disposition {
    fn default() -> Self {
        Disposition::Refused
    }
}

impl From<Outcome> for Disposition {
    fn from(outcome: Outcome) -> Self {
        Disposition::Decided(outcome)
    }
}

/// What a request was decided on, complete enough to decide it again (`vpce-proxy replay`): its
/// permissions and every condition context key. None of it is secret: the classifier puts no credential
/// in a context key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// The main permission; `None` for a request that needs none (the registry's `GET /v2/`).
    pub main: Option<Permission>,
    /// Further permissions the same request needed (a cross-repository mount's source).
    pub additional: Vec<Permission>,
    /// Every context key the policies saw, with the main permission's resource keys.
    pub context: RequestContext,
}

/// A shadow policy's decision, kept when it differs from the live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowDecision {
    /// What the shadow policy decided.
    pub outcome: Outcome,
    /// The layer that refused under the shadow policy.
    pub denied_by: Option<Layer>,
    /// The Sid of the statement that decided under the shadow policy.
    pub sid: Option<String>,
}

/// Which way a shadow decision differs from the live one (the metric's `direction` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// Live allows, the shadow policy would refuse.
    AllowToDeny,
    /// Live refuses, the shadow policy would allow.
    DenyToAllow,
    /// Both refuse, one explicitly and one implicitly.
    DenyToDeny,
}

impl Drift {
    /// How `shadow` differs from `live`; `None` when they agree.
    pub fn between(live: Outcome, shadow: Outcome) -> Option<Drift> {
        match (live == Outcome::Allow, shadow == Outcome::Allow) {
            _ if live == shadow => None,
            (true, false) => Some(Drift::AllowToDeny),
            (false, true) => Some(Drift::DenyToAllow),
            _ => Some(Drift::DenyToDeny),
        }
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::AllowToDeny => "allow_to_deny",
            Drift::DenyToAllow => "deny_to_allow",
            Drift::DenyToDeny => "deny_to_deny",
        }
    }
}

/// Everything the audit log says about one request.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// Per-request id, also sent to the client as `x-amzn-RequestId` on denials.
    pub request_id: String,
    /// The client connection's address.
    pub client: Option<SocketAddr>,
    /// The principal ARN or `anonymous`.
    pub principal: String,
    /// The endpoint service; `None` for hosts that are not endpoint hosts.
    pub service: Option<Service>,
    /// The inner request's host.
    pub host: String,
    /// The IAM action, empty when none was needed or the request was refused before classification.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// What became of the request.
    pub decision: Disposition,
    /// The layer that refused.
    pub denied_by: Option<Layer>,
    /// The Sid of the statement that decided, when it has one.
    pub sid: Option<String>,
    /// Why the request failed: the classifier's refusal reason, or why upstream could not answer an
    /// allowed request.
    pub reason: Option<String>,
    /// Why an allowed request failed, when it did; `reason` says more.
    pub failure: Option<Failure>,
    /// The upstream response status; `None` when the request never reached upstream.
    pub upstream_status: Option<u16>,
    /// Request body bytes sent upstream.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// Time from request head to the end of the response body, milliseconds.
    pub duration_ms: f64,
    /// `true` when the service was in report mode: a refusal was audited and the request forwarded
    /// anyway (written as `"enforced": false`).
    pub report_only: bool,
    /// What the decision was made on; `None` when the request was not classified.
    pub authorization: Option<Authorization>,
    /// The shadow policy's decision, when it differs from the live one.
    pub shadow: Option<ShadowDecision>,
}

impl AuditRecord {
    /// The record of one inner request, before anything is known but where it came from; the caller is
    /// `anonymous` until the authorizer says otherwise.
    pub fn request(client: Option<SocketAddr>, service: Service, host: &str) -> AuditRecord {
        AuditRecord {
            request_id: super::ids::next(),
            client,
            service: Some(service),
            host: host.to_string(),
            principal: ANONYMOUS.to_string(),
            ..AuditRecord::default()
        }
    }

    /// A CONNECT (or ClientHello) refused before any request: no service, no principal.
    pub fn refusal(client: Option<SocketAddr>, host: &str, reason: String) -> AuditRecord {
        AuditRecord {
            request_id: super::ids::next(),
            client,
            principal: ANONYMOUS.to_string(),
            host: host.to_string(),
            decision: Disposition::Refused,
            reason: Some(reason),
            ..AuditRecord::default()
        }
    }

    /// A raw tunnel to a host that is not an endpoint host; `target` is `host:port`.
    pub fn tunnel(client: Option<SocketAddr>, target: String) -> AuditRecord {
        AuditRecord {
            request_id: super::ids::next(),
            client,
            principal: ANONYMOUS.to_string(),
            host: target,
            decision: Disposition::Tunnel,
            ..AuditRecord::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_spelled_as_the_audit_log_always_has() {
        let rows = [
            (Disposition::Decided(Outcome::Allow), "Allow", false),
            (Disposition::Decided(Outcome::ExplicitDeny), "ExplicitDeny", true),
            (Disposition::Decided(Outcome::ImplicitDeny), "ImplicitDeny", true),
            (Disposition::Refused, "Refused", true),
            (Disposition::Tunnel, "Tunnel", false),
        ];
        for (disposition, spelled, denial) in rows {
            assert_eq!(disposition.as_str(), spelled);
            assert_eq!(disposition.is_denial(), denial, "{spelled}");
        }
    }

    #[test]
    fn constructors_fill_what_each_kind_of_record_always_has() {
        let client = Some("10.0.0.7:50123".parse().unwrap());
        let r = AuditRecord::request(client, Service::EcrDkr, "1.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(
            (r.principal.as_str(), r.service, r.decision),
            (ANONYMOUS, Some(Service::EcrDkr), Disposition::Refused)
        );
        let r = AuditRecord::refusal(client, "example.com", "not an endpoint host".into());
        assert_eq!(
            (r.service, r.decision, r.reason.as_deref()),
            (None, Disposition::Refused, Some("not an endpoint host"))
        );
        let r = AuditRecord::tunnel(client, "example.com:443".into());
        assert_eq!((r.host.as_str(), r.decision), ("example.com:443", Disposition::Tunnel));
        assert_ne!(AuditRecord::tunnel(None, String::new()).request_id, r.request_id);
    }
}
