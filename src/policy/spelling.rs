//! The one spelling of [`Outcome`] and [`Layer`]: `simulate`, `explain`, the audit log and the metrics
//! all print these names, so they are written here once and serialised through them.

use serde::{Serialize, Serializer};

use super::evaluate::{Layer, Outcome};

impl Outcome {
    /// `Allow`, `ExplicitDeny` or `ImplicitDeny`, as IAM's policy simulator names them.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "Allow",
            Outcome::ExplicitDeny => "ExplicitDeny",
            Outcome::ImplicitDeny => "ImplicitDeny",
        }
    }
}

impl Layer {
    /// `vpc_endpoint`, `identity` or `resource`: the `denied_by` values of the CLI and audit contracts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::VpcEndpoint => "vpc_endpoint",
            Layer::Identity => "identity",
            Layer::Resource => "resource",
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for Layer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names `simulate` prints (the CLI contract in ARCHITECTURE.md): serde and `as_str` agree.
    #[test]
    fn serialised_names_are_the_as_str_names() {
        for outcome in [Outcome::Allow, Outcome::ExplicitDeny, Outcome::ImplicitDeny] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
        for layer in [Layer::VpcEndpoint, Layer::Identity, Layer::Resource] {
            assert_eq!(serde_json::to_value(layer).unwrap(), layer.as_str());
        }
        assert_eq!(Layer::VpcEndpoint.as_str(), "vpc_endpoint");
    }
}
