//! Decisions across endpoint, identity and resource policies, and AWS's messages.

use super::super::{decide, denial_message, Layer, Outcome, Policy, PolicyLayers};
use super::{policy, request};

const ALLOW_ALL: &str =
    r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}"#;
const IDENTITY_PUSH: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Push", "Effect": "Allow",
    "Action": "ecr:PutImage", "Resource": "arn:aws:ecr:*:111122223333:repository/*"}}"#;
const IDENTITY_DENY: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "NoPush", "Effect": "Deny",
    "Action": "ecr:PutImage", "Resource": "*"}}"#;
const RESOURCE_ANYONE: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Public", "Effect": "Allow",
    "Principal": "*", "Action": "ecr:*"}}"#;
const RESOURCE_ACCOUNT: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Acct", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "ecr:*"}}"#;
const RESOURCE_ACCOUNT_ID: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Acct", "Effect": "Allow",
    "Principal": {"AWS": "111122223333"}, "Action": "ecr:*"}}"#;
/// Mixed Principal lists: an account entry next to a specific principal (IAM User Guide, "IAM JSON policy
/// elements: Principal", AWS account principals).
const RESOURCE_ACCOUNT_AND_BOB: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Mixed", "Effect": "Allow",
    "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:user/bob"]}, "Action": "ecr:*"}}"#;
const RESOURCE_ROOT_AND_BOB: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Mixed", "Effect": "Allow",
    "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:user/bob"]},
    "Action": "ecr:*"}}"#;
const RESOURCE_ACCOUNT_AND_ALICE: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Mixed", "Effect": "Allow",
    "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:user/alice"]}, "Action": "ecr:*"}}"#;
const RESOURCE_ACCOUNT_AND_ANYONE: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Mixed", "Effect": "Allow",
    "Principal": {"AWS": ["111122223333", "*"]}, "Action": "ecr:*"}}"#;
const RESOURCE_BOB: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Bob", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::444455556666:user/bob"}, "Action": "ecr:PutImage"}}"#;
const RESOURCE_ALICE: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Alice", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "ecr:PutImage"}}"#;
const RESOURCE_DENY: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Lock", "Effect": "Deny",
    "Principal": "*", "Action": "ecr:PutImage"}}"#;
const ENDPOINT_PULL_ONLY: &str = r#"{"Statement": {"Sid": "Pull", "Effect": "Allow", "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": "*"}}"#;
const ENDPOINT_DENY_PUSH: &str = r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    {"Sid": "NoPush", "Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage", "Resource": "*"}]}"#;

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::444455556666:user/bob";
const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/app";

struct Row {
    endpoint: Option<&'static str>,
    identity: Option<&'static str>,
    resource: Option<&'static str>,
    principal: &'static str,
    expected: Outcome,
    denied_by: Option<Layer>,
}

fn opt(text: Option<&str>) -> Option<Policy> {
    text.map(policy)
}

/// IAM User Guide, "Policy evaluation logic" (same account: identity OR resource; explicit deny wins),
/// "Cross-account policy evaluation logic" (identity AND resource), and AWS PrivateLink Guide, "Control
/// access to VPC endpoints using endpoint policies" (the endpoint policy must also allow).
#[test]
fn layer_logic() {
    use Layer::*;
    use Outcome::*;
    let row = |endpoint, identity, resource, principal, expected, denied_by| Row {
        endpoint,
        identity,
        resource,
        principal,
        expected,
        denied_by,
    };
    let rows = [
        // endpoint-only mode
        row(Some(ALLOW_ALL), None, None, ALICE, Allow, None),
        row(Some(ENDPOINT_PULL_ONLY), None, None, ALICE, ImplicitDeny, Some(VpcEndpoint)),
        row(Some(ENDPOINT_DENY_PUSH), None, None, ALICE, ExplicitDeny, Some(VpcEndpoint)),
        row(Some(ALLOW_ALL), None, None, "anonymous", Allow, None),
        // same account
        row(None, Some(IDENTITY_PUSH), None, ALICE, Allow, None),
        row(Some(ALLOW_ALL), Some(IDENTITY_PUSH), None, ALICE, Allow, None),
        row(Some(ENDPOINT_PULL_ONLY), Some(IDENTITY_PUSH), None, ALICE, ImplicitDeny, Some(VpcEndpoint)),
        row(None, Some(IDENTITY_DENY), Some(RESOURCE_ALICE), ALICE, ExplicitDeny, Some(Identity)),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_DENY), ALICE, ExplicitDeny, Some(Resource)),
        row(Some(ENDPOINT_DENY_PUSH), Some(IDENTITY_PUSH), None, ALICE, ExplicitDeny, Some(VpcEndpoint)),
        row(None, None, Some(RESOURCE_ALICE), ALICE, Allow, None),
        row(None, Some(IDENTITY_DENY), None, ALICE, ExplicitDeny, Some(Identity)),
        row(
            None,
            Some(r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#),
            None,
            ALICE,
            ImplicitDeny,
            Some(Identity),
        ),
        // a resource statement naming only the account delegates to identity policies
        row(None, None, Some(RESOURCE_ACCOUNT), ALICE, ImplicitDeny, Some(Identity)),
        row(None, None, Some(RESOURCE_ACCOUNT_ID), ALICE, ImplicitDeny, Some(Identity)),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_ACCOUNT), ALICE, Allow, None),
        // ... decided per matched entry: reached only through the account entry, it still delegates
        row(None, None, Some(RESOURCE_ACCOUNT_AND_BOB), ALICE, ImplicitDeny, Some(Identity)),
        row(None, None, Some(RESOURCE_ROOT_AND_BOB), ALICE, ImplicitDeny, Some(Identity)),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_ACCOUNT_AND_BOB), ALICE, Allow, None),
        row(None, None, Some(RESOURCE_ACCOUNT_AND_ALICE), CAROL, ImplicitDeny, Some(Identity)),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_ACCOUNT_AND_ALICE), CAROL, Allow, None),
        // ... while an entry naming the caller (or everyone) grants by itself in the same account
        row(None, None, Some(RESOURCE_ACCOUNT_AND_ALICE), ALICE, Allow, None),
        row(None, None, Some(RESOURCE_ACCOUNT_AND_ANYONE), CAROL, Allow, None),
        // AWS Marketplace blog, developer push to prod-repository: a resource policy that is attached and
        // allows the caller nothing is what refused ("because no resource-based policy allows")
        row(None, None, Some(RESOURCE_BOB), ALICE, ImplicitDeny, Some(Resource)),
        row(
            None,
            Some(r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#),
            Some(RESOURCE_ALICE),
            CAROL,
            ImplicitDeny,
            Some(Resource),
        ),
        // cross account: both sides must allow
        row(None, Some(IDENTITY_PUSH), None, BOB, ImplicitDeny, Some(Resource)),
        row(
            None,
            Some(r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#),
            Some(RESOURCE_BOB),
            BOB,
            ImplicitDeny,
            Some(Identity),
        ),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_BOB), BOB, Allow, None),
        row(None, None, Some(RESOURCE_BOB), BOB, ImplicitDeny, Some(Identity)),
        row(None, None, Some(RESOURCE_ACCOUNT_AND_BOB), BOB, ImplicitDeny, Some(Identity)),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_ACCOUNT_AND_BOB), BOB, Allow, None),
        row(None, Some(IDENTITY_PUSH), Some(RESOURCE_ALICE), BOB, ImplicitDeny, Some(Resource)),
        row(
            Some(ENDPOINT_PULL_ONLY),
            Some(IDENTITY_PUSH),
            Some(RESOURCE_BOB),
            BOB,
            ImplicitDeny,
            Some(VpcEndpoint),
        ),
        // anonymous: the resource policy alone, plus the endpoint
        row(Some(ALLOW_ALL), None, Some(RESOURCE_ANYONE), "anonymous", Allow, None),
        row(
            Some(ALLOW_ALL),
            Some(IDENTITY_PUSH),
            Some(RESOURCE_ACCOUNT),
            "anonymous",
            ImplicitDeny,
            Some(Resource),
        ),
        row(
            Some(ENDPOINT_PULL_ONLY),
            None,
            Some(RESOURCE_ANYONE),
            "anonymous",
            ImplicitDeny,
            Some(VpcEndpoint),
        ),
    ];
    for (i, r) in rows.iter().enumerate() {
        let (endpoint, resource) = (opt(r.endpoint), opt(r.resource));
        let identity: Option<Vec<Policy>> = r.identity.map(|t| vec![policy(t)]);
        let layers = PolicyLayers {
            endpoint: endpoint.as_ref(),
            identity: identity.as_deref(),
            resource: resource.as_ref(),
        };
        let decision = decide(&layers, &request(r.principal, "ecr:PutImage", REPO, "{}"));
        assert_eq!((decision.outcome, decision.denied_by), (r.expected, r.denied_by), "row {i}");
        assert_eq!(decision.message.is_some(), r.expected != Allow, "row {i}");
    }
}

/// The messages AWS returns (AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint
/// policies"; IAM User Guide, "Troubleshoot access denied error messages").
#[test]
fn denial_messages() {
    use Layer::*;
    use Outcome::*;
    let head = "User: arn:aws:iam::1:user/a is not authorized to perform: ecr:PutImage on resource: arn:x";
    let rows = [
        (ImplicitDeny, VpcEndpoint, "because no VPC endpoint policy allows the ecr:PutImage action"),
        (ExplicitDeny, VpcEndpoint, "with an explicit deny in a VPC endpoint policy"),
        (ImplicitDeny, Identity, "because no identity-based policy allows the ecr:PutImage action"),
        (ExplicitDeny, Identity, "with an explicit deny in an identity-based policy"),
        (ImplicitDeny, Resource, "because no resource-based policy allows the ecr:PutImage action"),
        (ExplicitDeny, Resource, "with an explicit deny in a resource-based policy"),
    ];
    for (outcome, layer, tail) in rows {
        let message = denial_message("arn:aws:iam::1:user/a", "ecr:PutImage", "arn:x", outcome, layer);
        assert_eq!(message, format!("{head} {tail}"));
    }
}

/// Seed scenario (a), ARCHITECTURE.md §1: the org-only endpoint policy (AWS PrivateLink Guide, "Control access
/// to VPC endpoints using endpoint policies"; IAM User Guide, "AWS global condition context keys",
/// aws:PrincipalOrgID).
pub(crate) const ORG_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "OwnRegistryOnly", "Effect": "Allow", "Principal": "*", "Action": "ecr:*",
     "Resource": "arn:aws:ecr:*:123456789123:repository/*",
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}},
    {"Sid": "RegistryLevel", "Effect": "Allow", "Principal": "*",
     "Action": ["ecr:GetAuthorizationToken", "ecr:DescribeRegistry"], "Resource": "*",
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}},
    {"Sid": "KeepBaseImage3", "Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository",
     "Resource": "arn:aws:ecr:*:123456789123:repository/base-image3"}
  ]
}"#;

#[test]
fn seed_org_only_endpoint_policy() {
    use Outcome::*;
    let endpoint = policy(ORG_ONLY);
    let org = r#"{"aws:PrincipalOrgID": "o-21ej9awi6a"}"#;
    let dev = "arn:aws:sts::123456789123:assumed-role/dev/s1";
    let repo = |name: &str| format!("arn:aws:ecr:us-east-1:123456789123:repository/{name}");
    let rows = [
        ("ecr:PutImage", repo("app"), org, Allow),
        ("ecr:BatchGetImage", repo("team/app"), org, Allow),
        ("ecr:GetAuthorizationToken", "*".to_string(), org, Allow),
        ("ecr:PutImage", repo("app"), r#"{"aws:PrincipalOrgID": "o-other"}"#, ImplicitDeny),
        ("ecr:PutImage", repo("app"), "{}", ImplicitDeny),
        ("ecr:PutImage", "arn:aws:ecr:us-east-1:999999999999:repository/app".to_string(), org, ImplicitDeny),
        ("ecr:DeleteRepository", repo("base-image3"), org, ExplicitDeny),
        ("ecr:DeleteRepository", repo("base-image2"), org, Allow),
    ];
    for (action, resource, context, expected) in rows {
        let decision = super::endpoint_decision(&endpoint, &request(dev, action, &resource, context));
        assert_eq!(decision.outcome, expected, "{action} {resource} {context}");
    }
    let denied =
        super::endpoint_decision(&endpoint, &request(dev, "ecr:DeleteRepository", &repo("base-image3"), org));
    assert_eq!(
        denied.message.as_deref(),
        Some("User: arn:aws:sts::123456789123:assumed-role/dev/s1 is not authorized to perform: ecr:DeleteRepository on resource: arn:aws:ecr:us-east-1:123456789123:repository/base-image3 with an explicit deny in a VPC endpoint policy")
    );
    let sids: Vec<_> = denied.matched.iter().map(|m| m.sid.as_deref()).collect();
    assert_eq!(sids, [Some("OwnRegistryOnly"), Some("KeepBaseImage3")]);
}

/// An identity policy alone, with no resource policy (IAM User Guide, "Policy evaluation logic"): a user
/// who may push only to `len-s-mp/sample-repository*` is refused elsewhere by the identity layer. (The
/// published Marketplace story, where a repository policy is attached, is
/// `shipped_story_policies_give_the_published_messages` in tests/simulate_cli.rs
/// and ARCHITECTURE.md §3.)
const DEVELOPER: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "PushSampleOnly", "Effect": "Allow",
     "Action": ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                "ecr:BatchCheckLayerAvailability"],
     "Resource": "arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/sample-repository*"},
    {"Sid": "Login", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
  ]
}"#;

#[test]
fn push_only_identity_policy_without_a_resource_policy() {
    use Outcome::*;
    let identity = [policy(DEVELOPER)];
    let endpoint = Policy::allow_all();
    let layers = PolicyLayers { endpoint: Some(&endpoint), identity: Some(&identity), resource: None };
    let dev = "arn:aws:iam::709825985650:user/developer";
    let repo = |name: &str| format!("arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/{name}");
    let rows = [
        ("ecr:InitiateLayerUpload", repo("sample-repository"), Allow),
        ("ecr:PutImage", repo("sample-repository-v2"), Allow),
        ("ecr:GetAuthorizationToken", "*".to_string(), Allow),
        ("ecr:InitiateLayerUpload", repo("prod-repository"), ImplicitDeny),
        ("ecr:DeleteRepository", repo("sample-repository"), ImplicitDeny),
    ];
    for (action, resource, expected) in rows {
        assert_eq!(
            decide(&layers, &request(dev, action, &resource, "{}")).outcome,
            expected,
            "{action} {resource}"
        );
    }
    let decision = decide(&layers, &request(dev, "ecr:InitiateLayerUpload", &repo("prod-repository"), "{}"));
    assert_eq!(decision.denied_by, Some(Layer::Identity));
    assert_eq!(
        decision.message.as_deref(),
        Some("User: arn:aws:iam::709825985650:user/developer is not authorized to perform: ecr:InitiateLayerUpload on resource: arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/prod-repository because no identity-based policy allows the ecr:InitiateLayerUpload action")
    );
}
