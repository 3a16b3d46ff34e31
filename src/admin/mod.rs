//! `/healthz` and Prometheus `/metrics` on the admin listener.
//!
//! The admin listener is separate from the proxy listener so it can be bound to a private address and
//! scraped without going through policy. Counters are lock-free atomics ([`metrics`]) so the hot path
//! pays a few nanoseconds per request; reload state lives in [`health`]. [`serve_admin`] takes an
//! already-bound listener, so tests bind `127.0.0.1:0`, and stops when its shutdown future completes.

pub(crate) mod health;
pub(crate) mod metrics;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use health::{Health, PolicyHash, PolicyHashes};
pub use metrics::Metrics;

/// The content type Prometheus expects for the text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Admin connections served at once; scrapers and probes need a few, an abusive client gets no more.
const MAX_ADMIN_CONNECTIONS: usize = 64;
/// A scraper that has not sent its request head in this time is cut off (slowloris on the admin port).
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `/healthz` and `/metrics` until `shutdown` completes; then stops accepting and drops the
/// connections still open (admin requests are short, nothing needs draining).
pub async fn serve_admin(
    listener: TcpListener,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    shutdown: impl Future,
) {
    let permits = Arc::new(Semaphore::new(MAX_ADMIN_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning on a failing accept.
                tracing::warn!(%error, "admin listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics.record_limit_refusal("admin_connections");
            continue; // over the cap: dropping the stream closes it
        };
        let (health, metrics) = (Arc::clone(&health), Arc::clone(&metrics));
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let response = route(&request, &health, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(ADMIN_HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "admin connection ended with an error");
            }
            drop(permit);
        });
    }
    connections.shutdown().await;
}

/// Maps one admin request to its response; public so the routing table is testable without sockets.
pub fn route<B>(request: &Request<B>, health: &Health, metrics: &Metrics) -> Response<Full<Bytes>> {
    respond(request.method(), request.uri().path(), health, metrics)
}

fn respond(method: &Method, path: &str, health: &Health, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (content_type, body) = match path {
        "/metrics" => (METRICS_CONTENT_TYPE, metrics.render()),
        "/healthz" => ("application/json", health.render(metrics)),
        _ => return plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    let body = match *method {
        Method::GET => Bytes::from(body),
        Method::HEAD => Bytes::new(),
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_answer_known_paths_and_refuse_the_rest() {
        let (health, metrics) = (Health::new(PolicyHashes::new(), Default::default()), Metrics::new());
        let rows = [
            (Method::GET, "/metrics", StatusCode::OK, Some(METRICS_CONTENT_TYPE)),
            (Method::GET, "/healthz", StatusCode::OK, Some("application/json")),
            (Method::HEAD, "/healthz", StatusCode::OK, Some("application/json")),
            (Method::POST, "/metrics", StatusCode::METHOD_NOT_ALLOWED, Some("text/plain")),
            (Method::GET, "/", StatusCode::NOT_FOUND, Some("text/plain")),
            (Method::GET, "/metrics/", StatusCode::NOT_FOUND, Some("text/plain")),
        ];
        for (method, path, status, content_type) in rows {
            let response = respond(&method, path, &health, &metrics);
            assert_eq!(response.status(), status, "{method} {path}");
            let got = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            assert_eq!(got, content_type, "{method} {path}");
        }
    }
}
