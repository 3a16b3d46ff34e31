//! Serves HTTP on a terminated client connection: HTTP/1.1 or h2 as ALPN chose, with the head limits and
//! timeouts from `[limits]`, and graceful shutdown when the listener stops.

use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::conn::ConnCtx;
use super::pipeline::handle;

/// Serves every request of one connection until it closes or `stop` asks for a graceful end.
pub(crate) async fn serve_http<IO>(io: IO, ctx: Arc<ConnCtx>, mut stop: watch::Receiver<bool>)
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
        // Twice the bound (hyper's floor is 8 KiB): hyper checks its buffer only while a head is incomplete,
        // so the pipeline measures every head exactly and answers 431 with an audit line; hyper's own 431
        // is only the backstop for a head far past the bound.
        .max_buf_size((2 * limits.max_header_bytes).max(8192))
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
    let service = service_fn(move |req| handle(req, Arc::clone(&svc_ctx)));
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
pub(crate) trait TlsAlpn {
    fn is_h2(&self) -> bool;
}

impl<IO> TlsAlpn for tokio_rustls::server::TlsStream<IO> {
    fn is_h2(&self) -> bool {
        self.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}
