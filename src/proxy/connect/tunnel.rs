//! Raw TCP tunnels for hosts that are not endpoint hosts, when `endpoint.tunnel_unknown_hosts` is set:
//! the proxy then behaves like a plain CONNECT proxy for them and sees nothing inside.

use tokio::io::{AsyncRead, AsyncWrite};

use super::head::{write_status, ConnectRequest};
use crate::proxy::state::ProxyState;

/// Bytes each direction copies per read and write. tokio's default of 8 KiB cost a tunnelled layer four
/// times the syscalls and wake-ups of a TLS record-sized copy (ARCHITECTURE.md §7).
const TUNNEL_CHUNK: usize = 64 * 1024;

/// Dials the target (through routes), answers 200 or 502, then copies both ways until either side
/// closes. Returns the bytes moved (client to upstream, upstream to client).
pub(crate) async fn run<C>(
    client: &mut C,
    req: &ConnectRequest,
    state: &ProxyState,
) -> Result<(u64, u64), String>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut upstream = match state.upstream.dial(&req.host, req.port).await {
        Ok(stream) => stream,
        Err(e) => {
            let message = e.to_string();
            let _ = write_status(client, 502, None, &message).await;
            return Err(message);
        }
    };
    write_status(client, 200, None, "").await.map_err(|e| e.to_string())?;
    tokio::io::copy_bidirectional_with_sizes(client, &mut upstream, TUNNEL_CHUNK, TUNNEL_CHUNK)
        .await
        .map_err(|e| e.to_string())
}
