//! One inner request: check that it names the tunnel's host, authorize it from its head (plus the bounded
//! body prefix the authorizer asks for), then answer the denial or stream it through unchanged.

use std::convert::Infallible;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderName, CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{read_prefix, Finisher, ProxyBody, RequestBody, Tee, Tracked};
use super::deny::{self, Synthetic};
use super::ids;
use super::state::{Authorize, ProxyState};
use crate::audit::AuditRecord;
use crate::authorize::{ConnFacts, Verdict};
use crate::classify::{RequestHead, Service};
use crate::policy::{Layer, Outcome};

/// What one TLS connection knows about itself.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub state: Arc<ProxyState>,
    /// The host the tunnel (CONNECT target or SNI) is for, lowercased.
    pub host: String,
    pub port: u16,
    pub service: Service,
    pub facts: ConnFacts,
}

/// The per-request entry point given to hyper.
pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnCtx>,
) -> Result<Response<Tracked>, Infallible> {
    let started = Instant::now();
    let request_id = ids::next();
    let (parts, mut body) = req.into_parts();
    let mut record = AuditRecord {
        request_id: request_id.clone(),
        client: ctx.facts.client,
        service: ctx.service.key().to_string(),
        host: ctx.host.clone(),
        principal: crate::policy::ANONYMOUS.to_string(),
        ..AuditRecord::default()
    };
    let bytes_in = Arc::new(AtomicU64::new(0));
    let finisher = |record, tee| Finisher {
        state: Arc::clone(&ctx.state),
        record,
        started,
        bytes_in: Arc::clone(&bytes_in),
        bytes_out: 0,
        tee,
        ended: false,
    };

    let host_value = match inner_host(&parts.uri, &parts.headers, &ctx) {
        Ok(host) => host,
        Err(why) => {
            refused(&ctx, &mut record, &why);
            let response = deny::response(ctx.service, &parts.method, &Synthetic::Refused(why), &request_id);
            return Ok(track(response, finisher(record, None)));
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let head =
        RequestHead { method: parts.method.as_str(), host: &host_value, path, headers: &parts.headers };
    let auth = ctx.state.live.current();

    let prefix = match auth.body_needed(&head) {
        None => None,
        Some(wanted) => {
            let limit = wanted.min(ctx.state.config.limits.max_classify_body_bytes);
            match read_prefix(&mut body, limit).await {
                Ok(prefix) => Some(prefix),
                Err(e) => {
                    let why = format!("request body could not be read: {e}");
                    refused(&ctx, &mut record, &why);
                    let response =
                        deny::response(ctx.service, &parts.method, &Synthetic::Refused(why), &request_id);
                    return Ok(track(response, finisher(record, None)));
                }
            }
        }
    };

    let verdict = match auth.authorize(&head, prefix.as_ref().map(|p| &p.bytes[..]), &ctx.facts) {
        Ok(verdict) => verdict,
        Err(refusal) => {
            refused(&ctx, &mut record, &refusal.0);
            let response =
                deny::response(ctx.service, &parts.method, &Synthetic::Refused(refusal.0), &request_id);
            return Ok(track(response, finisher(record, None)));
        }
    };
    describe(&mut record, &verdict);
    ctx.state.metrics.record_decision(&record.service, &record.action, &record.decision);
    if verdict.decision.outcome != Outcome::Allow {
        let message = verdict.decision.message.clone().unwrap_or_else(|| "Access denied".to_string());
        tracing::info!(request_id, action = record.action, decision = record.decision, "denied");
        let response = deny::response(ctx.service, &parts.method, &Synthetic::Denied(message), &request_id);
        return Ok(track(response, finisher(record, None)));
    }

    let sent = Arc::clone(&bytes_in);
    let body = match prefix {
        Some(prefix) => RequestBody::replay(prefix, body, sent),
        None => RequestBody::whole(body, sent),
    };
    let upstream_req = match upstream_request(&ctx, parts, body) {
        Ok(req) => req,
        Err(why) => {
            let response =
                deny::response(ctx.service, &http::Method::GET, &Synthetic::Refused(why), &request_id);
            return Ok(track(response, finisher(record, None)));
        }
    };
    let method = upstream_req.method().clone();
    match ctx.state.upstream.client.request(upstream_req).await {
        Ok(response) => {
            record.upstream_status = Some(response.status().as_u16());
            let tee = wants_tee(&auth, verdict, response.status().as_u16());
            let (mut parts, incoming) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let body: ProxyBody = incoming.map_err(Into::into).boxed();
            Ok(Response::from_parts(parts, Tracked::new(body, finisher(record, tee))))
        }
        Err(e) => {
            ctx.state.metrics.record_upstream_error();
            let why = upstream_failure(&ctx, &e);
            tracing::warn!(request_id, host = ctx.host, "{why}");
            record.reason = Some(why.clone());
            let response = deny::response(ctx.service, &method, &Synthetic::BadGateway(why), &request_id);
            Ok(track(response, finisher(record, None)))
        }
    }
}

fn track(response: Response<ProxyBody>, finisher: Finisher) -> Response<Tracked> {
    response.map(|body| Tracked::new(body, finisher))
}

fn refused(ctx: &ConnCtx, record: &mut AuditRecord, why: &str) {
    record.decision = "Refused".to_string();
    record.reason = Some(why.to_string());
    ctx.state.metrics.record_decision(&record.service, "", "Refused");
    tracing::info!(request_id = record.request_id, reason = why, "refused");
}

fn describe(record: &mut AuditRecord, verdict: &Verdict) {
    record.principal = verdict.principal.clone();
    record.service = verdict.classification.host.service.key().to_string();
    if let Some(permission) = &verdict.classification.permission {
        record.action = permission.action.clone();
        record.resource = permission.resource.clone();
    }
    let decision = &verdict.decision;
    record.decision = match decision.outcome {
        Outcome::Allow => "Allow",
        Outcome::ExplicitDeny => "ExplicitDeny",
        Outcome::ImplicitDeny => "ImplicitDeny",
    }
    .to_string();
    record.denied_by = decision.denied_by.map(|layer| {
        match layer {
            Layer::VpcEndpoint => "vpc_endpoint",
            Layer::Identity => "identity",
            Layer::Resource => "resource",
        }
        .to_string()
    });
    let deciding = decision.matched.iter().rev().find(|m| match decision.outcome {
        Outcome::ExplicitDeny => m.effect == crate::policy::Effect::Deny,
        _ => true,
    });
    record.sid = deciding.and_then(|m| m.sid.clone());
}

fn wants_tee(auth: &Arc<dyn Authorize>, verdict: Verdict, status: u16) -> Option<Tee> {
    if !auth.wants_response(&verdict) {
        return None;
    }
    Some(Tee { auth: Arc::clone(auth), verdict, status, buf: Vec::new(), overflow: false })
}

/// The host the inner request names (`:authority` or `Host`), which must be the tunnel's host: otherwise a
/// client could CONNECT to an allowed name and send requests for another (domain fronting).
fn inner_host(uri: &Uri, headers: &HeaderMap, ctx: &ConnCtx) -> Result<String, String> {
    let from_uri = uri.authority().map(|a| a.as_str().to_string());
    let from_header = match headers.get_all(HOST).iter().collect::<Vec<_>>()[..] {
        [] => None,
        [value] => Some(value.to_str().map_err(|_| "Host header is not ASCII".to_string())?.to_string()),
        _ => return Err("more than one Host header".to_string()),
    };
    let host = match (from_uri, from_header) {
        (Some(a), Some(h)) if !same_host(&a, &h, ctx.port) => {
            return Err(format!("Host header {h:?} disagrees with the request target {a:?}"))
        }
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err("request names no host (Host header missing)".to_string()),
    };
    if !same_host(&host, &format!("{}:{}", ctx.host, ctx.port), ctx.port) {
        return Err(format!(
            "Host {host:?} does not match the tunnel's host {:?} (CONNECT target and TLS SNI)",
            ctx.host
        ));
    }
    Ok(host)
}

/// `a` and `b` name the same host and port, a missing port meaning `port`.
fn same_host(a: &str, b: &str, port: u16) -> bool {
    let split = |s| {
        super::connect::authority_parts(s).unwrap_or((s.trim_start_matches('[').trim_end_matches(']'), port))
    };
    let (ha, pa) = split(a);
    let (hb, pb) = split(b);
    ha.trim_end_matches('.').eq_ignore_ascii_case(hb.trim_end_matches('.')) && pa == pb
}

/// The request as upstream receives it: same method, path and query, headers (including `Host`) and
/// body; only connection-scoped headers that cannot cross a hop are dropped (RFC 9110 §7.6.1).
fn upstream_request(
    ctx: &ConnCtx,
    parts: http::request::Parts,
    body: RequestBody,
) -> Result<Request<RequestBody>, String> {
    let authority = if ctx.port == 443 { ctx.host.clone() } else { format!("{}:{}", ctx.host, ctx.port) };
    // Built from parts: the path and query hyper already parsed are reused, not printed and parsed again.
    let mut target = http::uri::Parts::default();
    target.scheme = Some(http::uri::Scheme::HTTPS);
    target.authority = Some(authority.parse().map_err(|e| format!("bad request target: {e}"))?);
    target.path_and_query = Some(
        parts.uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    let uri = Uri::from_parts(target).map_err(|e| format!("bad request target: {e}"))?;
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = parts.headers;
    strip_hop_by_hop(request.headers_mut());
    Ok(request)
}

/// Removes the headers that describe one connection, not the message (RFC 9110 §7.6.1): those named in
/// `Connection`, and the well-known connection-specific ones. `TE` and `Transfer-Encoding` are left to
/// hyper, which frames each hop itself.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    if headers.contains_key(CONNECTION) {
        strip_named_in_connection(headers);
    }
    // Names, not strings: removing by `&str` parsed each name again on every request and response.
    for name in [CONNECTION, KEEP_ALIVE, PROXY_CONNECTION, UPGRADE] {
        headers.remove(name);
    }
}

/// Removes every header the `Connection` header names.
fn strip_named_in_connection(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
}

fn upstream_failure(ctx: &ConnCtx, e: &hyper_util::client::legacy::Error) -> String {
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        cause = err.to_string();
        source = err.source();
    }
    let what = if e.is_connect() { "cannot reach upstream" } else { "upstream failed" };
    let detail = if cause.is_empty() { e.to_string() } else { cause };
    format!("{what} for {}:{}: {detail}", ctx.host, ctx.port)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §7.2 (Host and :authority) and §7.6.1 (Connection).
    #[test]
    fn host_agreement() {
        let rows = [
            ("a.example", "A.example:443", true),
            ("a.example:443", "a.example", true),
            ("a.example.", "a.example", true),
            ("a.example:8443", "a.example", false),
            ("b.example", "a.example", false),
        ];
        for (a, b, want) in rows {
            assert_eq!(same_host(a, b, 443), want, "{a} vs {b}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_dropped_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, "keep-alive, x-hop".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-hop", "1".parse().unwrap());
        headers.insert("proxy-connection", "keep-alive".parse().unwrap());
        headers.insert("x-amz-date", "20250101T000000Z".parse().unwrap());
        headers.insert("authorization", "AWS4-HMAC-SHA256 Credential=...".parse().unwrap());
        headers.insert("expect", "100-continue".parse().unwrap());
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["authorization", "expect", "x-amz-date"]);
    }
}
