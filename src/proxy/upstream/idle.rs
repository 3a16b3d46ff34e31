//! An upstream connection on which nothing moves for `limits.upstream_idle_timeout_secs` is failed with
//! `TimedOut`. hyper's client has no read timeout of its own, so without this an upstream that accepts
//! and never answers, or trickles one byte a minute, would hold the client, the task and both sockets for
//! ever. Progress either way resets the clock: a long upload keeps its connection while upstream reads it.
//! The client side has a watchdog beside the connection instead (`listen::limits::IdleClock`); here hyper's
//! pool owns the connection task, so the stream itself has to fail.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `T` with an idle clock; the timer is only re-armed when it fires, so a busy stream pays one
/// `Instant::now()` per read or write, not a timer update.
#[derive(Debug)]
pub(crate) struct IdleTimeout<T> {
    inner: T,
    limit: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    pub(crate) fn new(inner: T, limit: Duration) -> IdleTimeout<T> {
        let last = Instant::now();
        IdleTimeout { inner, limit, last, timer: Box::pin(tokio::time::sleep_until(last + limit)) }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Called when the inner stream is not ready: `Pending` while the idle period lasts, then the error.
    fn idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let deadline = self.last + self.limit;
            if deadline <= Instant::now() {
                let why = format!("nothing moved on the upstream connection for {:?}", self.limit);
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            self.timer.as_mut().reset(deadline);
        }
    }

    /// Only bytes moved reset the clock: a ready flush, or a read or write of nothing, is not progress
    /// (hyper flushes on every wake-up, so counting flushes would let the timer's own wake-up extend it).
    fn track<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
        moved: bool,
    ) -> Poll<io::Result<R>> {
        if moved {
            self.last = Instant::now();
        }
        match polled {
            Poll::Pending => self.idle(cx).map(Err),
            ready => ready,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let moved = buf.filled().len() > before;
        self.track(cx, polled, moved)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        let moved = matches!(polled, Poll::Ready(Ok(n)) if n > 0);
        self.track(cx, polled, moved)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.track(cx, polled, false)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        let moved = matches!(polled, Poll::Ready(Ok(n)) if n > 0);
        self.track(cx, polled, moved)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_secs(90);

    /// A peer that sends nothing: the read fails with `TimedOut` exactly one idle period later.
    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_times_out_at_the_limit() {
        let (near, _far) = tokio::io::duplex(64);
        let mut io = IdleTimeout::new(near, LIMIT);
        let started = Instant::now();
        let err = io.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!((err.kind(), started.elapsed()), (io::ErrorKind::TimedOut, LIMIT));
    }

    /// A peer that trickles one byte per period just under the limit is never cut; one byte per period
    /// just over it is cut after the first gap.
    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_only_when_a_gap_exceeds_the_limit() {
        for (gap, cut) in [(LIMIT - Duration::from_secs(1), false), (LIMIT + Duration::from_secs(1), true)] {
            let (near, mut far) = tokio::io::duplex(64);
            let mut io = IdleTimeout::new(near, LIMIT);
            let peer = tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::sleep(gap).await;
                    if far.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            });
            let mut got = 0;
            let ended = loop {
                match io.read(&mut [0; 8]).await {
                    Ok(0) => break Ok(got),
                    Ok(n) => got += n,
                    Err(e) => break Err((e.kind(), got)),
                }
            };
            peer.await.unwrap();
            let expected = if cut { Err((io::ErrorKind::TimedOut, 0)) } else { Ok(3) };
            assert_eq!(ended, expected, "gap {gap:?}");
        }
    }

    /// A read waiting on an upstream that is still taking a long upload is not cut: the writes it accepts
    /// count as progress, and the answer that follows the upload is read in full.
    #[tokio::test(start_paused = true)]
    async fn writing_progress_keeps_a_waiting_read_alive() {
        let (near, mut far) = tokio::io::duplex(64);
        let (mut reader, mut writer) = tokio::io::split(IdleTimeout::new(near, LIMIT));
        let waiting = tokio::spawn(async move {
            let mut answer = [0; 4];
            reader.read_exact(&mut answer).await.map(|_| answer)
        });
        for _ in 0..4 {
            tokio::time::sleep(LIMIT / 2).await;
            writer.write_all(b"chunk").await.unwrap();
            let mut chunk = [0; 5];
            far.read_exact(&mut chunk).await.unwrap();
        }
        far.write_all(b"done").await.unwrap();
        assert_eq!(&waiting.await.unwrap().unwrap(), b"done");
    }

    /// Flushes with nothing to send are not progress: a read waiting on a silent upstream still fails
    /// one idle period after the last byte, however often the connection is flushed meanwhile (the
    /// fault test's trickle row once hung to the client's idle cut this way).
    #[tokio::test(start_paused = true)]
    async fn flushing_nothing_does_not_keep_a_silent_upstream_alive() {
        let (near, _far) = tokio::io::duplex(64);
        let (mut reader, mut writer) = tokio::io::split(IdleTimeout::new(near, LIMIT));
        let started = Instant::now();
        let waiting = tokio::spawn(async move { reader.read(&mut [0; 8]).await });
        let flusher = tokio::spawn(async move {
            for _ in 0..8 {
                tokio::time::sleep(LIMIT / 4).await;
                writer.flush().await.unwrap();
            }
        });
        let err = waiting.await.unwrap().unwrap_err();
        assert_eq!((err.kind(), started.elapsed()), (io::ErrorKind::TimedOut, LIMIT));
        flusher.abort();
    }
}
