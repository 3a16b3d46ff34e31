//! Registry tokens learned at run time. A GetAuthorizationToken response carries a registry password, and
//! the docker client that asked for it sends it back as `Authorization: Basic` on every registry request;
//! the proxy binds that password to the principal whose call returned it, so registry requests name their
//! caller as the ECR API call did.
//!
//! This is state, not classification: it grows with traffic and outlives one authorizer (every
//! authorizer a reload builds shares the one [`Bindings`]), so it lives here and not in the pure
//! `classify`, which only asks it through a lookup function. Keys are SHA-256 of the password
//! ([`token_key`]), so no store ever holds a usable credential.
//!
//! Decisions read only process memory (bounded, [`MAX_BINDINGS`]), synchronously. A [`BindingStore`]
//! behind it (`[bindings] store`, ARCHITECTURE.md §12) keeps bindings across restarts (a file) or shares
//! them between replicas (Redis): what this process learns is queued to the store without waiting, and
//! a registry request whose token memory does not know waits at most `lookup_timeout_ms` for the store
//! ([`Bindings::warm`]) before it is decided. A store that fails or is slow is reported and skipped;
//! an unknown token is `anonymous`, whatever the store's state.

use std::sync::Arc;
use std::time::Duration;

use crate::classify::principal::{basic_password, basic_token_key, token_key};
use crate::config::{BindingsConfig, StoreChoice};

mod entry;
mod file_store;
mod redis_store;
mod store;

pub use entry::{now_secs, MAX_BINDINGS};
pub use store::{StoreError, StoreStatus};

use entry::{empty_cache, Binding, Cache};

use store::{BindingStore, Lookup};

/// Token hash -> principal, learned from GetAuthorizationToken responses; bounded, expired entries
/// ignored; optionally backed by a [`BindingStore`].
#[derive(Debug)]
pub struct Bindings {
    cache: Cache,
    store: Option<Arc<dyn BindingStore>>,
    lookup_timeout: Duration,
}

impl Default for Bindings {
    fn default() -> Self {
        Bindings::new()
    }
}

impl Bindings {
    /// An empty in-memory store holding at most [`MAX_BINDINGS`] tokens.
    pub fn new() -> Bindings {
        Bindings { cache: empty_cache(), store: None, lookup_timeout: Duration::ZERO }
    }

    /// The bindings `config` asks for: memory alone, or memory in front of a file (read back now,
    /// expired entries dropped) or a Redis (connected in the background, so an unreachable one does not
    /// stop the proxy from starting). A file or Redis store needs a tokio runtime.
    pub fn open(config: &BindingsConfig) -> Result<Bindings, StoreError> {
        let cache = empty_cache();
        let store: Option<Arc<dyn BindingStore>> = match &config.store {
            StoreChoice::Memory => None,
            StoreChoice::File(path) => Some(file_store::FileStore::open(path, cache.clone(), now_secs())?),
            StoreChoice::Redis(url) => Some(redis_store::RedisStore::start(url.expose(), cache.clone())?),
        };
        Ok(Bindings { cache, store, lookup_timeout: config.lookup_timeout })
    }

    /// The principal ARN the token with this hash was learned for, unless it has expired at `now`.
    pub fn lookup(&self, key: &[u8; 32], now: u64) -> Option<Arc<str>> {
        self.cache.get(key).filter(|b| b.expires_at > now).map(|b| b.principal)
    }

    /// Binds a registry password to `principal` until `expires_at` (epoch seconds), and queues it to the
    /// store.
    pub fn bind(&self, password: &str, principal: &str, expires_at: u64) {
        let key = token_key(password);
        let binding = Binding { principal: principal.into(), expires_at };
        // Memory first, so a snapshot the store takes after `save` always holds it.
        self.cache.insert(key, binding.clone());
        if let Some(store) = &self.store {
            store.save(key, &binding);
        }
    }

    /// The hash of the request's registry Basic token when a shared store should be asked for it: the
    /// store is shared and memory does not know the token. `None` costs nothing more than the check.
    pub fn missing(&self, headers: &http::HeaderMap) -> Option<[u8; 32]> {
        self.store.as_ref().filter(|s| s.shared())?;
        let value = headers.get("authorization")?.to_str().ok()?;
        basic_token_key(value).filter(|key| !self.cache.contains_key(key))
    }

    /// Asks the store for a token memory does not know ([`Bindings::missing`]), so the decision that
    /// follows sees a login made through another replica. Waits at most `lookup_timeout_ms`; a store that
    /// fails, is slow or is already known to be down leaves memory as it was, so the caller is decided as
    /// whatever memory says (`anonymous` for a token it never saw): never a stall, never fail-open.
    pub async fn warm(&self, key: [u8; 32]) {
        let Some(store) = &self.store else { return };
        let health = store.health();
        match tokio::time::timeout(self.lookup_timeout, store.fetch(key)).await {
            Ok(Ok(Some(binding))) if binding.expires_at > now_secs() => {
                health.looked_up(Lookup::Hit);
                self.cache.insert(key, binding);
            }
            Ok(Ok(_)) => health.looked_up(Lookup::Miss),
            Ok(Err(StoreError::Down)) => health.looked_up(Lookup::Skipped),
            Ok(Err(error)) => {
                health.looked_up(Lookup::Failed);
                store.lost(error);
            }
            Err(_) => {
                health.looked_up(Lookup::TimedOut);
                store.lost(StoreError::Timeout(self.lookup_timeout));
            }
        }
    }

    /// How the store behind memory is doing, for `/healthz` and `/metrics` (memory alone is `memory`,
    /// always reachable).
    pub fn status(&self) -> StoreStatus {
        // The count settles lazily; an admin request can afford to settle it.
        self.cache.run_pending_tasks();
        let in_memory = self.cache.entry_count();
        match &self.store {
            Some(store) => store.health().status(store.kind(), in_memory),
            None => store::StoreHealth::new(true).status("memory", in_memory),
        }
    }

    /// Writes what is still queued (the file store's last snapshot), on shutdown.
    pub async fn flush(&self) {
        if let Some(store) = &self.store {
            store.flush().await;
        }
    }

    /// Learns the tokens of a GetAuthorizationToken response body for `principal`; returns how many were
    /// bound (tokens already expired at `now`, or unreadable, are skipped). Amazon ECR API Reference,
    /// GetAuthorizationToken: `authorizationToken` is base64 `AWS:password`, valid until `expiresAt`.
    pub fn learn(&self, body: &[u8], principal: &str, now: u64) -> usize {
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else { return 0 };
        let Some(items) = doc.get("authorizationData").and_then(|d| d.as_array()) else { return 0 };
        let mut learned = 0;
        for item in items {
            let token = item.get("authorizationToken").and_then(|t| t.as_str()).and_then(basic_password);
            let expires =
                item.get("expiresAt").and_then(|e| e.as_f64()).filter(|e| e.is_finite() && *e > 0.0);
            if let (Some(password), Some(expires)) = (token, expires) {
                let expires = expires as u64;
                if expires > now {
                    self.bind(&password, principal, expires);
                    learned += 1;
                }
            }
        }
        learned
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::store::{StoreFuture, StoreHealth};
    use super::*;
    use crate::classify::principal::{Caller, Principals, Source};
    use crate::classify::RequestHead;
    use crate::config::PrincipalConfig;

    const DEV: &str = "arn:aws:sts::123456789123:assumed-role/dev/s1";

    fn principals() -> Principals {
        let dev = PrincipalConfig { arn: DEV.into(), ..Default::default() };
        let alice =
            PrincipalConfig { arn: "arn:aws:iam::111122223333:user/ops/alice".into(), ..Default::default() };
        Principals::new(&[dev, alice], &[]).unwrap()
    }

    fn basic_head(token: &str) -> http::HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{token}"));
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Basic {encoded}").parse().unwrap());
        h
    }

    /// Resolves a registry request's caller as the authorizer does: learned tokens through `bindings`.
    fn resolve(p: &Principals, bindings: &Bindings, headers: &http::HeaderMap, now: u64) -> Caller {
        let head = RequestHead { method: "GET", host: "h", path: "/v2/", headers };
        let learned = |key: &[u8; 32]| bindings.lookup(key, now).and_then(|arn| p.index_of(&arn));
        p.resolve(&head, &[], None, None, None, &learned).unwrap()
    }

    /// Amazon ECR API Reference, GetAuthorizationToken: `authorizationToken` is base64 `AWS:password`,
    /// valid until `expiresAt` (epoch seconds); docker sends it back as `Authorization: Basic`.
    #[test]
    fn tokens_from_get_authorization_token_bind_until_they_expire() {
        let p = principals();
        let b = Bindings::new();
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:secret-password");
        let body = format!(
            r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":2000.5,"proxyEndpoint":"https://x"}}]}}"#
        );
        assert_eq!(b.learn(body.as_bytes(), DEV, 1000), 1);
        let headers = basic_head("secret-password");
        assert_eq!(resolve(&p, &b, &headers, 1999), Caller::known(0, Source::RegistryToken));
        assert_eq!(resolve(&p, &b, &headers, 2000).source, Source::Anonymous, "expired");
        assert_eq!(resolve(&p, &b, &basic_head("other"), 1500).source, Source::Anonymous);
        assert_eq!(b.learn(b"not json", DEV, 1000), 0);
        assert_eq!(b.learn(body.as_bytes(), DEV, 3000), 0, "already expired tokens are not bound");
    }

    /// A reload shares one `Bindings`; a principal the new config no longer has is `anonymous`.
    #[test]
    fn a_binding_whose_principal_left_the_config_resolves_to_anonymous() {
        let b = Bindings::new();
        b.bind("kept", DEV, 2000);
        b.bind("gone", "arn:aws:iam::111122223333:user/removed", 2000);
        let p = principals();
        assert_eq!(resolve(&p, &b, &basic_head("kept"), 1500), Caller::known(0, Source::RegistryToken));
        assert_eq!(resolve(&p, &b, &basic_head("gone"), 1500).source, Source::Anonymous);
        assert_eq!(
            b.lookup(&token_key("gone"), 1500).as_deref(),
            Some("arn:aws:iam::111122223333:user/removed")
        );
    }

    /// A shared store that answers as scripted: with a binding, not at all, or "down".
    #[derive(Debug)]
    struct Scripted {
        answer: Option<Result<Option<Binding>, ()>>,
        health: StoreHealth,
        lost: std::sync::atomic::AtomicUsize,
    }

    impl BindingStore for Scripted {
        fn kind(&self) -> &'static str {
            "redis"
        }
        fn shared(&self) -> bool {
            true
        }
        fn fetch(&self, _key: [u8; 32]) -> StoreFuture<'_, Result<Option<Binding>, StoreError>> {
            let answer = self.answer.clone();
            Box::pin(async move {
                match answer {
                    Some(Ok(binding)) => Ok(binding),
                    Some(Err(())) => Err(StoreError::Down),
                    None => std::future::pending().await,
                }
            })
        }
        fn save(&self, _key: [u8; 32], _binding: &Binding) {}
        fn lost(&self, error: StoreError) {
            self.health.went_down(&error);
            self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn flush(&self) -> StoreFuture<'_, ()> {
            Box::pin(async {})
        }
        fn health(&self) -> &StoreHealth {
            &self.health
        }
    }

    fn scripted(answer: Option<Result<Option<Binding>, ()>>) -> (Bindings, Arc<Scripted>) {
        let store = Arc::new(Scripted { answer, health: StoreHealth::new(true), lost: Default::default() });
        let shared: Arc<dyn BindingStore> = Arc::clone(&store) as Arc<dyn BindingStore>;
        let bindings =
            Bindings { cache: empty_cache(), store: Some(shared), lookup_timeout: Duration::from_millis(50) };
        (bindings, store)
    }

    /// What the edge does before deciding: ask the store for the request's token if memory lacks it.
    async fn warm(b: &Bindings, headers: &http::HeaderMap) {
        if let Some(key) = b.missing(headers) {
            b.warm(key).await;
        }
    }

    fn lookups(b: &Bindings) -> Vec<(&'static str, u64)> {
        b.status().lookups.into_iter().filter(|(_, n)| *n > 0).collect()
    }

    /// A login through another replica is found in the shared store and decided as its principal.
    #[tokio::test]
    async fn a_token_memory_lacks_is_asked_of_the_shared_store_once() {
        let binding = Binding { principal: DEV.into(), expires_at: now_secs() + 3600 };
        let (b, _) = scripted(Some(Ok(Some(binding))));
        warm(&b, &basic_head("from-replica-a")).await;
        assert_eq!(b.lookup(&token_key("from-replica-a"), now_secs()).as_deref(), Some(DEV));
        warm(&b, &basic_head("from-replica-a")).await;
        assert_eq!(lookups(&b), [("hit", 1)], "the second request is served from memory");
        let mut sigv4 = http::HeaderMap::new();
        sigv4.insert("authorization", "AWS4-HMAC-SHA256 Credential=AKIA/...".parse().unwrap());
        warm(&b, &sigv4).await;
        assert_eq!(lookups(&b), [("hit", 1)], "only registry Basic tokens are looked up");
    }

    /// The lookup bound, on the paused clock: a store that never answers costs the request exactly
    /// `lookup_timeout_ms`, marks the store down, and leaves the caller `anonymous`.
    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_answers_costs_one_lookup_bound_and_is_marked_down() {
        let (b, store) = scripted(None);
        let started = tokio::time::Instant::now();
        warm(&b, &basic_head("unknown")).await;
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert_eq!(b.lookup(&token_key("unknown"), now_secs()), None);
        assert_eq!(lookups(&b), [("timed_out", 1)]);
        assert_eq!(store.lost.load(std::sync::atomic::Ordering::Relaxed), 1);
        let status = b.status();
        assert!(!status.reachable);
        assert_eq!(status.last_error.as_deref(), Some("no answer within 50ms"));
    }

    /// A store already known to be down is not waited for at all.
    #[tokio::test(start_paused = true)]
    async fn a_store_known_to_be_down_is_skipped_without_waiting() {
        let (b, store) = scripted(Some(Err(())));
        let started = tokio::time::Instant::now();
        warm(&b, &basic_head("unknown")).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(lookups(&b), [("skipped", 1)]);
        assert_eq!(store.lost.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    /// An expired binding from the store is not taken.
    #[tokio::test]
    async fn an_expired_binding_from_the_store_is_a_miss() {
        let binding = Binding { principal: DEV.into(), expires_at: now_secs().saturating_sub(1) };
        let (b, _) = scripted(Some(Ok(Some(binding))));
        warm(&b, &basic_head("old")).await;
        assert_eq!(b.lookup(&token_key("old"), 0), None);
        assert_eq!(lookups(&b), [("miss", 1)]);
    }
}
