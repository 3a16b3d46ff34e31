//! `/metrics` read by the reference parser: the official Python client's text-format parser
//! (`prometheus_client.parser`, installed by `scripts/install-deps`), as issue 5 asks ("parseable by a
//! Prometheus text-format parser"). The Rust strict parser in `ops_admin.rs` checks the rules; this
//! checks that a real consumer reads the same values.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;
use vpce_proxy::admin::Metrics;
use vpce_proxy::classify::Service;
use vpce_proxy::policy::Outcome;

const READER: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        v = s.value
        out.append([family.type, s.name, s.labels, "+Inf" if v == math.inf else v])
print(json.dumps(out))
"#;

#[test]
fn the_python_reference_parser_reads_every_family_and_value() {
    let metrics = Metrics::new();
    metrics.record_decision(Some(Service::EcrDkr), "ecr:BatchGetImage", Outcome::Allow.into());
    metrics.record_decision(Some(Service::S3), "s3:GetObject", Outcome::ExplicitDeny.into());
    metrics.record_limit_refusal("odd \"label\"\nvalue\\");
    metrics.observe_latency(0.03);
    metrics.connection(true);
    let mut child = Command::new("python3")
        .args(["-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(metrics.render().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let samples: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let find = |name: &str, labels: serde_json::Value| {
        samples
            .iter()
            .find(|s| s[1] == name && s[2] == labels)
            .map(|s| (s[0].as_str().unwrap().to_owned(), s[3].as_f64().unwrap()))
    };
    let rows = [
        (
            "vpce_proxy_requests_total",
            json!({"service": "ecr.dkr", "action": "ecr:BatchGetImage", "decision": "Allow"}),
            "counter",
            1.0,
        ),
        (
            "vpce_proxy_requests_total",
            json!({"service": "s3", "action": "s3:GetObject", "decision": "ExplicitDeny"}),
            "counter",
            1.0,
        ),
        ("vpce_proxy_limit_refusals_total", json!({"limit": "odd \"label\"\nvalue\\"}), "counter", 1.0),
        ("vpce_proxy_active_connections", json!({}), "gauge", 1.0),
        ("vpce_proxy_request_duration_seconds_bucket", json!({"le": "0.05"}), "histogram", 1.0),
        ("vpce_proxy_request_duration_seconds_bucket", json!({"le": "0.025"}), "histogram", 0.0),
        ("vpce_proxy_request_duration_seconds_count", json!({}), "histogram", 1.0),
        ("vpce_proxy_reloads_total", json!({"result": "failed"}), "counter", 0.0),
    ];
    for (name, labels, kind, value) in rows {
        assert_eq!(find(name, labels.clone()), Some((kind.to_owned(), value)), "{name} {labels}");
    }
}
