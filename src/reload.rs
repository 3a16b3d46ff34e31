//! The live authorizer: swapped whole on reload, so a request keeps the policies it started with.

use std::sync::{Arc, RwLock};

use crate::authorize::Authorizer;

/// The authorizer in force; readers take an `Arc` snapshot per request, reload replaces it atomically.
#[derive(Debug)]
pub struct LiveAuthorizer {
    current: RwLock<Arc<Authorizer>>,
}

impl LiveAuthorizer {
    /// Starts with `authorizer` in force.
    pub fn new(authorizer: Authorizer) -> LiveAuthorizer {
        LiveAuthorizer { current: RwLock::new(Arc::new(authorizer)) }
    }

    /// The authorizer in force now; a request holds this snapshot until it completes.
    pub fn current(&self) -> Arc<Authorizer> {
        Arc::clone(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Puts a new authorizer in force; requests already holding the old one finish under it.
    pub fn replace(&self, authorizer: Authorizer) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(authorizer);
    }
}
