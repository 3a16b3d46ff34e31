//! Condition operators, IfExists, Null and the set qualifiers.

use super::{endpoint_allows, policy, request, ALICE, REPO};

/// Whether an allow-all statement with this Condition allows a request with this context. The action is
/// outside the generated IAM tables, so every key in the context reaches the operator; which keys an ECR or
/// S3 action is given has its own rows (`policy::iam` tests).
fn holds(condition: &str, context: &str) -> bool {
    let text = format!(
        r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Principal": "*", "Action": "*",
            "Resource": "*", "Condition": {condition}}}}}"#
    );
    endpoint_allows(&policy(&text), &request(ALICE, "lab:Operate", REPO, context))
}

fn run(rows: &[(&str, &str, bool)]) {
    for (condition, context, expected) in rows {
        assert_eq!(holds(condition, context), *expected, "{condition} with {context}");
    }
}

/// IAM User Guide, "IAM JSON policy elements: Condition operators", String condition operators.
#[test]
fn string_operators() {
    run(&[
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}"#,
            r#"{"aws:PrincipalOrgID": "o-21ej9awi6a"}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}"#,
            r#"{"aws:PrincipalOrgID": "O-21EJ9AWI6A"}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-*"}}"#,
            r#"{"aws:PrincipalOrgID": "o-21ej9awi6a"}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": ["o-1", "o-2"]}}"#,
            r#"{"aws:PrincipalOrgID": "o-2"}"#,
            true,
        ),
        (r#"{"StringEquals": {"aws:PrincipalOrgID": "o-1"}}"#, "{}", false),
        (r#"{"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}"#, r#"{"aws:PrincipalOrgID": "o-2"}"#, true),
        (
            r#"{"StringNotEquals": {"aws:PrincipalOrgID": ["o-1", "o-2"]}}"#,
            r#"{"aws:PrincipalOrgID": "o-2"}"#,
            false,
        ),
        (r#"{"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}"#, "{}", true),
        (r#"{"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}"#, r#"{"aws:username": "alice"}"#, true),
        (r#"{"StringEqualsIgnoreCase": {"aws:username": "ÉLODIE"}}"#, r#"{"aws:username": "élodie"}"#, true),
        (
            r#"{"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}"#,
            r#"{"aws:username": "alice"}"#,
            false,
        ),
        (r#"{"StringNotEqualsIgnoreCase": {"aws:username": "BOB"}}"#, r#"{"aws:username": "alice"}"#, true),
        (
            r#"{"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ci-*"}}"#,
            r#"{"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci-build"}"#,
            true,
        ),
        (
            r#"{"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ci-*"}}"#,
            r#"{"aws:PrincipalArn": "arn:aws:iam::111122223333:role/CI-build"}"#,
            false,
        ),
        (r#"{"StringLike": {"s3:prefix": "home/?"}}"#, r#"{"s3:prefix": "home/a"}"#, true),
        (r#"{"StringLike": {"s3:prefix": "home/?"}}"#, r#"{"s3:prefix": "home/ab"}"#, false),
        (r#"{"StringNotLike": {"s3:prefix": "tmp/*"}}"#, r#"{"s3:prefix": "home/a"}"#, true),
        (r#"{"StringNotLike": {"s3:prefix": ["tmp/*", "home/*"]}}"#, r#"{"s3:prefix": "home/a"}"#, false),
        (r#"{"StringNotLike": {"s3:prefix": "tmp/*"}}"#, "{}", true),
    ]);
}

/// IAM User Guide, "IAM JSON policy elements: Condition operators", Numeric condition operators.
#[test]
fn numeric_operators() {
    run(&[
        (r#"{"NumericEquals": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "10"}"#, true),
        (r#"{"NumericEquals": {"s3:max-keys": 10}}"#, r#"{"s3:max-keys": "10.0"}"#, true),
        (r#"{"NumericEquals": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "11"}"#, false),
        (r#"{"NumericNotEquals": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "11"}"#, true),
        (r#"{"NumericLessThan": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "9"}"#, true),
        (r#"{"NumericLessThan": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "10"}"#, false),
        (r#"{"NumericLessThanEquals": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "10"}"#, true),
        (r#"{"NumericGreaterThan": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "10"}"#, false),
        (r#"{"NumericGreaterThan": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "10.5"}"#, true),
        (r#"{"NumericGreaterThanEquals": {"s3:max-keys": "-1"}}"#, r#"{"s3:max-keys": "-1"}"#, true),
        (r#"{"NumericLessThan": {"s3:max-keys": "10"}}"#, r#"{"s3:max-keys": "ten"}"#, false),
        (r#"{"NumericLessThan": {"s3:max-keys": "10"}}"#, "{}", false),
    ]);
}

/// IAM User Guide, "IAM JSON policy elements: Condition operators", Date condition operators (ISO 8601
/// and epoch seconds both accepted).
#[test]
fn date_operators() {
    let now = r#"{"aws:CurrentTime": "2026-12-02T01:00:00Z", "aws:EpochTime": "1780000000"}"#;
    run(&[
        (r#"{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}"#, now, true),
        (r#"{"DateLessThan": {"aws:CurrentTime": "2026-01-01"}}"#, now, false),
        (r#"{"DateGreaterThan": {"aws:CurrentTime": "2026-12-01"}}"#, now, true),
        (r#"{"DateGreaterThanEquals": {"aws:CurrentTime": "2026-12-02T01:00:00Z"}}"#, now, true),
        (r#"{"DateLessThanEquals": {"aws:CurrentTime": "2026-12-02T02:00:00+01:00"}}"#, now, true),
        (r#"{"DateEquals": {"aws:CurrentTime": "2026-12-02T01:00:00.000Z"}}"#, now, true),
        (r#"{"DateNotEquals": {"aws:CurrentTime": "2026-12-02T01:00:00Z"}}"#, now, false),
        (r#"{"DateEquals": {"aws:CurrentTime": 1796173200}}"#, now, true),
        (r#"{"DateGreaterThan": {"aws:EpochTime": "2026-01-01T00:00:00Z"}}"#, now, true),
        (r#"{"DateLessThan": {"aws:EpochTime": 1700000000}}"#, now, false),
        (r#"{"DateLessThan": {"aws:TokenIssueTime": "2027-01-01"}}"#, now, false),
    ]);
}

/// IAM User Guide, "IAM JSON policy elements: Condition operators": Bool, BinaryEquals, IP address.
#[test]
fn bool_binary_and_ip_operators() {
    run(&[
        (r#"{"Bool": {"aws:SecureTransport": "true"}}"#, r#"{"aws:SecureTransport": "true"}"#, true),
        (r#"{"Bool": {"aws:SecureTransport": true}}"#, r#"{"aws:SecureTransport": "TRUE"}"#, true),
        (r#"{"Bool": {"aws:SecureTransport": "true"}}"#, r#"{"aws:SecureTransport": "false"}"#, false),
        (r#"{"Bool": {"aws:SecureTransport": "false"}}"#, "{}", false),
        (r#"{"BinaryEquals": {"ecr:key": "QmluYXJ5VmFsdWU="}}"#, r#"{"ecr:key": "QmluYXJ5VmFsdWU="}"#, true),
        (r#"{"BinaryEquals": {"ecr:key": "QmluYXJ5VmFsdWU="}}"#, r#"{"ecr:key": "T3RoZXI="}"#, false),
        (r#"{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#, r#"{"aws:SourceIp": "203.0.113.7"}"#, true),
        (r#"{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#, r#"{"aws:SourceIp": "203.0.114.7"}"#, false),
        (r#"{"IpAddress": {"aws:SourceIp": "203.0.113.9"}}"#, r#"{"aws:SourceIp": "203.0.113.9"}"#, true),
        (r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#, r#"{"aws:SourceIp": "2001:db8:1::5"}"#, true),
        (r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#, r#"{"aws:SourceIp": "2001:db9::5"}"#, false),
        (
            r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}"#,
            r#"{"aws:SourceIp": "10.1.2.3"}"#,
            true,
        ),
        (r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#, r#"{"aws:SourceIp": "192.0.2.1"}"#, true),
        (r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#, r#"{"aws:SourceIp": "10.0.0.1"}"#, false),
        (r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#, "{}", true),
        (r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#, "{}", false),
    ]);
}

/// IAM User Guide, "IAM JSON policy elements: Condition operators", ARN condition operators: ArnEquals
/// and ArnLike both take wildcards; segments are matched separately.
#[test]
fn arn_operators() {
    let ctx = r#"{"aws:SourceArn": "arn:aws:ecr:us-east-1:111122223333:repository/app"}"#;
    run(&[
        (
            r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:ecr:us-east-1:111122223333:repository/app"}}"#,
            ctx,
            true,
        ),
        (r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:repository/*"}}"#, ctx, true),
        (r#"{"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:repository/*"}}"#, ctx, true),
        (r#"{"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:999999999999:repository/*"}}"#, ctx, false),
        (r#"{"ArnNotEquals": {"aws:SourceArn": "arn:aws:ecr:*:999999999999:*"}}"#, ctx, true),
        (r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:*"}}"#, ctx, false),
        (r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:*"}}"#, "{}", true),
        (r#"{"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:*"}}"#, "{}", false),
    ]);
}

/// IAM User Guide, "IAM JSON policy elements: Condition operators", "...IfExists" and "Condition
/// operator to check existence of condition keys" (Null).
#[test]
fn if_exists_and_null() {
    run(&[
        (r#"{"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}}"#, "{}", true),
        (
            r#"{"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}}"#,
            r#"{"aws:PrincipalOrgID": "o-2"}"#,
            false,
        ),
        (
            r#"{"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}}"#,
            r#"{"aws:PrincipalOrgID": "o-1"}"#,
            true,
        ),
        (r#"{"NumericLessThanIfExists": {"s3:max-keys": "5"}}"#, "{}", true),
        (r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#, "{}", true),
        (r#"{"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:ecr:*:1:*"}}"#, "{}", true),
        (
            r#"{"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}"#,
            r#"{"aws:MultiFactorAuthPresent": "false"}"#,
            false,
        ),
        (r#"{"Null": {"aws:PrincipalOrgID": "true"}}"#, "{}", true),
        (r#"{"Null": {"aws:PrincipalOrgID": "true"}}"#, r#"{"aws:PrincipalOrgID": "o-1"}"#, false),
        (r#"{"Null": {"aws:PrincipalOrgID": "false"}}"#, r#"{"aws:PrincipalOrgID": "o-1"}"#, true),
        (r#"{"Null": {"aws:PrincipalOrgID": false}}"#, "{}", false),
        (r#"{"Null": {"aws:TagKeys": "true"}}"#, r#"{"aws:TagKeys": []}"#, true),
    ]);
}

/// IAM User Guide, "Create a condition with multiple context keys or values": operators and keys are
/// ANDed, values ORed; condition key names are case-insensitive.
#[test]
fn and_or_logic_and_key_case() {
    let both = r#"{"aws:PrincipalOrgID": "o-1", "aws:SecureTransport": "true"}"#;
    run(&[
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-1"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            both,
            true,
        ),
        (
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-1"}, "Bool": {"aws:SecureTransport": "false"}}"#,
            both,
            false,
        ),
        (r#"{"StringEquals": {"aws:PrincipalOrgID": "o-1", "aws:username": "alice"}}"#, both, false),
        (r#"{"StringEquals": {"AWS:PRINCIPALORGID": "o-1"}}"#, both, true),
        (r#"{"StringEquals": {"aws:principalorgid": ["o-9", "o-1"]}}"#, both, true),
        ("{}", "{}", true),
    ]);
}

/// IAM User Guide, "Set operators for multivalued context keys" and "Single-valued vs. multivalued
/// context keys": ForAllValues is true for a missing or empty key, ForAnyValue false; negated operators
/// apply per value.
#[test]
fn set_operators() {
    run(&[
        (r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#, r#"{"aws:TagKeys": ["a"]}"#, true),
        (
            r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#,
            r#"{"aws:TagKeys": ["a", "c"]}"#,
            false,
        ),
        (r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#, "{}", true),
        (r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#, r#"{"aws:TagKeys": []}"#, true),
        (
            r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#,
            r#"{"aws:TagKeys": ["c", "b"]}"#,
            true,
        ),
        (r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#, r#"{"aws:TagKeys": ["c"]}"#, false),
        (r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#, "{}", false),
        (r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}"#, r#"{"aws:TagKeys": []}"#, false),
        (
            r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#,
            r#"{"aws:TagKeys": ["a", "b"]}"#,
            true,
        ),
        (
            r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#,
            r#"{"aws:TagKeys": ["a", "secret"]}"#,
            false,
        ),
        (r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#, "{}", true),
        (
            r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#,
            r#"{"aws:TagKeys": ["secret", "a"]}"#,
            true,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#,
            r#"{"aws:TagKeys": ["secret"]}"#,
            false,
        ),
        (r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#, "{}", false),
        (
            r#"{"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-1/r-ab/ou-1*"}}"#,
            r#"{"aws:PrincipalOrgPaths": ["o-1/r-ab/ou-2/", "o-1/r-ab/ou-1/ou-7/"]}"#,
            true,
        ),
        (
            r#"{"ForAllValues:StringLike": {"aws:TagKeys": "team-*"}}"#,
            r#"{"aws:TagKeys": ["team-a", "team-b"]}"#,
            true,
        ),
        (r#"{"ForAllValues:StringEqualsIfExists": {"aws:TagKeys": "a"}}"#, "{}", true),
        (r#"{"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "a"}}"#, "{}", true),
        (r#"{"StringEquals": {"aws:TagKeys": "a"}}"#, r#"{"aws:TagKeys": ["b", "a"]}"#, true),
        (r#"{"StringNotEquals": {"aws:TagKeys": "a"}}"#, r#"{"aws:TagKeys": ["b", "a"]}"#, false),
    ]);
}
