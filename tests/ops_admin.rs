//! The admin listener over real loopback sockets: `/metrics` parsed by a strict text-format parser,
//! `/healthz` as JSON, everything else 404, and shutdown by its future.
//!
//! Format rules checked here are those of the Prometheus text exposition format 0.0.4:
//! https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vpce_proxy::admin::{serve_admin, Admin, Health, Metrics, PolicyHash, PolicyHashes};
use vpce_proxy::audit::Disposition;
use vpce_proxy::classify::Service;
use vpce_proxy::policy::Outcome;

/// One parsed sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);
/// One expected sample: metric name, labels, value.
type ExpectedSample = (&'static str, &'static [(&'static str, &'static str)], f64);

/// A strict parser: every sample belongs to the family whose TYPE preceded it, families are not
/// interleaved or repeated, names and label names are valid, label values use only the three escapes,
/// series are unique, and histograms are cumulative with `+Inf` equal to `_count`.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("exposition must end with a newline".into());
    }
    let mut samples = Vec::new();
    let (mut families, mut helps, mut series) = (HashSet::new(), HashSet::new(), HashSet::new());
    let mut current: Option<(String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').ok_or(format!("line {n}: HELP without text"))?;
            valid_name(name).map_err(|e| format!("line {n}: {e}"))?;
            if !helps.insert(name.to_owned()) {
                return Err(format!("line {n}: second HELP for {name}"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(format!("line {n}: TYPE without type"))?;
            valid_name(name).map_err(|e| format!("line {n}: {e}"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("line {n}: unknown type {kind}"));
            }
            if !families.insert(name.to_owned()) {
                return Err(format!("line {n}: family {name} declared twice"));
            }
            current = Some((name.to_owned(), kind.to_owned()));
        } else if line.starts_with('#') || line.is_empty() {
            return Err(format!("line {n}: unexpected comment or blank line"));
        } else {
            let (name, labels, value) = parse_sample(line).map_err(|e| format!("line {n}: {e}"))?;
            let (family, kind) = current.as_ref().ok_or(format!("line {n}: sample before any TYPE"))?;
            let allowed = match kind.as_str() {
                "histogram" => {
                    vec![format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count")]
                }
                _ => vec![family.clone()],
            };
            if !allowed.contains(&name) {
                return Err(format!("line {n}: sample {name} outside its family {family}"));
            }
            if kind == "counter" && (value < 0.0 || value.is_nan()) {
                return Err(format!("line {n}: negative counter"));
            }
            if !series.insert(format!("{name}{labels:?}")) {
                return Err(format!("line {n}: duplicate series {name}{labels:?}"));
            }
            samples.push((name, labels, value));
        }
    }
    check_histograms(&samples)?;
    Ok(samples)
}

fn valid_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("sample without value")?;
    let name = &line[..name_end];
    valid_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if body[start..].starts_with('}') {
                rest = &body[start + 1..];
                break;
            }
            let eq = body[start..].find("=\"").ok_or("label without =\"")? + start;
            let label = &body[start..eq];
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid label name {label:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i < eq + 2) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("invalid escape \\{other}")),
                    },
                    '\n' => return Err("raw newline in label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} repeated"));
            }
            match chars.peek().map(|(_, c)| *c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => return Err("expected , or } after a label".into()),
            }
        }
    }
    let value_text = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok((name.to_owned(), labels, value))
}

fn check_histograms(samples: &[Sample]) -> Result<(), String> {
    let buckets: Vec<&Sample> = samples.iter().filter(|s| s.0.ends_with("_bucket")).collect();
    let mut by_family: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for (name, labels, value) in buckets {
        let le = labels.get("le").ok_or(format!("{name} without le"))?;
        let le = if le == "+Inf" { f64::INFINITY } else { le.parse().map_err(|_| format!("bad le {le}"))? };
        by_family.entry(name.trim_end_matches("_bucket")).or_default().push((le, *value));
    }
    for (family, rows) in by_family {
        if !rows.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
            return Err(format!("{family}: buckets not ascending and cumulative"));
        }
        let inf = rows.last().filter(|r| r.0.is_infinite()).ok_or(format!("{family}: no +Inf bucket"))?;
        let count = value(samples, &format!("{family}_count"), &[]).ok_or(format!("{family}: no _count"))?;
        if inf.1 != count {
            return Err(format!("{family}: +Inf bucket {} != _count {count}", inf.1));
        }
    }
    Ok(())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    samples.iter().find(|s| s.0 == name && s.1 == want).map(|s| s.2)
}

#[test]
fn the_strict_parser_rejects_malformed_exposition() {
    // Each row breaks one rule of the text format, so a parser that accepts everything fails here.
    let rows = [
        ("no trailing newline", "# TYPE a counter\na 1"),
        ("sample before TYPE", "a 1\n"),
        ("bad escape", "# TYPE a counter\na{l=\"x\\t\"} 1\n"),
        ("unquoted label", "# TYPE a counter\na{l=x} 1\n"),
        ("duplicate series", "# TYPE a counter\na 1\na 2\n"),
        ("foreign sample", "# TYPE a counter\nb 1\n"),
        ("family twice", "# TYPE a counter\na 1\n# TYPE a counter\n"),
        ("bad value", "# TYPE a gauge\na one\n"),
        ("non-cumulative", "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"),
        ("count mismatch", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 2\n"),
    ];
    for (why, text) in rows {
        assert!(parse_exposition(text).is_err(), "accepted {why}: {text:?}");
    }
    assert!(parse_exposition("# HELP a x\n# TYPE a counter\na{l=\"q\\\"\\n\\\\\"} 1\n").is_ok());
}

#[test]
fn rendered_metrics_parse_strictly_and_round_trip_their_values() {
    let metrics = Metrics::new();
    metrics.record_decision(Some(Service::EcrApi), "ecr:PutImage", Outcome::Allow.into());
    metrics.record_decision(Some(Service::EcrApi), "ecr:PutImage", Outcome::Allow.into());
    metrics.record_decision(Some(Service::S3), "s3:GetObject", Outcome::ImplicitDeny.into());
    metrics.record_decision(None, "", Disposition::Tunnel);
    metrics.record_limit_refusal("per_client \"quoted\"\nline\\");
    metrics.record_certificate(true);
    metrics.record_certificate(false);
    metrics.record_certificate(false);
    metrics.record_upstream_error();
    metrics.connection(true);
    metrics.connection(true);
    metrics.connection(false);
    metrics.record_reload(false);
    [0.003, 0.2, 0.2, 30.0].into_iter().for_each(|s| metrics.observe_latency(s));

    let samples = parse_exposition(&metrics.render()).unwrap_or_else(|e| panic!("{e}"));
    let rows: [ExpectedSample; 14] = [
        (
            "vpce_proxy_requests_total",
            &[("service", "ecr.api"), ("action", "ecr:PutImage"), ("decision", "Allow")],
            2.0,
        ),
        (
            "vpce_proxy_requests_total",
            &[("service", "s3"), ("action", "s3:GetObject"), ("decision", "ImplicitDeny")],
            1.0,
        ),
        ("vpce_proxy_requests_total", &[("service", ""), ("action", ""), ("decision", "Tunnel")], 1.0),
        ("vpce_proxy_limit_refusals_total", &[("limit", "per_client \"quoted\"\nline\\")], 1.0),
        ("vpce_proxy_certificate_cache_hits_total", &[], 1.0),
        ("vpce_proxy_certificates_minted_total", &[], 2.0),
        ("vpce_proxy_upstream_errors_total", &[], 1.0),
        ("vpce_proxy_connections_total", &[], 2.0),
        ("vpce_proxy_active_connections", &[], 1.0),
        ("vpce_proxy_reloads_total", &[("result", "failed")], 1.0),
        ("vpce_proxy_reloads_total", &[("result", "ok")], 0.0),
        ("vpce_proxy_request_duration_seconds_bucket", &[("le", "0.005")], 1.0),
        ("vpce_proxy_request_duration_seconds_bucket", &[("le", "0.25")], 3.0),
        ("vpce_proxy_request_duration_seconds_bucket", &[("le", "+Inf")], 4.0),
    ];
    for (name, labels, expected) in rows {
        assert_eq!(value(&samples, name, labels), Some(expected), "{name}{labels:?}");
    }
    let sum = value(&samples, "vpce_proxy_request_duration_seconds_sum", &[]).unwrap();
    assert!((sum - 30.403).abs() < 1e-9, "{sum}");
}

async fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn admin_listener_serves_metrics_and_healthz_and_404s_the_rest() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let entry = PolicyHash { file: "/etc/vpce/ecr-api.json".into(), sha256: "ab".repeat(32) };
    let health =
        Arc::new(Health::new(PolicyHashes::from([("ecr.api".to_owned(), entry)]), Default::default()));
    let metrics = Arc::new(Metrics::new());
    metrics.record_decision(Some(Service::EcrDkr), "ecr:BatchGetImage", Outcome::Allow.into());
    metrics.connection(true);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = Arc::new(Admin::new(Arc::clone(&health), Arc::clone(&metrics)));
    let server = tokio::spawn(serve_admin(listener, admin, stopped));

    let (status, head, body) = get(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    let samples = parse_exposition(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let labels = [("service", "ecr.dkr"), ("action", "ecr:BatchGetImage"), ("decision", "Allow")];
    assert_eq!(value(&samples, "vpce_proxy_requests_total", &labels), Some(1.0));

    health.reload_failed("/etc/vpce/ecr-api.json:4:7: expected `,` or `}`".into());
    let (status, head, body) = get(addr, "GET", "/healthz").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["reloads"], 0);
    assert_eq!(json["failed_reloads"], 1);
    assert_eq!(json["active_connections"], 1);
    assert_eq!(json["last_reload_error"], "/etc/vpce/ecr-api.json:4:7: expected `,` or `}`");
    assert_eq!(json["policies"]["ecr.api"]["sha256"], "ab".repeat(32));
    assert!(json["uptime_seconds"].as_f64().unwrap() >= 0.0);

    for (method, path, expected) in [("GET", "/", 200), ("GET", "/admin", 404), ("DELETE", "/healthz", 405)] {
        assert_eq!(get(addr, method, path).await.0, expected, "{method} {path}");
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn admin_connections_beyond_the_cap_are_closed_and_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let health = Arc::new(Health::new(PolicyHashes::new(), Default::default()));
    let admin = Arc::new(Admin::new(health, Arc::clone(&metrics)));
    let server = tokio::spawn(serve_admin(listener, admin, stopped));

    // 64 idle clients hold every admin slot (a slowloris on the admin port).
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut refused = false;
    while !refused && tokio::time::Instant::now() < deadline {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1];
        // A refused connection is closed at once: EOF (or reset) instead of waiting for a request.
        refused = matches!(
            tokio::time::timeout(Duration::from_millis(500), extra.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        );
    }
    assert!(refused, "the 65th connection was served or left hanging");
    assert!(metrics.render().contains("vpce_proxy_limit_refusals_total{limit=\"admin_connections\"} "));

    drop(idle);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
}
