//! What one terminated client connection knows about itself, shared by every request on it.

use std::sync::Arc;

use crate::authorize::ConnFacts;
use crate::classify::Service;
use crate::proxy::state::ProxyState;

/// What one TLS connection knows about itself.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub state: Arc<ProxyState>,
    /// The host the tunnel (CONNECT target or SNI) is for, lowercased.
    pub host: String,
    pub port: u16,
    pub service: Service,
    pub facts: ConnFacts,
}
