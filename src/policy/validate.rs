//! (placeholder: filled by the engine/validate work)
