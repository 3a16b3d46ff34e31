//! Accept loops for both listeners: connection limits, per-connection timeouts and graceful shutdown
//! (stop accepting, let in-flight requests finish up to `limits.drain_timeout_secs`, then cut the rest).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connect::{self, ConnectRequest, HeadError};
use super::handler::{self, ConnCtx};
use super::limits::{ConnGuard, IdleClock, IdleIo};
use super::state::ProxyState;
use super::{endpoint, sni, tunnel};
use crate::audit::AuditRecord;
use crate::authorize::ConnFacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Connect,
    Sni,
}

/// Serves the CONNECT listener (`HTTPS_PROXY` mode) until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept_loop(listener, state, Mode::Connect, shutdown).await
}

/// Serves the SNI listener (private-DNS mode: clients speak TLS directly) until `shutdown`, then drains.
pub async fn serve_sni(
    listener: TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept_loop(listener, state, Mode::Sni, shutdown).await
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<ProxyState>,
    mode: Mode,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors and similar: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match state.limits.admit(peer.ip(), &state.metrics) {
            Ok(guard) => {
                tasks.spawn(connection(stream, peer, guard, Arc::clone(&state), mode, stop_rx.clone()));
            }
            Err(limit) => {
                state.metrics.record_limit_refusal(limit.label());
                tracing::warn!(client = %peer, limit = limit.label(), "connection refused by limit");
                if mode == Mode::Connect {
                    let reply = connect::status_bytes(
                        503,
                        None,
                        &format!("too many connections ({})", limit.label()),
                    );
                    let _ = stream.try_write(reply.as_bytes());
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = state.config.limits.drain_timeout;
    let drained = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("drain timeout after {drain:?}: closing {} connection(s)", tasks.len());
        tasks.shutdown().await;
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    _guard: ConnGuard,
    state: Arc<ProxyState>,
    mode: Mode,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let clock = IdleClock::new();
    let io = IdleIo::new(stream, clock.clone());
    let idle = state.config.limits.idle_timeout;
    let metrics = Arc::clone(&state.metrics);
    let work = async move {
        match mode {
            Mode::Connect => connect_mode(io, peer, state, stop).await,
            Mode::Sni => {
                let facts = ConnFacts { client: Some(peer), proxy_credentials: None };
                tls_mode(io, None, 443, facts, state, stop).await
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = clock.expired(idle) => {
            metrics.record_limit_refusal("idle_timeout");
            tracing::debug!(client = %peer, "idle timeout");
        }
    }
}

async fn connect_mode<IO>(io: IO, peer: SocketAddr, state: Arc<ProxyState>, stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &state.config.limits;
    let mut reader = BufReader::new(io);
    let read = connect::read_head(&mut reader, limits.max_header_bytes, limits.max_headers);
    let req = match tokio::time::timeout(limits.header_read_timeout, read).await {
        Err(_) => {
            state.metrics.record_limit_refusal("header_read_timeout");
            let _ = connect::write_status(&mut reader, 408, None, "request head not received in time").await;
            return;
        }
        Ok(Err(HeadError::Closed)) => return,
        Ok(Err(e)) => {
            if e == HeadError::TooLarge {
                state.metrics.record_limit_refusal("max_header_bytes");
            }
            let _ = connect::write_status(&mut reader, e.status(), None, &e.to_string()).await;
            return;
        }
        Ok(Ok(req)) => req,
    };
    if let Err((status, header, message)) = admit_connect(&req, &state) {
        refuse_connect(&state, peer, &req.host, &message);
        let _ = connect::write_status(&mut reader, status, header, &message).await;
        return;
    }
    let facts = ConnFacts { client: Some(peer), proxy_credentials: req.credentials.clone() };
    if endpoint::service_of(&req.host).is_some() {
        if connect::write_status(&mut reader, 200, None, "").await.is_ok() {
            tls_mode(reader, Some(&req.host), req.port, facts, state, stop).await;
        }
    } else {
        let started = Instant::now();
        let result = tunnel::run(&mut reader, &req, &state).await;
        audit_tunnel(&state, peer, &req, started, result);
    }
}

/// The CONNECT-level checks, in the order a client can fix them: port, credentials, endpoint host.
fn admit_connect(
    req: &ConnectRequest,
    state: &ProxyState,
) -> Result<(), (u16, Option<&'static str>, String)> {
    let config = &state.config;
    if !config.endpoint.allowed_connect_ports.contains(&req.port) {
        let allowed = &config.endpoint.allowed_connect_ports;
        return Err((
            403,
            None,
            format!("CONNECT to port {} is not allowed (allowed: {allowed:?})", req.port),
        ));
    }
    if config.listen.require_proxy_auth
        && !connect::credentials_valid(req.credentials.as_ref(), &config.principals)
    {
        let why = if req.credentials.is_some() { "wrong" } else { "missing" };
        let message = format!("proxy authentication required (Proxy-Authorization: Basic {why})");
        return Err((407, Some("Proxy-Authenticate: Basic realm=\"vpce-proxy\""), message));
    }
    if endpoint::service_of(&req.host).is_none() && !config.endpoint.tunnel_unknown_hosts {
        let message = format!(
            "{} is not an ECR or S3 endpoint host; this VPC reaches only its endpoints \
             (set endpoint.tunnel_unknown_hosts = true to tunnel other hosts)",
            req.host
        );
        return Err((403, None, message));
    }
    Ok(())
}

async fn tls_mode<IO>(
    io: IO,
    target: Option<&str>,
    port: u16,
    facts: ConnFacts,
    state: Arc<ProxyState>,
    stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let client = facts.client;
    let accepted = match sni::accept(io, target, &state).await {
        Ok(accepted) => accepted,
        Err(e) => {
            if matches!(e, sni::TlsRefusal::Timeout(_)) {
                state.metrics.record_limit_refusal("handshake_timeout");
            }
            if let (Some(peer), sni::TlsRefusal::Mismatch { .. } | sni::TlsRefusal::NotEndpoint(_)) =
                (client, &e)
            {
                refuse_connect(&state, peer, target.unwrap_or(""), &e.to_string());
            }
            tracing::info!(client = ?client, "TLS refused: {e}");
            return;
        }
    };
    let ctx =
        ConnCtx { state: Arc::clone(&state), host: accepted.host, port, service: accepted.service, facts };
    serve_http(accepted.stream, Arc::new(ctx), stop).await;
}

async fn serve_http<IO>(io: IO, ctx: Arc<ConnCtx>, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    IO: TlsAlpn,
{
    let limits = &ctx.state.config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        // Over TLS a vectored write becomes one record per slice; one flat buffer is one record and one
        // send, which is most of the per-request cost for small responses.
        .writev(false);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);
    let builder = if io.is_h2() { builder.http2_only() } else { builder.http1_only() };
    let svc_ctx = Arc::clone(&ctx);
    let service = service_fn(move |req| handler::handle(req, Arc::clone(&svc_ctx)));
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(host = ctx.host, "client connection ended: {e}");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Whether the client chose h2 by ALPN; hyper is then told which protocol to speak instead of sniffing.
trait TlsAlpn {
    fn is_h2(&self) -> bool;
}

impl<IO> TlsAlpn for tokio_rustls::server::TlsStream<IO> {
    fn is_h2(&self) -> bool {
        self.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

fn refuse_connect(state: &ProxyState, peer: SocketAddr, host: &str, reason: &str) {
    tracing::info!(client = %peer, host, "CONNECT refused: {reason}");
    state.metrics.record_decision("", "", "Refused");
    state.audit.write(&AuditRecord {
        request_id: super::ids::next(),
        client: Some(peer),
        principal: crate::policy::ANONYMOUS.to_string(),
        host: host.to_string(),
        decision: "Refused".to_string(),
        reason: Some(reason.to_string()),
        ..AuditRecord::default()
    });
}

fn audit_tunnel(
    state: &ProxyState,
    peer: SocketAddr,
    req: &ConnectRequest,
    started: Instant,
    result: Result<(u64, u64), String>,
) {
    state.metrics.record_decision("", "", "Tunnel");
    let (bytes_in, bytes_out, reason) = match result {
        Ok((a, b)) => (a, b, None),
        Err(e) => {
            state.metrics.record_upstream_error();
            (0, 0, Some(e))
        }
    };
    state.audit.write(&AuditRecord {
        request_id: super::ids::next(),
        client: Some(peer),
        principal: crate::policy::ANONYMOUS.to_string(),
        host: format!("{}:{}", req.host, req.port),
        decision: "Tunnel".to_string(),
        reason,
        bytes_in,
        bytes_out,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        ..AuditRecord::default()
    });
}
