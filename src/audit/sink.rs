//! The audit file's writer: one locked buffer, written out after every line.
//!
//! Group commit was measured and dropped (ARCHITECTURE.md §7). Holding lines for a 5 ms window and
//! writing them in one `write` saved the syscall, but the deferred flush needed a wake-up of its own,
//! a flusher thread's or a tokio timer's: on 2 cores that raised context switches per small request
//! from 1.4 to 1.9 and did not lower the CPU per request (`scripts/profile`, bench's paced load). So a
//! line is on its way to the disk when `append` returns, and a crash loses at most the line being
//! written.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

type Writer = BufWriter<Box<dyn Write + Send>>;

/// The locked writer, and whether a failure was already reported.
pub(crate) struct Sink {
    writer: Mutex<Writer>,
    /// An I/O error was already reported on stderr (reported once, until a reopen succeeds).
    failed: AtomicBool,
}

impl Sink {
    /// A sink writing to `writer`.
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> Sink {
        Sink { writer: Mutex::new(BufWriter::new(writer)), failed: AtomicBool::new(false) }
    }

    /// Writes one whole line (the lock keeps lines from interleaving).
    pub(crate) fn append(&self, line: &[u8]) {
        let mut writer = self.lock();
        let result = writer.write_all(line).and_then(|()| writer.flush());
        drop(writer);
        self.report(result);
    }

    /// Writes what is buffered to the old writer, then switches to `writer` (a reopened file).
    pub(crate) fn replace(&self, writer: Box<dyn Write + Send>) {
        let mut guard = self.lock();
        let _ = guard.flush();
        *guard = BufWriter::new(writer);
        self.failed.store(false, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    use std::sync::Arc;

    /// Records every `write` call the sink makes.
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

    #[test]
    fn every_line_is_written_whole_and_at_once() {
        let out = Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        sink.append(b"one\n");
        sink.append(&[b'x'; 5000]);
        let writes = out.0.lock().unwrap().clone();
        assert_eq!(writes.len(), 2, "one write per line, nothing held back");
        assert_eq!((writes[0].as_slice(), writes[1].len()), (&b"one\n"[..], 5000));
    }

    #[test]
    fn replace_switches_writers_between_lines() {
        let (old, new) = (Captured::default(), Captured::default());
        let sink = Sink::new(Box::new(old.clone()));
        sink.append(b"before\n");
        sink.replace(Box::new(new.clone()));
        sink.append(b"after\n");
        assert_eq!(old.0.lock().unwrap().concat(), b"before\n");
        assert_eq!(new.0.lock().unwrap().concat(), b"after\n");
    }
}
