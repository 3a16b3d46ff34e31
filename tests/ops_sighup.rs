//! SIGHUP forces a reload even when the watcher would not (poll interval far longer than the test),
//! reopens the audit file after a rotation, and always answers with one log line.
//!
//! Its own test binary: the signal goes to this whole process, so no other test may share it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use vpce_proxy::admin::Metrics;
use vpce_proxy::audit::{AuditLog, AuditRecord};
use vpce_proxy::config::AuditConfig;
use vpce_proxy::reload::{spawn_reloader, Reloader};

/// The reloader's log lines, as an operator would read them.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Installs this as the process's subscriber at info, the level reload outcomes are logged at.
    fn install() -> Log {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    }

    fn count(&self, text: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap()).matches(text).count()
    }

    async fn wait_for(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.count(text) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends SIGHUP to this process and waits until it has been delivered.
async fn hang_up(ours: &mut tokio::signal::unix::Signal) {
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    tokio::time::timeout(Duration::from_secs(5), ours.recv()).await.unwrap();
}

#[tokio::test]
async fn sighup_reloads_and_the_new_hash_is_reported() {
    let log = Log::install();
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
    let audit_path = dir.path().join("audit.log");
    let audit_config = AuditConfig { enabled: true, path: Some(audit_path.clone()) };
    let audit = Arc::new(AuditLog::from_config(&audit_config).unwrap());
    loaded.reloader.reopen_audit_on_hangup(Arc::clone(&audit));
    audit.write(AuditRecord { request_id: "before".into(), ..AuditRecord::default() });
    std::fs::rename(&audit_path, dir.path().join("audit.log.1")).unwrap(); // logrotate moves it away
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = spawn_reloader(Arc::clone(&loaded.reloader), Duration::from_secs(3600), stopped);
    tokio::time::sleep(Duration::from_millis(100)).await; // let the poll interval spend its first tick

    // The hour-long poll interval has ticked once already: only SIGHUP can trigger this reload.
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}}"#,
    )
    .unwrap();
    hang_up(&mut ours).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while loaded.health.reloads() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(loaded.health.reloads(), 1);
    use sha2::Digest;
    let expected = hex::encode(sha2::Sha256::digest(std::fs::read(&policy).unwrap()));
    assert_eq!(loaded.health.hashes()["ecr.dkr"].sha256, expected);
    audit.write(AuditRecord { request_id: "after".into(), ..AuditRecord::default() });
    let reopened = std::fs::read_to_string(&audit_path).unwrap();
    assert!(reopened.contains("\"requestID\":\"after\"") && !reopened.contains("before"), "{reopened}");

    // Issue 8: a SIGHUP with nothing changed says so, in one line, and rebuilds nothing.
    log.wait_for("reload applied").await;
    assert_eq!((log.count("reload applied"), log.count("reload: nothing changed")), (1, 0));
    hang_up(&mut ours).await;
    log.wait_for("reload: nothing changed").await;
    assert_eq!(log.count("reload: nothing changed"), 1);
    assert_eq!((log.count("reload applied"), log.count("reload rejected")), (1, 0));
    assert_eq!(loaded.health.reloads(), 1);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}
