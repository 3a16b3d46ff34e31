//! The decision viewer's reasons: one row per way a statement applies or misses, in the order IAM checks
//! a statement's elements (IAM User Guide, "Policy evaluation logic": Action, Principal, Resource,
//! Condition), and the trace never disagreeing with `decide` on which statements matched.

use super::super::{layer_name, reasons, trace_policy, Layer, Outcome};
use super::{endpoint_decision, policy, request, ALICE, REPO};

/// Story (a)'s shape: the organization may do anything, nobody may push to `prod/`.
const ORG_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowOrg",
      "Effect": "Allow",
      "Principal": "*",
      "Action": "*",
      "Resource": "*",
      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-x"}}
    },
    {"Sid": "DenyProdPush", "Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage",
     "Resource": "arn:aws:ecr:*:*:repository/prod/*"},
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:user/bob"},
     "Action": "ecr:BatchGetImage", "Resource": "arn:aws:ecr:*:*:repository/shared"}
  ]
}"#;

const PROD: &str = "arn:aws:ecr:us-east-1:111122223333:repository/prod/app";

#[test]
fn each_reason_names_the_statement_and_what_held_or_missed() {
    let rows: [(&str, &str, &str, Outcome, &[&str]); 6] = [
        ("ecr:BatchGetImage", REPO, r#"{"aws:PrincipalOrgID": "o-y"}"#, Outcome::ImplicitDeny, &[
            "the VPC endpoint policy's statement `AllowOrg` allows ecr:BatchGetImage, but its condition \
             aws:PrincipalOrgID StringEquals o-x did not hold: the caller's value is o-y",
            "the VPC endpoint policy's statement 3 (no Sid) allows ecr:BatchGetImage, but its Principal does not \
             name the caller arn:aws:iam::111122223333:user/alice; and its Resource does not cover \
             arn:aws:ecr:us-east-1:111122223333:repository/app",
        ]),
        ("ecr:PutImage", REPO, "{}", Outcome::ImplicitDeny, &[
            "the VPC endpoint policy's statement `AllowOrg` allows ecr:PutImage, but its condition \
             aws:PrincipalOrgID StringEquals o-x did not hold: the request has no aws:PrincipalOrgID",
        ]),
        ("ecr:PutImage", PROD, r#"{"aws:PrincipalOrgID": "o-x"}"#, Outcome::ExplicitDeny, &[
            "the VPC endpoint policy's statement `DenyProdPush` denies ecr:PutImage on \
             arn:aws:ecr:us-east-1:111122223333:repository/prod/app: its action, principal and resource match \
             and it has no condition",
        ]),
        ("ecr:BatchGetImage", REPO, r#"{"aws:PrincipalOrgID": "o-x"}"#, Outcome::Allow, &[
            "the VPC endpoint policy's statement `AllowOrg` allows ecr:BatchGetImage on \
             arn:aws:ecr:us-east-1:111122223333:repository/app: its condition held: aws:PrincipalOrgID \
             StringEquals o-x (the caller's value is o-x)",
        ]),
        ("ecr:BatchGetImage", REPO, r#"{"aws:PrincipalOrgID": ["o-y", "o-z"]}"#, Outcome::ImplicitDeny, &[
            "the VPC endpoint policy's statement `AllowOrg` allows ecr:BatchGetImage, but its condition \
             aws:PrincipalOrgID StringEquals o-x did not hold: the caller's values are o-y, o-z",
            "the VPC endpoint policy's statement 3 (no Sid) allows ecr:BatchGetImage, but its Principal does not \
             name the caller arn:aws:iam::111122223333:user/alice; and its Resource does not cover \
             arn:aws:ecr:us-east-1:111122223333:repository/app",
        ]),
        ("ecr:PutImage", PROD, r#"{"aws:PrincipalOrgID": "o-y"}"#, Outcome::ExplicitDeny, &[
            "the VPC endpoint policy's statement `DenyProdPush` denies ecr:PutImage on \
             arn:aws:ecr:us-east-1:111122223333:repository/prod/app: its action, principal and resource match \
             and it has no condition",
        ]),
    ];
    let endpoint = policy(ORG_ONLY);
    for (action, resource, context, outcome, expected) in rows {
        let req = request(ALICE, action, resource, context);
        let decision = endpoint_decision(&endpoint, &req);
        assert_eq!(decision.outcome, outcome, "{action} {context}");
        let statements = trace_policy(&endpoint, &req, decision.outcome);
        let refused = outcome == Outcome::ImplicitDeny;
        assert_eq!(reasons(Layer::VpcEndpoint, &statements, &req, refused), expected, "{action} {context}");
        // The trace and `decide` agree on which statements applied.
        let applied: Vec<Option<&str>> =
            statements.iter().filter(|s| s.applies).map(|s| s.sid.as_deref()).collect();
        let matched: Vec<Option<&str>> = decision.matched.iter().map(|m| m.sid.as_deref()).collect();
        assert_eq!(applied, matched, "{action} {context}");
    }
}

#[test]
fn a_refusal_no_allow_comes_near_says_nothing_allows_the_action() {
    let pull_only = policy(
        r#"{"Statement": {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage",
            "Resource": "*"}}"#,
    );
    let req = request(ALICE, "ecr:PutImage", REPO, "{}");
    let statements = trace_policy(&pull_only, &req, Outcome::ImplicitDeny);
    assert!(!statements[0].action && !statements[0].applies && !statements[0].deciding);
    assert_eq!(
        reasons(Layer::VpcEndpoint, &statements, &req, true),
        ["no statement of the VPC endpoint policy allows ecr:PutImage"]
    );
    assert_eq!(layer_name(Layer::Resource), "the resource-based policy");
}

#[test]
fn statements_know_their_lines_so_the_deciding_one_can_be_highlighted() {
    let endpoint = policy(ORG_ONLY);
    let req = request(ALICE, "ecr:PutImage", PROD, r#"{"aws:PrincipalOrgID": "o-x"}"#);
    let statements = trace_policy(&endpoint, &req, Outcome::ExplicitDeny);
    let lines: Vec<[u32; 2]> = statements.iter().map(|s| s.lines).collect();
    assert_eq!(lines, [[4, 11], [12, 13], [14, 15]]);
    let deciding: Vec<bool> = statements.iter().map(|s| s.deciding).collect();
    assert_eq!(deciding, [false, true, false], "AllowOrg applies too, but the Deny decided");
    let condition = &statements[0].conditions[0];
    assert_eq!((condition.operator.as_str(), condition.key.as_str()), ("StringEquals", "aws:PrincipalOrgID"));
    assert_eq!((condition.caller.as_deref(), condition.holds), (Some(&["o-x".to_string()][..]), true));
}
