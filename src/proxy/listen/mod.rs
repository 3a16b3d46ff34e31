//! The first stage: accept loops for both listeners, the connection limits, the idle cut-off and
//! graceful shutdown (stop accepting, let in-flight requests finish up to `limits.drain_timeout_secs`,
//! then cut the rest). A CONNECT connection goes on to [`super::connect`], an SNI one straight to
//! [`super::tls`].

mod limits;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub(crate) use self::limits::ConnLimits;
use self::limits::{ConnGuard, IdleClock, IdleIo};
use super::state::ProxyState;
use super::{connect, tls};
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
            Mode::Connect => connect::serve_connect(io, peer, state, stop).await,
            Mode::Sni => {
                let facts = ConnFacts { client: Some(peer), proxy_credentials: None };
                tls::terminate(io, None, 443, facts, state, stop).await
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
