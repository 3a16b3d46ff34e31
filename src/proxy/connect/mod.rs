//! The CONNECT stage: read the head within bounds, admit it (port, proxy credentials, endpoint host),
//! then hand an endpoint host to TLS termination or tunnel any other host untouched when configured.

pub(crate) mod head;
mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::watch;

pub(crate) use self::head::{authority_parts, status_bytes};
use self::head::{read_head, write_status, ConnectRequest, HeadError};
use super::state::ProxyState;
use super::tls;
use crate::audit::AuditRecord;
use crate::authorize::ConnFacts;
use crate::classify::hosts::service_of;

/// Why a well-formed CONNECT was not admitted, in the order a client can fix them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConnectRefusal {
    /// The port is not in `endpoint.allowed_connect_ports`.
    #[error("CONNECT to port {port} is not allowed (allowed: {allowed:?})")]
    Port {
        /// The port asked for.
        port: u16,
        /// The ports that are allowed.
        allowed: Vec<u16>,
    },
    /// `listen.require_proxy_auth` is set and the credentials are missing (`false`) or wrong (`true`).
    #[error("proxy authentication required (Proxy-Authorization: Basic {})", if *.0 { "wrong" } else { "missing" })]
    ProxyAuth(bool),
    /// Not an endpoint host, and `endpoint.tunnel_unknown_hosts` is off.
    #[error(
        "{0} is not an ECR or S3 endpoint host; this VPC reaches only its endpoints \
         (set endpoint.tunnel_unknown_hosts = true to tunnel other hosts)"
    )]
    NotEndpoint(String),
}

impl ConnectRefusal {
    /// The HTTP status answering this refusal.
    pub(crate) fn status(&self) -> u16 {
        match self {
            ConnectRefusal::ProxyAuth(_) => 407,
            ConnectRefusal::Port { .. } | ConnectRefusal::NotEndpoint(_) => 403,
        }
    }

    /// The header a client needs to retry (the Basic challenge of a 407).
    fn challenge(&self) -> Option<&'static str> {
        matches!(self, ConnectRefusal::ProxyAuth(_))
            .then_some("Proxy-Authenticate: Basic realm=\"vpce-proxy\"")
    }
}

/// Serves one connection on the CONNECT listener.
pub(crate) async fn serve_connect<IO>(
    io: IO,
    peer: SocketAddr,
    state: Arc<ProxyState>,
    stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut reader = BufReader::new(io);
    let req = match read_request(&mut reader, &state).await {
        Ok(req) => req,
        Err(HeadError::Closed) => return,
        Err(e) => {
            if let Some(limit) = e.limit() {
                state.metrics.record_limit_refusal(limit);
            }
            let _ = write_status(&mut reader, e.status(), None, &e.to_string()).await;
            return;
        }
    };
    if let Err(refusal) = admit(&req, &state) {
        state.refuse_connection(Some(peer), &req.host, refusal.to_string());
        let _ = write_status(&mut reader, refusal.status(), refusal.challenge(), &refusal.to_string()).await;
        return;
    }
    let facts = ConnFacts { client: Some(peer), proxy_credentials: req.credentials.clone() };
    if service_of(&req.host).is_some() {
        if write_status(&mut reader, 200, None, "").await.is_ok() {
            tls::terminate(reader, Some(&req.host), req.port, facts, state, stop).await;
        }
    } else {
        let started = Instant::now();
        let result = tunnel::run(&mut reader, &req, &state).await;
        audit_tunnel(&state, peer, &req, started, result);
    }
}

/// The CONNECT head, within `limits.max_header_bytes`, `limits.max_headers` and the head read timeout.
async fn read_request<R>(reader: &mut BufReader<R>, state: &ProxyState) -> Result<ConnectRequest, HeadError>
where
    R: AsyncRead + Unpin,
{
    let limits = &state.config.limits;
    let read = read_head(reader, limits.max_header_bytes, limits.max_headers);
    tokio::time::timeout(limits.header_read_timeout, read).await.map_err(|_| HeadError::Timeout)?
}

/// The CONNECT-level checks, in the order a client can fix them: port, credentials, endpoint host.
fn admit(req: &ConnectRequest, state: &ProxyState) -> Result<(), ConnectRefusal> {
    let config = &state.config;
    let allowed = &config.endpoint.allowed_connect_ports;
    if !allowed.contains(&req.port) {
        return Err(ConnectRefusal::Port { port: req.port, allowed: allowed.clone() });
    }
    if config.listen.require_proxy_auth
        && !head::credentials_valid(req.credentials.as_ref(), &config.principals)
    {
        return Err(ConnectRefusal::ProxyAuth(req.credentials.is_some()));
    }
    if service_of(&req.host).is_none() && !config.endpoint.tunnel_unknown_hosts {
        return Err(ConnectRefusal::NotEndpoint(req.host.clone()));
    }
    Ok(())
}

/// One audit line and one metric for a finished raw tunnel.
fn audit_tunnel(
    state: &ProxyState,
    peer: SocketAddr,
    req: &ConnectRequest,
    started: Instant,
    result: Result<(u64, u64), String>,
) {
    let mut record = AuditRecord::tunnel(Some(peer), format!("{}:{}", req.host, req.port));
    state.metrics.record_decision(None, "", record.decision);
    match result {
        Ok((bytes_in, bytes_out)) => (record.bytes_in, record.bytes_out) = (bytes_in, bytes_out),
        Err(e) => {
            state.metrics.record_upstream_error();
            record.reason = Some(e);
        }
    }
    record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    state.audit.write(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status and message of each refusal are what clients print (RFC 9110 §15.5.4 and §15.5.8).
    #[test]
    fn refusals_carry_their_status_and_message() {
        let rows = [
            (ConnectRefusal::Port { port: 22, allowed: vec![443] }, 403, "CONNECT to port 22 is not allowed (allowed: [443])"),
            (ConnectRefusal::ProxyAuth(false), 407, "proxy authentication required (Proxy-Authorization: Basic missing)"),
            (ConnectRefusal::ProxyAuth(true), 407, "proxy authentication required (Proxy-Authorization: Basic wrong)"),
            (ConnectRefusal::NotEndpoint("example.com".into()), 403, "example.com is not an ECR or S3 endpoint host; this VPC reaches only its endpoints (set endpoint.tunnel_unknown_hosts = true to tunnel other hosts)"),
        ];
        for (refusal, status, message) in rows {
            assert_eq!((refusal.status(), refusal.to_string().as_str()), (status, message));
            assert_eq!(refusal.challenge().is_some(), status == 407);
        }
    }
}

#[cfg(test)]
mod timeouts {
    //! Each timeout of a CONNECT connection on tokio's paused clock, over an in-memory pipe instead of a
    //! socket: nothing waits real time and no I/O can race the clock, so each cut is asserted at its
    //! virtual moment. (tests/proxy_limits.rs shows the same limits end to end over real sockets.)

    use std::path::Path;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::Instant;

    use std::time::Duration;

    use tokio::sync::watch;

    use super::*;
    use crate::admin::Metrics;
    use crate::authorize::Authorizer;
    use crate::config::{Config, Limits};
    use crate::load::{load_policies, Fingerprints};
    use crate::reload::LiveAuthorizer;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    /// A proxy state with the default config, the limits `edit` sets, and its CA under `dir`.
    fn state(dir: &Path, edit: impl FnOnce(&mut Limits)) -> Arc<ProxyState> {
        let mut config = Config::default();
        config.ca.dir = dir.join("certs");
        edit(&mut config.limits);
        let policies = load_policies(&config, &mut Fingerprints::default()).unwrap();
        let live = Arc::new(LiveAuthorizer::new(Authorizer::new(&config, policies)));
        let audit = Arc::new(crate::audit::AuditLog::disabled());
        Arc::new(ProxyState::new(config, live, Arc::new(Metrics::new()), audit).unwrap())
    }

    /// Serves one CONNECT connection on one end of a pipe; returns the client's end and the stop sender
    /// (kept so the connection is not told to stop).
    fn start(state: &Arc<ProxyState>) -> (DuplexStream, watch::Sender<bool>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (stop_tx, stop_rx) = watch::channel(false);
        let peer = SocketAddr::from(([127, 0, 0, 1], 50000));
        tokio::spawn(serve_connect(server, peer, Arc::clone(state), stop_rx));
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
