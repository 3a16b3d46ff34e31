//! Real request shapes (aws CLI, boto3, skopeo, docker) -> service, action, ARN and principal, through the
//! same `Authorizer` the proxy uses. Each row names the AWS page its expectation comes from; refusals have a
//! row each, with the words the reason must contain.

use vpce_proxy::authorize::{Authorizer, ConnFacts};
use vpce_proxy::classify::RequestHead;
use vpce_proxy::config::Config;
use vpce_proxy::load::{load_policies, Fingerprints};

const CONFIG: &str = r#"
[endpoint]
account = "999988887777"

[[principal]]
arn = "arn:aws:sts::123456789123:assumed-role/ci/session1"
org_id = "o-21ej9awi6a"
access_key_ids = ["AKIAIOSFODNN7EXAMPLE", "ASIAQEXAMPLESESSION1"]
registry_tokens = ["statictoken"]

[[principal]]
arn = "arn:aws:iam::111122223333:user/alice"
proxy_user = "alice"
proxy_password = "pw"

[[principal]]
arn = "arn:aws:sts::444455556666:assumed-role/node/i-0abc"
source_cidrs = ["10.1.0.0/16"]

[[principal]]
arn = "arn:aws-cn:iam::210987654321:user/cn-user"
access_key_ids = ["AKIACNEXAMPLE"]

[[principal]]
arn = "arn:aws-us-gov:iam::310987654321:user/gov-user"
access_key_ids = ["AKIAGOVEXAMPLE"]
"#;

const CI: &str = "arn:aws:sts::123456789123:assumed-role/ci/session1";
const ANON: &str = "anonymous";

/// What a row expects.
enum Want {
    /// service, action, resource, principal, additional (action, resource).
    Ok(&'static str, &'static str, &'static str, &'static str, Vec<(&'static str, &'static str)>),
    /// The registry ping: no permission.
    Ping(&'static str),
    /// Refused; the reason contains this text.
    Refused(&'static str),
}

struct Row {
    doc: &'static str,
    method: &'static str,
    host: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    want: Want,
}

fn ok(service: &'static str, action: &'static str, resource: &'static str, principal: &'static str) -> Want {
    Want::Ok(service, action, resource, principal, Vec::new())
}

fn sigv4(key: &str, region: &str, service: &str) -> (String, String) {
    (
        "Authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/{service}/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef"
        ),
    )
}

fn basic(user: &str, token: &str) -> (String, String) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    ("Authorization".into(), format!("Basic {encoded}"))
}

const API: &str = "api.ecr.us-east-1.amazonaws.com";

/// An aws CLI / boto3 ECR API call signed by the CI principal's key.
fn api_on(doc: &'static str, host: &str, op: &str, body: &str, want: Want) -> Row {
    let region =
        host.split('.').find(|l| l.contains('-') && l.ends_with(char::is_numeric)).unwrap_or("us-east-1");
    Row {
        doc,
        method: "POST",
        host: host.into(),
        path: "/".into(),
        headers: vec![
            ("X-Amz-Target".into(), format!("AmazonEC2ContainerRegistry_V20150921.{op}")),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
            ("User-Agent".into(), "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/ecr".into()),
            ("X-Amz-Date".into(), "20260101T000000Z".into()),
            sigv4("AKIAIOSFODNN7EXAMPLE", region, "ecr"),
        ],
        body: Some(body.into()),
        want,
    }
}

fn api(doc: &'static str, op: &str, body: &str, want: Want) -> Row {
    api_on(doc, API, op, body, want)
}

/// A docker/skopeo registry request with the static registry token of the CI principal.
fn dkr(doc: &'static str, method: &'static str, host: &str, path: &str, want: Want) -> Row {
    Row {
        doc,
        method,
        host: host.into(),
        path: path.into(),
        headers: vec![
            basic("AWS", "statictoken"),
            ("User-Agent".into(), "docker/26.1.5 go/go1.22.2 os/linux arch/amd64".into()),
            ("Accept".into(), "application/vnd.oci.image.manifest.v1+json".into()),
        ],
        body: None,
        want,
    }
}

/// An S3 request as botocore sends it (header SigV4 with x-amz-content-sha256) by the CI principal.
fn s3(doc: &'static str, method: &'static str, host: &str, path: &str, want: Want) -> Row {
    let region =
        host.split('.').find(|l| l.contains('-') && l.ends_with(char::is_numeric)).unwrap_or("us-east-1");
    Row {
        doc,
        method,
        host: host.into(),
        path: path.into(),
        headers: vec![
            sigv4("AKIAIOSFODNN7EXAMPLE", region, "s3"),
            ("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()),
            ("X-Amz-Date".into(), "20260101T000000Z".into()),
        ],
        body: None,
        want,
    }
}

/// A presigned layer URL as ECR's 307 redirect hands it to docker (signed by ECR's own key: anonymous here).
fn presigned(doc: &'static str, host: &str, path: &str, want: Want) -> Row {
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAECRSERVICEKEY%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=abcdef0123";
    Row {
        doc,
        method: "GET",
        host: host.into(),
        path: format!("{path}?{query}"),
        headers: vec![("User-Agent".into(), "docker/26.1.5".into())],
        body: None,
        want,
    }
}

fn with(mut row: Row, name: &str, value: &str) -> Row {
    row.headers.push((name.into(), value.into()));
    row
}

fn without_auth(mut row: Row) -> Row {
    row.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
    row
}

/// The same ECR API request signed with another access key id in another region.
fn signed_by(row: Row, key: &str, region: &str) -> Row {
    let (name, value) = sigv4(key, region, "ecr");
    with(without_auth(row), &name, &value)
}

const SAR: &str = "Service Authorization Reference: Actions, resources, and condition keys for Amazon ECR";
const REPO_ARN: &str = "arn:aws:ecr:us-east-1:123456789123:repository/team/app";

fn ecr_api_rows() -> Vec<Row> {
    let repo = r#"{"repositoryName":"team/app"}"#;
    let mut rows = Vec::new();
    // Every repository-scoped operation, as the CLI sends it (no registryId: the caller's own registry).
    let repository_ops = [
        "BatchCheckLayerAvailability",
        "BatchDeleteImage",
        "BatchGetImage",
        "CompleteLayerUpload",
        "CreateRepository",
        "DeleteLifecyclePolicy",
        "DeleteRepository",
        "DeleteRepositoryPolicy",
        "DescribeImageReplicationStatus",
        "DescribeImageScanFindings",
        "DescribeImageSigningStatus",
        "DescribeImages",
        "GetDownloadUrlForLayer",
        "GetLifecyclePolicy",
        "GetLifecyclePolicyPreview",
        "GetRepositoryPolicy",
        "InitiateLayerUpload",
        "ListImages",
        "PutImage",
        "PutImageScanningConfiguration",
        "PutImageTagMutability",
        "PutLifecyclePolicy",
        "SetRepositoryPolicy",
        "StartImageScan",
        "StartLifecyclePolicyPreview",
        "UpdateImageStorageClass",
        "UploadLayerPart",
    ];
    for op in repository_ops {
        let action: &'static str = Box::leak(format!("ecr:{op}").into_boxed_str());
        rows.push(api(SAR, op, repo, ok("ecr.api", action, REPO_ARN, CI)));
    }
    let registry_ops = [
        "CreatePullThroughCacheRule",
        "CreateRepositoryCreationTemplate",
        "DeletePullThroughCacheRule",
        "DeleteRegistryPolicy",
        "DeleteRepositoryCreationTemplate",
        "DeleteSigningConfiguration",
        "DeregisterPullTimeUpdateExclusion",
        "DescribePullThroughCacheRules",
        "DescribeRegistry",
        "DescribeRepositoryCreationTemplates",
        "GetAccountSetting",
        "GetAuthorizationToken",
        "GetRegistryPolicy",
        "GetRegistryScanningConfiguration",
        "GetSigningConfiguration",
        "ListPullTimeUpdateExclusions",
        "PutAccountSetting",
        "PutRegistryPolicy",
        "PutRegistryScanningConfiguration",
        "PutReplicationConfiguration",
        "PutSigningConfiguration",
        "RegisterPullTimeUpdateExclusion",
        "UpdatePullThroughCacheRule",
        "UpdateRepositoryCreationTemplate",
        "ValidatePullThroughCacheRule",
    ];
    for op in registry_ops {
        let action: &'static str = Box::leak(format!("ecr:{op}").into_boxed_str());
        rows.push(api(SAR, op, "{}", ok("ecr.api", action, "*", CI)));
    }
    rows.extend([
        api(
            "Amazon ECR API Reference: ListImageReferrers (authorized as ecr:BatchGetImage)",
            "ListImageReferrers",
            r#"{"repositoryName":"team/app","subjectId":{"imageDigest":"sha256:ab"}}"#,
            ok("ecr.api", "ecr:BatchGetImage", REPO_ARN, CI),
        ),
        api(SAR, "DescribeRepositories", "{}", ok("ecr.api", "ecr:DescribeRepositories", "*", CI)),
        api(
            SAR,
            "DescribeRepositories",
            r#"{"repositoryNames":["team/app","base"]}"#,
            Want::Ok(
                "ecr.api",
                "ecr:DescribeRepositories",
                REPO_ARN,
                CI,
                vec![("ecr:DescribeRepositories", "arn:aws:ecr:us-east-1:123456789123:repository/base")],
            ),
        ),
        api(
            SAR,
            "BatchGetRepositoryScanningConfiguration",
            r#"{"repositoryNames":["team/app"]}"#,
            ok("ecr.api", "ecr:BatchGetRepositoryScanningConfiguration", REPO_ARN, CI),
        ),
        api(
            SAR,
            "TagResource",
            r#"{"resourceArn":"arn:aws:ecr:us-east-1:123456789123:repository/team/app","tags":[]}"#,
            ok("ecr.api", "ecr:TagResource", REPO_ARN, CI),
        ),
        api(
            SAR,
            "UntagResource",
            r#"{"resourceArn":"arn:aws:ecr:us-east-1:123456789123:repository/team/app","tagKeys":["a"]}"#,
            ok("ecr.api", "ecr:UntagResource", REPO_ARN, CI),
        ),
        api(
            SAR,
            "ListTagsForResource",
            r#"{"resourceArn":"arn:aws:ecr:us-east-1:123456789123:repository/team/app"}"#,
            ok("ecr.api", "ecr:ListTagsForResource", REPO_ARN, CI),
        ),
        api(
            "Amazon ECR API Reference: registryId names another account's registry (cross-account pull)",
            "BatchGetImage",
            r#"{"registryId":"555566667777","repositoryName":"shared/base","imageIds":[{"imageTag":"v1"}]}"#,
            ok(
                "ecr.api",
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:555566667777:repository/shared/base",
                CI,
            ),
        ),
        api_on(
            "AWS General Reference: Amazon ECR endpoints (ecr.R form)",
            "ecr.eu-west-1.amazonaws.com",
            "DescribeImages",
            repo,
            ok("ecr.api", "ecr:DescribeImages", "arn:aws:ecr:eu-west-1:123456789123:repository/team/app", CI),
        ),
        api_on(
            "AWS General Reference: Amazon ECR endpoints (FIPS)",
            "ecr-fips.us-east-2.amazonaws.com",
            "PutImage",
            repo,
            ok("ecr.api", "ecr:PutImage", "arn:aws:ecr:us-east-2:123456789123:repository/team/app", CI),
        ),
        api_on(
            "AWS General Reference: Amazon ECR endpoints (api.ecr-fips form)",
            "api.ecr-fips.us-west-2.amazonaws.com",
            "ListImages",
            repo,
            ok("ecr.api", "ecr:ListImages", "arn:aws:ecr:us-west-2:123456789123:repository/team/app", CI),
        ),
        api_on(
            "Amazon ECR User Guide: dual-stack endpoints (ecr.R.api.aws)",
            "ecr.ap-southeast-2.api.aws",
            "DescribeImages",
            repo,
            ok(
                "ecr.api",
                "ecr:DescribeImages",
                "arn:aws:ecr:ap-southeast-2:123456789123:repository/team/app",
                CI,
            ),
        ),
        api_on(
            "AWS General Reference: Amazon ECR endpoints (upper case, trailing dot, :443)",
            "API.ECR.US-EAST-1.AMAZONAWS.COM.:443",
            "DescribeImages",
            repo,
            ok("ecr.api", "ecr:DescribeImages", REPO_ARN, CI),
        ),
        api_on(
            "AWS GovCloud (US) User Guide: Amazon ECR endpoints (aws-us-gov partition)",
            "api.ecr.us-gov-west-1.amazonaws.com",
            "BatchGetImage",
            r#"{"registryId":"310987654321","repositoryName":"app"}"#,
            ok(
                "ecr.api",
                "ecr:BatchGetImage",
                "arn:aws-us-gov:ecr:us-gov-west-1:310987654321:repository/app",
                CI,
            ),
        ),
    ]);
    let cn = api_on(
        "Amazon Web Services in China: Amazon ECR endpoints (aws-cn partition, .amazonaws.com.cn)",
        "api.ecr.cn-north-1.amazonaws.com.cn",
        "DescribeImages",
        repo,
        ok(
            "ecr.api",
            "ecr:DescribeImages",
            "arn:aws-cn:ecr:cn-north-1:210987654321:repository/team/app",
            "arn:aws-cn:iam::210987654321:user/cn-user",
        ),
    );
    rows.push(signed_by(cn, "AKIACNEXAMPLE", "cn-north-1"));
    let unknown_key = api(
        "ARCHITECTURE.md §5: an access key id no principal claims is anonymous; the endpoint account stands in",
        "DescribeImages",
        repo,
        ok("ecr.api", "ecr:DescribeImages", "arn:aws:ecr:us-east-1:999988887777:repository/team/app", ANON),
    );
    rows.push(signed_by(unknown_key, "AKIAUNKNOWNKEY", "us-east-1"));
    // Refusals: each malformed or ambiguous shape once (Amazon ECR API Reference: Common Errors).
    let refuse = |why: &'static str, op: &str, body: &str| {
        api("Amazon ECR API Reference: Common Errors", op, body, Want::Refused(why))
    };
    rows.extend([
        refuse("not acceptable JSON", "BatchGetImage", "repositoryName=team/app"),
        refuse(
            "not acceptable JSON",
            "BatchGetImage",
            r#"{"repositoryName":"a1","repositoryName":"team/app"}"#,
        ),
        refuse("named twice", "DescribeRepositories", r#"{"repositoryName":"a1","repositoryNames":["b1"]}"#),
        refuse(
            "named twice",
            "TagResource",
            r#"{"repositoryName":"a1","resourceArn":"arn:aws:ecr:us-east-1:123456789123:repository/b1"}"#,
        ),
        refuse("only in case", "DeleteRepository", r#"{"repositoryname":"team/app"}"#),
        refuse("not a valid ECR repository name", "DeleteRepository", r#"{"repositoryName":"Team/App"}"#),
        refuse("not a valid ECR repository name", "DeleteRepository", r#"{"repositoryName":"team//app"}"#),
        refuse("12-digit", "DeleteRepository", r#"{"registryId":"12345","repositoryName":"team/app"}"#),
        refuse("has no repositoryName", "DeleteRepository", r#"{"force":true}"#),
        refuse("not a string", "DeleteRepository", r#"{"repositoryName":["team/app"]}"#),
        refuse("not a JSON object", "DeleteRepository", r#"["team/app"]"#),
        refuse(
            "not an ECR repository ARN of this endpoint",
            "TagResource",
            r#"{"resourceArn":"arn:aws:ecr:eu-west-1:123456789123:repository/app"}"#,
        ),
        refuse("not a non-empty list", "DescribeRepositories", r#"{"repositoryNames":[]}"#),
        refuse("unknown ECR operation", "DeleteEverything", "{}"),
    ]);
    // Amazon ECR API Reference has these four; the IAM data (Service Authorization Reference) names no
    // action for them, so they are refused with that reason, not as unknown operations.
    let no_action =
        "Amazon ECR API Reference: replication backfill (Service Authorization Reference: no action)";
    for (op, body) in [
        ("StartReplicationBackfill", r#"{"destination":{"region":"us-west-2","registryId":"123456789123"}}"#),
        ("DescribeReplicationBackfillResults", r#"{"replicationBackfillId":"rb-1"}"#),
        ("ListReplicationBackfills", "{}"),
        ("StopReplicationBackfill", r#"{"registryId":"123456789123","replicationBackfillId":"rb-1"}"#),
    ] {
        let why: &'static str =
            Box::leak(format!("IAM data names no action for ECR operation {op} (").into_boxed_str());
        rows.push(api(no_action, op, body, Want::Refused(why)));
    }
    let mut no_target = api(
        "Amazon ECR API Reference: Common Parameters (X-Amz-Target)",
        "DescribeImages",
        repo,
        Want::Refused("without X-Amz-Target"),
    );
    no_target.headers.retain(|(k, _)| k != "X-Amz-Target");
    rows.push(no_target);
    let mut other_service = api(
        "Amazon ECR API Reference: Common Parameters (X-Amz-Target)",
        "DescribeImages",
        repo,
        Want::Refused("not an ECR API operation"),
    );
    other_service.headers[0].1 = "DynamoDB_20120810.DescribeTable".into();
    rows.push(other_service);
    let mut get = api(
        "Amazon ECR API Reference: all calls are POST /",
        "DescribeImages",
        repo,
        Want::Refused("POST /"),
    );
    get.method = "GET";
    rows.push(get);
    rows.push(with(
        api(
            "Amazon ECR API Reference: Common Parameters (X-Amz-Target once)",
            "DescribeImages",
            repo,
            Want::Refused("more than once"),
        ),
        "X-Amz-Target",
        "AmazonEC2ContainerRegistry_V20150921.DeleteRepository",
    ));
    rows
}

const DKR: &str = "123456789123.dkr.ecr.us-east-1.amazonaws.com";
const REG: &str = "Amazon ECR User Guide: Private repository policy examples / required IAM permissions for pushing and pulling";
const OCI: &str = "OCI distribution spec / Docker Registry HTTP API V2";

fn registry_rows() -> Vec<Row> {
    let d = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
    let blob: &'static str = Box::leak(format!("/v2/team/app/blobs/{d}").into_boxed_str());
    let manifest: &'static str = Box::leak(format!("/v2/team/app/manifests/{d}").into_boxed_str());
    let referrers: &'static str = Box::leak(format!("/v2/team/app/referrers/{d}").into_boxed_str());
    let mount: &'static str =
        Box::leak(format!("/v2/team/app/blobs/uploads/?mount={d}&from=base/alpine").into_boxed_str());
    let mono: &'static str = Box::leak(format!("/v2/team/app/blobs/uploads/?digest={d}").into_boxed_str());
    let mut rows = vec![
        dkr(REG, "GET", DKR, "/v2/", Want::Ping(CI)),
        without_auth(dkr(
            "Amazon ECR User Guide: Private registry authentication (the unauthenticated ping)",
            "GET",
            DKR,
            "/v2/",
            Want::Ping(ANON),
        )),
        dkr(
            REG,
            "HEAD",
            DKR,
            "/v2/team/app/manifests/latest",
            ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, CI),
        ),
        dkr(
            REG,
            "GET",
            DKR,
            "/v2/team/app/manifests/v1.2.3",
            ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, CI),
        ),
        dkr(REG, "GET", DKR, manifest, ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, CI)),
        dkr(REG, "PUT", DKR, "/v2/team/app/manifests/v1", ok("ecr.dkr", "ecr:PutImage", REPO_ARN, CI)),
        dkr(REG, "DELETE", DKR, manifest, ok("ecr.dkr", "ecr:BatchDeleteImage", REPO_ARN, CI)),
        dkr(REG, "HEAD", DKR, blob, ok("ecr.dkr", "ecr:BatchCheckLayerAvailability", REPO_ARN, CI)),
        dkr(REG, "GET", DKR, blob, ok("ecr.dkr", "ecr:GetDownloadUrlForLayer", REPO_ARN, CI)),
        dkr(
            REG,
            "POST",
            DKR,
            "/v2/team/app/blobs/uploads/",
            ok("ecr.dkr", "ecr:InitiateLayerUpload", REPO_ARN, CI),
        ),
        dkr(
            REG,
            "PATCH",
            DKR,
            "/v2/team/app/blobs/uploads/6f1d2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            ok("ecr.dkr", "ecr:UploadLayerPart", REPO_ARN, CI),
        ),
        dkr(
            REG,
            "PUT",
            DKR,
            &format!("/v2/team/app/blobs/uploads/6f1d2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b?digest={d}"),
            ok("ecr.dkr", "ecr:CompleteLayerUpload", REPO_ARN, CI),
        ),
        with(
            dkr(
                "OCI distribution spec: closing PUT may carry the final chunk",
                "PUT",
                DKR,
                &format!("/v2/team/app/blobs/uploads/6f1d2a3b?digest={d}"),
                Want::Ok(
                    "ecr.dkr",
                    "ecr:CompleteLayerUpload",
                    REPO_ARN,
                    CI,
                    vec![("ecr:UploadLayerPart", REPO_ARN)],
                ),
            ),
            "Content-Length",
            "1024",
        ),
        dkr(REG, "GET", DKR, "/v2/team/app/tags/list", ok("ecr.dkr", "ecr:ListImages", REPO_ARN, CI)),
        dkr(
            REG,
            "GET",
            DKR,
            "/v2/team/app/tags/list?n=100&last=v1",
            ok("ecr.dkr", "ecr:ListImages", REPO_ARN, CI),
        ),
        dkr(OCI, "GET", DKR, referrers, ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, CI)),
        dkr(OCI, "GET", DKR, "/v2/_catalog", ok("ecr.dkr", "ecr:DescribeRepositories", "*", CI)),
        dkr(
            "Amazon ECR User Guide: blob mounting needs GetDownloadUrlForLayer on the source repository",
            "POST",
            DKR,
            mount,
            Want::Ok(
                "ecr.dkr",
                "ecr:InitiateLayerUpload",
                REPO_ARN,
                CI,
                vec![(
                    "ecr:GetDownloadUrlForLayer",
                    "arn:aws:ecr:us-east-1:123456789123:repository/base/alpine",
                )],
            ),
        ),
        dkr(
            "OCI distribution spec: monolithic POST with digest uploads and completes in one request",
            "POST",
            DKR,
            mono,
            Want::Ok(
                "ecr.dkr",
                "ecr:InitiateLayerUpload",
                REPO_ARN,
                CI,
                vec![("ecr:UploadLayerPart", REPO_ARN), ("ecr:CompleteLayerUpload", REPO_ARN)],
            ),
        ),
        dkr(
            "OCI distribution spec: names are parsed from the right",
            "GET",
            DKR,
            "/v2/a1/blobs/b1/manifests/x",
            ok(
                "ecr.dkr",
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789123:repository/a1/blobs/b1",
                CI,
            ),
        ),
        dkr(
            "OCI distribution spec: names are parsed from the right",
            "GET",
            DKR,
            "/v2/manifests/tags/list",
            ok("ecr.dkr", "ecr:ListImages", "arn:aws:ecr:us-east-1:123456789123:repository/manifests", CI),
        ),
        dkr(
            "Amazon ECR User Guide: Amazon ECR endpoints (FIPS registry)",
            "GET",
            "123456789123.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
            "/v2/app/manifests/v1",
            ok(
                "ecr.dkr",
                "ecr:BatchGetImage",
                "arn:aws-us-gov:ecr:us-gov-east-1:123456789123:repository/app",
                CI,
            ),
        ),
        dkr(
            "Amazon ECR User Guide: dual-stack registry endpoints (ACCT.dkr-ecr.R.on.aws)",
            "GET",
            "123456789123.dkr-ecr.eu-central-1.on.aws",
            "/v2/app/manifests/v1",
            ok("ecr.dkr", "ecr:BatchGetImage", "arn:aws:ecr:eu-central-1:123456789123:repository/app", CI),
        ),
        dkr(
            "Amazon Web Services in China: Amazon ECR registry endpoints",
            "GET",
            "210987654321.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
            "/v2/app/manifests/v1",
            ok(
                "ecr.dkr",
                "ecr:BatchGetImage",
                "arn:aws-cn:ecr:cn-northwest-1:210987654321:repository/app",
                CI,
            ),
        ),
        dkr(
            "Amazon ECR User Guide: the registry host names the registry account (cross-account pull)",
            "GET",
            "555566667777.dkr.ecr.ap-northeast-1.amazonaws.com:443",
            "/v2/shared/base/manifests/v1",
            ok(
                "ecr.dkr",
                "ecr:BatchGetImage",
                "arn:aws:ecr:ap-northeast-1:555566667777:repository/shared/base",
                CI,
            ),
        ),
    ];
    rows.push(dkr(
        "Amazon ECR User Guide: docker sends the mount source percent-encoded in the query",
        "POST",
        DKR,
        &format!("/v2/team/app/blobs/uploads/?mount={}&from=base%2Falpine", d.replace(':', "%3A")),
        Want::Ok(
            "ecr.dkr",
            "ecr:InitiateLayerUpload",
            REPO_ARN,
            CI,
            vec![("ecr:GetDownloadUrlForLayer", "arn:aws:ecr:us-east-1:123456789123:repository/base/alpine")],
        ),
    ));
    // skopeo sends the same paths with its own User-Agent; the principal comes from the token alone.
    let mut skopeo = dkr(
        REG,
        "GET",
        DKR,
        "/v2/team/app/manifests/latest",
        ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, CI),
    );
    skopeo.headers[1].1 = "skopeo/1.13.3".into();
    rows.push(skopeo);
    let wrong_token = dkr(
        "ARCHITECTURE.md §5: an unknown registry token is anonymous",
        "GET",
        DKR,
        "/v2/team/app/manifests/latest",
        ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, ANON),
    );
    let mut wrong_token = without_auth(wrong_token);
    wrong_token.headers.push(basic("AWS", "not-a-known-token"));
    rows.push(wrong_token);
    let refuse =
        |why: &'static str, method: &'static str, path: &str| dkr(OCI, method, DKR, path, Want::Refused(why));
    rows.extend([
        refuse("percent-encoded", "GET", "/v2/team%2Fapp/manifests/v1"),
        refuse("dot segment", "GET", "/v2/team/../other/manifests/v1"),
        refuse("dot segment", "GET", "/v2/./team/manifests/v1"),
        refuse("doubled slash", "GET", "/v2/team//app/manifests/v1"),
        refuse("method not known", "DELETE", blob),
        refuse("method not known", "POST", "/v2/team/app/manifests/v1"),
        refuse("method not known", "GET", "/v2/team/app/blobs/uploads/6f1d2a3b"),
        refuse("method not known", "OPTIONS", "/v2/team/app/tags/list"),
        refuse("no known route", "GET", "/v2/Team/App/manifests/v1"),
        refuse("no known route", "GET", "/v2/team/app/manifests/-badtag"),
        refuse("no known route", "GET", "/v2/team/app/blobs/notadigest"),
        refuse("not under /v2/", "GET", "/v1/team/app"),
        refuse("without from=", "POST", &format!("/v2/team/app/blobs/uploads/?mount={d}")),
        refuse(
            "not a valid repository name",
            "POST",
            &format!("/v2/team/app/blobs/uploads/?mount={d}&from=Bad..Name"),
        ),
        refuse("given twice", "POST", &format!("/v2/team/app/blobs/uploads/?mount={d}&from=a1&from=b1")),
        refuse("method not known", "PUT", "/v2/_catalog"),
    ]);
    rows
}

const S3_GUIDE: &str = "Amazon S3 User Guide: Required permissions for Amazon S3 API operations";
const LAYER_BUCKET: &str = "prod-us-east-1-starport-layer-bucket";
const OBJ: &str = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/docker/registry/v2/blobs/sha256/5b/data";
const VH: &str = "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com";

fn s3_rows() -> Vec<Row> {
    let key = "/docker/registry/v2/blobs/sha256/5b/data";
    let path_style: &'static str = Box::leak(format!("/{LAYER_BUCKET}{key}").into_boxed_str());
    let bucket_arn = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket";
    let mut rows = vec![
        presigned(
            "Amazon ECR User Guide: layers are downloaded from S3 through presigned URLs",
            VH,
            key,
            ok("s3", "s3:GetObject", OBJ, ANON),
        ),
        s3(S3_GUIDE, "GET", VH, key, ok("s3", "s3:GetObject", OBJ, CI)),
        s3(S3_GUIDE, "HEAD", VH, key, ok("s3", "s3:GetObject", OBJ, CI)),
        s3(S3_GUIDE, "PUT", VH, key, ok("s3", "s3:PutObject", OBJ, CI)),
        s3(S3_GUIDE, "DELETE", VH, key, ok("s3", "s3:DeleteObject", OBJ, CI)),
        s3(S3_GUIDE, "GET", "s3.us-east-1.amazonaws.com", path_style, ok("s3", "s3:GetObject", OBJ, CI)),
        s3(
            "Amazon S3 User Guide: Virtual hosting of buckets (global endpoint)",
            "GET",
            "prod-us-east-1-starport-layer-bucket.s3.amazonaws.com",
            key,
            ok("s3", "s3:GetObject", OBJ, CI),
        ),
        s3(
            "Amazon S3 User Guide: legacy s3-Region endpoints",
            "GET",
            "prod-us-east-1-starport-layer-bucket.s3-us-west-2.amazonaws.com",
            key,
            ok("s3", "s3:GetObject", OBJ, CI),
        ),
        s3(
            "Amazon S3 User Guide: path-style requests on the global endpoint",
            "GET",
            "s3.amazonaws.com",
            path_style,
            ok("s3", "s3:GetObject", OBJ, CI),
        ),
        s3(
            "Amazon S3 User Guide: dual-stack endpoints",
            "GET",
            "s3.dualstack.us-east-1.amazonaws.com",
            path_style,
            ok("s3", "s3:GetObject", OBJ, CI),
        ),
        s3(
            "Amazon S3 User Guide: dual-stack endpoints (virtual-hosted)",
            "GET",
            "prod-us-east-1-starport-layer-bucket.s3.dualstack.us-east-1.amazonaws.com",
            key,
            ok("s3", "s3:GetObject", OBJ, CI),
        ),
        s3(
            "Amazon S3 User Guide: FIPS endpoints",
            "GET",
            "prod-us-east-1-starport-layer-bucket.s3-fips.us-east-1.amazonaws.com",
            key,
            ok("s3", "s3:GetObject", OBJ, CI),
        ),
        s3(
            "Amazon S3 User Guide: bucket names with dots, virtual-hosted",
            "GET",
            "my.dotted.bucket.s3.eu-west-1.amazonaws.com",
            "/k",
            ok("s3", "s3:GetObject", "arn:aws:s3:::my.dotted.bucket/k", CI),
        ),
        s3(
            "Amazon S3 in China: endpoints (aws-cn partition)",
            "GET",
            "prod-cn-north-1-starport-layer-bucket.s3.cn-north-1.amazonaws.com.cn",
            "/k",
            ok("s3", "s3:GetObject", "arn:aws-cn:s3:::prod-cn-north-1-starport-layer-bucket/k", CI),
        ),
        s3(
            "AWS GovCloud (US): Amazon S3 endpoints",
            "GET",
            "s3.us-gov-west-1.amazonaws.com",
            "/gov-bucket/k",
            ok("s3", "s3:GetObject", "arn:aws-us-gov:s3:::gov-bucket/k", CI),
        ),
        s3(
            "Amazon S3 User Guide: object keys are percent-decoded once (%2520 is a literal %20)",
            "GET",
            VH,
            "/a%20b/c%3Ad/e%2520f",
            ok("s3", "s3:GetObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/a b/c:d/e%20f", CI),
        ),
        s3(
            "Amazon S3 API Reference: ListObjectsV2 (s3:ListBucket)",
            "GET",
            VH,
            "/?list-type=2&prefix=docker%2F&delimiter=%2F",
            ok("s3", "s3:ListBucket", bucket_arn, CI),
        ),
        s3(
            "Amazon S3 API Reference: HeadBucket (s3:ListBucket)",
            "HEAD",
            VH,
            "/",
            ok("s3", "s3:ListBucket", bucket_arn, CI),
        ),
        s3(
            "Amazon S3 API Reference: ListObjects path style",
            "GET",
            "s3.us-east-1.amazonaws.com",
            "/prod-us-east-1-starport-layer-bucket?prefix=a",
            ok("s3", "s3:ListBucket", bucket_arn, CI),
        ),
        s3(
            "Amazon S3 API Reference: CreateMultipartUpload (s3:PutObject)",
            "POST",
            VH,
            "/big?uploads",
            ok("s3", "s3:PutObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/big", CI),
        ),
        s3(
            "Amazon S3 API Reference: UploadPart (s3:PutObject)",
            "PUT",
            VH,
            "/big?partNumber=1&uploadId=abc",
            ok("s3", "s3:PutObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/big", CI),
        ),
        s3(
            "Amazon S3 API Reference: CompleteMultipartUpload (s3:PutObject)",
            "POST",
            VH,
            "/big?uploadId=abc",
            ok("s3", "s3:PutObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/big", CI),
        ),
        s3(
            "Amazon S3 API Reference: AbortMultipartUpload",
            "DELETE",
            VH,
            "/big?uploadId=abc",
            ok("s3", "s3:AbortMultipartUpload", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/big", CI),
        ),
        s3(
            "Amazon S3 API Reference: ListParts (s3:ListMultipartUploadParts)",
            "GET",
            VH,
            "/big?uploadId=abc",
            ok(
                "s3",
                "s3:ListMultipartUploadParts",
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/big",
                CI,
            ),
        ),
        s3(
            "Amazon S3 API Reference: ListMultipartUploads (s3:ListBucketMultipartUploads)",
            "GET",
            VH,
            "/?uploads",
            ok("s3", "s3:ListBucketMultipartUploads", bucket_arn, CI),
        ),
        s3(
            "Amazon S3 API Reference: GetObject with versionId (s3:GetObjectVersion)",
            "GET",
            VH,
            "/k?versionId=3",
            ok("s3", "s3:GetObjectVersion", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/k", CI),
        ),
        s3(
            "Amazon S3 API Reference: GetObject with x-id as boto3 sends it",
            "GET",
            VH,
            "/k?x-id=GetObject",
            ok("s3", "s3:GetObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/k", CI),
        ),
        s3(
            "Amazon S3 API Reference: ListBuckets (s3:ListAllMyBuckets)",
            "GET",
            "s3.us-east-1.amazonaws.com",
            "/",
            ok("s3", "s3:ListAllMyBuckets", "*", CI),
        ),
        s3(
            "Amazon S3 API Reference: GetBucketLocation",
            "GET",
            VH,
            "/?location",
            ok("s3", "s3:GetBucketLocation", bucket_arn, CI),
        ),
        with(
            s3(
                "Amazon S3 API Reference: CopyObject needs s3:GetObject on the source",
                "PUT",
                VH,
                "/copy",
                Want::Ok(
                    "s3",
                    "s3:PutObject",
                    "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/copy",
                    CI,
                    vec![("s3:GetObject", "arn:aws:s3:::src-bucket/a b")],
                ),
            ),
            "x-amz-copy-source",
            "/src-bucket/a%20b",
        ),
    ];
    rows.extend([
        s3(
            "Amazon S3 User Guide: legacy s3-Region endpoints, path style",
            "GET",
            "s3-us-west-2.amazonaws.com",
            "/my-bucket/a/b.tar",
            ok("s3", "s3:GetObject", "arn:aws:s3:::my-bucket/a/b.tar", CI),
        ),
        s3(
            "Amazon S3 User Guide: s3-external-1 is us-east-1",
            "HEAD",
            "s3-external-1.amazonaws.com",
            "/my-bucket/k",
            ok("s3", "s3:GetObject", "arn:aws:s3:::my-bucket/k", CI),
        ),
        s3(
            "AWS ISO-B partition endpoints (aws-iso-b)",
            "GET",
            "s3.us-isob-east-1.sc2s.sgov.gov",
            "/iso-bucket/k",
            ok("s3", "s3:GetObject", "arn:aws-iso-b:s3:::iso-bucket/k", CI),
        ),
        s3(
            "Amazon S3 API Reference: ListObjectVersions",
            "GET",
            VH,
            "/?versions&prefix=docker",
            ok("s3", "s3:ListBucketVersions", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket", CI),
        ),
        s3(
            "Amazon S3 API Reference: GetObjectAttributes needs s3:GetObject too",
            "GET",
            VH,
            "/k?attributes",
            Want::Ok(
                "s3",
                "s3:GetObjectAttributes",
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/k",
                CI,
                vec![("s3:GetObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/k")],
            ),
        ),
        s3(
            "Amazon S3 API Reference: GetBucketOwnershipControls",
            "GET",
            VH,
            "/?ownershipControls",
            ok(
                "s3",
                "s3:GetBucketOwnershipControls",
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket",
                CI,
            ),
        ),
        s3(
            "Amazon S3 API Reference: PutBucketOwnershipControls",
            "PUT",
            VH,
            "/?ownershipControls",
            ok(
                "s3",
                "s3:PutBucketOwnershipControls",
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket",
                CI,
            ),
        ),
        s3(
            "Service Authorization Reference, Amazon S3: DeleteBucketOwnershipControls is authorized as \
             s3:PutBucketOwnershipControls",
            "DELETE",
            VH,
            "/?ownershipControls",
            ok(
                "s3",
                "s3:PutBucketOwnershipControls",
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket",
                CI,
            ),
        ),
        s3(
            "Amazon S3 API Reference: DeleteObject with versionId (s3:DeleteObjectVersion)",
            "DELETE",
            VH,
            "/k?versionId=7",
            ok("s3", "s3:DeleteObjectVersion", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/k", CI),
        ),
    ]);
    rows.push(api_on(
        "AWS ISO partition: Amazon ECR endpoints (aws-iso, c2s.ic.gov)",
        "api.ecr.us-iso-east-1.c2s.ic.gov",
        "BatchGetImage",
        r#"{"registryId":"123456789123","repositoryName":"app"}"#,
        ok("ecr.api", "ecr:BatchGetImage", "arn:aws-iso:ecr:us-iso-east-1:123456789123:repository/app", CI),
    ));
    let mut boto3 = api_on(
        "Amazon ECR API Reference: BatchGetImage as boto3 sends it",
        "api.ecr.ap-east-1.amazonaws.com",
        "BatchGetImage",
        r#"{"repositoryName": "svc/api", "imageIds": [{"imageTag": "latest"}], "acceptedMediaTypes": ["application/vnd.oci.image.manifest.v1+json"]}"#,
        ok("ecr.api", "ecr:BatchGetImage", "arn:aws:ecr:ap-east-1:123456789123:repository/svc/api", CI),
    );
    boto3.headers[2].1 = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 lang/python#3.11.6".into();
    rows.push(boto3);
    let refuse = |why: &'static str, method: &'static str, path: &str| {
        s3(S3_GUIDE, method, VH, path, Want::Refused(why))
    };
    rows.extend([
        refuse("not a sub-resource this proxy knows", "GET", "/k?torrent"),
        refuse("not a sub-resource this proxy knows", "PUT", "/?policy-status"),
        refuse("not a sub-resource this proxy knows", "POST", "/?delete"),
        refuse("not an S3 operation this proxy knows", "POST", "/k"),
        refuse("not an S3 operation this proxy knows", "PATCH", "/k"),
        refuse("not an S3 operation this proxy knows", "DELETE", "/k?ownershipControls"),
        refuse("given twice", "GET", "/k?uploadId=a&uploadId=b"),
        refuse("does not percent-decode to UTF-8", "GET", "/k%FF"),
        s3(
            S3_GUIDE,
            "GET",
            "s3.us-east-1.amazonaws.com",
            "/Not_A_Bucket/k",
            Want::Refused("not a valid S3 bucket name"),
        ),
        with(
            s3(S3_GUIDE, "PUT", VH, "/copy", Want::Refused("x-amz-copy-source")),
            "x-amz-copy-source",
            "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/k",
        ),
    ]);
    rows
}

fn host_refusal_rows() -> Vec<Row> {
    let refuse = |host: &str| {
        dkr(
            "ARCHITECTURE.md §1: anything else is not an endpoint host",
            "GET",
            host,
            "/v2/",
            Want::Refused("not an endpoint host"),
        )
    };
    vec![
        refuse("registry-1.docker.io"),
        refuse("ecr.us-east-1.amazonaws.com.evil.example"),
        refuse("123.dkr.ecr.us-east-1.amazonaws.com"),
        refuse("123456789123.dkr.ecr.notaregion.amazonaws.com"),
        refuse("api.ecr.cn-north-1.amazonaws.com"),
        refuse("api.ecr.us-east-1.amazonaws.com.cn"),
        refuse("api.ecr.us-east-1.amazonaws.com:8443"),
        refuse("ec2.us-east-1.amazonaws.com"),
        refuse("public.ecr.aws"),
        refuse("BUCKET_x.s3.us-east-1.amazonaws.com"),
    ]
}

fn principal_rows() -> Vec<Row> {
    let repo = r#"{"repositoryName":"team/app"}"#;
    let session = api(
        "ARCHITECTURE.md §5: temporary (ASIA) keys of a session map like long-term keys",
        "DescribeImages",
        repo,
        ok("ecr.api", "ecr:DescribeImages", REPO_ARN, CI),
    );
    let session = signed_by(session, "ASIAQEXAMPLESESSION1", "us-east-1");
    let gov = signed_by(
        api_on(
            "ARCHITECTURE.md §5: a GovCloud caller (the endpoint account is not used when the principal has one)",
            "ecr.us-gov-east-1.amazonaws.com",
            "DescribeImages",
            repo,
            ok(
                "ecr.api",
                "ecr:DescribeImages",
                "arn:aws-us-gov:ecr:us-gov-east-1:310987654321:repository/team/app",
                "arn:aws-us-gov:iam::310987654321:user/gov-user",
            ),
        ),
        "AKIAGOVEXAMPLE",
        "us-gov-east-1",
    );
    let proxy_user = with(
        without_auth(dkr(
            "ARCHITECTURE.md §5: Proxy-Authorization on CONNECT names the principal",
            "GET",
            DKR,
            "/v2/team/app/manifests/v1",
            ok("ecr.dkr", "ecr:BatchGetImage", REPO_ARN, "arn:aws:iam::111122223333:user/alice"),
        )),
        "proxy-authorization",
        "Basic YWxpY2U6cHc=",
    );
    let cidr = with(
        without_auth(dkr(
            "ARCHITECTURE.md §5: a source CIDR names the instance role",
            "GET",
            DKR,
            "/v2/team/app/manifests/v1",
            ok(
                "ecr.dkr",
                "ecr:BatchGetImage",
                REPO_ARN,
                "arn:aws:sts::444455556666:assumed-role/node/i-0abc",
            ),
        )),
        "x-test-source-ip",
        "10.1.2.3",
    );
    let both = with(
        presigned("AWS S3 API Reference: only one auth mechanism allowed", VH, "/k", Want::Refused("both the Authorization header and the query")),
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
    );
    let malformed = with(
        without_auth(dkr("IAM User Guide: Elements of an AWS API request signature", "GET", DKR, "/v2/", Want::Refused("malformed SigV4"))),
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1, SignedHeaders=host, Signature=00",
    );
    vec![session, gov, proxy_user, cidr, both, malformed]
}

fn run(authorizer: &Authorizer, row: &Row) -> Result<(), String> {
    let mut headers = http::HeaderMap::new();
    let mut conn = ConnFacts::default();
    for (k, v) in &row.headers {
        if k == "x-test-source-ip" {
            conn.client = Some(std::net::SocketAddr::new(v.parse().unwrap(), 50000));
        } else if k == "proxy-authorization" {
            conn.proxy_credentials = Some(("alice".into(), "pw".into()));
        } else {
            headers.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
    }
    let head = RequestHead { method: row.method, host: &row.host, path: &row.path, headers: &headers };
    let got = authorizer.authorize(&head, row.body.as_deref().map(str::as_bytes), &conn);
    match (&row.want, got) {
        (Want::Refused(why), Err(r)) if r.0.contains(why) => Ok(()),
        (Want::Refused(why), other) => Err(format!("want refusal containing {why:?}, got {other:?}")),
        (_, Err(r)) => Err(format!("refused: {}", r.0)),
        (Want::Ping(principal), Ok(v)) => {
            if v.classification.permission.is_none() && v.principal == *principal {
                Ok(())
            } else {
                Err(format!(
                    "want the ping as {principal}, got {:?} as {}",
                    v.classification.permission, v.principal
                ))
            }
        }
        (Want::Ok(service, action, resource, principal, additional), Ok(v)) => {
            let c = &v.classification;
            let p = c.permission.as_ref().ok_or("no permission")?;
            let extra: Vec<(&str, &str)> =
                c.additional.iter().map(|a| (a.action.as_str(), a.resource.as_str())).collect();
            let got =
                (c.host.service.key(), p.action.as_str(), p.resource.as_str(), v.principal.as_str(), extra);
            let want = (*service, *action, *resource, *principal, additional.clone());
            if got == want {
                Ok(())
            } else {
                Err(format!("want {want:?}, got {got:?}"))
            }
        }
    }
}

#[test]
fn every_request_shape_classifies_as_aws_authorizes_it() {
    let config = Config::parse(CONFIG, std::path::Path::new("table.toml")).unwrap();
    let authorizer = Authorizer::new(&config, load_policies(&config, &mut Fingerprints::default()).unwrap());
    let rows: Vec<Row> = [ecr_api_rows(), registry_rows(), s3_rows(), host_refusal_rows(), principal_rows()]
        .into_iter()
        .flatten()
        .collect();
    assert!(rows.len() >= 120, "only {} rows", rows.len());
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            run(&authorizer, row)
                .err()
                .map(|e| format!("{} {}{} [{}]: {e}", row.method, row.host, row.path, row.doc))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    eprintln!("{} request shapes checked", rows.len());
}

/// Amazon S3 User Guide, "Amazon S3 condition key examples": s3:prefix and s3:delimiter on ListBucket.
#[test]
fn list_bucket_carries_prefix_and_delimiter_context_keys() {
    let config = Config::parse(CONFIG, std::path::Path::new("table.toml")).unwrap();
    let authorizer = Authorizer::new(&config, load_policies(&config, &mut Fingerprints::default()).unwrap());
    let headers = http::HeaderMap::new();
    let head = RequestHead {
        method: "GET",
        host: VH,
        path: "/?list-type=2&prefix=docker%2Fregistry%2F&delimiter=%2F&max-keys=10",
        headers: &headers,
    };
    let v = authorizer.authorize(&head, None, &ConnFacts::default()).unwrap();
    let get = |k: &str| v.classification.context.get(k).map(|c| c.values().collect::<Vec<_>>().join(","));
    assert_eq!(get("s3:prefix").as_deref(), Some("docker/registry/"));
    assert_eq!(get("s3:delimiter").as_deref(), Some("/"));
    assert_eq!(get("s3:max-keys").as_deref(), Some("10"));
    assert_eq!(get("aws:RequestedRegion").as_deref(), Some("us-east-1"));
    let object = RequestHead { method: "GET", host: VH, path: "/k?prefix=x", headers: &headers };
    let v = authorizer.authorize(&object, None, &ConnFacts::default()).unwrap();
    assert!(v.classification.context.get("s3:prefix").is_none(), "only list operations carry s3:prefix");
}

/// Service Authorization Reference, Amazon S3 (condition keys column): `s3:prefix`, `s3:delimiter` and
/// `s3:max-keys` are given to ListBucket and ListBucketVersions only, so the list parameters of another
/// request (ListMultipartUploads' `?uploads&prefix=`) never become keys a policy could read.
#[test]
fn list_keys_are_set_only_for_the_actions_iam_gives_them() {
    let config = Config::parse(CONFIG, std::path::Path::new("table.toml")).unwrap();
    let authorizer = Authorizer::new(&config, load_policies(&config, &mut Fingerprints::default()).unwrap());
    let headers = http::HeaderMap::new();
    // (path, action, the three keys' values: prefix, delimiter, max-keys)
    let rows: [(&str, &str, [Option<&str>; 3]); 5] = [
        ("/?prefix=a%2F&delimiter=%2F&max-keys=5", "s3:ListBucket", [Some("a/"), Some("/"), Some("5")]),
        ("/?versions&prefix=a&max-keys=3", "s3:ListBucketVersions", [Some("a"), None, Some("3")]),
        (
            "/?uploads&prefix=a&delimiter=%2F&max-uploads=5",
            "s3:ListBucketMultipartUploads",
            [None, None, None],
        ),
        ("/?location&prefix=a", "s3:GetBucketLocation", [None, None, None]),
        ("/k?uploadId=u&max-parts=2&prefix=a", "s3:ListMultipartUploadParts", [None, None, None]),
    ];
    for (path, action, want) in rows {
        let head = RequestHead { method: "GET", host: VH, path, headers: &headers };
        let v = authorizer.authorize(&head, None, &ConnFacts::default()).unwrap();
        assert_eq!(v.classification.permission.as_ref().unwrap().action, action, "{path}");
        let got = ["s3:prefix", "s3:delimiter", "s3:max-keys"]
            .map(|k| v.classification.context.get(k).map(|c| c.values().collect::<Vec<_>>().join(",")));
        assert_eq!(got, want.map(|w| w.map(str::to_string)), "{path} -> {action}");
    }
}
