//! What every connection shares: config, the authorizer in force, certificates, upstream client, limits.

use std::sync::Arc;

use crate::admin::Metrics;
use crate::audit::AuditLog;
use crate::authorize::{Authorizer, ConnFacts, Verdict};
use crate::classify::{Refusal, RequestHead};
use crate::config::Config;
use crate::reload::LiveAuthorizer;

use super::certs::{CertError, CertStore};
use super::forward::{Upstream, UpstreamError};
use super::limits::ConnLimits;

/// The four questions the edge asks per request. A trait (rather than [`Authorizer`] itself) so the edge
/// can be tested with a scripted decider, independently of the policy engine.
pub trait Authorize: Send + Sync {
    /// See [`Authorizer::body_needed`].
    fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize>;
    /// See [`Authorizer::authorize`].
    fn authorize(
        &self,
        head: &RequestHead<'_>,
        body: Option<&[u8]>,
        conn: &ConnFacts,
    ) -> Result<Verdict, Refusal>;
    /// See [`Authorizer::wants_response`].
    fn wants_response(&self, verdict: &Verdict) -> bool;
    /// See [`Authorizer::observe_response`].
    fn observe_response(&self, verdict: &Verdict, status: u16, body: &[u8]);
}

impl Authorize for Authorizer {
    fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize> {
        Authorizer::body_needed(self, head)
    }
    fn authorize(
        &self,
        head: &RequestHead<'_>,
        body: Option<&[u8]>,
        conn: &ConnFacts,
    ) -> Result<Verdict, Refusal> {
        Authorizer::authorize(self, head, body, conn)
    }
    fn wants_response(&self, verdict: &Verdict) -> bool {
        Authorizer::wants_response(self, verdict)
    }
    fn observe_response(&self, verdict: &Verdict, status: u16, body: &[u8]) {
        Authorizer::observe_response(self, verdict, status, body)
    }
}

/// Where the edge gets the authorizer for one request: taken once per request, so a reload never changes
/// the policy a request started under.
pub trait AuthorizerSource: Send + Sync {
    /// The authorizer in force now.
    fn current(&self) -> Arc<dyn Authorize>;
}

impl AuthorizerSource for LiveAuthorizer {
    fn current(&self) -> Arc<dyn Authorize> {
        LiveAuthorizer::current(self)
    }
}

/// Why the edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The local CA could not be loaded or created.
    #[error(transparent)]
    Ca(#[from] CertError),
    /// The upstream TLS trust could not be built (the extra CA file).
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Shared by every connection of both listeners. The operations work keeps its own handle on the
/// [`LiveAuthorizer`] (for reload) and on `metrics`/`audit` (for the admin listener).
pub struct ProxyState {
    /// The configuration the edge was started with (listeners, limits, routes).
    pub config: Config,
    /// The authorizer in force; production passes an `Arc<LiveAuthorizer>`.
    pub live: Arc<dyn AuthorizerSource>,
    /// The local CA and the per-host leaf cache.
    pub certs: Arc<CertStore>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// One record per request.
    pub audit: Arc<AuditLog>,
    pub(crate) upstream: Upstream,
    pub(crate) limits: ConnLimits,
}

impl ProxyState {
    /// Opens (or creates) the CA and builds the upstream client; fails before any socket is opened.
    pub fn new(
        config: Config,
        live: Arc<dyn AuthorizerSource>,
        metrics: Arc<Metrics>,
        audit: Arc<AuditLog>,
    ) -> Result<ProxyState, StartError> {
        let certs = Arc::new(CertStore::open(&config.ca.dir, config.ca.leaf_cache_size)?);
        let upstream = Upstream::new(&config)?;
        let limits = ConnLimits::new(&config.limits);
        Ok(ProxyState { config, live, certs, metrics, audit, upstream, limits })
    }
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState").field("listen", &self.config.listen).finish_non_exhaustive()
    }
}
