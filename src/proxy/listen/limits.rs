//! Connection limits: a global cap and a per-client cap, both refusing at once rather than queueing, and
//! an idle clock that cuts a connection on which nothing moves.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::admin::Metrics;
use crate::config::Limits;

/// Which limit refused a connection, as reported to `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `limits.max_connections`.
    Total,
    /// `limits.max_connections_per_client`.
    PerClient,
}

impl Refused {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refused::Total => "max_connections",
            Refused::PerClient => "max_connections_per_client",
        }
    }
}

/// The caps shared by both listeners.
#[derive(Debug)]
pub(crate) struct ConnLimits {
    total: Arc<Semaphore>,
    per_client_max: usize,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held for the life of one accepted connection; dropping it frees both slots.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    _permit: OwnedSemaphorePermit,
    client: IpAddr,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    metrics: Arc<Metrics>,
}

impl ConnLimits {
    pub(crate) fn new(limits: &Limits) -> ConnLimits {
        ConnLimits {
            total: Arc::new(Semaphore::new(limits.max_connections.get())),
            per_client_max: limits.max_connections_per_client.get(),
            per_client: Arc::default(),
        }
    }

    /// Admits a connection from `client` or says which limit refuses it; never waits.
    pub(crate) fn admit(&self, client: IpAddr, metrics: &Arc<Metrics>) -> Result<ConnGuard, Refused> {
        let permit = Arc::clone(&self.total).try_acquire_owned().map_err(|_| Refused::Total)?;
        {
            let mut map = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
            let count = map.entry(client).or_insert(0);
            if *count >= self.per_client_max {
                return Err(Refused::PerClient);
            }
            *count += 1;
        }
        metrics.connection(true);
        Ok(ConnGuard {
            _permit: permit,
            client,
            per_client: Arc::clone(&self.per_client),
            metrics: Arc::clone(metrics),
        })
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut map = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.client);
            }
        }
        self.metrics.connection(false);
    }
}

/// The last time bytes moved on a connection, shared between the I/O wrapper and its watchdog. On tokio's
/// clock (as its sleeps are), so a test on a paused clock sees the idle timeout fire in virtual time.
#[derive(Debug, Clone)]
pub(crate) struct IdleClock {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl IdleClock {
    pub(crate) fn new() -> IdleClock {
        IdleClock { start: Instant::now(), last_ms: Arc::default() }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle`.
    pub(crate) async fn expired(&self, idle: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let quiet = self.start.elapsed().saturating_sub(last);
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    }
}

/// Wraps a stream so every byte read or written resets the idle clock.
#[derive(Debug)]
pub(crate) struct IdleIo<T> {
    inner: T,
    clock: IdleClock,
}

impl<T> IdleIo<T> {
    pub(crate) fn new(inner: T, clock: IdleClock) -> IdleIo<T> {
        IdleIo { inner, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.touch();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.touch();
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    /// Passed through, so rustls hands the socket every queued TLS record in one `writev` (without it,
    /// each record of a layer was its own `sendto`).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.touch();
        }
        poll
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use super::*;

    #[test]
    fn caps_refuse_immediately_and_free_on_drop() {
        let limits = Limits {
            max_connections: NonZeroUsize::new(2).unwrap(),
            max_connections_per_client: NonZeroUsize::MIN,
            ..Limits::default()
        };
        let caps = ConnLimits::new(&limits);
        let metrics = Arc::new(Metrics::new());
        let (a, b, c): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let first = caps.admit(a, &metrics).unwrap();
        assert_eq!(caps.admit(a, &metrics).unwrap_err(), Refused::PerClient);
        let _second = caps.admit(b, &metrics).unwrap();
        assert_eq!(caps.admit(c, &metrics).unwrap_err(), Refused::Total);
        drop(first);
        assert!(caps.admit(a, &metrics).is_ok());
    }

    /// `limits.idle_timeout_secs` on the paused clock: traffic keeps pushing the cut back, and it comes
    /// exactly one idle period after the last byte, not after the first.
    #[tokio::test(start_paused = true)]
    async fn idle_clock_expires_one_period_after_the_last_byte() {
        let idle = Duration::from_secs(5);
        let clock = IdleClock::new();
        let started = Instant::now();
        let watchdog = tokio::spawn({
            let clock = clock.clone();
            async move { clock.expired(idle).await }
        });
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert!(!watchdog.is_finished(), "bytes moved less than {idle:?} ago");
            clock.touch();
        }
        watchdog.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(9) + idle);
    }

    /// A byte through [`IdleIo`] in either direction is what counts as traffic.
    #[tokio::test(start_paused = true)]
    async fn idle_io_touches_the_clock_on_reads_and_writes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let clock = IdleClock::new();
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = IdleIo::new(near, clock.clone());
        tokio::time::sleep(Duration::from_secs(4)).await;
        io.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        far.read_exact(&mut byte).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        far.write_all(b"y").await.unwrap();
        io.read_exact(&mut byte).await.unwrap();
        let started = Instant::now();
        clock.expired(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5), "quiet since the read at 8 s");
    }
}
