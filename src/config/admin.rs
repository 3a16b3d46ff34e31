//! `[admin]`: who may read the admin listener, and how many decisions the viewer keeps
//! (ARCHITECTURE.md §11).
//!
//! The viewer shows principals, resources and condition context, which is what the audit log holds; a
//! listener bound beyond loopback should carry a token, so it is parsed and bounded here, never logged.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// Most decisions the viewer may be told to keep: each costs its audit line and record (a few KiB).
pub const MAX_DECISIONS: usize = 100_000;
/// A shorter token is guessable over a network; refused when the file is parsed.
const MIN_TOKEN_CHARS: usize = 16;

/// The admin listener's own settings (its address is `[listen] admin`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// When set, every admin path needs `Authorization: Bearer TOKEN` (or the viewer's session cookie).
    pub token: Option<AdminToken>,
    /// Decisions kept in memory for `GET /` and `/api/decisions`; 0 keeps none (the viewer shows only
    /// what arrives while it is open, and `/api/decisions` is empty).
    #[serde(deserialize_with = "decisions")]
    pub decisions: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { token: None, decisions: 1000 }
    }
}

/// The admin bearer token: compared in constant time, and shown as `<redacted>` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// The secret, for the constant-time comparison and the session cookie's derivation only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for AdminToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let token = String::deserialize(d)?;
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(D::Error::custom(format!("token must be at least {MIN_TOKEN_CHARS} characters")));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(D::Error::custom(
                "token must be printable ASCII without spaces (it is sent in a header)",
            ));
        }
        Ok(AdminToken(token))
    }
}

fn decisions<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = i64::deserialize(d)?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_DECISIONS)
        .ok_or_else(|| D::Error::custom(format!("decisions must be between 0 and {MAX_DECISIONS}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output_and_the_defaults_keep_a_thousand_decisions() {
        let config: AdminConfig = toml::from_str("token = \"s3cret-admin-token-value\"").unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret") && shown.contains("<redacted>"), "{shown}");
        assert_eq!(config.token.as_ref().map(AdminToken::expose), Some("s3cret-admin-token-value"));
        assert_eq!(AdminConfig::default(), AdminConfig { token: None, decisions: 1000 });
    }
}
