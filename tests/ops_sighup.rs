//! SIGHUP forces a reload even when the watcher would not (poll interval far longer than the test).
//!
//! Its own test binary: the signal goes to this whole process, so no other test may share it.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use vpce_proxy::admin::Metrics;
use vpce_proxy::reload::{spawn_reloader, Reloader};

#[tokio::test]
async fn sighup_reloads_and_the_new_hash_is_reported() {
    // Installing a handler first replaces SIGHUP's default action (exit) for the whole process, so the
    // signal cannot kill the test before the reloader's own handler is in place.
    let mut ours = signal(SignalKind::hangup()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vpce-proxy.toml");
    let policy = dir.path().join("dkr.json");
    std::fs::write(&config, "[policies]\n\"ecr.dkr\" = \"dkr.json\"\n").unwrap();
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
    )
    .unwrap();
    let loaded = Reloader::load(Some(config), Arc::new(Metrics::new())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = spawn_reloader(Arc::clone(&loaded.reloader), Duration::from_secs(3600), stopped);
    tokio::time::sleep(Duration::from_millis(100)).await; // let the reloader install its handler

    // The hour-long poll interval has ticked once already: only SIGHUP can trigger this reload.
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}}"#,
    )
    .unwrap();
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    tokio::time::timeout(Duration::from_secs(5), ours.recv()).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while loaded.health.reloads() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(loaded.health.reloads(), 1);
    use sha2::Digest;
    let expected = hex::encode(sha2::Sha256::digest(std::fs::read(&policy).unwrap()));
    assert_eq!(loaded.health.hashes()["ecr.dkr"].sha256, expected);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}
