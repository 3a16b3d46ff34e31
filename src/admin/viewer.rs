//! The decision viewer: `GET /` and its data, `/api/decisions`, `/api/decisions/stream` and
//! `/api/decisions/{requestID}` (ARCHITECTURE.md §11).
//!
//! Every record served is the line the audit log wrote, so the viewer can show nothing the log does not.
//! The page is three files compiled into the binary and served under a strict Content-Security-Policy;
//! it inserts every request-derived string as text, never as markup.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, OwnedSemaphorePermit};

use super::query::{Filter, Query};
use super::respond::{html, json as json_response, plain, whole, AdminBody};
use super::state::Admin;
use crate::audit::Kept;

/// A stream with nothing to send says so this often, so proxies and browsers keep it open and a reader
/// that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

const INDEX: &str = include_str!("viewer/index.html");
const SCRIPT: &str = include_str!("viewer/viewer.js");
const STYLE: &str = include_str!("viewer/viewer.css");

/// The page and its two assets.
pub(crate) fn asset(path: &str) -> Option<Response> {
    Some(match path {
        "/" => html(StatusCode::OK, INDEX),
        "/viewer.js" => whole(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT),
        "/viewer.css" => whole(StatusCode::OK, "text/css; charset=utf-8", STYLE),
        _ => return None,
    })
}

type Response = http::Response<AdminBody>;

/// `GET /api/decisions`: a JSON array of audit records, newest first.
pub(crate) fn list(admin: &Admin, query: &str) -> Response {
    let query = match Query::parse(query) {
        Ok(query) => query,
        Err(why) => return bad_request(why),
    };
    let limit = query.limit(admin.recent.capacity());
    let kept = admin.recent.newest(limit, query.before.as_deref(), |k| query.filter.accepts(k));
    let mut body = BytesMut::with_capacity(2 + kept.iter().map(|k| k.line.len() + 1).sum::<usize>());
    body.put_u8(b'[');
    for (i, k) in kept.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&k.line);
    }
    body.put_u8(b']');
    json_response(body.freeze())
}

/// `GET /api/decisions/{requestID}`: the record, AWS's message and why, under the policies in force.
pub(crate) fn detail(admin: &Admin, request_id: &str) -> Response {
    let Some(kept) = admin.recent.find(request_id) else {
        return plain(StatusCode::NOT_FOUND, "no such decision in the viewer's memory\n");
    };
    let record: Value = serde_json::from_slice(&kept.line).unwrap_or(Value::Null);
    let r = &kept.record;
    let explained = match (&admin.live, r.service, &r.authorization) {
        (Some(live), Some(service), Some(authorization)) => {
            live.current().explain(service, &r.principal, authorization)
        }
        _ => None,
    };
    let mut body = json!({
        "record": record,
        "message": r.reason,
        "reasons": [],
        "policies": [],
        "shadow": null,
        "current": kept.generation == admin.recent.generation(),
    });
    if let (Some(e), Value::Object(out)) = (explained, &mut body) {
        let e = serde_json::to_value(e).unwrap_or(Value::Null);
        for key in ["reasons", "policies", "shadow"] {
            out.insert(key.into(), e[key].clone());
        }
        if let Some(message) = e.get("message").filter(|m| !m.is_null()) {
            out.insert("message".into(), message.clone());
        }
    }
    json_response(body.to_string())
}

/// `GET /api/decisions/stream`: one server-sent event per record kept from now on. A reader that
/// falls behind gets a `lagged` event with the count it missed; `permit` bounds the readers at once.
pub(crate) fn stream(admin: &Admin, query: &str, permit: OwnedSemaphorePermit) -> Response {
    let filter = match Query::parse(query) {
        Ok(query) => query.filter,
        Err(why) => return bad_request(why),
    };
    let state = (admin.recent.subscribe(), filter, permit);
    let events = futures_util::stream::unfold(state, |(mut rx, filter, permit)| async move {
        let event = next_event(&mut rx, &filter).await?;
        Some((Ok::<_, Infallible>(Frame::data(event)), (rx, filter, permit)))
    });
    let mut response = http::Response::new(StreamBody::new(events).boxed());
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/event-stream"));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// The next event to send; `None` ends the stream (the proxy is stopping).
async fn next_event(rx: &mut broadcast::Receiver<Arc<Kept>>, filter: &Filter) -> Option<Bytes> {
    loop {
        match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
            Ok(Err(RecvError::Closed)) => return None,
            Ok(Err(RecvError::Lagged(missed))) => {
                return Some(Bytes::from(format!("event: lagged\ndata: {missed}\n\n")));
            }
            Ok(Ok(kept)) if filter.accepts(&kept) => return Some(event(&kept)),
            Ok(Ok(_)) => continue,
        }
    }
}

/// One record as an SSE event. A line never holds a raw newline (JSON escapes them), so one `data:`
/// field carries it whole; the request id is ASCII the proxy minted.
fn event(kept: &Kept) -> Bytes {
    let id = &kept.record.request_id;
    let mut out = BytesMut::with_capacity(kept.line.len() + id.len() + 32);
    out.put_slice(b"event: decision\nid: ");
    out.put_slice(id.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(&kept.line);
    out.put_slice(b"\n\n");
    out.freeze()
}

fn bad_request(why: String) -> Response {
    whole(StatusCode::BAD_REQUEST, "text/plain", format!("{why}\n"))
}
