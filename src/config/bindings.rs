//! `[bindings]`: where the registry-token -> principal bindings live (ARCHITECTURE.md §12).
//!
//! The TOML keys are flat (`store`, `path`, `url`, `lookup_timeout_ms`), but which of them apply depends
//! on `store`, so they are parsed into [`StoreChoice`] with the file or URL it needs: a `store = "file"`
//! without a `path` is refused at its line instead of failing on the first login.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The longest lookup bound allowed: a registry request waits at most this long for the store.
const MAX_LOOKUP_TIMEOUT_MS: u64 = 10_000;

/// Where bindings are kept, with what that store needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// Process memory only (the default): lost on restart, private to one process.
    #[default]
    Memory,
    /// Memory, written through to a JSON file that a restart reads back.
    File(PathBuf),
    /// Memory in front of a Redis shared by every replica (`redis://[:PASSWORD@]HOST:PORT/DB`).
    Redis(RedisUrl),
}

/// A `redis://` URL; it may carry a password, so `Debug` shows only what follows the `@`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL with its password, for the client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rest = self.0.trim_start_matches("redis://");
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        write!(f, "RedisUrl(redis://{host})")
    }
}

/// The `[bindings]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawBindings")]
pub struct BindingsConfig {
    /// The store and its location.
    pub store: StoreChoice,
    /// How long a registry request may wait for a binding the local memory does not have.
    pub lookup_timeout: Duration,
}

impl Default for BindingsConfig {
    fn default() -> Self {
        BindingsConfig { store: StoreChoice::Memory, lookup_timeout: Duration::from_millis(50) }
    }
}

/// The keys as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBindings {
    #[serde(default)]
    store: StoreName,
    path: Option<PathBuf>,
    url: Option<String>,
    lookup_timeout_ms: Option<u64>,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum StoreName {
    #[default]
    Memory,
    File,
    Redis,
}

impl TryFrom<RawBindings> for BindingsConfig {
    type Error = String;

    fn try_from(raw: RawBindings) -> Result<Self, String> {
        let store = match (raw.store, raw.path, raw.url) {
            (StoreName::Memory, None, None) => StoreChoice::Memory,
            (StoreName::File, Some(path), None) => StoreChoice::File(path),
            (StoreName::Redis, None, Some(url)) => StoreChoice::Redis(redis_url(url)?),
            (StoreName::File, None, _) => return Err("store = \"file\" needs path".into()),
            (StoreName::Redis, _, None) => return Err("store = \"redis\" needs url".into()),
            (StoreName::File | StoreName::Memory, _, Some(_)) => {
                return Err("url is only for store = \"redis\"".into())
            }
            (_, Some(_), _) => return Err("path is only for store = \"file\"".into()),
        };
        let ms = raw.lookup_timeout_ms.unwrap_or(50);
        if !(1..=MAX_LOOKUP_TIMEOUT_MS).contains(&ms) {
            return Err(format!("lookup_timeout_ms must be between 1 and {MAX_LOOKUP_TIMEOUT_MS}"));
        }
        Ok(BindingsConfig { store, lookup_timeout: Duration::from_millis(ms) })
    }
}

/// Checks the URL the way the client will read it, so a typo fails the parse, not the first login.
/// Only plain `redis://`: this build has no TLS for Redis, and a `rediss://` silently sent in clear
/// would leak principal names.
fn redis_url(url: String) -> Result<RedisUrl, String> {
    if !url.starts_with("redis://") {
        return Err(format!("url must start with redis:// (got {:?})", url.split(':').next().unwrap_or("")));
    }
    let url = RedisUrl(url);
    redis::parse_redis_url(url.expose()).ok_or_else(|| format!("{url:?} is not a valid redis:// URL"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(body: &str) -> Result<BindingsConfig, String> {
        Config::parse(&format!("[bindings]\n{body}\n"), Path::new("c.toml"))
            .map(|c| c.bindings)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_store_takes_only_its_own_location() {
        assert_eq!(parse("").unwrap(), BindingsConfig::default());
        let file = parse("store = \"file\"\npath = \"/var/lib/b.json\"").unwrap();
        assert_eq!(file.store, StoreChoice::File("/var/lib/b.json".into()));
        let redis = parse("store = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nlookup_timeout_ms = 20");
        let redis = redis.unwrap();
        assert_eq!(redis.store, StoreChoice::Redis(RedisUrl("redis://127.0.0.1:6379/0".into())));
        let secret = parse("store = \"redis\"\nurl = \"redis://:hunter2-secret@10.0.0.5:6379/0\"").unwrap();
        assert_eq!(format!("{:?}", secret.store), "Redis(RedisUrl(redis://10.0.0.5:6379/0))");
        assert_eq!(redis.lookup_timeout, Duration::from_millis(20));
        let rows = [
            ("store = \"file\"", "store = \"file\" needs path"),
            ("store = \"redis\"", "store = \"redis\" needs url"),
            ("path = \"x.json\"", "path is only for store = \"file\""),
            ("store = \"file\"\npath = \"x\"\nurl = \"redis://h\"", "url is only for store = \"redis\""),
            ("store = \"redis\"\nurl = \"rediss://h\"", "url must start with redis://"),
            ("store = \"redis\"\nurl = \"redis://h\"\nlookup_timeout_ms = 0", "between 1 and 10000"),
            ("store = \"etcd\"", "unknown variant `etcd`"),
            ("stor = \"file\"", "unknown field `stor`"),
        ];
        for (body, expected) in rows {
            let error = parse(body).unwrap_err();
            assert!(error.starts_with("c.toml:"), "{body}: {error}");
            assert!(error.contains(expected), "{body}: {error}");
        }
    }
}
