//! HTTP request -> what a VPC endpoint would authorize: service, IAM action, resource ARN, principal and
//! condition context.
//!
//! Pure and socket-free. A request the classifier cannot map with certainty is refused with a
//! [`Refusal`] naming what was wrong; it is never guessed into something more harmless than what upstream
//! would execute. [`hosts`] says which endpoint a name belongs to; [`ecr_api`], [`registry`] and [`s3`]
//! map a request on each; [`sigv4`] and [`principal`] say who signed it.

mod access_key;
pub(crate) mod body;
mod challenge;
pub(crate) mod ecr_api;
pub(crate) mod hosts;
mod model;
mod overrides;
mod parse;
pub(crate) mod principal;
mod principal_keys;
pub(crate) mod registry;
pub(crate) mod s3;
pub(crate) mod sigv4;
mod tags;

use crate::policy::RequestContext;

pub use self::challenge::registry_challenge;
pub use self::model::{BodyView, Classification, HostInfo, Permission, Refusal, RequestHead, Service};
pub use self::overrides::check_method_override;
pub use self::parse::{
    basic_credentials, basic_token, content_length, decode, has_body, query_pairs, repository_permission,
    request_query, single_header, QueryPair,
};
pub use self::principal::Source as PrincipalSource;

/// Keys a request's context typically ends with (region, principal, clock, endpoint, resource account):
/// 14 for a pull. Sixteen entries are 896 bytes, under the 1008 where glibc treats a request as large
/// and first consolidates its fast bins, which 24 entries cost on every request (`cargo bench --bench
/// authorize`).
const CONTEXT_KEYS: usize = 16;

/// Classifies one request on a host already parsed (the proxy checks the host first, to refuse or tunnel
/// it). `caller_account` is the principal's account (or the endpoint's), used by ECR API calls without
/// a `registryId`, which act on the caller's own registry. `query` is [`request_query`] of the head's
/// path, split once for the signature parse and this.
pub fn classify_host(
    host: HostInfo,
    head: &RequestHead<'_>,
    query: &[QueryPair<'_>],
    body: Option<BodyView<'_>>,
    caller_account: Option<&str>,
) -> Result<Classification, Refusal> {
    // Request, principal and endpoint keys together (authorize adds the rest); sized so a pull never regrows.
    let mut context = RequestContext::with_capacity(CONTEXT_KEYS);
    context.set("aws:RequestedRegion", host.region.as_str());
    let (permission, additional) = match host.service {
        Service::EcrApi => {
            let (main, more) = ecr_api::classify(&host, head, body, caller_account, &mut context)?;
            (Some(main), more)
        }
        Service::EcrDkr => registry::classify(&host, head, query)?,
        Service::S3 => {
            let (main, more) = s3::classify(&host, head, query, &mut context)?;
            (Some(main), more)
        }
    };
    Ok(Classification { host, permission, additional, context })
}

// Last in the file: scripts/check-imports reads a file only up to its first test module.
#[cfg(test)]
mod action_tests;
