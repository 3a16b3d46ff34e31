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

#[cfg(test)]
mod tests {
    //! Each timeout of a CONNECT connection on tokio's paused clock, over an in-memory pipe instead of a
    //! socket: nothing waits real time and no I/O can race the clock, so each cut is asserted at its
    //! virtual moment. (tests/proxy_limits.rs shows the same limits end to end over real sockets.)

    use std::path::Path;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::Instant;

    use super::*;
    use crate::admin::Metrics;
    use crate::authorize::Authorizer;
    use crate::config::{Config, Limits};
    use crate::reload::LiveAuthorizer;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    /// A proxy state with the default config, the limits `edit` sets, and its CA under `dir`.
    fn state(dir: &Path, edit: impl FnOnce(&mut Limits)) -> Arc<ProxyState> {
        let mut config = Config::default();
        config.ca.dir = dir.join("certs");
        edit(&mut config.limits);
        let live = Arc::new(LiveAuthorizer::new(Authorizer::from_config(&config).unwrap()));
        let audit = Arc::new(crate::audit::AuditLog::disabled());
        Arc::new(ProxyState::new(config, live, Arc::new(Metrics::new()), audit).unwrap())
    }

    /// Serves one CONNECT connection on one end of a pipe; returns the client's end and the stop sender
    /// (kept so the connection is not told to stop).
    fn start(state: &Arc<ProxyState>) -> (DuplexStream, watch::Sender<bool>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (stop_tx, stop_rx) = watch::channel(false);
        let peer = SocketAddr::from(([127, 0, 0, 1], 50000));
        tokio::spawn(connect_mode(server, peer, Arc::clone(state), stop_rx));
        (client, stop_tx)
    }

    /// Sends a CONNECT for [`HOST`] and reads the response head byte by byte (nothing after it).
    async fn tunnel(client: &mut DuplexStream) -> String {
        client.write_all(format!("CONNECT {HOST}:443 HTTP/1.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(client.read_u8().await.unwrap());
        }
        String::from_utf8(head).unwrap()
    }

    fn refusals(state: &ProxyState, limit: &str) -> bool {
        state.metrics.render().contains(&format!("limit=\"{limit}\""))
    }

    /// `limits.header_read_timeout_secs` on the CONNECT head: a slowloris client trickling its head
    /// gets 408 when the timeout runs out, although bytes keep arriving.
    #[tokio::test(start_paused = true)]
    async fn a_trickled_connect_head_gets_408_at_the_header_read_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let limit = Duration::from_secs(3);
        let state = state(dir.path(), |l| l.header_read_timeout = limit);
        let (client, _stop) = start(&state);
        let (mut read, mut write) = tokio::io::split(client);
        let started = Instant::now();
        tokio::spawn(async move {
            for byte in format!("CONNECT {HOST}:443 HTTP/1.1\r\nX-Slow: 1").bytes() {
                if write.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut response = String::new();
        read.read_to_string(&mut response).await.unwrap();
        let cut = started.elapsed();
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(cut >= limit && cut < 2 * limit, "cut after {cut:?}");
        assert!(refusals(&state, "header_read_timeout"));
    }

    /// `limits.handshake_timeout_secs`: a tunnel whose client never sends a ClientHello is closed when
    /// the timeout runs out.
    #[tokio::test(start_paused = true)]
    async fn a_silent_tls_client_is_closed_at_the_handshake_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let limit = Duration::from_secs(5);
        let state = state(dir.path(), |l| l.handshake_timeout = limit);
        let (mut client, _stop) = start(&state);
        let head = tunnel(&mut client).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let started = Instant::now();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        let cut = started.elapsed();
        assert!(rest.is_empty(), "{rest:?}");
        assert!(cut >= limit && cut < 2 * limit, "cut after {cut:?}");
        assert!(refusals(&state, "handshake_timeout"));
    }

    /// `limits.header_read_timeout_secs` on the inner request (hyper's timer): after a completed TLS
    /// handshake, a request head that never completes is cut when the timeout runs out.
    #[tokio::test(start_paused = true)]
    async fn an_unfinished_inner_head_is_cut_at_the_header_read_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let limit = Duration::from_secs(3);
        let state = state(dir.path(), |l| l.header_read_timeout = limit);
        let (mut client, _stop) = start(&state);
        assert!(tunnel(&mut client).await.starts_with("HTTP/1.1 200"));
        let mut tls = client_tls(client, state.certs.ca_pem()).await;
        let started = Instant::now();
        tls.write_all(format!("GET /v2/ HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: 1").as_bytes()).await.unwrap();
        let mut rest = Vec::new();
        // The proxy drops the connection without close_notify, which rustls reports as an error.
        let _ = tls.read_to_end(&mut rest).await;
        let cut = started.elapsed();
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        assert!(cut >= limit && cut < 2 * limit, "cut after {cut:?}");
    }

    /// TLS for [`HOST`] over the tunnel, trusting only the proxy's CA, speaking HTTP/1.1.
    async fn client_tls(io: DuplexStream, ca_pem: &str) -> tokio_rustls::client::TlsStream<DuplexStream> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, io).await.unwrap()
    }
}
