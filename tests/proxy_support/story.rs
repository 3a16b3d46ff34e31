//! Story (a) as the edge tests use it: the org-only endpoint policy
//! (tests/e2e/policies/org-only-ecr-us-east-1.json) on both ECR services, the CI role of its organization,
//! and an ECR API call signed the way the aws CLI signs it.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use vpce_proxy::classify::Service;
use vpce_proxy::config::{Config, PrincipalConfig};

use super::Proxy;

pub const API: &str = "api.ecr.us-east-1.amazonaws.com";
pub const CI_ROLE: &str = "arn:aws:sts::123456789123:assumed-role/ci/session1";
pub const SIGV4: &str =
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/ecr/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=feedfacecafebeef0123";

pub fn org_only_policy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/policies/org-only-ecr-us-east-1.json")
}

/// Story (a)'s org-only endpoint policy on both ECR services, and the CI role of its organization.
pub fn org_only(config: &mut Config) {
    config.endpoint.account = Some("123456789123".into());
    config.policies.insert(Service::EcrApi, org_only_policy());
    config.policies.insert(Service::EcrDkr, org_only_policy());
    config.principals.push(PrincipalConfig {
        arn: CI_ROLE.into(),
        org_id: Some("o-21ej9awi6a".into()),
        access_key_ids: vec!["AKIAIOSFODNN7EXAMPLE".into()],
        registry_tokens: vec!["statictoken".into()],
        ..PrincipalConfig::default()
    });
}

/// An ECR API call as the aws CLI sends it, signed by the CI role's key.
pub fn ecr_api(operation: &str, body: &str) -> Request<Full<Bytes>> {
    Request::post("/")
        .header("host", API)
        .header("x-amz-target", format!("AmazonEC2ContainerRegistry_V20150921.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-date", "20260101T000000Z")
        .header("authorization", SIGV4)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

impl Proxy {
    /// The audit lines once at least `n` are written (a line is written when its response body ends,
    /// which may be after the client has read it); what there is after 2 s otherwise.
    pub async fn audit_lines_at_least(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let lines = self.audit_lines();
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.audit_lines()
    }
}
