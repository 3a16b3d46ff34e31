//! One JSON line per decision, with CloudTrail-like field names.
//!
//! INTERFACE STUB: the operations work fills in the bodies; the proxy already calls these names, so keep
//! them. A record never holds an authorization header, token, key or signature: only the fields below.

use std::net::SocketAddr;

/// Everything the audit log says about one request.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// Per-request id, also sent to the client as `x-amzn-RequestId` on denials.
    pub request_id: String,
    /// The client connection's address.
    pub client: Option<SocketAddr>,
    /// The principal ARN or `anonymous`.
    pub principal: String,
    /// `ecr.api`, `ecr.dkr`, `s3`, or empty for non-endpoint hosts.
    pub service: String,
    /// The inner request's host.
    pub host: String,
    /// The IAM action, empty when none was needed or the request was refused before classification.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// `Allow`, `ExplicitDeny`, `ImplicitDeny`, `Refused` (classifier refusal) or `Tunnel`.
    pub decision: String,
    /// The layer that refused (`vpc_endpoint`, `identity`, `resource`).
    pub denied_by: Option<String>,
    /// The Sid of the statement that decided, when it has one.
    pub sid: Option<String>,
    /// The classifier's refusal reason.
    pub reason: Option<String>,
    /// The upstream response status; `None` when the request never reached upstream.
    pub upstream_status: Option<u16>,
    /// Request body bytes sent upstream.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// Time from request head to the end of the response body, milliseconds.
    pub duration_ms: f64,
}

/// Where audit lines go.
#[derive(Debug, Default)]
pub struct AuditLog {
    _private: (),
}

impl AuditLog {
    /// An audit log that drops every record (tests, or `[audit] enabled = false`).
    pub fn disabled() -> AuditLog {
        AuditLog { _private: () }
    }

    /// Writes one line; never fails the request (an audit write error is reported once on stderr).
    pub fn write(&self, _record: &AuditRecord) {}
}
