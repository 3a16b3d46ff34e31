//! What the classifier reads and what it answers: the request head, the service and host facts, the
//! permissions a request needs, and the refusal for a request it cannot map with certainty.

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
    pub partition: &'static str,
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

impl<'a> RequestHead<'a> {
    /// The path without its query (everything before the first `?`), still percent-encoded.
    pub fn path_only(&self) -> &'a str {
        self.path.split_once('?').map_or(self.path, |(path, _)| path)
    }
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
