//! The audit file's writer, committed in groups.
//!
//! One `write` syscall per request was the single largest system cost of a small request (issue 14's
//! profile). Lines are instead appended to one buffer under a lock, and a flusher thread writes the
//! buffer out [`FLUSH_INTERVAL`] after the first line that is not yet on disk, so under load one write
//! carries every line of that window. What a crash can lose is bounded twice: by the interval (at most
//! that many milliseconds of lines) and by [`BUFFER_BYTES`] (a fuller buffer is written at once, by the
//! writer that fills it). A clean shutdown loses nothing: dropping the sink, [`Sink::flush`] and
//! [`Sink::replace`] (log rotation) write everything first. An idle proxy never wakes the flusher.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a line may wait in memory before it is written: the most a crash can lose.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(5);
/// The buffer's size; a line that would overflow it writes the buffer out first.
pub const BUFFER_BYTES: usize = 64 * 1024;

type Writer = BufWriter<Box<dyn Write + Send>>;

/// The buffered writer and its flusher thread.
pub(crate) struct Sink {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

struct Shared {
    writer: Mutex<Writer>,
    /// Set by the first line after a flush; the flusher is woken only on that transition.
    dirty: AtomicBool,
    closed: AtomicBool,
    /// An I/O error was already reported on stderr (reported once, until a reopen succeeds).
    failed: AtomicBool,
}

impl Sink {
    /// A sink writing to `writer`, with its flusher thread started.
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> Sink {
        let shared = Arc::new(Shared {
            writer: Mutex::new(BufWriter::with_capacity(BUFFER_BYTES, writer)),
            dirty: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        });
        let flusher_shared = Arc::clone(&shared);
        let flusher =
            thread::Builder::new().name("audit-flush".into()).spawn(move || flush_loop(&flusher_shared)).ok();
        Sink { shared, flusher }
    }

    /// Appends one whole line (the lock keeps lines from interleaving); written within [`FLUSH_INTERVAL`].
    pub(crate) fn append(&self, line: &[u8]) {
        let result = self.shared.lock().write_all(line);
        self.shared.report(result);
        if !self.shared.dirty.swap(true, Ordering::AcqRel) {
            match &self.flusher {
                Some(flusher) => flusher.thread().unpark(),
                // No thread could be started: write through, as before group commit.
                None => self.flush(),
            }
        }
    }

    /// Writes every buffered line now.
    pub(crate) fn flush(&self) {
        self.shared.flush();
    }

    /// Writes what is buffered to the old writer, then switches to `writer` (a reopened file).
    pub(crate) fn replace(&self, writer: Box<dyn Write + Send>) {
        let mut guard = self.shared.lock();
        let _ = guard.flush();
        *guard = BufWriter::with_capacity(BUFFER_BYTES, writer);
        self.shared.failed.store(false, Ordering::Relaxed);
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        self.shared.flush();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn flush(&self) {
        self.dirty.store(false, Ordering::Release);
        let result = self.lock().flush();
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

/// Sleeps until a line arrives, lets the window fill for [`FLUSH_INTERVAL`], writes it out; until closed.
fn flush_loop(shared: &Shared) {
    loop {
        thread::park();
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        if !shared.dirty.load(Ordering::Acquire) {
            continue; // a spurious wake-up, or a flush that already ran
        }
        thread::sleep(FLUSH_INTERVAL);
        shared.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(out: &Captured) -> usize {
        out.0.lock().unwrap().len()
    }

    #[test]
    fn a_line_waits_at_most_the_interval_then_reaches_the_writer() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        sink.append(b"one\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while written(&out) == 0 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&out.0.lock().unwrap()[..], b"one\n");
    }

    #[test]
    fn dropping_the_sink_writes_every_line() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        (0..100).for_each(|_| sink.append(b"line\n"));
        drop(sink);
        assert_eq!(written(&out), 500);
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        let line = vec![b'x'; 1024];
        (0..(BUFFER_BYTES / 1024 + 1)).for_each(|_| sink.append(&line));
        assert!(written(&out) >= BUFFER_BYTES, "the writer that overflows the buffer writes it out");
        sink.flush();
        assert_eq!(written(&out), BUFFER_BYTES + 1024);
    }
}
