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

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::access_key::account_of_key_id;
use super::parse::QueryPair;
use super::principal_keys::{principal_context, set_anonymous_keys, set_unconfigured_key_keys, ArnFacts};
use super::sigv4::{self, SigV4};
use super::{basic_token, single_header, BodyView, Refusal, RequestHead};
use crate::config::{AccountConfig, PrincipalConfig};
use crate::policy::{RequestContext, ANONYMOUS};

/// How the caller was recognised, for explain output and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An access key id in a SigV4 signature.
    Sigv4,
    /// A registry Basic token, static or learned from GetAuthorizationToken.
    RegistryToken,
    /// `Proxy-Authorization` on CONNECT.
    ProxyCredentials,
    /// The client's address (`source_cidrs`).
    #[serde(rename = "source_cidr")]
    Cidr,
    /// A SigV4 access key id no principal names: `anonymous`, of the account the key id encodes.
    UnconfiguredKey,
    /// None of the above: `anonymous`.
    Anonymous,
}

/// The resolved caller: an index into the configured principals, or anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// Index into the configured principals; `None` for anonymous.
    pub index: Option<usize>,
    /// How it was recognised.
    pub source: Source,
    /// For an anonymous caller that signed with an access key id no principal names: the account the
    /// key id belongs to ([`account_of_key_id`]).
    pub key_account: Option<String>,
}

impl Caller {
    /// A caller recognised as configured principal `index`.
    pub(crate) fn known(index: usize, source: Source) -> Caller {
        Caller { index: Some(index), source, key_account: None }
    }

    /// A caller none of the configured principals is.
    pub(crate) fn anonymous() -> Caller {
        Caller { index: None, source: Source::Anonymous, key_account: None }
    }
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
    /// The `[[account]]` facts, for the organization of callers known only by their key's account.
    accounts: Vec<AccountConfig>,
}

/// How a principal is named in decisions: its ARN, or a service principal's service name.
fn name(p: &PrincipalConfig) -> &str {
    p.service.as_deref().unwrap_or(&p.arn)
}

/// Tokens are looked up by hash, so no map of tokens, static or learned, holds a usable credential.
pub(crate) fn token_key(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Principals {
    /// Indexes the principals; a key id, token or proxy user claimed twice is an error, not a guess.
    pub(crate) fn new(
        list: &[PrincipalConfig],
        accounts: &[AccountConfig],
    ) -> Result<Principals, PrincipalError> {
        let mut by_key_id = HashMap::new();
        let mut static_tokens = HashMap::new();
        let mut proxy_users = HashMap::new();
        for (i, p) in list.iter().enumerate() {
            let err = |m: &str| PrincipalError { arn: name(p).to_string(), message: m.to_string() };
            match (p.arn.is_empty(), &p.service) {
                (true, None) => {
                    return Err(err("arn is empty (set arn, or service for a service principal)"))
                }
                (false, Some(_)) => {
                    return Err(err("a service principal has no arn: set one of arn, service"))
                }
                (_, Some(s)) if !s.ends_with(".amazonaws.com") => {
                    return Err(err("service must be a service principal name such as ecr.amazonaws.com"))
                }
                _ => {}
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
        let contexts = list.iter().map(|p| principal_context(p, accounts)).collect();
        let accounts = accounts.to_vec();
        Ok(Principals { list: list.to_vec(), by_key_id, static_tokens, proxy_users, contexts, accounts })
    }

    /// Whether the token with this hash is a configured `registry_tokens` entry (never asked of a store).
    pub(crate) fn is_static_token(&self, key: &[u8; 32]) -> bool {
        self.static_tokens.contains_key(key)
    }

    /// The first principal with this ARN (to bind a token to the caller a verdict names).
    pub(crate) fn index_of(&self, arn: &str) -> Option<usize> {
        self.list.iter().position(|p| name(p) == arn)
    }

    /// The caller's ARN (a service principal's name) or `anonymous`.
    pub(crate) fn arn(&self, caller: &Caller) -> &str {
        caller.index.map_or(ANONYMOUS, |i| name(&self.list[i]))
    }

    /// Resolves the caller of one request; a SigV4 signature that fails verification is refused. A
    /// registry token no principal is configured with is looked up in `learned`.
    pub(crate) fn resolve(
        &self,
        head: &RequestHead<'_>,
        query: &[QueryPair<'_>],
        body: Option<BodyView<'_>>,
        client: Option<IpAddr>,
        proxy_credentials: Option<(&str, &str)>,
        learned: LearnedTokens<'_>,
    ) -> Result<Caller, Refusal> {
        if let Some(sig) = sigv4::parse_with(head, query)? {
            let caller = self.by_signature(&sig, head, query, body)?;
            return Ok(match (&caller.key_account, caller.index) {
                (Some(account), None) => self.by_source(client, Some(account)).unwrap_or(caller),
                _ => caller,
            });
        }
        if let Some(index) = self.by_basic_token(head, learned)? {
            return Ok(Caller::known(index, Source::RegistryToken));
        }
        if let Some((u, p)) = proxy_credentials {
            if let Some(&i) = self.proxy_users.get(&(u.to_string(), p.to_string())) {
                return Ok(Caller::known(i, Source::ProxyCredentials));
            }
        }
        Ok(self.by_source(client, None).unwrap_or_else(Caller::anonymous))
    }

    /// The principal whose `source_cidrs` hold the client's address: a host's instance role. Its session
    /// keys rotate every few hours, so a signature with a key id no principal names is still that role's
    /// when it comes from the role's host and the key id encodes the role's account (`key_account`).
    fn by_source(&self, client: Option<IpAddr>, key_account: Option<&str>) -> Option<Caller> {
        let ip = client?;
        let index = self.list.iter().position(|p| p.source_cidrs.iter().any(|net| net.contains(&ip)))?;
        let caller = Caller::known(index, Source::Cidr);
        match key_account {
            Some(account) if self.account(&caller).as_deref() != Some(account) => None,
            _ => Some(caller),
        }
    }

    fn by_signature(
        &self,
        sig: &SigV4,
        head: &RequestHead<'_>,
        query: &[QueryPair<'_>],
        body: Option<BodyView<'_>>,
    ) -> Result<Caller, Refusal> {
        let Some(&index) = self.by_key_id.get(&*sig.access_key_id) else {
            let key_account = account_of_key_id(&sig.access_key_id);
            let source = if key_account.is_some() { Source::UnconfiguredKey } else { Source::Anonymous };
            return Ok(Caller { index: None, source, key_account });
        };
        if let Some(secret) = &self.list[index].secret_access_key {
            sigv4::verify(sig, head, query, body, secret)?;
        }
        Ok(Caller::known(index, Source::Sigv4))
    }

    /// `Authorization: Basic base64(USER:TOKEN)`: a static token or one learned from GetAuthorizationToken.
    fn by_basic_token(
        &self,
        head: &RequestHead<'_>,
        learned: LearnedTokens<'_>,
    ) -> Result<Option<usize>, Refusal> {
        let Some(value) = single_header(head.headers, "authorization")? else { return Ok(None) };
        let Some(key) = basic_token_key(value) else { return Ok(None) };
        if let Some(&i) = self.static_tokens.get(&key) {
            return Ok(Some(i));
        }
        Ok(learned(&key).filter(|&i| i < self.list.len()))
    }

    /// Sets the `aws:Principal*`, `aws:username` and `aws:userid` keys for the caller.
    pub(crate) fn context(&self, caller: &Caller, ctx: &mut RequestContext) {
        match (caller.index, &caller.key_account) {
            (Some(index), _) => ctx.extend(&self.contexts[index]),
            (None, Some(account)) => set_unconfigured_key_keys(ctx, account, &self.accounts),
            (None, None) => set_anonymous_keys(ctx),
        }
    }

    /// The account a caller acts in: the configured account, else the one in its ARN.
    /// Borrowed when configured or learned from the access key id, as it is on every request that has one.
    pub(crate) fn account<'s>(&'s self, caller: &'s Caller) -> Option<Cow<'s, str>> {
        let Some(index) = caller.index else { return caller.key_account.as_deref().map(Cow::Borrowed) };
        let p = &self.list[index];
        p.account.as_deref().map(Cow::Borrowed).or_else(|| ArnFacts::of(&p.arn).account.map(Cow::Owned))
    }
}

/// The token hash of an `Authorization: Basic base64(USER:TOKEN)` value; `None` for any other scheme.
pub(crate) fn basic_token_key(authorization: &str) -> Option<[u8; 32]> {
    let encoded = authorization.strip_prefix("Basic ").or_else(|| authorization.strip_prefix("basic "))?;
    basic_password(encoded.trim()).map(|password| token_key(&password))
}

/// `base64(USER:PASSWORD)` -> PASSWORD, as in `Authorization: Basic` and GetAuthorizationToken's
/// `authorizationToken`.
pub(crate) fn basic_password(encoded: &str) -> Option<String> {
    basic_token(encoded).map(|(_, password)| password).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ContextValue;
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
        p.resolve(&head, &[], None, None, None, learned).unwrap()
    }

    /// An instance role is its host's address: unsigned requests from the host are the role, and so are
    /// signatures with a session key id no principal names when the key id encodes the role's account
    /// (AWS STS API Reference, GetAccessKeyInfo); a key of another account, or from another host, is not.
    #[test]
    fn an_instance_role_is_resolved_by_source_address() {
        let mut list = config();
        list.push(PrincipalConfig {
            arn: "arn:aws:sts::123456789123:assumed-role/Admin-Access/i-04c4c603bb7b33708".into(),
            source_cidrs: vec!["10.0.0.0/24".parse().unwrap()],
            ..Default::default()
        });
        let p = Principals::new(&list, &[]).unwrap();
        let host: IpAddr = "10.0.0.5".parse().unwrap();
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        let unsigned = http::HeaderMap::new();
        let rows = [
            (unsigned.clone(), host, Some(2), Source::Cidr),
            (unsigned, other, None, Source::Anonymous),
            (sign("ASIABZPUZDKBVIISEM2E"), host, Some(2), Source::Cidr),
            (sign("ASIABZPUZDKBVIISEM2E"), other, None, Source::UnconfiguredKey),
            (sign("AKIABTX3GSDSVIISEM2E"), host, None, Source::UnconfiguredKey),
            (sign("AKIADEV"), host, Some(0), Source::Sigv4),
        ];
        for (headers, client, index, source) in rows {
            let head = RequestHead { method: "POST", host: "h", path: "/", headers: &headers };
            let got = p.resolve(&head, &[], None, Some(client), None, &|_| None).unwrap();
            assert_eq!((got.index, got.source), (index, source), "{client} {headers:?}");
        }
    }

    /// A registry token no principal is configured with names whoever the learned-token lookup says.
    #[test]
    fn unconfigured_registry_tokens_are_asked_of_the_lookup() {
        let mut list = config();
        list[1].registry_tokens = vec!["static".into()];
        let p = Principals::new(&list, &[]).unwrap();
        let learned_key = token_key("learned");
        let learned = |key: &[u8; 32]| (*key == learned_key).then_some(0);
        let got = resolve(&p, &basic_head("learned"), &learned);
        assert_eq!(got, Caller::known(0, Source::RegistryToken));
        assert_eq!(resolve(&p, &basic_head("static"), &learned).index, Some(1), "configured tokens first");
        assert_eq!(resolve(&p, &basic_head("other"), &learned).source, Source::Anonymous);
        let stale = |_: &[u8; 32]| Some(7);
        assert_eq!(resolve(&p, &basic_head("x"), &stale).source, Source::Anonymous, "index out of range");
    }

    #[test]
    fn duplicate_claims_are_configuration_errors() {
        let mut list = config();
        list[1].access_key_ids = vec!["AKIADEV".into()];
        assert!(Principals::new(&list, &[]).unwrap_err().to_string().contains("access key id"));
        let mut list = config();
        list[1].proxy_user = Some("u".into());
        assert!(Principals::new(&list, &[]).unwrap_err().to_string().contains("go together"));
    }

    /// IAM User Guide, "AWS global condition context keys": aws:PrincipalArn of a session is its role.
    #[test]
    fn context_keys_follow_the_principal() {
        let p = Principals::new(&config(), &[]).unwrap();
        let mut ctx = RequestContext::new();
        p.context(&Caller::known(0, Source::Sigv4), &mut ctx);
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
        p.context(&Caller::known(1, Source::Sigv4), &mut ctx);
        assert_eq!(single(&ctx, "aws:username").unwrap(), "alice");
        assert_eq!(single(&ctx, "aws:PrincipalArn").unwrap(), "arn:aws:iam::111122223333:user/ops/alice");
        let mut ctx = RequestContext::new();
        p.context(&Caller::anonymous(), &mut ctx);
        assert_eq!(single(&ctx, "aws:userid").unwrap(), "anonymous");
        assert!(ctx.get("aws:PrincipalArn").is_none());
        assert!(ctx.get("aws:PrincipalIsAWSService").is_none(), "unsigned: no principal properties");
    }

    fn sign(key_id: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={key_id}/20260101/us-east-1/ecr/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        );
        h.insert("authorization", auth.parse().unwrap());
        h.insert("x-amz-date", "20260101T000000Z".parse().unwrap());
        h
    }

    /// One row per principal property key (IAM User Guide, "AWS global condition context keys"):
    /// (caller, key, value). The organization comes from the principal, else from its `[[account]]`.
    #[test]
    fn principal_properties_per_kind_of_caller() {
        let accounts = [AccountConfig {
            id: "111122223333".into(),
            org_id: Some("o-member".into()),
            org_paths: vec!["o-member/r-1/".into()],
        }];
        let mut list = config();
        list.push(PrincipalConfig { service: Some("ecr.amazonaws.com".into()), ..Default::default() });
        let p = Principals::new(&list, &accounts).unwrap();
        let unconfigured = p.resolve(
            &RequestHead { method: "POST", host: "h", path: "/", headers: &sign("AKIABTX3GSDSVIISEM2E") },
            &[],
            None,
            None,
            None,
            &|_| None,
        );
        let unconfigured = unconfigured.unwrap();
        assert_eq!(unconfigured.source, Source::UnconfiguredKey);
        assert_eq!(p.arn(&unconfigured), ANONYMOUS);
        assert_eq!(p.account(&unconfigured).as_deref(), Some("111122223333"));
        let rows: [(Caller, &str, Option<&str>); 12] = [
            (Caller::known(0, Source::Sigv4), "aws:PrincipalIsAWSService", Some("false")),
            (Caller::known(0, Source::Sigv4), "aws:ViaAWSService", Some("false")),
            (Caller::known(0, Source::Sigv4), "aws:PrincipalOrgID", Some("o-21ej9awi6a")),
            (Caller::known(1, Source::Sigv4), "aws:PrincipalOrgID", Some("o-member")),
            (Caller::known(1, Source::Sigv4), "aws:PrincipalOrgPaths", Some("o-member/r-1/")),
            (Caller::known(2, Source::Cidr), "aws:PrincipalIsAWSService", Some("true")),
            (Caller::known(2, Source::Cidr), "aws:PrincipalServiceName", Some("ecr.amazonaws.com")),
            (Caller::known(2, Source::Cidr), "aws:PrincipalArn", None),
            (Caller::known(2, Source::Cidr), "aws:PrincipalAccount", None),
            (unconfigured.clone(), "aws:PrincipalAccount", Some("111122223333")),
            (unconfigured.clone(), "aws:PrincipalOrgID", Some("o-member")),
            (unconfigured, "aws:PrincipalArn", None),
        ];
        for (caller, key, want) in rows {
            let mut ctx = RequestContext::new();
            p.context(&caller, &mut ctx);
            let got = ctx.get(key).map(|v| v.values().collect::<Vec<_>>().join(","));
            assert_eq!(got.as_deref(), want, "{caller:?} {key}");
        }
        assert_eq!(p.arn(&Caller::known(2, Source::Cidr)), "ecr.amazonaws.com");
    }

    #[test]
    fn a_service_principal_has_a_service_name_and_no_arn() {
        let service = |arn: &str, service: &str| PrincipalConfig {
            arn: arn.into(),
            service: Some(service.into()),
            ..Default::default()
        };
        let err = |p: PrincipalConfig| Principals::new(&[p], &[]).unwrap_err().to_string();
        assert!(err(service("arn:aws:iam::1:role/x", "ecr.amazonaws.com")).contains("no arn"));
        assert!(err(service("", "ecr")).contains("service principal name"));
        assert!(err(PrincipalConfig::default()).contains("arn is empty"));
    }
}
