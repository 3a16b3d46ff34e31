//! [`PolicyError`], the one failure of compiling policy text, shared by the document and condition
//! compilers; its own file so neither has to import the other for it.

use super::json::Pos;

/// Why policy text is not a valid policy; displays as `FILE:LINE:COL: message` when a file is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct PolicyError {
    /// `FILE:LINE:COL` or `LINE:COL`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    /// An error at a position of the policy text.
    pub fn at(pos: Pos, message: impl Into<String>) -> PolicyError {
        PolicyError { location: pos.to_string(), message: message.into() }
    }

    /// The same error with `prefix:` (a file name or a field of a case file) in front of its location.
    pub fn within(mut self, prefix: &str) -> PolicyError {
        self.location = format!("{prefix}:{}", self.location);
        self
    }
}
