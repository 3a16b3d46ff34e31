//! Process-wide counters rendered in the Prometheus text exposition format 0.0.4.
//!
//! No metrics crate: a handful of atomics is all the proxy needs, the hot path pays a few nanoseconds
//! per request, and the exposition format is small enough to write (and parse in tests) by hand.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::audit::{Disposition, Drift};
use crate::classify::Service;

/// Most (service, action, decision) series kept; the action set is fixed, but a bug upstream of the
/// metrics must not turn into unbounded memory or a Prometheus cardinality explosion.
pub(crate) const MAX_DECISION_SERIES: usize = 512;
/// Most distinct limit names kept, for the same reason.
pub(crate) const MAX_LIMIT_SERIES: usize = 32;
/// The label value that absorbs series beyond the caps.
pub(crate) const OVERFLOW_LABEL: &str = "other";
/// Prometheus' default histogram buckets (seconds): the shape dashboards expect for request latency.
pub(crate) const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A counter map whose label sets are bounded; overflow goes to one `other` series per fallback key.
///
/// Keyed by a hash of the borrowed label values so the per-request lookup allocates nothing; collisions
/// are resolved by comparing the labels themselves.
#[derive(Debug, Default)]
struct BoundedCounters {
    hasher: BuildHasherDefault<LabelHasher>,
    buckets: RwLock<HashMap<u64, Vec<Series>>>,
}

#[derive(Debug)]
struct Series {
    labels: Vec<String>,
    count: AtomicU64,
}

impl Series {
    fn matches(&self, labels: &[&str]) -> bool {
        self.labels.len() == labels.len() && self.labels.iter().zip(labels).all(|(a, b)| a == b)
    }
}

impl BoundedCounters {
    /// Adds one to `labels`, or to `overflow` when `cap` distinct label sets already exist.
    fn increment(&self, labels: &[&str], cap: usize, overflow: &[&str]) {
        let hash = self.hasher.hash_one(labels);
        {
            let map = self.buckets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(series) = map.get(&hash).and_then(|b| b.iter().find(|s| s.matches(labels))) {
                series.count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self.buckets.write().unwrap_or_else(|p| p.into_inner());
        let len: usize = map.values().map(Vec::len).sum();
        let exists = map.get(&hash).is_some_and(|b| b.iter().any(|s| s.matches(labels)));
        let (key, hash) =
            if len < cap || exists { (labels, hash) } else { (overflow, self.hasher.hash_one(overflow)) };
        let bucket = map.entry(hash).or_default();
        match bucket.iter().find(|s| s.matches(key)) {
            Some(series) => series.count.fetch_add(1, Ordering::Relaxed),
            None => {
                let labels = key.iter().map(|s| (*s).to_owned()).collect();
                bucket.push(Series { labels, count: AtomicU64::new(1) });
                0
            }
        };
    }

    /// A copy sorted by labels, for stable rendering (each counter is read once).
    fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        let map = self.buckets.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(Vec<String>, u64)> =
            map.values().flatten().map(|s| (s.labels.clone(), s.count.load(Ordering::Relaxed))).collect();
        all.sort_unstable();
        all
    }
}

/// FNV-1a over the label bytes: a few nanoseconds for short labels where SipHash costs tens. Flooding
/// is no concern: the series count is capped and collisions only cost a comparison.
#[derive(Debug)]
struct LabelHasher(u64);

impl Default for LabelHasher {
    fn default() -> Self {
        LabelHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for LabelHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A histogram of seconds with Prometheus' default buckets.
#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// The sum of observations as `f64` bits, updated by compare-and-swap.
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        let seconds = if seconds.is_finite() && seconds > 0.0 { seconds } else { 0.0 };
        let slot = LATENCY_BUCKETS.iter().position(|le| seconds <= *le).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let _ = self.sum_bits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + seconds).to_bits())
        });
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Process-wide counters and histograms.
#[derive(Debug)]
pub struct Metrics {
    requests: BoundedCounters,
    /// Report mode's refusals that were forwarded anyway, by service and action.
    would_deny: BoundedCounters,
    /// Requests a shadow policy decided differently, by service, action and direction.
    shadow_differences: BoundedCounters,
    upstream_errors: AtomicU64,
    active_connections: AtomicI64,
    connections: AtomicU64,
    limit_refusals: BoundedCounters,
    certificate_hits: AtomicU64,
    certificate_mints: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    latency: Histogram,
    started_unix: f64,
    /// The learned registry tokens and their store, once `run` opened them.
    bindings: std::sync::OnceLock<std::sync::Arc<crate::bindings::Bindings>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: BoundedCounters::default(),
            would_deny: BoundedCounters::default(),
            shadow_differences: BoundedCounters::default(),
            upstream_errors: AtomicU64::new(0),
            active_connections: AtomicI64::new(0),
            connections: AtomicU64::new(0),
            limit_refusals: BoundedCounters::default(),
            certificate_hits: AtomicU64::new(0),
            certificate_mints: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            latency: Histogram::default(),
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            bindings: std::sync::OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Fresh, all zero.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One request decided; `service` is `None` for hosts that are not endpoint hosts, `action` empty when
    /// none was classified.
    pub fn record_decision(&self, service: Option<Service>, action: &str, decision: Disposition) {
        let (service, decision) = (service.map_or("", Service::key), decision.as_str());
        let overflow = [OVERFLOW_LABEL, OVERFLOW_LABEL, decision];
        self.requests.increment(&[service, action, decision], MAX_DECISION_SERIES, &overflow);
    }

    /// A service in report mode refused a request and forwarded it anyway (ARCHITECTURE.md §10).
    pub fn record_would_deny(&self, service: Service, action: &str) {
        let overflow = [service.key(), OVERFLOW_LABEL];
        self.would_deny.increment(&[service.key(), action], MAX_DECISION_SERIES, &overflow);
    }

    /// A shadow policy decided a request differently from the live one.
    pub fn record_shadow_difference(&self, service: Service, action: &str, drift: Drift) {
        let labels = [service.key(), action, drift.as_str()];
        let overflow = [service.key(), OVERFLOW_LABEL, drift.as_str()];
        self.shadow_differences.increment(&labels, MAX_DECISION_SERIES, &overflow);
    }

    /// Upstream could not be reached or failed mid-response.
    pub fn record_upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A client connection was accepted (`true`) or closed (`false`).
    pub fn connection(&self, opened: bool) {
        if opened {
            self.connections.fetch_add(1, Ordering::Relaxed);
            self.active_connections.fetch_add(1, Ordering::Relaxed);
        } else {
            self.active_connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A client connection was refused by a limit (`max_connections`, per-client cap, timeouts).
    pub fn record_limit_refusal(&self, limit: &str) {
        self.limit_refusals.increment(&[limit], MAX_LIMIT_SERIES, &[OVERFLOW_LABEL]);
    }

    /// The leaf certificate cache answered (`hit`) or a leaf was minted.
    pub fn record_certificate(&self, hit: bool) {
        let counter = if hit { &self.certificate_hits } else { &self.certificate_mints };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Seconds from request head to end of response.
    pub fn observe_latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    /// A configuration reload was applied (`true`) or rejected (`false`); alerting keys on the failures.
    pub fn record_reload(&self, ok: bool) {
        let counter = if ok { &self.reloads_ok } else { &self.reloads_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports on `bindings` from now on (its store's reachability and lookups); only the first call
    /// takes effect.
    pub fn report_bindings(&self, bindings: std::sync::Arc<crate::bindings::Bindings>) {
        let _ = self.bindings.set(bindings);
    }

    /// The binding store's state, for `/healthz`; `None` before [`Metrics::report_bindings`].
    pub fn bindings(&self) -> Option<crate::bindings::StoreStatus> {
        self.bindings.get().map(|b| b.status())
    }

    /// Connections open now; shown in `/healthz` too.
    pub fn active_connections(&self) -> i64 {
        self.active_connections.load(Ordering::Relaxed)
    }

    /// Everything in the Prometheus text exposition format 0.0.4, `vpce_proxy_` prefixed.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let requests = self.requests.snapshot();
        family(
            &mut out,
            "requests_total",
            "counter",
            "Requests decided, by service, IAM action and decision.",
        );
        for (labels, value) in &requests {
            sample(&mut out, "requests_total", &zip(&["service", "action", "decision"], labels), value);
        }
        let simple = [
            (
                "upstream_errors_total",
                "counter",
                "Upstream connections or responses that failed.",
                &self.upstream_errors,
            ),
            ("connections_total", "counter", "Client connections accepted.", &self.connections),
            (
                "certificate_cache_hits_total",
                "counter",
                "Leaf certificates served from the cache.",
                &self.certificate_hits,
            ),
            (
                "certificates_minted_total",
                "counter",
                "Leaf certificates minted by the local CA.",
                &self.certificate_mints,
            ),
        ];
        for (name, kind, help, counter) in simple {
            family(&mut out, name, kind, help);
            sample(&mut out, name, &[], &counter.load(Ordering::Relaxed));
        }
        family(&mut out, "active_connections", "gauge", "Client connections open now.");
        sample(&mut out, "active_connections", &[], &self.active_connections());
        family(&mut out, "limit_refusals_total", "counter", "Connections or requests refused by a limit.");
        for (labels, value) in &self.limit_refusals.snapshot() {
            sample(&mut out, "limit_refusals_total", &zip(&["limit"], labels), value);
        }
        family(&mut out, "reloads_total", "counter", "Configuration reloads, by result.");
        sample(&mut out, "reloads_total", &[("result", "ok")], &self.reloads_ok.load(Ordering::Relaxed));
        sample(
            &mut out,
            "reloads_total",
            &[("result", "failed")],
            &self.reloads_failed.load(Ordering::Relaxed),
        );
        self.render_latency(&mut out);
        self.render_rollout(&mut out);
        self.render_bindings(&mut out);
        family(&mut out, "start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
        sample(&mut out, "start_time_seconds", &[], &self.started_unix);
        out
    }

    /// The binding store (ARCHITECTURE.md §12): whether it answers, and how lookups in it ended.
    fn render_bindings(&self, out: &mut String) {
        let Some(status) = self.bindings() else { return };
        let store = [("store", status.store)];
        let gauges = [
            ("binding_store_up", "gauge", "1 while the binding store answers.", u64::from(status.reachable)),
            ("bindings", "gauge", "Registry-token bindings in this process's memory.", status.in_memory),
            ("binding_store_errors_total", "counter", "Binding store operations that failed.", status.errors),
            (
                "binding_store_recoveries_total",
                "counter",
                "Times the binding store came back.",
                status.recoveries,
            ),
            ("binding_store_writes_total", "counter", "Bindings written to the store.", status.written),
        ];
        for (name, kind, help, value) in gauges {
            family(out, name, kind, help);
            sample(out, name, &store, &value);
        }
        let name = "binding_lookups_total";
        family(out, name, "counter", "Lookups in the binding store for tokens memory lacked, by result.");
        for (result, value) in status.lookups {
            sample(out, name, &[("store", status.store), ("result", result)], &value);
        }
    }

    /// Report mode and shadow policies: what enforcing, or enforcing the candidate, would change.
    fn render_rollout(&self, out: &mut String) {
        let name = "would_deny_total";
        family(
            out,
            name,
            "counter",
            "Requests a service in report mode would have refused, forwarded anyway.",
        );
        for (labels, value) in &self.would_deny.snapshot() {
            sample(out, name, &zip(&["service", "action"], labels), value);
        }
        let name = "shadow_differences_total";
        family(out, name, "counter", "Requests the shadow policy decided differently, by direction.");
        for (labels, value) in &self.shadow_differences.snapshot() {
            sample(out, name, &zip(&["service", "action", "direction"], labels), value);
        }
    }

    fn render_latency(&self, out: &mut String) {
        let name = "request_duration_seconds";
        family(out, name, "histogram", "Time from request head to the end of the response body.");
        let mut cumulative = 0u64;
        for (slot, counter) in self.latency.buckets.iter().enumerate() {
            cumulative += counter.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS.get(slot).map_or_else(|| "+Inf".to_owned(), |b| format_float(*b));
            sample(out, &format!("{name}_bucket"), &[("le", &le)], &cumulative);
        }
        let sum = f64::from_bits(self.latency.sum_bits.load(Ordering::Relaxed));
        sample(out, &format!("{name}_sum"), &[], &sum);
        // `_count` must equal the `+Inf` bucket, so it is taken from the same cumulative read.
        sample(out, &format!("{name}_count"), &[], &cumulative);
    }
}

fn zip<'a>(names: &[&'a str], values: &'a [String]) -> Vec<(&'a str, &'a str)> {
    names.iter().copied().zip(values.iter().map(String::as_str)).collect()
}

/// `# HELP` and `# TYPE` lines for one metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP vpce_proxy_{name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE vpce_proxy_{name} {kind}");
}

/// Values that render as Prometheus sample values.
trait SampleValue {
    fn render(&self) -> String;
}

impl SampleValue for u64 {
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SampleValue for i64 {
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SampleValue for f64 {
    fn render(&self) -> String {
        format_float(*self)
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &dyn SampleValue) {
    out.push_str("vpce_proxy_");
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(val));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&value.render());
    out.push('\n');
}

/// Go-style float text as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, otherwise shortest round-trip.
pub(crate) fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value:?}")
    }
}

/// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
pub(crate) fn escape_label(value: &str) -> String {
    escape(value, true)
}

/// HELP text escapes backslash and line feed only.
fn escape_help(value: &str) -> String {
    escape(value, false)
}

fn escape(value: &str, quote: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Outcome;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        // Exposition format 0.0.4, "Comments, help text, and type information" and label value escaping:
        // https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details
        let rows = [
            ("plain", "plain"),
            ("a\\b", "a\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
        ];
        for (raw, escaped) in rows {
            assert_eq!(escape_label(raw), escaped, "{raw:?}");
        }
        assert_eq!(escape_help("a \"b\"\n"), "a \"b\"\\n");
    }

    #[test]
    fn floats_render_as_prometheus_expects() {
        let rows = [(0.005, "0.005"), (1.0, "1.0"), (f64::INFINITY, "+Inf"), (f64::NEG_INFINITY, "-Inf")];
        for (value, text) in rows {
            assert_eq!(format_float(value), text);
        }
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn decision_series_are_capped_with_an_overflow_bucket() {
        let metrics = Metrics::new();
        for i in 0..MAX_DECISION_SERIES + 10 {
            metrics.record_decision(Some(Service::EcrApi), &format!("ecr:Op{i}"), Outcome::Allow.into());
        }
        metrics.record_decision(Some(Service::EcrApi), "ecr:Op0", Outcome::Allow.into());
        let snapshot = metrics.requests.snapshot();
        assert_eq!(snapshot.len(), MAX_DECISION_SERIES + 1);
        let overflow = snapshot.iter().find(|(k, _)| k[0] == OVERFLOW_LABEL).unwrap();
        assert_eq!(overflow.1, 10);
        let first = snapshot.iter().find(|(k, _)| k[1] == "ecr:Op0").unwrap();
        assert_eq!(first.1, 2);
    }

    #[test]
    fn histogram_places_observations_in_the_first_bucket_that_holds_them() {
        let metrics = Metrics::new();
        for seconds in [0.001, 0.005, 0.2, 11.0, -1.0, f64::NAN] {
            metrics.observe_latency(seconds);
        }
        let counts: Vec<u64> = metrics.latency.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        // <=0.005 holds 0.001, 0.005 and the two clamped invalid values; 0.2 -> le=0.25; 11 -> +Inf.
        assert_eq!(counts, [4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        let sum = f64::from_bits(metrics.latency.sum_bits.load(Ordering::Relaxed));
        assert!((sum - 11.206).abs() < 1e-9, "{sum}");
    }
}
