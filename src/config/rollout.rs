//! `[enforcement]`: whether each service's decisions are enforced or only reported (ARCHITECTURE.md §10).
//!
//! Report mode is how a policy is rolled out: run a test cluster through the proxy, decide and audit
//! every request, forward it anyway, and generate or replay policies from the log afterwards.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::classify::Service;

/// What the proxy does with a decision that refuses a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answer the refusal as AWS would; nothing reaches upstream.
    #[default]
    Enforce,
    /// Audit and count the refusal, then forward the request anyway.
    Report,
}

/// The mode of each service: `mode` for all of them, a service key for one.
///
/// ```toml
/// [enforcement]
/// mode = "report"
/// "ecr.api" = "enforce"
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforcement {
    modes: [Mode; 3],
}

impl Enforcement {
    /// The mode for one service.
    pub fn mode(&self, service: Service) -> Mode {
        self.modes[position(service)]
    }

    /// Sets one service's mode (configs built in code, as tests and embedders do).
    pub fn set(&mut self, service: Service, mode: Mode) {
        self.modes[position(service)] = mode;
    }

    /// Whether any service only reports (`/healthz` says which).
    pub fn reporting(&self) -> impl Iterator<Item = Service> + '_ {
        Service::ALL.into_iter().filter(|s| self.mode(*s) == Mode::Report)
    }
}

fn position(service: Service) -> usize {
    Service::ALL.iter().position(|s| *s == service).unwrap_or(0)
}

/// `mode` sets every service, then each service key overrides its own; any other key fails the parse at
/// its line, so a misspelt service never silently stays enforced.
impl<'de> Deserialize<'de> for Enforcement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<String, Mode>::deserialize(d)?;
        let global = table.get("mode").copied().unwrap_or_default();
        let mut enforcement = Enforcement { modes: [global; 3] };
        for (key, mode) in table {
            if key == "mode" {
                continue;
            }
            let service = Service::from_key(&key).ok_or_else(|| {
                D::Error::custom(format!(
                    "[enforcement] key {key:?} is neither \"mode\" nor a service (ecr.api, ecr.dkr, s3)"
                ))
            })?;
            enforcement.modes[position(service)] = mode;
        }
        Ok(enforcement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Enforcement, String> {
        #[derive(Deserialize)]
        struct Wrap {
            enforcement: Enforcement,
        }
        toml::from_str::<Wrap>(text).map(|w| w.enforcement).map_err(|e| e.to_string())
    }

    #[test]
    fn mode_sets_every_service_and_a_service_key_overrides_it() {
        use Mode::{Enforce, Report};
        let rows: [(&str, [Mode; 3]); 5] = [
            ("[enforcement]\n", [Enforce; 3]),
            ("[enforcement]\nmode = \"report\"\n", [Report; 3]),
            ("[enforcement]\n\"ecr.dkr\" = \"report\"\n", [Enforce, Report, Enforce]),
            ("[enforcement]\nmode = \"report\"\n\"ecr.api\" = \"enforce\"\n", [Enforce, Report, Report]),
            ("[enforcement]\n\"s3\" = \"report\"\nmode = \"enforce\"\n", [Enforce, Enforce, Report]),
        ];
        for (text, modes) in rows {
            let e = parse(text).unwrap();
            assert_eq!(Service::ALL.map(|s| e.mode(s)), modes, "{text}");
            let reporting: Vec<Service> = e.reporting().collect();
            assert_eq!(reporting.len(), modes.iter().filter(|m| **m == Report).count(), "{text}");
        }
    }

    #[test]
    fn unknown_keys_and_modes_are_refused() {
        let err = parse("[enforcement]\n\"ecr\" = \"report\"\n").unwrap_err();
        assert!(err.contains("neither \"mode\" nor a service"), "{err}");
        let err = parse("[enforcement]\nmode = \"audit\"\n").unwrap_err();
        assert!(err.contains("unknown variant `audit`"), "{err}");
    }
}
