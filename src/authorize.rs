//! The one question the proxy asks per request: classify it, find the caller, evaluate the policies.
//!
//! INTERFACE STUB: the classification work fills this in; keep the public names. `explain` and the
//! proxy both go through [`Authorizer`], so what `explain` prints is what the proxy does.

use std::net::SocketAddr;

use crate::classify::{Classification, Refusal, RequestHead};
use crate::config::Config;
use crate::policy::Decision;

/// Facts about the client connection the request arrived on (not in the HTTP request itself).
#[derive(Debug, Clone, Default)]
pub struct ConnFacts {
    /// The client's address, for source-CIDR principals.
    pub client: Option<SocketAddr>,
    /// `Proxy-Authorization: Basic` credentials presented on CONNECT, if any.
    pub proxy_credentials: Option<(String, String)>,
}

/// Everything known about one request after authorization.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The classification.
    pub classification: Classification,
    /// The principal ARN or `anonymous`.
    pub principal: String,
    /// The combined decision over every permission the request needs (first refusal wins).
    pub decision: Decision,
}

/// Why an [`Authorizer`] could not be built from a config.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Policies per service plus the identities that resolve principals; immutable, swapped whole on reload.
#[derive(Debug)]
pub struct Authorizer {
    _private: (),
}

impl Authorizer {
    /// Loads every policy and identity the config names; any bad file fails the whole load.
    pub fn from_config(_config: &Config) -> Result<Authorizer, LoadError> {
        todo!("classify")
    }

    /// How many body bytes must be read before [`Authorizer::authorize`] can decide (ECR API JSON);
    /// `None` when the head alone decides.
    pub fn body_needed(&self, _head: &RequestHead<'_>) -> Option<usize> {
        todo!("classify")
    }

    /// Classifies and decides one request. `Err` means refused before policy (malformed, ambiguous or
    /// not an endpoint host).
    pub fn authorize(
        &self,
        _head: &RequestHead<'_>,
        _body: Option<&[u8]>,
        _conn: &ConnFacts,
    ) -> Result<Verdict, Refusal> {
        todo!("classify")
    }

    /// Whether the response to this request should be shown to [`Authorizer::observe_response`]
    /// (a GetAuthorizationToken response carries a registry token to bind to the caller).
    pub fn wants_response(&self, _verdict: &Verdict) -> bool {
        todo!("classify")
    }

    /// Learns from a response body (token bindings). Bodies are bounded by the caller.
    pub fn observe_response(&self, _verdict: &Verdict, _status: u16, _body: &[u8]) {
        todo!("classify")
    }
}
