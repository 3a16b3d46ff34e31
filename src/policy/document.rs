//! Policy text -> a typed, compiled [`Policy`].
//!
//! Grammar: IAM User Guide, "IAM JSON policy element reference" and "Grammar of the IAM JSON policy
//! language". Every element may be a string or an array where the grammar allows it; duplicate keys and
//! unknown elements are errors, because AWS rejects such policies and silently ignoring a typo such as
//! `"Conditon"` would widen access.

use super::condition::Condition;
pub(crate) use super::error::PolicyError;
use super::json::{self, Json, Pos, Spanned};
use super::matching::{is_account_id, Glob, ResourcePattern};
use super::variables::{self, Template};

/// A parsed and compiled policy document, ready for evaluation without further allocation.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
    /// The text it was parsed from, shown by the decision viewer; `None` when compiled from a JSON tree.
    pub(crate) source: Option<std::sync::Arc<str>>,
}

/// The policy language version; only `2012-10-17` enables `${...}` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`, the current language.
    V2012_10_17,
    /// `2008-10-17`, or no Version element at all.
    V2008_10_17,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement refuses, overriding any grant.
    Deny,
}

/// One compiled statement.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `None`: no Principal element (identity policies), which matches every caller.
    pub(crate) principal: Option<PrincipalMatch>,
    pub(crate) actions: Negatable<Vec<Glob>>,
    /// `None`: no Resource element (resource policies, where the resource is implied).
    pub(crate) resources: Option<Negatable<Vec<ResourceEntry>>>,
    pub(crate) condition: Condition,
    /// First and last line of the statement in the policy text (1-based, inclusive).
    pub(crate) lines: (u32, u32),
}

/// `Action` vs `NotAction` (and the same for Resource and Principal).
#[derive(Debug, Clone)]
pub(crate) struct Negatable<T> {
    pub(crate) negated: bool,
    pub(crate) items: T,
}

/// A Resource entry: a compiled pattern, or one with variables resolved per request.
#[derive(Debug, Clone)]
pub(crate) enum ResourceEntry {
    Static(ResourcePattern),
    Dynamic(Template),
}

/// A compiled Principal or NotPrincipal element.
#[derive(Debug, Clone)]
pub(crate) struct PrincipalMatch {
    pub(crate) negated: bool,
    pub(crate) entries: Vec<PrincipalEntry>,
}

/// One principal the policy names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous included.
    Anyone,
    /// `"111122223333"` or `arn:aws:iam::111122223333:root`: every principal of the account. In a resource
    /// policy it delegates to the account's identity policies instead of granting by itself; whether a
    /// request was reached only through such entries is decided per request, in `evaluate`.
    Account(Box<str>),
    /// An IAM role ARN; also matches the role's sessions (`arn:aws:sts::ACCT:assumed-role/NAME/...`).
    Role { arn: Box<str>, account: Box<str>, name: Box<str> },
    /// Any other ARN or identifier (user, session, service, federated, canonical user), exactly.
    Exact(Box<str>),
}

impl Policy {
    /// Parses policy text; errors are `LINE:COL: message`.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let root = json::parse(text).map_err(|e| PolicyError::at(e.pos, e.message))?;
        Ok(Policy { source: Some(text.into()), ..Policy::from_json(&root)? })
    }

    /// The AWS default endpoint policy: allow every principal every action on every resource.
    pub fn allow_all() -> Policy {
        let text =
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}"#;
        Policy::parse(text).unwrap_or_else(|e| unreachable!("the built-in default policy parses: {e}"))
    }

    /// Compiles an already parsed JSON tree (positions are those of the enclosing text).
    pub fn from_json(root: &Spanned) -> Result<Policy, PolicyError> {
        let members = object(root, "a policy")?;
        check_keys(members, &POLICY_KEYS)?;
        let version = match root.get("Version") {
            None => Version::V2008_10_17,
            Some(v) => match v.as_str() {
                Some("2012-10-17") => Version::V2012_10_17,
                Some("2008-10-17") => Version::V2008_10_17,
                _ => return Err(PolicyError::at(v.pos, "Version must be \"2012-10-17\" or \"2008-10-17\"")),
            },
        };
        let id = root.get("Id").map(|v| string(v, "Id")).transpose()?.map(str::to_string);
        let statement =
            root.get("Statement").ok_or_else(|| PolicyError::at(root.pos, "missing Statement"))?;
        let nodes: Vec<&Spanned> = match &statement.value {
            Json::Array(items) => items.iter().collect(),
            _ => vec![statement],
        };
        let vars = version == Version::V2012_10_17;
        let statements = nodes.into_iter().map(|n| compile_statement(n, vars)).collect::<Result<_, _>>()?;
        Ok(Policy { version, id, statements, source: None })
    }

    /// The language version in force (absent means `2008-10-17`).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The optional Id element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// How many statements the policy has.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

/// The principal types a `Principal` object may name.
pub(crate) const PRINCIPAL_TYPES: [&str; 4] = ["AWS", "Service", "Federated", "CanonicalUser"];

/// The elements a policy document may have; anything else is an error, as IAM rejects it.
pub(crate) const POLICY_KEYS: [&str; 3] = ["Version", "Id", "Statement"];

/// The elements a statement may have ("IAM JSON policy element reference").
pub(crate) const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn compile_statement(node: &Spanned, vars: bool) -> Result<Statement, PolicyError> {
    let members = object(node, "a statement")?;
    check_keys(members, &STATEMENT_KEYS)?;
    let sid = node.get("Sid").map(|v| string(v, "Sid")).transpose()?.map(str::to_string);
    let effect_node =
        node.get("Effect").ok_or_else(|| PolicyError::at(node.pos, "statement has no Effect"))?;
    let effect = match effect_node.as_str() {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(PolicyError::at(effect_node.pos, "Effect must be \"Allow\" or \"Deny\"")),
    };
    let principal = match either(node, "Principal", "NotPrincipal")? {
        None => None,
        Some((negated, v)) => Some(compile_principal(v, negated)?),
    };
    let (negated, action_node) = either(node, "Action", "NotAction")?
        .ok_or_else(|| PolicyError::at(node.pos, "statement has no Action or NotAction"))?;
    let actions = strings(action_node, "Action")?
        .into_iter()
        .map(|(a, pos)| compile_action(a, pos))
        .collect::<Result<Vec<_>, _>>()?;
    let resources = match either(node, "Resource", "NotResource")? {
        None => None,
        Some((negated, v)) => {
            let items = strings(v, "Resource")?
                .into_iter()
                .map(|(r, pos)| match r {
                    "" => Err(PolicyError::at(pos, "empty Resource; did you mean \"*\"?")),
                    _ => Ok(match variables::compile_resource(r, vars) {
                        Some(t) => ResourceEntry::Dynamic(t),
                        None => ResourceEntry::Static(ResourcePattern::new(r)),
                    }),
                })
                .collect::<Result<_, _>>()?;
            Some(Negatable { negated, items })
        }
    };
    let condition = match node.get("Condition") {
        Some(c) => Condition::compile(c, vars)?,
        None => Condition::default(),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        actions: Negatable { negated, items: actions },
        resources,
        condition,
        lines: (node.pos.line, node.end_line),
    })
}

fn compile_action(action: &str, pos: Pos) -> Result<Glob, PolicyError> {
    if action.is_empty() {
        return Err(PolicyError::at(pos, "empty Action; did you mean \"*\"?"));
    }
    if action != "*" && !action.contains(':') {
        return Err(PolicyError::at(pos, format!("action `{action}` must be `service:Operation` or `*`")));
    }
    Ok(Glob::new(&action.to_ascii_lowercase()))
}

fn compile_principal(node: &Spanned, negated: bool) -> Result<PrincipalMatch, PolicyError> {
    let mut entries = Vec::new();
    match &node.value {
        Json::String(s) if s == "*" => entries.push(PrincipalEntry::Anyone),
        Json::String(s) if s.is_empty() => {
            return Err(PolicyError::at(node.pos, "empty Principal; did you mean \"*\"?"))
        }
        Json::Object(kinds) => {
            check_keys(kinds, &PRINCIPAL_TYPES)?;
            for (kind, value) in kinds {
                for (text, pos) in strings(value, &kind.name)? {
                    if text.is_empty() {
                        return Err(PolicyError::at(pos, format!("empty {} principal", kind.name)));
                    }
                    entries.push(match kind.name.as_str() {
                        "AWS" => aws_principal(text),
                        _ => PrincipalEntry::Exact(text.into()),
                    });
                }
            }
        }
        other => {
            let found = other.type_name();
            let msg = format!("Principal must be \"*\" or an object such as {{\"AWS\": ...}}, found {found}");
            return Err(PolicyError::at(node.pos, msg));
        }
    }
    Ok(PrincipalMatch { negated, entries })
}

/// Classifies one `"AWS"` principal value.
fn aws_principal(text: &str) -> PrincipalEntry {
    if text == "*" {
        return PrincipalEntry::Anyone;
    }
    if is_account_id(text) {
        return PrincipalEntry::Account(text.into());
    }
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    if let [_arn, _partition, "iam", "", account, resource] = parts[..] {
        if resource == "root" {
            return PrincipalEntry::Account(account.into());
        }
        if let Some(path_and_name) = resource.strip_prefix("role/") {
            let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
            return PrincipalEntry::Role { arn: text.into(), account: account.into(), name: name.into() };
        }
    }
    PrincipalEntry::Exact(text.into())
}

fn object<'a>(node: &'a Spanned, what: &str) -> Result<&'a [(json::Key, Spanned)], PolicyError> {
    match &node.value {
        Json::Object(members) => Ok(members),
        other => {
            Err(PolicyError::at(node.pos, format!("{what} must be an object, found {}", other.type_name())))
        }
    }
}

fn check_keys(members: &[(json::Key, Spanned)], allowed: &[&str]) -> Result<(), PolicyError> {
    match members.iter().find(|(k, _)| !allowed.contains(&k.name.as_str())) {
        Some((k, _)) => Err(PolicyError::at(k.pos, format!("unknown element \"{}\"", k.name))),
        None => Ok(()),
    }
}

fn string<'a>(node: &'a Spanned, what: &str) -> Result<&'a str, PolicyError> {
    node.as_str().ok_or_else(|| {
        PolicyError::at(node.pos, format!("{what} must be a string, found {}", node.value.type_name()))
    })
}

/// A string or a non-empty array of strings, each with its position.
fn strings<'a>(node: &'a Spanned, what: &str) -> Result<Vec<(&'a str, Pos)>, PolicyError> {
    match &node.value {
        Json::Array(items) if items.is_empty() => {
            Err(PolicyError::at(node.pos, format!("{what} is an empty list")))
        }
        Json::Array(items) => items.iter().map(|i| string(i, what).map(|s| (s, i.pos))).collect(),
        _ => Ok(vec![(string(node, what)?, node.pos)]),
    }
}

/// The element or its `Not` twin (never both).
fn either<'a>(node: &'a Spanned, yes: &str, not: &str) -> Result<Option<(bool, &'a Spanned)>, PolicyError> {
    match (node.get(yes), node.get(not)) {
        (Some(_), Some(n)) => {
            Err(PolicyError::at(n.pos, format!("a statement cannot have both {yes} and {not}")))
        }
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(n)) => Ok(Some((true, n))),
        (None, None) => Ok(None),
    }
}
