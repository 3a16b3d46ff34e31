//! The proxy's command line through the built binary (ARCHITECTURE.md §3): `ca init`, `ca export`, `run` with
//! its announcement, serving (with the audit file and admin listener wired), and SIGTERM -> drain -> exit 0. Also: the shipped example config is valid.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vpce_proxy::config::Config;

const BIN: &str = env!("CARGO_BIN_EXE_vpce-proxy");

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("vpce-proxy.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn ca_init_creates_a_0600_key_once_and_export_prints_pem_and_trust_steps() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[ca]\ndir = \"ca-here\"\n");
    let init = Command::new(BIN).args(["ca", "init", "--config"]).arg(&config).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let key = dir.path().join("ca-here/ca.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let crt = std::fs::read_to_string(dir.path().join("ca-here/ca.crt")).unwrap();
    let key_before = std::fs::read(&key).unwrap();

    let again = Command::new(BIN).args(["ca", "init", "--config"]).arg(&config).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&key).unwrap(), key_before, "an existing CA is never replaced");

    let export = Command::new(BIN).args(["ca", "export", "--config"]).arg(&config).output().unwrap();
    assert!(export.status.success());
    let stdout = String::from_utf8(export.stdout).unwrap();
    assert!(stdout.starts_with("-----BEGIN CERTIFICATE-----"), "{stdout}");
    assert_eq!(stdout, crt);
    let stderr = String::from_utf8(export.stderr).unwrap();
    for needle in
        ["/etc/docker/certs.d/HOST/ca.crt", "AWS_CA_BUNDLE=", "SSL_CERT_FILE=", "update-ca-certificates"]
    {
        assert!(stderr.contains(needle), "missing {needle}: {stderr}");
    }
}

#[test]
fn example_config_is_valid_and_documents_the_defaults() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vpce-proxy.example.toml");
    let config = Config::load(&path).unwrap();
    let mut expected = Config::default();
    expected.ca.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs");
    assert_eq!(config, expected);
}

/// `run`: announces the address and how to trust the CA, serves (a non-endpoint CONNECT gets 403), and
/// on SIGTERM stops and exits 0.
#[test]
fn run_announces_serves_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[listen]\nconnect = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n[audit]\npath = \"audit.jsonl\"\n",
    );
    let mut child =
        Command::new(BIN).args(["run", "--config"]).arg(&config).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    let mut admin = None;
    let mut trust = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        if let Some(rest) = line.strip_prefix("vpce-proxy admin listener on ") {
            admin = rest.split(": ").next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("vpce-proxy listening on ") {
            let (a, hint) = rest.split_once(": ").unwrap();
            assert_eq!(hint, format!("set HTTPS_PROXY=http://{a}"));
            addr = Some(a.to_string());
        }
        trust |= line.contains("AWS_CA_BUNDLE=") && line.contains("SSL_CERT_FILE=");
        if addr.is_some() && admin.is_some() && trust {
            break;
        }
    }
    let addr = addr.expect("announced its address");
    assert!(trust, "announced how to trust the CA");
    assert_eq!(
        std::fs::metadata(dir.path().join("certs/ca.key")).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");

    let mut health = std::net::TcpStream::connect(admin.expect("announced the admin listener")).unwrap();
    health.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    health.write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = health.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.lines().any(|l| l.contains("Refused") && l.contains("example.com")), "{audit}");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("did not exit within 10 s of SIGTERM");
}

/// A supervisor (or the lab script) signals as soon as it reads the first announce line. The handlers are
/// in place before that line is written, so a SIGHUP then is a reload request, not the default action that
/// ends the process, and the SIGTERM after it is a clean stop with exit 0. CI once caught the SIGTERM
/// handler being installed only after the listeners were serving.
#[test]
fn signals_sent_on_the_first_announce_line_are_handled_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[listen]\nconnect = \"127.0.0.1:0\"\n");
    let mut child =
        Command::new(BIN).args(["run", "--config"]).arg(&config).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
    assert!(lines.by_ref().any(|line| line.starts_with("vpce-proxy listening on ")), "announced");
    let pid = child.id().to_string();
    for signal in ["-HUP", "-TERM"] {
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }
    let rest: Vec<String> = lines.collect(); // ends when the process closes stderr
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}; stderr after the announce: {rest:?}");
    assert!(rest.iter().any(|line| line == "vpce-proxy: stopped"), "{rest:?}");
}
