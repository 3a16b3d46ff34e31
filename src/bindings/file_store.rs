//! `store = "file"`: memory, copied to a JSON file a restart reads back, so a deploy or a crash does not
//! turn every logged-in docker client `anonymous` until its next `docker login`.
//!
//! The file holds token hashes, principal ARNs and expiry times: nothing a client could log in with.
//! Writes are whole snapshots to a temporary file in the same directory, synced and renamed over the
//! old one, so a crash leaves the old file or the new one, never half of either; mode 0600. A login
//! marks the file dirty and a background task writes at most once per [`WRITE_DELAY`], so a burst of
//! logins costs one write and a crash loses at most that long of them; shutdown writes what is left.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::entry::{now_secs, Binding, Cache, MAX_BINDINGS};
use super::store::{BindingStore, StoreError, StoreFuture, StoreHealth};

/// How long a login waits, at most, to reach the file; logins within it share one write.
const WRITE_DELAY: Duration = Duration::from_millis(100);
/// The largest bindings file read or written: [`MAX_BINDINGS`] entries of a 2 KiB ARN fit.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// The format written; a file of another version is refused rather than misread.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    version: u32,
    bindings: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    token_sha256: String,
    principal: String,
    expires_at: u64,
}

/// Memory's copy on disk.
#[derive(Debug)]
pub(crate) struct FileStore {
    path: PathBuf,
    cache: Cache,
    dirty: Notify,
    /// Logins since the last successful write.
    pending: AtomicU64,
    /// One snapshot at a time: the background writer and shutdown's flush.
    writing: tokio::sync::Mutex<()>,
    health: StoreHealth,
}

impl FileStore {
    /// Reads `path` into `cache` (a missing file is an empty one; expired entries are dropped) and starts
    /// the writer. A malformed file stops the proxy with its line and column instead of being overwritten.
    pub(crate) fn open(path: &Path, cache: Cache, now: u64) -> Result<Arc<dyn BindingStore>, StoreError> {
        for (key, binding) in read(path, now)? {
            cache.insert(key, binding);
        }
        let store = Arc::new(FileStore {
            path: path.to_path_buf(),
            cache,
            dirty: Notify::new(),
            pending: AtomicU64::new(0),
            writing: tokio::sync::Mutex::new(()),
            health: StoreHealth::new(true),
        });
        let writer = Arc::clone(&store);
        tokio::spawn(async move {
            loop {
                writer.dirty.notified().await;
                tokio::time::sleep(WRITE_DELAY).await;
                writer.write_now().await;
            }
        });
        Ok(store)
    }

    /// Writes memory's unexpired bindings now, replacing the file.
    async fn write_now(&self) {
        let _one = self.writing.lock().await;
        let written = self.pending.swap(0, Ordering::Relaxed);
        let bytes = snapshot(&self.cache, now_secs());
        let path = self.path.clone();
        let outcome = tokio::task::spawn_blocking(move || replace_file(&path, &bytes)).await;
        match outcome.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
            Ok(()) => {
                self.health.went_up();
                self.health.wrote(written);
            }
            Err(e) => {
                self.pending.fetch_add(written, Ordering::Relaxed);
                self.health.went_down(&file_error(&self.path, e.to_string()));
            }
        }
    }
}

impl BindingStore for FileStore {
    fn kind(&self) -> &'static str {
        "file"
    }
    fn shared(&self) -> bool {
        false
    }
    fn fetch(&self, _key: [u8; 32]) -> StoreFuture<'_, Result<Option<Binding>, StoreError>> {
        // Everything the file holds was read into memory at start.
        Box::pin(async { Ok(None) })
    }
    fn save(&self, _key: [u8; 32], _binding: &Binding) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.dirty.notify_one();
    }
    fn lost(&self, _error: StoreError) {}
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.write_now())
    }
    fn health(&self) -> &StoreHealth {
        &self.health
    }
}

fn file_error(path: &Path, reason: String) -> StoreError {
    StoreError::File { path: path.display().to_string(), reason }
}

/// The unexpired bindings of `path`, latest-expiring first, at most [`MAX_BINDINGS`].
fn read(path: &Path, now: u64) -> Result<Vec<([u8; 32], Binding)>, StoreError> {
    let bytes = match crate::files::read_at_most(path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(path, e.to_string())),
    };
    let doc: FileDoc = serde_json::from_slice(&bytes).map_err(|e| {
        let message = e.to_string();
        StoreError::Malformed {
            path: path.display().to_string(),
            line: e.line(),
            col: e.column(),
            message: message.split(" at line ").next().unwrap_or_default().to_string(),
        }
    })?;
    if doc.version != VERSION {
        return Err(file_error(path, format!("version {} is not {VERSION}", doc.version)));
    }
    let mut entries = Vec::with_capacity(doc.bindings.len());
    for (i, entry) in doc.bindings.into_iter().filter(|e| e.expires_at > now).enumerate() {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&entry.token_sha256, &mut key)
            .map_err(|e| file_error(path, format!("binding {i}: token_sha256: {e}")))?;
        entries.push((key, Binding { principal: entry.principal.into(), expires_at: entry.expires_at }));
    }
    entries.sort_by_key(|(_, b)| std::cmp::Reverse(b.expires_at));
    entries.truncate(MAX_BINDINGS as usize);
    Ok(entries)
}

/// The file's bytes for memory's unexpired bindings; the soonest-expiring are left out if the file
/// would pass [`MAX_FILE_BYTES`] (only with ARNs far longer than IAM allows).
fn snapshot(cache: &Cache, now: u64) -> Vec<u8> {
    let mut bindings: Vec<Entry> = cache
        .iter()
        .filter(|(_, b)| b.expires_at > now)
        .map(|(key, b)| Entry {
            token_sha256: hex::encode(*key),
            principal: b.principal.to_string(),
            expires_at: b.expires_at,
        })
        .collect();
    bindings.sort_by_key(|e| std::cmp::Reverse(e.expires_at));
    loop {
        let doc = FileDoc { version: VERSION, bindings };
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        if bytes.len() as u64 <= MAX_FILE_BYTES {
            return bytes;
        }
        bindings = doc.bindings;
        bindings.truncate(bindings.len() / 2);
    }
}

/// Temporary file beside `path` (same file system, so the rename is atomic), synced, renamed over it.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    // A leftover from a crash may carry another mode; `mode` only applies to a file being created.
    let _ = std::fs::remove_file(&temp);
    crate::files::create_new(&temp, bytes, 0o600)?;
    std::fs::rename(&temp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::bindings::Bindings;
    use crate::classify::principal::token_key;
    use crate::config::{BindingsConfig, StoreChoice};

    const DEV: &str = "arn:aws:sts::123456789123:assumed-role/dev/s1";

    fn config(path: &Path) -> BindingsConfig {
        BindingsConfig { store: StoreChoice::File(path.to_path_buf()), ..Default::default() }
    }

    /// A restart (a new `Bindings` on the same file) still knows an unexpired login, not an expired one,
    /// and the file is 0600 and holds no token.
    #[tokio::test]
    async fn a_restart_keeps_unexpired_bindings_and_drops_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bindings.json");
        let now = now_secs();
        let first = Bindings::open(&config(&path)).unwrap();
        first.bind("live-password", DEV, now + 3600);
        first.bind("stale-password", DEV, now + 1);
        first.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("live-password"), "{text}");
        assert!(text.contains(&hex::encode(token_key("live-password"))), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        drop(first);

        let entries = read(&path, now + 2).unwrap();
        assert_eq!(entries.len(), 1, "the binding expired by then is dropped on load");
        let second = Bindings::open(&config(&path)).unwrap();
        assert_eq!(second.lookup(&token_key("live-password"), now).as_deref(), Some(DEV));
        let status = second.status();
        assert_eq!((status.store, status.reachable), ("file", true));
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_line_and_column_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bindings.json");
        let rows = [
            ("{\"version\":1,\n\"bindings\":[}", "bindings.json:2:13: expected value"),
            ("{\"version\":2,\"bindings\":[]}", "version 2 is not 1"),
            (
                "{\"version\":1,\"bindings\":[{\"token_sha256\":\"zz\",\"principal\":\"p\",\"expires_at\":9999999999}]}",
                "binding 0: token_sha256",
            ),
        ];
        for (text, expected) in rows {
            std::fs::write(&path, text).unwrap();
            let error = read(&path, 0).map(|_| ()).unwrap_err().to_string();
            assert!(error.starts_with(&path.display().to_string()), "{error}");
            assert!(error.contains(expected), "{text}: {error}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        assert!(read(&dir.path().join("missing.json"), 0).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_write_that_fails_is_reported_and_retried_on_the_next_login() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone").join("bindings.json");
        let bindings = Bindings::open(&config(&path)).unwrap();
        bindings.bind("p1", DEV, now_secs() + 3600);
        bindings.flush().await;
        let status = bindings.status();
        assert!(!status.reachable);
        assert!(status.last_error.unwrap().contains("gone"));
        std::fs::create_dir(dir.path().join("gone")).unwrap();
        bindings.flush().await;
        let status = bindings.status();
        assert!(status.reachable);
        assert_eq!((status.written, status.recoveries), (1, 1));
    }
}
