//! Docker Registry HTTP API v2 / OCI distribution request -> the ECR action it needs.
//!
//! ECR authorizes registry calls with the same IAM actions as its JSON API (Amazon ECR User Guide,
//! "Private repository policies" and "Amazon ECR interface VPC endpoints"). Repository names may contain
//! slashes, so the route is recognised from the right end of the path and the rest must be a valid ECR
//! repository name; anything that could be read two ways, or that the table does not know, is refused.

use super::parse::{single_param, QueryPair};
use super::{has_body, repository_permission, HostInfo, Permission, Refusal, RequestHead};

/// The permissions one registry request needs: the main one (`None` for the `GET /v2/` ping) and others.
pub(crate) type RegistryPermissions = (Option<Permission>, Vec<Permission>);

/// What the right end of a `/v2/` path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Manifest,
    Blob,
    UploadStart,
    Upload,
    Tags,
    Referrers,
}

/// Classifies a registry request on an `ACCT.dkr.ecr...` host.
pub(crate) fn classify(
    host: &HostInfo,
    head: &RequestHead<'_>,
    query: &[QueryPair<'_>],
) -> Result<RegistryPermissions, Refusal> {
    let (method, has_body) = (head.method, has_body(head.headers));
    let account =
        host.account.as_deref().ok_or_else(|| Refusal("registry host without an account".into()))?;
    let path = head.path_only();
    if path.contains('%') {
        return Err(Refusal(format!("registry path {path:?} is percent-encoded; names never need it")));
    }
    let rest = path
        .strip_prefix("/v2/")
        .ok_or_else(|| Refusal(format!("registry path {path:?} is not under /v2/")))?;
    if rest.is_empty() {
        return match method {
            "GET" | "HEAD" => Ok((None, Vec::new())),
            _ => Err(unknown_method(method, path)),
        };
    }
    if rest == "_catalog" {
        return match method {
            "GET" => {
                let p = Permission {
                    action: "ecr:DescribeRepositories".into(),
                    resource: "*".into(),
                    resource_account: Some(account.to_string()),
                };
                Ok((Some(p), Vec::new()))
            }
            _ => Err(unknown_method(method, path)),
        };
    }
    let segments: Vec<&str> = rest.split('/').collect();
    check_segments(path, &segments)?;
    let (name, route) = route_of(path, &segments)?;
    let action = action_for(route, method, path)?;
    let main = repository_permission(action, host, account, &name);
    let additional = additional_for(route, method, query, host, account, &name, has_body)?;
    Ok((Some(main), additional))
}

fn unknown_method(method: &str, path: &str) -> Refusal {
    Refusal(format!("{method} {path}: method not known for this registry route"))
}

/// Dot segments and doubled slashes are refused: upstream may normalise them into another repository.
fn check_segments(path: &str, segments: &[&str]) -> Result<(), Refusal> {
    let last = segments.len() - 1;
    for (i, s) in segments.iter().enumerate() {
        if *s == "." || *s == ".." {
            return Err(Refusal(format!("registry path {path:?} has a dot segment")));
        }
        // Only `blobs/uploads/` may end with an empty segment.
        if s.is_empty() && i != last {
            return Err(Refusal(format!("registry path {path:?} has a doubled slash")));
        }
    }
    Ok(())
}

/// Every reading of the path's right end; exactly one must fit with a valid repository name.
fn route_of(path: &str, segs: &[&str]) -> Result<(String, Route), Refusal> {
    let n = segs.len();
    let mut found: Vec<(usize, Route)> = Vec::new();
    let tail = |k: usize| if n >= k { &segs[n - k..] } else { &segs[..0] };
    if let ["manifests", r] = tail(2) {
        if is_reference(r) {
            found.push((n - 2, Route::Manifest));
        }
    }
    if let ["blobs", d] = tail(2) {
        if is_digest(d) {
            found.push((n - 2, Route::Blob));
        }
    }
    if let ["blobs", "uploads", ""] = tail(3) {
        found.push((n - 3, Route::UploadStart));
    }
    if let ["blobs", "uploads", u] = tail(3) {
        if is_upload_id(u) {
            found.push((n - 3, Route::Upload));
        }
    }
    if let ["tags", "list"] = tail(2) {
        found.push((n - 2, Route::Tags));
    }
    if let ["referrers", d] = tail(2) {
        if is_digest(d) {
            found.push((n - 2, Route::Referrers));
        }
    }
    found.retain(|(k, _)| *k > 0 && is_repository_name(&segs[..*k].join("/")));
    match found.as_slice() {
        [(k, route)] => Ok((segs[..*k].join("/"), *route)),
        [] => {
            Err(Refusal(format!("registry path {path:?} names no known route with a valid repository name")))
        }
        _ => Err(Refusal(format!("registry path {path:?} can be read as more than one route"))),
    }
}

fn action_for(route: Route, method: &str, path: &str) -> Result<&'static str, Refusal> {
    let action = match (route, method) {
        (Route::Manifest, "GET" | "HEAD") => "ecr:BatchGetImage",
        (Route::Manifest, "PUT") => "ecr:PutImage",
        (Route::Manifest, "DELETE") => "ecr:BatchDeleteImage",
        (Route::Blob, "HEAD") => "ecr:BatchCheckLayerAvailability",
        (Route::Blob, "GET") => "ecr:GetDownloadUrlForLayer",
        (Route::UploadStart, "POST") => "ecr:InitiateLayerUpload",
        (Route::Upload, "PATCH") => "ecr:UploadLayerPart",
        (Route::Upload, "PUT") => "ecr:CompleteLayerUpload",
        (Route::Tags, "GET") => "ecr:ListImages",
        (Route::Referrers, "GET") => "ecr:BatchGetImage",
        _ => return Err(unknown_method(method, path)),
    };
    Ok(action)
}

/// A blob mount also reads the source repository; a monolithic upload or a final chunk also uploads.
fn additional_for(
    route: Route,
    method: &str,
    pairs: &[QueryPair<'_>],
    host: &HostInfo,
    account: &str,
    name: &str,
    has_body: bool,
) -> Result<Vec<Permission>, Refusal> {
    let mut extra = Vec::new();
    if route == Route::UploadStart && method == "POST" {
        let one =
            |key: &str| single_param(pairs, key, || Refusal(format!("query parameter {key:?} given twice")));
        match (one("mount")?, one("from")?) {
            (Some(_), Some(from)) => {
                if !is_repository_name(&from) {
                    return Err(Refusal(format!("mount source {from:?} is not a valid repository name")));
                }
                extra.push(repository_permission("ecr:GetDownloadUrlForLayer", host, account, &from));
            }
            (Some(_), None) => {
                return Err(Refusal("blob mount without from= names no source repository".into()));
            }
            (None, _) => {}
        }
        if one("digest")?.is_some() {
            extra.push(repository_permission("ecr:UploadLayerPart", host, account, name));
            extra.push(repository_permission("ecr:CompleteLayerUpload", host, account, name));
        }
    }
    if route == Route::Upload && method == "PUT" && has_body {
        extra.push(repository_permission("ecr:UploadLayerPart", host, account, name));
    }
    Ok(extra)
}

/// ECR's repository name grammar, `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`,
/// 2 to 256 characters (Amazon ECR API Reference, CreateRepository).
pub(crate) fn is_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len()) && name.split('/').all(is_name_component)
}

/// `[a-z0-9]+(?:[._-][a-z0-9]+)*`: separators only between alphanumeric runs.
fn is_name_component(c: &str) -> bool {
    let mut prev_sep = true;
    for b in c.bytes() {
        let sep = matches!(b, b'.' | b'_' | b'-');
        if sep && prev_sep {
            return false;
        }
        if !(sep || b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest.
fn is_reference(r: &str) -> bool {
    is_digest(r) || is_tag(r)
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// OCI digest: `algorithm:encoded`, algorithm `[a-z0-9]+([+._-][a-z0-9]+)*`, encoded `[a-zA-Z0-9=_-]+`.
fn is_digest(d: &str) -> bool {
    let Some((alg, enc)) = d.split_once(':') else { return false };
    !alg.is_empty()
        && alg
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'.' | b'_' | b'-'))
        && !enc.is_empty()
        && enc.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'))
}

/// Upload session ids as distribution routes them: `[a-zA-Z0-9-_.=]+`.
fn is_upload_id(u: &str) -> bool {
    !u.is_empty() && u.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::action_tests::{assert_literals_are_iam, iam_action};

    /// Every route; the match makes a new variant a compile error here until it is added.
    const ROUTES: [Route; 6] =
        [Route::Manifest, Route::Blob, Route::UploadStart, Route::Upload, Route::Tags, Route::Referrers];
    const _: fn(Route) = |r| match r {
        Route::Manifest
        | Route::Blob
        | Route::UploadStart
        | Route::Upload
        | Route::Tags
        | Route::Referrers => {}
    };

    /// Amazon ECR User Guide, "Private repository policies": registry calls are authorized with the ECR
    /// actions, on the repository. Walks every route and method; the literal scan covers the additional
    /// permissions and `_catalog`.
    #[test]
    fn every_route_action_is_an_iam_action_on_a_repository() {
        let methods = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];
        let mut seen = 0;
        for route in ROUTES {
            for method in methods {
                if let Ok(action) = action_for(route, method, "/v2/x") {
                    let types = iam_action(action).resource_types;
                    assert!(types.contains(&"repository"), "{route:?} {method} -> {action}: IAM: {types:?}");
                    seen += 1;
                }
            }
        }
        assert!(seen > 0);
        assert_literals_are_iam("registry.rs", include_str!("registry.rs"));
    }
}
