//! One policy decision, as the proxy makes it per request (ARCHITECTURE.md §7: ≤ 1 µs on the seed policy,
//! ≤ 20 µs on a 20 KB endpoint policy, the AWS size limit for endpoint policies).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use vpce_proxy::policy::{decide, AuthzRequest, Outcome, Policy, PolicyLayers, RequestContext};

/// The shipped seed policy of story (a): what `vpce-proxy run` decides with, not a copy that could drift.
const ORG_ONLY: &str = include_str!("../tests/e2e/policies/org-only-ecr-us-east-1.json");

/// An endpoint policy of 20,000-20,480 characters: one statement per team repository, each with a
/// condition, so a request for the last team walks every statement.
fn large_policy() -> (String, usize) {
    let mut statements = Vec::new();
    let mut len = 0;
    while len < 19_600 {
        let n = statements.len();
        let s = format!(
            r#"{{"Sid": "Team{n:04}", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::123456789123:root"}},
  "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:Put*"],
  "Resource": "arn:aws:ecr:us-east-1:123456789123:repository/team-{n:04}/*",
  "Condition": {{"StringEquals": {{"aws:PrincipalOrgID": "o-21ej9awi6a"}}}}}}"#
        );
        len += s.len() + 2;
        statements.push(s);
    }
    let count = statements.len();
    let mut text =
        format!("{{\"Version\": \"2012-10-17\", \"Statement\": [\n{}\n]}}", statements.join(",\n"));
    while text.chars().count() < 20_200 {
        text.insert(text.len() - 1, ' ');
    }
    assert!((20_000..=20_480).contains(&text.chars().count()), "size {}", text.len());
    (text, count)
}

fn request(resource: &str) -> AuthzRequest {
    let mut context = RequestContext::new();
    context.set("aws:PrincipalOrgID", "o-21ej9awi6a");
    AuthzRequest {
        principal: "arn:aws:sts::123456789123:assumed-role/dev/s1".into(),
        action: "ecr:PutImage".into(),
        resource: resource.into(),
        resource_account: Some("123456789123".into()),
        context,
    }
}

fn bench(c: &mut Criterion) {
    let seed = Policy::parse(ORG_ONLY).expect("seed policy");
    let req = request("arn:aws:ecr:us-east-1:123456789123:repository/app");
    let layers = PolicyLayers { endpoint: Some(&seed), identity: None, resource: None };
    assert_eq!(decide(&layers, &req).outcome, Outcome::Allow, "the seed policy allows an org push");
    c.bench_function("decide/seed_org_only", |b| b.iter(|| decide(black_box(&layers), black_box(&req))));

    let (text, count) = large_policy();
    let large = Policy::parse(&text).expect("large policy");
    let last = format!("arn:aws:ecr:us-east-1:123456789123:repository/team-{:04}/app", count - 1);
    let req = request(&last);
    let layers = PolicyLayers { endpoint: Some(&large), identity: None, resource: None };
    assert_eq!(decide(&layers, &req).matched.len(), 1, "the request matches exactly the last statement");
    let name = format!("decide/endpoint_policy_{}_chars_{count}_statements", text.chars().count());
    c.bench_function(&name, |b| b.iter(|| decide(black_box(&layers), black_box(&req))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
