//! The edge with the real authorizer and an org-only endpoint policy (tests/e2e/policies/org-only-ecr-us-east-1.json,
//! requests shaped as the aws CLI and docker send them (tests/requests/*.json) are forwarded or answered
//! with the denial the service would send (ARCHITECTURE.md §4), and a denied request never reaches upstream.

mod proxy_support;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use proxy_support::story::{ecr_api, org_only, API, CI_ROLE};
use proxy_support::*;

const ACCOUNT_REGISTRY: &str = "123456789123.dkr.ecr.us-east-1.amazonaws.com";
const FOREIGN_REGISTRY: &str = "999999999999.dkr.ecr.us-east-1.amazonaws.com";
/// `AWS:statictoken`, the registry Basic credential docker sends after `docker login`.
const BASIC: &str = "Basic QVdTOnN0YXRpY3Rva2Vu";

fn registry(method: &str, host: &str, path: &str, auth: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path).header("host", host);
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    builder.body(Full::default()).unwrap()
}

/// Seed scenario (a): DeleteRepository on base-image3 is explicitly denied with the ECR API's 400
/// AccessDeniedException, while DescribeImages by the same org principal is forwarded unchanged
/// (IAM User Guide, "Policy evaluation logic"; ECR User Guide, "Interface VPC endpoints").
#[tokio::test]
async fn ecr_api_explicit_deny_and_allow() {
    let upstream = upstream(&[API]).await;
    let proxy = proxy_live(&upstream, org_only).await;

    let denied =
        request(&proxy, API, false, ecr_api("DeleteRepository", r#"{"repositoryName":"base-image3"}"#)).await;
    assert_eq!(denied.status, 400);
    assert_eq!(denied.headers["x-amzn-errortype"], "AccessDeniedException");
    assert!(denied.headers.contains_key("x-amzn-requestid"));
    let json = denied.json();
    assert_eq!(json["__type"], "AccessDeniedException");
    assert_eq!(
        json["message"],
        format!(
            "User: {CI_ROLE} is not authorized to perform: ecr:DeleteRepository on resource: \
             arn:aws:ecr:us-east-1:123456789123:repository/base-image3 with an explicit deny in a VPC endpoint policy"
        )
    );
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0, "a denied request never reaches upstream");

    let body = r#"{"repositoryName":"team/app","registryId":"123456789123"}"#;
    let allowed = request(&proxy, API, true, ecr_api("DescribeImages", body)).await;
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);
    assert_eq!(allowed.json()["body_len"], body.len());

    // One audit line per request, written where the outcome and byte counts are known; no secrets.
    let lines = proxy.audit_lines_at_least(2).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["action"], "ecr:DeleteRepository");
    assert_eq!(lines[0]["decision"], "ExplicitDeny");
    assert_eq!(lines[0]["statementSid"], "NobodyDeletesBaseImage3");
    assert_eq!(lines[0]["upstreamStatus"], serde_json::Value::Null);
    assert_eq!(lines[0]["userIdentity"]["arn"], CI_ROLE);
    assert_eq!(lines[1]["action"], "ecr:DescribeImages");
    assert_eq!(lines[1]["decision"], "Allow");
    assert_eq!(lines[1]["upstreamStatus"], 200);
    assert_eq!(lines[1]["bytesIn"], body.len());
    assert_eq!(lines[1]["bytesOut"], allowed.body.len());
    let text = serde_json::to_string(&lines).unwrap();
    // The signature, the Authorization scheme and the access key id appear nowhere, not even in the
    // recorded condition context (`authorization.context`).
    for secret in ["feedfacecafebeef0123", "AWS4-HMAC", "Signature", "AKIAIOSFODNN7EXAMPLE"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(lines[1]["authorization"]["context"]["aws:principalorgid"].is_string(), "{text}");
}

/// Registry requests: the own-account pull by an org principal is forwarded; a push to a foreign
/// account's registry and an anonymous pull are refused with the registry's 403 DENIED
/// (distribution spec error codes; docker prints `denied: User: ...`).
#[tokio::test]
async fn registry_decisions_through_the_tunnel() {
    let upstream = upstream(&["*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy_live(&upstream, org_only).await;

    let pull = registry("GET", ACCOUNT_REGISTRY, "/v2/team/app/manifests/latest", Some(BASIC));
    let response = request(&proxy, ACCOUNT_REGISTRY, false, pull).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["path"], "/v2/team/app/manifests/latest");
    let forwarded = upstream.connections.load(Ordering::SeqCst);

    let rows = [
        ("PUT", FOREIGN_REGISTRY, "/v2/app/manifests/v1", Some(BASIC), CI_ROLE, "ecr:PutImage"),
        ("GET", ACCOUNT_REGISTRY, "/v2/team/app/manifests/latest", None, "anonymous", "ecr:BatchGetImage"),
    ];
    for (method, host, path, auth, who, action) in rows {
        let response = request(&proxy, host, false, registry(method, host, path, auth)).await;
        assert_eq!(response.status, 403, "{method} {host}{path}");
        assert_eq!(response.headers["docker-distribution-api-version"], "registry/2.0");
        let json = response.json();
        assert_eq!(json["errors"][0]["code"], "DENIED");
        let message = json["errors"][0]["message"].as_str().unwrap();
        let expected = format!("User: {who} is not authorized to perform: {action} on resource: ");
        assert!(message.starts_with(&expected), "{message}");
        assert!(
            message.ends_with(&format!("because no VPC endpoint policy allows the {action} action")),
            "{message}"
        );
    }
    assert_eq!(
        upstream.connections.load(Ordering::SeqCst),
        forwarded,
        "denied requests never reach upstream"
    );
    // The registry token (Basic `AWS:statictoken`) is in no line, nor in the recorded context.
    let lines = proxy.audit_lines_at_least(3).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["authorization"]["context"]["aws:principalarn"], "arn:aws:iam::123456789123:role/ci");
    let text = serde_json::to_string(&lines).unwrap();
    for secret in ["statictoken", "QVdTOnN0YXRpY3Rva2Vu", "Basic"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// ARCHITECTURE.md §5 item 2: a GetAuthorizationToken response passing through the proxy binds the returned
/// registry password to the SigV4 principal that asked, so docker's later Basic requests are that
/// principal instead of `anonymous`.
#[tokio::test]
async fn authorization_token_response_binds_the_registry_password() {
    let upstream = upstream(&[API, "*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy_live(&upstream, org_only).await;
    let basic = {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("AWS:{LEARNED_PASSWORD}"))
        )
    };
    let pull = || registry("GET", ACCOUNT_REGISTRY, "/v2/team/app/manifests/latest", Some(&basic));

    let before = request(&proxy, ACCOUNT_REGISTRY, false, pull()).await;
    assert_eq!(before.status, 403, "unknown password: anonymous");
    assert!(before.json()["errors"][0]["message"].as_str().unwrap().starts_with("User: anonymous "));

    let login = request(&proxy, API, false, ecr_api("GetAuthorizationToken", "{}")).await;
    assert_eq!(login.status, 200, "{:?}", login.body);

    let after = request(&proxy, ACCOUNT_REGISTRY, false, pull()).await;
    assert_eq!(after.status, 200, "the password is now bound to {CI_ROLE}: {:?}", after.body);
}
