//! S3 REST request -> S3 action and ARN, virtual-hosted or path style.
//!
//! ECR layers are fetched from S3 through presigned URLs, so the S3 endpoint policy is what keeps a VPC to
//! its own region's layer bucket. Mappings follow the Amazon S3 User Guide, "Required permissions for Amazon
//! S3 API operations". A query parameter the table does not know may be a sub-resource with another action
//! (`?acl`, `?policy`), so it is refused rather than guessed to be a plain object read.

use std::borrow::Cow;

use super::parse::{decode_cow, QueryPair};
use super::{decode, query_pairs, single_header, HostInfo, Permission, Refusal, RequestHead};
use crate::policy::iam;
use crate::policy::RequestContext;

/// Query keys that select another operation (sub-resources), in sorted order.
const SUBRESOURCES: [&str; 12] = [
    "acl",
    "attributes",
    "location",
    "ownershipControls",
    "partNumber",
    "policy",
    "restore",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versions",
];

/// Query keys that only parameterise an operation.
const PLAIN: [&str; 22] = [
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "list-type",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "encoding-type",
    "key-marker",
    "upload-id-marker",
    "version-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "x-id",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

/// Classifies an S3 request; the list operations IAM gives `s3:prefix`, `s3:delimiter`, `s3:max-keys` add
/// them to `context`.
pub(crate) fn classify(
    host: &HostInfo,
    head: &RequestHead<'_>,
    pairs: &[QueryPair<'_>],
    context: &mut RequestContext,
) -> Result<(Permission, Vec<Permission>), Refusal> {
    let path = head.path_only();
    let subs = subresources(pairs)?;
    let (bucket, key) = locate(host, path)?;
    let p = host.partition;
    let Some(bucket) = bucket else {
        return match (head.method, subs.as_slice(), key.is_empty()) {
            ("GET", [], true) => Ok((perm("s3:ListAllMyBuckets", "*".into()), Vec::new())),
            _ => Err(Refusal(format!("{} {path}: not a known S3 service-level operation", head.method))),
        };
    };
    if key.is_empty() {
        let action = bucket_action(head.method, &subs, path)?;
        set_list_keys(action, pairs, context)?;
        return Ok((perm(action, format!("arn:{p}:s3:::{bucket}")), Vec::new()));
    }
    let object = format!("arn:{p}:s3:::{bucket}/{key}");
    let action = object_action(head.method, &subs, path)?;
    let mut extra = Vec::new();
    if action == "s3:GetObjectAttributes" {
        // GetObjectAttributes also needs read access to the object itself (S3 API Reference).
        extra.push(perm("s3:GetObject", object.clone()));
    }
    if head.method == "PUT" {
        if let Some(source) = single_header(head.headers, "x-amz-copy-source")? {
            extra.push(copy_source(p, source)?);
        }
    }
    Ok((perm(action, object), extra))
}

/// The list parameters S3 gives policies as condition keys, set only for the actions IAM gives them to
/// (`iam::KeyScope`: ListBucket and ListBucketVersions, not ListBucketMultipartUploads). A policy
/// reading `s3:prefix` on `GET ?uploads&prefix=` sees it absent in AWS, so it must here too.
/// The action's key scope is looked up only when a list parameter is there: an object GET has none.
fn set_list_keys(action: &str, pairs: &[QueryPair<'_>], context: &mut RequestContext) -> Result<(), Refusal> {
    let mut scope = None;
    for (param, key) in [("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")]
    {
        let Some(pair) = pairs.iter().find(|p| p.key == param) else { continue };
        if scope.get_or_insert_with(|| iam::KeyScope::of(action)).applies(key) {
            context.set(key, pair.value()?);
        }
    }
    Ok(())
}

fn perm(action: &str, resource: String) -> Permission {
    Permission { action: action.to_string(), resource, resource_account: None }
}

/// The sub-resource keys present, sorted; unknown keys and repeated keys are refused.
fn subresources(pairs: &[QueryPair<'_>]) -> Result<Vec<&'static str>, Refusal> {
    let mut found = Vec::new();
    for (i, QueryPair { key: k, .. }) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|earlier| earlier.key == *k) {
            return Err(Refusal(format!("S3 query parameter {k:?} given twice")));
        }
        if let Some(s) = SUBRESOURCES.iter().find(|s| **s == k) {
            found.push(*s);
        } else if !PLAIN.contains(&k.as_ref())
            && !k.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
        {
            return Err(Refusal(format!("S3 query parameter {k:?} is not a sub-resource this proxy knows")));
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Bucket and percent-decoded key; path style takes the bucket from the first path segment.
/// Both borrow from the host and the path (the key is copied only to decode escapes), since the ARN built
/// from them is the only string the request needs.
fn locate<'a>(host: &'a HostInfo, path: &'a str) -> Result<(Option<&'a str>, Cow<'a, str>), Refusal> {
    let rest = path.strip_prefix('/').ok_or_else(|| Refusal(format!("S3 path {path:?} is not absolute")))?;
    if let Some(bucket) = &host.bucket {
        return Ok((Some(bucket), decode_cow(rest)?));
    }
    if rest.is_empty() {
        return Ok((None, Cow::Borrowed("")));
    }
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if !super::hosts::is_bucket_name(bucket) {
        return Err(Refusal(format!("{bucket:?} is not a valid S3 bucket name")));
    }
    Ok((Some(bucket), decode_cow(key)?))
}

fn bucket_action(method: &str, subs: &[&str], path: &str) -> Result<&'static str, Refusal> {
    let action = match (method, subs) {
        ("GET" | "HEAD", []) => "s3:ListBucket",
        ("GET", ["uploads"]) => "s3:ListBucketMultipartUploads",
        ("GET", ["versions"]) => "s3:ListBucketVersions",
        ("GET", ["location"]) => "s3:GetBucketLocation",
        ("GET", ["acl"]) => "s3:GetBucketAcl",
        ("GET", ["policy"]) => "s3:GetBucketPolicy",
        ("GET", ["tagging"]) => "s3:GetBucketTagging",
        ("GET", ["ownershipControls"]) => "s3:GetBucketOwnershipControls",
        // The DeleteBucketOwnershipControls API has no action of its own: IAM authorizes it as
        // s3:PutBucketOwnershipControls (Service Authorization Reference, Amazon S3).
        ("PUT" | "DELETE", ["ownershipControls"]) => "s3:PutBucketOwnershipControls",
        ("PUT", []) => "s3:CreateBucket",
        ("DELETE", []) => "s3:DeleteBucket",
        _ => return Err(unknown(method, subs, path)),
    };
    Ok(action)
}

fn object_action(method: &str, subs: &[&str], path: &str) -> Result<&'static str, Refusal> {
    let action = match (method, subs) {
        ("GET" | "HEAD", [] | ["partNumber"]) => "s3:GetObject",
        ("GET" | "HEAD", ["versionId"] | ["partNumber", "versionId"]) => "s3:GetObjectVersion",
        ("GET", ["uploadId"]) => "s3:ListMultipartUploadParts",
        ("GET", ["acl"]) => "s3:GetObjectAcl",
        ("GET", ["tagging"]) => "s3:GetObjectTagging",
        ("GET", ["attributes"]) => "s3:GetObjectAttributes",
        ("PUT", [] | ["partNumber", "uploadId"]) => "s3:PutObject",
        ("PUT", ["acl"]) => "s3:PutObjectAcl",
        ("PUT", ["tagging"]) => "s3:PutObjectTagging",
        ("POST", ["uploads"] | ["uploadId"]) => "s3:PutObject",
        ("POST", ["restore"]) => "s3:RestoreObject",
        ("DELETE", []) => "s3:DeleteObject",
        ("DELETE", ["uploadId"]) => "s3:AbortMultipartUpload",
        ("DELETE", ["versionId"]) => "s3:DeleteObjectVersion",
        ("DELETE", ["tagging"]) => "s3:DeleteObjectTagging",
        _ => return Err(unknown(method, subs, path)),
    };
    Ok(action)
}

fn unknown(method: &str, subs: &[&str], path: &str) -> Refusal {
    Refusal(format!("{method} {path} with sub-resources {subs:?}: not an S3 operation this proxy knows"))
}

/// `x-amz-copy-source: [/]BUCKET/KEY[?versionId=V]` -> read permission on the source object.
fn copy_source(partition: &str, source: &str) -> Result<Permission, Refusal> {
    let (path, query) = source.split_once('?').unwrap_or((source, ""));
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) =
        path.split_once('/').ok_or_else(|| Refusal(format!("x-amz-copy-source {source:?} names no key")))?;
    if !super::hosts::is_bucket_name(bucket) {
        return Err(Refusal(format!("x-amz-copy-source bucket {bucket:?} is not a plain bucket name")));
    }
    let key = decode(key)?;
    if key.is_empty() {
        return Err(Refusal(format!("x-amz-copy-source {source:?} names no key")));
    }
    let action = match query_pairs(query)?.as_slice() {
        [] => "s3:GetObject",
        [pair] if pair.key == "versionId" => "s3:GetObjectVersion",
        _ => return Err(Refusal(format!("x-amz-copy-source {source:?} has an unknown query"))),
    };
    Ok(perm(action, format!("arn:{partition}:s3:::{bucket}/{key}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::action_tests::{assert_literals_are_iam, iam_action};
    use crate::classify::Service;

    const METHODS: [&str; 8] = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"];

    /// Every sorted set of sub-resource keys a request can carry (`subresources` sorts them too).
    fn every_subresource_set() -> Vec<Vec<&'static str>> {
        (0..1u32 << SUBRESOURCES.len())
            .map(|bits| {
                let mut set: Vec<&str> = SUBRESOURCES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits >> i & 1 == 1)
                    .map(|(_, s)| *s)
                    .collect();
                set.sort_unstable();
                set
            })
            .collect()
    }

    /// Amazon S3 User Guide, "Required permissions for Amazon S3 API operations", and the Service
    /// Authorization Reference for Amazon S3: every action a bucket route emits is an IAM action on the
    /// `bucket` resource type, every object route's on `object`, and the one `*` route's has no resource
    /// type. Walks every method with every set of sub-resources; the literal scan covers the rest.
    #[test]
    fn every_route_action_is_an_iam_action_on_its_resource_type() {
        let (mut bucket, mut object) = (0, 0);
        for subs in every_subresource_set() {
            for method in METHODS {
                if let Ok(action) = bucket_action(method, &subs, "/") {
                    let types = iam_action(action).resource_types;
                    assert!(types.contains(&"bucket"), "{method} {subs:?} -> {action}: IAM: {types:?}");
                    bucket += 1;
                }
                if let Ok(action) = object_action(method, &subs, "/k") {
                    let types = iam_action(action).resource_types;
                    assert!(types.contains(&"object"), "{method} {subs:?} -> {action}: IAM: {types:?}");
                    object += 1;
                }
            }
        }
        assert!(bucket > 0 && object > 0);
        let host = HostInfo {
            service: Service::S3,
            region: "us-east-1".into(),
            partition: "aws",
            account: None,
            bucket: None,
        };
        let headers = http::HeaderMap::new();
        let head =
            RequestHead { method: "GET", host: "s3.us-east-1.amazonaws.com", path: "/", headers: &headers };
        let (main, _) = classify(&host, &head, &[], &mut RequestContext::default()).unwrap();
        assert_eq!(main.resource, "*");
        assert!(iam_action(&main.action).resource_types.is_empty(), "{} has resource types", main.action);
        assert_literals_are_iam("s3.rs", include_str!("s3.rs"));
    }
}
