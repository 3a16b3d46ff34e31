//! `vpce-proxy validate` as operators run it: the built binary on the seed policies in `policies/` (clean)
//! and on `policies/broken/` (copies with the published typos, each reported at its line and column).

use std::path::Path;
use std::process::{Command, Output};

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpce-proxy"))
        .arg("validate")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run vpce-proxy")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

/// The working policies of the published stories (policies/README.md) and the warnings each must give:
/// the endpoint and S3 policies are printed without a Version, and the final endpoint policy as published
/// grants no `ecr:GetAuthorizationToken`, which breaks `docker login` through the endpoint.
const SEEDS: &[(&str, &[&str])] = &[
    ("policies/org-only-ecr.json", &["1:1 warning missing-version"]),
    (
        "policies/org-only-ecr-final.json",
        &["1:1 warning missing-version", "2:18 warning ecr-login-not-allowed"],
    ),
    ("policies/s3-layer-bucket.json", &["1:1 warning missing-version"]),
    ("policies/marketplace-administrator.json", &[]),
    ("policies/marketplace-readonly.json", &[]),
    ("policies/marketplace-seller-repository.json", &[]),
    ("policies/marketplace-prod-repository.json", &[]),
    ("policies/marketplace-seller-login.json", &[]),
];

#[test]
fn seed_policies_give_exactly_their_warnings() {
    for (seed, expected) in SEEDS {
        let output = validate(&[seed]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{seed}: {text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{seed}:\n{text}");
        for (line, want) in lines.iter().zip(expected.iter()) {
            assert!(line.starts_with(&format!("{seed}:{want} ")), "{seed}: got {line}, want {want}");
        }
    }
}

#[test]
fn every_json_file_in_policies_is_a_listed_seed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(dir).expect("policies/") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let path = format!("policies/{name}");
            assert!(SEEDS.iter().any(|(seed, _)| *seed == path), "{name} is not tested");
        }
    }
}

/// Each broken copy and the exact `FILE:LINE:COL severity code` lines it must produce, in order.
#[test]
fn broken_policies_are_reported_at_the_typo() {
    let rows: &[(&str, &[&str])] = &[
        // AWS Containers blog, "Using VPC endpoint policies to control Amazon ECR access": the final
        // policy, its `*`s lost by the page.
        (
            "org-only-ecr-final-as-printed.json",
            &[
                "1:1 warning missing-version",
                "2:18 warning ecr-login-not-allowed",
                "4:23 error empty-value empty Action",
                "7:26 error empty-value empty Principal",
                "19:26 error empty-value empty Principal",
            ],
        ),
        // AWS Marketplace blog, "AWS Marketplace managed Amazon ECR": the read-only policy's stray spaces.
        (
            "marketplace-readonly-as-printed.json",
            &[
                "10:41 error whitespace Resource \"arn:aws:ecr:us-east-1: 111111111111",
                "15:19 error whitespace Action \"ecr:PutImage \"",
            ],
        ),
        ("developer-trailing-space.json", &["11:22 error whitespace Action \"ecr:PutImage \""]),
        (
            "org-only-ecr-space-in-arn.json",
            &["9:42 error whitespace Resource \"arn:aws:ecr:us-east-1: 123456789123"],
        ),
        (
            "readonly-misspelled-action.json",
            &["9:9 error unknown-action unknown action \"ecr:BatchGetImages\""],
        ),
        ("s3-layer-bucket-short-arn.json", &["9:19 error invalid-arn ARN \"arn:aws:s3:prod-us-east-1"]),
        (
            "org-only-ecr-operator-typo.json",
            &["11:9 error unknown-operator unknown condition operator \"StringEqual\""],
        ),
        ("s3-endpoint-missing-principal.json", &["4:5 error missing-principal"]),
        ("developer-trailing-comma.json", &["21:5 error json-syntax"]),
        (
            "developer-old-version-variable.json",
            &["2:14 warning old-version", "14:75 error variable-needs-version ${aws:username}"],
        ),
        ("developer-duplicate-sid.json", &["17:14 error duplicate-sid Sid \"PushToSampleRepository\""]),
    ];
    for (file, expected) in rows {
        let path = format!("policies/broken/{file}");
        let output = validate(&[&path]);
        let text = stdout(&output);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{file}:\n{text}");
        for (line, want) in lines.iter().zip(expected.iter()) {
            assert!(line.starts_with(&format!("{path}:{want}")), "{file}: got {line}, want {want}");
        }
        assert_eq!(output.status.code(), Some(1), "{file}");
    }
}

#[test]
fn every_broken_file_is_in_the_table() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/broken");
    let count = std::fs::read_dir(dir).expect("policies/broken/").count();
    assert_eq!(count, 12, "add a row to broken_policies_are_reported_at_the_typo for the new file");
}

#[test]
fn findings_of_several_files_keep_the_command_line_order() {
    let output = validate(&["policies/broken/developer-trailing-space.json", "policies/org-only-ecr.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("policies/broken/developer-trailing-space.json:11:22 "));
}

#[test]
fn kind_flag_overrides_the_guess() {
    let output = validate(&["--kind", "identity", "policies/org-only-ecr.json"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert_eq!(text.matches(" error principal-not-allowed ").count(), 3, "{text}");
    assert!(text.contains("policies/org-only-ecr.json:7:13 error principal-not-allowed"), "{text}");

    // The seller grant as the Marketplace blog prints it is an identity-style document; as the repository
    // policy AWS attaches, it must name its principals.
    let printed = "policies/broken/marketplace-seller-grant-as-printed.json";
    assert_eq!(validate(&[printed]).status.code(), Some(0));
    let output = validate(&["--kind", "resource", printed]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).starts_with(&format!("{printed}:4:1 error missing-principal")),
        "{}",
        stdout(&output)
    );
}

#[test]
fn warnings_alone_exit_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.json");
    let policy =
        r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}"#;
    std::fs::write(&path, policy).expect("write");
    let output = validate(&[path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains(":1:13 warning old-version "), "{}", stdout(&output));
}

#[test]
fn unreadable_file_exits_two_and_the_others_are_still_linted() {
    let output = validate(&["policies/does-not-exist.json", "policies/broken/developer-trailing-space.json"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("policies/does-not-exist.json: cannot read the policy"), "{stderr}");
    assert!(stdout(&output).contains("error whitespace"));
}
