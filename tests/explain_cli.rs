//! `vpce-proxy explain` through the built binary (ARCHITECTURE.md §3): captured aws CLI, docker, skopeo and
//! presigned-S3 requests from `tests/requests/`, decided against the org-only endpoint policy of seed
//! scenario (a).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/requests").join(name)
}

/// Runs explain; returns the exit code, parsed stdout (Null when not JSON) and stderr.
fn explain(request: &str, with_config: bool) -> (i32, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpce-proxy"));
    cmd.arg("explain").arg("--request").arg(fixture(request));
    if with_config {
        cmd.arg("--config").arg(fixture("config.toml"));
    }
    let out = cmd.output().expect("run vpce-proxy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), value, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn decided(request: &str) -> Value {
    let (code, value, stderr) = explain(request, true);
    assert_eq!(code, 0, "{request}: {stderr}");
    assert!(value.get("refused").is_none(), "{request}: {value}");
    value
}

/// Amazon ECR User Guide, "Interface VPC endpoints": an org principal on its own account's repository.
#[test]
fn aws_cli_describe_images_is_allowed_with_the_full_context() {
    let v = decided("aws-cli-describe-images.json");
    assert_eq!(v["service"], "ecr.api");
    assert_eq!(v["action"], "ecr:DescribeImages");
    assert_eq!(v["resource"], "arn:aws:ecr:us-east-1:123456789123:repository/team/app");
    assert_eq!(v["principal"], "arn:aws:sts::123456789123:assumed-role/ci/session1");
    assert_eq!(v["decision"], "Allow");
    assert_eq!(v["denied_by"], Value::Null);
    assert_eq!(v["matched"][0]["sid"], "OwnAccountOrgOnly");
    let ctx = &v["context"];
    assert_eq!(ctx["aws:PrincipalOrgID"], "o-21ej9awi6a");
    assert_eq!(ctx["aws:SourceVpce"], "vpce-0a1b2c3d4e5f60718");
    assert_eq!(ctx["aws:SourceVpc"], "vpc-0a1b2c3d");
    assert_eq!(ctx["aws:SecureTransport"], "true");
    assert_eq!(ctx["aws:RequestedRegion"], "us-east-1");
    assert_eq!(ctx["aws:ResourceAccount"], "123456789123");
    assert!(ctx.get("aws:SourceIp").is_none(), "no aws:SourceIp through an endpoint");
}

/// Seed scenario (a): DeleteRepository on base-image3 is explicitly denied by the endpoint policy.
#[test]
fn delete_of_base_image3_is_an_explicit_deny_with_aws_wording() {
    let v = decided("aws-cli-delete-base-image3.json");
    assert_eq!(v["action"], "ecr:DeleteRepository");
    assert_eq!(v["decision"], "ExplicitDeny");
    assert_eq!(v["denied_by"], "vpc_endpoint");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.starts_with("User: arn:aws:sts::123456789123:assumed-role/ci/session1 is not authorized"),
        "{message}"
    );
    assert!(message.contains("with an explicit deny in a VPC endpoint policy"), "{message}");
}

#[test]
fn another_accounts_registry_is_implicitly_denied() {
    let v = decided("aws-cli-foreign-registry.json");
    assert_eq!(v["resource"], "arn:aws:ecr:us-east-1:555566667777:repository/shared/base");
    assert_eq!(v["decision"], "ImplicitDeny");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("because no VPC endpoint policy allows the ecr:BatchGetImage action"));
}

/// Without --config the AWS default endpoint policy allows everything; the static token names nobody.
#[test]
fn docker_manifest_pull_without_config_is_allowed_as_anonymous() {
    let (code, v, stderr) = explain("docker-manifest-get.json", false);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((v["service"].as_str(), v["action"].as_str()), (Some("ecr.dkr"), Some("ecr:BatchGetImage")));
    assert_eq!(v["principal"], "anonymous");
    assert_eq!(v["decision"], "Allow");
    let with_config = decided("docker-manifest-get.json");
    assert_eq!(with_config["principal"], "arn:aws:sts::123456789123:assumed-role/ci/session1");
}

#[test]
fn a_blob_mount_lists_the_source_read_in_additional() {
    let v = decided("docker-blob-mount.json");
    assert_eq!(v["action"], "ecr:InitiateLayerUpload");
    let additional = v["additional"].as_array().unwrap();
    assert_eq!(additional.len(), 1);
    assert_eq!(additional[0]["action"], "ecr:GetDownloadUrlForLayer");
    assert_eq!(additional[0]["resource"], "arn:aws:ecr:us-east-1:123456789123:repository/base/alpine");
}

#[test]
fn the_registry_ping_needs_no_permission() {
    let v = decided("docker-ping-with-token.json");
    assert_eq!(v["service"], "ecr.dkr");
    assert_eq!(v["action"], Value::Null);
    assert_eq!(v["decision"], "Allow");
}

/// Amazon ECR User Guide, "Private registry authentication": a registry request without credentials is
/// answered `401` with ECR's Basic challenge before any policy, whether docker's ping or containerd's bare
/// manifest `HEAD`; explain says so instead of deciding it as `anonymous`.
#[test]
fn a_registry_request_without_credentials_is_challenged_not_decided() {
    let realm =
        "Basic realm=\"https://123456789123.dkr.ecr.us-east-1.amazonaws.com/\",service=\"ecr.amazonaws.com\"";
    for file in ["docker-ping.json", "containerd-manifest-head.json"] {
        let v = decided(file);
        assert_eq!(v["challenged"]["status"], 401, "{file}");
        assert_eq!(v["challenged"]["www_authenticate"], realm, "{file}");
        assert_eq!(v.get("decision"), None, "{file}: not a policy decision");
    }
}

#[test]
fn proxy_credentials_and_source_cidrs_name_principals() {
    let v = decided("skopeo-proxy-user.json");
    assert_eq!(v["principal"], "arn:aws:iam::123456789123:user/alice");
    assert_eq!(v["context"]["aws:username"], "alice");
    let v = decided("instance-role-by-cidr.json");
    assert_eq!(v["principal"], "arn:aws:sts::444455556666:assumed-role/node/i-0abc");
    assert_eq!(v["action"], "ecr:ListImages");
    assert_eq!(v["decision"], "ImplicitDeny", "not in the organization");
}

/// Amazon ECR User Guide: layers come from presigned S3 URLs; the key is percent-decoded once.
#[test]
fn a_presigned_layer_url_is_an_s3_get_object() {
    let v = decided("s3-presigned-layer.json");
    assert_eq!(v["service"], "s3");
    assert_eq!(v["action"], "s3:GetObject");
    assert_eq!(
        v["resource"],
        "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/docker/registry/v2/blobs/sha256/5b/data:ab"
    );
    assert_eq!(v["principal"], "anonymous");
    assert_eq!(v["decision"], "Allow", "no S3 policy configured: the default allows");
}

#[test]
fn refusals_print_the_reason_and_exit_zero() {
    let cases = [
        ("refused-encoded-slash.json", "percent-encoded"),
        ("refused-not-endpoint.json", "not an endpoint host"),
        ("refused-duplicate-key.json", "not acceptable JSON"),
        (
            "refused-method-override.json",
            "x-http-method-override: \"DELETE\" would make this GET act as another",
        ),
    ];
    for (request, why) in cases {
        let (code, v, stderr) = explain(request, true);
        assert_eq!(code, 0, "{request}: {stderr}");
        let reason = v["refused"].as_str().unwrap_or_else(|| panic!("{request}: {v}"));
        assert!(reason.contains(why), "{request}: {reason}");
        assert_eq!(v.as_object().unwrap().len(), 1, "{request}: only the reason");
    }
}

#[test]
fn an_unreadable_request_file_exits_2() {
    for request in ["unreadable.json", "does-not-exist.json"] {
        let (code, v, stderr) = explain(request, true);
        assert_eq!(code, 2, "{request}");
        assert_eq!(v, Value::Null, "{request}: nothing on stdout");
        assert!(stderr.contains(request), "{request}: {stderr}");
    }
}

#[test]
fn a_broken_config_exits_2() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpce-proxy"));
    let out = cmd
        .args(["explain", "--config"])
        .arg(fixture("endpoint-org-only.json"))
        .arg("--request")
        .arg(fixture("docker-ping.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// Runs `vpce-proxy run --config CONFIG`, which must refuse to start; its exit code and stderr.
fn run_refusing(config: &std::path::Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpce-proxy"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("run started with a policy it should refuse");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Issue 8: explain loads through `run`'s path, lint included, so a policy `run` refuses is not explained
/// as if it were live; the message is the reloader's `FILE:LINE:COL severity code message`.
#[test]
fn a_policy_with_a_lint_error_is_refused_as_run_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vpce-proxy.toml");
    let policy = dir.path().join("dkr.json");
    std::fs::write(
        &config,
        "[listen]\nconnect = \"127.0.0.1:0\"\n\n[policies]\n\"ecr.dkr\" = \"dkr.json\"\n",
    )
    .unwrap();
    // The Marketplace blog's `"Action": ""`: AWS accepts it, it grants nothing, the linter calls it an error.
    let empty_action = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"","Resource":"*"}]}"#;
    std::fs::write(&policy, empty_action).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_vpce-proxy"))
        .args(["explain", "--config"])
        .arg(&config)
        .arg("--request")
        .arg(fixture("docker-ping.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing explained");
    let metrics = std::sync::Arc::new(vpce_proxy::admin::Metrics::new());
    let reloader = vpce_proxy::reload::Reloader::load(Some(config.clone()), metrics).unwrap_err().to_string();
    assert!(reloader.starts_with(&format!("{}:1:", policy.display())), "{reloader}");
    assert!(reloader.contains(" error empty-value "), "{reloader}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("vpce-proxy explain: {reloader}\n"));

    let (code, stderr) = run_refusing(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.lines().any(|l| l == format!("vpce-proxy: {reloader}")), "{stderr}");
}

/// A newcomer on the embedded defaults: an access key id no `[[principal]]` names still tells its
/// account (AWS STS API Reference, GetAccessKeyInfo), so `aws ecr describe-repositories` without
/// `registryId` acts on that account's registry and is forwarded; the caller stays `anonymous`.
#[test]
fn an_unconfigured_access_key_still_names_its_account() {
    let (code, v, stderr) = explain("aws-cli-describe-repositories-new-key.json", false);
    assert_eq!(code, 0, "{stderr}");
    assert!(v.get("refused").is_none(), "{v}");
    assert_eq!(v["action"], "ecr:DescribeRepositories");
    assert_eq!(v["decision"], "Allow");
    assert_eq!(v["principal"], "anonymous");
    assert_eq!(v["principal_source"], "unconfigured_key");
    assert_eq!(v["resource_account"], "123456789012");
    assert_eq!(v["context"]["aws:PrincipalAccount"], "123456789012");
    assert!(v["principal_note"].as_str().unwrap().contains("account 123456789012 is decoded"), "{v}");
}
