//! Registry tokens learned at run time. A GetAuthorizationToken response carries a registry password, and
//! the docker client that asked for it sends it back as `Authorization: Basic` on every registry request;
//! the proxy binds that password to the principal whose call returned it, so registry requests name their
//! caller as the ECR API call did.
//!
//! This is state, not classification: it grows with traffic and outlives one authorizer (a reload hands
//! it to the next), so it lives here and not in the pure `classify`, which only asks it through a lookup
//! function. Keys are SHA-256 of the password ([`token_key`]), so the store never holds a usable
//! credential. The store is in memory and bounded; [`Bindings::lookup`], [`Bindings::learn`] and
//! [`Bindings::adopt`] are the whole interface another store (shared between proxies) would provide.

use std::sync::Arc;
use std::time::Duration;

use crate::classify::principal::{basic_password, token_key};

/// Most token bindings kept at once; older ones are evicted first (ECR tokens last 12 hours).
pub const MAX_BINDINGS: u64 = 100_000;

/// ECR registry tokens are valid for 12 hours, so no binding needs to be kept longer whatever its
/// `expiresAt` claims.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// One learned token: the principal ARN it names, until `expires_at` (epoch seconds).
///
/// The ARN rather than an index into one config's principals, so a binding means the same after a reload
/// that reorders or removes principals.
#[derive(Debug, Clone)]
struct Binding {
    principal: Arc<str>,
    expires_at: u64,
}

/// Token hash -> principal, learned from GetAuthorizationToken responses; bounded, expired entries ignored.
#[derive(Debug)]
pub struct Bindings {
    cache: moka::sync::Cache<[u8; 32], Binding>,
}

impl Default for Bindings {
    fn default() -> Self {
        Bindings::new()
    }
}

impl Bindings {
    /// An empty store holding at most [`MAX_BINDINGS`] tokens.
    pub fn new() -> Bindings {
        let cache =
            moka::sync::Cache::builder().max_capacity(MAX_BINDINGS).time_to_live(TOKEN_LIFETIME).build();
        Bindings { cache }
    }

    /// The principal ARN the token with this hash was learned for, unless it has expired at `now`.
    pub fn lookup(&self, key: &[u8; 32], now: u64) -> Option<Arc<str>> {
        self.cache.get(key).filter(|b| b.expires_at > now).map(|b| b.principal)
    }

    /// Binds a registry password to `principal` until `expires_at` (epoch seconds).
    pub fn bind(&self, password: &str, principal: &str, expires_at: u64) {
        self.cache.insert(token_key(password), Binding { principal: principal.into(), expires_at });
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

    /// Copies the unexpired bindings of `old` whose principal `known` accepts, so a reload does not turn
    /// every logged-in docker client into `anonymous` until its next `docker login`; returns how many.
    pub fn adopt(&self, old: &Bindings, known: impl Fn(&str) -> bool, now: u64) -> usize {
        let mut adopted = 0;
        for (key, binding) in old.cache.iter() {
            if binding.expires_at > now && known(&binding.principal) {
                self.cache.insert(*key, binding);
                adopted += 1;
            }
        }
        adopted
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

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
        p.resolve(&head, None, None, None, &learned).unwrap()
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

    #[test]
    fn adoption_keeps_unexpired_bindings_of_known_principals_only() {
        let old = Bindings::new();
        old.bind("kept", DEV, 2000);
        old.bind("expired", DEV, 1000);
        old.bind("gone", "arn:aws:iam::111122223333:user/removed", 2000);
        let new = Bindings::new();
        assert_eq!(new.adopt(&old, |arn| arn == DEV, 1500), 1);
        assert_eq!(new.lookup(&token_key("kept"), 1500).as_deref(), Some(DEV));
        assert_eq!(new.lookup(&token_key("expired"), 900), None);
        assert_eq!(new.lookup(&token_key("gone"), 1500), None);
    }
}
