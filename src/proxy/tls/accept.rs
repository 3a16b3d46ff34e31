//! TLS termination toward the client: read the ClientHello first, refuse a server name that differs
//! from the CONNECT target (or, on the SNI listener, one that is not an endpoint host), and only then
//! mint or fetch the leaf for the name.

use std::sync::Arc;
use std::time::Duration;

use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::certs::CertError;
use crate::classify::hosts::service_of;
use crate::classify::Service;
use crate::proxy::state::ProxyState;

/// Why a client TLS connection was not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsRefusal {
    /// The handshake did not complete within `limits.handshake_timeout_secs`.
    #[error("TLS handshake timed out after {0:?}")]
    Timeout(Duration),
    /// The ClientHello names another host than the CONNECT target (domain fronting).
    #[error("TLS server name {sni:?} does not match the CONNECT target {target:?}")]
    Mismatch {
        /// The ClientHello's server name.
        sni: String,
        /// The CONNECT target.
        target: String,
    },
    /// The SNI listener needs a server name to know which endpoint is meant.
    #[error("ClientHello without a server name")]
    NoServerName,
    /// The SNI listener only serves endpoint hosts.
    #[error("{0} is not an ECR or S3 endpoint host")]
    NotEndpoint(String),
    /// No leaf could be produced.
    #[error("no certificate for {0}: {1}")]
    Certificate(String, Arc<CertError>),
    /// The handshake failed (client closed, protocol error, client does not trust the CA).
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
}

/// A terminated client connection and the endpoint it is for.
pub(crate) struct Accepted<IO> {
    pub stream: TlsStream<IO>,
    pub host: String,
    pub service: Service,
}

/// Accepts TLS on `io`. `target` is the CONNECT host; `None` on the SNI listener.
pub(crate) async fn accept<IO>(
    io: IO,
    target: Option<&str>,
    state: &ProxyState,
) -> Result<Accepted<IO>, TlsRefusal>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let limit = state.config.limits.handshake_timeout;
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await.map_err(TlsRefusal::Handshake)?;
        let sni = start.client_hello().server_name().map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        let host = match (target, sni) {
            (Some(target), Some(sni)) if sni != target => {
                return Err(TlsRefusal::Mismatch { sni, target: target.to_string() })
            }
            (Some(target), _) => target.to_string(),
            (None, Some(sni)) => sni,
            (None, None) => return Err(TlsRefusal::NoServerName),
        };
        let service = service_of(&host).ok_or_else(|| TlsRefusal::NotEndpoint(host.clone()))?;
        let (config, hit) =
            state.certs.server_config(&host).map_err(|e| TlsRefusal::Certificate(host.clone(), e))?;
        state.metrics.record_certificate(hit);
        let stream = start.into_stream(config).await.map_err(TlsRefusal::Handshake)?;
        Ok(Accepted { stream, host, service })
    };
    tokio::time::timeout(limit, handshake).await.map_err(|_| TlsRefusal::Timeout(limit))?
}
