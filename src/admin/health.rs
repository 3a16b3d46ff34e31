//! What `/healthz` reports: liveness plus the reload state an operator checks after editing a policy.
//!
//! The reloader writes here; the admin listener reads. After `kill -HUP` an operator (or a deployment
//! script) compares the policy hashes with `sha256sum` of the files it shipped and reads the last
//! reload error, so a rejected policy is visible without grepping logs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use serde::Serialize;

use super::Metrics;
use crate::classify::Service;
use crate::config::{Enforcement, Mode};

/// One policy file in force: where it came from and the SHA-256 of the bytes that were loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyHash {
    /// The file as named in the config (after resolving relative paths).
    pub file: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// The policy files in force, by role: endpoint policies keyed by service (`ecr.api`, ...), identity
/// policies keyed by `identity:<principal ARN>`, and the config file itself under `config`.
pub type PolicyHashes = BTreeMap<String, PolicyHash>;

#[derive(Debug, Default)]
struct ReloadState {
    hashes: PolicyHashes,
    enforcement: Enforcement,
    last_error: Option<String>,
}

/// Shared health state: process start, reload counters, last error, policy hashes.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
    state: RwLock<ReloadState>,
}

impl Health {
    /// Health for a process starting now with `hashes` in force, each service enforcing or reporting as
    /// `enforcement` says.
    pub fn new(hashes: PolicyHashes, enforcement: Enforcement) -> Health {
        Health {
            started: Instant::now(),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
            state: RwLock::new(ReloadState { hashes, enforcement, last_error: None }),
        }
    }

    /// A reload was applied: new hashes and modes are in force and the last error is cleared.
    pub fn reload_succeeded(&self, hashes: PolicyHashes, enforcement: Enforcement) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.hashes = hashes;
        state.enforcement = enforcement;
        state.last_error = None;
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// A reload was rejected: the old policies stay in force and `error` says why (with FILE:LINE:COL).
    pub fn reload_failed(&self, error: String) {
        self.state.write().unwrap_or_else(|p| p.into_inner()).last_error = Some(error);
        self.failed_reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Successful reloads since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// The policy hashes in force now.
    pub fn hashes(&self) -> PolicyHashes {
        self.state.read().unwrap_or_else(|p| p.into_inner()).hashes.clone()
    }

    /// The error of the most recent reload, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).last_error.clone()
    }

    /// The `/healthz` body; `metrics` adds the open connection count.
    pub fn render(&self, metrics: &Metrics) -> String {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let report = Report {
            status: "ok",
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            active_connections: metrics.active_connections(),
            reloads: self.reloads(),
            failed_reloads: self.failed_reloads.load(Ordering::Relaxed),
            last_reload_error: state.last_error.as_deref(),
            policies: &state.hashes,
            enforcement: Service::ALL
                .into_iter()
                .map(|s| (s.key(), mode_name(state.enforcement.mode(s))))
                .collect(),
            report_only: state.enforcement.reporting().map(Service::key).collect(),
            bindings: metrics.bindings(),
        };
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Report<'a> {
    status: &'static str,
    uptime_seconds: f64,
    active_connections: i64,
    reloads: u64,
    failed_reloads: u64,
    last_reload_error: Option<&'a str>,
    policies: &'a PolicyHashes,
    /// `enforce` or `report` per service (ARCHITECTURE.md §10).
    enforcement: BTreeMap<&'static str, &'static str>,
    /// The services whose refusals are only reported, so a dashboard need not read the map.
    report_only: Vec<&'static str>,
    /// The binding store: an unreachable one is reported here while `status` stays `ok`, since the
    /// proxy still decides correctly (from memory) and must not be restarted for it (ARCHITECTURE.md §12).
    #[serde(skip_serializing_if = "Option::is_none")]
    bindings: Option<crate::bindings::StoreStatus>,
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Report => "report",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_enforcement(body: &str) -> Enforcement {
        let text = format!("[enforcement]\n{body}\n");
        crate::config::Config::parse(&text, std::path::Path::new("c.toml")).unwrap().enforcement
    }

    fn hashes(sha: &str) -> PolicyHashes {
        let entry = PolicyHash { file: "/etc/vpce/ecr-api.json".into(), sha256: sha.into() };
        BTreeMap::from([("ecr.api".to_owned(), entry)])
    }

    #[test]
    fn a_failed_reload_keeps_hashes_and_a_later_success_clears_the_error() {
        let health = Health::new(hashes("aa"), Enforcement::default());
        health.reload_failed("p.json:3:5: expected `,`".into());
        let body: serde_json::Value = serde_json::from_str(&health.render(&Metrics::new())).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["reloads"], 0);
        assert_eq!(body["failed_reloads"], 1);
        assert_eq!(body["last_reload_error"], "p.json:3:5: expected `,`");
        assert_eq!(body["policies"]["ecr.api"]["sha256"], "aa");

        assert_eq!(
            body["enforcement"],
            serde_json::json!({"ecr.api":"enforce","ecr.dkr":"enforce","s3":"enforce"})
        );
        assert_eq!(body["report_only"], serde_json::json!([]));

        let report: Enforcement = toml_enforcement("\"ecr.dkr\" = \"report\"");
        health.reload_succeeded(hashes("bb"), report);
        let body: serde_json::Value = serde_json::from_str(&health.render(&Metrics::new())).unwrap();
        assert_eq!(body["enforcement"]["ecr.dkr"], "report");
        assert_eq!(body["report_only"], serde_json::json!(["ecr.dkr"]));
        assert_eq!(body["reloads"], 1);
        assert_eq!(body["last_reload_error"], serde_json::Value::Null);
        assert_eq!(body["policies"]["ecr.api"]["sha256"], "bb");
    }
}
