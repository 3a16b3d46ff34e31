//! Policy variables and the Version rules.

use super::{endpoint_allows, policy, request, ALICE};

const BUCKET_KEY: &str = "arn:aws:s3:::home/alice/notes.txt";

/// IAM User Guide, "IAM policy elements: Variables and tags": `${...}` is replaced only under Version
/// 2012-10-17 (in Resource and in Condition values); elsewhere it is literal text; a variable with no
/// value makes its entry match nothing unless a default is given; `${*}`, `${?}`, `${$}` are literals.
#[test]
fn variables_in_resources() {
    let rows: &[(&str, &str, &str, &str, bool)] = &[
        (
            "2012-10-17",
            "arn:aws:s3:::home/${aws:username}/*",
            BUCKET_KEY,
            r#"{"aws:username": "alice"}"#,
            true,
        ),
        (
            "2012-10-17",
            "arn:aws:s3:::home/${aws:username}/*",
            BUCKET_KEY,
            r#"{"aws:username": "bob"}"#,
            false,
        ),
        (
            "2012-10-17",
            "arn:aws:s3:::home/${AWS:UserName}/*",
            BUCKET_KEY,
            r#"{"aws:username": "alice"}"#,
            true,
        ),
        ("2012-10-17", "arn:aws:s3:::home/${aws:username}/*", BUCKET_KEY, "{}", false),
        ("2012-10-17", "arn:aws:s3:::home/${aws:username, 'alice'}/*", BUCKET_KEY, "{}", true),
        ("2012-10-17", "arn:aws:s3:::home/${aws:username,'bob'}/*", BUCKET_KEY, "{}", false),
        (
            "2008-10-17",
            "arn:aws:s3:::home/${aws:username}/*",
            BUCKET_KEY,
            r#"{"aws:username": "alice"}"#,
            false,
        ),
        (
            "2008-10-17",
            "arn:aws:s3:::home/${aws:username}/*",
            "arn:aws:s3:::home/${aws:username}/x",
            r#"{"aws:username": "alice"}"#,
            true,
        ),
        ("", "arn:aws:s3:::home/${aws:username}/*", BUCKET_KEY, r#"{"aws:username": "alice"}"#, false),
        (
            "2012-10-17",
            "arn:aws:s3:::home/${aws:PrincipalTag/team}/*",
            "arn:aws:s3:::home/blue/x",
            r#"{"aws:PrincipalTag/team": "blue"}"#,
            true,
        ),
        ("2012-10-17", "arn:aws:s3:::home/${*}", "arn:aws:s3:::home/*", "{}", true),
        ("2012-10-17", "arn:aws:s3:::home/${*}", "arn:aws:s3:::home/anything", "{}", false),
        ("2012-10-17", "arn:aws:s3:::home/${?}", "arn:aws:s3:::home/x", "{}", false),
        ("2012-10-17", "arn:aws:s3:::home/${$}x", "arn:aws:s3:::home/$x", "{}", true),
        // a value substituted into a pattern is literal: a user named `*` gets only their own prefix
        (
            "2012-10-17",
            "arn:aws:s3:::home/${aws:username}/x",
            "arn:aws:s3:::home/bob/x",
            r#"{"aws:username": "*"}"#,
            false,
        ),
        (
            "2012-10-17",
            "arn:aws:s3:::home/${aws:username}/x",
            "arn:aws:s3:::home/*/x",
            r#"{"aws:username": "*"}"#,
            true,
        ),
        // a multivalued key has no single value to substitute
        (
            "2012-10-17",
            "arn:aws:s3:::home/${aws:TagKeys}/x",
            "arn:aws:s3:::home/a/x",
            r#"{"aws:TagKeys": ["a"]}"#,
            false,
        ),
    ];
    for (version, resource, target, context, expected) in rows {
        let version = if version.is_empty() { String::new() } else { format!(r#""Version": "{version}","#) };
        let text = format!(
            r#"{{{version} "Statement": {{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "{resource}"}}}}"#
        );
        let req = request(ALICE, "s3:GetObject", target, context);
        assert_eq!(
            endpoint_allows(&policy(&text), &req),
            *expected,
            "{version} {resource} vs {target} {context}"
        );
    }
}

/// IAM User Guide, "IAM policy elements: Variables and tags", using variables in conditions; derived
/// `aws:PrincipalArn` / `aws:PrincipalAccount` (AWS global condition context keys).
#[test]
fn variables_in_conditions() {
    let rows: &[(&str, &str, bool)] = &[
        (
            r#"{"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}"#,
            r#"{"ecr:ResourceTag/owner": "alice", "aws:username": "alice"}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}"#,
            r#"{"ecr:ResourceTag/owner": "alice", "aws:username": "bob"}"#,
            false,
        ),
        (
            r#"{"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}"#,
            r#"{"ecr:ResourceTag/owner": "alice"}"#,
            false,
        ),
        (
            r#"{"StringLike": {"ecr:ResourceTag/team": "${aws:PrincipalTag/team}-*"}}"#,
            r#"{"ecr:ResourceTag/team": "blue-ops", "aws:PrincipalTag/team": "blue"}"#,
            true,
        ),
        (
            r#"{"StringEquals": {"ecr:ResourceTag/team": "${aws:PrincipalTag/team, 'none'}"}}"#,
            r#"{"ecr:ResourceTag/team": "none"}"#,
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase": {"ecr:ResourceTag/owner": "${aws:username}"}}"#,
            r#"{"ecr:ResourceTag/owner": "ALICE", "aws:username": "alice"}"#,
            true,
        ),
        (r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333"}}"#, "{}", true),
        (r#"{"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}"#, "{}", true),
        (r#"{"StringEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}"#, "{}", true),
        (r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:user/*"}}"#, "{}", true),
        (
            r#"{"StringNotEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}"#,
            r#"{"ecr:ResourceTag/owner": "alice"}"#,
            true,
        ),
    ];
    for (condition, context, expected) in rows {
        let text = format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Principal": "*", "Action": "*",
                "Resource": "*", "Condition": {condition}}}}}"#
        );
        let req =
            request(ALICE, "ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/app", context);
        assert_eq!(endpoint_allows(&policy(&text), &req), *expected, "{condition} with {context}");
    }
}
