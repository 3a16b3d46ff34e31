//! Bodies in both directions: streamed frame by frame (backpressure comes from polling), never buffered
//! except the bounded classification prefix and the bounded copy of a response the authorizer learns
//! from. The response body wrapper is the single place where a request ends, so it writes the audit
//! record when it is dropped, whether the transfer completed, failed or the client went away.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::admin::Metrics;
use crate::audit::{AuditLog, AuditRecord, Failure};
use crate::authorize::{Authorize, Verdict};

/// Any error a body can fail with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The one body type responses and upstream requests use.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// Largest response body copied for [`Authorize::observe_response`]; a GetAuthorizationToken answer is
/// a few KiB, so anything larger is not one and is not looked at.
pub(crate) const TEE_LIMIT: usize = 1024 * 1024;

/// A complete in-memory body (synthetic responses).
pub(crate) fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// The start of a request body read for classification, and what followed it.
#[derive(Debug)]
pub(crate) struct Prefix {
    /// The bytes read; at least `limit` unless the body ended first (may exceed it by one frame).
    pub bytes: Bytes,
    /// Trailers, when the body ended with them during the read.
    pub trailers: Option<HeaderMap>,
    /// Whether the body ended during the read.
    pub ended: bool,
}

/// Reads frames until `limit` bytes are buffered or the body ends.
pub(crate) async fn read_prefix(body: &mut Incoming, limit: usize) -> Result<Prefix, hyper::Error> {
    let mut buf = BytesMut::new();
    while buf.len() < limit {
        match body.frame().await {
            None => return Ok(Prefix { bytes: buf.freeze(), trailers: None, ended: true }),
            Some(frame) => match frame?.into_data() {
                Ok(data) => buf.extend_from_slice(&data),
                Err(frame) => {
                    let trailers = frame.into_trailers().ok();
                    return Ok(Prefix { bytes: buf.freeze(), trailers, ended: true });
                }
            },
        }
    }
    Ok(Prefix { bytes: buf.freeze(), trailers: None, ended: false })
}

/// The client's request body failed while it was being sent upstream (the client went away): typed, so
/// the upstream error that carries it is not mistaken for an upstream fault.
#[derive(Debug, thiserror::Error)]
#[error("the client's request body failed: {0}")]
pub(crate) struct ClientBodyError(#[from] hyper::Error);

/// The request body sent upstream: the replayed prefix, then the rest as it arrives; counts bytes.
pub(crate) struct RequestBody {
    prefix: Option<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<Incoming>,
    sent: Arc<AtomicU64>,
}

impl RequestBody {
    /// The untouched body.
    pub(crate) fn whole(body: Incoming, sent: Arc<AtomicU64>) -> RequestBody {
        RequestBody { prefix: None, trailers: None, rest: Some(body), sent }
    }

    /// A body whose first bytes were already read into `prefix`.
    pub(crate) fn replay(prefix: Prefix, rest: Incoming, sent: Arc<AtomicU64>) -> RequestBody {
        let rest = if prefix.ended { None } else { Some(rest) };
        let bytes = Some(prefix.bytes).filter(|b| !b.is_empty());
        RequestBody { prefix: bytes, trailers: prefix.trailers, rest, sent }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(prefix) = self.prefix.take() {
            self.sent.fetch_add(prefix.len() as u64, Ordering::Relaxed);
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if let Some(rest) = self.rest.as_mut() {
            match ready!(Pin::new(rest).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.sent.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(ClientBodyError(e).into()))),
                None => self.rest = None,
            }
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().map_or(true, Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self.rest.as_ref().map_or_else(|| SizeHint::with_exact(0), |r| r.size_hint());
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + prefix);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + prefix);
        }
        hint
    }
}

/// A bounded copy of the response for the authorizer (token bindings).
pub(crate) struct Tee {
    pub auth: Arc<dyn Authorize>,
    pub verdict: Verdict,
    pub status: u16,
    pub copy: Capped,
}

/// A copy of a body of at most `limit` bytes: a longer body drops the copy, which is then never handed
/// over (a GetAuthorizationToken answer is a few KiB; one of megabytes is not one to learn from).
#[derive(Debug)]
pub(crate) struct Capped {
    buf: Vec<u8>,
    limit: usize,
    overflow: bool,
}

impl Capped {
    pub(crate) fn new(limit: usize) -> Capped {
        Capped { buf: Vec::new(), limit, overflow: false }
    }

    fn push(&mut self, data: &[u8]) {
        if self.overflow {
            return;
        }
        if self.buf.len() + data.len() > self.limit {
            self.overflow = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    /// The whole body, unless it was longer than the limit.
    fn whole(&self) -> Option<&[u8]> {
        (!self.overflow).then_some(&self.buf[..])
    }
}

/// Completes the audit record of one request when dropped; `ended` says the body was sent in full.
/// It holds the audit log and the metrics, not the whole proxy state, so bodies know nothing else.
pub(crate) struct Finisher {
    audit: Arc<AuditLog>,
    metrics: Arc<Metrics>,
    pub record: AuditRecord,
    started: Instant,
    bytes_in: Arc<AtomicU64>,
    bytes_out: u64,
    pub tee: Option<Tee>,
    ended: bool,
}

impl Finisher {
    /// The finisher of a request that started at `started`; `bytes_in` counts what was sent upstream.
    pub(crate) fn new(
        audit: &Arc<AuditLog>,
        metrics: &Arc<Metrics>,
        record: AuditRecord,
        started: Instant,
        bytes_in: Arc<AtomicU64>,
    ) -> Finisher {
        Finisher {
            audit: Arc::clone(audit),
            metrics: Arc::clone(metrics),
            record,
            started,
            bytes_in,
            bytes_out: 0,
            tee: None,
            ended: false,
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        self.record.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        self.record.bytes_out = self.bytes_out;
        self.record.duration_ms = seconds * 1000.0;
        self.audit.write(std::mem::take(&mut self.record));
        self.metrics.observe_latency(seconds);
    }
}

/// The response body sent to the client: counts bytes, tees when asked, finishes the record on drop.
pub(crate) struct Tracked {
    inner: ProxyBody,
    finisher: Finisher,
}

impl Tracked {
    pub(crate) fn new(inner: ProxyBody, finisher: Finisher) -> Tracked {
        Tracked { inner, finisher }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.finisher.bytes_out += data.len() as u64;
                    if let Some(tee) = this.finisher.tee.as_mut() {
                        tee.copy.push(data);
                    }
                }
            }
            Some(Err(e)) => {
                // The status line has gone, so the client sees a cut body; the audit line says why.
                this.finisher.metrics.record_upstream_error();
                let sent = this.finisher.bytes_out;
                this.finisher.record.failure = Some(Failure::Upstream);
                this.finisher.record.reason =
                    Some(format!("upstream response failed after {sent} body bytes: {e}"));
            }
            None => this.finisher.ended = true,
        }
        // hyper stops polling once the body says it has ended, so the end is detected here, and the
        // authorizer learns from the response before its last bytes reach the client.
        if !this.finisher.ended && this.inner.is_end_stream() {
            this.finisher.ended = true;
        }
        if this.finisher.ended {
            if let Some(tee) = this.finisher.tee.take() {
                if let Some(body) = tee.copy.whole() {
                    tee.auth.observe_response(&tee.verdict, tee.status, body);
                }
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GetAuthorizationToken tee at its bound: a body of exactly [`TEE_LIMIT`] bytes, in any
    /// framing, is handed over whole; one byte more drops the copy.
    #[test]
    fn the_tee_keeps_a_body_at_its_bound_and_drops_one_a_byte_longer() {
        for (frames, whole) in [
            (vec![TEE_LIMIT], true),
            (vec![TEE_LIMIT - 1, 1], true),
            (vec![TEE_LIMIT, 1], false),
            (vec![1, TEE_LIMIT], false),
            (vec![TEE_LIMIT + 1], false),
        ] {
            let mut copy = Capped::new(TEE_LIMIT);
            for len in &frames {
                copy.push(&vec![b'a'; *len]);
            }
            let total: usize = frames.iter().sum();
            assert_eq!(copy.whole().map(<[u8]>::len), whole.then_some(total), "frames {frames:?}");
        }
    }
}
