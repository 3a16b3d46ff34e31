//! The admin listener: `/healthz`, Prometheus `/metrics` and the decision viewer (`/`, `/api/...`).
//!
//! The admin listener is separate from the proxy listener so it can be bound to a private address and
//! scraped without going through policy. Counters are lock-free atomics ([`metrics`]) so the hot path
//! pays a few nanoseconds per request; reload state lives in [`health`]; the viewer reads the audit
//! log's ring of recent records ([`viewer`]); `[admin] token` guards every path ([`access`]).
//! [`serve_admin`] takes an already-bound listener, so tests bind `127.0.0.1:0`, and stops when its
//! shutdown future completes.

mod access;
pub(crate) mod health;
pub(crate) mod metrics;
mod query;
mod respond;
mod state;
mod viewer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use health::{Health, PolicyHash, PolicyHashes};
pub use metrics::Metrics;
pub use respond::AdminBody;
pub use state::Admin;

use respond::{not_allowed, plain};

/// The content type Prometheus expects for the text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Admin connections served at once; scrapers and probes need a few, an abusive client gets no more.
const MAX_ADMIN_CONNECTIONS: usize = 64;
/// A scraper that has not sent its request head in this time is cut off (slowloris on the admin port).
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the admin paths until `shutdown` completes; then stops accepting and drops the connections
/// still open (admin requests are short and streams can be reopened, nothing needs draining).
pub async fn serve_admin(listener: TcpListener, admin: Arc<Admin>, shutdown: impl Future) {
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
            admin.metrics.record_limit_refusal("admin_connections");
            continue; // over the cap: dropping the stream closes it
        };
        let admin = Arc::clone(&admin);
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let admin = Arc::clone(&admin);
                async move { Ok::<_, std::convert::Infallible>(serve(request, &admin).await) }
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

/// One admin request: the token first, then the path.
async fn serve(request: Request<Incoming>, admin: &Admin) -> Response<AdminBody> {
    let path = request.uri().path().to_owned();
    if let Some(token) = &admin.token {
        if request.method() == Method::POST && path == "/login" {
            let limited = Limited::new(request.into_body(), access::MAX_LOGIN_BYTES);
            let Ok(form) = limited.collect().await.map(|b| b.to_bytes()) else {
                return plain(StatusCode::PAYLOAD_TOO_LARGE, "login form too large\n");
            };
            return access::login(&form, token);
        }
        if !access::allowed(request.headers(), token) {
            return access::challenge(&path);
        }
    }
    route(request.method(), &path, request.uri().query().unwrap_or(""), admin)
}

/// Maps one admin request to its response; public so the routing table is testable without sockets.
pub fn route(method: &Method, path: &str, query: &str, admin: &Admin) -> Response<AdminBody> {
    let head = *method == Method::HEAD;
    if *method != Method::GET && !head {
        return match path {
            "/metrics" | "/healthz" => not_allowed("GET, HEAD"),
            _ if known(path) => not_allowed("GET"),
            _ => plain(StatusCode::NOT_FOUND, "not found\n"),
        };
    }
    let response = match path {
        "/metrics" => respond::whole(StatusCode::OK, METRICS_CONTENT_TYPE, admin.metrics.render()),
        "/healthz" => respond::whole(StatusCode::OK, "application/json", admin.health.render(&admin.metrics)),
        "/api/decisions" => viewer::list(admin, query),
        "/api/decisions/stream" if !head => match Arc::clone(&admin.streams).try_acquire_owned() {
            Ok(permit) => viewer::stream(admin, query, permit),
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "too many decision streams open\n"),
        },
        _ => match path.strip_prefix("/api/decisions/") {
            Some(id) => viewer::detail(admin, id),
            None => viewer::asset(path).unwrap_or_else(|| plain(StatusCode::NOT_FOUND, "not found\n")),
        },
    };
    if head {
        return response.map(|_| http_body_util::Full::new(Bytes::new()).boxed());
    }
    response
}

/// Paths that exist for some method.
fn known(path: &str) -> bool {
    matches!(path, "/" | "/viewer.js" | "/viewer.css" | "/api/decisions" | "/login")
        || path.starts_with("/api/decisions/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_answer_known_paths_and_refuse_the_rest() {
        let health = Arc::new(Health::new(PolicyHashes::new(), Default::default()));
        let admin = Admin::new(health, Arc::new(Metrics::new()));
        let rows = [
            (Method::GET, "/metrics", StatusCode::OK, Some(METRICS_CONTENT_TYPE)),
            (Method::GET, "/healthz", StatusCode::OK, Some("application/json")),
            (Method::HEAD, "/healthz", StatusCode::OK, Some("application/json")),
            (Method::POST, "/metrics", StatusCode::METHOD_NOT_ALLOWED, Some("text/plain")),
            (Method::GET, "/metrics/", StatusCode::NOT_FOUND, Some("text/plain")),
            (Method::GET, "/", StatusCode::OK, Some("text/html; charset=utf-8")),
            (Method::GET, "/viewer.js", StatusCode::OK, Some("text/javascript; charset=utf-8")),
            (Method::GET, "/viewer.css", StatusCode::OK, Some("text/css; charset=utf-8")),
            (Method::POST, "/", StatusCode::METHOD_NOT_ALLOWED, Some("text/plain")),
            (Method::GET, "/api/decisions", StatusCode::OK, Some("application/json")),
            (Method::GET, "/api/decisions/stream", StatusCode::OK, Some("text/event-stream")),
            (Method::GET, "/api/decisions/no-such-id", StatusCode::NOT_FOUND, Some("text/plain")),
            (Method::GET, "/login", StatusCode::NOT_FOUND, Some("text/plain")),
        ];
        for (method, path, status, content_type) in rows {
            let response = route(&method, path, "", &admin);
            assert_eq!(response.status(), status, "{method} {path}");
            let got = response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            assert_eq!(got, content_type, "{method} {path}");
        }
    }
}
