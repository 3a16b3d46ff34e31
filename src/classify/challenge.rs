//! ECR's answer to a registry request that carries no credentials: `401` with a Basic challenge naming
//! the registry, before any policy applies (Amazon ECR User Guide, "Private registry authentication").
//!
//! containerd (and with it kubelet, nerdctl and BuildKit) sends credentials only after that challenge, and
//! its first request is a bare `HEAD` of a manifest. Deciding that request as `anonymous` would refuse it
//! under any policy that conditions on the caller, so containerd would never log in. The challenge is
//! not a decision, so the request is never forwarded and never evaluated.

use http::header::AUTHORIZATION;

use super::hosts::{normalize, parse_host};
use super::{RequestHead, Service};

/// ECR's challenge service name.
const SERVICE: &str = "ecr.amazonaws.com";

/// The `WWW-Authenticate` value ECR answers `head` with, when `head` is a registry request without an
/// `Authorization` header; `None` for every other request (which the policies decide).
pub fn registry_challenge(head: &RequestHead<'_>) -> Option<String> {
    // The header first: every authenticated request (nearly all of them) is then answered without a
    // host parse.
    if head.headers.contains_key(AUTHORIZATION) || parse_host(head.host).ok()?.service != Service::EcrDkr {
        return None;
    }
    let name = normalize(head.host)?;
    Some(format!("Basic realm=\"https://{name}/\",service=\"{SERVICE}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(host: &str, method: &str, path: &str, auth: Option<&str>) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = auth {
            headers.insert(AUTHORIZATION, value.parse().unwrap());
        }
        registry_challenge(&RequestHead { method, host, path, headers: &headers })
    }

    /// One row per request shape: only a registry request without credentials is challenged, whatever
    /// its method or path, with the realm ECR names (the registry host as the client addressed it).
    #[test]
    fn a_registry_request_without_credentials_is_challenged_as_ecr_does() {
        let realm = |h: &str| Some(format!("Basic realm=\"https://{h}/\",service=\"ecr.amazonaws.com\""));
        let dkr = "111111111111.dkr.ecr.us-east-1.amazonaws.com";
        let rows = [
            // containerd's first request: a bare HEAD of the manifest, no /v2/ ping first
            (dkr, "HEAD", "/v2/app/manifests/latest", None, realm(dkr)),
            // docker's and skopeo's ping
            (dkr, "GET", "/v2/", None, realm(dkr)),
            ("111111111111.DKR.ecr.us-east-1.amazonaws.com.:443", "GET", "/v2/", None, realm(dkr)),
            (
                "987654321987.dkr.ecr.us-west-2.amazonaws.com",
                "POST",
                "/v2/image1/blobs/uploads/",
                None,
                realm("987654321987.dkr.ecr.us-west-2.amazonaws.com"),
            ),
            // with credentials the policies decide, whatever they are worth
            (dkr, "HEAD", "/v2/app/manifests/latest", Some("Basic QVdTOnRva2Vu"), None),
            (dkr, "GET", "/v2/", Some("Bearer x"), None),
            // other services answer unsigned requests themselves, as policy decisions
            ("api.ecr.us-east-1.amazonaws.com", "POST", "/", None, None),
            ("prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com", "GET", "/k", None, None),
            // not an endpoint host: refused elsewhere, never challenged
            ("example.com", "GET", "/v2/", None, None),
        ];
        for (host, method, path, auth, expected) in rows {
            assert_eq!(challenge(host, method, path, auth), expected, "{method} {host}{path} {auth:?}");
        }
    }
}
