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

/// IAM User Guide, "IAM policy elements: Variables and tags", where you can use policy variables: in the
/// Resource element a variable may only appear in the resource part of the ARN (after the fifth colon).
/// Before it (partition, service, region, account) the `${...}` text is compared as written, so it matches
/// no real ARN, a Resource entry grants nothing and a NotResource entry excludes nothing.
#[test]
fn variables_before_the_resource_part_are_literal() {
    const APP_X: &str = "arn:aws:ecr:us-east-1:111122223333:repository/x";
    const ACCOUNT_VAR: &str = "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/x";
    let user = r#"{"aws:username": "alice"}"#;
    let region = r#"{"aws:RequestedRegion": "us-east-1"}"#;
    let rows: &[(&str, &str, &str, &str, bool)] = &[
        ("Resource", ACCOUNT_VAR, APP_X, "{}", false),
        ("Resource", ACCOUNT_VAR, ACCOUNT_VAR, "{}", true),
        ("Resource", "arn:aws:ecr:${aws:RequestedRegion}:111122223333:repository/x", APP_X, region, false),
        ("Resource", "arn:${aws:username}:ecr:us-east-1:111122223333:repository/x", APP_X, user, false),
        (
            "Resource",
            "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/${aws:username}",
            APP_X,
            user,
            false,
        ),
        // the resource part still substitutes
        (
            "Resource",
            "arn:aws:ecr:us-east-1:111122223333:repository/${aws:username}",
            APP_X,
            r#"{"aws:username": "x"}"#,
            true,
        ),
        ("Resource", "arn:aws:s3:::${aws:username}/*", "arn:aws:s3:::alice/k", user, true),
        // NotResource: the literal entry excludes nothing
        ("NotResource", ACCOUNT_VAR, APP_X, "{}", true),
        (
            "NotResource",
            "arn:aws:ecr:us-east-1:111122223333:repository/${aws:username}",
            APP_X,
            r#"{"aws:username": "x"}"#,
            false,
        ),
    ];
    for (element, entry, target, context, expected) in rows {
        let text = format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Principal": "*",
                "Action": "*", "{element}": "{entry}"}}}}"#
        );
        let req = request(ALICE, "ecr:BatchGetImage", target, context);
        assert_eq!(
            endpoint_allows(&policy(&text), &req),
            *expected,
            "{element} {entry} vs {target} {context}"
        );
    }
}
