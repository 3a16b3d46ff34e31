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

/// `vpce-proxy replay` (ARCHITECTURE.md §10) on the same log: against the policy generated from it
/// nothing becomes denied (exit 0); against one that allows only DescribeImages, the BatchGetImage that
/// succeeded is newly denied, so exit 1, and `--json` names it; bad input is exit 2.
#[test]
fn replay_exits_by_whether_anything_allowed_becomes_denied() {
    let dir = tempfile::tempdir().unwrap();
    let log = audit_log(dir.path());
    let allowed = |id: &str, action: &str| {
        line(id, SESSION, "ecr.dkr", action, REPO, 200).replace("\"ImplicitDeny\"", "\"Allow\"")
    };
    let log2 = dir.path().join("allowed.log");
    std::fs::write(&log2, allowed("a1", "ecr:BatchGetImage") + "\n" + &allowed("a2", "ecr:PutImage") + "\n")
        .unwrap();
    let generated = vpce(&["generate", "--audit", log2.to_str().unwrap(), "--service", "ecr.dkr"]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let policy = dir.path().join("generated.json");
    std::fs::write(&policy, &generated.stdout).unwrap();
    let dkr = format!("ecr.dkr={}", policy.display());
    let out = vpce(&["replay", "--audit", log2.to_str().unwrap(), "--policy", &dkr]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().next(), Some("2 requests: 2 unchanged, 0 newly denied, 0 newly allowed"));

    let narrow = dir.path().join("narrow.json");
    let text =
        String::from_utf8(generated.stdout).unwrap().replace("\"ecr:PutImage\"", "\"ecr:DescribeImages\"");
    std::fs::write(&narrow, text).unwrap();
    let dkr = format!("ecr.dkr={}", narrow.display());
    let out = vpce(&["replay", "--audit", log2.to_str().unwrap(), "--policy", &dkr, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let changed: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(
        (changed[0]["requestID"].as_str(), changed[0]["now"].as_str()),
        (Some("a2"), Some("ImplicitDeny"))
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("2 requests: 1 unchanged, 1 newly denied, 0 newly allowed"));

    for bad in [vec!["--policy", "ecr=x.json"], vec!["--policy", "ecr.dkr=/nonexistent.json"]] {
        let mut args = vec!["replay", "--audit", log.to_str().unwrap()];
        args.extend(bad.iter().copied());
        assert_eq!(vpce(&args).status.code(), Some(2), "{bad:?}");
    }
    let garbage = dir.path().join("garbage.log");
    std::fs::write(&garbage, "not json\n").unwrap();
    let out = vpce(&["replay", "--audit", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("garbage.log:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
