//! Audit lines read back as [`Recorded`] requests, streamed from files in the order given.
//!
//! logrotate leaves `audit.log.2.gz audit.log.1 audit.log`: each file is plain or gzip, told apart by
//! the gzip magic bytes (RFC 1952, section 2.3.1: `1f 8b`), not by the name, since `delaycompress`
//! and hand-made copies do not keep to one naming. Lines are read one at a time with a bound on their
//! length, so memory stays flat however long the log; the proxy's own lines are well under 4 KiB, so
//! [`MAX_LINE_BYTES`] only stops a wrong file (a binary, a log without newlines) from being read whole.
//!
//! A line that is not an audit line is an error naming `FILE:LINE`, never skipped: a policy generated
//! from a log that was half read would silently lack what the unread half held. Lines written before the
//! proxy recorded the `authorization` field, and lines of requests that were never classified, are
//! skipped and counted in [`Skipped`], which the commands print on stderr.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

pub(crate) use super::recorded_line::Recorded;
use super::recorded_line::{parse_line, Parsed};

/// The longest line read: 1 MiB.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// The gzip member header's first two bytes (RFC 1952, section 2.3.1, ID1 and ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why the log could not be read; every variant names the file, and the line where there is one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The file could not be opened.
    #[error("{}: cannot open the audit log: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    /// Reading failed midway (an I/O error, a corrupt gzip stream).
    #[error("{}:{line}: cannot read the audit log: {source}", path.display())]
    Read { path: PathBuf, line: u64, source: io::Error },
    /// A line longer than the bound.
    #[error("{}:{line}: the line is longer than {max} bytes; an audit line is far shorter (is this an audit log?)", path.display())]
    TooLong { path: PathBuf, line: u64, max: usize },
    /// A line that is not an audit line.
    #[error("{}:{line}: {message}", path.display())]
    Malformed { path: PathBuf, line: u64, message: String },
}

/// Lines read but not returned, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Lines without an `authorization` field: written by a proxy from before it recorded one.
    pub(crate) old_format: u64,
    /// Lines whose `authorization` is null: `Refused`, `Challenged` or `Tunnel`, never classified.
    pub(crate) unclassified: u64,
}

/// One stderr line per non-zero count, each ending in a newline; empty when nothing was skipped.
impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.old_format > 0 {
            let n = self.old_format;
            writeln!(
                f,
                "skipped {n} line(s) without an authorization field (written before the proxy recorded it)"
            )?;
        }
        if self.unclassified > 0 {
            let n = self.unclassified;
            writeln!(f, "skipped {n} line(s) of requests never classified (Refused, Challenged or Tunnel)")?;
        }
        Ok(())
    }
}

struct OpenFile {
    path: Arc<Path>,
    reader: Box<dyn BufRead>,
    line_no: u64,
}

/// Streams [`Recorded`] requests from files in order; stops for good at the first error.
pub(crate) struct AuditReader {
    pending: VecDeque<PathBuf>,
    current: Option<OpenFile>,
    max_line: usize,
    line: Vec<u8>,
    skipped: Skipped,
    failed: bool,
}

impl AuditReader {
    /// Reads `files` in the order given, with lines of at most [`MAX_LINE_BYTES`].
    pub(crate) fn new(files: &[PathBuf]) -> AuditReader {
        Self::with_max_line(files, MAX_LINE_BYTES)
    }

    /// As [`AuditReader::new`] with another line bound (tests use a small one).
    pub(crate) fn with_max_line(files: &[PathBuf], max_line: usize) -> AuditReader {
        AuditReader {
            pending: files.iter().cloned().collect(),
            current: None,
            max_line,
            line: Vec::new(),
            skipped: Skipped::default(),
            failed: false,
        }
    }

    /// What was skipped so far; complete once the iterator has returned `None`.
    pub(crate) fn skipped(&self) -> Skipped {
        self.skipped
    }

    fn next_record(&mut self) -> Result<Option<Recorded>, ReadError> {
        while let Some((path, line_no)) = self.next_line()? {
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(&self.line, &path, line_no) {
                Ok(Parsed::Record(record)) => return Ok(Some(*record)),
                Ok(Parsed::OldFormat) => self.skipped.old_format += 1,
                Ok(Parsed::Unclassified) => self.skipped.unclassified += 1,
                Err(message) => {
                    return Err(ReadError::Malformed { path: path.to_path_buf(), line: line_no, message })
                }
            }
        }
        Ok(None)
    }

    /// Reads the next line into `self.line` (without its line ending), opening files as needed; `None`
    /// after the last file.
    fn next_line(&mut self) -> Result<Option<(Arc<Path>, u64)>, ReadError> {
        loop {
            let Some(file) = self.current.as_mut() else {
                let Some(path) = self.pending.pop_front() else { return Ok(None) };
                let reader = open(&path).map_err(|source| ReadError::Open { path: path.clone(), source })?;
                self.current = Some(OpenFile { path: Arc::from(path), reader, line_no: 0 });
                continue;
            };
            file.line_no += 1;
            self.line.clear();
            let bound = self.max_line as u64 + 1;
            let read = file.reader.by_ref().take(bound).read_until(b'\n', &mut self.line);
            let (path, line) = (file.path.clone(), file.line_no);
            match read {
                Err(source) => return Err(ReadError::Read { path: path.to_path_buf(), line, source }),
                Ok(0) => self.current = None,
                Ok(_) => {
                    let ended = self.line.last() == Some(&b'\n');
                    if ended {
                        self.line.pop();
                        if self.line.last() == Some(&b'\r') {
                            self.line.pop();
                        }
                    }
                    if !ended && self.line.len() > self.max_line {
                        let max = self.max_line;
                        return Err(ReadError::TooLong { path: path.to_path_buf(), line, max });
                    }
                    return Ok(Some((path, line)));
                }
            }
        }
    }
}

impl Iterator for AuditReader {
    type Item = Result<Recorded, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_record().transpose();
        self.failed = matches!(item, Some(Err(_)));
        item
    }
}

/// Opens a file as a line source, decompressing it when it starts with the gzip magic. Concatenated
/// gzip members (`cat a.gz b.gz`) are one stream (RFC 1952, section 2.2), so they read as one file.
fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let mut raw = BufReader::with_capacity(64 * 1024, File::open(path)?);
    if raw.fill_buf()?.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(raw))))
    } else {
        Ok(Box::new(raw))
    }
}

#[cfg(test)]
#[path = "recorded_tests.rs"]
mod tests;
