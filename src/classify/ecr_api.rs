//! (placeholder: filled by the classification work)
