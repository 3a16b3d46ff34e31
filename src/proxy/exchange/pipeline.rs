//! One inner request, as a pipeline: the host it names must be the tunnel's, the authorizer decides from
//! its head (plus the bounded body prefix it asks for), then upstream answers through the same bytes.
//! Each step returns `Result<_, Exit>`; [`rescue`] answers every early end.

use std::convert::Infallible;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{
    read_prefix, Capped, ClientBodyError, Finisher, Prefix, ProxyBody, RequestBody, Tee, Tracked, TEE_LIMIT,
};
use super::conn::ConnCtx;
use super::exit::{Exit, Refused};
use super::headers::{inner_host, strip_hop_by_hop, upstream_request};
use super::rescue::{rescue, Pending};
use crate::audit::{AuditRecord, Authorization, Drift, ShadowDecision};
use crate::authorize::{Authorize, Verdict};
use crate::classify::{check_method_override, registry_challenge, RequestHead};
use crate::policy::Outcome;

/// An allowed request's upstream answer, and the copy of it the authorizer wants to learn from.
type Answered = (Response<Incoming>, Option<Tee>);

/// The per-request entry point given to hyper.
pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnCtx>,
) -> Result<Response<Tracked>, Infallible> {
    let record = AuditRecord::request(ctx.facts.client, ctx.service, &ctx.host);
    let sent = Arc::new(AtomicU64::new(0));
    let state = &ctx.state;
    let finisher = Finisher::new(&state.audit, &state.metrics, record, Instant::now(), Arc::clone(&sent));
    let mut pending = Pending { method: req.method().clone(), finisher };
    let (parts, body) = req.into_parts();
    Ok(match exchange(&ctx, &mut pending.finisher.record, parts, body, sent).await {
        Ok(answered) => forward(answered, pending.finisher),
        Err(exit) => rescue(&ctx, pending, exit),
    })
}

/// The steps, in order; the record is filled in as each learns something.
async fn exchange(
    ctx: &ConnCtx,
    record: &mut AuditRecord,
    parts: http::request::Parts,
    mut body: Incoming,
    sent: Arc<AtomicU64>,
) -> Result<Answered, Exit> {
    head_within_bound(&parts, ctx.state.config.limits.max_header_bytes)?;
    let host = inner_host(&parts.uri, &parts.headers, ctx).map_err(Refused::from)?;
    let auth = ctx.state.live.current();
    let head =
        RequestHead { method: parts.method.as_str(), host, path: path(&parts.uri), headers: &parts.headers };
    // Before anything reads the request as the method it claims to be (ARCHITECTURE.md §4).
    check_method_override(&head).map_err(Refused::from)?;
    if let Some(challenge) = registry_challenge(&head) {
        return Err(Exit::Challenged(challenge));
    }
    let prefix = body_prefix(ctx, &*auth, &head, &mut body).await?;
    // A login through another replica is in the shared store, not yet in memory (bounded wait).
    if let Some(warming) = auth.warm(head.headers) {
        warming.await;
    }
    let mut verdict =
        auth.authorize(&head, prefix.as_ref().map(|p| &p.bytes[..]), &ctx.facts).map_err(Refused::from)?;
    decided(ctx, record, &mut verdict)?;
    let body = match prefix {
        Some(prefix) => RequestBody::replay(prefix, body, sent),
        None => RequestBody::whole(body, sent),
    };
    let request = upstream_request(ctx, parts, body).map_err(Refused::from)?;
    // Counted once it is certain to be forwarded: every request is counted exactly once, here or in
    // `rescue`.
    ctx.state.metrics.record_decision(record.service, &record.action, record.decision);
    let response = ctx.state.upstream.client.request(request).await.map_err(|e| upstream_failed(ctx, &e))?;
    record.upstream_status = Some(response.status().as_u16());
    let tee = wants_tee(&auth, verdict, response.status().as_u16());
    Ok((response, tee))
}

/// `limits.max_header_bytes`, exactly: the head's size as HTTP/1.1 sends it (request line, each field as
/// `name: value` CRLF, the blank line), which hyper's buffer check does not give (see
/// [`Refused::HeadTooLarge`]).
fn head_within_bound(parts: &http::request::Parts, bound: usize) -> Result<(), Refused> {
    let line = parts.method.as_str().len() + 1 + path(&parts.uri).len() + " HTTP/1.1\r\n".len();
    let fields: usize = parts.headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    let size = line + fields + 2;
    if size > bound {
        return Err(Refused::HeadTooLarge(size, bound));
    }
    Ok(())
}

fn path(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// Reads the body prefix the authorizer needs to decide (ECR API JSON), bounded by
/// `limits.max_classify_body_bytes`; `None` when the head alone decides.
async fn body_prefix(
    ctx: &ConnCtx,
    auth: &dyn Authorize,
    head: &RequestHead<'_>,
    body: &mut Incoming,
) -> Result<Option<Prefix>, Exit> {
    let Some(wanted) = auth.body_needed(head) else { return Ok(None) };
    // One past the bound: what a body of unknown length needs to show it ended (`body_needed`).
    let limit = wanted.min(ctx.state.config.limits.max_classify_body_bytes + 1);
    Ok(Some(read_prefix(body, limit).await.map_err(Refused::from)?))
}

/// Records the verdict; a denied request leaves as [`Exit::Denied`], unless its service only reports
/// (ARCHITECTURE.md §10): then the refusal is audited and counted, and the request goes on.
fn decided(ctx: &ConnCtx, record: &mut AuditRecord, verdict: &mut Verdict) -> Result<(), Exit> {
    describe(record, verdict, ctx.state.audit.is_enabled());
    let metrics = &ctx.state.metrics;
    let service = verdict.classification.host.service;
    if let Some(shadow) = &verdict.shadow {
        if let Some(drift) = Drift::between(verdict.decision.outcome, shadow.outcome) {
            metrics.record_shadow_difference(service, &record.action, drift);
            let (denied_by, sid) = (shadow.denied_by, shadow.deciding_sid().map(str::to_owned));
            record.shadow = Some(ShadowDecision { outcome: shadow.outcome, denied_by, sid });
        }
    }
    if verdict.decision.outcome == Outcome::Allow {
        return Ok(());
    }
    if !verdict.enforced {
        record.report_only = true;
        metrics.record_would_deny(service, &record.action);
        return Ok(());
    }
    let message = verdict.decision.message.clone().unwrap_or_else(|| "Access denied".to_string());
    Err(Exit::Denied(message))
}

/// Copies the verdict into the audit record: who, what, on which resource, which statement decided, and
/// (when lines are kept) everything the decision was made on, moved out of the verdict, which needs it
/// no more.
fn describe(record: &mut AuditRecord, verdict: &mut Verdict, keep_context: bool) {
    record.principal.clone_from(&verdict.principal);
    let classification = &mut verdict.classification;
    record.service = Some(classification.host.service);
    if let Some(permission) = &classification.permission {
        record.action.clone_from(&permission.action);
        record.resource.clone_from(&permission.resource);
    }
    if keep_context {
        record.authorization = Some(Authorization {
            main: classification.permission.clone(),
            additional: classification.additional.clone(),
            context: std::mem::take(&mut classification.context),
        });
    }
    let decision = &verdict.decision;
    record.decision = decision.outcome.into();
    record.denied_by = decision.denied_by;
    record.sid = decision.deciding_sid().map(str::to_owned);
}

/// Upstream's response to the client, minus its hop-by-hop headers; the finisher rides on its body.
fn forward((response, tee): Answered, mut finisher: Finisher) -> Response<Tracked> {
    finisher.tee = tee;
    let (mut parts, incoming) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let body: ProxyBody = incoming.map_err(Into::into).boxed();
    Response::from_parts(parts, Tracked::new(body, finisher))
}

fn wants_tee(auth: &Arc<dyn Authorize>, verdict: Verdict, status: u16) -> Option<Tee> {
    if !auth.wants_response(&verdict) {
        return None;
    }
    Some(Tee { auth: Arc::clone(auth), verdict, status, copy: Capped::new(TEE_LIMIT) })
}

/// The 502 for an allowed request upstream did not answer, naming the deepest cause; or, when what
/// failed was the client's own body, [`Exit::ClientGone`].
fn upstream_failed(ctx: &ConnCtx, e: &hyper_util::client::legacy::Error) -> Exit {
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(client) = err.downcast_ref::<ClientBodyError>() {
            let sent = format!("{client} (request to {}:{})", ctx.host, ctx.port);
            return Exit::ClientGone(sent);
        }
        cause = err.to_string();
        source = err.source();
    }
    let what = if e.is_connect() { "cannot reach upstream" } else { "upstream failed" };
    let detail = if cause.is_empty() { e.to_string() } else { cause };
    Exit::BadGateway(format!("{what} for {}:{}: {detail}", ctx.host, ctx.port))
}
