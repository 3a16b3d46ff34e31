//! TLS toward the client: read the ClientHello, refuse a server name that is not the tunnel's host (or,
//! on the SNI listener, not an endpoint host), present a leaf minted by the local CA, then hand the
//! connection to the exchange stage.

mod accept;
pub mod certs;
pub(crate) mod premint;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use self::accept::TlsRefusal;
use super::exchange::{serve_http, ConnCtx};
use super::state::ProxyState;
use crate::authorize::ConnFacts;

/// Terminates TLS on `io` and serves its requests. `target` is the CONNECT host; `None` on the SNI
/// listener, where the ClientHello's server name says which endpoint is meant.
pub(crate) async fn terminate<IO>(
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
    let accepted = match accept::accept(io, target, &state).await {
        Ok(accepted) => accepted,
        Err(e) => {
            if matches!(e, TlsRefusal::Timeout(_)) {
                state.metrics.record_limit_refusal("handshake_timeout");
            }
            if let (Some(_), TlsRefusal::Mismatch { .. } | TlsRefusal::NotEndpoint(_)) = (client, &e) {
                state.refuse_connection(client, target.unwrap_or(""), e.to_string());
            }
            tracing::info!(client = ?client, "TLS refused: {e}");
            return;
        }
    };
    let ctx =
        ConnCtx { state: Arc::clone(&state), host: accepted.host, port, service: accepted.service, facts };
    serve_http(accepted.stream, Arc::new(ctx), stop).await;
}
