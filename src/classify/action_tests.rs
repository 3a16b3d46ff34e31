//! Checks shared by the classifier modules' tests: every action they can emit is one the generated IAM
//! data defines (Service Authorization Reference), spelled as IAM spells it, since a policy names actions
//! as IAM does and an action IAM does not define is one no endpoint policy statement is written for.

use crate::policy::iam::{self, ActionData};

/// The IAM data for `action` (`ecr:PutImage`); panics unless IAM defines it with exactly this spelling.
pub(super) fn iam_action(action: &str) -> &'static ActionData {
    let (service, name) = action.split_once(':').unwrap_or_else(|| panic!("{action:?} has no service"));
    let data = iam::action(service, name).unwrap_or_else(|| panic!("{action} is not an IAM action"));
    assert_eq!(data.name, name, "{action} is spelled differently in IAM data");
    data
}

/// Every `"ecr:…"` / `"s3:…"` string literal in a classifier file's code (before its tests) names an IAM
/// action (`"s3:GetObject"`) or, when lower case, a condition key (`"s3:prefix"`): a literal the walks
/// over the route tables miss (an additional permission, a service-level route) is still checked.
pub(super) fn assert_literals_are_iam(file: &str, source: &str) {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let mut found = 0;
    for prefix in ["\"ecr:", "\"s3:"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + 1..];
            let literal = &rest[..rest.find('"').unwrap_or(rest.len())];
            if literal.contains('{') {
                continue; // a format string, checked where it is filled in
            }
            let name = &literal[prefix.len() - 1..];
            if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                iam_action(literal);
            } else {
                assert!(iam::find_key(literal).is_some(), "{file}: {literal:?} is not an IAM condition key");
            }
            found += 1;
        }
    }
    assert!(found > 0, "{file}: no action literals found; is the scan still reading the right text?");
}
