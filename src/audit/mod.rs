//! One JSON line per decision, with CloudTrail-like field names.
//!
//! An endpoint operator answers "who did what, and why was it allowed" from this log, so each line is
//! self-contained and shaped like a CloudTrail event (`eventTime`, `sourceIPAddress`, `userIdentity`,
//! `eventSource`, `eventName`, `resources`, `errorCode`) that existing tooling and `jq` recipes already know.
//! A record never holds an authorization header, token, key or signature: [`AuditRecord`] has no field
//! that could carry one, and [`line`] writes only the fields it lists.
//!
//! [`record`] holds the typed record and its constructors, [`line`] spells it as one JSON line, and this
//! module owns the file: appended to, created 0600, reopened on SIGHUP.

mod ids;
mod line;
mod recent;
mod record;
mod sink;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::config::AuditConfig;

pub use recent::{Kept, Recent, BYTES_PER_DECISION};
pub use record::{AuditRecord, Authorization, Disposition, Drift, Failure, ShadowDecision};

use sink::Sink;

/// Why the audit log could not be opened at start-up (a write error later never fails a request).
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: cannot open for appending: {source}")]
pub struct AuditError {
    /// The file named by `[audit] path`.
    pub path: PathBuf,
    /// The operating system's reason.
    pub source: std::io::Error,
}

/// Where audit lines go: one locked, buffered writer, flushed per line so lines never interleave and a
/// crash loses at most the line being written (`sink` says why not in groups); and, with the admin
/// listener on, the decision viewer's ring of recent records ([`Recent`]), which gets the very same line.
pub struct AuditLog {
    sink: Option<Sink>,
    /// The file appended to, so [`AuditLog::reopen`] can follow a log rotation; `None` for stdout.
    path: Option<PathBuf>,
    recent: Option<Arc<Recent>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (enabled, viewer) = (self.sink.is_some(), self.recent.is_some());
        f.debug_struct("AuditLog").field("enabled", &enabled).field("viewer", &viewer).finish()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog::disabled()
    }
}

impl AuditLog {
    /// An audit log that drops every record (tests, or `[audit] enabled = false`).
    pub fn disabled() -> AuditLog {
        AuditLog { sink: None, path: None, recent: None }
    }

    /// Opens the log the config asks for: stdout, or a file appended to and created with mode 0600
    /// (decisions name principals and resources, which are not for every local user to read).
    pub fn from_config(config: &AuditConfig) -> Result<AuditLog, AuditError> {
        if !config.enabled {
            return Ok(AuditLog::disabled());
        }
        let writer: Box<dyn Write + Send> = match &config.path {
            None => Box::new(std::io::stdout()),
            Some(path) => Box::new(open_append(path)?),
        };
        Ok(AuditLog { path: config.path.clone(), ..AuditLog::to_writer(writer) })
    }

    /// Reopens the audit file by name, so lines go to the new file after logrotate moved the old one
    /// away (called on SIGHUP); pending lines are flushed to the old file first. No-op for stdout.
    pub fn reopen(&self) -> Result<(), AuditError> {
        let (Some(sink), Some(path)) = (&self.sink, &self.path) else { return Ok(()) };
        sink.replace(Box::new(open_append(path)?));
        Ok(())
    }

    /// An audit log writing to any sink; lets tests and embedders capture lines without a file.
    pub fn to_writer(writer: Box<dyn Write + Send>) -> AuditLog {
        AuditLog { sink: Some(Sink::new(writer)), path: None, recent: None }
    }

    /// Also hands every record to the decision viewer's ring (the admin listener is on).
    pub fn keeping(self, recent: Arc<Recent>) -> AuditLog {
        AuditLog { recent: Some(recent), ..self }
    }

    /// Whether records are kept at all (in the file or the viewer), so callers can skip building one.
    pub fn is_enabled(&self) -> bool {
        self.sink.is_some() || self.recent.is_some()
    }

    /// Writes one line and hands the record to the viewer; never fails the request (an audit write error
    /// is reported once on stderr).
    pub fn write(&self, record: AuditRecord) {
        if !self.is_enabled() {
            return;
        }
        let mut line = record.to_json_line(OffsetDateTime::now_utc());
        if let Some(sink) = &self.sink {
            line.push(b'\n');
            sink.append(&line);
            line.pop();
        }
        if let Some(recent) = &self.recent {
            recent.keep(bytes::Bytes::from(line), record);
        }
    }
}

/// Appends to `path`, creating it with mode 0600 (decisions name principals and resources, which are
/// not for every local user to read).
fn open_append(path: &Path) -> Result<std::fs::File, AuditError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_log_writes_nothing_and_reports_disabled() {
        let log = AuditLog::from_config(&AuditConfig { enabled: false, path: None }).unwrap();
        assert!(!log.is_enabled());
        log.write(AuditRecord::default());
    }
}
