//! The one small interface a binding store provides, and the health every store reports the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::entry::Binding;

/// A future a store returns; boxed so the stores stay one trait object behind [`super::Bindings`].
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store could not answer or be opened. Messages name the file or the Redis address, never a
/// token or a password in the URL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is known to be unreachable; the supervisor is reconnecting, so nobody waits.
    #[error("the store is down")]
    Down,
    /// A lookup took longer than `lookup_timeout_ms`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The file store's file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The bindings file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The bindings file is not JSON of the expected shape.
    #[error("{path}:{line}:{col}: {message}")]
    Malformed {
        /// The bindings file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong there.
        message: String,
    },
    /// Redis refused, dropped the connection, or answered with an error.
    #[error("redis at {addr}: {reason}")]
    Redis {
        /// `HOST:PORT` of the server (the URL's password is never shown).
        addr: String,
        /// The client's error.
        reason: String,
    },
}

/// Where bindings outlive this process's memory. Memory stays the source of every decision; a store
/// only fills it ([`BindingStore::fetch`], before a decision) and keeps a copy of it
/// ([`BindingStore::save`], after a login), and neither may make a request wait past the lookup bound.
pub(crate) trait BindingStore: Send + Sync + std::fmt::Debug {
    /// `file` or `redis`, as in `[bindings] store`.
    fn kind(&self) -> &'static str;
    /// Whether other processes write to the store, so a token memory does not know must be asked for.
    /// A file is this process's own copy of its memory and is never asked.
    fn shared(&self) -> bool;
    /// The binding stored for this token hash, if any; [`StoreError::Down`] at once while unreachable.
    fn fetch(&self, key: [u8; 32]) -> StoreFuture<'_, Result<Option<Binding>, StoreError>>;
    /// Queues a copy of a binding just learned; never waits.
    fn save(&self, key: [u8; 32], binding: &Binding);
    /// A lookup failed or timed out: mark the store down and reconnect in the background.
    fn lost(&self, error: StoreError);
    /// Writes whatever is queued; on shutdown.
    fn flush(&self) -> StoreFuture<'_, ()>;
    /// The counters `/healthz` and `/metrics` show.
    fn health(&self) -> &StoreHealth;
}

/// How one lookup in the store ended (`vpce_proxy_binding_lookups_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The store had the token; memory now has it too.
    Hit,
    /// The store does not know the token either.
    Miss,
    /// Not asked: the store was already known to be down.
    Skipped,
    /// The store answered with an error.
    Failed,
    /// No answer within the bound.
    TimedOut,
}

impl Lookup {
    const ALL: [Lookup; 5] = [Lookup::Hit, Lookup::Miss, Lookup::Skipped, Lookup::Failed, Lookup::TimedOut];

    fn name(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Skipped => "skipped",
            Lookup::Failed => "failed",
            Lookup::TimedOut => "timed_out",
        }
    }
}

/// Reachability and counters, shared by a store and its background tasks.
#[derive(Debug, Default)]
pub(crate) struct StoreHealth {
    up: AtomicBool,
    errors: AtomicU64,
    recoveries: AtomicU64,
    writes: AtomicU64,
    lookups: [AtomicU64; 5],
    last_error: Mutex<Option<String>>,
}

impl StoreHealth {
    /// Health of a store that starts `up` (a file just read) or not (Redis not yet connected).
    pub(crate) fn new(up: bool) -> StoreHealth {
        let health = StoreHealth::default();
        health.up.store(up, Ordering::Relaxed);
        health
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The store answered again; the last error stays visible until the next one.
    pub(crate) fn went_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            self.recoveries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The store failed: counted, remembered, and (the first time) logged.
    pub(crate) fn went_down(&self, error: &StoreError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(%error, "binding store unreachable; serving learned tokens from memory");
        }
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    pub(crate) fn wrote(&self, bindings: u64) {
        self.writes.fetch_add(bindings, Ordering::Relaxed);
    }

    pub(crate) fn looked_up(&self, lookup: Lookup) {
        self.lookups[lookup as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot for `/healthz` and `/metrics`.
    pub(crate) fn status(&self, store: &'static str, in_memory: u64) -> StoreStatus {
        let last_error = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        StoreStatus {
            store,
            reachable: self.is_up(),
            in_memory,
            errors: self.errors.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
            written: self.writes.load(Ordering::Relaxed),
            lookups: Lookup::ALL.map(|l| (l.name(), self.lookups[l as usize].load(Ordering::Relaxed))),
            last_error,
        }
    }
}

/// What `/healthz` shows under `bindings` (and `/metrics` as `vpce_proxy_binding_store_*`).
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// `file` or `redis`.
    pub store: &'static str,
    /// Whether the last operation (or reconnect) succeeded.
    pub reachable: bool,
    /// Bindings in this process's memory.
    pub in_memory: u64,
    /// Failed operations since start.
    pub errors: u64,
    /// Times the store came back after being down.
    pub recoveries: u64,
    /// Bindings written to the store since start.
    pub written: u64,
    /// Store lookups by how they ended.
    #[serde(serialize_with = "as_map")]
    pub lookups: [(&'static str, u64); 5],
    /// The most recent failure, kept after recovery so an operator sees what happened.
    pub last_error: Option<String>,
}

fn as_map<S: serde::Serializer>(pairs: &[(&'static str, u64); 5], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (*k, *v)))
}
