//! `vpce-proxy.toml` -> [`Config`]: listeners, endpoint identity, policies per service, principals,
//! upstream routes and limits.
//!
//! Parsing is separate from reading the file so tests build configs from strings, and every error names
//! the file, line and column an operator must fix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// Endpoint policy file per service key (`ecr.api`, `ecr.dkr`, `s3`); a missing key means the AWS
    /// default policy (allow all).
    pub policies: BTreeMap<String, PathBuf>,
    /// Known callers and how to recognise them.
    #[serde(rename = "principal")]
    pub principals: Vec<PrincipalConfig>,
    /// Routes that send a host pattern to another address (how the lab reaches its stand-ins).
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamRoute>,
    /// Trust for upstream TLS.
    pub upstream_tls: UpstreamTls,
    /// Bounds on connections, headers, bodies and time.
    pub limits: Limits,
    /// The decision log.
    pub audit: AuditConfig,
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
    /// The optional admin listener (`/healthz`, `/metrics`).
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
    /// How many per-host leaf certificates are kept.
    pub leaf_cache_size: u64,
}

impl Default for CaConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("certs"), leaf_cache_size: 1024 }
    }
}

/// One known caller and the ways the proxy recognises it (design.md §5).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrincipalConfig {
    /// The principal ARN reported in decisions and messages.
    pub arn: String,
    /// The principal's account; derived from `arn` when absent.
    pub account: Option<String>,
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<String>,
    /// `aws:PrincipalOrgPaths`.
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
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTls {
    /// A PEM file of extra CA certificates trusted besides the web PKI roots (the lab's own CA).
    pub extra_ca: Option<PathBuf>,
    /// Offer h2 to upstream as well as HTTP/1.1. Off by default: pooled HTTP/1.1 keep-alive connections
    /// cost less CPU per request and per GB (`scripts/bench`); turn it on to multiplex over few connections.
    pub http2: bool,
}

/// Bounds that keep one client from exhausting the proxy.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections served at once; excess connections are refused, not queued.
    pub max_connections: usize,
    /// Connections one client address may hold at once.
    pub max_connections_per_client: usize,
    /// Largest request head (request line plus headers), bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Largest body prefix read to classify a request (ECR API JSON), bytes.
    pub max_classify_body_bytes: usize,
    /// Time allowed for a TLS handshake, seconds.
    pub handshake_timeout_secs: u64,
    /// Time allowed to receive a complete request head, seconds.
    pub header_read_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this many seconds.
    pub idle_timeout_secs: u64,
    /// Time allowed to connect to upstream, seconds.
    pub upstream_connect_timeout_secs: u64,
    /// On SIGTERM, in-flight transfers get this long to finish, seconds.
    pub drain_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_client: 512,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_classify_body_bytes: 1024 * 1024,
            handshake_timeout_secs: 10,
            header_read_timeout_secs: 30,
            idle_timeout_secs: 90,
            upstream_connect_timeout_secs: 10,
            drain_timeout_secs: 30,
        }
    }
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
        let text = std::fs::read_to_string(path)
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
        if let Some(extra) = &mut self.upstream_tls.extra_ca {
            fix(extra);
        }
        if let Some(audit) = &mut self.audit.path {
            fix(audit);
        }
        for principal in &mut self.principals {
            principal.identity_policies.iter_mut().for_each(fix);
        }
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
        assert_eq!(config.policies["ecr.api"], PathBuf::from("/etc/vpce/p/a.json"));
    }
}
