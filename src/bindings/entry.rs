//! One learned binding and the bounded memory that holds them, shared by [`super::Bindings`] and the
//! stores behind it.

use std::sync::Arc;
use std::time::Duration;

/// Seconds since the epoch; a clock before 1970 reads as 0.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Most token bindings kept at once; older ones are evicted first (ECR tokens last 12 hours).
pub const MAX_BINDINGS: u64 = 100_000;

/// ECR registry tokens are valid for 12 hours, so no binding needs to be kept longer whatever its
/// `expiresAt` claims.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// One learned token: the principal ARN it names, until `expires_at` (epoch seconds).
///
/// The ARN rather than an index into one config's principals, so a binding means the same after a reload
/// that reorders or removes principals (a removed principal's tokens then resolve to `anonymous`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(super) principal: Arc<str>,
    pub(super) expires_at: u64,
}

pub(super) type Cache = moka::sync::Cache<[u8; 32], Binding>;

/// An empty memory of at most [`MAX_BINDINGS`] tokens, none kept past [`TOKEN_LIFETIME`].
pub(super) fn empty_cache() -> Cache {
    moka::sync::Cache::builder().max_capacity(MAX_BINDINGS).time_to_live(TOKEN_LIFETIME).build()
}
