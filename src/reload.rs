//! The live authorizer and the reloader that swaps it: on SIGHUP or when a watched file changes, the
//! config and every policy file are re-read and checked, and only a fully valid set replaces the
//! authorizer in force.
//!
//! Operators edit endpoint policies while traffic flows, as with a real VPC endpoint. A reload is all or
//! nothing: a bad file leaves the old authorizer deciding, and the error (naming FILE:LINE:COL) goes to
//! the log, `/healthz` and the `reloads_total{result="failed"}` counter. Requests in flight keep the
//! `Arc<Authorizer>` snapshot they started with.
//!
//! Wiring in `run` (one load path for start-up and reload, so both refuse the same files):
//! ```text
//! let metrics = Arc::new(Metrics::new());
//! let loaded = Reloader::load(config_path.map(Path::to_path_buf), Arc::clone(&metrics))?;
//! let audit = Arc::new(AuditLog::from_config(&loaded.config.audit)?);
//! loaded.reloader.reopen_audit_on_hangup(Arc::clone(&audit));
//! // ProxyState gets loaded.config, Arc::clone(&loaded.live), metrics, audit.
//! // if let Some(addr) = loaded.config.listen.admin: bind it, then
//! //     tokio::spawn(serve_admin(listener, Arc::clone(&loaded.health), Arc::clone(&metrics), stopped));
//! let reloads = spawn_reloader(Arc::clone(&loaded.reloader), POLL_INTERVAL, stopped);
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::admin::{Health, Metrics, PolicyHash, PolicyHashes};
use crate::audit::AuditLog;
use crate::authorize::Authorizer;
use crate::config::{Config, ConfigError};
use crate::policy::validate::{validate, Finding, PolicyKind, Severity};

/// How often the watcher compares file fingerprints: fast enough that an edit applies within a second
/// or two, cheap because policy files are at most tens of kilobytes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The authorizer in force; readers take an `Arc` snapshot per request, reload replaces it atomically.
#[derive(Debug)]
pub struct LiveAuthorizer {
    current: RwLock<Arc<Authorizer>>,
}

impl LiveAuthorizer {
    /// Starts with `authorizer` in force.
    pub fn new(authorizer: Authorizer) -> LiveAuthorizer {
        LiveAuthorizer { current: RwLock::new(Arc::new(authorizer)) }
    }

    /// The authorizer in force now; a request holds this snapshot until it completes.
    pub fn current(&self) -> Arc<Authorizer> {
        Arc::clone(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Puts a new authorizer in force; requests already holding the old one finish under it.
    pub fn replace(&self, authorizer: Authorizer) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(authorizer);
    }
}

/// Why a load or reload was rejected; the old authorizer (if any) stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file is unreadable or malformed (its message names FILE:LINE:COL).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A policy file named by the config could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A policy file is not valid JSON or not a valid policy: `FILE:LINE:COL: message`.
    #[error("{0}")]
    Policy(String),
}

/// The fingerprint of one file as last seen: a change in any part triggers a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fingerprint {
    Present { modified: Option<SystemTime>, len: u64, sha256: [u8; 32] },
    Missing,
}

/// One file's bytes and fingerprint, read once so the hash shown is of exactly what was checked.
struct FileRead {
    bytes: Result<Vec<u8>, std::io::Error>,
    fingerprint: Fingerprint,
}

fn read_file(path: &Path) -> FileRead {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match std::fs::read(path) {
        Ok(bytes) => {
            let sha256: [u8; 32] = Sha256::digest(&bytes).into();
            let fingerprint = Fingerprint::Present { modified, len: bytes.len() as u64, sha256 };
            FileRead { bytes: Ok(bytes), fingerprint }
        }
        Err(error) => FileRead { bytes: Err(error), fingerprint: Fingerprint::Missing },
    }
}

/// Every policy file a config names, with the role `/healthz` reports it under and the policy type
/// `validate` checks it as.
fn policy_files(config: &Config) -> Vec<(String, PathBuf, PolicyKind)> {
    let endpoint = config
        .policies
        .iter()
        .map(|(service, path)| (service.key().to_string(), path.clone(), PolicyKind::Endpoint));
    let identity = config.principals.iter().flat_map(|p| {
        p.identity_policies.iter().enumerate().map(move |(i, path)| {
            let role = if p.identity_policies.len() == 1 {
                format!("identity:{}", p.arn)
            } else {
                format!("identity:{}#{}", p.arn, i + 1)
            };
            (role, path.clone(), PolicyKind::Identity)
        })
    });
    endpoint.chain(identity).collect()
}

/// The settings the running listeners were built from; changing them needs a restart.
#[derive(Debug, Clone, PartialEq)]
struct RestartOnly {
    listen: crate::config::Listen,
    ca: crate::config::CaConfig,
    audit: crate::config::AuditConfig,
    limits: crate::config::Limits,
    upstreams: Vec<crate::config::UpstreamRoute>,
    upstream_tls: crate::config::UpstreamTls,
}

impl RestartOnly {
    fn of(config: &Config) -> RestartOnly {
        RestartOnly {
            listen: config.listen.clone(),
            ca: config.ca.clone(),
            audit: config.audit.clone(),
            limits: config.limits.clone(),
            upstreams: config.upstreams.clone(),
            upstream_tls: config.upstream_tls.clone(),
        }
    }

    /// Names of the sections that differ, for one warning per reload.
    fn changed(&self, new: &RestartOnly) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |differs: bool, name| differs.then(|| changed.push(name));
        check(self.listen != new.listen, "[listen]");
        check(self.ca != new.ca, "[ca]");
        check(self.audit != new.audit, "[audit]");
        check(self.limits != new.limits, "[limits]");
        check(self.upstreams != new.upstreams, "[[upstream]]");
        check(self.upstream_tls != new.upstream_tls, "[upstream_tls]");
        changed
    }
}

/// A config that passed every check, with the fingerprints and hashes of what was read.
struct Checked {
    config: Config,
    hashes: PolicyHashes,
}

/// What the watcher compares; updated after every attempt, good or bad, so a broken file is reported
/// once rather than every poll.
#[derive(Debug)]
struct WatchState {
    running: RestartOnly,
    seen: BTreeMap<PathBuf, Fingerprint>,
}

/// Re-reads the config and policies and swaps the authorizer when they are valid.
#[derive(Debug)]
pub struct Reloader {
    config_path: Option<PathBuf>,
    live: Arc<LiveAuthorizer>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    /// Also serialises reloads: SIGHUP and the watcher never build two authorizers at once.
    state: Mutex<WatchState>,
    /// The audit log to reopen on SIGHUP (logrotate's `postrotate` convention), once `run` opened it.
    audit: OnceLock<Arc<AuditLog>>,
}

/// Everything `run` needs after the first load.
#[derive(Debug)]
pub struct Loaded {
    /// The config in force at start-up (listeners, CA, limits are built from it).
    pub config: Config,
    /// The authorizer the proxy asks per request.
    pub live: Arc<LiveAuthorizer>,
    /// Reload state for `/healthz`.
    pub health: Arc<Health>,
    /// The reloader to hand to [`spawn_reloader`].
    pub reloader: Arc<Reloader>,
}

impl Reloader {
    /// The first load: reads and checks the config (`None` = embedded defaults) and every policy, builds
    /// the authorizer and the reloader that will replace it. Fails like a reload, without an old one.
    pub fn load(config_path: Option<PathBuf>, metrics: Arc<Metrics>) -> Result<Loaded, ReloadError> {
        let mut seen = BTreeMap::new();
        let checked = check(config_path.as_deref(), &mut seen)?;
        let authorizer = build(&checked.config)?;
        let live = Arc::new(LiveAuthorizer::new(authorizer));
        let health = Arc::new(Health::new(checked.hashes));
        let state = Mutex::new(WatchState { running: RestartOnly::of(&checked.config), seen });
        let reloader = Arc::new(Reloader {
            config_path,
            live: Arc::clone(&live),
            health: Arc::clone(&health),
            metrics,
            state,
            audit: OnceLock::new(),
        });
        Ok(Loaded { config: checked.config, live, health, reloader })
    }

    /// Makes SIGHUP also reopen `audit` by name, so `kill -HUP` after logrotate moves the file works as
    /// it does for other daemons. Only the first call takes effect.
    pub fn reopen_audit_on_hangup(&self, audit: Arc<AuditLog>) {
        let _ = self.audit.set(audit);
    }

    /// SIGHUP's side effects besides the reload.
    fn hangup(&self) {
        if let Some(Err(error)) = self.audit.get().map(|audit| audit.reopen()) {
            tracing::error!(%error, "audit log not reopened; lines keep going to the old file");
        }
    }

    /// The authorizer this reloader replaces.
    pub fn live(&self) -> &Arc<LiveAuthorizer> {
        &self.live
    }

    /// Re-reads and checks everything now; on success the new authorizer is in force when this
    /// returns, on failure the old one stays and the error is recorded in `/healthz` and metrics.
    pub fn reload_now(&self) -> Result<PolicyHashes, ReloadError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen = BTreeMap::new();
        let outcome = check(self.config_path.as_deref(), &mut seen)
            .and_then(|checked| build(&checked.config).map(|authorizer| (checked, authorizer)));
        // Remember what was read even on failure, so the watcher waits for the next edit.
        state.seen = seen;
        match outcome {
            Ok((checked, authorizer)) => {
                let next = RestartOnly::of(&checked.config);
                let changed = state.running.changed(&next);
                if !changed.is_empty() {
                    tracing::warn!(sections = ?changed, "reload: these settings only take effect on restart");
                }
                let previous = self.live.current();
                self.live.replace(authorizer);
                // After the swap, so tokens learned up to the swap are not lost in between.
                self.live.current().adopt_learned(&previous);
                self.health.reload_succeeded(checked.hashes.clone());
                self.metrics.record_reload(true);
                tracing::info!(policies = checked.hashes.len(), "reload applied");
                Ok(checked.hashes)
            }
            Err(error) => {
                tracing::error!(%error, "reload rejected; the previous policies stay in force");
                self.health.reload_failed(error.to_string());
                self.metrics.record_reload(false);
                Err(error)
            }
        }
    }

    /// Whether any watched file differs from what the last load or reload read.
    pub fn files_changed(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.seen.iter().any(|(path, old)| read_file(path).fingerprint != *old)
    }
}

/// Reads the config and every policy, recording fingerprints in `seen`, and checks each policy parses.
fn check(
    config_path: Option<&Path>,
    seen: &mut BTreeMap<PathBuf, Fingerprint>,
) -> Result<Checked, ReloadError> {
    let mut hashes = PolicyHashes::new();
    let config = match config_path {
        None => Config::default(),
        Some(path) => {
            let read = read_file(path);
            seen.insert(path.to_path_buf(), read.fingerprint);
            let bytes =
                read.bytes.map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            hashes.insert("config".into(), hash_entry(path, &bytes));
            let text = String::from_utf8_lossy(&bytes);
            Config::parse(&text, path)?
        }
    };
    let mut first_error = None;
    for (role, path, kind) in policy_files(&config) {
        let read = read_file(&path);
        seen.insert(path.clone(), read.fingerprint);
        let result = read
            .bytes
            .map_err(|source| ReloadError::Read { path: path.clone(), source })
            .and_then(|bytes| check_policy_text(&path, &bytes, kind).map(|()| bytes));
        match result {
            Ok(bytes) => {
                hashes.insert(role, hash_entry(&path, &bytes));
            }
            // Keep reading so every file is fingerprinted and the watcher sees the fix.
            Err(error) => first_error = first_error.or(Some(error)),
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(Checked { config, hashes }),
    }
}

/// The checks `vpce-proxy validate` makes, so a reload refuses exactly what the linter calls an error,
/// with the linter's `FILE:LINE:COL severity code message`; warnings are logged and the file applied.
/// The authorizer's own parse ([`Authorizer::from_config`]) still runs after this.
fn check_policy_text(path: &Path, bytes: &[u8], kind: PolicyKind) -> Result<(), ReloadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ReloadError::Policy(format!("{}: not UTF-8 at byte {}", path.display(), e.valid_up_to()))
    })?;
    let findings = validate(text, kind);
    let line = |f: &Finding| format!("{}:{} {} {} {}", path.display(), f.pos, f.severity, f.code, f.message);
    for warning in findings.iter().filter(|f| f.severity == Severity::Warning) {
        tracing::warn!(finding = %line(warning), "policy warning");
    }
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.severity == Severity::Error).collect();
    match errors.split_first() {
        None => Ok(()),
        Some((first, [])) => Err(ReloadError::Policy(line(first))),
        Some((first, rest)) => {
            Err(ReloadError::Policy(format!("{} (and {} more errors)", line(first), rest.len())))
        }
    }
}

fn build(config: &Config) -> Result<Authorizer, ReloadError> {
    Authorizer::from_config(config).map_err(|e| ReloadError::Policy(e.to_string()))
}

fn hash_entry(path: &Path, bytes: &[u8]) -> PolicyHash {
    PolicyHash { file: path.display().to_string(), sha256: hex::encode(Sha256::digest(bytes)) }
}

/// Runs the reload triggers until `shutdown` completes: a poll every `interval`, and SIGHUP to check at
/// once (and reopen the audit file); either reloads when the config or any policy file changed (mtime,
/// length or content).
pub fn spawn_reloader(
    reloader: Arc<Reloader>,
    interval: Duration,
    shutdown: impl Future + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; reload only on file changes");
                None
            }
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let forced = tokio::select! {
                _ = &mut shutdown => return,
                Some(()) = recv_hangup(&mut hangup) => true,
                _ = ticker.tick() => false,
            };
            let worker = Arc::clone(&reloader);
            let task = tokio::task::spawn_blocking(move || {
                if forced {
                    worker.hangup();
                }
                // Even on SIGHUP an unchanged set is not rebuilt: a rebuilt authorizer would forget the
                // registry tokens it learned, and identical files can only give the same decisions.
                if worker.files_changed() {
                    let _ = worker.reload_now();
                } else if forced {
                    tracing::info!("SIGHUP: config and policies unchanged, nothing to reload");
                }
            });
            if let Err(error) = task.await {
                // A panic while building the authorizer: counted like any rejected reload.
                tracing::error!(%error, "reload task failed; the previous policies stay in force");
                reloader.health.reload_failed(format!("reload task failed: {error}"));
                reloader.metrics.record_reload(false);
            }
        }
    })
}

async fn recv_hangup(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

    fn lab() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("vpce-proxy.toml");
        std::fs::write(&config, "[policies]\n\"ecr.api\" = \"ecr-api.json\"\n").unwrap();
        std::fs::write(dir.path().join("ecr-api.json"), ALLOW_ALL).unwrap();
        (dir, config)
    }

    #[test]
    fn check_hashes_the_config_and_every_policy_it_names() {
        let (dir, config) = lab();
        let mut seen = BTreeMap::new();
        let checked = check(Some(&config), &mut seen).unwrap();
        let policy = dir.path().join("ecr-api.json");
        assert_eq!(checked.hashes["ecr.api"].file, policy.display().to_string());
        assert_eq!(checked.hashes["ecr.api"].sha256, hex::encode(Sha256::digest(ALLOW_ALL)));
        assert!(checked.hashes.contains_key("config"));
        assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), [policy, config]);
    }

    #[test]
    fn a_policy_syntax_error_names_file_line_and_column() {
        let (dir, config) = lab();
        let policy = dir.path().join("ecr-api.json");
        std::fs::write(&policy, "{\n  \"Version\": \"2012-10-17\"\n  \"Statement\": []\n}\n").unwrap();
        let mut seen = BTreeMap::new();
        let error = check(Some(&config), &mut seen).err().unwrap().to_string();
        assert!(error.starts_with(&format!("{}:3:3 error json-syntax ", policy.display())), "{error}");
        assert!(matches!(seen[&policy], Fingerprint::Present { .. }), "the broken file is still watched");
    }

    #[test]
    fn a_lint_error_rejects_with_validates_message_and_a_warning_does_not() {
        // The Marketplace blog's `"Action": ""` (issue 2): AWS accepts it but it grants nothing.
        let (dir, config) = lab();
        let policy = dir.path().join("ecr-api.json");
        let empty_action = ALLOW_ALL.replace(r#""Action":"*""#, r#""Action":"""#);
        std::fs::write(&policy, empty_action).unwrap();
        let error = check(Some(&config), &mut BTreeMap::new()).err().unwrap().to_string();
        assert!(error.starts_with(&format!("{}:1:", policy.display())), "{error}");
        assert!(error.contains(" error empty-value "), "{error}");
        let findings = validate(ALLOW_ALL, PolicyKind::Endpoint);
        assert!(findings.iter().all(|f| f.severity == Severity::Warning), "{findings:?}");
        std::fs::write(&policy, ALLOW_ALL).unwrap();
        assert!(check(Some(&config), &mut BTreeMap::new()).is_ok());
    }

    #[test]
    fn a_missing_policy_or_bad_config_is_rejected_with_the_file_named() {
        let (dir, config) = lab();
        std::fs::write(&config, "[policies]\n\"s3\" = \"nope.json\"\n").unwrap();
        let error = check(Some(&config), &mut BTreeMap::new()).err().unwrap().to_string();
        assert!(error.contains("nope.json: cannot read"), "{error}");
        std::fs::write(&config, "[listen]\nconect = 1\n").unwrap();
        let error = check(Some(&config), &mut BTreeMap::new()).err().unwrap().to_string();
        assert!(error.starts_with(&format!("{}:2:1:", config.display())), "{error}");
        drop(dir);
    }

    #[test]
    fn embedded_defaults_watch_nothing() {
        let mut seen = BTreeMap::new();
        let checked = check(None, &mut seen).unwrap();
        assert!(checked.hashes.is_empty() && seen.is_empty());
    }

    #[test]
    fn restart_only_sections_are_named_when_they_change() {
        let old = Config::default();
        let mut new = old.clone();
        assert!(RestartOnly::of(&old).changed(&RestartOnly::of(&new)).is_empty());
        new.listen.admin = Some("127.0.0.1:9901".parse().unwrap());
        new.ca.dir = PathBuf::from("/elsewhere");
        new.policies.insert(crate::classify::Service::S3, PathBuf::from("/p.json"));
        assert_eq!(RestartOnly::of(&old).changed(&RestartOnly::of(&new)), ["[listen]", "[ca]"]);
    }
}
