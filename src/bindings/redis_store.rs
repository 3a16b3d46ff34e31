//! `store = "redis"`: memory in front of a Redis that every replica shares, so a `docker login` through
//! one replica is recognised at the others, and survives the restart of any of them.
//!
//! Keys are `vpce-proxy:token:<SHA-256 hex>`, values `{"principal":ARN,"expires_at":SECS}`, and each key
//! expires with its token (`SET ... EXAT expiresAt`), so Redis needs no sweeping. A supervisor task owns
//! the connection: it connects (and PINGs) within [`CONNECT_TIMEOUT`], backs off from 100 ms to 5 s
//! while Redis is unreachable, and on every (re)connect writes memory's bindings back, so logins made
//! during an outage reach the other replicas once Redis is back. While it is down, lookups are not even
//! tried ([`StoreError::Down`]), so no request waits on a Redis known to be gone.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use super::entry::{now_secs, Binding, Cache};
use super::store::{BindingStore, StoreError, StoreFuture, StoreHealth};

/// Connecting, PINGing and writing are off the request path, so they get longer than a lookup.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often an idle connection is PINGed, so an outage shows in `/healthz` even while every request
/// is served from memory.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Logins queued for writing; past it a login stays in memory and reaches Redis on the next reconnect.
const QUEUE: usize = 4096;
/// Bindings per pipelined round-trip when memory is written back after a reconnect.
const RESYNC_BATCH: usize = 500;
const KEY_PREFIX: &str = "vpce-proxy:token:";

/// The stored value; borrowed where JSON allows, owned where an escape made it necessary.
#[derive(Serialize, Deserialize)]
struct Value<'a> {
    #[serde(borrow)]
    principal: std::borrow::Cow<'a, str>,
    expires_at: u64,
}

/// The shared store.
pub(crate) struct RedisStore {
    client: redis::Client,
    /// `HOST:PORT`, for messages (the URL may hold a password).
    addr: String,
    conn: RwLock<Option<MultiplexedConnection>>,
    /// Wakes the supervisor when a command failed.
    lost: Notify,
    queue: mpsc::Sender<([u8; 32], Binding)>,
    cache: Cache,
    health: StoreHealth,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Starts the supervisor and the writer; returns before Redis answers, so a proxy starts (with
    /// memory only, reported down) even when Redis does not.
    pub(crate) fn start(url: &str, cache: Cache) -> Result<Arc<dyn BindingStore>, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Redis { addr: "(url)".into(), reason: e.to_string() })?;
        let addr = client.get_connection_info().addr().to_string();
        let (queue, writes) = mpsc::channel(QUEUE);
        let store = Arc::new(RedisStore {
            client,
            addr,
            conn: RwLock::new(None),
            lost: Notify::new(),
            queue,
            cache,
            health: StoreHealth::new(false),
        });
        tokio::spawn(supervise(Arc::clone(&store)));
        tokio::spawn(write_queue(Arc::clone(&store), writes));
        Ok(store)
    }

    /// Drops the connection and reports the store down; whether there was a connection to drop.
    fn mark_down(&self, error: StoreError) -> bool {
        let had = self.conn.write().unwrap_or_else(|p| p.into_inner()).take().is_some();
        self.health.went_down(&error);
        had
    }

    fn connection(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn error(&self, e: &redis::RedisError) -> StoreError {
        StoreError::Redis { addr: self.addr.clone(), reason: e.to_string() }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, StoreError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT));
        let attempt = async {
            let mut conn = self.client.get_multiplexed_async_connection_with_config(&config).await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        self.within(attempt).await
    }

    /// Runs a Redis command (or connect) bounded by [`CONNECT_TIMEOUT`], its failure as a [`StoreError`].
    async fn within<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.error(&e)),
            Err(_) => Err(StoreError::Timeout(CONNECT_TIMEOUT)),
        }
    }

    /// Returns once the connection is lost: a command failed, or a heartbeat PING did.
    async fn watch(&self, mut conn: MultiplexedConnection) {
        loop {
            tokio::select! {
                _ = self.lost.notified() => return,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            let ping = redis::cmd("PING");
            if let Err(error) = self.within(ping.query_async::<String>(&mut conn)).await {
                self.mark_down(error);
                return;
            }
        }
    }

    /// Writes memory's unexpired bindings to Redis after a (re)connect.
    async fn resync(&self, mut conn: MultiplexedConnection) {
        let now = now_secs();
        let live: Vec<_> = self.cache.iter().filter(|(_, b)| b.expires_at > now).collect();
        for batch in live.chunks(RESYNC_BATCH) {
            let mut pipe = redis::pipe();
            for (key, binding) in batch {
                pipe.add_command(set(key, binding)).ignore();
            }
            if let Err(error) = self.within(pipe.query_async::<()>(&mut conn)).await {
                return self.lost(error);
            }
            self.health.wrote(batch.len() as u64);
        }
    }
}

fn redis_key(key: &[u8; 32]) -> String {
    format!("{KEY_PREFIX}{}", hex::encode(key))
}

fn set(key: &[u8; 32], binding: &Binding) -> redis::Cmd {
    let value = Value { principal: (&*binding.principal).into(), expires_at: binding.expires_at };
    let mut cmd = redis::cmd("SET");
    cmd.arg(redis_key(key))
        .arg(serde_json::to_string(&value).unwrap_or_default())
        .arg("EXAT")
        .arg(binding.expires_at);
    cmd
}

/// Keeps one connection up: connect, write memory back, wait until a command fails, start again.
async fn supervise(store: Arc<RedisStore>) {
    let mut backoff = BACKOFF_START;
    loop {
        match store.connect().await {
            Ok(conn) => {
                backoff = BACKOFF_START;
                *store.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
                store.health.went_up();
                store.resync(conn.clone()).await;
                store.watch(conn).await;
            }
            Err(error) => {
                store.health.went_down(&error);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Writes queued logins one by one; while Redis is down they are skipped, since the reconnect's
/// write-back carries them.
async fn write_queue(store: Arc<RedisStore>, mut writes: mpsc::Receiver<([u8; 32], Binding)>) {
    while let Some((key, binding)) = writes.recv().await {
        let Some(mut conn) = store.connection() else { continue };
        let cmd = set(&key, &binding);
        match store.within(cmd.query_async::<()>(&mut conn)).await {
            Ok(()) => store.health.wrote(1),
            Err(error) => store.lost(error),
        }
    }
}

impl BindingStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }
    fn shared(&self) -> bool {
        true
    }
    fn fetch(&self, key: [u8; 32]) -> StoreFuture<'_, Result<Option<Binding>, StoreError>> {
        Box::pin(async move {
            let Some(mut conn) = self.connection() else { return Err(StoreError::Down) };
            let value: Option<String> = redis::cmd("GET")
                .arg(redis_key(&key))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.error(&e))?;
            // A value this version cannot read is a miss: the token is then `anonymous`, never guessed.
            Ok(value
                .as_deref()
                .and_then(|v| serde_json::from_str::<Value<'_>>(v).ok())
                .map(|v| Binding { principal: v.principal.into(), expires_at: v.expires_at }))
        })
    }
    fn save(&self, key: [u8; 32], binding: &Binding) {
        if self.queue.try_send((key, binding.clone())).is_err() {
            tracing::warn!("binding store write queue full; the login reaches Redis on the next reconnect");
        }
    }
    fn lost(&self, error: StoreError) {
        // Only a connection the supervisor is watching needs waking it; while it is reconnecting anyway,
        // a stored wake-up would end the next good connection's watch at once.
        if self.mark_down(error) {
            self.lost.notify_one();
        }
    }
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async {
            let drained = async {
                while self.queue.capacity() < QUEUE && self.connection().is_some() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, drained).await;
        })
    }
    fn health(&self) -> &StoreHealth {
        &self.health
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one replica writes, another reads back, escapes included; a key never holds the token.
    #[test]
    fn a_stored_value_reads_back_as_the_binding_written() {
        for principal in ["arn:aws:sts::123456789123:assumed-role/dev/s1", "arn:aws:iam::1:user/odd\"\\name"]
        {
            let binding = Binding { principal: principal.into(), expires_at: 1_900_000_000 };
            let value = Value { principal: principal.into(), expires_at: binding.expires_at };
            let text = serde_json::to_string(&value).unwrap();
            let back: Value<'_> = serde_json::from_str(&text).unwrap();
            assert_eq!((back.principal.as_ref(), back.expires_at), (principal, binding.expires_at));
        }
        let key = crate::classify::principal::token_key("secret-password");
        assert_eq!(redis_key(&key), format!("vpce-proxy:token:{}", hex::encode(key)));
        assert!(!redis_key(&key).contains("secret"));
    }
}
