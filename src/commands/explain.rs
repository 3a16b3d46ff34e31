//! `vpce-proxy explain`: what the endpoint would do with one HTTP request, without sending it.
//!
//! It goes through the same [`Authorizer`] as the proxy, so an operator can test a policy change against
//! captured requests and see the classification, the caller and the decision (ARCHITECTURE.md §3).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::authorize::{Authorizer, ConnFacts, Verdict};
use crate::classify::{
    basic_credentials, check_method_override, registry_challenge, PrincipalSource as Source, RequestHead,
};
use crate::load::{self, Fingerprints, LoadError};
use crate::policy::iam::{find_key, KeyScope};
use crate::policy::ContextValue;

/// The request file: `{"host","method","path","headers","body","source_ip"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// `Host` of the inner request.
    pub host: String,
    /// HTTP method.
    pub method: String,
    /// Path with query, as sent.
    pub path: String,
    /// Header name -> value, or a list of values for a repeated header.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// Body text.
    #[serde(default)]
    pub body: Option<String>,
    /// The client's address, for source-CIDR principals.
    #[serde(default)]
    pub source_ip: Option<IpAddr>,
}

/// Why a request file cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The file could not be read or parsed.
    #[error("{0}: {1}")]
    Request(String, String),
    /// The config or a policy it names is broken: the message `run` would refuse to start with.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Prints the classification and decision for one request file; exit 0 for a decision or a refusal,
/// 2 when the request or config cannot be read.
pub fn main(config: Option<&Path>, request: &Path) -> ExitCode {
    match run(config, request) {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpce-proxy explain: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(config: Option<&Path>, request: &Path) -> Result<Value, ExplainError> {
    let name = request.display().to_string();
    let text = crate::files::read_to_string(request)
        .map_err(|e| ExplainError::Request(name.clone(), e.to_string()))?;
    let req: RequestFile =
        serde_json::from_str(&text).map_err(|e| ExplainError::Request(name.clone(), e.to_string()))?;
    // `run`'s load path, lint included, so a config `run` refuses is not explained as if it were live.
    let (config, policies) = load::load(config, &mut Fingerprints::default())?;
    let authorizer = Authorizer::new(&config, policies);
    let (headers, conn) = build_headers(&req).map_err(|e| ExplainError::Request(name, e))?;
    let head = RequestHead { method: &req.method, host: &req.host, path: &req.path, headers: &headers };
    let body = req.body.as_deref().map(str::as_bytes);
    let body = match (body, authorizer.body_needed(&head)) {
        (Some(b), Some(n)) => Some(&b[..b.len().min(n)]),
        (b, _) => b,
    };
    // What the proxy does first: a method override is refused, and a registry request without credentials
    // is challenged, not decided.
    if let Err(refusal) = check_method_override(&head) {
        return Ok(json!({ "refused": refusal.0 }));
    }
    if let Some(challenge) = registry_challenge(&head) {
        return Ok(json!({ "challenged": {"status": 401, "www_authenticate": challenge} }));
    }
    Ok(match authorizer.authorize(&head, body, &conn) {
        Ok(verdict) => render(&verdict),
        Err(refusal) => json!({ "refused": refusal.0 }),
    })
}

/// Headers as a `HeaderMap`; `Proxy-Authorization` becomes the CONNECT credentials it would have been.
fn build_headers(req: &RequestFile) -> Result<(http::HeaderMap, ConnFacts), String> {
    let mut headers = http::HeaderMap::new();
    let mut conn =
        ConnFacts { client: req.source_ip.map(|ip| SocketAddr::new(ip, 40000)), proxy_credentials: None };
    for (name, value) in &req.headers {
        let values: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("header {name:?} must be a string or a list of strings")),
        };
        if name.eq_ignore_ascii_case("proxy-authorization") {
            conn.proxy_credentials = values.first().and_then(|v| basic_credentials(v));
            continue;
        }
        let header =
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name:?}: {e}"))?;
        for v in values {
            let value = http::HeaderValue::from_str(v).map_err(|e| format!("header {name:?}: {e}"))?;
            headers.append(header.clone(), value);
        }
    }
    Ok((headers, conn))
}

/// The documented spelling of a lowercased key (`aws:principaltag/team` -> `aws:PrincipalTag/team`), from
/// the generated IAM tables; a key they do not know is shown as stored.
fn display_key(key: &str) -> String {
    match find_key(key) {
        Some(k) if k.templated => format!("{}{}", k.name, &key[k.name.len()..]),
        Some(k) => k.name.to_string(),
        None => key.to_string(),
    }
}

/// How an `anonymous` caller that signed came to be one: the key id's account is known, its ARN is not.
fn principal_note(verdict: &Verdict) -> Option<String> {
    (verdict.principal_source == Source::UnconfiguredKey).then(|| {
        let account = verdict.classification.context.get("aws:principalaccount");
        let account = account.and_then(|v| v.values().next()).unwrap_or("?");
        format!(
            "signed with an access key id no [[principal]] names: account {account} is decoded from the key \
             id, the ARN is unknown, so the caller is reported as anonymous"
        )
    })
}

/// The explain JSON: classification, principal, context, then `simulate`'s decision fields.
pub fn render(verdict: &Verdict) -> Value {
    let c = &verdict.classification;
    // What the policies saw for the main permission: a key IAM does not give its action is left out.
    let scope = KeyScope::of(c.permission.as_ref().map_or("", |p| p.action.as_str()));
    let mut context: Vec<(&str, &ContextValue)> =
        c.context.iter().filter(|(k, _)| scope.applies(k)).collect();
    context.sort_by(|a, b| a.0.cmp(b.0));
    let context: Map<String, Value> = context
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                ContextValue::Single(s) => json!(s.as_str()),
                ContextValue::Multi(vs) => json!(vs),
            };
            (display_key(k), value)
        })
        .collect();
    let additional: Vec<Value> =
        c.additional.iter().map(|p| json!({"action": p.action, "resource": p.resource})).collect();
    let decision = serde_json::to_value(&verdict.decision).unwrap_or(Value::Null);
    let mut out = json!({
        "service": c.host.service.key(),
        "region": c.host.region,
        "partition": c.host.partition,
        "action": c.permission.as_ref().map(|p| p.action.clone()),
        "resource": c.permission.as_ref().map(|p| p.resource.clone()),
        "resource_account": c.context.get("aws:resourceaccount").and_then(|v| v.values().next()),
        "principal": verdict.principal,
        "principal_source": verdict.principal_source,
        "principal_note": principal_note(verdict),
        "context": context,
        "additional": additional,
        "enforced": verdict.enforced,
    });
    if let (Value::Object(out), Value::Object(d)) = (&mut out, decision) {
        out.extend(d);
    }
    // What the `[shadow_policies]` candidate decides, so a candidate can be tried on one request.
    if let (Value::Object(out), Some(shadow)) = (&mut out, &verdict.shadow) {
        out.insert("shadow".into(), serde_json::to_value(shadow).unwrap_or(Value::Null));
    }
    out
}
