//! The audit log on a real file: mode 0600, appends, and whole lines under concurrent writers.
//!
//! Issue 5 item 2: one JSON line per decision, never interleaved, never a secret.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use vpce_proxy::audit::{AuditLog, AuditRecord};
use vpce_proxy::classify::Service;
use vpce_proxy::config::AuditConfig;
use vpce_proxy::policy::Outcome;

const THREADS: usize = 8;
const PER_THREAD: usize = 300;

fn record(thread: usize, i: usize) -> AuditRecord {
    AuditRecord {
        request_id: format!("t{thread}-r{i}"),
        client: Some("127.0.0.1:40000".parse().unwrap()),
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        service: Some(Service::EcrDkr),
        host: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
        action: "ecr:BatchGetImage".into(),
        // Long enough that a line exceeds the writer's 8 KiB buffer now and then, where interleaving
        // would show if writes were not serialised.
        resource: format!("arn:aws:ecr:us-east-1:111122223333:repository/{}", "n".repeat(i * 37 % 9000)),
        decision: Outcome::Allow.into(),
        upstream_status: Some(200),
        bytes_out: i as u64,
        duration_ms: 0.5,
        ..AuditRecord::default()
    }
}

#[test]
fn concurrent_writers_produce_whole_json_lines_in_a_0600_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log =
        Arc::new(AuditLog::from_config(&AuditConfig { enabled: true, path: Some(path.clone()) }).unwrap());
    assert!(log.is_enabled());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || (0..PER_THREAD).for_each(|i| log.write(record(t, i))))
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());

    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("{\"earlier\":true}"), "the log is appended to, not truncated");
    let mut ids = HashSet::new();
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:.200}"));
        assert_eq!(value["decision"], "Allow");
        assert!(ids.insert(value["requestID"].as_str().unwrap().to_owned()), "duplicate line");
    }
    assert_eq!(ids.len(), THREADS * PER_THREAD);
    assert!(text.ends_with('\n'));
}

#[test]
fn a_new_audit_file_is_created_readable_only_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.log");
    let log = AuditLog::from_config(&AuditConfig { enabled: true, path: Some(path.clone()) }).unwrap();
    log.write(record(0, 1));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn an_unopenable_audit_path_is_a_start_up_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("audit.log");
    let error = AuditLog::from_config(&AuditConfig { enabled: true, path: Some(path.clone()) }).unwrap_err();
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
}

#[test]
fn a_disabled_log_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("off.log");
    let log = AuditLog::from_config(&AuditConfig { enabled: false, path: Some(path.clone()) }).unwrap();
    log.write(record(0, 0));
    assert!(!log.is_enabled());
    assert!(!path.exists());
}

#[test]
fn reopen_follows_a_rotation_by_rename() {
    // logrotate's default (create) mode: the file is renamed away, then the daemon is told to reopen.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let rotated = dir.path().join("audit.log.1");
    let log = AuditLog::from_config(&AuditConfig { enabled: true, path: Some(path.clone()) }).unwrap();
    log.write(record(0, 1));
    std::fs::rename(&path, &rotated).unwrap();
    log.write(record(0, 2));
    log.reopen().unwrap();
    log.write(record(0, 3));
    let ids = |p: &std::path::Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        text.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["requestID"].as_str().unwrap().into()
            })
            .collect()
    };
    assert_eq!(ids(&rotated), ["t0-r1", "t0-r2"]);
    assert_eq!(ids(&path), ["t0-r3"]);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}
