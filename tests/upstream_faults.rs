//! Upstream faults have defined outcomes (ARCHITECTURE.md §4, "Upstream faults"): before the response
//! head, a `502` in the service's own error shape naming the cause; after it, the body is cut and the
//! audit line says why. None hangs, and none leaves a task or a file descriptor behind.
//!
//! One test binary holding one test: the task and descriptor counts are this process's, so nothing may
//! run beside it.

mod proxy_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use proxy_support::*;
use vpce_proxy::config::UpstreamRoute;

/// What a faulty upstream does once it has read a request head.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Resets the TCP connection before answering.
    ResetBeforeAnswer,
    /// Sends a 200 head and 4 KiB of a 64 KiB body, then resets.
    ResetMidBody,
    /// Answers with a status line that is not HTTP.
    MalformedStatusLine,
    /// Sends its status line one byte per 1.5 s, slower than the 1 s upstream idle timeout.
    Trickle,
}

/// A TLS upstream on 127.0.0.1:0 that commits `fault` on every connection, with its CA's PEM.
async fn faulty(names: &[&str], fault: Fault) -> (SocketAddr, String, tokio::task::JoinHandle<()>) {
    let (acceptor, ca_pem) = tls_acceptor(names);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                commit(tls, fault).await;
            });
        }
    });
    (addr, ca_pem, task)
}

async fn commit(mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>, fault: Fault) {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if tls.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let reset = |tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>| {
        tls.get_ref().0.set_zero_linger().unwrap();
        drop(tls);
    };
    match fault {
        Fault::ResetBeforeAnswer => reset(tls),
        Fault::ResetMidBody => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 65536\r\n\r\n";
            let _ = tls.write_all(head.as_bytes()).await;
            let _ = tls.write_all(&[b'x'; 4096]).await;
            let _ = tls.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            reset(tls);
        }
        Fault::MalformedStatusLine => {
            let _ = tls.write_all(b"HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n").await;
            let _ = tls.shutdown().await;
        }
        Fault::Trickle => {
            for b in b"HTTP/1.1 200 OK\r\n" {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// What the client sees.
#[derive(Debug)]
enum Seen {
    /// A complete response: status and the registry error's message.
    Answer(u16, String),
    /// A response head, then a body that failed after this many bytes.
    Cut(u16, usize),
}

/// A GET of a blob on `host` through the proxy, bounded by [`DEADLINE`].
async fn pull(proxy: &Proxy, host: &str) -> Seen {
    let attempt = async {
        let tls = tunnel_tls(proxy, host, &[b"http/1.1"]).await;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let req = Request::get(format!("https://{host}/v2/app/blobs/sha256:{}", "a".repeat(64)))
            .header("host", host)
            .header("authorization", REGISTRY_LOGIN)
            .body(Full::<Bytes>::default())
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
                Err(_) => return Seen::Cut(status, got.len()),
            }
        }
        let json: serde_json::Value = serde_json::from_slice(&got).unwrap_or_default();
        Seen::Answer(status, json["errors"][0]["message"].as_str().unwrap_or_default().to_string())
    };
    tokio::time::timeout(DEADLINE, attempt).await.expect("the proxy answered within the deadline")
}

/// The registry host of each row: each routes to its own faulty upstream.
fn host(account: u32) -> String {
    format!("{account:012}.dkr.ecr.us-east-1.amazonaws.com")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Waits (bounded) until the counts fall back to `baseline`, returning the last counts seen.
async fn settle(baseline: (usize, usize)) -> (usize, usize) {
    let mut now = (open_fds(), alive_tasks());
    for _ in 0..100 {
        if now.0 <= baseline.0 && now.1 <= baseline.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = (open_fds(), alive_tasks());
    }
    now
}

/// One fault per row, each behind its own registry host; every row is then checked for its answer and
/// its audit line, and the process for leftovers.
#[tokio::test]
async fn every_upstream_fault_has_a_defined_outcome_and_leaks_nothing() {
    let wildcard = "*.dkr.ecr.us-east-1.amazonaws.com";
    let good = upstream(&[wildcard]).await;
    let wrong_name = upstream(&["other.example"]).await;
    let untrusted = upstream(&[wildcard]).await;
    let mut servers = Vec::new();
    let mut trusted = vec![good.ca_pem.clone(), wrong_name.ca_pem.clone()];
    let mut routes = vec![(5, wrong_name.addr.to_string()), (6, untrusted.addr.to_string())];
    let faults = [Fault::ResetBeforeAnswer, Fault::ResetMidBody, Fault::MalformedStatusLine, Fault::Trickle];
    for (account, fault) in (1..).zip(faults) {
        let (addr, ca, task) = faulty(&[wildcard], fault).await;
        servers.push(task);
        trusted.push(ca);
        routes.push((account, addr.to_string()));
    }
    routes.push((7, "no-such-upstream.invalid:443".to_string()));
    let proxy = proxy(&good, |config| {
        std::fs::write(config.upstream_tls.extra_ca.as_ref().unwrap(), trusted.concat()).unwrap();
        for (account, address) in routes {
            config.upstreams.insert(0, UpstreamRoute { host: host(account), address });
        }
        config.limits.upstream_idle_timeout = Duration::from_secs(1);
        config.limits.upstream_connect_timeout = Duration::from_secs(3);
        config.limits.idle_timeout = Duration::from_secs(5);
    })
    .await;
    assert!(matches!(pull(&proxy, REGISTRY).await, Seen::Answer(200, _)), "the good upstream answers");
    let baseline = settle((usize::MAX, usize::MAX)).await;

    let bad_gateway = |fragment: &'static str| {
        move |seen: &Seen| match seen {
            Seen::Answer(502, message) => message.contains(fragment),
            _ => false,
        }
    };
    type Check = Box<dyn Fn(&Seen) -> bool>;
    let rows: Vec<(u32, &str, Check, &str)> = vec![
        (1, "reset before the answer", Box::new(bad_gateway("upstream failed for")), "UpstreamUnavailable"),
        (
            2,
            "reset mid-body",
            Box::new(|s| matches!(s, Seen::Cut(200, n) if *n <= 4096)),
            "UpstreamUnavailable",
        ),
        (3, "malformed status line", Box::new(bad_gateway("upstream failed for")), "UpstreamUnavailable"),
        (
            4,
            "trickle slower than the idle timeout",
            Box::new(bad_gateway("nothing moved on the upstream connection for 1s")),
            "UpstreamUnavailable",
        ),
        (5, "TLS: certificate for another name", Box::new(bad_gateway("certificate")), "UpstreamUnavailable"),
        (6, "TLS: untrusted CA", Box::new(bad_gateway("UnknownIssuer")), "UpstreamUnavailable"),
        (7, "DNS failure", Box::new(bad_gateway("cannot reach upstream for")), "UpstreamUnavailable"),
    ];
    for (account, name, check, code) in &rows {
        let seen = pull(&proxy, &host(*account)).await;
        assert!(check(&seen), "{name}: {seen:?}");
        let lines = proxy.audit_lines();
        let line = lines
            .iter()
            .find(|l| l["host"] == host(*account).as_str())
            .unwrap_or_else(|| panic!("{name}: no audit line"));
        assert_eq!(line["errorCode"], *code, "{name}: {line}");
        assert!(line["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {line}");
    }
    let mid_body = proxy.audit_lines().into_iter().find(|l| l["host"] == host(2).as_str()).unwrap();
    assert_eq!(mid_body["upstreamStatus"], 200, "{mid_body}");
    let message = mid_body["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("upstream response failed after "), "{message}");

    let (fds, tasks) = settle(baseline).await;
    assert!(fds <= baseline.0, "file descriptors: {fds} open after the faults, {} before", baseline.0);
    assert!(tasks <= baseline.1, "tasks: {tasks} alive after the faults, {} before", baseline.1);
    drop(servers);
}
