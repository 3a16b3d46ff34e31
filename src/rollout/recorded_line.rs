//! One audit line's JSON (ARCHITECTURE.md §6) as a [`Recorded`]: the type, the serde shapes and the
//! checks that make a line the proxy could not have written an error instead of a guess. The reader in
//! `recorded.rs` re-exports the type, so callers name `rollout::recorded::Recorded`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use crate::audit::Disposition;
use crate::classify::Service;
use crate::policy::{ContextValue, Outcome, RequestContext};

/// One classified request as the audit log recorded it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recorded {
    /// The file the line came from, shared by every line of that file.
    pub(crate) file: Arc<Path>,
    /// 1-based line number within `file`.
    pub(crate) line_no: u64,
    /// `requestID`.
    pub(crate) request_id: String,
    /// `eventTime` as written (RFC 3339, UTC, milliseconds).
    pub(crate) event_time: String,
    /// `service`.
    pub(crate) service: Service,
    /// `userIdentity.arn`: the caller's ARN, a service principal's name, or `anonymous`.
    pub(crate) principal: String,
    /// `authorization.action`; `None` for a request that needs no permission (the registry's `/v2/` ping).
    pub(crate) action: Option<String>,
    /// `authorization.resource`; `None` exactly when `action` is.
    pub(crate) resource: Option<String>,
    /// `authorization.additional`: further (action, resource) pairs the same request needed.
    pub(crate) additional: Vec<(String, String)>,
    /// `authorization.context`: the condition keys the request was decided with.
    pub(crate) context: RequestContext,
    /// `decision`.
    pub(crate) decision: Disposition,
    /// `enforced`: false when the proxy only reported its decision and forwarded the request anyway.
    pub(crate) enforced: bool,
    /// `upstreamStatus`; `None` when the request never reached upstream.
    pub(crate) upstream_status: Option<u16>,
    /// `host`.
    pub(crate) host: String,
}

impl Recorded {
    /// `FILE:LINE`, how every message points back at the line (replay's examples).
    pub(crate) fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line_no)
    }

    /// Every permission the request needed: the main one (when it needed one), then the additional ones.
    pub(crate) fn permissions(&self) -> impl Iterator<Item = (&str, &str)> {
        let main = self.action.as_deref().zip(self.resource.as_deref());
        main.into_iter().chain(self.additional.iter().map(|(a, r)| (a.as_str(), r.as_str())))
    }

    /// Whether upstream answered with success or a redirect (200..=399): the request did what it asked,
    /// so a policy must allow it. A 4xx/5xx or no answer says nothing about what the client needs.
    pub(crate) fn succeeded_upstream(&self) -> bool {
        self.upstream_status.is_some_and(|s| (200..=399).contains(&s))
    }
}

/// What one line is.
pub(super) enum Parsed {
    /// A classified request (boxed: the other variants are empty).
    Record(Box<Recorded>),
    /// No `authorization` field: a line from before the proxy wrote one.
    OldFormat,
    /// `authorization: null`: a request refused, challenged or tunnelled before classification.
    Unclassified,
}

/// Every `decision` the proxy writes, spelled by [`Disposition::as_str`].
const DISPOSITIONS: [Disposition; 6] = [
    Disposition::Decided(Outcome::Allow),
    Disposition::Decided(Outcome::ExplicitDeny),
    Disposition::Decided(Outcome::ImplicitDeny),
    Disposition::Refused,
    Disposition::Challenged,
    Disposition::Tunnel,
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLine {
    event_time: String,
    #[serde(rename = "requestID")]
    request_id: String,
    user_identity: RawIdentity,
    #[serde(default)]
    service: Option<String>,
    decision: String,
    #[serde(default)]
    upstream_status: Option<u16>,
    host: String,
    #[serde(default)]
    enforced: Option<bool>,
    /// Absent (old line) and null (unclassified) differ, hence the double option.
    #[serde(default, deserialize_with = "present")]
    authorization: Option<Option<RawAuthorization>>,
}

#[derive(Deserialize)]
struct RawIdentity {
    arn: String,
}

#[derive(Deserialize)]
struct RawAuthorization {
    action: Option<String>,
    resource: Option<String>,
    #[serde(default)]
    additional: Vec<RawPermission>,
    #[serde(default)]
    context: BTreeMap<String, RawValue>,
}

#[derive(Deserialize)]
struct RawPermission {
    action: String,
    resource: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawValue {
    Single(String),
    Multi(Vec<String>),
}

/// A field that is present, null or not, is `Some`; `#[serde(default)]` makes an absent one `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Parses one line (without its newline); `Err` says what is wrong, for `FILE:LINE: ...`.
pub(super) fn parse_line(line: &[u8], file: &Arc<Path>, line_no: u64) -> Result<Parsed, String> {
    // serde reads a struct from an array too, which would make `[1, 2]` a confusing type error.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("not an audit line: an audit line is one JSON object".into());
    }
    let raw: RawLine = serde_json::from_slice(line).map_err(|e| {
        let text = e.to_string();
        let what = text.split(" at line ").next().unwrap_or(&text);
        format!("not an audit line: {what} (column {})", e.column())
    })?;
    let decision = DISPOSITIONS
        .into_iter()
        .find(|d| d.as_str() == raw.decision)
        .ok_or_else(|| format!("unknown decision \"{}\"", raw.decision))?;
    let authorization = match raw.authorization {
        None => return Ok(Parsed::OldFormat),
        Some(None) => return Ok(Parsed::Unclassified),
        Some(Some(authorization)) => authorization,
    };
    let service = match raw.service.as_deref() {
        None => return Err("a classified request (authorization is set) has service null".into()),
        Some(key) => Service::from_key(key).ok_or_else(|| format!("unknown service \"{key}\""))?,
    };
    let enforced = raw.enforced.ok_or("a classified request (authorization is set) has no enforced field")?;
    if authorization.action.is_some() != authorization.resource.is_some() {
        return Err("authorization.action and authorization.resource must both be set or both be null".into());
    }
    Ok(Parsed::Record(Box::new(Recorded {
        file: file.clone(),
        line_no,
        request_id: raw.request_id,
        event_time: raw.event_time,
        service,
        principal: raw.user_identity.arn,
        action: authorization.action,
        resource: authorization.resource,
        additional: authorization.additional.into_iter().map(|p| (p.action, p.resource)).collect(),
        context: context(authorization.context),
        decision,
        enforced,
        upstream_status: raw.upstream_status,
        host: raw.host,
    })))
}

fn context(raw: BTreeMap<String, RawValue>) -> RequestContext {
    let mut context = RequestContext::with_capacity(raw.len());
    for (key, value) in raw {
        let value = match value {
            RawValue::Single(v) => ContextValue::Single(v.into()),
            RawValue::Multi(vs) => ContextValue::Multi(vs),
        };
        context.insert(&key, value);
    }
    context
}
