//! The policy grammar: what parses, what is rejected, and where the error points.

use super::super::document::Version;
use super::super::Policy;
use super::{endpoint_allows, policy, request, ALICE, REPO};

/// IAM User Guide, "IAM JSON policy elements: Version", "Id", "Statement", "Sid": Version may be
/// 2012-10-17, 2008-10-17 or absent; Statement is an object or an array.
#[test]
fn accepted_documents() {
    let rows: &[(&str, Version, usize)] = &[
        (r#"{"Version": "2012-10-17", "Statement": []}"#, Version::V2012_10_17, 0),
        (
            r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*"}}"#,
            Version::V2008_10_17,
            1,
        ),
        (
            r#"{"Statement": [{"Effect": "Allow", "Action": "*"}, {"Effect": "Deny", "Action": "s3:*"}]}"#,
            Version::V2008_10_17,
            2,
        ),
        (
            r#"{"Id": "abc", "Version": "2012-10-17", "Statement": {"Sid": "1", "Effect": "Allow", "NotAction": "*"}}"#,
            Version::V2012_10_17,
            1,
        ),
    ];
    for (text, version, count) in rows {
        let parsed = policy(text);
        assert_eq!((parsed.version(), parsed.statement_count()), (*version, *count), "{text}");
    }
    assert_eq!(policy(rows[3].0).id(), Some("abc"));
}

/// IAM User Guide, "Grammar of the IAM JSON policy language": unknown elements, duplicate keys (JSON
/// with duplicate keys is rejected by IAM) and malformed values are errors, reported at LINE:COL.
#[test]
fn rejected_documents() {
    let rows: &[(&str, &str, &str)] = &[
        (
            "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\",\n \"Action\": \"s3:*\"}}",
            "2:2",
            "duplicate key",
        ),
        ("{\"Version\": \"2012-10-17\",\n  \"Statment\": []}", "2:3", "unknown element \"Statment\""),
        (r#"{"Statement": {"Effect": "Allow", "Action": "*", "Conditon": {}}}"#, "1:50", "unknown element"),
        (r#"{"Version": "2012-10-18", "Statement": []}"#, "1:13", "Version must be"),
        (r#"{"Version": "2012-10-17"}"#, "1:1", "missing Statement"),
        (r#"{"Statement": {"Effect": "allow", "Action": "*"}}"#, "1:26", "Effect must be"),
        (r#"{"Statement": {"Action": "*"}}"#, "1:15", "no Effect"),
        (r#"{"Statement": {"Effect": "Allow"}}"#, "1:15", "no Action"),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "s3:*"}}"#,
            "1:63",
            "both Action and NotAction",
        ),
        (r#"{"Statement": {"Effect": "Allow", "Action": ""}}"#, "1:45", "empty Action"),
        (r#"{"Statement": {"Effect": "Allow", "Action": "PutImage"}}"#, "1:45", "service:Operation"),
        (r#"{"Statement": {"Effect": "Allow", "Principal": "", "Action": "*"}}"#, "1:48", "empty Principal"),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": {"IAM": "*"}, "Action": "*"}}"#,
            "1:49",
            "unknown element \"IAM\"",
        ),
        (r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": []}}"#, "1:62", "empty list"),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"StringEqual": {"a": "b"}}}}"#,
            "1:64",
            "unknown condition operator",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"NullIfExists": {"a": "true"}}}}"#,
            "1:64",
            "IfExists",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"NumericEquals": {"a": "x"}}}}"#,
            "1:87",
            "not a valid number",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"IpAddress": {"a": "10.0.0.0/33"}}}}"#,
            "1:83",
            "IP address",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"DateLessThan": {"a": "tomorrow"}}}}"#,
            "1:86",
            "date",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"StringEquals": {"a": {"b": 1}}}}}"#,
            "1:86",
            "condition values",
        ),
        (r#"{"Statement": {"Effect": "Allow", "Action": 7}}"#, "1:45", "must be a string"),
        ("[]", "1:1", "must be an object"),
        ("{\"Statement\": [\n", "2:1", "unexpected end"),
    ];
    for (text, location, fragment) in rows {
        let err = Policy::parse(text).expect_err(text);
        assert_eq!(err.location, *location, "{text}: {err}");

        assert!(err.message.contains(fragment), "{text}: {err}");
    }
}

/// An error `within` a file names the file in front of the position (reading files is `crate::load`'s
/// job, tested there); `allow_all` is AWS's default endpoint policy (AWS PrivateLink Guide, "Control
/// access to VPC endpoints using endpoint policies").
#[test]
fn files_and_the_default_policy() {
    let text = "{\n  \"Statement\": {\"Effect\": \"Alow\", \"Action\": \"*\"}\n}";
    let err = Policy::parse(text).expect_err("bad policy").within("/etc/vpce/bad.json");
    assert_eq!(err.to_string(), "/etc/vpce/bad.json:2:27: Effect must be \"Allow\" or \"Deny\"");
    assert!(endpoint_allows(&Policy::allow_all(), &request(ALICE, "ecr:DeleteRepository", REPO, "{}")));
    assert!(endpoint_allows(
        &Policy::allow_all(),
        &request("anonymous", "s3:GetObject", "arn:aws:s3:::b/k", "{}")
    ));
}
