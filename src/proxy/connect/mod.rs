//! The CONNECT stage: read the head within bounds, admit it (port, proxy credentials, endpoint host),
//! then hand an endpoint host to TLS termination or tunnel any other host untouched when configured.

mod head;
mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let timeout = Duration::from_secs(limits.header_read_timeout_secs.max(1));
    tokio::time::timeout(timeout, read).await.map_err(|_| HeadError::Timeout)?
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
    state.audit.write(&record);
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
