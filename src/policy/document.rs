//! Policy text -> a typed, compiled [`Policy`].
//!
//! INTERFACE STUB: the engine work replaces the body of this file; keep the public names.

use std::path::Path;

/// A parsed and compiled policy document, ready for evaluation without further allocation.
#[derive(Debug, Clone)]
pub struct Policy {
    _private: (),
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement refuses, overriding any grant.
    Deny,
}

/// Why policy text is not a valid policy; displays as `FILE:LINE:COL: message` when a file is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct PolicyError {
    /// `FILE:LINE:COL` or `LINE:COL`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl Policy {
    /// Parses policy text.
    pub fn parse(_text: &str) -> Result<Policy, PolicyError> {
        todo!("engine")
    }

    /// Reads and parses a policy file; errors name the file.
    pub fn from_file(_path: &Path) -> Result<Policy, PolicyError> {
        todo!("engine")
    }

    /// The AWS default endpoint policy: allow every principal every action on every resource.
    pub fn allow_all() -> Policy {
        todo!("engine")
    }
}
