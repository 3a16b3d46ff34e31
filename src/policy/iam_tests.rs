//! The generated tables against the Service Authorization Reference pages they come from.

use super::*;

/// Whether a request for `action` carries `key` at all: one question of [`KeyScope`].
fn key_applies(action: &str, key: &str) -> bool {
    KeyScope::of(action).applies(key)
}

/// Service Authorization Reference, "Actions defined by Amazon Elastic Container Registry": 60 actions, 25
/// of them with no resource type (authorized on `*`).
#[test]
fn ecr_actions_and_the_ones_without_a_resource_type() {
    let ecr = service("ecr").unwrap();
    assert_eq!(ecr.actions.len(), 60);
    let star: Vec<_> = ecr.actions.iter().filter(|a| a.resource_types.is_empty()).map(|a| a.name).collect();
    assert_eq!(star.len(), 25, "{star:?}");
    for name in ["GetAuthorizationToken", "DeleteSigningConfiguration", "RegisterPullTimeUpdateExclusion"] {
        assert!(star.contains(&name), "{name}");
    }
    for name in ["DeregisterPullTimeUpdateExclusion", "UpdateImageStorageClass", "BatchGetImage"] {
        assert!(action("ecr", name).is_some(), "{name}");
    }
}

/// Service Authorization Reference, "Actions defined by Amazon S3": `DeleteBucketOwnershipControls` is an
/// API, not an action (it is authorized as `s3:PutBucketOwnershipControls`).
#[test]
fn s3_actions() {
    assert_eq!(service("s3").unwrap().actions.len(), 180);
    assert!(action("s3", "DeleteBucketOwnershipControls").is_none());
    assert!(action("S3", "putbucketownershipcontrols").is_some());
}

/// One row per key: (action, key, whether IAM gives the action that key). Sources: the Service
/// Authorization Reference pages for Amazon S3 and Amazon ECR (condition keys column), and the IAM User
/// Guide, "AWS global condition context keys".
#[test]
fn keys_apply_only_where_the_reference_lists_them() {
    let rows = [
        ("s3:ListBucket", "s3:prefix", true),
        ("s3:ListBucket", "s3:max-keys", true),
        ("s3:ListBucketMultipartUploads", "s3:prefix", false),
        ("s3:ListBucketMultipartUploads", "s3:delimiter", false),
        ("s3:GetObject", "s3:ExistingObjectTag/team", true),
        ("ecr:CreateRepository", "aws:RequestTag/team", true),
        ("ecr:CreateRepository", "aws:TagKeys", true),
        ("ecr:UntagResource", "aws:TagKeys", true),
        ("ecr:UntagResource", "aws:RequestTag/team", false),
        ("ecr:PutImage", "aws:RequestTag/team", false),
        ("ecr:BatchGetImage", "aws:ResourceTag/team", true),
        ("ecr:BatchGetImage", "ecr:ResourceTag/team", true),
        ("ecr:GetAuthorizationToken", "aws:ResourceTag/team", false),
        ("ecr:PutAccountSetting", "ecr:AccountSetting", true),
        ("ecr:PutImage", "ecr:AccountSetting", false),
        ("ecr:GetAuthorizationToken", "aws:ResourceOrgID", true),
        ("ecr:BatchGetImage", "aws:PrincipalOrgID", true),
        ("ecr:BatchGetImage", "aws:PrincipalTag/team", true),
        ("sts:AssumeRole", "aws:RequestTag/team", true),
    ];
    for (action, key, applies) in rows {
        assert_eq!(key_applies(action, key), applies, "{action} {key}");
    }
}

/// IAM User Guide, "AWS global condition context keys": types, and templated keys need a tail.
#[test]
fn keys_are_found_with_their_types() {
    assert_eq!(find_key("aws:PrincipalOrgPaths").unwrap().kind, KeyType::ArrayOfString);
    assert!(find_key("aws:PrincipalOrgPaths").unwrap().kind.is_multivalued());
    assert!(!find_key("AWS:principalorgid").unwrap().kind.is_multivalued());
    assert!(find_key("aws:ResourceTag/team").is_some());
    assert!(find_key("aws:ResourceTag/").is_none());
    assert!(find_key("ecr:ResourceTag/team").is_some());
    assert!(find_key("ecr:ResourceTags/team").is_none());
    assert!(find_key("s3:prefx").is_none());
    assert!(find_key("s3:x-amz-server-side-encryption").is_some());
}
