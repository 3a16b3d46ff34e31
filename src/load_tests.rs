use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::*;
use crate::policy::{decide, AuthzRequest, Outcome, PolicyLayers, RequestContext};

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
const DENY_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
  {"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository","Resource":"*"}]}"#;

fn lab() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vpce-proxy.toml");
    std::fs::write(&config, "[policies]\n\"ecr.api\" = \"ecr-api.json\"\n").unwrap();
    std::fs::write(dir.path().join("ecr-api.json"), ALLOW_ALL).unwrap();
    (dir, config)
}

fn load_error(config: &Path) -> String {
    load(Some(config), &mut Fingerprints::default()).err().unwrap().to_string()
}

/// What the loaded ecr.api endpoint policy decides for a DeleteRepository call.
fn delete_outcome(policies: &LoadedPolicies) -> Outcome {
    let request = AuthzRequest {
        principal: "arn:aws:iam::111122223333:user/ops".into(),
        action: "ecr:DeleteRepository".into(),
        resource: "arn:aws:ecr:us-east-1:111122223333:repository/app".into(),
        resource_account: None,
        context: RequestContext::new(),
    };
    let layers = PolicyLayers { endpoint: Some(policies.endpoint(Service::EcrApi)), ..Default::default() };
    decide(&layers, &request).outcome
}

#[test]
fn load_hashes_the_config_and_every_policy_it_names() {
    let (dir, config) = lab();
    let mut seen = Fingerprints::default();
    let (_, policies) = load(Some(&config), &mut seen).unwrap();
    let policy = dir.path().join("ecr-api.json");
    assert_eq!(policies.hashes()["ecr.api"].file, policy.display().to_string());
    assert_eq!(policies.hashes()["ecr.api"].sha256, hex::encode(Sha256::digest(ALLOW_ALL)));
    assert!(policies.hashes().contains_key("config"));
    assert_eq!(seen.paths().collect::<Vec<_>>(), [policy.as_path(), config.as_path()]);
}

/// Issue 8: the hash `/healthz` reports is of the bytes that decide, so the two change together.
#[test]
fn the_reported_hash_is_of_exactly_the_bytes_that_were_compiled() {
    let (dir, config) = lab();
    let policy = dir.path().join("ecr-api.json");
    for (text, outcome) in [(ALLOW_ALL, Outcome::Allow), (DENY_DELETE, Outcome::ExplicitDeny)] {
        std::fs::write(&policy, text).unwrap();
        let (_, policies) = load(Some(&config), &mut Fingerprints::default()).unwrap();
        assert_eq!(policies.hashes()["ecr.api"].sha256, hex::encode(Sha256::digest(text)));
        assert_eq!(delete_outcome(&policies), outcome, "{text}");
    }
}

/// Two services naming one file get one read: the same bytes, the same hash, the same decisions.
#[test]
fn a_file_named_twice_is_read_once() {
    let (dir, config) = lab();
    std::fs::write(&config, "[policies]\n\"ecr.api\" = \"ecr-api.json\"\n\"ecr.dkr\" = \"ecr-api.json\"\n")
        .unwrap();
    std::fs::write(dir.path().join("ecr-api.json"), DENY_DELETE).unwrap();
    let (_, policies) = load(Some(&config), &mut Fingerprints::default()).unwrap();
    assert_eq!(policies.hashes()["ecr.api"], policies.hashes()["ecr.dkr"]);
    assert_eq!(policies.endpoint(Service::EcrDkr).statement_count(), 2);
    assert_eq!(policies.endpoint(Service::S3).statement_count(), 1, "unnamed services allow all");
}

#[test]
fn a_policy_syntax_error_names_file_line_and_column() {
    let (dir, config) = lab();
    let policy = dir.path().join("ecr-api.json");
    std::fs::write(&policy, "{\n  \"Version\": \"2012-10-17\"\n  \"Statement\": []\n}\n").unwrap();
    let mut seen = Fingerprints::default();
    let error = load(Some(&config), &mut seen).err().unwrap().to_string();
    assert!(error.starts_with(&format!("{}:3:3 error json-syntax ", policy.display())), "{error}");
    assert!(matches!(seen.files[&policy], Fingerprint::Present { .. }), "the broken file is still watched");
}

#[test]
fn a_lint_error_rejects_with_validates_message_and_a_warning_does_not() {
    // The ECR endpoint blog page's `"Action": ""` (issue 2): AWS accepts it but it grants nothing.
    let (dir, config) = lab();
    let policy = dir.path().join("ecr-api.json");
    let empty_action = ALLOW_ALL.replace(r#""Action":"*""#, r#""Action":"""#);
    std::fs::write(&policy, empty_action).unwrap();
    let error = load_error(&config);
    assert!(error.starts_with(&format!("{}:1:", policy.display())), "{error}");
    assert!(error.contains(" error empty-value "), "{error}");
    let findings = validate(ALLOW_ALL, PolicyKind::Endpoint);
    assert!(findings.iter().all(|f| f.severity == Severity::Warning), "{findings:?}");
    std::fs::write(&policy, ALLOW_ALL).unwrap();
    assert!(load(Some(&config), &mut Fingerprints::default()).is_ok());
}

#[test]
fn several_lint_errors_show_the_first_and_count_the_rest() {
    let (dir, config) = lab();
    let policy = dir.path().join("ecr-api.json");
    let two_empty = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"","Resource":""}]}"#;
    std::fs::write(&policy, two_empty).unwrap();
    let error = load_error(&config);
    assert!(error.starts_with(&format!("{}:1:", policy.display())), "{error}");
    assert!(error.ends_with(" (and 1 more errors)"), "{error}");
}

#[test]
fn a_missing_policy_or_bad_config_is_rejected_with_the_file_named() {
    let (dir, config) = lab();
    std::fs::write(&config, "[policies]\n\"s3\" = \"nope.json\"\n").unwrap();
    let error = load_error(&config);
    assert!(error.contains("nope.json: cannot read"), "{error}");
    std::fs::write(&config, "[listen]\nconect = 1\n").unwrap();
    let error = load_error(&config);
    assert!(error.starts_with(&format!("{}:2:1:", config.display())), "{error}");
    drop(dir);
}

#[test]
fn a_policy_that_is_not_utf8_names_the_byte() {
    let (dir, config) = lab();
    let policy = dir.path().join("ecr-api.json");
    std::fs::write(&policy, b"{\"Statement\": \"\xff\"}").unwrap();
    assert_eq!(load_error(&config), format!("{}: not UTF-8 at byte 15", policy.display()));
}

/// Messages for the config-level errors an operator sees, in the order they are reported.
#[test]
fn unknown_services_and_principal_conflicts_are_refused() {
    let (dir, config) = lab();
    std::fs::write(&config, "[policies]\n\"ecr\" = \"ecr-api.json\"\n").unwrap();
    let error = load_error(&config);
    assert!(error.starts_with(&format!("{}:2:1:", config.display())), "refused at the key: {error}");
    assert!(error.contains("\"ecr\" is not a service: use ecr.api, ecr.dkr or s3"), "{error}");
    let twice = "[[principal]]\narn = \"a\"\naccess_key_ids = [\"K\"]\n[[principal]]\narn = \"b\"\naccess_key_ids = [\"K\"]\n";
    std::fs::write(&config, twice).unwrap();
    assert_eq!(load_error(&config), "principal b: access key id claimed by two principals");
    std::fs::write(&config, format!("[policies]\n\"s3\" = \"nope.json\"\n{twice}")).unwrap();
    assert!(load_error(&config).contains("nope.json: cannot read"), "file errors come first");
    drop(dir);
}

/// Moved from `policy::tests::grammar` with `Policy::from_file`: a policy the compiler refuses names
/// the file in front of the position.
#[test]
fn a_compile_error_names_file_line_and_column() {
    let text = "{\n  \"Statement\": {\"Effect\": \"Alow\", \"Action\": \"*\"}\n}";
    let path = PathBuf::from("/etc/vpce/bad.json");
    let error = LoadError::Compile { path: path.clone(), source: Policy::parse(text).unwrap_err() };
    assert_eq!(error.to_string(), format!("{}:2:27: Effect must be \"Allow\" or \"Deny\"", path.display()));
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config::parse("[policies]\n\"s3\" = \"missing.json\"\n", &dir.path().join("c.toml")).unwrap();
    assert!(load_policies(&config, &mut Fingerprints::default()).is_err());
}

#[test]
fn identity_policies_are_hashed_per_principal() {
    let (dir, config) = lab();
    let identity =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;
    std::fs::write(dir.path().join("id.json"), identity).unwrap();
    let text = "[[principal]]\narn = \"arn:aws:iam::111122223333:user/a\"\nidentity_policies = [\"id.json\"]\n\
                [[principal]]\narn = \"arn:aws:iam::111122223333:user/b\"\nidentity_policies = [\"id.json\", \"id.json\"]\n\
                [[principal]]\narn = \"arn:aws:iam::111122223333:user/c\"\n";
    std::fs::write(&config, text).unwrap();
    let (_, policies) = load(Some(&config), &mut Fingerprints::default()).unwrap();
    let roles: Vec<&str> = policies.hashes().keys().map(String::as_str).collect();
    assert_eq!(
        roles,
        [
            "config",
            "identity:arn:aws:iam::111122223333:user/a",
            "identity:arn:aws:iam::111122223333:user/b#1",
            "identity:arn:aws:iam::111122223333:user/b#2"
        ]
    );
    assert_eq!(policies.identity(1).map(<[Policy]>::len), Some(2));
    assert!(policies.identity(2).is_none() && policies.identity(3).is_none());
}

#[test]
fn embedded_defaults_watch_nothing() {
    let mut seen = Fingerprints::default();
    let (_, policies) = load(None, &mut seen).unwrap();
    assert!(policies.hashes().is_empty() && seen.paths().next().is_none());
}

#[test]
fn fingerprints_tell_a_touch_from_an_edit() {
    let (dir, config) = lab();
    let policy = dir.path().join("ecr-api.json");
    let mut seen = Fingerprints::default();
    load(Some(&config), &mut seen).unwrap();
    assert_eq!(seen.compare(), Change::Unchanged);
    let later = SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options().write(true).open(&policy).unwrap().set_modified(later).unwrap();
    assert_eq!(seen.compare(), Change::Touched);
    assert_eq!(seen.refresh(), Change::Touched);
    assert_eq!(seen.compare(), Change::Unchanged, "a touch is reported once");
    std::fs::write(&policy, DENY_DELETE).unwrap();
    assert_eq!(seen.refresh(), Change::Content);
    assert_eq!(seen.compare(), Change::Content, "an edit stays pending until a load reads it");
    std::fs::remove_file(&policy).unwrap();
    assert_eq!(seen.compare(), Change::Content);
}

/// `files::MAX_FILE_BYTES` bounds the config and every policy file: each is read at the bound exactly,
/// and one byte more is an error naming the file and the bound (the padding is a TOML comment or JSON
/// whitespace, so the content is otherwise the same).
#[test]
fn config_and_policy_files_load_at_the_byte_bound_and_not_one_byte_past_it() {
    let bound = crate::files::MAX_FILE_BYTES as usize;
    let padded =
        |text: &str, pad: char, len: usize| format!("{text}{}", pad.to_string().repeat(len - text.len()));
    for extra in [0, 1] {
        let (dir, config) = lab();
        let policy = dir.path().join("ecr-api.json");
        std::fs::write(&policy, padded(ALLOW_ALL, ' ', bound + extra)).unwrap();
        let result = load(Some(&config), &mut Fingerprints::default()).map(|_| ());
        // Read at the bound, then refused by AWS's own limit on an endpoint policy (20,480 characters);
        // past it, never read at all.
        let err = result.err().unwrap().to_string();
        let wanted = if extra == 0 { "policy-too-large" } else { "larger than 1048576 bytes" };
        assert!(err.contains("ecr-api.json") && err.contains(wanted), "{} bytes: {err}", bound + extra);
        std::fs::write(&policy, ALLOW_ALL).unwrap();
        let text = "[policies]\n\"ecr.api\" = \"ecr-api.json\"\n#";
        std::fs::write(&config, padded(text, 'x', bound + extra)).unwrap();
        let result = load(Some(&config), &mut Fingerprints::default()).map(|_| ());
        match extra {
            0 => assert!(result.is_ok(), "a config of exactly {bound} bytes: {:?}", result.err()),
            _ => {
                let err = load_error(&config);
                assert!(
                    err.contains("vpce-proxy.toml") && err.contains("larger than 1048576 bytes"),
                    "{err}"
                );
            }
        }
    }
}

/// ARCHITECTURE.md §10: a shadow policy is read, linted, hashed (`shadow:SERVICE`) and watched like a
/// live one, and a bad one refuses the load at its FILE:LINE:COL (a reload keeps the old set).
#[test]
fn shadow_policies_load_like_live_ones() {
    let (dir, config) = lab();
    std::fs::write(
        &config,
        "[policies]\n\"ecr.api\" = \"ecr-api.json\"\n[shadow_policies]\n\"ecr.api\" = \"candidate.json\"\n",
    )
    .unwrap();
    let candidate = dir.path().join("candidate.json");
    std::fs::write(&candidate, DENY_DELETE).unwrap();
    let mut seen = Fingerprints::default();
    let (_, policies) = load(Some(&config), &mut seen).unwrap();
    assert_eq!(policies.hashes()["shadow:ecr.api"].sha256, hex::encode(Sha256::digest(DENY_DELETE)));
    assert!(seen.paths().any(|p| p == candidate), "the candidate is watched for reloads");
    assert!(policies.shadow[service_index(Service::EcrApi)].is_some());
    assert!(policies.shadow[service_index(Service::EcrDkr)].is_none());
    std::fs::write(&candidate, "{\"Version\": \"2012-10-17\",\n  \"Statement\": [}").unwrap();
    let error = load_error(&config);
    assert!(error.starts_with(&format!("{}:2:", candidate.display())), "{error}");
}
