//! An ECR endpoint policy that lets nobody call `ecr:GetAuthorizationToken` on `*` breaks `docker login`
//! through the endpoint (Amazon ECR User Guide, "Amazon ECR interface VPC endpoints (AWS PrivateLink)":
//! the example endpoint policies grant it on `"Resource": "*"`, because it is a registry-level action).
//!
//! Published policies do drop it: the AWS blog's final endpoint policy of acceptance story (a) has no such
//! statement, and every pull and push through it then fails at the login, far from the policy's text.
//! Whole-document rule, so it lives apart from the per-element lint in `validate.rs`, which turns the
//! position and message into its `ecr-login-not-allowed` warning (this module imports nothing of it).

use super::actions::glob_matches;
use super::json::{Json, Pos, Spanned};

const LOGIN: &str = "ecr:GetAuthorizationToken";

/// The strings of a string-or-array element (non-strings are other findings' business).
fn texts(value: Option<&Spanned>) -> Vec<&str> {
    match value.map(|v| &v.value) {
        Some(Json::String(s)) => vec![s.as_str()],
        Some(Json::Array(items)) => items.iter().filter_map(Spanned::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether a statement names some `ecr:` action (or every action), so the policy is about ECR.
fn names_ecr(st: &Spanned) -> bool {
    texts(st.get("Action")).into_iter().chain(texts(st.get("NotAction"))).any(|a| {
        a == "*" || a.split_once(':').is_some_and(|(service, _)| service.eq_ignore_ascii_case("ecr"))
    })
}

/// Whether an Allow statement can grant the login: its actions cover it and its resources include `*`.
fn may_grant_login(st: &Spanned) -> bool {
    if st.get("Effect").and_then(Spanned::as_str) != Some("Allow") {
        return false;
    }
    let actions = match st.get("NotAction") {
        Some(not) => !texts(Some(not)).iter().any(|a| glob_matches(a, LOGIN)),
        None => texts(st.get("Action")).iter().any(|a| glob_matches(a, LOGIN)),
    };
    let resources = st.get("NotResource").is_some() || texts(st.get("Resource")).contains(&"*");
    actions && resources
}

/// Where and why an endpoint policy about ECR lets no statement log in, if it does not.
pub(crate) fn login_not_allowed(doc: &Spanned) -> Option<(Pos, String)> {
    let statement = doc.get("Statement")?;
    let statements: Vec<&Spanned> = match &statement.value {
        Json::Array(items) => items.iter().collect(),
        Json::Object(_) => vec![statement],
        _ => return None,
    };
    if !statements.iter().any(|st| names_ecr(st)) || statements.iter().any(|st| may_grant_login(st)) {
        return None;
    }
    Some((
        statement.pos,
        format!(
            "no statement allows {LOGIN} on \"Resource\": \"*\", so docker login (and every pull and push after \
             it) fails through this endpoint: add {{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \
             \"{LOGIN}\", \"Resource\": \"*\"}}"
        ),
    ))
}
