//! The IAM policy language: parsing, matching, conditions, variables, evaluation and lint.
//!
//! Pure and socket-free: everything here is a function of policy text and an [`AuthzRequest`], so every
//! AWS rule can be tested as one table row without a network.

pub(crate) mod actions;
pub(crate) mod condition;
pub(crate) mod document;
pub(crate) mod error;
pub(crate) mod evaluate;
pub(crate) mod facts;
pub(crate) mod iam;
pub(crate) mod iam_data;
pub(crate) mod iam_types;
pub(crate) mod json;
pub(crate) mod matching;
pub(crate) mod operators;
pub(crate) mod request;
mod spelling;
pub(crate) mod trace;
pub(crate) mod validate;
mod validate_login;
pub(crate) mod variables;

#[cfg(test)]
mod tests;

pub use condition::ConditionTrace;
pub use document::{Effect, Policy};
pub use error::PolicyError;
pub use evaluate::{decide, denial_message, Decision, Layer, Matched, Outcome, PolicyLayers};
pub use request::{AuthzRequest, ContextValue, RequestContext, ANONYMOUS};
pub use trace::{layer_name, reasons, trace_policy, StatementTrace};
