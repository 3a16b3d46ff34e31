//! What a generated policy allows, as a set of (principal, action, resource) grants, and how that set is
//! written as statements: grouped by principal set, then action set, then resource set, so the policy
//! has as few statements as the grants allow and the same grants always print the same bytes.
//!
//! Principal forms follow the IAM User Guide, "IAM JSON policy elements: Principal": an IAM ARN or an
//! account id under `"AWS"`, a service under `"Service"`, and `"*"` for everyone, anonymous included;
//! an organization is `"*"` narrowed by `aws:PrincipalOrgID` ("AWS global condition context keys").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

/// Who a grant is for, ordered as statements are printed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Grantee {
    /// An IAM user or role (a session is written as its role), `{"AWS": ARN}`.
    Arn(String),
    /// Every principal of an account, `{"AWS": "111122223333"}`.
    Account(String),
    /// A service principal, `{"Service": "ecr.amazonaws.com"}`.
    Service(String),
    /// Every principal of an organization: `"*"` with `aws:PrincipalOrgID`.
    Org(String),
    /// Everyone, anonymous included: `"*"`.
    Anyone,
}

/// How notes on stderr name a grantee: the id as the policy writes it.
impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Arn(id) | Grantee::Account(id) | Grantee::Service(id) => f.write_str(id),
            Grantee::Org(org) => write!(f, "organization {org}"),
            Grantee::Anyone => f.write_str("\"*\""),
        }
    }
}

/// One permission for one grantee.
pub(crate) type Grant = (Grantee, String, String);

/// Everything the policy allows.
pub(crate) type Grants = BTreeSet<Grant>;

/// One statement: every grantee may perform every action on every resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Statement {
    pub(crate) grantees: BTreeSet<Grantee>,
    pub(crate) actions: BTreeSet<String>,
    pub(crate) resources: BTreeSet<String>,
}

/// Groups grants into statements. A statement's grantees share the same action set on the same resource
/// set; grantees of different principal forms (`"AWS"`, `"*"`, organizations) are split, since
/// `"Principal": "*"` and a Condition apply to a whole statement.
pub(crate) fn statements(grants: &Grants) -> Vec<Statement> {
    let mut by_grantee_action: BTreeMap<(&Grantee, &str), BTreeSet<String>> = BTreeMap::new();
    for (grantee, action, resource) in grants {
        by_grantee_action.entry((grantee, action)).or_default().insert(resource.clone());
    }
    let mut by_grantee: BTreeMap<&Grantee, BTreeMap<BTreeSet<String>, BTreeSet<String>>> = BTreeMap::new();
    for ((grantee, action), resources) in by_grantee_action {
        by_grantee.entry(grantee).or_default().entry(resources).or_default().insert(action.to_string());
    }
    let mut by_permissions: BTreeMap<(BTreeSet<String>, BTreeSet<String>, u8), BTreeSet<Grantee>> =
        BTreeMap::new();
    for (grantee, groups) in by_grantee {
        for (resources, actions) in groups {
            let form = form(grantee);
            by_permissions.entry((actions, resources, form)).or_default().insert(grantee.clone());
        }
    }
    let mut statements: Vec<Statement> = by_permissions
        .into_iter()
        .map(|((actions, resources, _), grantees)| Statement { grantees, actions, resources })
        .collect();
    statements.sort();
    statements
}

/// Which statements a grantee can share: named principals, organizations, everyone.
fn form(grantee: &Grantee) -> u8 {
    match grantee {
        Grantee::Arn(_) | Grantee::Account(_) | Grantee::Service(_) => 0,
        Grantee::Org(_) => 1,
        Grantee::Anyone => 2,
    }
}

#[derive(Serialize)]
struct PolicyJson {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Statement")]
    statement: Vec<StatementJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatementJson {
    effect: &'static str,
    principal: PrincipalJson,
    action: Vec<String>,
    resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<BTreeMap<&'static str, BTreeMap<&'static str, Vec<String>>>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PrincipalJson {
    Everyone(&'static str),
    Named {
        #[serde(rename = "AWS", skip_serializing_if = "Vec::is_empty")]
        aws: Vec<String>,
        #[serde(rename = "Service", skip_serializing_if = "Vec::is_empty")]
        service: Vec<String>,
    },
}

/// The policy text: Version 2012-10-17 (IAM User Guide, "IAM JSON policy elements: Version"), pretty
/// printed, one newline at the end. Every element is an array, even of one value, so that a grant more
/// or less changes one line of a diff.
pub(crate) fn render(grants: &Grants) -> String {
    let statement = statements(grants).into_iter().map(statement_json).collect();
    let policy = PolicyJson { version: "2012-10-17", statement };
    let mut text = serde_json::to_string_pretty(&policy)
        .unwrap_or_else(|e| unreachable!("a policy of strings serialises: {e}"));
    text.push('\n');
    text
}

fn statement_json(st: Statement) -> StatementJson {
    let (mut aws, mut service, mut orgs) = (Vec::new(), Vec::new(), Vec::new());
    let mut everyone = false;
    for grantee in st.grantees {
        match grantee {
            Grantee::Arn(id) | Grantee::Account(id) => aws.push(id),
            Grantee::Service(name) => service.push(name),
            Grantee::Org(org) => orgs.push(org),
            Grantee::Anyone => everyone = true,
        }
    }
    let principal = if everyone || !orgs.is_empty() {
        PrincipalJson::Everyone("*")
    } else {
        PrincipalJson::Named { aws, service }
    };
    let condition = (!orgs.is_empty() && !everyone)
        .then(|| BTreeMap::from([("StringEquals", BTreeMap::from([("aws:PrincipalOrgID", orgs)]))]));
    StatementJson {
        effect: "Allow",
        principal,
        action: st.actions.into_iter().collect(),
        resource: st.resources.into_iter().collect(),
        condition,
    }
}

/// The size AWS counts: every character, white space included (AWS PrivateLink Guide, "Control access
/// to VPC endpoints using endpoint policies").
pub(crate) fn size(text: &str) -> usize {
    text.chars().count()
}
