//! Hot reload without the proxy: a changed policy is applied whole, a broken one is refused with its
//! position and the old authorizer keeps deciding, and the file watcher notices edits on its own.
//!
//! Issue 5 item 1 ("a bad file is rejected with validate's message and the old policy stays").

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vpce_proxy::admin::Metrics;
use vpce_proxy::authorize::{Authorizer, ConnFacts};
use vpce_proxy::classify::RequestHead;
use vpce_proxy::policy::Outcome;
use vpce_proxy::reload::{spawn_reloader, Loaded, Reloader};

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
const DENY_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
  {"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository","Resource":"*"}]}"#;
/// A missing comma before `"Statement"`: line 3, column 3.
const BROKEN: &str = "{\n  \"Version\": \"2012-10-17\"\n  \"Statement\": []\n}\n";

struct Lab {
    _dir: tempfile::TempDir,
    policy: PathBuf,
    loaded: Loaded,
    metrics: Arc<Metrics>,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vpce-proxy.toml");
    std::fs::write(&config, "[policies]\n\"ecr.api\" = \"ecr-api.json\"\n").unwrap();
    let policy = dir.path().join("ecr-api.json");
    std::fs::write(&policy, ALLOW_ALL).unwrap();
    let metrics = Arc::new(Metrics::new());
    let loaded = Reloader::load(Some(config), Arc::clone(&metrics)).unwrap();
    Lab { _dir: dir, policy, loaded, metrics }
}

/// What the authorizer in force decides for an unsigned `ecr:DeleteRepository` call; the endpoint policy
/// alone decides it (endpoint-only mode, ARCHITECTURE.md §3).
fn delete_repository_outcome(lab: &Lab) -> Outcome {
    decide_delete(&lab.loaded.live.current())
}

fn decide_delete(authorizer: &Authorizer) -> Outcome {
    let mut headers = http::HeaderMap::new();
    let target = "AmazonEC2ContainerRegistry_V20150921.DeleteRepository";
    headers.insert("x-amz-target", target.parse().unwrap());
    headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    let body = br#"{"registryId":"111122223333","repositoryName":"app"}"#;
    headers.insert("content-length", body.len().into());
    let head =
        RequestHead { method: "POST", host: "api.ecr.us-east-1.amazonaws.com", path: "/", headers: &headers };
    let verdict = authorizer.authorize(&head, Some(body), &ConnFacts::default()).unwrap();
    verdict.decision.outcome
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn a_changed_policy_is_applied_with_its_new_hash_and_counted() {
    let lab = lab();
    let before = lab.loaded.live.current();
    assert_eq!(delete_repository_outcome(&lab), Outcome::Allow);
    assert_eq!(lab.loaded.health.hashes()["ecr.api"].sha256, sha256_of(&lab.policy));
    assert!(!lab.loaded.reloader.files_changed());

    std::fs::write(&lab.policy, DENY_DELETE).unwrap();
    assert!(lab.loaded.reloader.files_changed());
    let hashes = lab.loaded.reloader.reload_now().unwrap();

    assert_eq!(hashes["ecr.api"].sha256, sha256_of(&lab.policy));
    assert_eq!(lab.loaded.health.hashes(), hashes);
    assert_eq!(lab.loaded.health.reloads(), 1);
    assert!(!Arc::ptr_eq(&before, &lab.loaded.live.current()), "a new authorizer is in force");
    assert_eq!(delete_repository_outcome(&lab), Outcome::ExplicitDeny);
    assert_eq!(
        decide_delete(&before),
        Outcome::Allow,
        "a request in flight keeps the policy it started with"
    );
    assert!(!lab.loaded.reloader.files_changed());
    assert!(lab.metrics.render().contains("vpce_proxy_reloads_total{result=\"ok\"} 1\n"));
}

#[test]
fn a_broken_policy_is_refused_with_its_position_and_the_old_authorizer_stays() {
    let lab = lab();
    let before = lab.loaded.live.current();
    let hashes_before = lab.loaded.health.hashes();

    std::fs::write(&lab.policy, BROKEN).unwrap();
    let error = lab.loaded.reloader.reload_now().unwrap_err().to_string();

    let position = format!("{}:3:3", lab.policy.display());
    assert!(error.starts_with(&position), "{error}");
    assert!(Arc::ptr_eq(&before, &lab.loaded.live.current()), "the old authorizer keeps deciding");
    assert_eq!(delete_repository_outcome(&lab), Outcome::Allow);
    assert_eq!(lab.loaded.health.hashes(), hashes_before, "/healthz still shows the policy in force");
    assert_eq!(lab.loaded.health.reloads(), 0);
    assert!(lab.loaded.health.last_error().unwrap().starts_with(&position));
    assert!(lab.metrics.render().contains("vpce_proxy_reloads_total{result=\"failed\"} 1\n"));
    assert!(!lab.loaded.reloader.files_changed(), "a broken file is reported once, not every poll");

    std::fs::write(&lab.policy, DENY_DELETE).unwrap();
    lab.loaded.reloader.reload_now().unwrap();
    assert_eq!(lab.loaded.health.last_error(), None, "a good reload clears the error");
    assert_eq!(delete_repository_outcome(&lab), Outcome::ExplicitDeny);
}

#[tokio::test]
async fn the_watcher_applies_an_edit_without_a_signal() {
    let lab = lab();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = spawn_reloader(Arc::clone(&lab.loaded.reloader), Duration::from_millis(50), stopped);

    std::fs::write(&lab.policy, DENY_DELETE).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while lab.loaded.health.reloads() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lab.loaded.health.reloads(), 1);
    assert_eq!(lab.loaded.health.hashes()["ecr.api"].sha256, sha256_of(&lab.policy));

    // Unchanged files for several polls: no further reloads.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lab.loaded.health.reloads(), 1);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), watcher).await.unwrap().unwrap();
}
