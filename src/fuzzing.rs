//! Fuzz targets: each turns arbitrary bytes into one parser's input and checks invariants, not just "no
//! panic" (`fuzz/` runs them under libFuzzer; `tests/fuzz_seeds.rs` runs every seed through them on
//! every `cargo test`, so they compile and hold on the stable toolchain too).
//!
//! A target panics when an invariant breaks; that is what the fuzzer reports as a crash.

use std::path::Path;

use crate::classify::{self, hosts, sigv4, RequestHead, Service};
use crate::config::{Config, ConfigError};
use crate::policy::validate::{validate, PolicyKind};
use crate::policy::{decide, AuthzRequest, Effect, Outcome, Policy, PolicyLayers, RequestContext};
use crate::proxy::connect::head::{read_head, split_authority};

/// One fuzz target: bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, for `scripts/fuzz` and the seed test.
pub const TARGETS: [(&str, Target); 6] = [
    ("policy", policy),
    ("validate", validate_policy),
    ("classify", classify_request),
    ("connect_head", connect_head),
    ("sigv4", sigv4_parse),
    ("config", config),
];

/// The request a policy is evaluated against: picked from the input, so a mutation that names one of
/// these strings in the policy can reach the statement's match.
const PRINCIPALS: [&str; 3] =
    ["arn:aws:iam::123456789123:user/dev", "anonymous", "arn:aws:sts::111111111111:assumed-role/r/s"];
const ACTIONS: [&str; 4] = ["ecr:PutImage", "ecr:GetAuthorizationToken", "s3:GetObject", "ecr:BatchGetImage"];
const RESOURCES: [&str; 3] = [
    "arn:aws:ecr:us-east-1:123456789123:repository/app",
    "*",
    "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/k",
];

/// Policy JSON: parse and compile; then a decision against a derived request is reproducible and
/// consistent (an explicit deny names a matched Deny statement, an allow has no message or layer).
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::parse(text) else { return };
    let pick = data.iter().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize));
    let mut context = RequestContext::new();
    context.set("aws:PrincipalOrgID", "o-21ej9awi6a");
    context.set("aws:PrincipalAccount", "123456789123");
    let request = AuthzRequest {
        principal: PRINCIPALS[pick % 3].into(),
        action: ACTIONS[pick / 3 % 4].into(),
        resource: RESOURCES[pick / 12 % 3].into(),
        resource_account: Some("123456789123".into()),
        context,
    };
    let layers = PolicyLayers { endpoint: Some(&policy), identity: None, resource: None };
    let first = decide(&layers, &request);
    assert_eq!(first, decide(&layers, &request), "a decision is reproducible");
    match first.outcome {
        Outcome::Allow => assert!(first.message.is_none() && first.denied_by.is_none(), "{first:?}"),
        Outcome::ExplicitDeny => {
            assert!(first.matched.iter().any(|m| m.effect == Effect::Deny), "{first:?}")
        }
        Outcome::ImplicitDeny => {
            assert!(first.matched.iter().all(|m| m.effect == Effect::Allow), "{first:?}");
            assert!(first.message.is_some(), "a denial has AWS's message");
        }
    }
}

/// `validate` never panics, and every finding's line:col lies inside the input (or just past its
/// end, where an unterminated document is reported).
pub fn validate_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let kind = [PolicyKind::Endpoint, PolicyKind::Identity, PolicyKind::Resource][data.len() % 3];
    for finding in validate(text, kind) {
        let (line, col) = (finding.pos.line as usize, finding.pos.col as usize);
        assert!(inside(text, line, col), "{}:{} outside the input: {}", line, col, finding.message);
    }
}

/// Whether 1-based `line`:`col` (columns in characters) names a character of `text` or the end.
fn inside(text: &str, line: usize, col: usize) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1 && line <= lines.len() && col >= 1 && col <= lines[line - 1].chars().count() + 1
}

/// The parts of a request head in the fuzz input: `host\nmethod\npath\nName: value...\n\nbody`.
struct Head<'a> {
    host: &'a str,
    method: &'a str,
    path: &'a str,
    headers: http::HeaderMap,
    body: &'a [u8],
}

fn split_head(data: &[u8]) -> Option<Head<'_>> {
    let split = data.windows(2).position(|w| w == b"\n\n").unwrap_or(data.len());
    let text = std::str::from_utf8(&data[..split]).ok()?;
    let body = data.get(split + 2..).unwrap_or(&[]);
    let mut lines = text.split('\n');
    let (host, method, path) = (lines.next()?, lines.next()?, lines.next()?);
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        headers.append(name, http::HeaderValue::from_str(value.trim()).ok()?);
    }
    Some(Head { host, method, path, headers, body })
}

/// The classifier, for each service: reproducible; a host that is not an endpoint host never classifies;
/// a classification's ARNs belong to its service, partition and (ECR) region.
pub fn classify_request(data: &[u8]) {
    let Some(h) = split_head(data) else { return };
    let head = RequestHead { method: h.method, host: h.host, path: h.path, headers: &h.headers };
    let complete = data.len() % 2 == 0;
    let body = Some(classify::BodyView { bytes: h.body, complete });
    // A query that does not decode is refused before any classifier runs, as the authorizer does.
    let Ok(query) = classify::request_query(h.path) else { return };
    let classified = |host| classify::classify_host(host, &head, &query, body, Some("123456789123"));
    let Ok(host) = hosts::parse_host(h.host) else { return };
    let (service, partition, region) = (host.service, host.partition, host.region.clone());
    let first = classified(host.clone());
    assert_eq!(format!("{first:?}"), format!("{:?}", classified(host)), "classification is reproducible");
    let Ok(c) = first else { return };
    for p in c.permission.iter().chain(&c.additional) {
        let prefix = match service {
            Service::S3 => format!("arn:{partition}:s3:::"),
            Service::EcrApi | Service::EcrDkr => format!("arn:{partition}:ecr:{region}:"),
        };
        assert!(p.resource == "*" || p.resource.starts_with(&prefix), "{} not under {prefix}", p.resource);
        let wanted = if service == Service::S3 { "s3:" } else { "ecr:" };
        assert!(p.action.starts_with(wanted), "{} on {service:?}", p.action);
    }
}

/// The CONNECT head parser: within its byte and field bounds, and what it accepts names a host and port
/// that `split_authority` reads back the same way.
pub fn connect_head(data: &[u8]) {
    const MAX_BYTES: usize = 8192;
    thread_local! {
        // One runtime per fuzzing thread, not per input: building one costs more than a parse.
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    }
    let mut reader = tokio::io::BufReader::new(data);
    let parsed = RUNTIME.with(|runtime| runtime.block_on(read_head(&mut reader, MAX_BYTES, 32)));
    let Ok(request) = parsed else { return };
    let consumed = data.len() - reader.buffer().len() - reader.get_ref().len();
    assert!(consumed <= MAX_BYTES + 2, "read {consumed} bytes past the bound");
    let target = format!("{}:{}", request.host, request.port);
    let again = split_authority(&target).map(|(h, p)| (h.to_ascii_lowercase(), p));
    assert_eq!(again, Some((request.host.to_ascii_lowercase(), request.port)), "{target}");
}

/// SigV4 header and presigned-query parsing: reproducible, and a parsed signature has a key id, a
/// `YYYYMMDD` date, a region, a service and hex.
pub fn sigv4_parse(data: &[u8]) {
    let Some(h) = split_head(data) else { return };
    let head = RequestHead { method: h.method, host: h.host, path: h.path, headers: &h.headers };
    let first = sigv4::parse(&head);
    assert_eq!(format!("{first:?}"), format!("{:?}", sigv4::parse(&head)), "parsing is reproducible");
    if let Ok(Some(sig)) = first {
        assert!(
            !sig.access_key_id.is_empty() && !sig.region.is_empty() && !sig.service.is_empty(),
            "{sig:?}"
        );
        assert!(sig.date.len() == 8 && sig.date.bytes().all(|b| b.is_ascii_digit()), "{sig:?}");
        assert!(sig.signature.bytes().all(|b| b.is_ascii_hexdigit()), "{sig:?}");
    }
}

/// The config parser: a syntax error's line:col lies inside the file, and a parsed config parses the
/// same way twice.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text, Path::new("fuzz.toml")) {
        Ok(parsed) => assert_eq!(Some(&parsed), Config::parse(text, Path::new("fuzz.toml")).ok().as_ref()),
        Err(ConfigError::Syntax { line, col, message, .. }) => {
            assert!(inside(text, line, col), "{line}:{col} outside the input: {message}")
        }
        Err(ConfigError::Read { .. }) => panic!("parsing text never reads a file"),
    }
}
