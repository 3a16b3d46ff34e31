//! Action and Resource wildcards.

use super::super::matching::{glob_match, ArnPattern, Glob, ResourcePattern};
use super::{endpoint_allows, policy, request, ALICE};

/// IAM User Guide, "IAM JSON policy elements: Action": action names are case-insensitive and take `*`
/// (any run of characters) and `?` (one character).
#[test]
fn action_patterns() {
    let rows: &[(&str, &str, bool)] = &[
        ("ecr:PutImage", "ecr:PutImage", true),
        ("ecr:putimage", "ecr:PutImage", true),
        ("ECR:PUTIMAGE", "ecr:putImage", true),
        ("ecr:*", "ecr:DeleteRepository", true),
        ("ecr:*", "s3:GetObject", false),
        ("*", "s3:GetObject", true),
        ("ecr:Batch*", "ecr:BatchGetImage", true),
        ("ecr:Batch*", "ecr:GetDownloadUrlForLayer", false),
        ("ecr:*Layer*", "ecr:InitiateLayerUpload", true),
        ("ecr:*Layer*", "ecr:PutImage", false),
        ("ecr:Get*Policy", "ecr:GetRepositoryPolicy", true),
        ("ecr:Get*Policy", "ecr:GetLifecyclePolicyPreview", false),
        ("ecr:?utImage", "ecr:PutImage", true),
        ("ecr:?utImage", "ecr:PPutImage", false),
        ("s3:GetObject?", "s3:GetObject", false),
        ("ecr:PutImage", "ecr:PutImageTagMutability", false),
    ];
    for (pattern, action, expected) in rows {
        let text = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Principal": "*", "Action": "{pattern}", "Resource": "*"}}}}"#
        );
        let req = request(ALICE, action, "*", "{}");
        assert_eq!(endpoint_allows(&policy(&text), &req), *expected, "{pattern} vs {action}");
    }
}

/// IAM User Guide, "IAM JSON policy elements: Resource": ARNs match per segment, case-sensitively; a
/// wildcard in the last (resource) segment spans `/` and `:`, but never crosses into another segment.
#[test]
fn resource_patterns() {
    let rows: &[(&str, &str, bool)] = &[
        ("*", "*", true),
        ("*", "arn:aws:ecr:us-east-1:111122223333:repository/app", true),
        (
            "arn:aws:ecr:*:123456789123:repository/*",
            "arn:aws:ecr:eu-west-1:123456789123:repository/a/b",
            true,
        ),
        ("arn:aws:ecr:*:123456789123:repository/*", "arn:aws:ecr:eu-west-1:999999999999:repository/a", false),
        ("arn:aws:ecr:*:123456789123:repository/*", "*", false),
        (
            "arn:aws:ecr:us-east-1:111122223333:repository/App",
            "arn:aws:ecr:us-east-1:111122223333:repository/app",
            false,
        ),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b/c", true),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::other/a", false),
        ("arn:aws:ecr:us-east-?:*:repository/x", "arn:aws:ecr:us-east-1:111122223333:repository/x", true),
        ("arn:aws:ecr:*:*:repository/x", "arn:aws:ecr:us-east-1:1:repository/x/y", false),
        ("arn:aws:ecr:us-*:111122223333:*", "arn:aws:ecr:us-east-1:111122223333:repository/x", true),
        (
            "arn:*:ecr:us-east-1:111122223333:repository/x",
            "arn:aws-cn:ecr:us-east-1:111122223333:repository/x",
            true,
        ),
        (
            "arn:aws:ecr:us-east-1:111122223333:repository/len-s-mp/sample-repository*",
            "arn:aws:ecr:us-east-1:111122223333:repository/len-s-mp/sample-repository-2",
            true,
        ),
        (
            "arn:aws:ecr:us-east-1:111122223333:repository/len-s-mp/sample-repository*",
            "arn:aws:ecr:us-east-1:111122223333:repository/len-s-mp/prod-repository",
            false,
        ),
        // With no wildcard before the resource segment the head is compared whole: each segment still counts.
        ("arn:aws:s3:::bucket/*", "arn:aws-cn:s3:::bucket/a", false),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:us-east-1::bucket/a", false),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3::::bucket/a", false),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3::bucket/a", false),
        (
            "arn:aws:ecr:us-east-1:111122223333:repository/x",
            "arn:aws:ecr:us-east-1:111122223334:repository/x",
            false,
        ),
        (
            "arn:aws:ecr:us-east-1:111122223333:repository/x",
            "ARN:aws:ecr:us-east-1:111122223333:repository/x",
            false,
        ),
        // a `*` in the region segment must not swallow the account segment
        ("arn:aws:ecr:*:repository/x", "arn:aws:ecr:us-east-1:111122223333:repository/x", false),
    ];
    for (pattern, resource, expected) in rows {
        assert_eq!(ResourcePattern::new(pattern).matches(resource), *expected, "{pattern} vs {resource}");
    }
}

/// IAM User Guide, "IAM JSON policy elements: NotAction" and "NotResource": the statement applies to
/// everything except what is listed.
#[test]
fn not_action_and_not_resource() {
    let rows: &[(&str, &str, &str, bool)] = &[
        (r#""NotAction": "ecr:DeleteRepository", "Resource": "*""#, "ecr:PutImage", "*", true),
        (r#""NotAction": "ecr:DeleteRepository", "Resource": "*""#, "ecr:deleterepository", "*", false),
        (r#""NotAction": ["ecr:Delete*", "ecr:Put*"], "Resource": "*""#, "ecr:PutImage", "*", false),
        (
            r#""Action": "*", "NotResource": "arn:aws:ecr:*:*:repository/secret""#,
            "ecr:PutImage",
            "arn:aws:ecr:us-east-1:1:repository/app",
            true,
        ),
        (
            r#""Action": "*", "NotResource": "arn:aws:ecr:*:*:repository/secret""#,
            "ecr:PutImage",
            "arn:aws:ecr:us-east-1:1:repository/secret",
            false,
        ),
        (
            r#""Action": "*", "NotResource": "arn:aws:ecr:*:*:repository/secret""#,
            "ecr:GetAuthorizationToken",
            "*",
            true,
        ),
    ];
    for (elements, action, resource, expected) in rows {
        let text = format!(r#"{{"Statement": {{"Effect": "Allow", "Principal": "*", {elements}}}}}"#);
        let req = request(ALICE, action, resource, "{}");
        assert_eq!(endpoint_allows(&policy(&text), &req), *expected, "{elements} / {action} {resource}");
    }
}

/// The matcher itself: `?` consumes one character (not one byte), escapes make wildcards literal.
#[test]
fn glob_edge_cases() {
    assert!(Glob::new("caf?").matches("café"));
    assert!(Glob::new("*").is_any());
    assert!(!Glob::new("a*b").matches("a"));
    assert!(Glob::new("a*b*c").matches("aXbYbZc"));
    assert!(glob_match(br"a\*", b"a*", false, true));
    assert!(!glob_match(br"a\*", b"ab", false, true));
    assert!(ArnPattern::new("not-an-arn").is_none());
}
