//! `vpce-proxy simulate --input CASE.json`: decide one request against policies given as JSON
//! (ARCHITECTURE.md §3). Other tools drive the evaluator through this contract, so its shape is stable:
//! one JSON object on stdout and exit 0 on a decision; a message on stderr and exit 2 otherwise.

use std::path::Path;
use std::process::ExitCode;

use crate::policy::json::{self, Json, Spanned};
use crate::policy::{decide, AuthzRequest, ContextValue, Decision, Policy, PolicyLayers, RequestContext};

/// Why a case cannot be decided.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The input could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// The input, or a field of it, is malformed; the text names the field and position.
    #[error("{0}")]
    Invalid(String),
}

/// Decides one case file; exit 0 with a decision, 2 for invalid input.
pub fn main(input: &Path) -> ExitCode {
    let result = read_input(input).and_then(|text| run(&text));
    match result {
        Ok(decision) => match serde_json::to_string(&decision) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&CaseError::Invalid(format!("cannot encode the decision: {e}"))),
        },
        Err(e) => fail(&e),
    }
}

fn fail(error: &CaseError) -> ExitCode {
    eprintln!("vpce-proxy simulate: {error}");
    ExitCode::from(2)
}

fn read_input(input: &Path) -> Result<String, CaseError> {
    let name = input.display().to_string();
    if name == "-" {
        crate::files::read_stream_to_string(std::io::stdin()).map_err(|e| CaseError::Read("stdin".into(), e))
    } else {
        crate::files::read_to_string(input).map_err(|e| CaseError::Read(name, e))
    }
}

/// Parses a case and decides it; the pure core of the command, usable from tests.
pub fn run(text: &str) -> Result<Decision, CaseError> {
    let root = json::parse(text).map_err(|e| invalid(format!("{}: {}", e.pos, e.message)))?;
    let Json::Object(members) = &root.value else {
        return Err(invalid("the case must be a JSON object".into()));
    };
    const KEYS: [&str; 4] = ["endpoint_policy", "identity_policies", "resource_policy", "request"];
    if let Some((k, _)) = members.iter().find(|(k, _)| !KEYS.contains(&k.name.as_str())) {
        return Err(invalid(format!("{}: unknown field \"{}\"", k.pos, k.name)));
    }
    let endpoint = optional(&root, "endpoint_policy").map(|p| policy(p, "endpoint_policy")).transpose()?;
    let identity = match optional(&root, "identity_policies") {
        None => None,
        Some(Spanned { value: Json::Array(items), .. }) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, p)| policy(p, &format!("identity_policies[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => Some(vec![policy(other, "identity_policies")?]),
    };
    let resource = optional(&root, "resource_policy").map(|p| policy(p, "resource_policy")).transpose()?;
    let request_node = root.get("request").ok_or_else(|| invalid("missing field \"request\"".into()))?;
    let request = request(request_node)?;
    let layers = PolicyLayers {
        endpoint: endpoint.as_ref(),
        identity: identity.as_deref(),
        resource: resource.as_ref(),
    };
    Ok(decide(&without_policies_nothing_is_allowed(layers), &request))
}

/// A case with no policy at all gets IAM's default: an implicit deny. `run` has AWS's allow-all endpoint
/// policy as a default *document*, but a case names every policy it wants evaluated, and to the evaluator
/// "no layers" means "no endpoint in the path and no identity check", which would allow.
///
/// The case is decided as a caller holding an empty set of identity policies, so `denied_by` and the
/// message are exactly the evaluator's own for "no layer allows": `identity` ("because no identity-based
/// policy allows the A action") for a named caller, `resource` for `anonymous`, whom only a resource
/// policy can allow.
fn without_policies_nothing_is_allowed(layers: PolicyLayers<'_>) -> PolicyLayers<'_> {
    match layers {
        PolicyLayers { endpoint: None, identity: None, resource: None } => {
            PolicyLayers { identity: Some(&[]), ..layers }
        }
        given => given,
    }
}

fn invalid(message: String) -> CaseError {
    CaseError::Invalid(message)
}

/// A member that is present and not `null`.
fn optional<'a>(root: &'a Spanned, key: &str) -> Option<&'a Spanned> {
    root.get(key).filter(|v| v.value != Json::Null)
}

/// A policy given inline as an object, or as a string holding policy text.
fn policy(node: &Spanned, field: &str) -> Result<Policy, CaseError> {
    let parsed = match &node.value {
        Json::String(text) => Policy::parse(text),
        _ => Policy::from_json(node),
    };
    parsed.map_err(|e| invalid(format!("{field}: {e}")))
}

fn request(node: &Spanned) -> Result<AuthzRequest, CaseError> {
    let Json::Object(members) = &node.value else {
        return Err(invalid(format!("{}: request must be an object", node.pos)));
    };
    const KEYS: [&str; 5] = ["principal", "action", "resource", "resource_account", "context"];
    if let Some((k, _)) = members.iter().find(|(k, _)| !KEYS.contains(&k.name.as_str())) {
        return Err(invalid(format!("{}: unknown request field \"{}\"", k.pos, k.name)));
    }
    let text = |key: &str| -> Result<String, CaseError> {
        let v = node.get(key).ok_or_else(|| invalid(format!("{}: request has no \"{key}\"", node.pos)))?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("{}: request.{key} must be a string", v.pos)))
    };
    let resource_account = match optional(node, "resource_account") {
        None => None,
        Some(v) => {
            Some(scalar(v).ok_or_else(|| invalid(format!("{}: resource_account must be a string", v.pos)))?)
        }
    };
    let context = match optional(node, "context") {
        None => RequestContext::new(),
        Some(v) => context(v)?,
    };
    Ok(AuthzRequest {
        principal: text("principal")?,
        action: text("action")?,
        resource: text("resource")?,
        resource_account,
        context,
    })
}

/// String -> single value, array -> multivalued, numbers and booleans -> their text.
fn context(node: &Spanned) -> Result<RequestContext, CaseError> {
    let Json::Object(members) = &node.value else {
        return Err(invalid(format!("{}: request.context must be an object", node.pos)));
    };
    let mut context = RequestContext::new();
    for (key, value) in members {
        let bad = || {
            invalid(format!(
                "{}: context key \"{}\" needs a string, number, boolean or array",
                value.pos, key.name
            ))
        };
        let parsed = match &value.value {
            Json::Array(items) => {
                ContextValue::Multi(items.iter().map(scalar).collect::<Option<_>>().ok_or_else(bad)?)
            }
            _ => ContextValue::Single(scalar(value).ok_or_else(bad)?.into()),
        };
        context.insert(&key.name, parsed);
    }
    Ok(context)
}

fn scalar(node: &Spanned) -> Option<String> {
    match &node.value {
        Json::String(s) | Json::Number(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
