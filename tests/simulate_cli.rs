//! `vpce-proxy simulate` through the built binary: the contract of ARCHITECTURE.md §3 (stdout JSON, exit 0 on a
//! decision, exit 2 and a message on stderr for invalid input).

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_vpce-proxy");

fn simulate_stdin(input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["simulate", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vpce-proxy");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn json(output: &Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

fn stderr(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "stdout: {}", String::from_utf8_lossy(&output.stdout));
    assert!(output.stdout.is_empty());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const ORG_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "OwnRegistryOnly", "Effect": "Allow", "Principal": "*", "Action": "ecr:*",
   "Resource": "arn:aws:ecr:*:123456789123:repository/*",
   "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}},
  {"Sid": "KeepBaseImage3", "Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository",
   "Resource": "arn:aws:ecr:*:123456789123:repository/base-image3"}]}"#;

fn org_case(action: &str, repo: &str, org: &str) -> String {
    format!(
        r#"{{"endpoint_policy": {ORG_ONLY}, "request": {{"principal": "arn:aws:sts::123456789123:assumed-role/dev/s1",
            "action": "{action}", "resource": "arn:aws:ecr:us-east-1:123456789123:repository/{repo}",
            "context": {{"aws:PrincipalOrgID": "{org}"}}}}}}"#
    )
}

/// Seed (a), ARCHITECTURE.md §1 / AWS PrivateLink Guide "Control access to VPC endpoints using endpoint policies".
#[test]
fn org_member_is_allowed_with_the_matching_statement() {
    let out = json(&simulate_stdin(&org_case("ecr:PutImage", "app", "o-21ej9awi6a")));
    assert_eq!(
        out,
        serde_json::json!({"decision": "Allow", "denied_by": null, "message": null,
            "matched": [{"policy": "vpc_endpoint", "sid": "OwnRegistryOnly", "effect": "Allow"}]})
    );
}

#[test]
fn other_organization_is_implicitly_denied_by_the_endpoint() {
    let out = json(&simulate_stdin(&org_case("ecr:PutImage", "app", "o-other")));
    assert_eq!(out["decision"], "ImplicitDeny");
    assert_eq!(out["denied_by"], "vpc_endpoint");
    assert_eq!(
        out["message"],
        "User: arn:aws:sts::123456789123:assumed-role/dev/s1 is not authorized to perform: ecr:PutImage on resource: \
         arn:aws:ecr:us-east-1:123456789123:repository/app because no VPC endpoint policy allows the ecr:PutImage action"
    );
    assert_eq!(out["matched"], serde_json::json!([]));
}

#[test]
fn deleting_base_image3_is_an_explicit_deny() {
    let out = json(&simulate_stdin(&org_case("ecr:DeleteRepository", "base-image3", "o-21ej9awi6a")));
    assert_eq!(out["decision"], "ExplicitDeny");
    assert!(out["message"].as_str().unwrap().ends_with("with an explicit deny in a VPC endpoint policy"));
}

/// An identity policy alone (no resource policy), read from a file: IAM User Guide "Policy evaluation logic".
#[test]
fn identity_only_case_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("case.json");
    std::fs::write(
        &path,
        r#"{"identity_policies": [{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Action": ["ecr:InitiateLayerUpload", "ecr:PutImage"],
            "Resource": "arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/sample-repository*"}}],
          "request": {"principal": "arn:aws:iam::709825985650:user/developer", "action": "ecr:InitiateLayerUpload",
            "resource": "arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/prod-repository"}}"#,
    )
    .expect("write case");
    let output = Command::new(BIN).args(["simulate", "--input"]).arg(&path).output().expect("run");
    let out = json(&output);
    assert_eq!(out["decision"], "ImplicitDeny");
    assert_eq!(out["denied_by"], "identity");
    assert!(out["message"]
        .as_str()
        .unwrap()
        .ends_with("because no identity-based policy allows the ecr:InitiateLayerUpload action"));
}

/// IAM User Guide, "Cross-account policy evaluation logic": resource policy and identity policy both needed.
#[test]
fn cross_account_needs_the_resource_policy() {
    let case = r#"{"identity_policies": [{"Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}],
      "resource_policy": {"Statement": {"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "ecr:BatchGetImage"}},
      "request": {"principal": "arn:aws:iam::444455556666:user/bob", "action": "ecr:PutImage",
        "resource": "arn:aws:ecr:us-east-1:111122223333:repository/app", "resource_account": "111122223333"}}"#;
    let out = json(&simulate_stdin(case));
    assert_eq!(out["denied_by"], "resource");
    let allowed = json(&simulate_stdin(&case.replace("ecr:PutImage", "ecr:BatchGetImage")));
    assert_eq!(allowed["decision"], "Allow");
}

/// Context values: arrays are multivalued, numbers and booleans become text (IAM User Guide, "Set operators
/// for multivalued context keys"). The action is outside the IAM tables, so each key reaches its operator
/// (no S3 action is given both `aws:TagKeys` and `s3:max-keys`).
#[test]
fn context_arrays_numbers_and_booleans() {
    let case = r#"{"endpoint_policy": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
        "Bool": {"aws:SecureTransport": "true"}, "NumericLessThan": {"s3:max-keys": "100"}}}},
      "request": {"principal": "anonymous", "action": "lab:Operate", "resource": "arn:aws:s3:::b",
        "context": {"aws:TagKeys": ["a"], "aws:SecureTransport": true, "s3:max-keys": 10}}}"#;
    assert_eq!(json(&simulate_stdin(case))["decision"], "Allow");
    let widened = case.replace(r#"["a"]"#, r#"["a", "z"]"#);
    assert_eq!(json(&simulate_stdin(&widened))["decision"], "ImplicitDeny");
}

#[test]
fn policy_errors_name_the_field_and_position() {
    let case = "{\"endpoint_policy\": {\"Statement\": {\"Effect\": \"Allow\",\n  \"Principal\": \"\", \"Action\": \"*\"}},\n \"request\": {\"principal\": \"anonymous\", \"action\": \"s3:GetObject\", \"resource\": \"*\"}}";
    let err = stderr(&simulate_stdin(case));
    assert!(err.contains("endpoint_policy: 2:16: empty Principal"), "{err}");
}

#[test]
fn identity_policy_errors_name_their_index() {
    let case = r#"{"identity_policies": [{"Statement": []}, {"Statement": {"Effect": "Allow", "Action": "*", "Foo": 1}}],
      "request": {"principal": "anonymous", "action": "s3:GetObject", "resource": "*"}}"#;
    let err = stderr(&simulate_stdin(case));
    assert!(err.contains("identity_policies[1]: ") && err.contains("unknown element \"Foo\""), "{err}");
}

#[test]
fn malformed_json_and_missing_fields_exit_2() {
    assert!(stderr(&simulate_stdin("{\"request\": ")).contains("1:13"));
    assert!(stderr(&simulate_stdin(r#"{"endpoint_policy": {"Statement": []}}"#))
        .contains("missing field \"request\""));
    let no_action = r#"{"request": {"principal": "anonymous", "resource": "*"}}"#;
    assert!(stderr(&simulate_stdin(no_action)).contains("request has no \"action\""));
    let extra =
        r#"{"request": {"principal": "anonymous", "action": "a:b", "resource": "*"}, "endpoint": {}}"#;
    assert!(stderr(&simulate_stdin(extra)).contains("unknown field \"endpoint\""));
}

#[test]
fn duplicate_keys_in_a_policy_are_rejected() {
    let case = r#"{"endpoint_policy": {"Statement": {"Effect": "Allow", "Effect": "Deny", "Action": "*"}},
      "request": {"principal": "anonymous", "action": "a:b", "resource": "*"}}"#;
    assert!(stderr(&simulate_stdin(case)).contains("duplicate key \"Effect\""));
}

#[test]
fn unreadable_input_file_exits_2() {
    let output =
        Command::new(BIN).args(["simulate", "--input", "/nonexistent/case.json"]).output().expect("run");
    assert!(stderr(&output).contains("cannot read /nonexistent/case.json"));
}

/// IAM User Guide, "Policy evaluation logic": with no policy at all nothing allows, so the answer is the
/// default implicit deny, reported as the evaluator reports "no layer allows" (issue 8, item 3).
#[test]
fn no_policies_at_all_is_an_implicit_deny() {
    let case = r#"{"request": {"principal": "anonymous", "action": "ecr:PutImage", "resource": "*"}}"#;
    assert_eq!(
        json(&simulate_stdin(case)),
        serde_json::json!({"decision": "ImplicitDeny", "denied_by": "resource",
            "message": "User: anonymous is not authorized to perform: ecr:PutImage on resource: * because no \
                resource-based policy allows the ecr:PutImage action",
            "matched": []})
    );
    let named = case.replace("anonymous", "arn:aws:iam::111122223333:user/bob");
    let out = json(&simulate_stdin(&named));
    assert_eq!((&out["decision"], &out["denied_by"]), (&"ImplicitDeny".into(), &"identity".into()));
    assert!(out["message"]
        .as_str()
        .unwrap()
        .ends_with("because no identity-based policy allows the ecr:PutImage action"));
    let nulls = r#"{"endpoint_policy": null, "identity_policies": null, "resource_policy": null,
        "request": {"principal": "anonymous", "action": "ecr:PutImage", "resource": "*"}}"#;
    assert_eq!(json(&simulate_stdin(nulls))["decision"], "ImplicitDeny");
}

/// The published stories on the shipped policy files (policies/README.md), each row the decision behind one
/// transcript line. Story (b), AWS Marketplace blog: one account, 111111111111, whose Marketplace
/// repositories carry a managed repository policy; `prod-repository`'s does not grant the developer, so
/// that push is refused by the resource layer (ARCHITECTURE.md §3). Story (a), AWS Containers blog on ECR
/// VPC endpoint policies: the org-only endpoint policy in us-west-2.
#[test]
fn shipped_story_policies_give_the_published_messages() {
    let read = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let repo = |name: &str| format!("arn:aws:ecr:us-east-1:111111111111:repository/len-s-mp/{name}");
    let seller = |user: &str, identity: &str, repository: &str, action: &str| {
        let policy = if repository == "prod-repository" {
            "marketplace-prod-repository.json"
        } else {
            "marketplace-seller-repository.json"
        };
        serde_json::json!({
            "identity_policies": [read(identity)],
            "resource_policy": read(policy),
            "request": {"principal": format!("arn:aws:iam::111111111111:user/{user}"), "action": action,
                "resource": repo(repository)}})
    };
    let admin = "marketplace-administrator.json";
    let readonly = "marketplace-readonly.json";
    let rows = [
        (seller("developer", admin, "sample-repository", "ecr:PutImage"), "Allow", None),
        (seller("developer", admin, "sample-repository", "ecr:DescribeImages"), "Allow", None),
        (
            seller("developer", admin, "prod-repository", "ecr:InitiateLayerUpload"),
            "ImplicitDeny",
            Some("User: arn:aws:iam::111111111111:user/developer is not authorized to perform: \
                  ecr:InitiateLayerUpload on resource: arn:aws:ecr:us-east-1:111111111111:repository/len-s-mp/\
                  prod-repository because no resource-based policy allows the ecr:InitiateLayerUpload action"),
        ),
        (seller("read-only", readonly, "sample-repository", "ecr:DescribeImages"), "Allow", None),
        // `Layer already exists`: the managed repository policy grants the check, not the read-only policy.
        (seller("read-only", readonly, "sample-repository", "ecr:BatchCheckLayerAvailability"), "Allow", None),
        (
            seller("read-only", readonly, "sample-repository", "ecr:PutImage"),
            "ExplicitDeny",
            Some("User: arn:aws:iam::111111111111:user/read-only is not authorized to perform: ecr:PutImage \
                  on resource: arn:aws:ecr:us-east-1:111111111111:repository/len-s-mp/sample-repository with an \
                  explicit deny in an identity-based policy"),
        ),
    ];
    for (case, decision, message) in rows {
        let out = json(&simulate_stdin(&case.to_string()));
        assert_eq!(out["decision"], decision, "{case}: {out}");
        assert_eq!(out["message"].as_str(), message, "{case}");
    }
    let role = "arn:aws:sts::123456789123:assumed-role/Admin-Access/i-04c4c603bb7b33708";
    let endpoint = |action: &str, resource: &str| {
        serde_json::json!({"endpoint_policy": read("org-only-ecr.json"),
            "request": {"principal": role, "action": action, "resource": resource,
                "context": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}})
    };
    let out = json(&simulate_stdin(
        &endpoint("ecr:InitiateLayerUpload", "arn:aws:ecr:us-west-2:987654321987:repository/image1")
            .to_string(),
    ));
    assert_eq!(
        out["message"],
        format!(
            "User: {role} is not authorized to perform: ecr:InitiateLayerUpload on resource: \
             arn:aws:ecr:us-west-2:987654321987:repository/image1 because no VPC endpoint policy allows the \
             ecr:InitiateLayerUpload action"
        )
    );
    let delete =
        endpoint("ecr:DeleteRepository", "arn:aws:ecr:us-west-2:123456789123:repository/base-image3");
    let out = json(&simulate_stdin(&delete.to_string()));
    assert_eq!((&out["decision"], &out["denied_by"]), (&"ExplicitDeny".into(), &"vpc_endpoint".into()));
}
