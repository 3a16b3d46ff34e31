//! The upstream side: a pooled hyper client over rustls whose connector applies `[[upstream]]` routes.
//! TLS SNI and `Host` stay the AWS name whatever address is dialled, so SigV4 and certificates still
//! verify. ALPN offers HTTP/1.1 only unless `[upstream_tls] http2 = true`: the pool keeps up to 64 idle
//! keep-alive connections per host, and a pooled HTTP/1.1 connection costs less CPU per request and per byte than h2 (no stream bookkeeping, no
//! 16 KiB DATA frames with window updates): `scripts/bench` measured 2.2-2.5 s/GB with h2 upstream and
//! 1.45-1.5 s/GB with HTTP/1.1 against the CNCF registry. Clients may still speak h2 to the proxy.

mod idle;
mod routes;
mod spare;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// hyper's read buffer toward upstream, exactly: two full TLS records, so a body chunk is as large as
/// what TLS decrypted instead of hyper's adaptive 8 KiB (32 KiB per pooled connection).
const BODY_CHUNK: usize = 32 * 1024;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use self::idle::IdleTimeout;
use self::routes::Routes;
use self::spare::Spares;
use crate::config::Config;
use crate::proxy::exchange::RequestBody;

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// `upstream_tls.extra_ca` could not be read.
    #[error("{path}: cannot read upstream CA file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// `upstream_tls.extra_ca` holds no usable certificate.
    #[error("{0}: no usable CA certificate in upstream CA file")]
    NoCertificate(PathBuf),
}

/// Why one upstream connection failed; the message reaches the client in the 502 body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The request URI had no host (cannot happen for requests the edge builds).
    #[error("request has no upstream host")]
    NoHost,
    /// Connecting (TCP plus TLS) took longer than `limits.upstream_connect_timeout_secs`.
    #[error("connect to {0} timed out after {1:?}")]
    Timeout(String, Duration),
    /// TCP connect failed.
    #[error("cannot reach upstream {0}: {1}")]
    Tcp(String, io::Error),
    /// The TLS handshake failed (untrusted certificate, wrong name, protocol error).
    #[error("TLS handshake with upstream {0} failed: {1}")]
    Tls(String, io::Error),
}

/// The pooled client plus what tunnels need to dial directly.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub client: Client<RoutedTls, RequestBody>,
    /// The client's connector: its routes and connect timeout serve tunnels, its spares `preconnect`.
    connector: RoutedTls,
}

impl Upstream {
    pub(crate) fn new(config: &Config) -> Result<Upstream, UpstreamError> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = &config.upstream_tls.extra_ca {
            let pem = crate::files::read(path)
                .map_err(|source| UpstreamError::Read { path: path.clone(), source })?;
            let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice()).filter_map(Result::ok).collect();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(UpstreamError::NoCertificate(path.clone()));
            }
        }
        let mut tls = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        tls.alpn_protocols = upstream_alpn(config.upstream_tls.http2);
        let connector = RoutedTls {
            tls: TlsConnector::from(Arc::new(tls)),
            routes: Arc::new(Routes::new(&config.upstreams)),
            timeout: config.limits.upstream_connect_timeout,
            idle: config.limits.upstream_idle_timeout,
            spares: Arc::new(Spares::new(config.limits.upstream_idle_timeout)),
        };
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.limits.idle_timeout)
            .pool_max_idle_per_host(64)
            .http1_writev(false)
            // Each chunk is one write toward the client: with 8 KiB chunks a layer took twice the
            // records and syscalls.
            .http1_read_buf_exact_size(BODY_CHUNK)
            .build(connector.clone());
        Ok(Upstream { client, connector })
    }

    /// Makes one spare connection (`spare`) to each of `hosts` that a `[[upstream]]` route names, in the
    /// background, and drops the unused ones when they are as old as `upstream_idle_timeout_secs`
    /// (`[upstream_tls] preconnect`; the caller checks it). Hosts without a route are left alone: the
    /// proxy does not dial the internet before a client asks.
    pub(crate) fn preconnect(&self, hosts: &[String]) {
        let routed: Vec<String> = hosts.iter().filter(|h| self.connector.routes.routes(h)).cloned().collect();
        if routed.is_empty() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let connector = self.connector.clone();
        tokio::spawn(async move {
            for host in routed {
                match connector.handshake(&host, 443).await {
                    Ok(stream) => connector.spares.put(Spares::key(&host, 443), stream),
                    Err(e) => tracing::debug!(host, "no spare upstream connection: {e}"),
                }
            }
            tracing::debug!(spares = connector.spares.len(), "spare upstream connections made");
            tokio::time::sleep(connector.idle).await;
            connector.spares.clear();
        });
    }

    /// How many spare connections are waiting for their first request.
    pub(crate) fn spares(&self) -> usize {
        self.connector.spares.len()
    }

    /// Dials `host:port` (through the routes) with the connect timeout: used by raw tunnels.
    pub(crate) async fn dial(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        dial(&self.connector.routes.address(host, port), self.connector.timeout).await
    }
}

/// HTTP/1.1 only unless `[upstream_tls] http2` (see the module doc): cheaper per request and per GB than h2.
fn upstream_alpn(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

async fn dial(address: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => Err(ConnectError::Timeout(address.to_string(), timeout)),
        Ok(Err(e)) => Err(ConnectError::Tcp(address.to_string(), e)),
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// Connects to the routed address and speaks TLS for the URI's host.
#[derive(Clone)]
pub(crate) struct RoutedTls {
    tls: TlsConnector,
    routes: Arc<Routes>,
    timeout: Duration,
    /// `limits.upstream_idle_timeout_secs`, applied to every upstream connection ([`IdleTimeout`]).
    idle: Duration,
    /// The connections made at start, each for the first request to its host.
    spares: Arc<Spares>,
}

impl RoutedTls {
    /// TCP to the routed address and TLS for `host`, within the connect timeout.
    async fn handshake(&self, host: &str, port: u16) -> Result<TlsStream<TcpStream>, ConnectError> {
        let address = self.routes.address(host, port);
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| ConnectError::Tls(host.to_string(), io::Error::other(e)))?;
        let attempt = async {
            let tcp = dial(&address, self.timeout).await?;
            self.tls.connect(name, tcp).await.map_err(|e| ConnectError::Tls(address.clone(), e))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| ConnectError::Timeout(address, self.timeout))?
    }
}

impl std::fmt::Debug for RoutedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedTls").field("routes", &self.routes).finish_non_exhaustive()
    }
}

impl tower_service::Service<Uri> for RoutedTls {
    type Response = UpstreamIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri.host().ok_or(ConnectError::NoHost)?.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(443);
            let stream = match this.spares.take(&Spares::key(host, port)) {
                Some(spare) => spare,
                None => this.handshake(host, port).await?,
            };
            Ok(UpstreamIo(TokioIo::new(IdleTimeout::new(stream, this.idle))))
        })
    }
}

/// A TLS connection to upstream, failed when idle too long, that tells the pool whether ALPN chose h2.
#[derive(Debug)]
pub(crate) struct UpstreamIo(TokioIo<IdleTimeout<TlsStream<TcpStream>>>);

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        let (_, session) = self.0.inner().get_ref().get_ref();
        if session.alpn_protocol() == Some(b"h2") {
            Connected::new().negotiated_h2()
        } else {
            Connected::new()
        }
    }
}

impl hyper::rt::Read for UpstreamIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `limits.upstream_connect_timeout_secs` on the paused clock: an upstream whose accept queue is full
    /// never answers the SYN (the kernel drops it), and the dial fails with `Timeout` when the limit runs
    /// out, in no real time. The connects that fill the queue complete at once, as loopback ones do.
    #[tokio::test(start_paused = true)]
    async fn an_unanswered_connect_times_out_at_the_limit() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let listener = socket.listen(1).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let limit = Duration::from_secs(7);
        let mut held = Vec::new();
        for _ in 0..16 {
            let started = tokio::time::Instant::now();
            match dial(&address, limit).await {
                Ok(stream) => held.push(stream),
                Err(ConnectError::Timeout(to, after)) => {
                    let waited = started.elapsed();
                    assert_eq!((to.as_str(), after), (address.as_str(), limit));
                    assert!(waited >= limit && waited < 2 * limit, "{waited:?}");
                    return;
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{} connects were all accepted by a listener with backlog 1", held.len());
    }
}
