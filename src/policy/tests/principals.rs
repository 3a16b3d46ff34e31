//! Principal and NotPrincipal matching in endpoint policies.

use super::{endpoint_allows, policy, request, REPO};

/// IAM User Guide, "AWS JSON policy elements: Principal" and AWS PrivateLink Guide, "Control access to
/// VPC endpoints using endpoint policies": `*` is everyone (anonymous included), an account id or
/// `:root` is every principal of the account, a role ARN matches the role's assumed-role sessions.
#[test]
fn principal_matching() {
    let rows: &[(&str, &str, bool)] = &[
        (r#""*""#, "arn:aws:iam::111122223333:user/alice", true),
        (r#""*""#, "anonymous", true),
        (r#"{"AWS": "*"}"#, "anonymous", true),
        (r#"{"AWS": "111122223333"}"#, "arn:aws:iam::111122223333:user/alice", true),
        (r#"{"AWS": "111122223333"}"#, "arn:aws:sts::111122223333:assumed-role/dev/s1", true),
        (r#"{"AWS": "111122223333"}"#, "arn:aws:iam::444455556666:user/alice", false),
        (r#"{"AWS": "111122223333"}"#, "anonymous", false),
        (r#"{"AWS": "arn:aws:iam::111122223333:root"}"#, "arn:aws:iam::111122223333:user/bob", true),
        (r#"{"AWS": "arn:aws:iam::111122223333:root"}"#, "arn:aws:iam::444455556666:root", false),
        (r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#, "arn:aws:iam::111122223333:user/alice", true),
        (r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#, "arn:aws:iam::111122223333:user/bob", false),
        (
            r#"{"AWS": "arn:aws:iam::111122223333:role/dev"}"#,
            "arn:aws:sts::111122223333:assumed-role/dev/s1",
            true,
        ),
        (
            r#"{"AWS": "arn:aws:iam::111122223333:role/team/dev"}"#,
            "arn:aws:sts::111122223333:assumed-role/dev/s1",
            true,
        ),
        (
            r#"{"AWS": "arn:aws:iam::111122223333:role/dev"}"#,
            "arn:aws:sts::111122223333:assumed-role/dev2/s1",
            false,
        ),
        (
            r#"{"AWS": "arn:aws:iam::111122223333:role/dev"}"#,
            "arn:aws:sts::444455556666:assumed-role/dev/s1",
            false,
        ),
        (r#"{"AWS": "arn:aws:iam::111122223333:role/dev"}"#, "arn:aws:iam::111122223333:role/dev", true),
        (
            r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/dev/s1"}"#,
            "arn:aws:sts::111122223333:assumed-role/dev/s1",
            true,
        ),
        (
            r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/dev/s1"}"#,
            "arn:aws:sts::111122223333:assumed-role/dev/s2",
            false,
        ),
        (
            r#"{"AWS": ["444455556666", "arn:aws:iam::111122223333:user/alice"]}"#,
            "arn:aws:iam::111122223333:user/alice",
            true,
        ),
        (r#"{"Service": "ecr.amazonaws.com"}"#, "ecr.amazonaws.com", true),
        (r#"{"Service": ["ecr.amazonaws.com"]}"#, "arn:aws:iam::111122223333:user/alice", false),
        (r#"{"Federated": "cognito-identity.amazonaws.com"}"#, "cognito-identity.amazonaws.com", true),
        (
            r#"{"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            true,
        ),
    ];
    for (principal, caller, expected) in rows {
        let text = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Principal": {principal}, "Action": "*", "Resource": "*"}}}}"#
        );
        let req = request(caller, "ecr:BatchGetImage", REPO, "{}");
        assert_eq!(endpoint_allows(&policy(&text), &req), *expected, "{principal} vs {caller}");
    }
}

/// IAM User Guide, "AWS JSON policy elements: NotPrincipal": a Deny with NotPrincipal applies to everyone
/// not listed.
#[test]
fn not_principal() {
    let rows: &[(&str, bool)] = &[
        ("arn:aws:iam::111122223333:user/alice", true),
        ("arn:aws:iam::111122223333:user/bob", false),
        ("arn:aws:sts::111122223333:assumed-role/admin/s", true),
        ("anonymous", false),
    ];
    let text = r#"{"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:role/admin"]}, "Action": "ecr:*", "Resource": "*"}]}"#;
    for (caller, expected) in rows {
        let req = request(caller, "ecr:PutImage", REPO, "{}");
        assert_eq!(endpoint_allows(&policy(text), &req), *expected, "{caller}");
    }
}
