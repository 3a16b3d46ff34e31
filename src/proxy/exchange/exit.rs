//! Every way an inner request ends without upstream's answer. Pipeline steps return `Result<_, Exit>`
//! and use `?`; none of them builds a denial itself (that is `rescue`'s job).

use super::headers::{HostError, TargetError};
use crate::classify::Refusal;

/// Why the proxy answers instead of upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Exit {
    /// Refused before any policy was asked.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A policy denied the request; the message is AWS's `User: ... is not authorized ...`, and the audit
    /// record already holds the decision, layer and statement.
    #[error("{0}")]
    Denied(String),
    /// A registry request without credentials: answered with ECR's `401` Basic challenge (the
    /// `WWW-Authenticate` value held here) before any policy applies, and never forwarded.
    #[error("no registry credentials: answered with ECR's 401 challenge")]
    Challenged(String),
    /// The request was allowed, but upstream could not be reached or failed.
    #[error("{0}")]
    BadGateway(String),
    /// The request was allowed, and the client went away while its body was being sent upstream: no
    /// upstream fault, and nobody left to answer.
    #[error("{0}")]
    ClientGone(String),
}

/// Why a request was refused before policy. Each is the client's fault or an attempt to slip past the
/// policy, so each is answered in the service's denial shape and never forwarded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The inner request names another host than the tunnel (domain fronting), or none.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The body prefix the classifier needs could not be read.
    #[error("request body could not be read: {0}")]
    Body(#[from] hyper::Error),
    /// The classifier could not map the request with certainty.
    #[error(transparent)]
    Classifier(#[from] Refusal),
    /// The request could not be rebuilt for upstream.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The request head is longer than `limits.max_header_bytes`. hyper checks its read buffer only
    /// while a head is incomplete, so a head that completes in the read crossing the bound gets past it;
    /// this check is exact (answered `431`).
    #[error("request head of {0} bytes is larger than limits.max_header_bytes ({1})")]
    HeadTooLarge(usize, usize),
}
