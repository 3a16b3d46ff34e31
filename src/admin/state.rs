//! What every admin path reads: health, metrics, the viewer's records and the authorizer that explains
//! them, and the token. Its own file so the paths (`viewer.rs`) and the router (`mod.rs`) both depend on
//! it and not on each other.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::health::Health;
use super::metrics::Metrics;
use crate::audit::Recent;
use crate::authorize::AuthorizerSource;
use crate::config::AdminToken;

/// Decision streams open at once: each holds a connection, and scrapers must still get one.
const MAX_STREAMS: usize = 16;
/// What the admin listener serves from.
pub struct Admin {
    /// Reload state for `/healthz`.
    pub health: Arc<Health>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The audit log's recent records, for the viewer.
    pub recent: Arc<Recent>,
    /// The authorizer in force, which explains a record in the viewer's detail pane; `None` serves the
    /// records without explanations.
    pub live: Option<Arc<dyn AuthorizerSource>>,
    /// `[admin] token`: when set, every path needs it.
    pub token: Option<AdminToken>,
    /// Decision streams still allowed to open.
    pub(super) streams: Arc<Semaphore>,
}

impl Admin {
    /// Health and metrics, an empty viewer and no token; the `with_*` methods add the rest.
    pub fn new(health: Arc<Health>, metrics: Arc<Metrics>) -> Admin {
        let streams = Arc::new(Semaphore::new(MAX_STREAMS));
        Admin { health, metrics, recent: Arc::new(Recent::new(0)), live: None, token: None, streams }
    }

    /// The viewer's records and the authorizer that explains them.
    pub fn with_viewer(self, recent: Arc<Recent>, live: Arc<dyn AuthorizerSource>) -> Admin {
        Admin { recent, live: Some(live), ..self }
    }

    /// Requires `token` on every path.
    pub fn with_token(self, token: Option<AdminToken>) -> Admin {
        Admin { token, ..self }
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("token", &self.token).finish_non_exhaustive()
    }
}
