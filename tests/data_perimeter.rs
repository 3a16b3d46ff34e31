//! AWS's published data-perimeter endpoint policies (aws-samples/data-perimeter-policy-examples, the
//! `ecr.api` and `s3` endpoint policies, placeholders filled in as `tests/requests/data-perimeter/README.md`
//! says) decided through `vpce-proxy explain` with the facts of `config.toml` (ARCHITECTURE.md §9).
//! One row per case the repository's README describes; the expected Sid is the statement AWS wrote for it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

const MEMBER: &str = "10.0.1.7";
const OUTSIDER: &str = "10.0.2.7";
const EXCEPTED_MEMBER: &str = "10.0.3.7";
const SERVICE: &str = "10.0.4.7";
const PARTNER: &str = "10.0.5.7";
const NO_ENDPOINT_ALLOW: &str = "because no VPC endpoint policy allows the";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/requests/data-perimeter")
}

/// Writes the request file and runs explain against the data-perimeter config.
fn explain(name: &str, request: Value) -> Value {
    let path = std::env::temp_dir().join(format!("vpce-dp-{}-{name}.json", std::process::id()));
    std::fs::write(&path, request.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vpce-proxy"))
        .args(["explain", "--config"])
        .arg(dir().join("config.toml"))
        .arg("--request")
        .arg(&path)
        .output()
        .expect("run vpce-proxy");
    std::fs::remove_file(&path).ok();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(value.get("refused").is_none(), "{name}: {value}");
    value
}

/// `aws ecr describe-images` from `source_ip` on `registry`'s repository `app`.
fn describe_images(source_ip: &str, registry: &str) -> Value {
    json!({"host": "api.ecr.us-east-1.amazonaws.com", "method": "POST", "path": "/", "source_ip": source_ip,
           "headers": {"X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
                       "Content-Type": "application/x-amz-json-1.1"},
           "body": json!({"registryId": registry, "repositoryName": "app"}).to_string()})
}

/// A layer GET on an S3 bucket (virtual-hosted style), as docker follows a registry's 307.
fn get_object(source_ip: &str, bucket: &str) -> Value {
    json!({"host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "method": "GET",
           "path": "/docker/registry/v2/blobs/sha256/ab/abcd/data", "source_ip": source_ip, "headers": {}})
}

/// (case, request, expected decision, Sid that allows it or `None` for a denial).
fn rows() -> Vec<(&'static str, Value, &'static str, Option<&'static str>)> {
    vec![
        (
            "member on an org repository",
            describe_images(MEMBER, "123456789123"),
            "Allow",
            Some("AllowRequestsByOrgsIdentitiesToOrgsResources"),
        ),
        (
            "member on a repository outside the org",
            describe_images(MEMBER, "444455556666"),
            "ImplicitDeny",
            None,
        ),
        ("outsider on an org repository", describe_images(OUTSIDER, "123456789123"), "ImplicitDeny", None),
        (
            "member tagged dp:exclude:resource, outside repository",
            describe_images(EXCEPTED_MEMBER, "444455556666"),
            "Allow",
            Some("AllowRequestsByOrgsIdentitiesToAnyResources"),
        ),
        (
            "member on an ECR-owned account's repository",
            describe_images(MEMBER, "602401143452"),
            "Allow",
            Some("AllowRequestsByOrgsIdentitiesToAWSResources"),
        ),
        (
            "outsider on an ECR-owned account's repository",
            describe_images(OUTSIDER, "602401143452"),
            "ImplicitDeny",
            None,
        ),
        (
            "service principal on any repository",
            describe_images(SERVICE, "444455556666"),
            "Allow",
            Some("AllowRequestsByAWSServicePrincipals"),
        ),
        (
            "starport layer bucket, member",
            get_object(MEMBER, "prod-us-east-1-starport-layer-bucket"),
            "Allow",
            Some("AllowRequestsToAWSOwnedResources"),
        ),
        (
            "starport layer bucket, outsider",
            get_object(OUTSIDER, "prod-us-east-1-starport-layer-bucket"),
            "Allow",
            Some("AllowRequestsToAWSOwnedResources"),
        ),
        (
            "org bucket, member",
            get_object(MEMBER, "team-artifacts"),
            "Allow",
            Some("AllowRequestsByOrgsIdentitiesToOrgsResources"),
        ),
        ("org bucket, outsider", get_object(OUTSIDER, "team-artifacts"), "ImplicitDeny", None),
        ("unknown bucket, member", get_object(MEMBER, "somebody-elses-bucket"), "ImplicitDeny", None),
        (
            "partner bucket, partner",
            get_object(PARTNER, "partner-artifacts"),
            "Allow",
            Some("AllowRequestsByThirdPartyIdentitiesToThirdPartyResources"),
        ),
        (
            "partner bucket, member",
            get_object(MEMBER, "partner-artifacts"),
            "Allow",
            Some("AllowRequestsByOrgsIdentitiesToThirdPartyResources"),
        ),
        ("partner bucket, outsider", get_object(OUTSIDER, "partner-artifacts"), "ImplicitDeny", None),
    ]
}

#[test]
fn the_published_perimeter_decides_as_aws_documents() {
    for (case, request, decision, sid) in rows() {
        let v = explain(&case.replace(' ', "-"), request);
        assert_eq!(v["decision"], decision, "{case}: {v}");
        match sid {
            Some(sid) => assert_eq!(v["matched"][0]["sid"], sid, "{case}: {v}"),
            None => {
                let message = v["message"].as_str().unwrap_or_default();
                assert!(message.contains(NO_ENDPOINT_ALLOW), "{case}: {message}");
            }
        }
    }
}

/// The keys the perimeter reads, as explain shows them (IAM User Guide, "AWS global condition context
/// keys"): the organization comes from `[[account]]`, tags from `[[repository]]`, S3 owners from `[[bucket]]`.
#[test]
fn explain_shows_the_organization_tags_and_owner_it_decided_on() {
    let v = explain("keys-ecr", describe_images(MEMBER, "123456789123"));
    let ctx = &v["context"];
    assert_eq!(ctx["aws:PrincipalOrgID"], "o-21ej9awi6a");
    assert_eq!(ctx["aws:PrincipalOrgPaths"], json!(["o-21ej9awi6a/r-ab12/ou-ab12-11111111/"]));
    assert_eq!(ctx["aws:ResourceOrgID"], "o-21ej9awi6a");
    assert_eq!(ctx["aws:ResourceAccount"], "123456789123");
    assert_eq!(ctx["aws:ResourceTag/team"], "platform");
    assert_eq!(ctx["ecr:ResourceTag/team"], "platform");
    assert_eq!(ctx["aws:PrincipalIsAWSService"], "false");
    assert_eq!(ctx["aws:ViaAWSService"], "false");
    let s3 = explain("keys-s3", get_object(OUTSIDER, "team-artifacts"));
    assert_eq!(s3["resource_account"], "123456789123");
    assert_eq!(s3["context"]["aws:ResourceOrgID"], "o-21ej9awi6a");
    assert_eq!(s3["context"]["aws:PrincipalOrgID"], "o-0therorg00");
    let service = explain("keys-service", describe_images(SERVICE, "444455556666"));
    assert_eq!(service["principal"], "ecr.amazonaws.com");
    assert_eq!(service["context"]["aws:PrincipalIsAWSService"], "true");
    assert_eq!(service["context"]["aws:PrincipalServiceName"], "ecr.amazonaws.com");
    assert_eq!(service["context"]["aws:ResourceOrgID"], "o-0therorg00");
}
