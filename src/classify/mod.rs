//! HTTP request -> what a VPC endpoint would authorize: service, IAM action, resource ARN, principal and
//! condition context.
//!
//! Pure and socket-free. A request the classifier cannot map with certainty is refused with a
//! [`Refusal`] naming what was wrong; it is never guessed into something more harmless than what upstream
//! would execute.

pub mod body;
pub mod ecr_api;
pub mod hosts;
pub mod principal;
pub mod registry;
pub mod s3;
pub mod sigv4;

use std::fmt;

use crate::policy::RequestContext;

/// The service an endpoint host belongs to; each has its own endpoint policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// `api.ecr.R.amazonaws.com` and friends: the ECR control plane (AWS JSON 1.1).
    EcrApi,
    /// `ACCT.dkr.ecr.R.amazonaws.com`: the Docker Registry v2 / OCI distribution API.
    EcrDkr,
    /// S3, where ECR stores layers (`prod-R-starport-layer-bucket`).
    S3,
}

impl Service {
    /// Every service, in config order.
    pub const ALL: [Service; 3] = [Service::EcrApi, Service::EcrDkr, Service::S3];

    /// The service key used in config files and output: `ecr.api`, `ecr.dkr`, `s3`.
    pub fn key(self) -> &'static str {
        match self {
            Service::EcrApi => "ecr.api",
            Service::EcrDkr => "ecr.dkr",
            Service::S3 => "s3",
        }
    }

    /// Parses a service key.
    pub fn from_key(key: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// Accepts exactly the service keys (`ecr.api`, `ecr.dkr`, `s3`), so a config naming another service fails
/// when parsed, at the key, instead of configuring a policy no request ever meets.
impl<'de> serde::Deserialize<'de> for Service {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        Service::from_key(&key).ok_or_else(|| {
            serde::de::Error::custom(format!("{key:?} is not a service: use ecr.api, ecr.dkr or s3"))
        })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One permission a request needs: an IAM action on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// `ecr:PutImage`, `s3:GetObject`.
    pub action: String,
    /// The resource ARN, or `*`.
    pub resource: String,
    /// The account owning the resource, when known.
    pub resource_account: Option<String>,
}

/// Why a request was refused before any policy was consulted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// What a host name says about the endpoint it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// The service whose endpoint policy applies.
    pub service: Service,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The registry account for `ACCT.dkr.ecr...` hosts.
    pub account: Option<String>,
    /// The bucket for virtual-hosted S3 hosts.
    pub bucket: Option<String>,
}

/// The parts of an HTTP request the classifier reads; borrowed so the proxy never copies a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// The `Host` (or `:authority`) of the inner request, possibly with `:443`.
    pub host: &'a str,
    /// Path and query exactly as sent (still percent-encoded).
    pub path: &'a str,
    /// Request headers.
    pub headers: &'a http::HeaderMap,
}

/// A request classified: the permissions it needs and the context keys it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// What the host says.
    pub host: HostInfo,
    /// The main permission; `None` for requests that need none (the registry's `GET /v2/` ping).
    pub permission: Option<Permission>,
    /// Further permissions the same request needs (a cross-repository blob mount needs
    /// `ecr:GetDownloadUrlForLayer` on the source repository too). All must be allowed.
    pub additional: Vec<Permission>,
    /// Request-specific context keys (`s3:prefix`, `s3:delimiter`, `aws:RequestedRegion`).
    pub context: RequestContext,
}

/// A body prefix handed to the classifier: the proxy reads at most `Authorizer::body_needed` bytes, so
/// `complete` says whether these are all the bytes the request carries.
#[derive(Debug, Clone, Copy)]
pub struct BodyView<'a> {
    /// The bytes read so far.
    pub bytes: &'a [u8],
    /// `true` when `bytes` is the whole body.
    pub complete: bool,
}

/// Classifies one request. `caller_account` is the principal's account (or the endpoint's), used by ECR API
/// calls without a `registryId`, which act on the caller's own registry.
pub fn classify(
    head: &RequestHead<'_>,
    body: Option<BodyView<'_>>,
    caller_account: Option<&str>,
) -> Result<Classification, Refusal> {
    classify_host(hosts::parse_host(head.host)?, head, body, caller_account)
}

/// Keys a request's context typically ends with (region, principal, clock, endpoint, resource account).
const CONTEXT_KEYS: usize = 24;

/// [`classify`] for a host already parsed (the proxy checks the host first, to refuse or tunnel it).
pub fn classify_host(
    host: HostInfo,
    head: &RequestHead<'_>,
    body: Option<BodyView<'_>>,
    caller_account: Option<&str>,
) -> Result<Classification, Refusal> {
    // Request, principal and endpoint keys together (authorize adds the rest); sized so none rehash.
    let mut context = RequestContext::with_capacity(CONTEXT_KEYS);
    context.set("aws:RequestedRegion", host.region.clone());
    let (permission, additional) = match host.service {
        Service::EcrApi => {
            let (main, more) = ecr_api::classify(&host, head, body, caller_account)?;
            (Some(main), more)
        }
        Service::EcrDkr => registry::classify(&host, head.method, head.path, has_body(head.headers))?,
        Service::S3 => {
            let (main, more) = s3::classify(&host, head, &mut context)?;
            (Some(main), more)
        }
    };
    Ok(Classification { host, permission, additional, context })
}

/// Whether a request carries a body at all (a non-zero `Content-Length` or any `Transfer-Encoding`).
pub fn has_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING) || content_length(headers).is_some_and(|n| n > 0)
}

/// The declared body length, when there is exactly one well-formed `Content-Length`.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()?.trim().parse().ok()
}

/// The single value of a header; a header sent twice where AWS expects one is refused, never guessed.
pub fn single_header<'h>(headers: &'h http::HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Refusal(format!("header {name} given more than once")));
    }
    first.to_str().map(Some).map_err(|_| Refusal(format!("header {name} is not visible ASCII")))
}

/// Splits a query string into percent-decoded pairs, in order; undecodable text is refused.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Percent-decodes exactly once; the result must be UTF-8.
pub fn decode(s: &str) -> Result<String, Refusal> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Refusal(format!("{s:?} does not percent-decode to UTF-8")))
}

/// `arn:P:ecr:R:ACCT:repository/NAME` (the name keeps its slashes), owned by `account`.
pub fn repository_permission(action: &str, host: &HostInfo, account: &str, name: &str) -> Permission {
    Permission {
        action: action.to_string(),
        resource: format!("arn:{}:ecr:{}:{}:repository/{}", host.partition, host.region, account, name),
        resource_account: Some(account.to_string()),
    }
}
