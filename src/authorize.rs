//! The one question the proxy asks per request: classify it, find the caller, evaluate the policies.
//!
//! `explain` and the proxy both go through [`Authorizer`], so what `explain` prints is what the proxy does.
//! An `Authorizer` is immutable apart from its bounded token-binding cache, shared across tasks, and swapped
//! whole on reload.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::classify::principal::{Caller, Principals};
use crate::classify::{
    classify, content_length, hosts, BodyView, Classification, Permission, Refusal, RequestHead, Service,
};
use crate::config::{Config, Endpoint};
use crate::policy::{decide, AuthzRequest, Decision, Outcome, Policy, PolicyLayers, RequestContext};

/// Facts about the client connection the request arrived on (not in the HTTP request itself).
#[derive(Debug, Clone, Default)]
pub struct ConnFacts {
    /// The client's address, for source-CIDR principals.
    pub client: Option<SocketAddr>,
    /// `Proxy-Authorization: Basic` credentials presented on CONNECT, if any.
    pub proxy_credentials: Option<(String, String)>,
}

/// Everything known about one request after authorization.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The classification; its context holds every key the policies saw (request, principal, endpoint).
    pub classification: Classification,
    /// The principal ARN or `anonymous`.
    pub principal: String,
    /// The combined decision over every permission the request needs (first refusal wins).
    pub decision: Decision,
}

/// Why an [`Authorizer`] could not be built from a config.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Policies per service plus the identities that resolve principals; immutable, swapped whole on reload.
#[derive(Debug)]
pub struct Authorizer {
    endpoint_policies: [Policy; 3],
    identity_policies: Vec<Option<Vec<Policy>>>,
    principals: Principals,
    endpoint: Endpoint,
    max_body: usize,
}

fn service_index(service: Service) -> usize {
    match service {
        Service::EcrApi => 0,
        Service::EcrDkr => 1,
        Service::S3 => 2,
    }
}

/// Seconds since the epoch; a clock before 1970 reads as 0.
fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Authorizer {
    /// Loads every policy and identity the config names (paths already resolved by `Config::parse`); any bad
    /// file fails the whole load, so a reload never half-applies.
    pub fn from_config(config: &Config) -> Result<Authorizer, LoadError> {
        let mut endpoint_policies = [Policy::allow_all(), Policy::allow_all(), Policy::allow_all()];
        for (key, path) in &config.policies {
            let service = Service::from_key(key).ok_or_else(|| {
                LoadError(format!("[policies] key {key:?} is not a service (ecr.api, ecr.dkr, s3)"))
            })?;
            endpoint_policies[service_index(service)] =
                Policy::from_file(path).map_err(|e| LoadError(e.to_string()))?;
        }
        let mut identity_policies = Vec::with_capacity(config.principals.len());
        for p in &config.principals {
            if p.identity_policies.is_empty() {
                identity_policies.push(None);
                continue;
            }
            let loaded = p
                .identity_policies
                .iter()
                .map(|path| Policy::from_file(path).map_err(|e| LoadError(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            identity_policies.push(Some(loaded));
        }
        let principals = Principals::new(&config.principals).map_err(|e| LoadError(e.to_string()))?;
        Ok(Authorizer {
            endpoint_policies,
            identity_policies,
            principals,
            endpoint: config.endpoint.clone(),
            max_body: config.limits.max_classify_body_bytes,
        })
    }

    /// How many body bytes must be read before [`Authorizer::authorize`] can decide (ECR API JSON);
    /// `None` when the head alone decides. The proxy reads that many bytes, or to the end of a shorter body,
    /// and never more: a 20 MiB layer part is classified from its prefix.
    pub fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize> {
        let host = hosts::parse_host(head.host).ok()?;
        if host.service != Service::EcrApi {
            return None;
        }
        let declared =
            content_length(head.headers).map_or(self.max_body, |n| n.min(self.max_body as u64) as usize);
        Some(declared)
    }

    /// Classifies and decides one request. `Err` means refused before policy (malformed, ambiguous, a bad
    /// signature or not an endpoint host).
    pub fn authorize(
        &self,
        head: &RequestHead<'_>,
        body: Option<&[u8]>,
        conn: &ConnFacts,
    ) -> Result<Verdict, Refusal> {
        hosts::parse_host(head.host)?;
        let body = body.map(|bytes| BodyView { bytes, complete: self.is_complete(head, bytes) });
        let proxy = conn.proxy_credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        let secs = now_secs();
        let caller = self.principals.resolve(head, body, conn.client.map(|a| a.ip()), proxy, secs)?;
        let caller_account = self.principals.account(&caller).or_else(|| self.endpoint.account.clone());
        let mut classification = classify(head, body, caller_account.as_deref())?;
        self.fill_context(&caller, secs, &mut classification.context);
        if let Some(account) = classification.permission.as_ref().and_then(|p| p.resource_account.clone()) {
            classification.context.set("aws:ResourceAccount", account);
        }
        let principal = self.principals.arn(&caller).to_string();
        let decision = self.decide_all(&caller, &principal, &classification);
        Ok(Verdict { classification, principal, decision })
    }

    /// Whether the bytes handed over are the whole body (see [`Authorizer::body_needed`]).
    fn is_complete(&self, head: &RequestHead<'_>, bytes: &[u8]) -> bool {
        match content_length(head.headers) {
            Some(n) => bytes.len() as u64 >= n,
            None => bytes.len() < self.max_body,
        }
    }

    /// Principal keys, the endpoint's identity and the clock (IAM User Guide, "AWS global condition context
    /// keys"); `aws:SourceIp` stays absent, as it is for traffic through a VPC endpoint.
    fn fill_context(&self, caller: &Caller, secs: u64, ctx: &mut RequestContext) {
        self.principals.context(caller, ctx);
        ctx.set("aws:SecureTransport", "true");
        ctx.set("aws:EpochTime", secs.to_string());
        ctx.set("aws:CurrentTime", iso8601(secs));
        if !self.endpoint.id.is_empty() {
            ctx.set("aws:SourceVpce", self.endpoint.id.clone());
        }
        if !self.endpoint.vpc_id.is_empty() {
            ctx.set("aws:SourceVpc", self.endpoint.vpc_id.clone());
        }
        if let Some(account) = &self.endpoint.account {
            ctx.set("aws:VpceAccount", account.clone());
        }
    }

    /// Every permission must be allowed; the first refusal is the answer.
    fn decide_all(&self, caller: &Caller, principal: &str, c: &Classification) -> Decision {
        let layers = PolicyLayers {
            endpoint: Some(&self.endpoint_policies[service_index(c.host.service)]),
            identity: caller.index.and_then(|i| self.identity_policies[i].as_deref()),
            resource: None,
        };
        let mut allowed =
            Decision { outcome: Outcome::Allow, denied_by: None, message: None, matched: Vec::new() };
        for permission in c.permission.iter().chain(&c.additional) {
            let decision = decide(&layers, &request_for(principal, permission, &c.context));
            if decision.outcome != Outcome::Allow {
                return decision;
            }
            allowed.matched.extend(decision.matched);
        }
        allowed
    }

    /// Whether the response to this request should be shown to [`Authorizer::observe_response`]
    /// (a GetAuthorizationToken response carries a registry token to bind to the caller).
    pub fn wants_response(&self, verdict: &Verdict) -> bool {
        verdict.decision.outcome == Outcome::Allow
            && verdict.principal != crate::policy::ANONYMOUS
            && verdict
                .classification
                .permission
                .as_ref()
                .is_some_and(|p| p.action == "ecr:GetAuthorizationToken")
    }

    /// Learns from a response body (token bindings). Bodies are bounded by the caller.
    pub fn observe_response(&self, verdict: &Verdict, status: u16, body: &[u8]) {
        if status != 200 || !self.wants_response(verdict) {
            return;
        }
        if let Some(index) = self.principals.index_of(&verdict.principal) {
            self.principals.learn_tokens(body, index, now_secs());
        }
    }
}

fn request_for(principal: &str, permission: &Permission, context: &RequestContext) -> AuthzRequest {
    let mut context = context.clone();
    if let Some(account) = &permission.resource_account {
        context.set("aws:ResourceAccount", account.clone());
    }
    AuthzRequest {
        principal: principal.to_string(),
        action: permission.action.clone(),
        resource: permission.resource.clone(),
        resource_account: permission.resource_account.clone(),
        context,
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, the form IAM uses for `aws:CurrentTime`.
fn iso8601(secs: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}
