//! Resource context keys from the config's facts. Source: IAM User Guide, "AWS global condition context
//! keys" (resource properties), and the Service Authorization Reference for Amazon ECR
//! (`ecr:ResourceTag/${TagKey}`).

use super::*;
use crate::classify::Permission;

const REPO: &str = "arn:aws:ecr:us-west-2:123456789123:repository/image1";

fn config() -> Config {
    let text = r#"
        [[account]]
        id = "123456789123"
        org_id = "o-21ej9awi6a"
        org_paths = ["o-21ej9awi6a/r-ab12/ou-ab12-11111111/"]

        [[repository]]
        arn = "arn:aws:ecr:us-west-2:123456789123:repository/image1"
        tags = { team = "platform" }

        [[bucket]]
        name = "team-artifacts"
        account = "123456789123"
    "#;
    Config::parse(text, std::path::Path::new("t.toml")).unwrap()
}

fn permission(resource: &str, account: Option<&str>) -> Permission {
    Permission {
        action: "ecr:BatchGetImage".into(),
        resource: resource.into(),
        resource_account: account.map(str::to_string),
    }
}

fn keys(p: &Permission) -> Vec<(String, Vec<String>)> {
    let mut ctx = RequestContext::new();
    Directory::new(&config()).unwrap().resource_context(p, &mut ctx);
    let mut out: Vec<_> =
        ctx.iter().map(|(k, v)| (k.to_string(), v.values().map(str::to_string).collect())).collect();
    out.sort();
    out
}

fn row(key: &str, value: &str) -> (String, Vec<String>) {
    (key.to_string(), vec![value.to_string()])
}

/// aws:ResourceAccount, aws:ResourceOrgID, aws:ResourceOrgPaths, aws:ResourceTag/*, ecr:ResourceTag/*.
#[test]
fn a_known_repository_gets_its_account_organization_and_tags() {
    assert_eq!(
        keys(&permission(REPO, Some("123456789123"))),
        vec![
            row("aws:resourceaccount", "123456789123"),
            row("aws:resourceorgid", "o-21ej9awi6a"),
            row("aws:resourceorgpaths", "o-21ej9awi6a/r-ab12/ou-ab12-11111111/"),
            row("aws:resourcetag/team", "platform"),
            row("ecr:resourcetag/team", "platform"),
        ]
    );
}

/// aws:ResourceOrgID: absent when the resource's account belongs to no organization the endpoint knows.
#[test]
fn an_unknown_account_has_no_organization() {
    let other = "arn:aws:ecr:us-west-2:444455556666:repository/x";
    assert_eq!(
        keys(&permission(other, Some("444455556666"))),
        vec![row("aws:resourceaccount", "444455556666")]
    );
}

/// aws:ResourceAccount for S3: the bucket's owner from `[[bucket]]`; a bucket nobody described has none.
#[test]
fn an_s3_object_is_owned_by_its_buckets_account() {
    let p = permission("arn:aws:s3:::team-artifacts/a/b", None);
    assert_eq!(Directory::new(&config()).unwrap().resource_account(&p).as_deref(), Some("123456789123"));
    assert_eq!(keys(&p)[1], row("aws:resourceorgid", "o-21ej9awi6a"));
    let stranger = permission("arn:aws:s3:::prod-us-east-1-starport-layer-bucket/x", None);
    assert_eq!(keys(&stranger), vec![]);
}

#[test]
fn malformed_and_repeated_facts_are_errors() {
    let bad = |text: &str| {
        Directory::new(&Config::parse(text, "t.toml".as_ref()).unwrap()).unwrap_err().to_string()
    };
    assert!(bad("[[account]]\nid = \"12345\"").contains("not a 12-digit account id"));
    assert!(bad("[[bucket]]\nname = \"b\"\naccount = \"x\"").contains("[[bucket]]"));
    assert!(bad("[[repository]]\narn = \"arn:aws:s3:::b\"").contains("is not arn:PARTITION:ecr"));
    let twice = "[[account]]\nid = \"123456789123\"\n[[account]]\nid = \"123456789123\"";
    assert!(bad(twice).contains("described twice"));
}
