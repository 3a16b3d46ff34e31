//! The `Condition` element: operators, `...IfExists`, `ForAllValues:`/`ForAnyValue:` and `Null`.
//!
//! Rules (IAM User Guide, "IAM JSON policy elements: Condition operators", "Creating a condition with
//! multiple keys or values" and "Single-valued vs. multivalued context keys"):
//! - operators and keys within one Condition are ANDed; the values of one key are ORed, and NORed for a
//!   negated operator (`StringNotEquals` matches when no value matches);
//! - a missing key makes a condition false, except that negated operators, `...IfExists` and
//!   `ForAllValues:` are true and `Null: true` matches;
//! - `ForAllValues:` needs every request value to match (negated operators: to match none of the policy
//!   values), `ForAnyValue:` needs one.

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;

use super::error::PolicyError;
use super::facts::Facts;
use super::json::{Json, Spanned};
use super::matching::{escaped_resource_match, glob_match, Glob, ResourcePattern};
use super::operators::{parse_operator, BaseOperator, ParsedOperator, SetQualifier};
use super::variables::{self, Template};

/// Every test of one statement's `Condition` element; all must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Condition {
    entries: Vec<Entry>,
}

/// One operator applied to one key.
#[derive(Debug, Clone)]
struct Entry {
    op: ParsedOperator,
    key: Box<str>,
    values: Values,
    /// The operator, key and values as the policy wrote them, for the decision viewer's reasons.
    written: Box<Written>,
}

/// How one condition entry reads in the policy text.
#[derive(Debug, Clone)]
struct Written {
    operator: String,
    key: String,
    values: Vec<String>,
}

/// One condition entry evaluated against one request: what the policy asked and what the caller had.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConditionTrace {
    /// The operator as written, e.g. `StringEquals` or `ForAnyValue:StringLike`.
    pub operator: String,
    /// The key as written, e.g. `aws:PrincipalOrgID`.
    pub key: String,
    /// The policy's values as written.
    pub values: Vec<String>,
    /// The request's values for the key; `None` when the request has no such key.
    pub caller: Option<Vec<String>>,
    /// Whether the entry held.
    pub holds: bool,
}

/// A string-like policy value: plain text compiled once, or a template resolved per request.
#[derive(Debug, Clone)]
enum StrValue {
    Static { text: Box<str>, glob: Glob },
    Dynamic(Template),
}

/// ARN policy values: per-segment patterns, or templates.
#[derive(Debug, Clone)]
enum ArnValue {
    Static(ResourcePattern),
    Dynamic(Template),
}

/// The policy values of one entry, parsed for their operator family when the policy loads.
#[derive(Debug, Clone)]
enum Values {
    Strings(Vec<StrValue>),
    Numbers(Vec<f64>),
    Dates(Vec<i128>),
    Binary(Vec<Vec<u8>>),
    Ips(Vec<IpNet>),
    Arns(Vec<ArnValue>),
    Null(Vec<bool>),
}

/// How a numeric or date operator compares the request value with the policy value.
#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Condition {
    /// Compiles a `Condition` element: `{operator: {key: value-or-values}}`.
    pub(crate) fn compile(node: &Spanned, variables_enabled: bool) -> Result<Condition, PolicyError> {
        let Json::Object(operators) = &node.value else {
            return Err(PolicyError::at(
                node.pos,
                format!("Condition must be an object, found {}", node.value.type_name()),
            ));
        };
        let mut entries = Vec::new();
        for (op_key, block) in operators {
            let op = parse_operator(&op_key.name).map_err(|e| PolicyError::at(op_key.pos, e.to_string()))?;
            let Json::Object(keys) = &block.value else {
                return Err(PolicyError::at(
                    block.pos,
                    format!("`{}` must map condition keys to values", op_key.name),
                ));
            };
            for (key, value) in keys {
                let raw = raw_values(value)?;
                let values = compile_values(op.base, &raw, variables_enabled)?;
                let written = Box::new(Written {
                    operator: op_key.name.clone(),
                    key: key.name.clone(),
                    values: raw.iter().map(|(text, _)| text.to_string()).collect(),
                });
                entries.push(Entry { op, key: key.name.to_ascii_lowercase().into(), values, written });
            }
        }
        Ok(Condition { entries })
    }

    /// Whether every entry holds for the request.
    pub(crate) fn holds(&self, facts: &Facts<'_>) -> bool {
        self.entries.iter().all(|entry| entry.holds(facts))
    }

    /// Every entry evaluated on its own, in policy order (the decision viewer; never on the hot path).
    pub(crate) fn trace(&self, facts: &Facts<'_>) -> Vec<ConditionTrace> {
        let trace = |entry: &Entry| ConditionTrace {
            operator: entry.written.operator.clone(),
            key: entry.written.key.clone(),
            values: entry.written.values.clone(),
            caller: facts.lookup(&entry.key).map(|found| found.iter().map(str::to_string).collect()),
            holds: entry.holds(facts),
        };
        self.entries.iter().map(trace).collect()
    }
}

/// A condition value's text with its position, for parse errors.
type Raw<'a> = (Cow<'a, str>, &'a Spanned);

fn raw_values(node: &Spanned) -> Result<Vec<Raw<'_>>, PolicyError> {
    let one = |n: &'_ Spanned| -> Result<(), PolicyError> {
        match &n.value {
            Json::String(_) | Json::Number(_) | Json::Bool(_) => Ok(()),
            other => Err(PolicyError::at(
                n.pos,
                format!("condition values must be strings, numbers or booleans, found {}", other.type_name()),
            )),
        }
    };
    let items: Vec<&Spanned> = match &node.value {
        Json::Array(items) if items.is_empty() => {
            return Err(PolicyError::at(node.pos, "a condition key needs at least one value"))
        }
        Json::Array(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .map(|n| {
            one(n)?;
            let text = match &n.value {
                Json::String(s) | Json::Number(s) => Cow::Borrowed(s.as_str()),
                Json::Bool(b) => Cow::Owned(b.to_string()),
                _ => unreachable!("checked above"),
            };
            Ok((text, n))
        })
        .collect()
}

fn compile_values(base: BaseOperator, raw: &[Raw<'_>], vars: bool) -> Result<Values, PolicyError> {
    use BaseOperator::*;
    let parsed = |what: &str, f: &dyn Fn(&str) -> Option<()>| -> Result<(), PolicyError> {
        for (text, node) in raw {
            f(text).ok_or_else(|| PolicyError::at(node.pos, format!("`{text}` is not a valid {what}")))?;
        }
        Ok(())
    };
    Ok(match base {
        StringEquals
        | StringNotEquals
        | StringEqualsIgnoreCase
        | StringNotEqualsIgnoreCase
        | StringLike
        | StringNotLike
        | Bool => Values::Strings(raw.iter().map(|(t, _)| str_value(t, vars)).collect()),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            parsed("number", &|t| parse_number(t).map(drop))?;
            Values::Numbers(raw.iter().filter_map(|(t, _)| parse_number(t)).collect())
        }
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => {
            parsed("date (ISO 8601 or epoch seconds)", &|t| parse_date(t).map(drop))?;
            Values::Dates(raw.iter().filter_map(|(t, _)| parse_date(t)).collect())
        }
        BinaryEquals => {
            parsed("base64 value", &|t| decode_base64(t).map(drop))?;
            Values::Binary(raw.iter().filter_map(|(t, _)| decode_base64(t)).collect())
        }
        IpAddress | NotIpAddress => {
            parsed("IP address or CIDR block", &|t| parse_ip(t).map(drop))?;
            Values::Ips(raw.iter().filter_map(|(t, _)| parse_ip(t)).collect())
        }
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => Values::Arns(
            raw.iter()
                .map(|(t, _)| match variables::compile(t, vars) {
                    Some(template) => ArnValue::Dynamic(template),
                    None => ArnValue::Static(ResourcePattern::new(t)),
                })
                .collect(),
        ),
        Null => {
            parsed("Null value (true or false)", &|t| parse_bool(t).map(drop))?;
            Values::Null(raw.iter().filter_map(|(t, _)| parse_bool(t)).collect())
        }
    })
}

fn str_value(text: &str, vars: bool) -> StrValue {
    match variables::compile(text, vars) {
        Some(template) => StrValue::Dynamic(template),
        None => StrValue::Static { text: text.into(), glob: Glob::new(text) },
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// ISO 8601 (with or without time and offset; UTC when no offset) or epoch seconds, as nanoseconds.
pub(crate) fn parse_date(text: &str) -> Option<i128> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(secs) = text.parse::<f64>() {
        return secs.is_finite().then_some((secs * 1e9) as i128);
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = time::PrimitiveDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    let date = time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp_nanos())
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

fn parse_ip(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Entry {
    fn holds(&self, facts: &Facts<'_>) -> bool {
        let found = facts.lookup(&self.key);
        if let Values::Null(wanted) = &self.values {
            let absent = found.as_ref().map_or(true, |v| v.is_empty());
            return wanted.contains(&absent);
        }
        let negated = self.op.base.is_negated();
        let Some(found) = found else {
            return self.op.if_exists
                || match self.op.set {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => negated,
                };
        };
        let per_value = |v: &str| self.positive(v, facts) != negated;
        match self.op.set {
            Some(SetQualifier::ForAllValues) => found.iter().all(per_value),
            Some(SetQualifier::ForAnyValue) => found.iter().any(per_value),
            None if negated => found.iter().all(per_value),
            None => found.iter().any(per_value),
        }
    }

    /// Whether one request value matches any policy value under the operator's positive form.
    fn positive(&self, value: &str, facts: &Facts<'_>) -> bool {
        use BaseOperator::*;
        match &self.values {
            Values::Strings(list) => list.iter().any(|p| string_match(self.op.base, p, value, facts)),
            Values::Numbers(list) => {
                let Some(v) = parse_number(value) else { return false };
                list.iter().any(|p| compare(cmp_of(self.op.base), v.partial_cmp(p)))
            }
            Values::Dates(list) => {
                let Some(v) = parse_date(value) else { return false };
                list.iter().any(|p| compare(cmp_of(self.op.base), Some(v.cmp(p))))
            }
            Values::Binary(list) => decode_base64(value).is_some_and(|v| list.contains(&v)),
            Values::Ips(list) => parse_ip(value).is_some_and(|v| list.iter().any(|net| net.contains(&v))),
            Values::Arns(list) => list.iter().any(|p| match p {
                ArnValue::Static(pattern) => pattern.matches(value),
                ArnValue::Dynamic(t) => t
                    .resolve(|k| facts.single(k), true)
                    .is_some_and(|pat| escaped_resource_match(&pat, value)),
            }),
            Values::Null(_) => {
                debug_assert!(matches!(self.op.base, Null));
                false
            }
        }
    }
}

fn string_match(base: BaseOperator, policy: &StrValue, value: &str, facts: &Facts<'_>) -> bool {
    use BaseOperator::*;
    match (base, policy) {
        (StringEquals | StringNotEquals, StrValue::Static { text, .. }) => **text == *value,
        (StringEqualsIgnoreCase | StringNotEqualsIgnoreCase | Bool, StrValue::Static { text, .. }) => {
            eq_ignore_case(text, value)
        }
        (StringLike | StringNotLike, StrValue::Static { glob, .. }) => glob.matches(value),
        (StringLike | StringNotLike, StrValue::Dynamic(t)) => t
            .resolve(|k| facts.single(k), true)
            .is_some_and(|pat| glob_match(pat.as_bytes(), value.as_bytes(), false, true)),
        (StringEquals | StringNotEquals, StrValue::Dynamic(t)) => {
            t.resolve(|k| facts.single(k), false).is_some_and(|s| s == value)
        }
        (_, StrValue::Dynamic(t)) => {
            t.resolve(|k| facts.single(k), false).is_some_and(|s| eq_ignore_case(&s, value))
        }
        _ => false,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
    }
}

fn cmp_of(base: BaseOperator) -> Cmp {
    use BaseOperator::*;
    match base {
        NumericLessThan | DateLessThan => Cmp::Lt,
        NumericLessThanEquals | DateLessThanEquals => Cmp::Le,
        NumericGreaterThan | DateGreaterThan => Cmp::Gt,
        NumericGreaterThanEquals | DateGreaterThanEquals => Cmp::Ge,
        _ => Cmp::Eq,
    }
}

fn compare(cmp: Cmp, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    match (cmp, ord) {
        (_, None) => false,
        (Cmp::Eq, Some(o)) => o == Equal,
        (Cmp::Lt, Some(o)) => o == Less,
        (Cmp::Le, Some(o)) => o != Greater,
        (Cmp::Gt, Some(o)) => o == Greater,
        (Cmp::Ge, Some(o)) => o != Less,
    }
}
