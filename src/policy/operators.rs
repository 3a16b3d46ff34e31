//! Condition operator names -> their parts: the base operator, the `...IfExists` suffix and the
//! `ForAllValues:`/`ForAnyValue:` set qualifier.
//!
//! One table shared by evaluation (`condition`) and lint (`validate`), so the two can never disagree
//! about which operators exist. Source: IAM User Guide, "IAM JSON policy elements: Condition operators"
//! and "Single-valued vs. multivalued context keys".

/// The operator families of the IAM condition language, without set qualifier or `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BaseOperator {
    /// `StringEquals`: exact, case-sensitive.
    StringEquals,
    /// `StringNotEquals`: negated `StringEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// `StringLike`: `*` and `?` wildcards.
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `NumericEquals`.
    NumericEquals,
    /// `NumericNotEquals`.
    NumericNotEquals,
    /// `NumericLessThan`.
    NumericLessThan,
    /// `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// `NumericGreaterThan`.
    NumericGreaterThan,
    /// `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// `DateEquals`.
    DateEquals,
    /// `DateNotEquals`.
    DateNotEquals,
    /// `DateLessThan`.
    DateLessThan,
    /// `DateLessThanEquals`.
    DateLessThanEquals,
    /// `DateGreaterThan`.
    DateGreaterThan,
    /// `DateGreaterThanEquals`.
    DateGreaterThanEquals,
    /// `Bool`.
    Bool,
    /// `BinaryEquals`: base64 values compared byte for byte.
    BinaryEquals,
    /// `IpAddress`: CIDR match, IPv4 and IPv6.
    IpAddress,
    /// `NotIpAddress`.
    NotIpAddress,
    /// `ArnEquals`: behaves like `ArnLike` (wildcards allowed).
    ArnEquals,
    /// `ArnLike`.
    ArnLike,
    /// `ArnNotEquals`.
    ArnNotEquals,
    /// `ArnNotLike`.
    ArnNotLike,
    /// `Null`: whether the key is absent.
    Null,
}

/// Every base operator with its policy spelling.
pub(crate) const BASE_OPERATORS: [(&str, BaseOperator); 27] = [
    ("StringEquals", BaseOperator::StringEquals),
    ("StringNotEquals", BaseOperator::StringNotEquals),
    ("StringEqualsIgnoreCase", BaseOperator::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", BaseOperator::StringNotEqualsIgnoreCase),
    ("StringLike", BaseOperator::StringLike),
    ("StringNotLike", BaseOperator::StringNotLike),
    ("NumericEquals", BaseOperator::NumericEquals),
    ("NumericNotEquals", BaseOperator::NumericNotEquals),
    ("NumericLessThan", BaseOperator::NumericLessThan),
    ("NumericLessThanEquals", BaseOperator::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOperator::NumericGreaterThan),
    ("NumericGreaterThanEquals", BaseOperator::NumericGreaterThanEquals),
    ("DateEquals", BaseOperator::DateEquals),
    ("DateNotEquals", BaseOperator::DateNotEquals),
    ("DateLessThan", BaseOperator::DateLessThan),
    ("DateLessThanEquals", BaseOperator::DateLessThanEquals),
    ("DateGreaterThan", BaseOperator::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOperator::DateGreaterThanEquals),
    ("Bool", BaseOperator::Bool),
    ("BinaryEquals", BaseOperator::BinaryEquals),
    ("IpAddress", BaseOperator::IpAddress),
    ("NotIpAddress", BaseOperator::NotIpAddress),
    ("ArnEquals", BaseOperator::ArnEquals),
    ("ArnLike", BaseOperator::ArnLike),
    ("ArnNotEquals", BaseOperator::ArnNotEquals),
    ("ArnNotLike", BaseOperator::ArnNotLike),
    ("Null", BaseOperator::Null),
];

impl BaseOperator {
    /// Negated operators (`StringNotEquals`, `NotIpAddress`, ...) match when no value matches, and with
    /// `ForAnyValue:`/`ForAllValues:` AWS applies the negation per value.
    pub(crate) fn is_negated(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// The policy spelling, for messages.
    #[cfg(test)]
    pub(crate) fn name(self) -> &'static str {
        BASE_OPERATORS.iter().find(|(_, op)| *op == self).map_or("?", |(name, _)| name)
    }
}

/// The set qualifier that makes an operator compare multivalued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SetQualifier {
    /// `ForAllValues:`: every request value must match some policy value (true when the key is absent).
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match (false when the key is absent).
    ForAnyValue,
}

/// A condition operator as written in a policy, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ParsedOperator {
    /// The optional `ForAllValues:`/`ForAnyValue:` prefix.
    pub set: Option<SetQualifier>,
    /// The base operator.
    pub base: BaseOperator,
    /// Whether the `IfExists` suffix was present (a missing key then makes the condition true).
    pub if_exists: bool,
}

/// Why an operator name is not one IAM knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OperatorError {
    /// No operator of that name exists.
    #[error("unknown condition operator `{0}`")]
    Unknown(String),
    /// `NullIfExists` is meaningless: `Null` already tests for absence.
    #[error("`Null` cannot take the `IfExists` suffix")]
    NullIfExists,
}

/// Splits an operator name. Operator names are matched exactly as AWS spells them; the set qualifier
/// prefix is matched case-insensitively, as IAM accepts `forallvalues:`.
pub(crate) fn parse_operator(name: &str) -> Result<ParsedOperator, OperatorError> {
    let (set, rest) = split_qualifier(name);
    let (base_name, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let base = BASE_OPERATORS
        .iter()
        .find(|(spelling, _)| *spelling == base_name)
        .map(|(_, op)| *op)
        .ok_or_else(|| OperatorError::Unknown(name.to_string()))?;
    if base == BaseOperator::Null && if_exists {
        return Err(OperatorError::NullIfExists);
    }
    Ok(ParsedOperator { set, base, if_exists })
}

fn split_qualifier(name: &str) -> (Option<SetQualifier>, &str) {
    let qualifiers =
        [("ForAllValues:", SetQualifier::ForAllValues), ("ForAnyValue:", SetQualifier::ForAnyValue)];
    for (prefix, qualifier) in qualifiers {
        if name.len() >= prefix.len()
            && name.is_char_boundary(prefix.len())
            && name[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            return (Some(qualifier), &name[prefix.len()..]);
        }
    }
    (None, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IAM User Guide, "Condition operators": every family, the IfExists suffix and the set qualifiers.
    #[test]
    fn operator_names_split_into_their_parts() {
        let rows: &[(&str, Option<SetQualifier>, BaseOperator, bool)] = &[
            ("StringEquals", None, BaseOperator::StringEquals, false),
            ("StringLikeIfExists", None, BaseOperator::StringLike, true),
            (
                "ForAllValues:StringEquals",
                Some(SetQualifier::ForAllValues),
                BaseOperator::StringEquals,
                false,
            ),
            (
                "ForAnyValue:StringNotLike",
                Some(SetQualifier::ForAnyValue),
                BaseOperator::StringNotLike,
                false,
            ),
            (
                "forallvalues:StringEquals",
                Some(SetQualifier::ForAllValues),
                BaseOperator::StringEquals,
                false,
            ),
            ("NotIpAddressIfExists", None, BaseOperator::NotIpAddress, true),
            ("ArnEquals", None, BaseOperator::ArnEquals, false),
            ("Null", None, BaseOperator::Null, false),
            ("BinaryEquals", None, BaseOperator::BinaryEquals, false),
            ("DateGreaterThanEquals", None, BaseOperator::DateGreaterThanEquals, false),
        ];
        for (name, set, base, if_exists) in rows {
            let parsed = parse_operator(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed, ParsedOperator { set: *set, base: *base, if_exists: *if_exists }, "{name}");
        }
    }

    #[test]
    fn unknown_and_meaningless_operators_are_errors() {
        assert_eq!(parse_operator("StringEqual"), Err(OperatorError::Unknown("StringEqual".into())));
        assert_eq!(parse_operator("NullIfExists"), Err(OperatorError::NullIfExists));
        assert!(parse_operator("ForAllValues:").is_err());
        assert!(parse_operator("IfExists").is_err());
    }

    #[test]
    fn negated_operators_are_the_not_forms() {
        for (name, op) in BASE_OPERATORS {
            assert_eq!(op.is_negated(), name.contains("Not"), "{name}");
            assert_eq!(op.name(), name);
        }
    }
}
