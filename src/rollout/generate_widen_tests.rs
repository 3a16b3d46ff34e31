//! The size limit and the widening steps. AWS PrivateLink Guide, "Control access to VPC endpoints
//! using endpoint policies": an endpoint policy has at most 20,480 characters, white space included.
//! Each step widens only while the policy is too large, in the documented order, one stderr line each.

use super::tests::{checked, dkr, findings, pull, run, AUDITOR, REPO, ROLE, ROLE_SESSION, USER};
use super::*;
use crate::rollout::recorded::Recorded;

const ORG_A: &str = "o-aaaa1111";
const ORG_B: &str = "o-bbbb2222";

/// A caller whose request was decided with `aws:PrincipalOrgID` (IAM User Guide, "AWS global condition
/// context keys"), as the proxy sets it from `[[account]] org_id`.
fn in_org(mut r: Recorded, org: &str) -> Recorded {
    r.context.set("aws:principalorgid", org);
    r
}

fn log() -> Vec<Recorded> {
    let mut put = pull(USER, "base");
    put.action = Some("ecr:PutImage".into());
    vec![
        in_org(pull(ROLE_SESSION, "team/a/x"), ORG_A),
        in_org(pull(ROLE_SESSION, "team/a/y"), ORG_A),
        in_org(pull(ROLE_SESSION, "team/b"), ORG_A),
        in_org(pull(USER, "base"), ORG_A),
        in_org(put, ORG_A),
        in_org(pull(AUDITOR, "other"), ORG_B),
    ]
}

fn widenings(notes: &[String]) -> Vec<&str> {
    notes.iter().map(String::as_str).filter(|n| n.starts_with("widened")).collect()
}

/// With no room at all every step runs, in order, and the policy still does not fit. Step 3 gives
/// nothing here: one account per statement is shorter than `"*"` with a Condition, so it is undone.
#[test]
fn the_steps_run_in_their_documented_order_each_saying_what_it_widened() {
    let mut notes = Vec::new();
    let options = Options { max_chars: 1, ..dkr() };
    let err = generate(log().into_iter().map(Ok), &options, &mut notes).unwrap_err();
    assert!(matches!(err, GenerateError::TooLarge { max: 1, .. }), "{err}");
    assert!(err.to_string().contains("more than the 1 allowed"), "{err}");
    assert_eq!(
        widenings(&notes),
        [
            format!("widened 2 resources under {REPO}team/a/ to {REPO}team/a/*"),
            format!("widened 2 resources under {REPO}team/ to {REPO}team/*"),
            format!(
                "widened 2 principal(s) of account 111122223333 ({ROLE}, {USER}) to the account 111122223333"
            ),
            format!("widened 1 principal(s) of account 444455556666 ({AUDITOR}) to the account 444455556666"),
            format!("widened 3 resources under {REPO} to {REPO}*"),
            "widened 2 actions (ecr:BatchGetImage, ecr:PutImage) to ecr:* for 111122223333 on 1 resource(s)"
                .into(),
        ]
    );
}

/// Widening stops as soon as the policy fits; every intermediate policy lints clean and still allows
/// every request it was generated from.
#[test]
fn each_step_goes_only_as_far_as_needed_and_stays_valid() {
    let records = log();
    let (full, notes) = run(&records, &dkr());
    assert!(widenings(&notes).is_empty());
    let mut max = full.chars().count();
    assert!(widenings(&checked(&records, &Options { max_chars: max, ..dkr() }).1).is_empty());
    let mut seen = 0;
    loop {
        max -= 1;
        let mut notes = Vec::new();
        let options = Options { max_chars: max, ..dkr() };
        match generate(records.iter().cloned().map(Ok), &options, &mut notes) {
            Err(GenerateError::TooLarge { .. }) => break,
            Err(e) => panic!("{e}"),
            Ok(text) => {
                assert!(widenings(&notes).len() >= seen, "{notes:?}");
                seen = widenings(&notes).len();
                checked(&records, &options);
                max = text.chars().count();
            }
        }
    }
    assert_eq!(seen, 6, "every widening was needed once on the way down");
}

/// Step 3 needs an organization for every principal of the statement: an account whose organization
/// nobody knows keeps the statement on accounts.
#[test]
fn organizations_only_when_every_principal_has_one() {
    let stranger = "arn:aws:iam::777788889999:user/x";
    let records = [in_org(pull(USER, "app"), ORG_A), pull(stranger, "app")];
    let mut notes = Vec::new();
    let _ = generate(records.into_iter().map(Ok), &Options { max_chars: 1, ..dkr() }, &mut notes);
    assert!(!notes.iter().any(|n| n.contains("organization")), "{notes:?}");
}

/// `--config`'s `[[account]] org_id` makes the organization known when the log did not carry it; six
/// accounts of one organization are shorter as that organization.
#[test]
fn organizations_from_the_config() {
    let accounts: Vec<String> = (1..=6).map(|i| format!("{i}{i}{i}{i}22223333")).collect();
    let records: Vec<Recorded> =
        accounts.iter().map(|a| pull(&format!("arn:aws:iam::{a}:user/dev"), "app")).collect();
    let orgs = accounts.iter().map(|a| (a.clone(), ORG_A.to_string())).collect();
    let without_orgs = Options { max_chars: 1, ..dkr() };
    let Err(GenerateError::TooLarge { chars, .. }) =
        generate(records.iter().cloned().map(Ok), &without_orgs, &mut Vec::new())
    else {
        panic!("too large")
    };
    let options = Options { max_chars: chars - 1, orgs, ..dkr() };
    let (text, notes) = run(&records, &options);
    let list = accounts.join(", ");
    let org = "(\"Principal\": \"*\" with aws:PrincipalOrgID)";
    assert_eq!(
        widenings(&notes)[6..],
        [
            format!(
                "widened principals {list} to organization {ORG_A} {org} for 1 action(s) on 1 resource(s)"
            ),
            format!(
                "widened principals {list} to organization {ORG_A} {org} for 1 action(s) on 1 resource(s)"
            ),
        ]
    );
    assert!(text.contains("\"aws:PrincipalOrgID\": [\n") && text.contains(ORG_A), "{text}");
    assert_eq!(findings(&text), Vec::<String>::new());
}

/// Three principals pulling 400 repositories is well over 20,480 characters listed one by one; the
/// generated policy fits and lints clean.
#[test]
fn a_large_log_fits_the_endpoint_policy_limit() {
    let principals = [ROLE_SESSION, USER, AUDITOR];
    let records: Vec<Recorded> = (0..400)
        .flat_map(|i| principals.iter().map(move |p| pull(p, &format!("team{}/service-{i:03}", i % 4))))
        .collect();
    let (text, notes) = run(&records, &dkr());
    checked(&records, &dkr());
    assert!(text.len() <= 20_480);
    assert!(widenings(&notes).iter().all(|n| n.starts_with("widened 100 resources under")), "{notes:?}");
}
