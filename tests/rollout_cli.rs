//! `vpce-proxy generate` as an operator runs it: the built binary on a small handwritten audit log
//! recorded in report mode (every request denied by the policy in force, and forwarded anyway). Its
//! stdout must pass `vpce-proxy validate --kind endpoint` with no finding at all, and stderr says what
//! was skipped and added. The size limit is the AWS PrivateLink Guide's ("Control access to VPC
//! endpoints using endpoint policies": 20,480 characters).

use std::path::Path;
use std::process::{Command, Output};

const HEAD: &str = r#""eventTime":"2024-05-01T10:00:00.000Z","sourceIPAddress":"10.0.0.5","eventSource":"ecr.amazonaws.com""#;

/// One audit line of the contract (ARCHITECTURE.md §6), decided `ImplicitDeny` in report mode.
fn line(id: &str, principal: &str, service: &str, action: &str, resource: &str, status: u16) -> String {
    format!(
        r#"{{{HEAD},"requestID":"{id}","userIdentity":{{"arn":"{principal}"}},"service":"{service}","eventName":"X","action":"{action}","resources":[{{"ARN":"{resource}"}}],"decision":"ImplicitDeny","deniedBy":"vpc_endpoint","statementSid":null,"upstreamStatus":{status},"bytesIn":0,"bytesOut":10,"durationMs":1.0,"host":"h","enforced":false,"authorization":{{"action":"{action}","resource":"{resource}","additional":[],"context":{{}}}}}}"#
    )
}

const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/ci/i-0abc";
const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";

fn audit_log(dir: &Path) -> std::path::PathBuf {
    let old = format!(
        r#"{{{HEAD},"requestID":"old","userIdentity":{{"arn":"{SESSION}"}},"service":"ecr.dkr","eventName":"X","action":"ecr:BatchGetImage","resources":[],"decision":"Allow","deniedBy":null,"statementSid":null,"upstreamStatus":200,"bytesIn":0,"bytesOut":1,"durationMs":1.0,"host":"h"}}"#
    );
    let lines = [
        old,
        line("r1", SESSION, "ecr.api", "ecr:DescribeImages", REPO, 200),
        line("r2", SESSION, "ecr.dkr", "ecr:BatchGetImage", REPO, 200),
        line("r3", SESSION, "ecr.api", "ecr:DeleteRepository", REPO, 400),
    ];
    let path = dir.join("audit.log");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn vpce(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpce-proxy")).args(args).output().expect("run vpce-proxy")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn generate_writes_a_policy_that_validates_clean_and_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let log = audit_log(dir.path());
    let out = vpce(&["generate", "--audit", log.to_str().unwrap(), "--service", "ecr.api"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy = text(&out.stdout);
    assert!(policy.contains("\"arn:aws:iam::111122223333:role/ci\""), "{policy}");
    assert!(
        policy.contains("ecr:DescribeImages") && policy.contains("ecr:GetAuthorizationToken"),
        "{policy}"
    );
    assert!(!policy.contains("DeleteRepository") && !policy.contains("BatchGetImage"), "{policy}");
    assert_eq!(text(&out.stderr).lines().collect::<Vec<_>>(), [
        "skipped 1 line(s) without an authorization field (written before the proxy recorded it)",
        "added ecr:GetAuthorizationToken on \"*\" for 1 principal(s) seen using the registry (ecr.dkr): docker login needs it",
    ]);
    let file = dir.path().join("endpoint-policy.json");
    std::fs::write(&file, &policy).unwrap();
    let lint = vpce(&["validate", "--kind", "endpoint", file.to_str().unwrap()]);
    assert_eq!((lint.status.code(), text(&lint.stdout)), (Some(0), String::new()));
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let log = audit_log(dir.path());
    let log = log.to_str().unwrap();
    let broken = dir.path().join("broken.log");
    std::fs::write(
        &broken,
        format!("{}\nnot json\n", line("r", SESSION, "s3", "s3:GetObject", "arn:aws:s3:::b/k", 200)),
    )
    .unwrap();
    let cases: [(Vec<&str>, String); 3] = [
        (
            vec!["--audit", log, "--service", "ecr"],
            "unknown service \"ecr\": the services are ecr.api, ecr.dkr and s3".into(),
        ),
        (
            vec!["--audit", log, "--service", "s3"],
            "no successful s3 request that needed a permission is in the audit log".into(),
        ),
        (
            vec!["--audit", broken.to_str().unwrap(), "--service", "s3"],
            format!("{}:2: not an audit line", broken.display()),
        ),
    ];
    for (args, expected) in cases {
        let out = vpce(&[&["generate"][..], &args].concat());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(stderr.contains(&format!("vpce-proxy generate: {expected}")), "{stderr}");
    }
}
