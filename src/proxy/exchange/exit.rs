//! Every way an inner request ends without upstream's answer, and [`rescue`]: the one function that turns
//! each into the client's response, the audit line and the metrics. Pipeline steps return
//! `Result<_, Exit>` and use `?`; none of them builds a denial itself.

use http::{Method, Response};

use super::body::{Finisher, Tracked};
use super::deny;
use super::headers::HostError;
use super::ConnCtx;
use crate::audit::Disposition;
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
    /// The request was allowed, but upstream could not be reached or failed.
    #[error("{0}")]
    BadGateway(String),
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
    #[error("bad request target: {0}")]
    Target(String),
}

/// What one exchange knows before its outcome: the method (a `HEAD` never gets a body, on any path) and
/// the finisher that writes the audit line when the response body is done.
pub(crate) struct Pending {
    pub method: Method,
    pub finisher: Finisher,
}

/// Answers `exit`: records the outcome in the audit record and the metrics, and builds the response in
/// the service's own shape. The audit line is written when the response body is dropped.
pub(crate) fn rescue(ctx: &ConnCtx, pending: Pending, exit: Exit) -> Response<Tracked> {
    let Pending { method, mut finisher } = pending;
    let record = &mut finisher.record;
    let metrics = &ctx.state.metrics;
    match &exit {
        Exit::Refused(why) => {
            record.decision = Disposition::Refused;
            record.reason = Some(why.to_string());
            metrics.record_decision(record.service, "", Disposition::Refused);
            tracing::info!(request_id = record.request_id, reason = %why, "refused");
        }
        Exit::Denied(_) => {
            debug_assert!(record.decision.is_denial(), "a denial is never audited as {:?}", record.decision);
            metrics.record_decision(record.service, &record.action, record.decision);
            let decision = record.decision.as_str();
            tracing::info!(request_id = record.request_id, action = record.action, decision, "denied");
        }
        Exit::BadGateway(why) => {
            metrics.record_upstream_error();
            tracing::warn!(request_id = record.request_id, host = ctx.host, "{why}");
            record.reason = Some(why.clone());
        }
    }
    let response = deny::response(ctx.service, &method, &exit, &record.request_id);
    response.map(|body| Tracked::new(body, finisher))
}
