//! The network edge end to end over real sockets on 127.0.0.1: CONNECT, TLS with the proxy's CA,
//! forwarding to a TLS upstream stand-in, denials, refusals and upstream failures. Decisions come from a
//! scripted authorizer (PUT and `/deny...` denied) so these tests prove the edge, not the policy engine.

mod proxy_support;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use proxy_support::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

/// Transparency (ARCHITECTURE.md §1 step 3: SigV4 signs Host, headers, query and body, so nothing may change):
/// method, path with its percent-encoding and query, every header including Host, and the body arrive
/// as sent, over HTTP/1.1 and over h2.
#[tokio::test]
async fn allowed_request_reaches_upstream_unchanged() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let path = "/v2/team%2Fapp/blobs/uploads/?digest=sha256%3Aabc&n=1&x=a%20b";
    for h2 in [false, true] {
        // h2 needs :authority from an absolute URI; HTTP/1.1 clients send origin-form plus Host.
        let uri = if h2 { format!("https://{REGISTRY}{path}") } else { path.to_string() };
        let mut builder = Request::post(uri)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/ecr/aws4_request",
            )
            .header("x-amz-date", "20250101T000000Z")
            .header("x-amz-content-sha256", hex::encode(Sha256::digest(&body)))
            .header("x-custom", "Mixed Case  value")
            .header("x-multi", "one")
            .header("x-multi", "two")
            .header("content-type", "application/octet-stream");
        if !h2 {
            builder = builder.header("host", REGISTRY);
        }
        let response =
            request(&proxy, REGISTRY, h2, builder.body(Full::new(Bytes::from(body.clone()))).unwrap()).await;
        assert_eq!(response.status, 200, "h2={h2} {:?}", response.body);
        let echo = response.json();
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["path"], path);
        assert_eq!(echo["body_len"], body.len());
        assert_eq!(echo["body_sha256"], hex::encode(Sha256::digest(&body)));
        let host = header(&echo, "host");
        let authority = echo["authority"].as_str();
        assert!(host == [REGISTRY] || authority == Some(REGISTRY), "host {host:?} authority {authority:?}");
        assert_eq!(
            header(&echo, "authorization"),
            ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/ecr/aws4_request"]
        );
        assert_eq!(header(&echo, "x-amz-date"), ["20250101T000000Z"]);
        assert_eq!(header(&echo, "x-custom"), ["Mixed Case  value"]);
        assert_eq!(header(&echo, "x-multi"), ["one", "two"]);
        assert_eq!(header(&echo, "content-type"), ["application/octet-stream"]);
    }
}

/// Upstream speaks HTTP/1.1 by default (cheaper per request and per GB) and h2 when
/// `[upstream_tls] http2 = true`; either way the request arrives whole and unchanged.
#[tokio::test]
async fn upstream_protocol_follows_the_http2_setting() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    for (http2, expected) in [(false, "HTTP/1.1"), (true, "HTTP/2.0")] {
        let proxy = proxy(&upstream, |c| c.upstream_tls.http2 = http2).await;
        let req =
            Request::get("/v2/app/manifests/v1").header("host", REGISTRY).body(Full::default()).unwrap();
        let response = request(&proxy, REGISTRY, false, req).await;
        assert_eq!(response.status, 200, "http2={http2} {:?}", response.body);
        let echo = response.json();
        assert_eq!(echo["version"], expected, "http2={http2}");
        assert_eq!(echo["path"], "/v2/app/manifests/v1");
    }
}

/// ARCHITECTURE.md §7: with `[upstream_tls] preconnect` (the default) a fresh proxy opens one connection
/// to each routed host it expects first, and the first request to that host rides it instead of waiting
/// for a handshake; the next new connection is dialled as usual.
#[tokio::test]
async fn upstream_spare_serves_the_first_request() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com", "api.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |c| {
        c.upstream_tls.preconnect = true;
        c.endpoint.account = Some("123456789012".into());
    })
    .await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while proxy.state.spare_upstream_connections() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no spares made");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The registry name (route `*.dkr.ecr...` for the endpoint's account) and the API name.
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
    let get = || Request::get("/v2/app/manifests/v1").header("host", REGISTRY).body(Full::default()).unwrap();
    let response = request(&proxy, REGISTRY, false, get()).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["path"], "/v2/app/manifests/v1");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2, "the first request used the spare");
    assert_eq!(proxy.state.spare_upstream_connections(), 1, "the API host's spare is still waiting");
}

/// ARCHITECTURE.md §4: deny before reading the body; `Expect: 100-continue` is answered with the denial, so
/// a refused push sends no layer bytes upstream (the upstream never even sees a connection).
#[tokio::test]
async fn denied_put_with_expect_continue_gets_403_and_upstream_sees_nothing() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let mut tls = tunnel_tls(&proxy, REGISTRY, &[b"http/1.1"]).await;
    let head = format!(
        "PUT /v2/app/blobs/uploads/u1?digest=sha256:00 HTTP/1.1\r\nHost: {REGISTRY}\r\nAuthorization: {REGISTRY_LOGIN}\r\n\
         Content-Length: 1073741824\r\n\
         Expect: 100-continue\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, tls.read_to_end(&mut response)).await.expect("answer in time");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.to_ascii_lowercase().contains("docker-distribution-api-version: registry/2.0"), "{text}");
    assert!(text.contains(r#"{"errors":[{"code":"DENIED","message":"User: anonymous is not authorized to perform: ecr:PutImage"#), "{text}");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0);
}

/// No domain fronting: the TLS server name must be the CONNECT target.
#[tokio::test]
async fn sni_other_than_connect_target_is_refused() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let (stream, head) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let other = "999999999999.dkr.ecr.us-east-1.amazonaws.com";
    assert!(tls(stream, other, &proxy.ca_pem(), &[b"http/1.1"]).await.is_err());
    assert_eq!(proxy.state.certs.mints(), 0, "no leaf is minted for a refused name");
}

/// No domain fronting: the inner Host must be the CONNECT target too; refused in the registry's shape.
#[tokio::test]
async fn host_header_other_than_connect_target_is_refused() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let other = "999999999999.dkr.ecr.us-east-1.amazonaws.com";
    let req = Request::get("/v2/").header("host", other).body(Full::default()).unwrap();
    let response = request(&proxy, REGISTRY, false, req).await;
    assert_eq!(response.status, 403);
    let message = response.json()["errors"][0]["message"].as_str().unwrap().to_string();
    assert!(message.contains("does not match the tunnel's host"), "{message}");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0);
}

/// CONNECT-level refusals: other ports, non-endpoint hosts, methods other than CONNECT.
#[tokio::test]
async fn connect_refusals() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let rows = [
        (format!("CONNECT {REGISTRY}:22 HTTP/1.1\r\n\r\n"), "HTTP/1.1 403", "port 22 is not allowed"),
        (
            "CONNECT example.com:443 HTTP/1.0\r\n\r\n".to_string(),
            "HTTP/1.1 403",
            "not an ECR or S3 endpoint host",
        ),
        (
            "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n".to_string(),
            "HTTP/1.1 405",
            "only accepts CONNECT",
        ),
        ("CONNECT nonsense HTTP/1.1\r\n\r\n".to_string(), "HTTP/1.1 400", "not host:port"),
    ];
    for (request, status, message) in rows {
        let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(DEADLINE, stream.read_to_string(&mut response)).await.unwrap().unwrap();
        assert!(response.starts_with(status), "{request:?} -> {response}");
        assert!(response.contains(message), "{request:?} -> {response}");
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0);
}

/// `endpoint.tunnel_unknown_hosts`: other hosts are tunnelled untouched (the client's TLS reaches the
/// real server, whose certificate it verifies, not the proxy's).
#[tokio::test]
async fn unknown_host_is_tunnelled_when_configured() {
    let upstream = upstream(&["example.test"]).await;
    let proxy = proxy(&upstream, |config| {
        config.endpoint.tunnel_unknown_hosts = true;
        config.upstreams.push(vpce_proxy::config::UpstreamRoute {
            host: "example.test".into(),
            address: upstream.addr.to_string(),
        });
    })
    .await;
    let (stream, head) = connect(proxy.addr, "example.test:443", "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let tls = tls(stream, "example.test", &upstream.ca_pem, &[b"http/1.1"]).await.unwrap();
    let req = Request::get("/deny/anything").header("host", "example.test").body(Full::default()).unwrap();
    let response = send(tls, false, req).await;
    assert_eq!(response.status, 200, "not authorized by the proxy: it cannot see inside");
    assert_eq!(response.json()["path"], "/deny/anything");
    assert_eq!(proxy.state.certs.mints(), 0);
}

/// Upstream unreachable -> 502 in the service's shape, naming the host.
#[tokio::test]
async fn dead_upstream_is_a_502_with_a_clear_message() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let proxy = proxy(&upstream, |config| {
        config.upstreams[0].address = dead_addr.to_string();
    })
    .await;
    let req = Request::get(format!("https://{REGISTRY}/v2/"))
        .header("host", REGISTRY)
        .body(Full::default())
        .unwrap();
    let response = request(&proxy, REGISTRY, false, req).await;
    assert_eq!(response.status, 502);
    let json = response.json();
    assert_eq!(json["errors"][0]["code"], "UNAVAILABLE");
    let message = json["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("cannot reach upstream for {REGISTRY}:443")), "{message}");
}

/// Classifier refusals use the service's denial shape and say what was wrong.
#[tokio::test]
async fn classifier_refusal_names_the_reason() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let req = Request::get(format!("https://{REGISTRY}/refuse"))
        .header("host", REGISTRY)
        .body(Full::default())
        .unwrap();
    let response = request(&proxy, REGISTRY, true, req).await;
    assert_eq!(response.status, 403);
    let json = response.json();
    assert_eq!(json["errors"][0]["code"], "DENIED");
    assert!(json["errors"][0]["message"].as_str().unwrap().contains("not a registry API path"), "{json}");
}

/// ECR API requests are decided on a bounded body prefix that is then replayed in full upstream.
#[tokio::test]
async fn body_prefix_decides_and_is_replayed() {
    let upstream = upstream(&["api.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let host = "api.ecr.us-east-1.amazonaws.com";
    let body = format!("{{\"repositoryName\":\"app\",\"pad\":\"{}\"}}", "p".repeat(100_000));
    let target = "AmazonEC2ContainerRegistry_V20150921.DescribeImages";
    let req = Request::post(format!("https://{host}/"))
        .header("host", host)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let response = request(&proxy, host, false, req).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["body_sha256"], hex::encode(Sha256::digest(body.as_bytes())));

    let req = Request::post(format!("https://{host}/"))
        .header("host", host)
        .header("x-amz-target", target)
        .body(Full::new(Bytes::from_static(b"deny this")))
        .unwrap();
    let response = request(&proxy, host, false, req).await;
    assert_eq!(response.status, 400, "ecr.api denials are 400 AccessDeniedException");
    assert_eq!(response.headers["x-amzn-errortype"], "AccessDeniedException");
    assert_eq!(response.json()["__type"], "AccessDeniedException");
}

/// The SNI listener (private-DNS mode): clients speak TLS directly; the server name picks the endpoint,
/// and a name that is not an endpoint host, or no name at all, is refused before any leaf is minted.
#[tokio::test]
async fn sni_listener_serves_endpoint_names_only() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sni_addr = listener.local_addr().unwrap();
    let server = tokio::spawn(vpce_proxy::proxy::serve_sni(
        listener,
        std::sync::Arc::clone(&proxy.state),
        std::future::pending(),
    ));

    let stream = tokio::net::TcpStream::connect(sni_addr).await.unwrap();
    let direct = tls(stream, REGISTRY, &proxy.ca_pem(), &[b"h2"]).await.unwrap();
    let req = Request::get(format!("https://{REGISTRY}/v2/")).body(Full::default()).unwrap();
    let response = send(direct, true, req).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["path"], "/v2/");

    for name in ["example.com", "127.0.0.1"] {
        let stream = tokio::net::TcpStream::connect(sni_addr).await.unwrap();
        assert!(tls(stream, name, &proxy.ca_pem(), &[b"http/1.1"]).await.is_err(), "{name}");
    }
    assert_eq!(proxy.state.certs.mints(), 1, "only the endpoint name got a leaf");
    server.abort();
}

/// Streaming with backpressure, not buffering: the upstream receives the first chunk of an upload
/// while the client still holds the rest back (a buffering proxy would wait for the whole body and this
/// test would time out), and the whole body arrives intact.
#[tokio::test]
async fn request_body_is_streamed_not_buffered() {
    use hyper_util::rt::TokioIo;
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let (stream, _) = connect(proxy.addr, &format!("{REGISTRY}:443"), "").await;
    let tls = tls(stream, REGISTRY, &proxy.ca_pem(), &[b"http/1.1"]).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 128; // 8 MiB
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let req = Request::post("/v2/app/blobs/uploads/")
        .header("host", REGISTRY)
        .header("authorization", REGISTRY_LOGIN)
        .header("content-length", CHUNK * CHUNKS)
        .body(ChannelBody(rx))
        .unwrap();
    let response = tokio::spawn(async move { sender.send_request(req).await });
    let chunk = |i: usize| Bytes::from(vec![(i % 251) as u8; CHUNK]);
    tx.send(chunk(0)).await.unwrap();
    let started = std::time::Instant::now();
    while upstream.received.load(Ordering::SeqCst) < CHUNK as u64 {
        assert!(started.elapsed() < DEADLINE, "the first chunk never reached upstream: buffered?");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut hasher = Sha256::new();
    hasher.update(chunk(0));
    for i in 1..CHUNKS {
        hasher.update(chunk(i));
        tx.send(chunk(i)).await.unwrap();
    }
    drop(tx);
    let response = tokio::time::timeout(DEADLINE, response).await.unwrap().unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["body_len"], CHUNK * CHUNKS);
    assert_eq!(echo["body_sha256"], hex::encode(hasher.finalize()));
}
