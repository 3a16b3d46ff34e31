//! `generate` over tables of recorded requests. Every generated policy must lint clean as an endpoint
//! policy (`validate --kind endpoint`: no error, no warning) and must allow, under the proxy's own
//! engine, every request it was generated from.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::audit::Disposition;
use crate::policy::validate::{validate, PolicyKind};
use crate::policy::{decide, AuthzRequest, Outcome, Policy, PolicyLayers, RequestContext};

pub(super) const ROLE_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/ci/i-0abc";
pub(super) const OTHER_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/ci/i-0def";
pub(super) const ROLE: &str = "arn:aws:iam::111122223333:role/ci";
pub(super) const USER: &str = "arn:aws:iam::111122223333:user/dev";
pub(super) const AUDITOR: &str = "arn:aws:iam::444455556666:role/auditor";
pub(super) const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/";

pub(super) fn rec(
    service: Service,
    principal: &str,
    action: &str,
    resource: &str,
    status: Option<u16>,
) -> Recorded {
    Recorded {
        file: Arc::from(Path::new("audit.log")),
        line_no: 1,
        request_id: "r".into(),
        event_time: "2024-05-01T10:00:00.000Z".into(),
        service,
        principal: principal.into(),
        action: Some(action.into()),
        resource: Some(resource.into()),
        additional: Vec::new(),
        context: RequestContext::new(),
        decision: Disposition::Decided(Outcome::ImplicitDeny),
        enforced: false,
        upstream_status: status,
        host: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
    }
}

pub(super) fn pull(principal: &str, repo: &str) -> Recorded {
    rec(Service::EcrDkr, principal, "ecr:BatchGetImage", &format!("{REPO}{repo}"), Some(200))
}

pub(super) fn run(records: &[Recorded], options: &Options) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let text = generate(records.iter().cloned().map(Ok), options, &mut notes).expect("a policy");
    (text, notes)
}

pub(super) fn dkr() -> Options {
    Options::new(Service::EcrDkr)
}

/// The findings `validate --kind endpoint` prints, as `LINE:COL code`.
pub(super) fn findings(text: &str) -> Vec<String> {
    validate(text, PolicyKind::Endpoint)
        .iter()
        .map(|f| format!("{} {} {}", f.pos, f.code, f.message))
        .collect()
}

/// Checks the two properties every generated policy has, then returns its statements as JSON values.
pub(super) fn checked(records: &[Recorded], options: &Options) -> (Vec<serde_json::Value>, Vec<String>) {
    let (text, notes) = run(records, options);
    assert_eq!(findings(&text), Vec::<String>::new(), "{text}");
    assert!(text.chars().count() <= options.max_chars);
    let policy = Policy::parse(&text).unwrap();
    for r in records.iter().filter(|r| r.service == options.service && r.succeeded_upstream()) {
        for (action, resource) in r.permissions() {
            let request = AuthzRequest {
                principal: r.principal.clone(),
                action: action.into(),
                resource: resource.into(),
                resource_account: None,
                context: r.context.clone(),
            };
            let layers = PolicyLayers { endpoint: Some(&policy), ..Default::default() };
            assert_eq!(decide(&layers, &request).outcome, Outcome::Allow, "{action} {resource}\n{text}");
        }
    }
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["Version"], "2012-10-17");
    (value["Statement"].as_array().unwrap().clone(), notes)
}

fn strings(v: &serde_json::Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

/// Statements group by principal set, then action set, then resource set (IAM User Guide, "IAM JSON
/// policy elements: Statement": one statement may list several principals, actions and resources).
#[test]
fn principals_with_the_same_permissions_share_a_statement() {
    let mut push = pull(USER, "team/app");
    push.action = Some("ecr:PutImage".into());
    let records = [pull(ROLE_SESSION, "team/app"), pull(USER, "team/app"), pull(ROLE_SESSION, "base"), push];
    let (statements, _) = checked(&records, &dkr());
    let summary: Vec<(Vec<&str>, Vec<&str>, Vec<&str>)> = statements
        .iter()
        .map(|s| (strings(&s["Principal"]["AWS"]), strings(&s["Action"]), strings(&s["Resource"])))
        .collect();
    let app = format!("{REPO}team/app");
    let base = format!("{REPO}base");
    assert_eq!(
        summary,
        [
            (vec![ROLE], vec!["ecr:BatchGetImage"], vec![base.as_str(), app.as_str()]),
            (vec![ROLE, USER], vec!["ecr:GetAuthorizationToken"], vec!["*"]),
            (vec![USER], vec!["ecr:BatchGetImage", "ecr:PutImage"], vec![app.as_str()]),
        ]
    );
}

/// The same log gives the same bytes: statements, principals, actions and resources are sorted.
#[test]
fn output_is_deterministic_whatever_the_line_order() {
    let records = [pull(USER, "b"), pull(ROLE_SESSION, "a"), pull(AUDITOR, "c"), pull(USER, "a")];
    let mut reversed = records.clone();
    reversed.reverse();
    assert_eq!(run(&records, &dkr()).0, run(&reversed, &dkr()).0);
}

/// A session is written as its role, which matches all its sessions (IAM User Guide, "IAM JSON policy
/// elements: Principal", role session principals), whether or not the line carried `aws:principalarn`.
#[test]
fn role_sessions_become_their_role() {
    let mut with_key = pull(OTHER_SESSION, "a");
    with_key.context.set("aws:principalarn", ROLE);
    let (statements, _) = checked(&[pull(ROLE_SESSION, "a"), with_key], &dkr());
    assert_eq!(strings(&statements[0]["Principal"]["AWS"]), [ROLE]);
}

/// What counts: the service's lines whose upstream answered 200..=399 and that needed a permission,
/// whatever was decided or enforced; every permission of the line, a blob mount's source included.
#[test]
fn observed_means_succeeded_upstream_whatever_the_decision() {
    let mut mount = rec(Service::EcrDkr, USER, "ecr:InitiateLayerUpload", &format!("{REPO}app"), Some(201));
    mount.additional.push(("ecr:GetDownloadUrlForLayer".into(), format!("{REPO}base")));
    mount.decision = Disposition::Decided(Outcome::Allow);
    mount.enforced = true;
    let mut redirect = pull(USER, "redirected");
    redirect.upstream_status = Some(307);
    let mut ping = pull(USER, "x");
    (ping.action, ping.resource) = (None, None);
    let records = [
        mount,
        redirect,
        ping,
        pull(USER, "app"),
        rec(Service::EcrDkr, USER, "ecr:PutImage", &format!("{REPO}failed"), Some(404)),
        rec(Service::EcrDkr, USER, "ecr:PutImage", &format!("{REPO}unreached"), None),
        rec(Service::EcrApi, USER, "ecr:DescribeRepositories", "*", Some(200)),
    ];
    let (text, _) = run(&records, &dkr());
    for present in
        ["ecr:InitiateLayerUpload", "ecr:GetDownloadUrlForLayer", "repository/base", "repository/redirected"]
    {
        assert!(text.contains(present), "{present}: {text}");
    }
    for absent in ["ecr:PutImage", "DescribeRepositories", "repository/x\"", "failed", "unreached"] {
        assert!(!text.contains(absent), "{absent}: {text}");
    }
    checked(&records, &dkr());
}

#[test]
fn min_count_drops_rare_triples_and_says_which() {
    let records = [pull(USER, "app"), pull(USER, "app"), pull(ROLE_SESSION, "app"), pull(USER, "once")];
    let options = Options { min_count: 2, ..dkr() };
    let (text, notes) = run(&records, &options);
    assert!(!text.contains("once") && !text.contains(":role/ci"), "{text}");
    assert_eq!(
        notes[..2],
        [
            format!("dropped {ROLE} ecr:BatchGetImage {REPO}app: seen 1 time(s), fewer than --min-count 2"),
            format!("dropped {USER} ecr:BatchGetImage {REPO}once: seen 1 time(s), fewer than --min-count 2"),
        ]
    );
    let everything = Options { min_count: 5, ..dkr() };
    let err = generate(records.iter().cloned().map(Ok), &everything, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("in the audit log after --min-count"), "{err}");
}

/// ECR's layer downloads from S3 are presigned by ECR, so the proxy sees them as anonymous; AWS's own
/// policy for them is `"Principal": "*"` (Amazon ECR User Guide, "Minimum Amazon S3 bucket permissions
/// for Amazon ECR"), which also covers the named callers of the same object.
#[test]
fn anonymous_traffic_is_allowed_to_everyone_for_just_that_permission() {
    let layer = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/111122223333/layer1";
    let other = "arn:aws:s3:::team-artifacts/build.tar";
    let records = [
        rec(Service::S3, "anonymous", "s3:GetObject", layer, Some(200)),
        rec(Service::S3, USER, "s3:GetObject", layer, Some(200)),
        rec(Service::S3, USER, "s3:GetObject", other, Some(206)),
    ];
    let (statements, notes) = checked(&records, &Options::new(Service::S3));
    assert_eq!(statements.len(), 2);
    assert_eq!(
        (&statements[0]["Principal"], strings(&statements[0]["Resource"])),
        (&serde_json::json!({"AWS": [USER]}), vec![other])
    );
    assert_eq!(
        (&statements[1]["Principal"], strings(&statements[1]["Resource"])),
        (&serde_json::json!("*"), vec![layer])
    );
    assert_eq!(notes, ["1 grant(s) to named principals are covered by \"Principal\": \"*\" for the same action and resource, which anonymous requests needed"]);
}

/// `docker login` gets its token from `ecr:GetAuthorizationToken` on the API endpoint, a registry-level
/// action authorized on `*` (Service Authorization Reference, "Actions defined by Amazon Elastic
/// Container Registry": no resource type); the ECR API policy gets it for every registry user.
#[test]
fn the_api_policy_lets_registry_users_log_in() {
    let records = [
        rec(Service::EcrApi, AUDITOR, "ecr:DescribeImages", &format!("{REPO}app"), Some(200)),
        pull(ROLE_SESSION, "app"),
        rec(Service::EcrDkr, "anonymous", "ecr:BatchGetImage", &format!("{REPO}public"), Some(200)),
    ];
    let (statements, notes) = checked(&records, &Options::new(Service::EcrApi));
    let login = statements.iter().find(|s| s["Action"][0] == "ecr:GetAuthorizationToken").unwrap();
    assert_eq!((strings(&login["Principal"]["AWS"]), strings(&login["Resource"])), (vec![ROLE], vec!["*"]));
    assert_eq!(notes, [
        "added ecr:GetAuthorizationToken on \"*\" for 1 principal(s) seen using the registry (ecr.dkr): docker login needs it",
    ]);
}

/// The rule validate enforces (`ecr-login-not-allowed`) is met by any ECR policy; an S3 one needs none.
#[test]
fn every_ecr_policy_allows_the_login_and_s3_ones_do_not() {
    let (_, notes) = checked(&[pull(USER, "a")], &dkr());
    assert_eq!(notes, ["added ecr:GetAuthorizationToken on \"*\" for the 1 principal(s) of this policy: an ECR endpoint policy that allows nobody to log in fails validate (ecr-login-not-allowed); no registry request asks for it, so it allows nothing more here"]);
    let observed_login = rec(Service::EcrApi, USER, "ecr:GetAuthorizationToken", "*", Some(200));
    assert_eq!(checked(&[observed_login], &Options::new(Service::EcrApi)).1, Vec::<String>::new());
    let s3 = rec(Service::S3, USER, "s3:GetObject", "arn:aws:s3:::b/k", Some(200));
    let (text, notes) = run(&[s3], &Options::new(Service::S3));
    assert!(!text.contains("GetAuthorizationToken") && notes.is_empty(), "{text}");
}

#[test]
fn nothing_observed_is_an_error() {
    let records = [rec(Service::EcrApi, USER, "ecr:DescribeImages", "*", Some(200)), pull(USER, "denied")];
    let mut denied = records.clone();
    denied[1].upstream_status = Some(403);
    let err = generate(denied.into_iter().map(Ok), &dkr(), &mut Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "no successful ecr.dkr request that needed a permission is in the audit log: there is nothing to allow, and an endpoint policy needs a statement");
}
