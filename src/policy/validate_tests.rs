//! One row per finding code. Each policy text carries one `@` marking where the finding must point; the
//! marker is removed before linting, so the expected LINE:COL is visible in the row itself.

use super::*;

const ENDPOINT: PolicyKind = PolicyKind::Endpoint;
const IDENTITY: PolicyKind = PolicyKind::Identity;
const RESOURCE: PolicyKind = PolicyKind::Resource;
const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

const GRAMMAR: &str = "IAM User Guide, Grammar of the IAM JSON policy language";
const ELEMENTS: &str = "IAM User Guide, IAM JSON policy element reference";
const VERSION: &str = "IAM User Guide, IAM JSON policy elements: Version";
const PRINCIPAL: &str = "IAM User Guide, AWS JSON policy elements: Principal";
const NOTPRINCIPAL: &str = "IAM User Guide, AWS JSON policy elements: NotPrincipal";
const ACTIONS: &str = "Service Authorization Reference, Actions defined by Amazon Elastic Container Registry";
const ARNS: &str = "IAM User Guide, IAM identifiers (ARNs)";
const SID: &str = "IAM User Guide, IAM JSON policy elements: Sid";
const OPERATORS: &str = "IAM User Guide, IAM JSON policy elements: Condition operators";
const VARIABLES: &str = "IAM User Guide, IAM policy elements: Variables and tags";
const GLOBAL_KEYS: &str = "IAM User Guide, AWS global condition context keys";
const SAR_ECR: &str =
    "Service Authorization Reference, Actions, resources, and condition keys for Amazon ECR";
const ECR_LOGIN: &str = "Amazon ECR User Guide, interface VPC endpoints: GetAuthorizationToken on \"*\"";
const SAR_S3: &str = "Service Authorization Reference, Actions, resources, and condition keys for Amazon S3";
const ENDPOINT_DOC: &str = "AWS PrivateLink Guide, Control access to VPC endpoints using endpoint policies";
const PUBLISHED: &str =
    "AWS Containers blog, ECR VPC endpoint policies: its page prints \"\" where \"*\" was lost";
const LINT: &str = "vpce-proxy lint (not an AWS rule): the statement is almost certainly a mistake";

/// Removes the single `@` marker and returns the text and the marker's position.
fn marked(text: &str) -> (String, Pos) {
    let index = text.find('@').expect("row has an @ marker");
    let before = &text[..index];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
    (format!("{before}{}", &text[index + 1..]), Pos { line, col })
}

/// A one-statement endpoint policy around `body` (the statement's members).
fn endpoint(body: &str) -> String {
    format!("{{\"Version\": \"2012-10-17\",\n \"Statement\": [{{{body}}}]}}")
}

#[test]
fn every_code_is_reported_where_the_mistake_is() {
    let rows: Vec<(&str, PolicyKind, &str, Severity, String)> = vec![
        (GRAMMAR, ENDPOINT, "json-syntax", E, r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",@]}"#.into()),
        (GRAMMAR, ENDPOINT, "duplicate-key", E, r#"{"Version": "2012-10-17", @"Version": "2012-10-17"}"#.into()),
        (GRAMMAR, ENDPOINT, "not-an-object", E, r#"@["Version", "2012-10-17"]"#.into()),
        (GRAMMAR, ENDPOINT, "not-an-object", E, r#"{"Version": "2012-10-17", "Statement": [@"Allow"]}"#.into()),
        (
            GRAMMAR,
            ENDPOINT,
            "type-mismatch",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": @42, "Resource": "*""#),
        ),
        (ELEMENTS, ENDPOINT, "unknown-element", E, r#"{"Version": "2012-10-17", @"Statment": []}"#.into()),
        (
            ELEMENTS,
            ENDPOINT,
            "unknown-element",
            E,
            endpoint(r#"@"effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            VERSION,
            ENDPOINT,
            "missing-version",
            W,
            r#"@{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*"}}"#.into(),
        ),
        (VERSION, ENDPOINT, "old-version", W, r#"{"Version": @"2008-10-17", "Statement": []}"#.into()),
        (VERSION, ENDPOINT, "invalid-version", E, r#"{"Version": @"2024-01-15", "Statement": []}"#.into()),
        (GRAMMAR, ENDPOINT, "missing-statement", E, r#"@{"Version": "2012-10-17"}"#.into()),
        (GRAMMAR, ENDPOINT, "missing-statement", E, r#"{"Version": "2012-10-17", "Statement": @[]}"#.into()),
        (
            GRAMMAR,
            ENDPOINT,
            "conflicting-elements",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", @"NotAction": "s3:*", "Resource": "*""#),
        ),
        (
            GRAMMAR,
            ENDPOINT,
            "missing-effect",
            E,
            r#"{"Version": "2012-10-17", "Statement": [@{"Principal": "*", "Action": "ecr:*", "Resource": "*"}]}"#
                .into(),
        ),
        (
            GRAMMAR,
            ENDPOINT,
            "invalid-effect",
            E,
            endpoint(r#""Effect": @"allow", "Principal": "*", "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            ENDPOINT_DOC,
            ENDPOINT,
            "missing-principal",
            E,
            r#"{"Version": "2012-10-17", "Statement": [@{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}"#
                .into(),
        ),
        (
            PRINCIPAL,
            IDENTITY,
            "principal-not-allowed",
            E,
            endpoint(r#""Effect": "Allow", @"Principal": "*", "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            PRINCIPAL,
            ENDPOINT,
            "invalid-principal",
            E,
            endpoint(r#""Effect": "Allow", "Principal": {"AWS": @"123"}, "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            PRINCIPAL,
            ENDPOINT,
            "invalid-principal",
            E,
            endpoint(r#""Effect": "Allow", "Principal": {@"aws": "*"}, "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            NOTPRINCIPAL,
            ENDPOINT,
            "allow-with-notprincipal",
            W,
            endpoint(r#""Effect": "Allow", @"NotPrincipal": {"AWS": "111122223333"}, "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            GRAMMAR,
            ENDPOINT,
            "missing-action",
            E,
            r#"{"Version": "2012-10-17", "Statement": [@{"Effect": "Allow", "Principal": "*", "Resource": "*"}]}"#
                .into(),
        ),
        (
            ACTIONS,
            ENDPOINT,
            "invalid-action",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": @"PutImage", "Resource": "*""#),
        ),
        (
            ACTIONS,
            ENDPOINT,
            "unknown-action",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": ["ecr:PutImage", @"ecr:BatchGetImages"], "Resource": "*""#,
            ),
        ),
        (
            ACTIONS,
            ENDPOINT,
            "unknown-action",
            W,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": @"ecr:LaunchRocket", "Resource": "*""#),
        ),
        (
            ACTIONS,
            ENDPOINT,
            "unknown-action",
            W,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": @"ecr:Pull*", "Resource": "*""#),
        ),
        (LINT, ENDPOINT, "deny-all-actions", W, endpoint(r#""Effect": "Deny", "Principal": "*", "Action": @"*", "Resource": "*""#)),
        (
            GRAMMAR,
            IDENTITY,
            "missing-resource",
            E,
            r#"{"Version": "2012-10-17", "Statement": [@{"Effect": "Allow", "Action": "ecr:*"}]}"#.into(),
        ),
        (
            ARNS,
            ENDPOINT,
            "invalid-arn",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": @"arn:aws:s3:bucket/*""#),
        ),
        (
            ARNS,
            ENDPOINT,
            "invalid-arn",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": @"arn:amazon:ecr:us-east-1:111122223333:repository/a""#,
            ),
        ),
        (
            ARNS,
            ENDPOINT,
            "invalid-arn",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": @"arn:aws:ecr:us-east-1:11112222333:repository/a""#,
            ),
        ),
        (
            PUBLISHED,
            ENDPOINT,
            "empty-value",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": @"", "Resource": "*""#),
        ),
        (
            PUBLISHED,
            RESOURCE,
            "empty-value",
            E,
            endpoint(r#""Effect": "Allow", "Principal": @"", "Action": "ecr:BatchGetImage""#),
        ),
        (
            PUBLISHED,
            ENDPOINT,
            "empty-value",
            E,
            endpoint(r#""Effect": "Allow", "Principal": {"AWS": @""}, "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            PUBLISHED,
            ENDPOINT,
            "empty-value",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": @[]"#),
        ),
        (
            ACTIONS,
            ENDPOINT,
            "whitespace",
            E,
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:PutImage@ ", "Resource": "*""#),
        ),
        (
            ARNS,
            ENDPOINT,
            "whitespace",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "arn:aws:ecr:us-east-1:@ 111111111111:repository/*""#,
            ),
        ),
        (
            SID,
            ENDPOINT,
            "duplicate-sid",
            E,
            r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage", "Resource": "*"},
  {"Sid": @"Pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:GetDownloadUrlForLayer", "Resource": "*"}]}"#
                .into(),
        ),
        (
            SID,
            IDENTITY,
            "invalid-sid",
            E,
            endpoint(r#""Sid": @"allow pull", "Effect": "Allow", "Action": "ecr:*", "Resource": "*""#),
        ),
        (
            OPERATORS,
            ENDPOINT,
            "unknown-operator",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                   "Condition": {@"StringEqual": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}"#,
            ),
        ),
        (
            OPERATORS,
            ENDPOINT,
            "null-if-exists",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                   "Condition": {@"NullIfExists": {"aws:PrincipalTag/team": "true"}}"#,
            ),
        ),
        (
            GLOBAL_KEYS,
            ENDPOINT,
            "unknown-condition-key",
            E,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                   "Condition": {"StringEquals": {@"aws:PrincipleOrgID": "o-21ej9awi6a"}}"#,
            ),
        ),
        (
            GLOBAL_KEYS,
            ENDPOINT,
            "unknown-condition-key",
            W,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                   "Condition": {"Bool": {@"aws:IsMagic": "true"}}"#,
            ),
        ),
        (
            SAR_ECR,
            ENDPOINT,
            "unknown-condition-key",
            W,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                   "Condition": {"StringEquals": {@"ecr:ResourceTags/team": "platform"}}"#,
            ),
        ),
        (
            SAR_S3,
            ENDPOINT,
            "unknown-condition-key",
            W,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "*",
                   "Condition": {"StringLike": {@"s3:prefx": "home/*"}}"#,
            ),
        ),
        (
            OPERATORS,
            ENDPOINT,
            "single-valued-operator-on-multivalued-key",
            W,
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                   "Condition": {"StringLike": {@"aws:PrincipalOrgPaths": "o-a/r-b/*"}}"#,
            ),
        ),
        (
            ECR_LOGIN,
            ENDPOINT,
            "ecr-login-not-allowed",
            W,
            r#"{"Version": "2012-10-17", "Statement": @[{"Effect": "Allow", "Principal": "*",
   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
   "Resource": "arn:aws:ecr:us-west-2:123456789123:repository/*"}]}"#
                .into(),
        ),
        (
            SAR_ECR,
            IDENTITY,
            "registry-action-needs-star",
            W,
            endpoint(
                r#""Effect": "Allow", "Action": ["ecr:PutImage", @"ecr:DescribePullThroughCacheRules"],
                   "Resource": "arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/*""#,
            ),
        ),
        (
            ACTIONS,
            IDENTITY,
            "registry-action-needs-star",
            W,
            endpoint(
                r#""Effect": "Allow", "Action": ["ecr:PutImage", @"ecr:GetAuthorizationToken"],
                   "Resource": "arn:aws:ecr:us-east-1:709825985650:repository/len-s-mp/*""#,
            ),
        ),
        (
            VARIABLES,
            IDENTITY,
            "variable-needs-version",
            E,
            r#"{"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*",
   "Resource": "arn:aws:ecr:us-east-1:111122223333:repository/@${aws:username}/*"}]}"#
                .into(),
        ),
        (
            VARIABLES,
            IDENTITY,
            "variable-needs-version",
            E,
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:GetObject",
   "Resource": "arn:aws:s3:::bucket/home/@${aws:userid}/*"}}"#
                .into(),
        ),
        (
            VARIABLES,
            IDENTITY,
            "variable-in-arn-prefix",
            E,
            endpoint(
                r#""Effect": "Allow", "Action": "ecr:*",
                   "Resource": "arn:aws:ecr:us-east-1:@${aws:PrincipalAccount}:repository/app""#,
            ),
        ),
        (
            VARIABLES,
            ENDPOINT,
            "variable-in-arn-prefix",
            E,
            r#"{"Version": "2008-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:*",
   "NotResource": "arn:aws:ecr:@${aws:RequestedRegion}:111122223333:repository/${aws:username}"}]}"#
                .into(),
        ),
    ];
    let covered: Vec<&str> = rows.iter().map(|row| row.2).chain(["policy-too-large"]).collect();
    let untested: Vec<&&str> = CODES.iter().filter(|code| !covered.contains(code)).collect();
    assert!(untested.is_empty(), "codes without a row: {untested:?}");
    for (doc, kind, code, severity, text) in rows {
        let (text, pos) = marked(&text);
        let findings = validate(&text, kind);
        let found = findings.iter().find(|f| f.code == code && f.pos == pos);
        let found = found.unwrap_or_else(|| panic!("{code} at {pos} ({doc}) not in {findings:#?}\n{text}"));
        assert_eq!(found.severity, severity, "{code} ({doc})");
        assert!(CODES.contains(&code), "{code} missing from CODES");
    }
}

/// IAM User Guide, Grammar of the IAM JSON policy language: a well-formed policy has no finding.
#[test]
fn a_correct_endpoint_policy_has_no_findings() {
    let text = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:role/ci"]},
     "Action": ["ecr:BatchGetImage", "ecr:Get*"], "Resource": "arn:aws:ecr:us-east-1:111122223333:repository/app/*",
     "Condition": {"ForAnyValue:StringEquals": {"aws:PrincipalOrgPaths": ["o-a/r-b/*"]},
                   "StringEqualsIfExists": {"aws:PrincipalTag/team": "${aws:PrincipalTag/team}"}}},
    {"Sid": "Login", "Effect": "Allow", "Principal": "*", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
     "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-21ej9awi6a"}}}
  ]
}"#;
    assert_eq!(validate(text, ENDPOINT), Vec::<Finding>::new());
}

/// The messages must say what to write instead.
#[test]
fn messages_name_the_fix() {
    let cases = [
        (
            endpoint(r#""Effect": "Allow", "Principal": "", "Action": "ecr:*", "Resource": "*""#),
            "write \"*\"",
        ),
        (
            endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:PutImage ", "Resource": "*""#),
            "write \"ecr:PutImage\"",
        ),
        (
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImages", "Resource": "*""#,
            ),
            "write \"ecr:BatchGetImage\"",
        ),
        (
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*", "Condition": {"ForAnyValue:StringEqual": {"k": "v"}}"#,
            ),
            "write \"ForAnyValue:StringEquals\"",
        ),
        (
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "arn:aws:ecr:us-east-1: 111111111111:repository/*""#,
            ),
            "write \"arn:aws:ecr:us-east-1:111111111111:repository/*\"",
        ),
        (
            endpoint(
                r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/*""#,
            ),
            "${aws:PrincipalAccount} is in the account part of the Resource ARN",
        ),
    ];
    for (text, fix) in cases {
        let findings = validate(&text, ENDPOINT);
        assert!(findings.iter().any(|f| f.message.contains(fix)), "{fix} not in {findings:#?}");
    }
}

/// AWS PrivateLink Guide: 20,480 characters at most, white space included.
#[test]
fn size_limit_counts_every_character_of_an_endpoint_policy() {
    let base = endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*""#);
    let pad = |n: usize| format!("{base}{}", " ".repeat(n - base.chars().count()));
    let at_limit = validate(&pad(ENDPOINT_POLICY_MAX_CHARS), ENDPOINT);
    assert!(at_limit.iter().all(|f| f.code != "policy-too-large"), "{at_limit:?}");
    let over = validate(&pad(ENDPOINT_POLICY_MAX_CHARS + 1), ENDPOINT);
    let finding = over.iter().find(|f| f.code == "policy-too-large").expect("too large");
    assert_eq!((finding.pos, finding.severity), (Pos { line: 1, col: 1 }, E));
    // IAM quotas: white space does not count toward the managed policy limit.
    assert!(validate(&pad(MANAGED_POLICY_MAX_CHARS * 2), IDENTITY)
        .iter()
        .all(|f| f.code != "policy-too-large"));
}

/// A string written with escapes cannot be mapped to a column inside it: point at its start.
#[test]
fn escaped_strings_point_at_their_start() {
    let text =
        endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "\u0065cr:PutImage ", "Resource": "*""#);
    let finding = validate(&text, ENDPOINT).into_iter().find(|f| f.code == "whitespace").expect("whitespace");
    let start = text.find("\"\\u0065").unwrap() - text.find('\n').unwrap();
    assert_eq!(finding.pos, Pos { line: 2, col: start as u32 });
}

#[test]
fn findings_are_sorted_by_position() {
    let text =
        r#"{"Statement": [{"Effect": "allow", "Principal": "", "Action": "ecr:PutImage ", "Resource": ""}]}"#;
    let findings = validate(text, ENDPOINT);
    assert!(findings.len() >= 4, "{findings:#?}");
    assert!(findings.windows(2).all(|w| (w[0].pos.line, w[0].pos.col) <= (w[1].pos.line, w[1].pos.col)));
}

#[test]
fn kind_is_detected_from_principal_resource_and_file_name() {
    let with_principal =
        endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*""#);
    let repository_policy = endpoint(r#""Effect": "Allow", "Principal": "*", "Action": "ecr:*""#);
    let identity = endpoint(r#""Effect": "Allow", "Action": "ecr:*", "Resource": "*""#);
    let rows = [
        ("p.json", with_principal.as_str(), ENDPOINT),
        ("repo.json", repository_policy.as_str(), RESOURCE),
        ("dev.json", identity.as_str(), IDENTITY),
        ("my-vpce-policy.json", identity.as_str(), ENDPOINT),
        ("ecr-endpoint.json", "{not json", ENDPOINT),
        ("x.json", "{not json", IDENTITY),
    ];
    for (name, text, kind) in rows {
        assert_eq!(detect_kind(Path::new(name), text), kind, "{name}");
    }
}

/// IAM User Guide, "IAM policy elements: Variables and tags": a variable in the ARN prefix is literal under
/// every Version, so it is reported once, as `variable-in-arn-prefix`, and not as a Version problem; one in
/// the resource part of the same entry still needs 2012-10-17.
#[test]
fn a_variable_in_the_arn_prefix_is_not_a_version_problem() {
    let text = r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "ecr:*",
   "Resource": "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/${aws:username}"}}"#;
    let line = text.lines().nth(1).expect("two lines");
    let at = |variable: &str| Pos { line: 2, col: line.find(variable).expect("in the text") as u32 + 1 };
    let findings: Vec<(&str, Pos)> = validate(text, IDENTITY)
        .iter()
        .map(|f| (f.code, f.pos))
        .filter(|(code, _)| code.starts_with("variable"))
        .collect();
    let expected = [
        ("variable-in-arn-prefix", at("${aws:PrincipalAccount}")),
        ("variable-needs-version", at("${aws:username}")),
    ];
    assert_eq!(findings, expected);
}
