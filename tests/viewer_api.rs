//! The decision viewer's data endpoints on story (a) (ARCHITECTURE.md §11): the records are the audit
//! lines, filters select what they name, paging goes back, the stream delivers new records live, a
//! record's detail gives AWS's message, the deciding statement and the condition that did not hold, and
//! `[admin] token` guards every path with the bearer token or the session cookie `/login` sets.

mod proxy_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use proxy_support::story::{ecr_api, org_only, API, SIGV4};
use proxy_support::{proxy_live, request, upstream, Proxy};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use vpce_proxy::admin::{serve_admin, Admin, Health, Metrics, PolicyHashes};
use vpce_proxy::config::{AdminConfig, PrincipalConfig};

const TOKEN: &str = "lab-admin-token-0123456789";
const OUTSIDER: &str = "arn:aws:iam::123456789123:user/outsider";

/// Story (a)'s proxy, plus a caller of another organization, and its admin listener with a token.
async fn story() -> (Proxy, SocketAddr, proxy_support::Upstream) {
    let upstream = upstream(&[API]).await;
    let proxy = proxy_live(&upstream, |config| {
        org_only(config);
        config.principals.push(PrincipalConfig {
            arn: OUTSIDER.into(),
            org_id: Some("o-0ther0rg00".into()),
            access_key_ids: vec!["AKIAOUTSIDEREXAMPLE1".into()],
            ..PrincipalConfig::default()
        });
    })
    .await;
    let config: AdminConfig = toml::from_str(&format!("token = \"{TOKEN}\"")).unwrap();
    let health = Arc::new(Health::new(PolicyHashes::new(), Default::default()));
    let admin = Admin::new(health, Arc::new(Metrics::new()))
        .with_viewer(Arc::clone(&proxy.recent), Arc::clone(&proxy.live))
        .with_token(config.token);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_admin(listener, Arc::new(admin), std::future::pending::<()>()));
    (proxy, addr, upstream)
}

/// The three story requests: allowed, explicitly denied, implicitly denied (another organization).
async fn three_decisions(proxy: &Proxy) -> Vec<Value> {
    request(proxy, API, false, ecr_api("DescribeImages", r#"{"repositoryName":"app"}"#)).await;
    request(proxy, API, false, ecr_api("DeleteRepository", r#"{"repositoryName":"base-image3"}"#)).await;
    let mut outsider = ecr_api("DescribeImages", r#"{"repositoryName":"app"}"#);
    let signed = SIGV4.replace("AKIAIOSFODNN7EXAMPLE", "AKIAOUTSIDEREXAMPLE1");
    outsider.headers_mut().insert("authorization", signed.parse().unwrap());
    request(proxy, API, false, outsider).await;
    proxy.audit_lines_at_least(3).await
}

/// One admin request over HTTP/1.1; the response's body is left to the caller (the stream never ends).
async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> http::Response<Incoming> {
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    sender.send_request(req).await.unwrap()
}

async fn get(addr: SocketAddr, path: &str, auth: Option<(&str, &str)>) -> (StatusCode, HeaderMap, String) {
    let mut builder = Request::get(path).header("host", "127.0.0.1");
    if let Some((name, value)) = auth {
        builder = builder.header(name, value);
    }
    let response = send(addr, builder.body(Full::new(Bytes::new())).unwrap()).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
}

async fn api(addr: SocketAddr, path: &str) -> Value {
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = get(addr, path, Some(("authorization", &bearer))).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn ids(records: &Value) -> Vec<&str> {
    records.as_array().unwrap().iter().map(|r| r["requestID"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn records_are_the_audit_lines_newest_first_and_each_filter_selects_what_it_names() {
    let (proxy, admin, _upstream) = story().await;
    let lines = three_decisions(&proxy).await;
    let all = api(admin, "/api/decisions").await;
    let newest_first: Vec<Value> = lines.iter().rev().cloned().collect();
    assert_eq!(all, Value::Array(newest_first), "the records are exactly the audit lines");
    let id = |i: usize| lines[i]["requestID"].as_str().unwrap();
    let rows = [
        ("/api/decisions?decision=denied", vec![id(2), id(1)]),
        ("/api/decisions?decision=ExplicitDeny&service=ecr.api", vec![id(1)]),
        ("/api/decisions?decision=Allow", vec![id(0)]),
        ("/api/decisions?service=s3", vec![]),
        (&format!("/api/decisions?principal={}", OUTSIDER.replace(':', "%3A")), vec![id(2)]),
        ("/api/decisions?q=deleterepository", vec![id(1)]),
        ("/api/decisions?limit=1", vec![id(2)]),
        (&format!("/api/decisions?before={}", id(2)), vec![id(1), id(0)]),
    ];
    for (path, expected) in rows {
        assert_eq!(ids(&api(admin, path).await), expected, "{path}");
    }
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) =
        get(admin, "/api/decisions?decision=allow", Some(("authorization", &bearer))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a misspelt filter is refused, not ignored: {body}");
}

#[tokio::test]
async fn a_denied_record_explains_the_deciding_statement_and_the_condition_that_did_not_hold() {
    let (proxy, admin, _upstream) = story().await;
    let lines = three_decisions(&proxy).await;

    let explicit = api(admin, &format!("/api/decisions/{}", lines[1]["requestID"].as_str().unwrap())).await;
    assert_eq!(explicit["record"], lines[1]);
    assert_eq!(
        explicit["message"],
        "User: arn:aws:sts::123456789123:assumed-role/ci/session1 is not authorized to perform: \
         ecr:DeleteRepository on resource: arn:aws:ecr:us-east-1:123456789123:repository/base-image3 with an \
         explicit deny in a VPC endpoint policy"
    );
    let endpoint = &explicit["policies"][0];
    assert_eq!(endpoint["layer"], "vpc_endpoint");
    assert!(endpoint["text"].as_str().unwrap().contains("\"NobodyDeletesBaseImage3\""));
    let deciding: Vec<&Value> =
        endpoint["statements"].as_array().unwrap().iter().filter(|s| s["deciding"] == true).collect();
    assert_eq!(deciding.len(), 1);
    assert_eq!(
        (&deciding[0]["sid"], &deciding[0]["lines"]),
        (&Value::from("NobodyDeletesBaseImage3"), &Value::from(vec![28, 34]))
    );
    let reasons = explicit["reasons"].to_string();
    assert!(reasons.contains("statement `NobodyDeletesBaseImage3` denies ecr:DeleteRepository"), "{reasons}");
    assert_eq!(explicit["current"], true);

    let implicit = api(admin, &format!("/api/decisions/{}", lines[2]["requestID"].as_str().unwrap())).await;
    assert!(implicit["message"]
        .as_str()
        .unwrap()
        .ends_with("because no VPC endpoint policy allows the ecr:DescribeImages action"));
    let reasons = implicit["reasons"].to_string();
    assert!(
        reasons.contains(
            "statement `OrgPrincipalsUseOwnAccountRepositories` allows ecr:DescribeImages, but its condition \
             aws:PrincipalOrgID StringEquals o-21ej9awi6a did not hold: the caller's value is o-0ther0rg00"
        ),
        "{reasons}"
    );

    proxy.recent.policies_changed();
    let after_reload =
        api(admin, &format!("/api/decisions/{}", lines[2]["requestID"].as_str().unwrap())).await;
    assert_eq!(after_reload["current"], false, "explained under policies that replaced the deciding ones");
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, _) = get(admin, "/api/decisions/no-such-request", Some(("authorization", &bearer))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_stream_delivers_each_new_record_as_one_event() {
    let (proxy, admin, _upstream) = story().await;
    let req = Request::get("/api/decisions/stream?decision=denied")
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = send(admin, req).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let lines = three_decisions(&proxy).await;
    let mut text = String::new();
    while text.matches("\n\n").count() < 2 {
        let frame =
            tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
        text.push_str(std::str::from_utf8(frame.data_ref().unwrap()).unwrap());
    }
    let events: Vec<&str> = text.split_terminator("\n\n").collect();
    for (event, line) in events.iter().zip([&lines[1], &lines[2]]) {
        let id = line["requestID"].as_str().unwrap();
        let data = event.strip_prefix(&format!("event: decision\nid: {id}\ndata: ")).expect(event);
        assert_eq!(&serde_json::from_str::<Value>(data).unwrap(), line, "only denials, each its audit line");
    }
}

#[tokio::test]
async fn every_path_needs_the_token_or_the_cookie_login_sets() {
    let (_proxy, admin, _upstream) = story().await;
    for path in ["/", "/viewer.js", "/api/decisions", "/api/decisions/stream", "/healthz", "/metrics"] {
        let (status, headers, _) = get(admin, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{path}");
        let wrong = get(admin, path, Some(("authorization", "Bearer lab-admin-token-012345678"))).await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (_, headers, page) = get(admin, "/", None).await;
    assert!(page.contains("action=\"/login\""), "the sign-in form: {page}");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));

    let form = Request::post("/login")
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!("token={TOKEN}"))))
        .unwrap();
    let signed_in = send(admin, form).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (status, headers, page) = get(admin, "/", Some(("cookie", &cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/viewer.js"), "the viewer itself");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(get(admin, "/healthz", Some(("cookie", &cookie))).await.0, StatusCode::OK);
}
