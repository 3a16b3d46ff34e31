//! The IAM policy language: parsing, matching, conditions, variables, evaluation and lint.
//!
//! Pure and socket-free: everything here is a function of policy text and an [`AuthzRequest`], so every
//! AWS rule can be tested as one table row without a network.

pub mod actions;
pub mod condition;
pub mod document;
pub mod error;
pub mod evaluate;
pub mod facts;
pub mod json;
pub mod matching;
pub mod operators;
pub mod request;
mod spelling;
pub mod validate;
pub mod variables;

#[cfg(test)]
mod tests;

pub use document::{Effect, Policy};
pub use error::PolicyError;
pub use evaluate::{decide, denial_message, Decision, Layer, Matched, Outcome, PolicyLayers};
pub use request::{AuthzRequest, ContextValue, RequestContext, ANONYMOUS};
