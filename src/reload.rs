//! The live authorizer and the reloader that swaps it: on SIGHUP or when a watched file changes, the
//! config and every policy file are re-read and checked, and only a fully valid set replaces the
//! authorizer in force.
//!
//! Operators edit endpoint policies while traffic flows, as with a real VPC endpoint. A reload is all or
//! nothing: a bad file leaves the old authorizer deciding, and the error (naming FILE:LINE:COL) goes to
//! the log, `/healthz` and the `reloads_total{result="failed"}` counter. Requests in flight keep the
//! `Arc<Authorizer>` snapshot they started with.
//!
//! Start-up, every reload and `explain` read the files through [`crate::load`], so all three refuse the
//! same files with the same message. Wiring in `run`:
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

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::admin::{Health, Metrics, PolicyHashes};
use crate::audit::{AuditLog, Recent};
use crate::authorize::{Authorize, Authorizer, AuthorizerSource};
use crate::bindings::Bindings;
use crate::config::Config;
use crate::load::{self, Change, Fingerprints, LoadError, LoadedPolicies};

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

impl AuthorizerSource for LiveAuthorizer {
    fn current(&self) -> Arc<dyn Authorize> {
        LiveAuthorizer::current(self)
    }
}

/// The settings the running listeners were built from; changing them needs a restart.
#[derive(Debug, Clone, PartialEq)]
struct RestartOnly {
    listen: crate::config::Listen,
    ca: crate::config::CaConfig,
    audit: crate::config::AuditConfig,
    admin: crate::config::AdminConfig,
    limits: crate::config::Limits,
    upstreams: Vec<crate::config::UpstreamRoute>,
    upstream_tls: crate::config::UpstreamTls,
    bindings: crate::config::BindingsConfig,
}

impl RestartOnly {
    fn of(config: &Config) -> RestartOnly {
        RestartOnly {
            listen: config.listen.clone(),
            ca: config.ca.clone(),
            audit: config.audit.clone(),
            admin: config.admin.clone(),
            limits: config.limits.clone(),
            upstreams: config.upstreams.clone(),
            upstream_tls: config.upstream_tls.clone(),
            bindings: config.bindings.clone(),
        }
    }

    /// Names of the sections that differ, for one warning per reload.
    fn changed(&self, new: &RestartOnly) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |differs: bool, name| differs.then(|| changed.push(name));
        check(self.listen != new.listen, "[listen]");
        check(self.ca != new.ca, "[ca]");
        check(self.audit != new.audit, "[audit]");
        check(self.admin != new.admin, "[admin]");
        check(self.limits != new.limits, "[limits]");
        check(self.upstreams != new.upstreams, "[[upstream]]");
        check(self.upstream_tls != new.upstream_tls, "[upstream_tls]");
        check(self.bindings != new.bindings, "[bindings]");
        changed
    }
}

/// What the watcher compares; updated after every attempt, good or bad, so a broken file is reported
/// once rather than every poll.
#[derive(Debug)]
struct WatchState {
    running: RestartOnly,
    seen: Fingerprints,
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
    /// The viewer's recent records, told when the policies they were decided on are replaced.
    recent: Arc<Recent>,
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
    /// The decision viewer's ring, sized by `[admin] decisions`, for the audit log to fill.
    pub recent: Arc<Recent>,
    /// The reloader to hand to [`spawn_reloader`].
    pub reloader: Arc<Reloader>,
    /// The learned registry tokens and their store, for `/healthz`, `/metrics` and the final flush.
    pub bindings: Arc<Bindings>,
}

impl Reloader {
    /// The first load: reads and checks the config (`None` = embedded defaults) and every policy through
    /// [`load::load`], builds the authorizer and the reloader that will replace it. Fails like a reload,
    /// without an old one.
    pub fn load(config_path: Option<PathBuf>, metrics: Arc<Metrics>) -> Result<Loaded, LoadError> {
        let mut seen = Fingerprints::default();
        let (config, policies) = load::load(config_path.as_deref(), &mut seen)?;
        let bindings = Arc::new(Bindings::open(&config.bindings)?);
        let health = Arc::new(Health::new(policies.hashes().clone(), config.enforcement));
        let authorizer = Authorizer::new(&config, policies).with_bindings(Arc::clone(&bindings));
        let live = Arc::new(LiveAuthorizer::new(authorizer));
        let state = Mutex::new(WatchState { running: RestartOnly::of(&config), seen });
        let recent = Arc::new(Recent::new(config.admin.decisions));
        let reloader = Arc::new(Reloader {
            config_path,
            live: Arc::clone(&live),
            health: Arc::clone(&health),
            metrics,
            state,
            audit: OnceLock::new(),
            recent: Arc::clone(&recent),
        });
        Ok(Loaded { config, live, health, recent, reloader, bindings })
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
    /// returns, on failure the old one stays and the error is recorded in `/healthz` and metrics. Logs
    /// one line either way.
    pub fn reload_now(&self) -> Result<PolicyHashes, LoadError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen = Fingerprints::default();
        let outcome = load::load(self.config_path.as_deref(), &mut seen);
        // Remember what was read even on failure, so the watcher waits for the next edit.
        state.seen = seen;
        match outcome {
            Ok((config, policies)) => Ok(self.apply(&state.running, &config, policies)),
            Err(error) => {
                tracing::error!(%error, "reload rejected; the previous policies stay in force");
                self.health.reload_failed(error.to_string());
                self.metrics.record_reload(false);
                Err(error)
            }
        }
    }

    /// Puts a loaded set in force, deciding with the same learned registry tokens as the old one.
    fn apply(&self, running: &RestartOnly, config: &Config, policies: LoadedPolicies) -> PolicyHashes {
        let hashes = policies.hashes().clone();
        let previous = self.live.current();
        self.live.replace(Authorizer::new(config, policies).with_bindings(Arc::clone(previous.bindings())));
        self.health.reload_succeeded(hashes.clone(), config.enforcement);
        self.recent.policies_changed();
        self.metrics.record_reload(true);
        let restart_only = running.changed(&RestartOnly::of(config));
        if restart_only.is_empty() {
            tracing::info!(policies = hashes.len(), "reload applied");
        } else {
            tracing::warn!(
                policies = hashes.len(),
                sections = ?restart_only,
                "reload applied; these settings only take effect on restart"
            );
        }
        hashes
    }

    /// Whether any watched file differs from what the last load or reload read (a `touch` counts).
    pub fn files_changed(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.seen.compare() != Change::Unchanged
    }

    /// How the watched files changed since last read; a `touch` is reported once (see
    /// [`Fingerprints::refresh`]).
    fn refresh(&self) -> Change {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).seen.refresh()
    }

    /// One trigger, handled: exactly one log line unless a poll found nothing at all.
    fn on_trigger(&self, trigger: Trigger) {
        if trigger == Trigger::Hangup {
            self.hangup();
        }
        match next_step(trigger, self.refresh()) {
            // reload_now logs "reload applied" or "reload rejected".
            Step::Reload => drop(self.reload_now()),
            Step::NothingChanged => tracing::info!("reload: nothing changed"),
            Step::Idle => {}
        }
    }
}

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// SIGHUP: the operator asked, so the answer is always logged.
    Hangup,
    /// The watcher's poll, once per [`POLL_INTERVAL`].
    Poll,
}

/// What a trigger leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Some file's bytes changed: load and apply or reject (one line: applied or rejected).
    Reload,
    /// Asked for, or a file was touched, but every byte is as in force: one line, no rebuild.
    NothingChanged,
    /// A poll that found nothing: silent, or the log would get a line per second.
    Idle,
}

/// Even on SIGHUP an unchanged set is not rebuilt: identical bytes can only give the same decisions.
fn next_step(trigger: Trigger, change: Change) -> Step {
    match (change, trigger) {
        (Change::Content, _) => Step::Reload,
        (Change::Touched, _) | (Change::Unchanged, Trigger::Hangup) => Step::NothingChanged,
        (Change::Unchanged, Trigger::Poll) => Step::Idle,
    }
}

/// Runs the reload triggers until `shutdown` completes: a poll every `interval`, and SIGHUP to check at
/// once (and reopen the audit file); either reloads when the config or any policy file's bytes changed.
/// Each SIGHUP logs one line: `reload applied`, `reload rejected` or `reload: nothing changed`.
pub fn spawn_reloader(
    reloader: Arc<Reloader>,
    interval: Duration,
    shutdown: impl Future + Send + 'static,
) -> JoinHandle<()> {
    // Registered before the task is spawned, not when it is first polled: from this call on a SIGHUP
    // reloads instead of taking its default action, which ends the process.
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; reload only on file changes");
            None
        }
    };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let trigger = tokio::select! {
                _ = &mut shutdown => return,
                Some(()) = recv_hangup(&mut hangup) => Trigger::Hangup,
                _ = ticker.tick() => Trigger::Poll,
            };
            let worker = Arc::clone(&reloader);
            let task = tokio::task::spawn_blocking(move || worker.on_trigger(trigger));
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

    /// Issue 8: every SIGHUP gets one line; polls stay quiet unless a file was touched or edited.
    #[test]
    fn each_trigger_leads_to_one_step() {
        use Change::*;
        let cases = [
            (Trigger::Hangup, Unchanged, Step::NothingChanged),
            (Trigger::Hangup, Touched, Step::NothingChanged),
            (Trigger::Hangup, Content, Step::Reload),
            (Trigger::Poll, Unchanged, Step::Idle),
            (Trigger::Poll, Touched, Step::NothingChanged),
            (Trigger::Poll, Content, Step::Reload),
        ];
        for (trigger, change, step) in cases {
            assert_eq!(next_step(trigger, change), step, "{trigger:?} {change:?}");
        }
    }

    /// A touch is reported once as nothing changed and the authorizer in force is kept.
    #[test]
    fn a_touched_file_is_not_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("vpce-proxy.toml");
        std::fs::write(&config, "").unwrap();
        let loaded = Reloader::load(Some(config.clone()), Arc::new(Metrics::new())).unwrap();
        let before = loaded.live.current();
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        std::fs::File::options().write(true).open(&config).unwrap().set_modified(later).unwrap();
        assert!(loaded.reloader.files_changed());
        loaded.reloader.on_trigger(Trigger::Poll);
        assert!(Arc::ptr_eq(&before, &loaded.live.current()));
        assert_eq!(loaded.reloader.refresh(), Change::Unchanged, "the touch is reported once");
        assert_eq!((loaded.health.reloads(), loaded.health.last_error()), (0, None));
    }
}
