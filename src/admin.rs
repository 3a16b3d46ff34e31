//! `/healthz` and Prometheus `/metrics` on the admin listener.
//!
//! INTERFACE STUB: the operations work fills in the bodies; the proxy already calls these names, so keep
//! them. Counters are lock-free atomics so the hot path pays a few nanoseconds per request.

/// Process-wide counters and histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    _private: (),
}

impl Metrics {
    /// Fresh, all zero.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One request decided: `decision` is `Allow`, `ExplicitDeny`, `ImplicitDeny`, `Refused` or `Tunnel`.
    pub fn record_decision(&self, _service: &str, _action: &str, _decision: &str) {}

    /// Upstream could not be reached or failed mid-response.
    pub fn record_upstream_error(&self) {}

    /// A client connection was accepted (`true`) or closed (`false`).
    pub fn connection(&self, _opened: bool) {}

    /// A client connection was refused by a limit (`max_connections`, per-client cap, timeouts).
    pub fn record_limit_refusal(&self, _limit: &str) {}

    /// The leaf certificate cache answered (`hit`) or a leaf was minted.
    pub fn record_certificate(&self, _hit: bool) {}

    /// Seconds from request head to end of response.
    pub fn observe_latency(&self, _seconds: f64) {}
}
