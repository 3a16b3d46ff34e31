//! The row types of the generated IAM tables (`iam_data.rs`), apart from the queries over them (`iam.rs`):
//! the tables need the types and the queries need the tables, and with both in one file the two would
//! import each other (ARCHITECTURE.md §2: no import cycles). `iam.rs` re-exports them, so the generated
//! file's `use super::iam::{...}` names these.

/// One IAM action of a service.
#[derive(Debug)]
pub(crate) struct ActionData {
    /// The action name without the service prefix (`BatchGetImage`).
    pub(crate) name: &'static str,
    /// Resource types it can be authorized on; empty means IAM authorizes it on `*` only.
    pub(crate) resource_types: &'static [&'static str],
    /// The action-specific keys (and the keys of its resource types); a templated key ends in `/`.
    pub(crate) condition_keys: &'static [&'static str],
}

/// One condition key; `templated` keys take a tag key or name after the slash (`aws:ResourceTag/`).
#[derive(Debug)]
pub(crate) struct KeyData {
    pub(crate) name: &'static str,
    pub(crate) templated: bool,
    pub(crate) kind: KeyType,
}

/// The value type IAM gives a key; `ArrayOf*` keys are multivalued. Only the types the data uses for the
/// covered services: the generator stops on a new one rather than guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    String,
    ArrayOfString,
    Arn,
    Bool,
    Numeric,
    Date,
    IpAddress,
}

impl KeyType {
    /// Whether a request can carry several values (the set operators' domain).
    pub(crate) fn is_multivalued(self) -> bool {
        matches!(self, KeyType::ArrayOfString)
    }
}
