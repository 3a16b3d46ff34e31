//! The replay tally: the summary line of ARCHITECTURE.md §10, groups, and the exit rule.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::classify::Service;
use crate::policy::{Layer, RequestContext};

fn recorded(id: &str, decision: Outcome, action: &str, resource: &str) -> Recorded {
    Recorded {
        file: Arc::from(Path::new("audit.jsonl")),
        line_no: 7,
        request_id: id.into(),
        event_time: "2026-12-03T10:00:00.000Z".into(),
        service: Service::EcrDkr,
        principal: "arn:aws:iam::123456789123:user/dev".into(),
        action: Some(action.into()),
        resource: Some(resource.into()),
        additional: vec![],
        context: RequestContext::new(),
        decision: Disposition::Decided(decision),
        enforced: false,
        upstream_status: Some(200),
        host: "123456789123.dkr.ecr.us-east-1.amazonaws.com".into(),
    }
}

fn decision(outcome: Outcome) -> Decision {
    let denied_by = (outcome != Outcome::Allow).then_some(Layer::VpcEndpoint);
    Decision { outcome, denied_by, message: None, matched: vec![] }
}

const REPO: &str = "arn:aws:ecr:us-east-1:123456789123:repository/team/app";

#[test]
fn each_request_counts_once_by_how_its_answer_changed() {
    use Outcome::{Allow, ExplicitDeny, ImplicitDeny};
    // (recorded, now, change): an explicit deny that becomes implicit is still a denial.
    let rows = [
        (Allow, Allow, None),
        (Allow, ImplicitDeny, Some(Change::NewlyDenied)),
        (Allow, ExplicitDeny, Some(Change::NewlyDenied)),
        (ImplicitDeny, Allow, Some(Change::NewlyAllowed)),
        (ExplicitDeny, ImplicitDeny, None),
    ];
    let mut tally = Tally::default();
    for (i, (was, now, change)) in rows.into_iter().enumerate() {
        let r = recorded(&i.to_string(), was, "ecr:BatchGetImage", REPO);
        assert_eq!(tally.add(&r, &decision(now)), change, "{was:?} -> {now:?}");
    }
    assert_eq!(tally.summary(), "5 requests: 2 unchanged, 2 newly denied, 1 newly allowed");
    assert!(tally.denies_anything_allowed());
}

#[test]
fn nothing_allowed_becoming_denied_is_exit_zero_and_groups_carry_one_example() {
    let mut tally = Tally::default();
    for id in ["a", "b"] {
        let r = recorded(id, Outcome::ImplicitDeny, "ecr:PutImage", REPO);
        tally.add(&r, &decision(Outcome::Allow));
    }
    assert!(!tally.denies_anything_allowed());
    let mut out = Vec::new();
    tally.print(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "2 requests: 0 unchanged, 0 newly denied, 2 newly allowed");
    assert_eq!(
        lines[1],
        "newly allowed: 2 x arn:aws:iam::123456789123:user/dev ecr:PutImage \
         arn:aws:ecr:us-east-1:123456789123:repository/team/*"
    );
    assert_eq!(
        lines[2],
        "    e.g. audit.jsonl:7 a 2026-12-03T10:00:00.000Z 123456789123.dkr.ecr.us-east-1.amazonaws.com"
    );
    assert_eq!(lines.len(), 3);
}

#[test]
fn resource_prefixes_stop_after_two_path_segments() {
    let rows = [
        ("*", "*"),
        ("arn:aws:ecr:us-east-1:1:repository/app", "arn:aws:ecr:us-east-1:1:repository/app"),
        ("arn:aws:ecr:us-east-1:1:repository/team/app", "arn:aws:ecr:us-east-1:1:repository/team/*"),
        ("arn:aws:s3:::bucket/docker/registry/v2/blobs/sha256/ab/data", "arn:aws:s3:::bucket/docker/*"),
    ];
    for (resource, prefix) in rows {
        assert_eq!(resource_prefix(resource), prefix, "{resource}");
    }
}

#[test]
fn json_names_the_line_and_both_decisions() {
    let r = recorded("x", Outcome::Allow, "ecr:PutImage", REPO);
    let now =
        Decision { message: Some("User: ... is not authorized".into()), ..decision(Outcome::ImplicitDeny) };
    let v = change_json(&r, &now, None);
    assert_eq!((v["was"].as_str(), v["now"].as_str()), (Some("Allow"), Some("ImplicitDeny")));
    assert_eq!(v["deniedBy"], "vpc_endpoint");
    assert_eq!(v["location"], "audit.jsonl:7");
    assert_eq!(v["message"], "User: ... is not authorized");
}
