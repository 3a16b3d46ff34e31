//! Who is calling (ARCHITECTURE.md §5), in order: a SigV4 access key id, a registry Basic token, proxy
//! credentials presented on CONNECT, the source network, else `anonymous`; and the `aws:Principal*`
//! context keys that go with the caller.
//!
//! A real endpoint learns the caller from AWS's own authentication; a proxy has to be told, so each way of
//! recognising a caller is configured per `[[principal]]`. An access key id no principal claims is reported
//! as `anonymous`: an account cannot be derived from a key id, and the endpoint policy must not treat an
//! unknown caller as anyone in particular.
//!
//! Pure: registry tokens learned from GetAuthorizationToken responses are state kept elsewhere
//! (`crate::bindings`); [`Principals::resolve`] asks for them through the lookup function it is given.

use std::collections::HashMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::sigv4::{self, SigV4};
use super::{basic_token, single_header, BodyView, Refusal, RequestHead};
use crate::config::PrincipalConfig;
use crate::policy::{ContextValue, RequestContext, ANONYMOUS};

/// How the caller was recognised, for explain output and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// An access key id in a SigV4 signature.
    Sigv4,
    /// A registry Basic token, static or learned from GetAuthorizationToken.
    RegistryToken,
    /// `Proxy-Authorization` on CONNECT.
    ProxyCredentials,
    /// The client's address (`source_cidrs`).
    #[serde(rename = "source_cidr")]
    Cidr,
    /// None of the above: `anonymous`.
    Anonymous,
}

/// The resolved caller: an index into the configured principals, or anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// Index into [`Principals::get`]; `None` for anonymous.
    pub index: Option<usize>,
    /// How it was recognised.
    pub source: Source,
}

/// Why the principals in a config cannot be used together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("principal {arn}: {message}")]
pub struct PrincipalError {
    /// The principal whose entry is wrong.
    pub arn: String,
    /// What is wrong.
    pub message: String,
}

/// A lookup of registry tokens learned at run time: the SHA-256 of a token ([`token_key`]) -> the index of
/// the principal it names, if it is bound and unexpired.
pub(crate) type LearnedTokens<'a> = &'a dyn Fn(&[u8; 32]) -> Option<usize>;

/// The configured principals with lookup tables, fixed by the config.
#[derive(Debug)]
pub(crate) struct Principals {
    list: Vec<PrincipalConfig>,
    by_key_id: HashMap<String, usize>,
    static_tokens: HashMap<[u8; 32], usize>,
    proxy_users: HashMap<(String, String), usize>,
    /// Each principal's context keys, built once: deriving them (ARN parsing, key lowercasing) per
    /// request was a visible share of the proxy's CPU.
    contexts: Vec<RequestContext>,
}

/// The `aws:Principal*`, `aws:username` and `aws:userid` keys of one configured principal.
fn principal_context(p: &PrincipalConfig) -> RequestContext {
    let mut ctx = RequestContext::new();
    let facts = ArnFacts::of(&p.arn);
    ctx.set("aws:PrincipalArn", facts.principal_arn);
    if let Some(account) = p.account.clone().or(facts.account) {
        if facts.kind == "Account" {
            ctx.set("aws:userid", account.clone());
        }
        ctx.set("aws:PrincipalAccount", account);
    }
    ctx.set("aws:PrincipalType", facts.kind);
    if let Some(name) = facts.username {
        ctx.set("aws:username", name);
    }
    if let Some(org) = &p.org_id {
        ctx.set("aws:PrincipalOrgID", org.clone());
    }
    if !p.org_paths.is_empty() {
        ctx.insert("aws:PrincipalOrgPaths", ContextValue::Multi(p.org_paths.clone()));
    }
    for (k, v) in &p.tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    ctx
}

/// Tokens are looked up by hash, so no map of tokens, static or learned, holds a usable credential.
pub(crate) fn token_key(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Principals {
    /// Indexes the principals; a key id, token or proxy user claimed twice is an error, not a guess.
    pub(crate) fn new(list: &[PrincipalConfig]) -> Result<Principals, PrincipalError> {
        let mut by_key_id = HashMap::new();
        let mut static_tokens = HashMap::new();
        let mut proxy_users = HashMap::new();
        for (i, p) in list.iter().enumerate() {
            let err = |m: &str| PrincipalError { arn: p.arn.clone(), message: m.to_string() };
            if p.arn.is_empty() {
                return Err(err("arn is empty"));
            }
            for key in &p.access_key_ids {
                if by_key_id.insert(key.clone(), i).is_some() {
                    return Err(err("access key id claimed by two principals"));
                }
            }
            for token in &p.registry_tokens {
                if static_tokens.insert(token_key(token), i).is_some() {
                    return Err(err("registry token claimed by two principals"));
                }
            }
            match (&p.proxy_user, &p.proxy_password) {
                (Some(u), Some(pw)) => {
                    if proxy_users.insert((u.clone(), pw.clone()), i).is_some() {
                        return Err(err("proxy credentials claimed by two principals"));
                    }
                }
                (None, None) => {}
                _ => return Err(err("proxy_user and proxy_password go together")),
            }
        }
        let contexts = list.iter().map(principal_context).collect();
        Ok(Principals { list: list.to_vec(), by_key_id, static_tokens, proxy_users, contexts })
    }

    /// The first principal with this ARN (to bind a token to the caller a verdict names).
    pub(crate) fn index_of(&self, arn: &str) -> Option<usize> {
        self.list.iter().position(|p| p.arn == arn)
    }

    /// The caller's ARN or `anonymous`.
    pub(crate) fn arn(&self, caller: &Caller) -> &str {
        caller.index.map_or(ANONYMOUS, |i| self.list[i].arn.as_str())
    }

    /// Resolves the caller of one request; a SigV4 signature that fails verification is refused. A
    /// registry token no principal is configured with is looked up in `learned`.
    pub(crate) fn resolve(
        &self,
        head: &RequestHead<'_>,
        body: Option<BodyView<'_>>,
        client: Option<IpAddr>,
        proxy_credentials: Option<(&str, &str)>,
        learned: LearnedTokens<'_>,
    ) -> Result<Caller, Refusal> {
        if let Some(sig) = sigv4::parse(head)? {
            return self.by_signature(&sig, head, body);
        }
        if let Some(index) = self.by_basic_token(head, learned)? {
            return Ok(Caller { index: Some(index), source: Source::RegistryToken });
        }
        if let Some((u, p)) = proxy_credentials {
            if let Some(&i) = self.proxy_users.get(&(u.to_string(), p.to_string())) {
                return Ok(Caller { index: Some(i), source: Source::ProxyCredentials });
            }
        }
        if let Some(ip) = client {
            let hit = self.list.iter().position(|p| p.source_cidrs.iter().any(|net| net.contains(&ip)));
            if let Some(i) = hit {
                return Ok(Caller { index: Some(i), source: Source::Cidr });
            }
        }
        Ok(Caller { index: None, source: Source::Anonymous })
    }

    fn by_signature(
        &self,
        sig: &SigV4,
        head: &RequestHead<'_>,
        body: Option<BodyView<'_>>,
    ) -> Result<Caller, Refusal> {
        let Some(&index) = self.by_key_id.get(&sig.access_key_id) else {
            return Ok(Caller { index: None, source: Source::Anonymous });
        };
        if let Some(secret) = &self.list[index].secret_access_key {
            sigv4::verify(sig, head, body, secret)?;
        }
        Ok(Caller { index: Some(index), source: Source::Sigv4 })
    }

    /// `Authorization: Basic base64(USER:TOKEN)`: a static token or one learned from GetAuthorizationToken.
    fn by_basic_token(
        &self,
        head: &RequestHead<'_>,
        learned: LearnedTokens<'_>,
    ) -> Result<Option<usize>, Refusal> {
        let Some(value) = single_header(head.headers, "authorization")? else { return Ok(None) };
        let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
            return Ok(None);
        };
        let Some(password) = basic_password(encoded.trim()) else { return Ok(None) };
        let key = token_key(&password);
        if let Some(&i) = self.static_tokens.get(&key) {
            return Ok(Some(i));
        }
        Ok(learned(&key).filter(|&i| i < self.list.len()))
    }

    /// Sets the `aws:Principal*`, `aws:username` and `aws:userid` keys for the caller.
    pub(crate) fn context(&self, caller: &Caller, ctx: &mut RequestContext) {
        let Some(index) = caller.index else {
            ctx.set("aws:PrincipalType", "Anonymous");
            ctx.set("aws:userid", ANONYMOUS);
            return;
        };
        ctx.extend(&self.contexts[index]);
    }

    /// The account a caller acts in: the configured account, else the one in its ARN.
    pub(crate) fn account(&self, caller: &Caller) -> Option<String> {
        let p = &self.list[caller.index?];
        p.account.clone().or_else(|| ArnFacts::of(&p.arn).account)
    }
}

/// `base64(USER:PASSWORD)` -> PASSWORD, as in `Authorization: Basic` and GetAuthorizationToken's
/// `authorizationToken`.
pub(crate) fn basic_password(encoded: &str) -> Option<String> {
    basic_token(encoded).map(|(_, password)| password).filter(|p| !p.is_empty())
}

/// What an IAM/STS ARN says: the `aws:PrincipalArn` (a session's role), account, type and user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnFacts {
    /// `aws:PrincipalArn`: for `assumed-role/ROLE/SESSION`, the role `arn:P:iam::A:role/ROLE`.
    pub principal_arn: String,
    /// The account field.
    pub account: Option<String>,
    /// `aws:PrincipalType`: `Account`, `User`, `AssumedRole`, `FederatedUser` or `Unknown`.
    pub kind: &'static str,
    /// `aws:username` for IAM users.
    pub username: Option<String>,
}

impl ArnFacts {
    /// Reads an ARN as configured for a principal.
    pub(crate) fn of(arn: &str) -> ArnFacts {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (partition, account, resource) = match parts.as_slice() {
            ["arn", p, _, _, a, r] => (*p, (!a.is_empty()).then(|| a.to_string()), *r),
            _ => {
                return ArnFacts { principal_arn: arn.into(), account: None, kind: "Unknown", username: None }
            }
        };
        let acct = account.clone().unwrap_or_default();
        let mut facts = ArnFacts { principal_arn: arn.into(), account, kind: "Unknown", username: None };
        if resource == "root" {
            facts.kind = "Account";
        } else if let Some(rest) = resource.strip_prefix("user/") {
            facts.kind = "User";
            facts.username = rest.rsplit('/').next().map(str::to_string);
        } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
            facts.kind = "AssumedRole";
            if let Some((role, _session)) = rest.split_once('/') {
                facts.principal_arn = format!("arn:{partition}:iam::{acct}:role/{role}");
            }
        } else if resource.starts_with("federated-user/") {
            facts.kind = "FederatedUser";
        } else if resource.starts_with("role/") {
            facts.kind = "AssumedRole";
        }
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn config() -> Vec<PrincipalConfig> {
        vec![
            PrincipalConfig {
                arn: "arn:aws:sts::123456789123:assumed-role/dev/s1".into(),
                org_id: Some("o-21ej9awi6a".into()),
                org_paths: vec!["o-21ej9awi6a/r-ab12/ou-ab12-1/".into()],
                tags: [("team".to_string(), "blue".to_string())].into(),
                access_key_ids: vec!["AKIADEV".into()],
                ..Default::default()
            },
            PrincipalConfig { arn: "arn:aws:iam::111122223333:user/ops/alice".into(), ..Default::default() },
        ]
    }

    fn basic_head(token: &str) -> http::HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{token}"));
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Basic {encoded}").parse().unwrap());
        h
    }

    fn resolve(p: &Principals, headers: &http::HeaderMap, learned: LearnedTokens<'_>) -> Caller {
        let head = RequestHead { method: "GET", host: "h", path: "/v2/", headers };
        p.resolve(&head, None, None, None, learned).unwrap()
    }

    /// A registry token no principal is configured with names whoever the learned-token lookup says.
    #[test]
    fn unconfigured_registry_tokens_are_asked_of_the_lookup() {
        let mut list = config();
        list[1].registry_tokens = vec!["static".into()];
        let p = Principals::new(&list).unwrap();
        let learned_key = token_key("learned");
        let learned = |key: &[u8; 32]| (*key == learned_key).then_some(0);
        let got = resolve(&p, &basic_head("learned"), &learned);
        assert_eq!(got, Caller { index: Some(0), source: Source::RegistryToken });
        assert_eq!(resolve(&p, &basic_head("static"), &learned).index, Some(1), "configured tokens first");
        assert_eq!(resolve(&p, &basic_head("other"), &learned).source, Source::Anonymous);
        let stale = |_: &[u8; 32]| Some(7);
        assert_eq!(resolve(&p, &basic_head("x"), &stale).source, Source::Anonymous, "index out of range");
    }

    #[test]
    fn duplicate_claims_are_configuration_errors() {
        let mut list = config();
        list[1].access_key_ids = vec!["AKIADEV".into()];
        assert!(Principals::new(&list).unwrap_err().to_string().contains("access key id"));
        let mut list = config();
        list[1].proxy_user = Some("u".into());
        assert!(Principals::new(&list).unwrap_err().to_string().contains("go together"));
    }

    /// IAM User Guide, "AWS global condition context keys": aws:PrincipalArn of a session is its role.
    #[test]
    fn context_keys_follow_the_principal() {
        let p = Principals::new(&config()).unwrap();
        let mut ctx = RequestContext::new();
        p.context(&Caller { index: Some(0), source: Source::Sigv4 }, &mut ctx);
        let single = |c: &RequestContext, k: &str| c.get(k).map(|v| v.values().collect::<Vec<_>>().join(","));
        assert_eq!(single(&ctx, "aws:PrincipalArn").unwrap(), "arn:aws:iam::123456789123:role/dev");
        assert_eq!(single(&ctx, "aws:PrincipalAccount").unwrap(), "123456789123");
        assert_eq!(single(&ctx, "aws:PrincipalOrgID").unwrap(), "o-21ej9awi6a");
        assert_eq!(
            ctx.get("aws:PrincipalOrgPaths"),
            Some(&ContextValue::Multi(vec!["o-21ej9awi6a/r-ab12/ou-ab12-1/".into()]))
        );
        assert_eq!(single(&ctx, "aws:PrincipalTag/team").unwrap(), "blue");
        assert_eq!(single(&ctx, "aws:PrincipalType").unwrap(), "AssumedRole");
        let mut ctx = RequestContext::new();
        p.context(&Caller { index: Some(1), source: Source::Sigv4 }, &mut ctx);
        assert_eq!(single(&ctx, "aws:username").unwrap(), "alice");
        assert_eq!(single(&ctx, "aws:PrincipalArn").unwrap(), "arn:aws:iam::111122223333:user/ops/alice");
        let mut ctx = RequestContext::new();
        p.context(&Caller { index: None, source: Source::Anonymous }, &mut ctx);
        assert_eq!(single(&ctx, "aws:userid").unwrap(), "anonymous");
        assert!(ctx.get("aws:PrincipalArn").is_none());
    }
}
