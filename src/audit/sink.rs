//! The audit file's writer, committed in groups.
//!
//! One `write` syscall per request is what a busy proxy paid for its audit log. Lines are instead
//! appended to one buffer under a lock: a line that comes [`FLUSH_INTERVAL`] or more after the last write
//! is written at once (a quiet proxy writes as before), and a line that comes sooner waits for one flush
//! on the runtime's timer at the end of the window, with every line of that window. A flusher thread was
//! tried first and cost more than it saved on 2 cores: its wake-up per window outweighed the writes.
//! What a crash can lose is bounded twice: by the interval (at most that many milliseconds of lines) and
//! by [`BUFFER_BYTES`] (a fuller buffer is written at once, by the writer that fills it). A clean shutdown
//! loses nothing: dropping the sink, [`Sink::flush`] and [`Sink::replace`] (log rotation) write
//! everything first.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

// tokio's clock, so the window follows the paused clock in tests; outside a runtime it is the system's.
use tokio::time::Instant;

/// How long a line may wait in memory before it is written: the most a crash can lose.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(5);
/// The buffer's size; a line that would overflow it writes the buffer out first.
pub const BUFFER_BYTES: usize = 64 * 1024;

type Writer = BufWriter<Box<dyn Write + Send>>;

/// The buffered writer. Cloned handles share it (the deferred flush holds one).
pub(crate) struct Sink {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// An I/O error was already reported on stderr (reported once, until a reopen succeeds).
    failed: AtomicBool,
}

struct State {
    writer: Writer,
    /// When the buffer was last written out.
    flushed: Instant,
    /// A deferred flush is on the runtime's timer already.
    scheduled: bool,
}

impl Sink {
    /// A sink writing to `writer`.
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> Sink {
        let state = State {
            writer: BufWriter::with_capacity(BUFFER_BYTES, writer),
            // As if written long ago: the first line is written at once.
            flushed: Instant::now().checked_sub(FLUSH_INTERVAL).unwrap_or_else(Instant::now),
            scheduled: false,
        };
        Sink { shared: Arc::new(Shared { state: Mutex::new(state), failed: AtomicBool::new(false) }) }
    }

    /// Appends one whole line (the lock keeps lines from interleaving). The buffer is written at once
    /// when the last write was [`FLUSH_INTERVAL`] ago or more (a line every few milliseconds or slower:
    /// no waiting, no extra wake-up); otherwise a flush is put on the tokio timer for the end of the
    /// window, and the lines that arrive meanwhile share its one `write`. Outside a runtime, at once.
    pub(crate) fn append(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        let result = state.writer.write_all(line);
        self.shared.report(result);
        let now = Instant::now();
        if now.duration_since(state.flushed) >= FLUSH_INTERVAL {
            self.shared.flush_locked(&mut state, now);
        } else if !state.scheduled {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    state.scheduled = true;
                    let shared = Arc::clone(&self.shared);
                    runtime.spawn(async move {
                        tokio::time::sleep(FLUSH_INTERVAL).await;
                        shared.flush();
                    });
                }
                Err(_) => self.shared.flush_locked(&mut state, now),
            }
        }
    }

    /// Writes every buffered line now.
    pub(crate) fn flush(&self) {
        self.shared.flush();
    }

    /// Writes what is buffered to the old writer, then switches to `writer` (a reopened file).
    pub(crate) fn replace(&self, writer: Box<dyn Write + Send>) {
        let mut state = self.shared.lock();
        let _ = state.writer.flush();
        state.writer = BufWriter::with_capacity(BUFFER_BYTES, writer);
        self.shared.failed.store(false, Ordering::Relaxed);
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.flush();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn flush(&self) {
        let mut state = self.lock();
        self.flush_locked(&mut state, Instant::now());
    }

    fn flush_locked(&self, state: &mut State, now: Instant) {
        let result = state.writer.flush();
        state.flushed = now;
        state.scheduled = false;
        self.report(result);
    }

    /// Reports the first failure on stderr; a write error never fails a request.
    fn report(&self, result: std::io::Result<()>) {
        if let Err(error) = result {
            if !self.failed.swap(true, Ordering::Relaxed) {
                eprintln!("vpce-proxy: audit log write failed (further failures not reported): {error}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every `write` call the sink makes, so a test sees how lines were grouped.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<Vec<u8>>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn writes(&self) -> Vec<String> {
            self.0.lock().unwrap().iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect()
        }
    }

    #[test]
    fn outside_a_runtime_every_line_is_written_at_once() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        sink.append(b"one\n");
        sink.append(b"two\n");
        assert_eq!(out.writes(), ["one\n", "two\n"]);
    }

    #[tokio::test(start_paused = true)]
    async fn lines_within_the_window_share_one_write_at_its_end() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        sink.append(b"quiet\n");
        assert_eq!(out.writes(), ["quiet\n"], "a line after a quiet spell is written at once");
        sink.append(b"a\n");
        sink.append(b"b\n");
        assert_eq!(out.writes().len(), 1, "held for the window");
        tokio::time::sleep(FLUSH_INTERVAL + Duration::from_millis(1)).await;
        assert_eq!(out.writes(), ["quiet\n", "a\nb\n"], "one write at the end of the window");
        tokio::time::sleep(FLUSH_INTERVAL).await;
        sink.append(b"later\n");
        assert_eq!(out.writes().last().unwrap(), "later\n", "quiet again: at once");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_sink_writes_every_line() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        (0..100).for_each(|_| sink.append(b"line\n"));
        drop(sink);
        assert_eq!(out.writes().concat().len(), 500);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_buffer_is_written_without_waiting_for_the_window() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        sink.append(b"quiet\n");
        let line = vec![b'x'; 1024];
        (0..(BUFFER_BYTES / 1024 + 1)).for_each(|_| sink.append(&line));
        assert_eq!(out.writes()[1].len(), BUFFER_BYTES, "the line that overflows the buffer writes it out");
        sink.flush();
        assert_eq!(out.writes().concat().len(), 6 + BUFFER_BYTES + 1024);
    }
}
