//! The audit reader over the line contract of ARCHITECTURE.md §6: plain and gzip files (RFC 1952's
//! magic, not the name), rotated sets as several files, old and unclassified lines skipped and counted,
//! and every unreadable line an error at FILE:LINE.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::*;
use crate::audit::Disposition;
use crate::classify::Service;
use crate::policy::{ContextValue, Outcome};

/// A classified line as the proxy writes it, with `requestID` `id`.
pub(crate) fn line(id: &str) -> Value {
    json!({
        "eventTime": "2024-05-01T10:00:00.000Z", "requestID": id, "sourceIPAddress": "10.0.0.5",
        "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/ci/i-0abc"},
        "eventSource": "ecr.amazonaws.com", "service": "ecr.dkr", "eventName": "BatchGetImage",
        "action": "ecr:BatchGetImage",
        "resources": [{"ARN": "arn:aws:ecr:us-east-1:111122223333:repository/team/app"}],
        "decision": "ImplicitDeny", "deniedBy": "vpc_endpoint", "statementSid": null,
        "upstreamStatus": 200, "bytesIn": 0, "bytesOut": 512, "durationMs": 3.5,
        "host": "111122223333.dkr.ecr.us-east-1.amazonaws.com", "enforced": false,
        "authorization": {
            "action": "ecr:BatchGetImage",
            "resource": "arn:aws:ecr:us-east-1:111122223333:repository/team/app",
            "additional": [],
            "context": {"aws:principalarn": "arn:aws:iam::111122223333:role/ci", "aws:tagkeys": ["a", "b"]}
        }
    })
}

/// A line from before the proxy wrote `enforced` and `authorization`.
fn old_line(id: &str) -> Value {
    let mut v = line(id);
    let object = v.as_object_mut().unwrap();
    object.remove("authorization");
    object.remove("enforced");
    v
}

fn write(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    path
}

fn write_gzip(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.path().join(name);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        writeln!(gz, "{l}").unwrap();
    }
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

fn ids(files: &[PathBuf]) -> (Vec<String>, Skipped) {
    let mut reader = AuditReader::new(files);
    let ids = reader.by_ref().map(|r| r.unwrap().request_id).collect();
    (ids, reader.skipped())
}

fn error(files: &[PathBuf], max_line: usize) -> String {
    let mut reader = AuditReader::with_max_line(files, max_line);
    let err = reader.by_ref().find_map(Result::err).expect("an error");
    assert!(reader.next().is_none(), "the reader stops at its first error");
    err.to_string()
}

#[test]
fn a_classified_line_reads_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = line("r1");
    v["authorization"]["additional"] = json!([{"action": "ecr:GetDownloadUrlForLayer",
        "resource": "arn:aws:ecr:us-east-1:111122223333:repository/base"}]);
    let path = write(&dir, "audit.log", &[v.to_string()]);
    let r = AuditReader::new(std::slice::from_ref(&path)).next().unwrap().unwrap();
    assert_eq!(r.location(), format!("{}:1", path.display()));
    assert_eq!(
        (r.service, r.principal.as_str()),
        (Service::EcrDkr, "arn:aws:sts::111122223333:assumed-role/ci/i-0abc")
    );
    assert_eq!(r.decision, Disposition::Decided(Outcome::ImplicitDeny));
    assert_eq!((r.enforced, r.upstream_status, r.succeeded_upstream()), (false, Some(200), true));
    let permissions: Vec<_> = r.permissions().collect();
    assert_eq!(
        permissions,
        [
            ("ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111122223333:repository/team/app"),
            ("ecr:GetDownloadUrlForLayer", "arn:aws:ecr:us-east-1:111122223333:repository/base"),
        ]
    );
    let tags = Some(ContextValue::Multi(vec!["a".into(), "b".into()]));
    assert_eq!(r.context.get("aws:TagKeys").cloned(), tags);
    assert_eq!(
        r.context.get("aws:principalarn").cloned(),
        Some(ContextValue::Single("arn:aws:iam::111122223333:role/ci".into()))
    );
}

/// The registry's `GET /v2/` ping needs no permission: action and resource are null (ARCHITECTURE.md §6).
#[test]
fn a_request_that_needs_no_permission_has_no_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = line("ping");
    v["authorization"]["action"] = Value::Null;
    v["authorization"]["resource"] = Value::Null;
    let path = write(&dir, "audit.log", &[v.to_string()]);
    let r = AuditReader::new(&[path]).next().unwrap().unwrap();
    assert_eq!((r.action.as_deref(), r.permissions().count()), (None, 0));
}

/// logrotate's `compress` + `delaycompress` leave `audit.log.2.gz audit.log.1 audit.log`; a gzip file is
/// told by its magic bytes (RFC 1952, section 2.3.1), so a gzipped file without `.gz` reads too.
#[test]
fn rotated_sets_read_in_order_plain_or_gzip_by_magic() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        write_gzip(&dir, "audit.log.2.gz", &[line("a").to_string(), line("b").to_string()]),
        write_gzip(&dir, "audit.log.1", &[line("c").to_string()]),
        write(&dir, "audit.log", &[line("d").to_string(), String::new(), line("e").to_string()]),
    ];
    let (ids, skipped) = ids(&files);
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    assert_eq!(skipped, Skipped::default());
}

/// `cat a.gz b.gz > c.gz` is one valid gzip file of two members (RFC 1952, section 2.2).
#[test]
fn concatenated_gzip_members_read_as_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read(write_gzip(&dir, "a", &[line("a").to_string()])).unwrap();
    let b = std::fs::read(write_gzip(&dir, "b", &[line("b").to_string()])).unwrap();
    let path = dir.path().join("both.gz");
    std::fs::write(&path, [a, b].concat()).unwrap();
    assert_eq!(ids(&[path]).0, ["a", "b"]);
}

#[test]
fn old_and_unclassified_lines_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut refused = line("refused");
    refused["decision"] = json!("Refused");
    refused["authorization"] = Value::Null;
    let lines = [
        old_line("old1").to_string(),
        refused.to_string(),
        old_line("old2").to_string(),
        line("new").to_string(),
    ];
    let (ids, skipped) = ids(&[write(&dir, "audit.log", &lines)]);
    assert_eq!(ids, ["new"]);
    assert_eq!(skipped, Skipped { old_format: 2, unclassified: 1 });
    let text = skipped.to_string();
    assert!(text.contains("skipped 2 line(s) without an authorization field"), "{text}");
    assert!(text.contains("skipped 1 line(s) of requests never classified"), "{text}");
}

/// Each malformed line is an error at FILE:LINE saying what is wrong; none is skipped.
#[test]
fn malformed_lines_are_errors_at_file_and_line() {
    let mut bad_decision = line("x");
    bad_decision["decision"] = json!("Maybe");
    let mut no_enforced = line("x");
    no_enforced.as_object_mut().unwrap().remove("enforced");
    let mut half = line("x");
    half["authorization"]["resource"] = Value::Null;
    let mut bad_service = line("x");
    bad_service["service"] = json!("ecr.public");
    let mut bad_context = line("x");
    bad_context["authorization"]["context"] = json!({"aws:x": 1});
    let cases: &[(String, &str)] = &[
        ("{not json".into(), "not an audit line: key must be a string (column 2)"),
        ("[1, 2]".into(), "not an audit line: an audit line is one JSON object"),
        (json!({"requestID": "x"}).to_string(), "missing field `eventTime`"),
        (bad_decision.to_string(), "unknown decision \"Maybe\""),
        (no_enforced.to_string(), "no enforced field"),
        (half.to_string(), "must both be set or both be null"),
        (bad_service.to_string(), "unknown service \"ecr.public\""),
        (bad_context.to_string(), "not an audit line: data did not match any variant"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (bad, expected) in cases {
        let path = write(&dir, "audit.log", &[line("ok").to_string(), bad.clone()]);
        let message = error(std::slice::from_ref(&path), MAX_LINE_BYTES);
        assert!(message.starts_with(&format!("{}:2: ", path.display())), "{message}");
        assert!(message.contains(expected), "{bad}: {message}");
    }
}

#[test]
fn a_line_over_the_bound_is_an_error_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ok = line("ok").to_string();
    let long = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    let path = write(&dir, "audit.log", &[ok.clone(), long]);
    let message = error(std::slice::from_ref(&path), 4096);
    assert_eq!(
        message,
        format!(
            "{}:2: the line is longer than 4096 bytes; an audit line is far shorter (is this an audit log?)",
            path.display()
        )
    );
    // A line of exactly the bound is fine, with or without its newline.
    let exact = write(&dir, "exact.log", std::slice::from_ref(&ok));
    assert_eq!(AuditReader::with_max_line(&[exact], ok.len()).count(), 1);
}

#[test]
fn unreadable_files_and_corrupt_gzip_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.log");
    assert!(error(std::slice::from_ref(&missing), MAX_LINE_BYTES)
        .starts_with(&format!("{}: cannot open the audit log: ", missing.display())));
    let corrupt = dir.path().join("corrupt.gz");
    std::fs::write(&corrupt, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
    let message = error(std::slice::from_ref(&corrupt), MAX_LINE_BYTES);
    assert!(
        message.starts_with(&format!("{}:1: cannot read the audit log: ", corrupt.display())),
        "{message}"
    );
}
