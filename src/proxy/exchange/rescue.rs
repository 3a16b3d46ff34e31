//! [`rescue`]: the one function that turns an [`Exit`] into the client's response, the audit line and
//! the metrics.

use http::{Method, Response};

use super::body::{Finisher, Tracked};
use super::conn::ConnCtx;
use super::deny;
use super::exit::Exit;
use crate::audit::{Disposition, Failure};

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
        Exit::Denied(message) => {
            // CloudTrail's errorMessage of an AccessDenied event: the one place a client that hides the
            // response body (containerd, any HEAD) lets the user read AWS's message.
            record.reason = Some(message.clone());
            debug_assert!(record.decision.is_denial(), "a denial is never audited as {:?}", record.decision);
            metrics.record_decision(record.service, &record.action, record.decision);
            let decision = record.decision.as_str();
            tracing::info!(request_id = record.request_id, action = record.action, decision, "denied");
        }
        Exit::Challenged(_) => {
            record.decision = Disposition::Challenged;
            record.reason = Some(exit.to_string());
            metrics.record_decision(record.service, "", Disposition::Challenged);
        }
        Exit::BadGateway(why) => {
            metrics.record_upstream_error();
            tracing::warn!(request_id = record.request_id, host = ctx.host, "{why}");
            record.failure = Some(Failure::Upstream);
            record.reason = Some(why.clone());
        }
        Exit::ClientGone(why) => {
            tracing::debug!(request_id = record.request_id, host = ctx.host, "{why}");
            record.failure = Some(Failure::ClientAborted);
            record.reason = Some(why.clone());
        }
    }
    let response = deny::response(ctx.service, &method, &exit, &record.request_id);
    response.map(|body| Tracked::new(body, finisher))
}
