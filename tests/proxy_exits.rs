//! One row per way an inner request can end, through a real CONNECT + TLS connection to the in-process
//! proxy: the status and body shape the client sees, the audit line's decision and the metric counted.
//! The denial shapes are those of ARCHITECTURE.md, "Denials"; every request is counted exactly once and
//! a request answered with a denial is never audited or counted as `Allow`; a HEAD never gets a body.

mod proxy_support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use proxy_support::*;

/// What one row expects.
struct Row {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// A `Host` header other than the tunnel's, for the domain-fronting refusal.
    host: Option<&'static str>,
    status: u16,
    /// The registry error code in the JSON body (`None`: the upstream's own answer).
    code: Option<&'static str>,
    /// How the message in the body starts.
    message: &'static str,
    decision: &'static str,
    error_code: Option<&'static str>,
    /// The `requests_total` series counted: action and decision.
    metric: (&'static str, &'static str),
}

const ROWS: &[Row] = &[
    Row { name: "forwarded", method: "GET", path: "/v2/app/manifests/v1", host: None, status: 200, code: None,
          message: "", decision: "Allow", error_code: None, metric: ("ecr:BatchGetImage", "Allow") },
    Row { name: "refused by the classifier", method: "GET", path: "/refuse", host: None, status: 403,
          code: Some("DENIED"), message: "Request refused by the VPC endpoint: the path is not a registry API path",
          decision: "Refused", error_code: Some("RequestRefused"), metric: ("", "Refused") },
    Row { name: "refused by the classifier, HEAD", method: "HEAD", path: "/refuse", host: None, status: 403,
          code: None, message: "", decision: "Refused", error_code: Some("RequestRefused"), metric: ("", "Refused") },
    Row { name: "refused: Host is not the tunnel's", method: "GET", path: "/v2/",
          host: Some("999999999999.dkr.ecr.us-east-1.amazonaws.com"), status: 403, code: Some("DENIED"),
          message: "Request refused by the VPC endpoint: Host \"999999999999.dkr.ecr.us-east-1.amazonaws.com\" does not match",
          decision: "Refused", error_code: Some("RequestRefused"), metric: ("", "Refused") },
    Row { name: "implicit deny", method: "GET", path: "/deny/x", host: None, status: 403, code: Some("DENIED"),
          message: "User: anonymous is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:123456789012:repository/app because no VPC endpoint policy allows",
          decision: "ImplicitDeny", error_code: Some("AccessDenied"), metric: ("ecr:BatchGetImage", "ImplicitDeny") },
    Row { name: "implicit deny, HEAD", method: "HEAD", path: "/deny/x", host: None, status: 403, code: None,
          message: "", decision: "ImplicitDeny", error_code: Some("AccessDenied"), metric: ("ecr:BatchGetImage", "ImplicitDeny") },
    Row { name: "explicit deny", method: "GET", path: "/explicit", host: None, status: 403, code: Some("DENIED"),
          message: "User: anonymous is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:123456789012:repository/app with an explicit deny in a VPC endpoint policy",
          decision: "ExplicitDeny", error_code: Some("AccessDenied"), metric: ("ecr:BatchGetImage", "ExplicitDeny") },
];

/// The body's registry error, as docker reads it: `{"errors":[{"code","message"}]}`.
fn registry_error(body: &Bytes) -> (String, String) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    let error = &json["errors"][0];
    (error["code"].as_str().unwrap().to_string(), error["message"].as_str().unwrap().to_string())
}

/// The one audit line a proxy has written, waiting for it (it is written when the response body ends).
async fn only_audit_line(proxy: &Proxy) -> serde_json::Value {
    for _ in 0..200 {
        let lines = proxy.audit_lines();
        if !lines.is_empty() {
            assert_eq!(lines.len(), 1, "one line per request: {lines:?}");
            return lines[0].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no audit line written");
}

/// The `requests_total` samples, as `(service, action, decision) -> count` lines.
fn request_counts(proxy: &Proxy) -> Vec<String> {
    let text = proxy.state.metrics.render();
    text.lines().filter(|l| l.starts_with("vpce_proxy_requests_total{")).map(str::to_string).collect()
}

#[tokio::test]
async fn every_exit_kind_answers_audits_and_counts_once() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    for row in ROWS {
        let proxy = proxy(&upstream, |_| {}).await;
        let req = Request::builder()
            .method(row.method)
            .uri(row.path)
            .header("host", row.host.unwrap_or(REGISTRY))
            .body(Full::<Bytes>::default())
            .unwrap();
        let got = request(&proxy, REGISTRY, false, req).await;
        assert_eq!(got.status, row.status, "{}", row.name);
        match row.code {
            Some(code) => {
                let (got_code, message) = registry_error(&got.body);
                assert_eq!(got_code, code, "{}", row.name);
                assert!(message.starts_with(row.message), "{}: {message}", row.name);
                assert_eq!(got.headers["docker-distribution-api-version"], "registry/2.0", "{}", row.name);
            }
            None if row.method == "HEAD" => assert!(got.body.is_empty(), "{}: HEAD got a body", row.name),
            None => assert_eq!(got.json()["method"], row.method, "{}: upstream's own answer", row.name),
        }
        let line = only_audit_line(&proxy).await;
        assert_eq!(line["decision"], row.decision, "{}", row.name);
        assert_eq!(line["errorCode"].as_str(), row.error_code, "{}", row.name);
        let (action, decision) = row.metric;
        let want = format!(
            "vpce_proxy_requests_total{{service=\"ecr.dkr\",action=\"{action}\",decision=\"{decision}\"}} 1"
        );
        assert_eq!(request_counts(&proxy), [want], "{}: counted once, as {decision}", row.name);
    }
}

/// An allowed request upstream cannot answer: a 502 in the registry's shape (no body for HEAD), audited
/// as the `Allow` it was with `UpstreamUnavailable`, counted once as `Allow` plus one upstream error.
#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway_on_an_allowed_request() {
    for method in ["GET", "HEAD"] {
        let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
        let proxy = proxy(&upstream, |_| {}).await;
        drop(upstream);
        let req = Request::builder()
            .method(method)
            .uri("/v2/")
            .header("host", REGISTRY)
            .body(Full::default())
            .unwrap();
        let got = request(&proxy, REGISTRY, false, req).await;
        assert_eq!(got.status, 502, "{method}");
        if method == "HEAD" {
            assert!(got.body.is_empty(), "HEAD got a body");
        } else {
            let (code, message) = registry_error(&got.body);
            assert_eq!(code, "UNAVAILABLE");
            assert!(message.starts_with("vpce-proxy: cannot reach upstream for "), "{message}");
        }
        let line = only_audit_line(&proxy).await;
        assert_eq!(
            (line["decision"].as_str(), line["errorCode"].as_str()),
            (Some("Allow"), Some("UpstreamUnavailable"))
        );
        let want = "vpce_proxy_requests_total{service=\"ecr.dkr\",action=\"ecr:BatchGetImage\",decision=\"Allow\"} 1";
        assert_eq!(request_counts(&proxy), [want]);
        assert!(proxy.state.metrics.render().contains("vpce_proxy_upstream_errors_total 1\n"), "{method}");
    }
}

/// ARCHITECTURE.md §4 (Amazon ECR User Guide, "Private registry authentication"): a registry request
/// without credentials gets ECR's 401 Basic challenge from the proxy itself, before any policy; it never
/// reaches upstream, is audited `Challenged` and counted once as such. A HEAD gets no body.
#[tokio::test]
async fn a_registry_request_without_credentials_is_challenged_and_never_forwarded() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    for method in ["HEAD", "GET"] {
        let proxy = proxy(&upstream, |_| {}).await;
        let req = Request::builder()
            .method(method)
            .uri("/v2/app/manifests/v1")
            .header("host", REGISTRY)
            .body(Full::<Bytes>::default())
            .unwrap();
        let got = request_without_credentials(&proxy, REGISTRY, false, req).await;
        assert_eq!(got.status, 401, "{method}");
        let realm = format!("Basic realm=\"https://{REGISTRY}/\",service=\"ecr.amazonaws.com\"");
        assert_eq!(got.headers["www-authenticate"], realm.as_str(), "{method}");
        let body: &[u8] = if method == "HEAD" { b"" } else { b"Not Authorized\n" };
        assert_eq!(got.body, body, "{method}");
        let line = only_audit_line(&proxy).await;
        assert_eq!(
            (line["decision"].as_str(), line["errorCode"].as_str()),
            (Some("Challenged"), Some("AuthenticationRequired"))
        );
        assert!(line["upstreamStatus"].is_null(), "{method}: never forwarded");
        let want = "vpce_proxy_requests_total{service=\"ecr.dkr\",action=\"\",decision=\"Challenged\"} 1";
        assert_eq!(request_counts(&proxy), [want], "{method}");
    }
    assert_eq!(upstream.connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing reached upstream");
}

/// ARCHITECTURE.md §4, "Method-override headers": a request whose `X-HTTP-Method-Override`,
/// `X-HTTP-Method` or `X-Method-Override` (any case) names another method is refused in the registry's
/// shape and never reaches upstream; one naming its own method is forwarded with the header intact.
#[tokio::test]
async fn a_method_override_is_refused_unless_it_names_the_requests_own_method() {
    let rows = [
        ("X-HTTP-Method-Override", "DELETE", 403),
        ("x-http-method", "DELETE", 403),
        ("X-Method-Override", "PUT", 403),
        ("X-HTTP-METHOD-OVERRIDE", "GET", 200),
    ];
    for (name, value, status) in rows {
        let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
        let proxy = proxy(&upstream, |_| {}).await;
        let req = Request::get("/v2/app/manifests/v1")
            .header("host", REGISTRY)
            .header(name, value)
            .body(Full::<Bytes>::default())
            .unwrap();
        let got = request(&proxy, REGISTRY, false, req).await;
        assert_eq!(got.status, status, "{name}: {value}");
        let line = only_audit_line(&proxy).await;
        if status == 403 {
            let (code, message) = registry_error(&got.body);
            assert_eq!(code, "DENIED", "{name}");
            assert!(message.contains("would make this GET act as another method"), "{name}: {message}");
            assert_eq!(line["decision"], "Refused", "{name}");
            let reached = upstream.connections.load(std::sync::atomic::Ordering::SeqCst);
            assert_eq!(reached, 0, "{name}: never forwarded");
        } else {
            let echoed = got.json();
            let headers = echoed["headers"].as_array().unwrap();
            let sent = headers.iter().any(|h| h[0] == name.to_ascii_lowercase() && h[1] == value);
            assert!(sent, "{name}: forwarded unchanged: {headers:?}");
            assert_eq!(line["decision"], "Allow", "{name}");
        }
    }
}

/// A client that goes away halfway through sending an allowed upload is not an upstream failure: the
/// audit line says `ClientAborted` with the client's error, and `upstream_errors_total` stays 0.
#[tokio::test]
async fn a_client_that_aborts_its_upload_is_not_blamed_on_upstream() {
    use tokio::io::AsyncWriteExt;
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy(&upstream, |_| {}).await;
    let mut tls = tunnel_tls(&proxy, REGISTRY, &[b"http/1.1"]).await;
    let request = format!(
        "POST /v2/app/blobs/uploads/ HTTP/1.1\r\nhost: {REGISTRY}\r\nauthorization: {REGISTRY_LOGIN}\r\n\
         content-length: 1048576\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    tls.write_all(&[b'x'; 64 * 1024]).await.unwrap();
    tls.flush().await.unwrap();
    for _ in 0..200 {
        if upstream.received.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tls.get_ref().0.set_zero_linger().unwrap();
    drop(tls);
    let line = only_audit_line(&proxy).await;
    assert_eq!(
        (line["decision"].as_str(), line["errorCode"].as_str()),
        (Some("Allow"), Some("ClientAborted")),
        "{line}"
    );
    let message = line["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("the client's request body failed: "), "{message}");
    assert!(proxy.state.metrics.render().contains("vpce_proxy_upstream_errors_total 0\n"));
}
