//! The per-request facts the evaluator and conditions read: the [`AuthzRequest`] plus keys derived from
//! it (`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:ResourceAccount`).
//!
//! Its own file so that `condition` can read facts without importing `evaluate`, which imports the
//! compiled document and therefore `condition`: the policy modules form a DAG.

use std::borrow::Cow;

use super::iam::KeyScope;
use super::matching::{arn_account, ArnParts};
use super::request::{AuthzRequest, ContextValue, ANONYMOUS};

/// `arn:P:sts::ACCT:assumed-role/ROLE/SESSION` -> (ACCT, ROLE).
pub(crate) fn assumed_role(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (_arn, _partition, service, _region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (account, resource) = (parts.next()?, parts.next()?);
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    (service == "sts" && !role.is_empty()).then_some((account, role))
}

/// The request as the condition and matching code sees it, with derived keys resolved lazily so that a
/// policy that does not read them costs nothing.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    pub(crate) request: &'a AuthzRequest,
    pub(crate) principal_account: Option<&'a str>,
    /// The request's resource, split into ARN segments once.
    pub(crate) resource_parts: ArnParts<'a>,
    /// Which keys IAM gives the request's action, resolved once.
    keys: KeyScope,
}

/// Values of one context key: borrowed from the request, or derived from the principal.
#[derive(Debug)]
pub(crate) enum Found<'a> {
    /// Given by the request.
    Context(&'a ContextValue),
    /// Derived (`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:ResourceAccount`).
    Derived(Cow<'a, str>),
}

impl Found<'_> {
    /// Each value (one for single-valued keys).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let (many, one): (&[String], Option<&str>) = match self {
            Found::Context(ContextValue::Single(v)) => (&[], Some(v)),
            Found::Context(ContextValue::Multi(vs)) => (vs, None),
            Found::Derived(v) => (&[], Some(v)),
        };
        many.iter().map(String::as_str).chain(one)
    }

    /// An empty multivalued key counts as absent for `Null`.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Found::Context(ContextValue::Multi(vs)) if vs.is_empty())
    }
}

impl<'a> Facts<'a> {
    /// Wraps a request.
    pub(crate) fn new(request: &'a AuthzRequest) -> Facts<'a> {
        let principal_account = match request.context.get("aws:principalaccount") {
            Some(ContextValue::Single(v)) => Some(v.as_str()),
            _ => arn_account(&request.principal),
        };
        let keys = KeyScope::of(&request.action);
        Facts { request, principal_account, resource_parts: ArnParts::new(&request.resource), keys }
    }

    /// Looks up a lowercased key; the request's own values win over derived ones. A key IAM does not give
    /// this action (Service Authorization Reference, condition keys column) is absent, whatever was set.
    pub(crate) fn lookup(&self, key: &str) -> Option<Found<'a>> {
        if !self.keys.applies(key) {
            return None;
        }
        if let Some(v) = self.request.context.get(key) {
            return Some(Found::Context(v));
        }
        let principal = self.request.principal.as_str();
        let derived: Cow<'a, str> = match key {
            "aws:principalaccount" => Cow::Borrowed(self.principal_account?),
            "aws:principalarn" if principal != ANONYMOUS => principal_arn(principal),
            "aws:resourceaccount" => Cow::Borrowed(self.resource_account()?),
            _ => return None,
        };
        Some(Found::Derived(derived))
    }

    /// The one value of a single-valued key, for variable substitution; multivalued keys have none.
    pub(crate) fn single(&self, key: &str) -> Option<Cow<'a, str>> {
        match self.lookup(key)? {
            Found::Context(ContextValue::Single(v)) => Some(Cow::Borrowed(v)),
            Found::Context(ContextValue::Multi(_)) => None,
            Found::Derived(v) => Some(v),
        }
    }

    fn resource_account(&self) -> Option<&'a str> {
        self.request.resource_account.as_deref().or_else(|| arn_account(&self.request.resource))
    }

    /// Same-account evaluation applies unless both accounts are known and differ.
    pub(crate) fn same_account(&self) -> bool {
        match (self.principal_account, self.resource_account()) {
            (Some(p), Some(r)) => p == r,
            _ => true,
        }
    }
}

/// `aws:PrincipalArn`: the role ARN for an assumed-role session, the caller's ARN otherwise.
fn principal_arn(principal: &str) -> Cow<'_, str> {
    match assumed_role(principal) {
        Some((account, role)) => {
            let partition = principal.split(':').nth(1).unwrap_or("aws");
            Cow::Owned(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        None => Cow::Borrowed(principal),
    }
}
