//! Report mode and shadow policies through the proxy (ARCHITECTURE.md §10): a report-mode refusal is
//! audited with the decision enforcing would have made and forwarded; parsing refusals stay refusals; a
//! shadow policy's differing decision is audited and counted, and never enforced.

mod proxy_support;

use std::sync::atomic::Ordering;

use http::Request;
use http_body_util::Full;
use proxy_support::story::{ecr_api, org_only, org_only_policy, API};
use proxy_support::{proxy_live, request, upstream, Proxy};
use vpce_proxy::classify::Service;
use vpce_proxy::config::Mode;

const FOREIGN_REGISTRY: &str = "999999999999.dkr.ecr.us-east-1.amazonaws.com";

/// The sample of `family{labels}` in `/metrics`, 0 when absent.
fn sample(proxy: &Proxy, series: &str) -> u64 {
    let text = proxy.state.metrics.render();
    let line = text.lines().find(|l| l.strip_prefix("vpce_proxy_").is_some_and(|l| l.starts_with(series)));
    line.and_then(|l| l.rsplit(' ').next()).map_or(0, |v| v.parse().unwrap())
}

/// `[enforcement] "ecr.api" = "report"`: the explicitly denied DeleteRepository reaches upstream, and its
/// line keeps `ExplicitDeny` with `"enforced": false`; a smuggled method override is still refused; the
/// registry, still enforcing, still refuses a push to a foreign registry.
#[tokio::test]
async fn report_mode_forwards_and_audits_what_enforcing_would_refuse() {
    let upstream = upstream(&[API, "*.dkr.ecr.us-east-1.amazonaws.com"]).await;
    let proxy = proxy_live(&upstream, |config| {
        org_only(config);
        config.enforcement.set(Service::EcrApi, Mode::Report);
    })
    .await;

    let delete = ecr_api("DeleteRepository", r#"{"repositoryName":"base-image3"}"#);
    let forwarded = request(&proxy, API, false, delete).await;
    assert_eq!(forwarded.status, 200, "report mode forwards: {:?}", forwarded.body);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);

    let mut smuggled = ecr_api("DescribeImages", r#"{"repositoryName":"app"}"#);
    smuggled.headers_mut().insert("x-http-method-override", "DELETE".parse().unwrap());
    let refused = request(&proxy, API, false, smuggled).await;
    assert_eq!(refused.status, 400, "report mode relaxes policy, never parsing");

    let push = Request::put("/v2/app/manifests/v1")
        .header("host", FOREIGN_REGISTRY)
        .header("authorization", "Basic QVdTOnN0YXRpY3Rva2Vu")
        .body(Full::default())
        .unwrap();
    let denied = request(&proxy, FOREIGN_REGISTRY, false, push).await;
    assert_eq!(denied.status, 403, "ecr.dkr still enforces");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1, "only the reported request went upstream");

    let lines = proxy.audit_lines_at_least(3).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let reported = &lines[0];
    assert_eq!(reported["decision"], "ExplicitDeny");
    assert_eq!(reported["statementSid"], "NobodyDeletesBaseImage3");
    assert_eq!(reported["enforced"], false);
    assert_eq!(reported["upstreamStatus"], 200);
    assert_eq!(reported.get("errorCode"), None, "{reported}");
    assert_eq!(reported["authorization"]["action"], "ecr:DeleteRepository");
    assert_eq!(lines[1]["decision"], "Refused");
    assert_eq!(lines[1]["enforced"], true);
    assert_eq!(lines[2]["decision"], "ImplicitDeny");
    assert_eq!(lines[2]["enforced"], true);
    assert_eq!(sample(&proxy, "would_deny_total{service=\"ecr.api\",action=\"ecr:DeleteRepository\"}"), 1);
    assert_eq!(sample(&proxy, "would_deny_total{service=\"ecr.dkr\""), 0);
}

/// A shadow policy that drops the docker-login statement: exactly the GetAuthorizationToken call that
/// statement allowed is audited with the shadow decision and counted allow_to_deny; the live policy
/// still decides, so the call is forwarded; a request both policies decide alike has no `shadow`.
#[tokio::test]
async fn a_shadow_policy_missing_one_statement_shows_exactly_the_requests_it_allowed() {
    let upstream = upstream(&[API]).await;
    let shadow_dir = tempfile::tempdir().unwrap();
    let shadow = shadow_dir.path().join("candidate.json");
    let mut policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(org_only_policy()).unwrap()).unwrap();
    let statements = policy["Statement"].as_array_mut().unwrap();
    statements.retain(|s| s["Sid"] != "OrgPrincipalsDockerLogin");
    std::fs::write(&shadow, serde_json::to_string_pretty(&policy).unwrap()).unwrap();
    let proxy = proxy_live(&upstream, |config| {
        org_only(config);
        config.shadow_policies.insert(Service::EcrApi, shadow.clone());
    })
    .await;

    let login = request(&proxy, API, false, ecr_api("GetAuthorizationToken", "{}")).await;
    assert_eq!(login.status, 200, "the live policy decides: {:?}", login.body);
    let describe = ecr_api("DescribeImages", r#"{"repositoryName":"app"}"#);
    assert_eq!(request(&proxy, API, false, describe).await.status, 200);

    let lines = proxy.audit_lines_at_least(2).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["decision"], "Allow");
    assert_eq!(
        lines[0]["shadow"],
        serde_json::json!({"decision": "ImplicitDeny", "deniedBy": "vpc_endpoint", "statementSid": null})
    );
    assert_eq!(lines[1].get("shadow"), None, "{}", lines[1]);
    let login_series =
        "shadow_differences_total{service=\"ecr.api\",action=\"ecr:GetAuthorizationToken\",direction=\"allow_to_deny\"}";
    assert_eq!(sample(&proxy, login_series), 1);
    assert_eq!(
        sample(&proxy, "shadow_differences_total{service=\"ecr.api\",action=\"ecr:DescribeImages\""),
        0
    );
}
