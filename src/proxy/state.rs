//! What every connection shares: config, the authorizer in force, certificates, upstream client, limits,
//! and the audit log and metrics every stage reports to.

use std::sync::Arc;

use std::net::SocketAddr;

use crate::admin::Metrics;
use crate::audit::{AuditLog, AuditRecord};
use crate::authorize::AuthorizerSource;
use crate::config::Config;

use super::listen::ConnLimits;
use super::tls::certs::{CertError, CertStore};
use super::tls::premint;
use super::upstream::{Upstream, UpstreamError};

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
        let first_hosts = premint::names(&config);
        certs.premint(&first_hosts)?;
        let upstream = Upstream::new(&config)?;
        if config.upstream_tls.preconnect {
            upstream.preconnect(&first_hosts);
        }
        let limits = ConnLimits::new(&config.limits);
        Ok(ProxyState { config, live, certs, metrics, audit, upstream, limits })
    }

    /// Upstream connections made at start (`[upstream_tls] preconnect`) that no request has taken yet.
    pub fn spare_upstream_connections(&self) -> usize {
        self.upstream.spares()
    }
}

impl ProxyState {
    /// A connection refused before any request (CONNECT admission, or a ClientHello for another host):
    /// one audit line, one metric, one log line.
    pub(crate) fn refuse_connection(&self, client: Option<SocketAddr>, host: &str, reason: String) {
        tracing::info!(client = ?client, host, "CONNECT refused: {reason}");
        self.metrics.record_decision(None, "", crate::audit::Disposition::Refused);
        self.audit.write(AuditRecord::refusal(client, host, reason));
    }
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState").field("listen", &self.config.listen).finish_non_exhaustive()
    }
}
