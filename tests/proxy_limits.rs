//! Limits and lifecycle of the edge (issue 5 items 4-6): proxy authentication, connection caps that
//! refuse instead of queueing, slowloris timeouts, single-flight leaf minting and graceful shutdown.
//! Each limit test also shows the proxy keeps serving a well-behaved client.
//!
//! The timeout tests run on tokio's paused clock (`start_paused`): the runtime jumps to the next timer
//! whenever every task waits, so a 1 s timeout costs no real second and the cut is asserted in virtual
//! time. That is sound only while every byte written is readable at once: the sockets here are loopback
//! TCP within one runtime with Nagle off on both ends (`proxy_support`), since a delayed segment would
//! let the clock jump to a timeout first (tokio-rs/tokio#4522). src/proxy/server.rs tests the same
//! timeouts over in-memory pipes, where no I/O can race the clock at all.

mod proxy_support;

use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use proxy_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

fn ping() -> Request<Full<Bytes>> {
    Request::get("/v2/").header("host", REGISTRY).body(Full::default()).unwrap()
}

/// Reads until EOF or error; returns what arrived and how long it took (virtual time on a paused clock).
async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> (String, Duration) {
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut buf)).await.expect("closed in time");
    (String::from_utf8_lossy(&buf).into_owned(), started.elapsed())
}

async fn connect_from(ip: &str, proxy: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(proxy).await.unwrap()
}

/// `Proxy-Authorization: Basic` on CONNECT (RFC 9110 §11.7.1-11.7.2, §15.5.8): missing or wrong
/// credentials get 407 with `Proxy-Authenticate`; a configured principal's credentials pass.
#[tokio::test]
async fn proxy_authentication_when_required() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |config| {
        config.listen.require_proxy_auth = true;
        config.principals.push(vpce_proxy::config::PrincipalConfig {
            arn: "arn:aws:iam::123456789012:user/dev".into(),
            proxy_user: Some("dev".into()),
            proxy_password: Some("pa:ss".into()),
            ..Default::default()
        });
    })
    .await;
    let target = format!("{REGISTRY}:443");
    let rows = [
        ("", "HTTP/1.1 407"),
        ("Proxy-Authorization: Basic ZGV2Ondyb25n\r\n", "HTTP/1.1 407"), // dev:wrong
        ("Proxy-Authorization: Bearer abc\r\n", "HTTP/1.1 407"),
        ("Proxy-Authorization: Basic ZGV2OnBhOnNz\r\n", "HTTP/1.1 200"), // dev:pa:ss
    ];
    for (extra, want) in rows {
        let (_stream, head) = connect(proxy.addr, &target, extra).await;
        assert!(head.starts_with(want), "{extra:?} -> {head}");
        if want.ends_with("407") {
            assert!(head.contains("Proxy-Authenticate: Basic realm=\"vpce-proxy\""), "{head}");
        }
    }
}

/// `limits.max_connections`: the excess connection is refused at once with 503, a held connection
/// still completes a request, and a slot freed is usable again.
#[tokio::test]
async fn max_connections_refuses_excess_and_keeps_serving() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy =
        proxy(&upstream, |config| config.limits.max_connections = NonZeroUsize::new(2).unwrap()).await;
    let idle = TcpStream::connect(proxy.addr).await.unwrap();
    let (served, head) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let mut excess = TcpStream::connect(proxy.addr).await.unwrap();
    let (text, waited) = read_until_closed(&mut excess).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("max_connections"), "{text}");
    assert!(waited < Duration::from_secs(2), "refused, not queued: {waited:?}");

    let tls = tls(served, REGISTRY, &proxy.ca_pem(), &[b"http/1.1"]).await.unwrap();
    assert_eq!(send(tls, false, ping()).await.status, 200);

    drop(idle);
    let mut admitted = false;
    for _ in 0..50 {
        let (_s, head) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
        if head.starts_with("HTTP/1.1 200") {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a freed slot is reused");
}

/// `limits.max_connections_per_client`: one address over its cap is refused while another is served.
#[tokio::test]
async fn per_client_cap_refuses_that_client_only() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |config| config.limits.max_connections_per_client = NonZeroUsize::MIN).await;
    let _held = connect_from("127.0.0.1", proxy.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = connect_from("127.0.0.1", proxy.addr).await;
    let (text, _) = read_until_closed(&mut second).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("max_connections_per_client"), "{text}");

    let mut other = connect_from("127.0.0.2", proxy.addr).await;
    other.write_all(format!("CONNECT {REGISTRY}:443 HTTP/1.1\r\n\r\n").as_bytes()).await.unwrap();
    let head = read_head(&mut other).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let tls = tls(other, REGISTRY, &proxy.ca_pem(), &[b"http/1.1"]).await.unwrap();
    assert_eq!(send(tls, false, ping()).await.status, 200);
}

/// Slowloris: a CONNECT head, or an inner request head, trickled byte by byte is cut off after
/// `limits.header_read_timeout_secs`, while a normal client is served meanwhile. The inner cut comes at
/// the timeout after the tunnel's TLS handshake (virtual time), not later.
#[tokio::test(start_paused = true)]
async fn slow_headers_are_cut_off() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let limit = Duration::from_secs(1);
    let proxy = proxy(&upstream, |config| config.limits.header_read_timeout = limit).await;

    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    slow.set_nodelay(true).unwrap();
    let trickle = tokio::spawn(async move {
        for byte in b"CONNECT 123456789012.dkr.ecr.us-east-1.amazonaws.com:443 HTTP/1.1\r\nX-Slow: 1" {
            if slow.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        read_until_closed(&mut slow).await
    });

    let (stream, head) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    let mut inner = tls(stream, REGISTRY, &proxy.ca_pem(), &[b"http/1.1"]).await.unwrap();
    inner
        .write_all(
            format!("GET /v2/ HTTP/1.1\r\nHost: {REGISTRY}\r\nAuthorization: {REGISTRY_LOGIN}\r\nX-Slow: 1")
                .as_bytes(),
        )
        .await
        .unwrap();

    let req = Request::get("/v2/").header("host", REGISTRY).body(Full::default()).unwrap();
    assert_eq!(request(&proxy, REGISTRY, false, req).await.status, 200, "others are served meanwhile");

    let (_, inner_waited) = read_until_closed(&mut inner).await;
    let cut = started.elapsed();
    assert!(cut >= limit && cut < 2 * limit, "inner head cut off at {cut:?} (read {inner_waited:?})");
    let (text, _) = tokio::time::timeout(DEADLINE, trickle).await.unwrap().unwrap();
    assert!(text.starts_with("HTTP/1.1 408") || text.is_empty(), "{text}");
}

/// ARCHITECTURE.md §7: a leaf is minted once per host, even when many connections ask for it at once.
#[tokio::test]
async fn concurrent_first_use_mints_one_leaf() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let ca = proxy.ca_pem();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (addr, ca) = (proxy.addr, ca.clone());
        tasks.push(tokio::spawn(async move {
            let (stream, head) = connect(addr, &format!("{REGISTRY}:443"), "").await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            tls(stream, REGISTRY, &ca, &[b"h2", b"http/1.1"]).await.map(|_| ())
        }));
    }
    for task in tasks {
        tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap().expect("handshake with the minted leaf");
    }
    assert_eq!(proxy.state.certs.mints(), 1);
}

/// Graceful shutdown: no new connections, but a response in flight streams to its end.
#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let mut proxy = proxy(&upstream, |_| {}).await;
    let tls = tunnel_tls(&proxy, REGISTRY, &[b"http/1.1"]).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/stream?chunks=20&delay_ms=50")
        .header("host", REGISTRY)
        .header("authorization", REGISTRY_LOGIN)
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);

    proxy.stop.take().unwrap().send(()).unwrap();
    let body =
        tokio::time::timeout(DEADLINE, response.into_body().collect()).await.unwrap().unwrap().to_bytes();
    assert_eq!(body.len(), 20 * 1024, "the in-flight stream completes intact");
    tokio::time::timeout(DEADLINE, &mut proxy.done).await.unwrap().unwrap().unwrap();
    assert!(TcpStream::connect(proxy.addr).await.is_err(), "no longer accepting");
}

/// The drain is bounded: a transfer longer than `limits.drain_timeout_secs` is cut and serve returns, at
/// the drain timeout (virtual time) although the transfer would take 20 s more.
#[tokio::test(start_paused = true)]
async fn drain_timeout_bounds_shutdown() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let drain = Duration::from_secs(1);
    let mut proxy = proxy(&upstream, |config| config.limits.drain_timeout = drain).await;
    let (stream, _) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    let tls = tls(stream, REGISTRY, &proxy.ca_pem(), &[b"http/1.1"]).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/stream?chunks=400&delay_ms=50")
        .header("host", REGISTRY)
        .header("authorization", REGISTRY_LOGIN)
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let started = Instant::now();
    proxy.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(DEADLINE, &mut proxy.done).await.unwrap().unwrap().unwrap();
    let stopped = started.elapsed();
    assert!(stopped >= drain && stopped < 2 * drain, "{stopped:?}");
    let body = tokio::time::timeout(DEADLINE, response.into_body().collect()).await.unwrap();
    assert!(body.is_err(), "the cut transfer is reported as an error, not as a short success");
}

/// `limits.handshake_timeout_secs`: a tunnel whose client never starts TLS is closed, at the timeout
/// (virtual time) after the CONNECT.
#[tokio::test(start_paused = true)]
async fn silent_tls_client_is_cut_off_after_the_handshake_timeout() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let limit = Duration::from_secs(1);
    let proxy = proxy(&upstream, |config| config.limits.handshake_timeout = limit).await;
    let started = Instant::now();
    let (mut silent, head) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (text, waited) = read_until_closed(&mut silent).await;
    assert_eq!(text, "");
    let cut = started.elapsed();
    assert!(cut >= limit && cut < 2 * limit, "cut at {cut:?} (read {waited:?})");
}

/// `limits.idle_timeout_secs`: a kept-alive connection on which nothing moves is closed, one idle period
/// (virtual time) after the response.
#[tokio::test(start_paused = true)]
async fn idle_keep_alive_connection_is_closed() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let idle = Duration::from_secs(1);
    let proxy = proxy(&upstream, |config| config.limits.idle_timeout = idle).await;
    let (stream, _) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    let mut tls = tls(stream, REGISTRY, &proxy.ca_pem(), &[b"http/1.1"]).await.unwrap();
    tls.write_all(
        format!("GET /v2/ HTTP/1.1\r\nHost: {REGISTRY}\r\nAuthorization: {REGISTRY_LOGIN}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let (text, waited) = read_until_closed(&mut tls).await;
    assert!(text.starts_with("HTTP/1.1 200"), "served first: {text}");
    assert!(waited >= idle && waited < 2 * idle, "then closed when idle: {waited:?}");
}

/// `limits.max_header_bytes` inside the tunnel, at its bound and past it, each head sent in one write:
/// a head of exactly the bound (blank line included) is served, and one byte longer is `431`, never
/// forwarded. hyper's own buffer check lets a head through that completes in the read crossing the
/// bound, so the pipeline measures every head itself (the soak found it at the default 64 KiB).
#[tokio::test]
async fn an_inner_head_is_read_at_the_bound_and_refused_one_byte_past_it() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let bound = vpce_proxy::config::Limits::default().max_header_bytes;
    let proxy = proxy(&upstream, |_| {}).await;
    let rows = [(bound, "HTTP/1.1 200"), (bound + 1, "HTTP/1.1 431"), (bound + 4000, "HTTP/1.1 431")];
    for (len, status) in rows {
        let start =
            format!("GET /v2/ HTTP/1.1\r\nhost: {REGISTRY}\r\nauthorization: {REGISTRY_LOGIN}\r\nx-pad: ");
        let head = format!("{start}{}\r\n\r\n", "a".repeat(len - start.len() - 4));
        assert_eq!(head.len(), len);
        let mut tls = tunnel_tls(&proxy, REGISTRY, &[b"http/1.1"]).await;
        tls.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0; 12];
        tokio::time::timeout(DEADLINE, tls.read_exact(&mut answer)).await.unwrap().unwrap();
        assert_eq!(String::from_utf8_lossy(&answer), status, "a head of {len} bytes");
    }
    assert_eq!(
        upstream.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the head within the bound went upstream"
    );
}
