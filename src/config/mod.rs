//! `vpce-proxy.toml` -> [`Config`]: listeners, endpoint identity, policies per service, principals,
//! upstream routes and limits.
//!
//! Parsing is separate from reading the file so tests build configs from strings, and every error names
//! the file, line and column an operator must fix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::classify::Service;

mod admin;
mod bindings;
mod facts;
mod rollout;

pub use admin::{AdminConfig, AdminToken, MAX_DECISIONS};
pub use bindings::{BindingsConfig, RedisUrl, StoreChoice};
pub use facts::{AccountConfig, BucketConfig, RepositoryConfig};
pub use rollout::{Enforcement, Mode};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The TOML is malformed or has a field of the wrong type or name.
    #[error("{path}:{line}:{col}: {message}")]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        col: usize,
        /// What is wrong.
        message: String,
    },
}

/// The whole proxy configuration. Every section has a default, so an empty file is the embedded default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the proxy listens.
    pub listen: Listen,
    /// The identity of the simulated endpoint (`aws:SourceVpce`, `aws:SourceVpc`, `aws:VpceAccount`).
    pub endpoint: Endpoint,
    /// The local certificate authority.
    pub ca: CaConfig,
    /// Endpoint policy file per service (keys `ecr.api`, `ecr.dkr`, `s3`); a missing key means the AWS
    /// default policy (allow all). Keyed by [`Service`] so a misspelt key fails the parse at its line
    /// instead of surfacing later, or never, as a policy that silently does not apply.
    pub policies: BTreeMap<Service, PathBuf>,
    /// Whether each service enforces its decisions or only reports them (ARCHITECTURE.md §10).
    pub enforcement: Enforcement,
    /// Candidate endpoint policies per service: validated, hot-reloaded and decided on every request
    /// beside the live one, never enforced; a different decision is audited and counted (§10).
    pub shadow_policies: BTreeMap<Service, PathBuf>,
    /// Known callers and how to recognise them.
    #[serde(rename = "principal")]
    pub principals: Vec<PrincipalConfig>,
    /// Accounts and their organizations (ARCHITECTURE.md §9).
    #[serde(rename = "account")]
    pub accounts: Vec<AccountConfig>,
    /// Repository tags (ARCHITECTURE.md §9).
    #[serde(rename = "repository")]
    pub repositories: Vec<RepositoryConfig>,
    /// Bucket owners (ARCHITECTURE.md §9).
    #[serde(rename = "bucket")]
    pub buckets: Vec<BucketConfig>,
    /// Routes that send a host pattern to another address (how the lab reaches its stand-ins).
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamRoute>,
    /// Trust for upstream TLS.
    pub upstream_tls: UpstreamTls,
    /// Bounds on connections, headers, bodies and time.
    pub limits: Limits,
    /// The decision log.
    pub audit: AuditConfig,
    /// The admin listener's token and the decision viewer's memory (ARCHITECTURE.md §11).
    pub admin: AdminConfig,
    /// Where learned registry-token bindings live: memory, a file, or a shared Redis (§12).
    pub bindings: BindingsConfig,
}

/// Where the one-line-per-decision audit log goes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Whether decisions are logged at all.
    pub enabled: bool,
    /// A file to append to; `None` means stdout.
    pub path: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { enabled: true, path: None }
    }
}

/// Listener addresses.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The HTTP CONNECT listener (`HTTPS_PROXY` mode).
    pub connect: SocketAddr,
    /// The optional SNI listener (private-DNS mode: clients connect with TLS directly).
    pub sni: Option<SocketAddr>,
    /// The optional admin listener (`/healthz`, `/metrics`, the decision viewer; `[admin]` secures it).
    pub admin: Option<SocketAddr>,
    /// Require `Proxy-Authorization: Basic` on CONNECT (407 otherwise), matched against `[[principal]]`
    /// `proxy_user`/`proxy_password`.
    pub require_proxy_auth: bool,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            connect: SocketAddr::from(([127, 0, 0, 1], 3128)),
            sni: None,
            admin: None,
            require_proxy_auth: false,
        }
    }
}

/// The simulated endpoint's own identity and edge behaviour.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoint {
    /// `aws:SourceVpce`, e.g. `vpce-0123456789abcdef0`.
    pub id: String,
    /// `aws:SourceVpc`, e.g. `vpc-0123456789abcdef0`.
    pub vpc_id: String,
    /// `aws:VpceAccount`: the account that owns the endpoint.
    pub account: Option<String>,
    /// Tunnel hosts that are not ECR/S3 endpoint hosts untouched instead of refusing them.
    pub tunnel_unknown_hosts: bool,
    /// Ports CONNECT may target.
    pub allowed_connect_ports: Vec<u16>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            id: "vpce-0123456789abcdef0".into(),
            vpc_id: "vpc-0123456789abcdef0".into(),
            account: None,
            tunnel_unknown_hosts: false,
            allowed_connect_ports: vec![443],
        }
    }
}

/// Where the local CA lives.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// Directory holding `ca.crt` and `ca.key` (created on first run, key mode 0600).
    pub dir: PathBuf,
    /// How many per-host leaf certificates are kept. At least 1: an empty cache would mint a leaf per
    /// connection, so 0 is refused when parsed rather than quietly raised.
    #[serde(deserialize_with = "leaf_cache_size")]
    pub leaf_cache_size: NonZeroU64,
}

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("certs"),
            leaf_cache_size: NonZeroU64::new(1024).unwrap_or(NonZeroU64::MIN),
        }
    }
}

/// One known caller and the ways the proxy recognises it (ARCHITECTURE.md §5).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrincipalConfig {
    /// The principal ARN reported in decisions and messages; empty for a service principal.
    pub arn: String,
    /// A service principal (`ecr.amazonaws.com`): `aws:PrincipalIsAWSService` is `true` and
    /// `aws:PrincipalServiceName` names it. Such a principal has no ARN and no account.
    pub service: Option<String>,
    /// The principal's account; derived from `arn` when absent.
    pub account: Option<String>,
    /// `aws:PrincipalOrgID`; defaults to its `[[account]]`'s `org_id`.
    pub org_id: Option<String>,
    /// `aws:PrincipalOrgPaths`; defaults to its `[[account]]`'s `org_paths`.
    pub org_paths: Vec<String>,
    /// `aws:PrincipalTag/*`.
    pub tags: BTreeMap<String, String>,
    /// Identity-based policy files attached to this principal.
    pub identity_policies: Vec<PathBuf>,
    /// SigV4 access key ids that identify this principal.
    pub access_key_ids: Vec<String>,
    /// When set, SigV4 signatures made with this principal's key ids are verified; a forged one is refused.
    pub secret_access_key: Option<String>,
    /// Static registry Basic tokens (the password part) that identify this principal.
    pub registry_tokens: Vec<String>,
    /// `Proxy-Authorization: Basic` user name on CONNECT.
    pub proxy_user: Option<String>,
    /// `Proxy-Authorization: Basic` password on CONNECT.
    pub proxy_password: Option<String>,
    /// Source networks whose connections are this principal (a host's instance role).
    pub source_cidrs: Vec<ipnet::IpNet>,
}

/// Sends requests for hosts matching `host` to `address` instead of resolving the host name.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRoute {
    /// A host name or a pattern with one leading `*.` label wildcard.
    pub host: String,
    /// `IP:PORT` or `NAME:PORT` to connect to instead.
    pub address: String,
}

/// Trust anchors for upstream TLS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTls {
    /// A PEM file of extra CA certificates trusted besides the web PKI roots (the lab's own CA).
    pub extra_ca: Option<PathBuf>,
    /// Offer h2 to upstream as well as HTTP/1.1. Off by default: pooled HTTP/1.1 keep-alive connections
    /// cost less CPU per request and per GB (`scripts/bench`); turn it on to multiplex over few connections.
    pub http2: bool,
    /// At start, open one TLS connection to each routed host a client is likely to ask for first (the
    /// names whose leaves are minted at start), so the first request to it does not wait for the upstream
    /// handshake. On by default; only `[[upstream]]`-routed hosts are dialled, never the internet.
    pub preconnect: bool,
}

impl Default for UpstreamTls {
    fn default() -> Self {
        UpstreamTls { extra_ca: None, http2: false, preconnect: true }
    }
}

/// Bounds that keep one client from exhausting the proxy.
///
/// Every bound is checked when the file is parsed, so a value the proxy cannot honour (a 0 timeout, a 0
/// connection cap) is an error at its `FILE:LINE:COL` instead of being quietly replaced at run time. The
/// timeouts are whole seconds in the file (`*_secs` keys) and [`Duration`]s here, so no call site converts
/// or clamps them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections served at once; excess connections are refused, not queued. At least 1: a cap of 0
    /// would refuse every client.
    #[serde(deserialize_with = "max_connections")]
    pub max_connections: NonZeroUsize,
    /// Connections one client address may hold at once. At least 1, as for `max_connections`.
    #[serde(deserialize_with = "max_connections_per_client")]
    pub max_connections_per_client: NonZeroUsize,
    /// Largest request head (request line plus headers), bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Largest body prefix read to classify a request (ECR API JSON), bytes.
    pub max_classify_body_bytes: usize,
    /// Time allowed for a TLS handshake (`handshake_timeout_secs`, at least 1).
    #[serde(rename = "handshake_timeout_secs", deserialize_with = "handshake_timeout_secs")]
    pub handshake_timeout: Duration,
    /// Time allowed to receive a complete request head (`header_read_timeout_secs`, at least 1).
    #[serde(rename = "header_read_timeout_secs", deserialize_with = "header_read_timeout_secs")]
    pub header_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this long (`idle_timeout_secs`, at least 1).
    #[serde(rename = "idle_timeout_secs", deserialize_with = "idle_timeout_secs")]
    pub idle_timeout: Duration,
    /// Time allowed to connect to upstream (`upstream_connect_timeout_secs`, at least 1).
    #[serde(rename = "upstream_connect_timeout_secs", deserialize_with = "upstream_connect_timeout_secs")]
    pub upstream_connect_timeout: Duration,
    /// An upstream connection on which nothing moves either way for this long fails its request
    /// (`upstream_idle_timeout_secs`, at least 1): 502 before the response head, a cut body after it.
    /// Keep it below `idle_timeout_secs`, whose watchdog would otherwise close the waiting client first.
    #[serde(rename = "upstream_idle_timeout_secs", deserialize_with = "upstream_idle_timeout_secs")]
    pub upstream_idle_timeout: Duration,
    /// On SIGTERM, in-flight transfers get this long to finish (`drain_timeout_secs`). 0 is allowed and
    /// means no drain: stop accepting and close in-flight connections at once, for deployments where
    /// clients retry and a fast stop matters more than finishing a transfer.
    #[serde(rename = "drain_timeout_secs", deserialize_with = "drain_timeout_secs")]
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let nonzero = |n| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Self {
            max_connections: nonzero(4096),
            max_connections_per_client: nonzero(512),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_classify_body_bytes: 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            upstream_connect_timeout: Duration::from_secs(10),
            upstream_idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The longest timeout accepted, a year: far beyond any useful timeout, and small enough that adding it
/// to an `Instant` can never overflow wherever a deadline is computed (tokio, hyper's pool).
const MAX_TIMEOUT_SECS: i64 = 365 * 24 * 3600;

/// Reads whole seconds, refusing values below `min` or above [`MAX_TIMEOUT_SECS`]. The error is raised
/// inside the field's deserializer, so toml attaches the value's span and [`Config::parse`] names its
/// `FILE:LINE:COL`.
fn whole_seconds<'de, D: Deserializer<'de>>(d: D, key: &str, min: i64) -> Result<Duration, D::Error> {
    let secs = i64::deserialize(d)?;
    if secs < min {
        let rule = if min > 0 { format!("be at least {min} second") } else { "not be negative".into() };
        return Err(D::Error::custom(format!("{key} must {rule}")));
    }
    match u64::try_from(secs) {
        Ok(secs) if secs <= MAX_TIMEOUT_SECS.unsigned_abs() => Ok(Duration::from_secs(secs)),
        _ => Err(D::Error::custom(format!("{key} must be at most {MAX_TIMEOUT_SECS} seconds (a year)"))),
    }
}

/// Reads a count of at least 1 and at most `max`.
fn count<'de, D: Deserializer<'de>>(d: D, key: &str, max: u64) -> Result<u64, D::Error> {
    let n = i64::deserialize(d)?;
    match u64::try_from(n) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(n) if n > max => Err(D::Error::custom(format!("{key} must be at most {max}"))),
        _ => Err(D::Error::custom(format!("{key} must be at least 1"))),
    }
}

/// Reads a connection cap; the global one is a semaphore's permit count, which tokio bounds (a larger
/// value would panic at start-up instead of failing the parse).
fn connection_cap<'de, D: Deserializer<'de>>(d: D, key: &str, max: usize) -> Result<NonZeroUsize, D::Error> {
    let n = count(d, key, u64::try_from(max).unwrap_or(u64::MAX))?;
    usize::try_from(n)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| D::Error::custom(format!("{key} must be at most {max}")))
}

/// One `deserialize_with` function per timeout key, named after the key, so each error names the key the
/// operator wrote.
macro_rules! seconds_fields {
    ($($key:ident >= $min:literal;)*) => {$(
        fn $key<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            whole_seconds(d, stringify!($key), $min)
        }
    )*};
}

seconds_fields! {
    handshake_timeout_secs >= 1;
    header_read_timeout_secs >= 1;
    idle_timeout_secs >= 1;
    upstream_connect_timeout_secs >= 1;
    upstream_idle_timeout_secs >= 1;
    drain_timeout_secs >= 0;
}

fn max_connections<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroUsize, D::Error> {
    connection_cap(d, "max_connections", tokio::sync::Semaphore::MAX_PERMITS)
}

fn max_connections_per_client<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroUsize, D::Error> {
    connection_cap(d, "max_connections_per_client", usize::MAX)
}

fn leaf_cache_size<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroU64, D::Error> {
    let n = count(d, "leaf_cache_size", u64::MAX)?;
    NonZeroU64::new(n).ok_or_else(|| D::Error::custom("leaf_cache_size must be at least 1"))
}

impl Config {
    /// Parses config text; `path` is only used to name the file in errors and to resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax { path: path.to_path_buf(), line, col, message: e.message().to_string() }
        })?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::files::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Relative file names in a config are relative to the config file, not to the working directory.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.ca.dir);
        self.policies.values_mut().for_each(fix);
        self.shadow_policies.values_mut().for_each(fix);
        if let Some(extra) = &mut self.upstream_tls.extra_ca {
            fix(extra);
        }
        if let Some(audit) = &mut self.audit.path {
            fix(audit);
        }
        if let StoreChoice::File(bindings) = &mut self.bindings.store {
            fix(bindings);
        }
        for principal in &mut self.principals {
            principal.identity_policies.iter_mut().for_each(fix);
        }
        self.repositories.iter_mut().filter_map(|r| r.policy.as_mut()).for_each(fix);
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_embedded_default() {
        let config = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.connect.to_string(), "127.0.0.1:3128");
    }

    #[test]
    fn unknown_field_names_file_line_and_column() {
        let err = Config::parse("[listen]\nconect = \"1.2.3.4:1\"\n", Path::new("p.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("p.toml:2:1:"), "{text}");
        assert!(text.contains("conect"), "{text}");
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let config =
            Config::parse("[policies]\n\"ecr.api\" = \"p/a.json\"\n", Path::new("/etc/vpce/c.toml")).unwrap();
        assert_eq!(config.policies[&Service::EcrApi], PathBuf::from("/etc/vpce/p/a.json"));
    }

    /// Each value the proxy cannot honour is refused when parsed, at the value (or key) an operator must
    /// fix, rather than clamped at run time.
    #[test]
    fn rejected_values_name_file_line_and_column() {
        let rows = [
            (
                "[limits]\nhandshake_timeout_secs = 0\n",
                "c.toml:2:26",
                "handshake_timeout_secs must be at least 1 second",
            ),
            (
                "[limits]\nheader_read_timeout_secs = 0\n",
                "c.toml:2:28",
                "header_read_timeout_secs must be at least 1 second",
            ),
            (
                "[limits]\nidle_timeout_secs = 0\n",
                "c.toml:2:21",
                "idle_timeout_secs must be at least 1 second",
            ),
            (
                "[limits]\nupstream_connect_timeout_secs = 0\n",
                "c.toml:2:33",
                "upstream_connect_timeout_secs must be at least 1 second",
            ),
            (
                "[limits]\nidle_timeout_secs = -5\n",
                "c.toml:2:21",
                "idle_timeout_secs must be at least 1 second",
            ),
            ("[limits]\ndrain_timeout_secs = -1\n", "c.toml:2:22", "drain_timeout_secs must not be negative"),
            (
                "[limits]\nidle_timeout_secs = 31536001\n",
                "c.toml:2:21",
                "idle_timeout_secs must be at most 31536000 seconds",
            ),
            ("[limits]\nmax_connections = 0\n", "c.toml:2:19", "max_connections must be at least 1"),
            (
                "[limits]\nmax_connections = 9223372036854775807\n",
                "c.toml:2:19",
                "max_connections must be at most",
            ),
            (
                "[limits]\nmax_connections_per_client = 0\n",
                "c.toml:2:30",
                "max_connections_per_client must be at least 1",
            ),
            ("[ca]\nleaf_cache_size = 0\n", "c.toml:2:19", "leaf_cache_size must be at least 1"),
            (
                "[policies]\n\"ecr\" = \"p.json\"\n",
                "c.toml:2:1",
                "\"ecr\" is not a service: use ecr.api, ecr.dkr or s3",
            ),
            ("[limits]\nhandshake_timeout_secs = \"10\"\n", "c.toml:2:26", "invalid type: string \"10\""),
            ("[limits]\nidle_timeout_secs = 1.5\n", "c.toml:2:21", "invalid type: floating point"),
            ("[limits]\nmax_connections = true\n", "c.toml:2:19", "invalid type: boolean"),
            ("[admin]\ntoken = \"short\"\n", "c.toml:2:9", "token must be at least 16 characters"),
            (
                "[admin]\ntoken = \"sixteen chars or more\"\n",
                "c.toml:2:9",
                "token must be printable ASCII without spaces",
            ),
            ("[admin]\ndecisions = 100001\n", "c.toml:2:13", "decisions must be between 0 and 100000"),
            ("[admin]\ndecisions = -1\n", "c.toml:2:13", "decisions must be between 0 and 100000"),
            ("[admin]\ntokn = \"0123456789abcdef\"\n", "c.toml:2:1", "unknown field `tokn`"),
        ];
        for (text, at, message) in rows {
            let err = Config::parse(text, Path::new("c.toml")).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{at}: {message}")), "{text:?} -> {err}");
        }
    }

    /// Moved from the authorizer's tests: a `[policies]` key that is not a service used to fail the
    /// authorizer build; it now fails the parse, with the same words.
    #[test]
    fn an_unknown_policies_key_is_not_a_service() {
        let err = Config::parse("[policies]\n\"ecr\" = \"bad.json\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("not a service"), "{err}");
    }

    /// The values that are still meaningful at their edge parse: a drain of 0 means no drain, and a year
    /// is the longest timeout.
    #[test]
    fn edge_values_that_are_meaningful_parse() {
        let text = "[limits]\ndrain_timeout_secs = 0\nidle_timeout_secs = 31536000\nmax_connections = 1\n";
        let limits = Config::parse(text, Path::new("c.toml")).unwrap().limits;
        assert_eq!(limits.drain_timeout, Duration::ZERO);
        assert_eq!(limits.idle_timeout, Duration::from_secs(365 * 24 * 3600));
        assert_eq!(limits.max_connections, NonZeroUsize::MIN);
    }
}
