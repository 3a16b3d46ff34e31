//! Policy lint: findings with `LINE:COL`, going beyond IAM Access Analyzer, which has no VPC endpoint
//! policy type and accepts policies that silently grant nothing (`"Action": ""`, `"ecr:PutImage "`).
//!
//! Works on the positioned tree of [`json::parse`], not on the typed model, so one typo does not hide the
//! next and every finding points at the exact key, value or character. Each finding has a stable `code`
//! (listed in [`CODES`]) and a message that says what to write instead.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::actions::{self, Lookup};
use super::iam;
use super::iam_data::IAM_DATA_VERSION;
use super::json::{self, Json, Key, Pos, Spanned};
use super::matching::is_account_id;
use super::operators::{parse_operator, BaseOperator, OperatorError, ParsedOperator, BASE_OPERATORS};
use super::validate_login::login_not_allowed;
use super::variables::arn_prefix_len;

/// VPC endpoint policy size limit (AWS PrivateLink guide, "Control access to VPC endpoints using endpoint
/// policies"): 20,480 characters, white space included, so every character of the file is counted.
pub(crate) const ENDPOINT_POLICY_MAX_CHARS: usize = 20_480;
/// Managed policy size limit (IAM User Guide, "IAM and AWS STS quotas"): 6,144 characters, white space
/// not counted. Inline role policies may be larger, so exceeding it is a warning only.
pub(crate) const MANAGED_POLICY_MAX_CHARS: usize = 6_144;

const CURRENT_VERSION: &str = "2012-10-17";
const OLD_VERSION: &str = "2008-10-17";
const TOP_LEVEL: &[&str] = &super::document::POLICY_KEYS;
const STATEMENT: &[&str] = &super::document::STATEMENT_KEYS;
const PRINCIPAL_TYPES: &[&str] = &super::document::PRINCIPAL_TYPES;
const PARTITIONS: &[&str] =
    &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];
/// Where people copy the mistake from: the page of the AWS Containers blog post on ECR endpoint policies
/// prints `""` where its final policy had `"*"`.
const PUBLISHED_HINT: &str =
    "(the AWS Containers blog's ECR endpoint policy, as its page prints it, has \"\" where \"*\" was lost)";

/// Every finding code `validate` can emit, for documentation and the CLI tests.
#[cfg(test)]
pub(crate) const CODES: &[&str] = &[
    "json-syntax",
    "duplicate-key",
    "not-an-object",
    "type-mismatch",
    "unknown-element",
    "missing-version",
    "old-version",
    "invalid-version",
    "missing-statement",
    "conflicting-elements",
    "missing-effect",
    "invalid-effect",
    "missing-principal",
    "principal-not-allowed",
    "invalid-principal",
    "allow-with-notprincipal",
    "missing-action",
    "invalid-action",
    "unknown-action",
    "deny-all-actions",
    "missing-resource",
    "invalid-arn",
    "empty-value",
    "whitespace",
    "duplicate-sid",
    "invalid-sid",
    "unknown-operator",
    "null-if-exists",
    "unknown-condition-key",
    "single-valued-operator-on-multivalued-key",
    "registry-action-needs-star",
    "ecr-login-not-allowed",
    "variable-needs-version",
    "variable-in-arn-prefix",
    "policy-too-large",
];

/// Which policy type the text is, because the Principal rules are opposite for identity and endpoint
/// policies and the size limit differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A VPC endpoint policy: Principal required, Resource required, 20,480 characters at most.
    Endpoint,
    /// An identity-based policy (user, group, role): Principal forbidden, Resource required.
    Identity,
    /// A resource-based policy such as an ECR repository policy: Principal required, Resource optional
    /// (the resource is the one the policy is attached to).
    Resource,
}

/// How bad a finding is; errors make `validate` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// AWS rejects the policy, or it cannot do what it was written for.
    Error,
    /// Accepted and possibly intended, but likely a mistake or a risk.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One lint result, located at the key, value or character it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Line and column (1-based, columns in characters).
    pub pos: Pos,
    /// Error or warning.
    pub severity: Severity,
    /// Stable identifier, one of [`CODES`].
    pub code: &'static str,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// Lints one policy text; findings sorted by position (stable for equal positions).
pub(crate) fn validate(text: &str, kind: PolicyKind) -> Vec<Finding> {
    let doc = match json::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let code = if e.message.starts_with("duplicate key") { "duplicate-key" } else { "json-syntax" };
            return vec![Finding { pos: e.pos, severity: Severity::Error, code, message: e.message }];
        }
    };
    let mut lint = Lint::new(text, kind);
    lint.size(text);
    lint.document(&doc);
    let mut findings = lint.findings;
    if let Some((pos, message)) = login_not_allowed(&doc).filter(|_| kind == PolicyKind::Endpoint) {
        let code = "ecr-login-not-allowed";
        findings.push(Finding { pos, severity: Severity::Warning, code, message });
    }
    findings.sort_by_key(|f| (f.pos.line, f.pos.col));
    findings
}

/// Guesses the policy kind of a file for `--kind auto`: a policy naming a Principal anywhere is an
/// endpoint policy, or a resource policy when no statement has Resource/NotResource (ECR repository
/// policies omit it); one without Principal is an endpoint policy when the file name contains
/// `endpoint` or `vpce` (so a forgotten Principal is reported), otherwise an identity policy.
pub(crate) fn detect_kind(path: &Path, text: &str) -> PolicyKind {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let named_endpoint = name.contains("endpoint") || name.contains("vpce");
    let Ok(doc) = json::parse(text) else {
        return if named_endpoint { PolicyKind::Endpoint } else { PolicyKind::Identity };
    };
    let statements = statement_list(&doc);
    let has = |keys: [&str; 2]| statements.iter().any(|s| keys.iter().any(|k| s.get(k).is_some()));
    match (has(["Principal", "NotPrincipal"]), has(["Resource", "NotResource"])) {
        (true, false) if !named_endpoint => PolicyKind::Resource,
        (true, _) => PolicyKind::Endpoint,
        (false, _) if named_endpoint => PolicyKind::Endpoint,
        (false, _) => PolicyKind::Identity,
    }
}

fn statement_list(doc: &Spanned) -> Vec<&Spanned> {
    match doc.get("Statement").map(|s| &s.value) {
        Some(Json::Array(items)) => items.iter().collect(),
        Some(Json::Object(_)) => doc.get("Statement").into_iter().collect(),
        _ => Vec::new(),
    }
}

fn member<'a>(object: &'a Spanned, name: &str) -> Option<(&'a Key, &'a Spanned)> {
    match &object.value {
        Json::Object(members) => members.iter().find(|(k, _)| k.name == name).map(|(k, v)| (k, v)),
        _ => None,
    }
}

/// The strings of a string-or-array element, or `Err` with the first non-string value.
fn strings(value: &Spanned) -> Result<Vec<(&str, &Spanned)>, &Spanned> {
    match &value.value {
        Json::String(s) => Ok(vec![(s.as_str(), value)]),
        Json::Array(items) => items.iter().map(|item| item.as_str().map(|s| (s, item)).ok_or(item)).collect(),
        _ => Err(value),
    }
}

struct Lint<'t> {
    lines: Vec<&'t str>,
    kind: PolicyKind,
    variables_allowed: bool,
    sids: HashMap<String, Pos>,
    findings: Vec<Finding>,
}

impl<'t> Lint<'t> {
    fn new(text: &'t str, kind: PolicyKind) -> Self {
        Lint {
            lines: text.split('\n').collect(),
            kind,
            variables_allowed: true,
            sids: HashMap::new(),
            findings: Vec::new(),
        }
    }

    fn error(&mut self, pos: Pos, code: &'static str, message: String) {
        self.findings.push(Finding { pos, severity: Severity::Error, code, message });
    }

    fn warning(&mut self, pos: Pos, code: &'static str, message: String) {
        self.findings.push(Finding { pos, severity: Severity::Warning, code, message });
    }

    /// The position of the `index`-th character inside a string value; the value's own position when the
    /// source spells the string with escapes (then source and text columns differ).
    fn char_pos(&self, value: &Spanned, index: usize) -> Pos {
        let line = self.lines.get(value.pos.line as usize - 1).copied().unwrap_or("");
        let plain = line.chars().skip(value.pos.col as usize).take_while(|c| *c != '\\' && *c != '"');
        if plain.count() > index {
            return Pos { line: value.pos.line, col: value.pos.col + 1 + index as u32 };
        }
        value.pos
    }

    fn size(&mut self, text: &str) {
        let start = Pos { line: 1, col: 1 };
        match self.kind {
            PolicyKind::Endpoint => {
                let n = text.chars().count();
                if n > ENDPOINT_POLICY_MAX_CHARS {
                    self.error(start, "policy-too-large", format!(
                        "the policy has {n} characters; a VPC endpoint policy may have at most {ENDPOINT_POLICY_MAX_CHARS}, \
                         white space included: remove indentation or merge statements"
                    ));
                }
            }
            PolicyKind::Identity => {
                let n = text.chars().filter(|c| !c.is_whitespace()).count();
                if n > MANAGED_POLICY_MAX_CHARS {
                    self.warning(start, "policy-too-large", format!(
                        "the policy has {n} characters besides white space; a managed policy may have at most \
                         {MANAGED_POLICY_MAX_CHARS}: split it into several policies"
                    ));
                }
            }
            PolicyKind::Resource => {}
        }
    }

    fn document(&mut self, doc: &Spanned) {
        let Json::Object(members) = &doc.value else {
            let found = doc.value.type_name();
            let message = format!(
                "a policy is a JSON object {{\"Version\": ..., \"Statement\": [...]}}, found {found}"
            );
            return self.error(doc.pos, "not-an-object", message);
        };
        for (key, _) in members {
            self.known_element(key, TOP_LEVEL, "the policy");
        }
        self.version(doc);
        if let Some(id) = doc.get("Id").filter(|id| id.as_str().is_none()) {
            let message = format!("Id must be a string, found {}", id.value.type_name());
            self.error(id.pos, "type-mismatch", message);
        }
        match doc.get("Statement") {
            None => self.error(
                doc.pos,
                "missing-statement",
                "the policy has no Statement: add \"Statement\": [...]".into(),
            ),
            Some(statements) => self.statements(statements),
        }
    }

    fn known_element(&mut self, key: &Key, allowed: &[&str], owner: &str) {
        if allowed.contains(&key.name.as_str()) {
            return;
        }
        let message = match actions::closest(&key.name, allowed.iter().copied(), 2) {
            Some(right) => format!("unknown element \"{}\" in {owner}: write \"{right}\"", key.name),
            None => format!(
                "unknown element \"{}\" in {owner}; the elements are {}",
                key.name,
                allowed.join(", ")
            ),
        };
        self.error(key.pos, "unknown-element", message);
    }

    fn version(&mut self, doc: &Spanned) {
        let Some(version) = doc.get("Version") else {
            self.variables_allowed = false;
            let message =
                "no Version: IAM then applies 2008-10-17 rules, where policy variables are plain text; \
                           add \"Version\": \"2012-10-17\"";
            return self.warning(doc.pos, "missing-version", message.into());
        };
        match version.as_str() {
            Some(CURRENT_VERSION) => {}
            Some(OLD_VERSION) => {
                self.variables_allowed = false;
                let message = "Version 2008-10-17 does not support policy variables: write \"2012-10-17\"";
                self.warning(version.pos, "old-version", message.into());
            }
            other => {
                let shown =
                    other.map_or_else(|| version.value.type_name().to_string(), |s| format!("\"{s}\""));
                let message = format!(
                    "Version {shown} is not a policy language version (it is not the date you wrote the policy): \
                     write \"2012-10-17\""
                );
                self.error(version.pos, "invalid-version", message);
            }
        }
    }

    fn statements(&mut self, statements: &Spanned) {
        match &statements.value {
            Json::Object(_) => self.statement(statements),
            Json::Array(items) if items.is_empty() => {
                let message =
                    "Statement is an empty array: the policy allows nothing; add a statement".into();
                self.error(statements.pos, "missing-statement", message);
            }
            Json::Array(items) => items.iter().for_each(|item| self.statement(item)),
            other => {
                let message = format!(
                    "Statement must be an object or an array of objects, found {}",
                    other.type_name()
                );
                self.error(statements.pos, "type-mismatch", message);
            }
        }
    }

    fn statement(&mut self, st: &Spanned) {
        let Json::Object(members) = &st.value else {
            let message = format!("a statement is a JSON object, found {}", st.value.type_name());
            return self.error(st.pos, "not-an-object", message);
        };
        for (key, _) in members {
            self.known_element(key, STATEMENT, "a statement");
        }
        self.sid(st);
        let allow = self.effect(st);
        self.principal(st, allow);
        self.actions(st, allow);
        self.resources(st);
        if let Some(condition) = st.get("Condition") {
            self.condition(condition);
        }
    }

    /// The element of a positive/negative pair (`Action`/`NotAction` ...), reporting both or neither.
    fn one_of<'s>(&mut self, st: &'s Spanned, pair: [&str; 2]) -> Option<(&'s Key, &'s Spanned)> {
        match (member(st, pair[0]), member(st, pair[1])) {
            (Some(_), Some((key, _))) => {
                let message =
                    format!("a statement has either {} or {}, not both: remove one", pair[0], pair[1]);
                self.error(key.pos, "conflicting-elements", message);
                None
            }
            (one, other) => one.or(other),
        }
    }

    fn sid(&mut self, st: &Spanned) {
        let Some(sid) = st.get("Sid") else { return };
        let Some(text) = sid.as_str() else {
            let message = format!("Sid must be a string, found {}", sid.value.type_name());
            return self.error(sid.pos, "type-mismatch", message);
        };
        if let Some(first) = self.sids.get(text) {
            let message =
                format!("Sid \"{text}\" is already used at {first}: Sids must be unique in a policy");
            self.error(sid.pos, "duplicate-sid", message);
        } else {
            self.sids.insert(text.to_string(), sid.pos);
        }
        if self.kind == PolicyKind::Identity && !text.chars().all(|c| c.is_ascii_alphanumeric()) {
            let fixed: String = text.chars().filter(char::is_ascii_alphanumeric).collect();
            let message = format!("IAM accepts only A-Z, a-z and 0-9 in a Sid: write \"{fixed}\"");
            self.error(sid.pos, "invalid-sid", message);
        }
    }

    /// Checks Effect; returns whether the statement allows (`None` when Effect is unusable).
    fn effect(&mut self, st: &Spanned) -> Option<bool> {
        let Some(effect) = st.get("Effect") else {
            self.error(
                st.pos,
                "missing-effect",
                "the statement has no Effect: add \"Effect\": \"Allow\" or \"Deny\"".into(),
            );
            return None;
        };
        match effect.as_str() {
            Some("Allow") => Some(true),
            Some("Deny") => Some(false),
            Some(other) => {
                let fix = if other.trim().eq_ignore_ascii_case("deny") { "Deny" } else { "Allow" };
                let message =
                    format!("Effect \"{other}\" is neither \"Allow\" nor \"Deny\": write \"{fix}\"");
                self.error(effect.pos, "invalid-effect", message);
                None
            }
            None => {
                let message = format!(
                    "Effect must be the string \"Allow\" or \"Deny\", found {}",
                    effect.value.type_name()
                );
                self.error(effect.pos, "invalid-effect", message);
                None
            }
        }
    }

    fn principal(&mut self, st: &Spanned, allow: Option<bool>) {
        let found = self.one_of(st, ["Principal", "NotPrincipal"]);
        let both = st.get("Principal").is_some() && st.get("NotPrincipal").is_some();
        match (self.kind, found) {
            (PolicyKind::Identity, Some((key, _))) => {
                let message = format!(
                    "an identity-based policy applies to whoever it is attached to and cannot name a {}: \
                     remove it (or lint this file with --kind endpoint)",
                    key.name
                );
                self.error(key.pos, "principal-not-allowed", message);
            }
            (PolicyKind::Identity, None) => {}
            (_, None) if !both => {
                let message = "the statement has no Principal, which this policy type requires: \
                               add \"Principal\": \"*\" to apply it to every caller, or name the principals";
                self.error(st.pos, "missing-principal", message.into());
            }
            (_, None) => {}
            (_, Some((key, value))) => {
                if key.name == "NotPrincipal" && allow == Some(true) {
                    let message = "Allow with NotPrincipal grants to every principal except those listed, \
                                   anonymous callers included: use \"Principal\" with the principals to allow";
                    self.warning(key.pos, "allow-with-notprincipal", message.into());
                }
                self.principal_value(&key.name, value);
            }
        }
    }

    fn principal_value(&mut self, element: &str, value: &Spanned) {
        match &value.value {
            Json::String(s) if s.is_empty() => self.empty(element, value),
            Json::String(s) if self.whitespace(element, s, value) => {}
            Json::String(s) if s == "*" => {}
            Json::String(s) => {
                let message = format!("{element} as a string can only be \"*\": write {{\"AWS\": \"{s}\"}}");
                self.error(value.pos, "invalid-principal", message);
            }
            Json::Object(members) => {
                if members.is_empty() {
                    self.empty(element, value);
                }
                for (key, ids) in members {
                    self.principal_type(element, key, ids);
                }
            }
            other => {
                let message = format!(
                    "{element} must be \"*\" or an object such as {{\"AWS\": [...]}}, found {}",
                    other.type_name()
                );
                self.error(value.pos, "type-mismatch", message);
            }
        }
    }

    fn principal_type(&mut self, element: &str, key: &Key, ids: &Spanned) {
        if !PRINCIPAL_TYPES.contains(&key.name.as_str()) {
            let message = match actions::closest(&key.name, PRINCIPAL_TYPES.iter().copied(), 2) {
                Some(right) => format!("unknown principal type \"{}\": write \"{right}\"", key.name),
                None => format!(
                    "unknown principal type \"{}\"; the types are {}",
                    key.name,
                    PRINCIPAL_TYPES.join(", ")
                ),
            };
            return self.error(key.pos, "invalid-principal", message);
        }
        let label = format!("{element}.{}", key.name);
        let Some(list) = self.string_list(&label, ids) else { return };
        for (id, value) in list {
            if id.is_empty() {
                self.empty(&label, value);
            } else if !self.whitespace(&label, id, value) && key.name == "AWS" {
                self.aws_principal(id, value);
            }
        }
    }

    fn aws_principal(&mut self, id: &str, value: &Spanned) {
        if id == "*" || is_account_id(id) {
            return;
        }
        if id.starts_with("arn:") {
            return self.arn(id, value);
        }
        let message = format!(
            "\"{id}\" is not a principal: write a 12-digit account id, an ARN such as \
             arn:aws:iam::111122223333:role/NAME, or \"*\""
        );
        self.error(value.pos, "invalid-principal", message);
    }

    /// The strings of an element, reporting a wrong type or an empty array; `None` when unusable.
    fn string_list<'v>(&mut self, element: &str, value: &'v Spanned) -> Option<Vec<(&'v str, &'v Spanned)>> {
        match strings(value) {
            Ok(list) if list.is_empty() => {
                self.empty(element, value);
                None
            }
            Ok(list) => Some(list),
            Err(bad) => {
                let message = format!(
                    "{element} must be a string or an array of strings, found {}",
                    bad.value.type_name()
                );
                self.error(bad.pos, "type-mismatch", message);
                None
            }
        }
    }

    fn empty(&mut self, element: &str, value: &Spanned) {
        let what = match element.trim_start_matches("Not") {
            "Action" => "every action",
            "Resource" => "every resource",
            _ => "every principal",
        };
        let message = format!(
            "empty {element}: IAM matches nothing with it; write \"*\" for {what} {PUBLISHED_HINT}, or name them"
        );
        self.error(value.pos, "empty-value", message);
    }

    /// Reports white space inside a name or ARN (IAM then matches nothing); true when reported.
    fn whitespace(&mut self, element: &str, text: &str, value: &Spanned) -> bool {
        let Some(index) = text.chars().position(char::is_whitespace) else { return false };
        let fixed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let message =
            format!("{element} \"{text}\" contains white space, so it matches nothing: write \"{fixed}\"");
        let pos = self.char_pos(value, index);
        self.error(pos, "whitespace", message);
        true
    }

    fn actions(&mut self, st: &Spanned, allow: Option<bool>) {
        let Some((key, value)) = self.one_of(st, ["Action", "NotAction"]) else {
            if st.get("Action").is_none() {
                let message = "the statement has no Action: add \"Action\": [...] naming the actions, e.g. \"ecr:BatchGetImage\"";
                self.error(st.pos, "missing-action", message.into());
            }
            return;
        };
        let Some(list) = self.string_list(&key.name, value) else { return };
        if allow == Some(true) && key.name == "Action" {
            self.registry_actions(st, &list);
        }
        for (action, item) in list {
            if action.is_empty() {
                self.empty(&key.name, item);
            } else if !self.whitespace(&key.name, action, item) {
                self.action(action, item);
                if action == "*"
                    && allow == Some(false)
                    && key.name == "Action"
                    && st.get("Condition").is_none()
                {
                    let message =
                        "Deny with \"Action\": \"*\" and no Condition refuses every action to the matched \
                                   principals and resources: name the actions to deny, or add a Condition";
                    self.warning(item.pos, "deny-all-actions", message.into());
                }
            }
        }
    }

    /// Registry-level ECR actions are authorized on `*`: granting them on repository ARNs grants nothing.
    fn registry_actions(&mut self, st: &Spanned, list: &[(&str, &Spanned)]) {
        let Some(resource) = st.get("Resource") else { return };
        let Ok(resources) = strings(resource) else { return };
        if resources.iter().any(|(r, _)| *r == "*") {
            return;
        }
        for (action, item) in list {
            let name = action.split_once(':').filter(|(s, _)| s.eq_ignore_ascii_case("ecr")).map(|(_, n)| n);
            if let Some(name) = name.filter(|n| actions::ecr_needs_star(n)) {
                let message = format!(
                    "ecr:{name} is a registry-level action that IAM authorizes on resource \"*\", so this statement's \
                     Resource never matches it: move it to a statement with \"Resource\": \"*\""
                );
                self.warning(item.pos, "registry-action-needs-star", message);
            }
        }
    }

    fn action(&mut self, action: &str, value: &Spanned) {
        if action == "*" {
            return;
        }
        let Some((service, name)) = action.split_once(':') else {
            let message = format!(
                "action \"{action}\" has no service prefix: write SERVICE:ACTION, e.g. \"ecr:{action}\""
            );
            return self.error(value.pos, "invalid-action", message);
        };
        let prefix_ok = !service.is_empty() && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !prefix_ok || name.is_empty() || name.contains(':') {
            let message = format!("action \"{action}\" is not SERVICE:ACTION, e.g. \"ecr:PutImage\"");
            return self.error(value.pos, "invalid-action", message);
        }
        match actions::lookup(service, name) {
            Lookup::OtherService | Lookup::Known => {}
            Lookup::WildcardMatchesNothing => {
                let message = format!("\"{action}\" matches no known {service} action; check the spelling");
                self.warning(value.pos, "unknown-action", message);
            }
            Lookup::Unknown(Some(right)) => {
                let message = format!(
                    "unknown action \"{action}\", so the statement never applies to it: write \"{right}\""
                );
                self.error(value.pos, "unknown-action", message);
            }
            Lookup::Unknown(None) => {
                let message =
                    format!("\"{action}\" is not an action in {IAM_DATA_VERSION}; check the spelling");
                self.warning(value.pos, "unknown-action", message);
            }
        }
    }

    fn resources(&mut self, st: &Spanned) {
        let Some((key, value)) = self.one_of(st, ["Resource", "NotResource"]) else {
            if st.get("Resource").is_none() && self.kind != PolicyKind::Resource {
                let message =
                    "the statement has no Resource: add \"Resource\": \"*\" or the ARNs it applies to";
                self.error(st.pos, "missing-resource", message.into());
            }
            return;
        };
        let Some(list) = self.string_list(&key.name, value) else { return };
        for (resource, item) in list {
            if resource.is_empty() {
                self.empty(&key.name, item);
            } else if !self.whitespace(&key.name, resource, item) {
                let prefix = arn_prefix_len(resource);
                self.variable_in_arn_prefix(&key.name, resource, prefix, item);
                self.variables(resource, prefix, item);
                if resource != "*" {
                    self.arn(resource, item);
                }
            }
        }
    }

    fn arn(&mut self, arn: &str, value: &Spanned) {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let flexible = |part: &str| part.contains(['*', '?']) || part.contains("${");
        let problem = if parts.len() < 6 {
            Some(format!(
                "has {} parts; an ARN has six: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, \
                 e.g. arn:aws:ecr:us-east-1:111122223333:repository/NAME",
                parts.len()
            ))
        } else if parts[0] != "arn" {
            Some("does not start with \"arn:\"".to_string())
        } else if !PARTITIONS.contains(&parts[1]) && !flexible(parts[1]) {
            let guess = actions::closest(parts[1], PARTITIONS.iter().copied(), 3).unwrap_or("aws");
            Some(format!("has partition \"{}\": write \"{guess}\"", parts[1]))
        } else if parts[2].is_empty() {
            Some("has no service: write e.g. \"ecr\" or \"s3\" after the partition".to_string())
        } else if !valid_account(parts[4]) && !flexible(parts[4]) {
            Some(format!("has account \"{}\": write the 12-digit account id, or leave it empty", parts[4]))
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error(value.pos, "invalid-arn", format!("ARN \"{arn}\" {problem}"));
        }
    }

    /// Flags `${...}` under a Version where IAM does not substitute variables; only from byte `from` on,
    /// since a variable before it is already reported as `variable-in-arn-prefix`, which no Version fixes.
    fn variables(&mut self, text: &str, from: usize, value: &Spanned) {
        if self.variables_allowed {
            return;
        }
        let Some(byte) = text[from..].find("${").map(|at| from + at) else { return };
        let end = text[byte..].find('}').map_or(text.len(), |e| byte + e + 1);
        let message = format!(
            "{} is a policy variable, but without \"Version\": \"2012-10-17\" IAM matches it as literal text: \
             set the Version to 2012-10-17",
            &text[byte..end]
        );
        let pos = self.char_pos(value, text[..byte].chars().count());
        self.error(pos, "variable-needs-version", message);
    }

    /// Flags a `${...}` in the `arn:partition:service:region:account:` prefix of a Resource entry. IAM
    /// substitutes variables only in the resource part (IAM User Guide, "IAM policy elements: Variables
    /// and tags", where you can use policy variables) and compares this text as written. An error, not a
    /// warning: the entry then matches no real ARN, so a Resource entry grants or denies nothing and a
    /// NotResource entry excludes nothing, which widens the statement to every resource.
    fn variable_in_arn_prefix(&mut self, element: &str, arn: &str, prefix_len: usize, value: &Spanned) {
        let Some(byte) = arn[..prefix_len].find("${") else { return };
        let end = arn[byte..].find('}').map_or(arn.len(), |e| byte + e + 1);
        let segments = ["ARN", "partition", "service", "region", "account"];
        let segment = segments[arn[..byte].matches(':').count().min(4)];
        let effect = if element == "NotResource" { "excludes nothing" } else { "matches no real resource" };
        let message = format!(
            "{} is in the {segment} part of the {element} ARN, where IAM does not substitute variables: it is \
             compared as literal text, so the entry {effect}; write the {segment} or \"*\" there, and compare \
             the value in a Condition if needed (e.g. aws:ResourceAccount, aws:RequestedRegion)",
            &arn[byte..end]
        );
        let pos = self.char_pos(value, arn[..byte].chars().count());
        self.error(pos, "variable-in-arn-prefix", message);
    }

    fn condition(&mut self, condition: &Spanned) {
        let Json::Object(operators) = &condition.value else {
            let message =
                format!("Condition must be an object of operators, found {}", condition.value.type_name());
            return self.error(condition.pos, "type-mismatch", message);
        };
        for (operator, block) in operators {
            let parsed = self.operator(operator);
            let Json::Object(keys) = &block.value else {
                let message = format!(
                    "the {} block must be an object of condition keys to values, found {}",
                    operator.name,
                    block.value.type_name()
                );
                self.error(block.pos, "type-mismatch", message);
                continue;
            };
            for (key, values) in keys {
                self.condition_key(key);
                if let Some(op) = parsed {
                    self.operator_fits_key(op, operator, key);
                }
                self.condition_values(values);
            }
        }
    }

    /// A plain operator on a multivalued key (`StringEquals` on `aws:TagKeys`): AWS does not document
    /// whether it matches when any value matches, all do, or only single-valued requests.
    fn operator_fits_key(&mut self, op: ParsedOperator, operator: &Key, key: &Key) {
        let multivalued = iam::find_key(&key.name).is_some_and(|k| k.kind.is_multivalued());
        if op.set.is_some() || op.base == BaseOperator::Null || !multivalued {
            return;
        }
        let message = format!(
            "{} on the multivalued key \"{}\" has no documented result: write \"ForAnyValue:{}\" or \"ForAllValues:{}\"",
            operator.name, key.name, operator.name, operator.name
        );
        self.warning(key.pos, "single-valued-operator-on-multivalued-key", message);
    }

    fn operator(&mut self, operator: &Key) -> Option<ParsedOperator> {
        match parse_operator(&operator.name) {
            Ok(op) => return Some(op),
            Err(OperatorError::NullIfExists) => {
                let message = "Null already tests whether the key is absent, so NullIfExists is rejected: write \"Null\"";
                self.error(operator.pos, "null-if-exists", message.into());
            }
            Err(OperatorError::Unknown(name)) => {
                let base = name.rsplit(':').next().unwrap_or(&name);
                let base = base.strip_suffix("IfExists").unwrap_or(base);
                let names = BASE_OPERATORS.iter().map(|(n, _)| *n);
                let message = match actions::closest(base, names, 3) {
                    Some(right) => format!(
                        "unknown condition operator \"{name}\": write \"{}\"",
                        name.replacen(base, right, 1)
                    ),
                    None => format!("unknown condition operator \"{name}\"; see the IAM condition operators"),
                };
                self.error(operator.pos, "unknown-operator", message);
            }
        }
        None
    }

    fn condition_key(&mut self, key: &Key) {
        let global = key.name.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"));
        let kind = if global { "global" } else { "service" };
        match actions::lookup_condition_key(&key.name) {
            Lookup::Unknown(Some(right)) if global => {
                let message = format!(
                    "unknown global condition key \"{}\": it is absent from every request; write \"{right}\"",
                    key.name
                );
                self.error(key.pos, "unknown-condition-key", message);
            }
            Lookup::Unknown(Some(right)) => {
                let message = format!(
                    "unknown service condition key \"{}\": it is absent from every request; did you mean \"{right}\"?",
                    key.name
                );
                self.warning(key.pos, "unknown-condition-key", message);
            }
            Lookup::Unknown(None) => {
                let message = format!(
                    "\"{}\" is not a {kind} condition key in {IAM_DATA_VERSION}; an absent key never equals a value",
                    key.name
                );
                self.warning(key.pos, "unknown-condition-key", message);
            }
            _ => {}
        }
    }

    fn condition_values(&mut self, values: &Spanned) {
        let items: Vec<&Spanned> = match &values.value {
            Json::Array(items) => items.iter().collect(),
            _ => vec![values],
        };
        for item in items {
            match &item.value {
                Json::String(s) => self.variables(s, 0, item),
                Json::Bool(_) | Json::Number(_) => {}
                other => {
                    let message = format!(
                        "a condition value is a string, number or boolean, found {}",
                        other.type_name()
                    );
                    self.error(item.pos, "type-mismatch", message);
                }
            }
        }
    }
}

/// Account field of an ARN: empty (S3 buckets, IAM-less services), 12 digits, or `aws` (AWS managed policies).
fn valid_account(account: &str) -> bool {
    account.is_empty() || account == "aws" || is_account_id(account)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
