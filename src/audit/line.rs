//! One [`AuditRecord`] as one JSON line: the CloudTrail-like field names, written by hand for speed and
//! held byte-for-byte equal to what `serde_json` makes of the same [`Event`].

use serde::Serialize;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use std::collections::BTreeMap;

use super::record::{AuditRecord, Authorization, Disposition, Failure};
use crate::classify::{Permission, Service};
use crate::policy::{ContextValue, Outcome};

/// RFC 3339 in UTC with milliseconds: CloudTrail's `eventTime` shape, precise enough to order a burst.
const EVENT_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

impl AuditRecord {
    /// The record as one JSON object (no newline), stamped with `now`; public so tests and tools can
    /// see exactly what the log holds.
    pub fn to_json_line(&self, now: OffsetDateTime) -> Vec<u8> {
        let event_time = event_time(now);
        let event = Event::new(self, event_time);
        // Sized for a typical line plus the newline `write` appends, so writing never reallocates.
        let mut line = Vec::with_capacity(640);
        event.write_json(&mut line);
        line
    }
}

impl Event<'_> {
    /// The same bytes `serde_json` writes for this struct (a test holds them equal), without its
    /// per-field machinery: serialising was the largest part of the audit cost on every request.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        field(out, "eventTime", |o| string(o, &self.event_time));
        field(out, "requestID", |o| string(o, self.request_id));
        field(out, "sourceIPAddress", |o| opt_string(o, self.source_ip_address.as_deref()));
        field(out, "userIdentity", |o| {
            o.push(b'{');
            field(o, "arn", |o| string(o, self.user_identity.arn));
            o.push(b'}');
        });
        field(out, "eventSource", |o| opt_string(o, self.event_source));
        field(out, "service", |o| opt_string(o, self.service));
        field(out, "eventName", |o| opt_string(o, self.event_name));
        field(out, "action", |o| opt_string(o, self.action));
        field(out, "resources", |o| {
            o.push(b'[');
            for (i, r) in self.resources.iter().enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                o.push(b'{');
                field(o, "ARN", |o| string(o, r.arn));
                o.push(b'}');
            }
            o.push(b']');
        });
        field(out, "decision", |o| string(o, self.decision));
        field(out, "deniedBy", |o| opt_string(o, self.denied_by));
        field(out, "statementSid", |o| opt_string(o, self.statement_sid));
        if let Some(code) = self.error_code {
            field(out, "errorCode", |o| string(o, code));
        }
        if let Some(message) = self.error_message {
            field(out, "errorMessage", |o| string(o, message));
        }
        field(out, "upstreamStatus", |o| match self.upstream_status {
            Some(status) => decimal(o, u64::from(status)),
            None => o.extend_from_slice(b"null"),
        });
        field(out, "bytesIn", |o| decimal(o, self.bytes_in));
        field(out, "bytesOut", |o| decimal(o, self.bytes_out));
        field(out, "durationMs", |o| {
            // Floats keep serde_json's exact spelling (shortest round-trip, `null` when not finite).
            let _ = serde_json::to_writer(&mut *o, &self.duration_ms);
        });
        field(out, "host", |o| string(o, self.host));
        field(out, "enforced", |o| o.extend_from_slice(if self.enforced { b"true" } else { b"false" }));
        field(out, "authorization", |o| match &self.authorization {
            Some(authorization) => authorization.write_json(o),
            None => o.extend_from_slice(b"null"),
        });
        if let Some(shadow) = &self.shadow {
            field(out, "shadow", |o| {
                o.push(b'{');
                field(o, "decision", |o| string(o, shadow.decision));
                field(o, "deniedBy", |o| opt_string(o, shadow.denied_by));
                field(o, "statementSid", |o| opt_string(o, shadow.statement_sid));
                o.push(b'}');
            });
        }
        out.push(b'}');
    }
}

impl AuthorizationLine<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        field(out, "action", |o| opt_string(o, self.action));
        field(out, "resource", |o| opt_string(o, self.resource));
        field(out, "additional", |o| {
            o.push(b'[');
            for (i, p) in self.additional.iter().enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                o.push(b'{');
                field(o, "action", |o| string(o, p.action));
                field(o, "resource", |o| string(o, p.resource));
                o.push(b'}');
            }
            o.push(b']');
        });
        field(out, "context", |o| {
            o.push(b'{');
            for (key, value) in &self.context {
                key_field(o, key, |o| match value {
                    ContextLine::One(v) => string(o, v),
                    ContextLine::Many(vs) => {
                        o.push(b'[');
                        for (i, v) in vs.iter().enumerate() {
                            if i > 0 {
                                o.push(b',');
                            }
                            string(o, v);
                        }
                        o.push(b']');
                    }
                });
            }
            o.push(b'}');
        });
        out.push(b'}');
    }
}

/// A number's digits, written in place (no string per number: this runs three times per line).
fn decimal(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    let _ = write!(out, "{n}");
}

/// `"name":value`, with the comma when it is not the object's first member.
fn field(out: &mut Vec<u8>, name: &str, value: impl FnOnce(&mut Vec<u8>)) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    value(out);
}

/// `"key":value` for a key that comes from the request (a context key), escaped like any string.
fn key_field(out: &mut Vec<u8>, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    string(out, key);
    out.push(b':');
    value(out);
}

/// A JSON string; anything needing an escape goes through `serde_json`, so escaping is exactly its own.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `eventTime` digits written directly (the format-description machinery cost more per line than the
/// rest of the timestamp work); years outside 0..=9999 take the general formatter.
fn event_time(now: OffsetDateTime) -> String {
    if !(0..=9999).contains(&now.year()) {
        return now.format(EVENT_TIME).unwrap_or_default();
    }
    let mut out = String::with_capacity(24);
    let mut push = |n: u32, width: u32, sep: char| {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(i) % 10) as u8));
        }
        if sep != '\0' {
            out.push(sep);
        }
    };
    push(now.year() as u32, 4, '-');
    push(u32::from(u8::from(now.month())), 2, '-');
    push(u32::from(now.day()), 2, 'T');
    push(u32::from(now.hour()), 2, ':');
    push(u32::from(now.minute()), 2, ':');
    push(u32::from(now.second()), 2, '.');
    push(u32::from(now.millisecond()), 3, 'Z');
    out
}

/// The serialised shape; borrowed so writing a line copies no strings.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    event_time: String,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_identity: UserIdentity<'a>,
    event_source: Option<&'static str>,
    service: Option<&'a str>,
    event_name: Option<&'a str>,
    action: Option<&'a str>,
    resources: Vec<Resource<'a>>,
    decision: &'a str,
    denied_by: Option<&'a str>,
    statement_sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    upstream_status: Option<u16>,
    bytes_in: u64,
    bytes_out: u64,
    duration_ms: f64,
    host: &'a str,
    enforced: bool,
    authorization: Option<AuthorizationLine<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<ShadowLine<'a>>,
}

/// `authorization`: what the decision was made on (ARCHITECTURE.md §10).
#[derive(Serialize)]
struct AuthorizationLine<'a> {
    action: Option<&'a str>,
    resource: Option<&'a str>,
    additional: Vec<PermissionLine<'a>>,
    /// Sorted by key, so two lines of the same request read the same.
    context: BTreeMap<&'a str, ContextLine<'a>>,
}

#[derive(Serialize)]
struct PermissionLine<'a> {
    action: &'a str,
    resource: &'a str,
}

/// A context value: a string, or an array for a multivalued key.
#[derive(Serialize)]
#[serde(untagged)]
enum ContextLine<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShadowLine<'a> {
    decision: &'static str,
    denied_by: Option<&'static str>,
    statement_sid: Option<&'a str>,
}

impl<'a> AuthorizationLine<'a> {
    fn new(a: &'a Authorization) -> AuthorizationLine<'a> {
        let permission = |p: &'a Permission| PermissionLine { action: &p.action, resource: &p.resource };
        let context = a
            .context
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    ContextValue::Single(v) => ContextLine::One(v),
                    ContextValue::Multi(vs) => ContextLine::Many(vs),
                };
                (key, value)
            })
            .collect();
        AuthorizationLine {
            action: a.main.as_ref().map(|p| p.action.as_str()),
            resource: a.main.as_ref().map(|p| p.resource.as_str()),
            additional: a.additional.iter().map(permission).collect(),
            context,
        }
    }
}

#[derive(Serialize)]
struct UserIdentity<'a> {
    arn: &'a str,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
}

impl<'a> Event<'a> {
    fn new(r: &'a AuditRecord, event_time: String) -> Event<'a> {
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        let action = non_empty(&r.action);
        Event {
            event_time,
            request_id: &r.request_id,
            source_ip_address: r.client.map(|c| c.ip().to_string()),
            user_identity: UserIdentity { arn: &r.principal },
            event_source: r.service.map(event_source),
            service: r.service.map(Service::key),
            event_name: action.map(|a| a.split_once(':').map_or(a, |(_, name)| name)),
            action,
            resources: non_empty(&r.resource).map(|arn| Resource { arn }).into_iter().collect(),
            decision: r.decision.as_str(),
            denied_by: r.denied_by.map(|layer| layer.as_str()),
            statement_sid: r.sid.as_deref(),
            error_code: error_code(r.decision, r.failure, r.report_only),
            error_message: r.reason.as_deref(),
            upstream_status: r.upstream_status,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            duration_ms: (r.duration_ms * 1000.0).round() / 1000.0,
            host: &r.host,
            enforced: !r.report_only,
            authorization: r.authorization.as_ref().map(AuthorizationLine::new),
            shadow: r.shadow.as_ref().map(|s| ShadowLine {
                decision: s.outcome.as_str(),
                denied_by: s.denied_by.map(|layer| layer.as_str()),
                statement_sid: s.sid.as_deref(),
            }),
        }
    }
}

/// CloudTrail's `eventSource`: both ECR endpoints log as `ecr.amazonaws.com`.
fn event_source(service: Service) -> &'static str {
    match service {
        Service::EcrApi | Service::EcrDkr => "ecr.amazonaws.com",
        Service::S3 => "s3.amazonaws.com",
    }
}

/// CloudTrail records a failed call with an `errorCode`: refused by policy or classifier, or allowed but
/// not answered whole ([`Failure`]). A refusal only reported (report mode) was forwarded, so the call
/// did not fail on it.
fn error_code(decision: Disposition, failure: Option<Failure>, report_only: bool) -> Option<&'static str> {
    match decision {
        Disposition::Decided(Outcome::ExplicitDeny | Outcome::ImplicitDeny) if !report_only => {
            Some("AccessDenied")
        }
        Disposition::Refused => Some("RequestRefused"),
        Disposition::Challenged => Some("AuthenticationRequired"),
        _ => failure.map(Failure::code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ShadowDecision;
    use crate::policy::{Layer, RequestContext};
    use serde_json::{json, Value};
    use time::macros::datetime;

    /// CloudTrail `eventTime` (RFC 3339, UTC, milliseconds): the direct writer and the format description
    /// agree, padding included.
    #[test]
    fn event_time_matches_the_format_description() {
        let rows = [
            datetime!(2026-12-02 01:02:03.456789 UTC),
            datetime!(1970-01-01 00:00:00 UTC),
            datetime!(0999-09-09 09:09:09.009 UTC),
            datetime!(9999-12-31 23:59:59.999999999 UTC),
        ];
        for t in rows {
            assert_eq!(event_time(t), t.format(EVENT_TIME).unwrap(), "{t}");
        }
    }

    /// The hand-written line is byte-for-byte what `serde_json` makes of the same event: field order,
    /// `null`s, skipped error fields, escapes (RFC 8259 §7) and float spelling.
    #[test]
    fn the_direct_writer_matches_serde_json() {
        let mut odd = record();
        odd.principal = "quote\" back\\ nl\n tab\t bell\u{7} é \u{7f}".into();
        odd.resource = String::new();
        odd.action = "ecr:GetAuthorizationToken".into();
        odd.reason = Some("bad \"Host\"".into());
        odd.decision = Disposition::Refused;
        odd.upstream_status = Some(502);
        odd.client = None;
        let mut nan = record();
        nan.duration_ms = f64::NAN;
        nan.sid = None;
        nan.denied_by = None;
        nan.service = None;
        let report = AuditRecord { report_only: true, ..mount() };
        for r in [record(), odd, nan, AuditRecord::default(), mount(), report] {
            let event = Event::new(&r, "2026-12-02T01:02:03.456Z".into());
            let mut mine = Vec::new();
            event.write_json(&mut mine);
            let theirs = serde_json::to_vec(&event).unwrap();
            assert_eq!(String::from_utf8(mine).unwrap(), String::from_utf8(theirs).unwrap());
        }
    }

    fn record() -> AuditRecord {
        AuditRecord {
            request_id: "0f1e2d3c".into(),
            client: Some("10.0.0.7:50123".parse().unwrap()),
            principal: "arn:aws:sts::111122223333:assumed-role/dev/s1".into(),
            service: Some(Service::EcrApi),
            host: "api.ecr.us-east-1.amazonaws.com".into(),
            action: "ecr:PutImage".into(),
            resource: "arn:aws:ecr:us-east-1:111122223333:repository/team/app".into(),
            decision: Disposition::Decided(Outcome::ExplicitDeny),
            denied_by: Some(Layer::VpcEndpoint),
            sid: Some("DenyDelete".into()),
            reason: None,
            failure: None,
            upstream_status: None,
            bytes_in: 12,
            bytes_out: 345,
            duration_ms: 1.23456,
            report_only: false,
            authorization: None,
            shadow: None,
        }
    }

    /// A cross-repository mount as the pipeline records it: main and additional permission, context keys
    /// single and multivalued (ARCHITECTURE.md §10).
    fn mount() -> AuditRecord {
        let mut context = RequestContext::new();
        context.set("aws:PrincipalArn", "arn:aws:iam::111122223333:role/dev");
        context.set("aws:SecureTransport", "true");
        context.insert("aws:TagKeys", ContextValue::Multi(vec!["team".into(), "odd\"key".into()]));
        context.set("ecr:ResourceTag/quote\"d", "v");
        let permission = |action: &str, repo: &str| Permission {
            action: action.into(),
            resource: format!("arn:aws:ecr:us-east-1:111122223333:repository/{repo}"),
            resource_account: None,
        };
        AuditRecord {
            authorization: Some(Authorization {
                main: Some(permission("ecr:InitiateLayerUpload", "team/app")),
                additional: vec![permission("ecr:GetDownloadUrlForLayer", "base")],
                context,
            }),
            shadow: Some(ShadowDecision {
                outcome: Outcome::ImplicitDeny,
                denied_by: Some(Layer::VpcEndpoint),
                sid: None,
            }),
            decision: Outcome::Allow.into(),
            denied_by: None,
            ..record()
        }
    }

    fn parse(record: &AuditRecord) -> Value {
        serde_json::from_slice(&record.to_json_line(datetime!(2026-12-02 01:02:03.456789 UTC))).unwrap()
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn a_denied_record_has_exactly_the_cloudtrail_like_keys() {
        let value = parse(&record());
        let mut expected = vec![
            "eventTime",
            "requestID",
            "sourceIPAddress",
            "userIdentity",
            "eventSource",
            "service",
            "eventName",
            "action",
            "resources",
            "decision",
            "deniedBy",
            "statementSid",
            "errorCode",
            "upstreamStatus",
            "bytesIn",
            "bytesOut",
            "durationMs",
            "host",
            "enforced",
            "authorization",
        ];
        expected.sort_unstable();
        assert_eq!(keys(&value), expected);
        assert_eq!(keys(&value["userIdentity"]), ["arn"]);
        assert_eq!(value["eventTime"], "2026-12-02T01:02:03.456Z");
        assert_eq!(value["sourceIPAddress"], "10.0.0.7");
        assert_eq!(value["eventSource"], "ecr.amazonaws.com");
        assert_eq!(value["eventName"], "PutImage");
        assert_eq!(value["action"], "ecr:PutImage");
        assert_eq!(value["resources"][0]["ARN"], "arn:aws:ecr:us-east-1:111122223333:repository/team/app");
        assert_eq!(value["errorCode"], "AccessDenied");
        assert_eq!(value["deniedBy"], "vpc_endpoint");
        assert_eq!(value["statementSid"], "DenyDelete");
        assert_eq!(value["durationMs"], 1.235);
    }

    #[test]
    fn error_code_and_event_source_follow_decision_and_service() {
        // One row per (service, decision) shape; CloudTrail record contents:
        // https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
        let rows: [(&str, &str, Option<&str>, Option<&str>); 6] = [
            ("ecr.dkr", "Allow", Some("ecr.amazonaws.com"), None),
            ("s3", "ImplicitDeny", Some("s3.amazonaws.com"), Some("AccessDenied")),
            ("ecr.api", "ExplicitDeny", Some("ecr.amazonaws.com"), Some("AccessDenied")),
            ("", "Refused", None, Some("RequestRefused")),
            ("", "Tunnel", None, None),
            ("ecr.dkr", "Challenged", Some("ecr.amazonaws.com"), Some("AuthenticationRequired")),
        ];
        for (service, decision, source, code) in rows {
            let decision_of = |name| {
                [Outcome::Allow, Outcome::ExplicitDeny, Outcome::ImplicitDeny]
                    .map(Disposition::Decided)
                    .into_iter()
                    .chain([Disposition::Refused, Disposition::Tunnel, Disposition::Challenged])
                    .find(|d| d.as_str() == name)
                    .unwrap()
            };
            let r = AuditRecord {
                service: Service::from_key(service),
                decision: decision_of(decision),
                ..record()
            };
            let value = parse(&r);
            assert_eq!(value["eventSource"].as_str(), source, "{service} {decision}");
            assert_eq!(value["errorCode"].as_str(), code, "{service} {decision}");
        }
    }

    /// An allowed request that upstream never answered is not an ordinary Allow: the 502's cause is kept.
    #[test]
    fn an_upstream_failure_on_an_allowed_request_has_its_own_error_code_and_message() {
        let why = "upstream 123456789123.dkr.ecr.us-east-1.amazonaws.com unreachable: connection refused";
        let failure = Some(Failure::Upstream);
        let r =
            AuditRecord { decision: Outcome::Allow.into(), reason: Some(why.into()), failure, ..record() };
        let value = parse(&r);
        assert_eq!(value["errorCode"], "UpstreamUnavailable");
        assert_eq!(value["errorMessage"], why);
        assert_eq!(value["upstreamStatus"], serde_json::Value::Null);
    }

    #[test]
    fn a_refusal_carries_its_reason_as_error_message_and_no_resource() {
        let r = AuditRecord {
            service: None,
            action: String::new(),
            resource: String::new(),
            decision: Disposition::Refused,
            denied_by: None,
            sid: None,
            reason: Some("not an endpoint host".into()),
            client: None,
            ..record()
        };
        let value = parse(&r);
        assert_eq!(value["errorMessage"], "not an endpoint host");
        assert_eq!(value["resources"], serde_json::json!([]));
        assert_eq!(value["eventName"], Value::Null);
        assert_eq!(value["sourceIPAddress"], Value::Null);
    }

    /// Everything `replay` needs to decide the request again, and the shadow decision that differed;
    /// existing fields keep their names (ARCHITECTURE.md §10).
    #[test]
    fn a_decided_record_carries_its_authorization_and_a_differing_shadow_decision() {
        let value = parse(&mount());
        assert_eq!(value["enforced"], true);
        assert_eq!(
            value["authorization"],
            json!({
                "action": "ecr:InitiateLayerUpload",
                "resource": "arn:aws:ecr:us-east-1:111122223333:repository/team/app",
                "additional": [{"action": "ecr:GetDownloadUrlForLayer",
                                "resource": "arn:aws:ecr:us-east-1:111122223333:repository/base"}],
                "context": {
                    "aws:principalarn": "arn:aws:iam::111122223333:role/dev",
                    "aws:securetransport": "true",
                    "aws:tagkeys": ["team", "odd\"key"],
                    "ecr:resourcetag/quote\"d": "v",
                },
            })
        );
        assert_eq!(
            value["shadow"],
            json!({"decision": "ImplicitDeny", "deniedBy": "vpc_endpoint", "statementSid": null})
        );
        let without = parse(&AuditRecord { shadow: None, authorization: None, ..mount() });
        assert!(without.get("shadow").is_none(), "no shadow key when the decisions agree");
        assert_eq!(without["authorization"], Value::Null);
    }

    /// Report mode forwarded the request, so the call did not fail on the refusal: no `AccessDenied`
    /// errorCode, while `decision` keeps what enforcing would have done.
    #[test]
    fn a_reported_refusal_keeps_its_decision_and_has_no_error_code() {
        let r = AuditRecord { report_only: true, upstream_status: Some(200), ..record() };
        let value = parse(&r);
        assert_eq!(
            (value["decision"].as_str(), value["enforced"].as_bool()),
            (Some("ExplicitDeny"), Some(false))
        );
        assert_eq!(value.get("errorCode"), None);
        assert_eq!(value["upstreamStatus"], 200);
    }
}
