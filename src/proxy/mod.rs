//! The network edge (placeholder: filled by the proxy work).
