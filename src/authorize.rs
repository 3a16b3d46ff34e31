//! The one question the proxy asks per request: classify it, find the caller, evaluate the policies.
//!
//! `explain` and the proxy both go through [`Authorizer`], so what `explain` prints is what the proxy does.
//! An `Authorizer` is immutable apart from the registry tokens it learns ([`Bindings`]), shared across
//! tasks, and swapped whole on reload, when the new one adopts the old one's learned tokens.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use compact_str::{CompactString, ToCompactString};

mod trace;

use trace::Decider;

pub use trace::{Explanation, PolicyTrace, ShadowExplanation};

use crate::audit::Authorization;
use crate::bindings::{now_secs, Bindings};
use crate::classify::principal::{Caller, Principals};
use crate::classify::{
    classify_host, content_length, hosts, request_query, BodyView, Classification, Permission,
    PrincipalSource, Refusal, RequestHead, Service,
};
use crate::config::{Config, Endpoint, Enforcement, Mode};
use crate::directory::Directory;
use crate::load::{service_index, LoadedPolicies};
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
    /// How the caller was recognised (explain says why a signed caller is `anonymous`).
    pub principal_source: PrincipalSource,
    /// The combined decision over every permission the request needs (first refusal wins).
    pub decision: Decision,
    /// The shadow policy's decision, when the service has one (audited when it differs).
    pub shadow: Option<Decision>,
    /// `false` when the service is in report mode: a refusal is audited and counted, and the request
    /// forwarded anyway.
    pub enforced: bool,
}

/// The permissions one request needs: all must be allowed.
#[derive(Debug, Clone, Copy)]
struct Permissions<'a> {
    main: Option<&'a Permission>,
    additional: &'a [Permission],
}

/// Policies per service plus the identities that resolve principals; immutable, swapped whole on reload.
#[derive(Debug)]
pub struct Authorizer {
    endpoint_policies: [Policy; 3],
    /// Candidate endpoint policies, decided beside the live ones and never enforced.
    shadow_policies: [Option<Policy>; 3],
    /// Which services enforce their decisions and which only report them.
    enforcement: Enforcement,
    identity_policies: Vec<Option<Vec<Policy>>>,
    principals: Principals,
    /// Account, repository and bucket facts: the resource context keys.
    directory: Directory,
    /// Repository policies by repository ARN (the resource layer).
    repository_policies: HashMap<String, Policy>,
    /// Registry tokens learned from GetAuthorizationToken responses; one for the process, shared by
    /// every authorizer a reload builds.
    bindings: Arc<Bindings>,
    endpoint: Endpoint,
    max_body: usize,
}

impl Authorizer {
    /// The authorizer for `config` deciding with `policies`, which [`crate::load`] read, linted and
    /// compiled from that config's files (so what decides is what `/healthz` hashed). It starts with no
    /// learned registry tokens of its own; the proxy gives it the process's with [`Authorizer::with_bindings`].
    pub fn new(config: &Config, policies: LoadedPolicies) -> Authorizer {
        let LoadedPolicies { endpoint, shadow, identity, principals, directory, repository, .. } = policies;
        Authorizer {
            endpoint_policies: endpoint,
            shadow_policies: shadow,
            enforcement: config.enforcement,
            identity_policies: identity,
            principals,
            directory,
            repository_policies: repository,
            bindings: Arc::new(Bindings::new()),
            endpoint: config.endpoint.clone(),
            max_body: config.limits.max_classify_body_bytes,
        }
    }

    /// How many body bytes must be read before [`Authorizer::authorize`] can decide (ECR API JSON);
    /// `None` when the head alone decides. The proxy reads that many bytes, or to the end of a shorter body,
    /// and never more: a 20 MiB layer part is classified from its prefix. A body of unknown length
    /// (chunked) is read to one byte past `limits.max_classify_body_bytes`, so one of exactly that length
    /// is known to have ended.
    pub fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize> {
        if hosts::parse_host(head.host).ok()?.service != Service::EcrApi {
            return None;
        }
        let declared =
            content_length(head.headers).map_or(self.max_body + 1, |n| n.min(self.max_body as u64) as usize);
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
        let host = hosts::parse_host(head.host)?;
        let body = body.map(|bytes| BodyView { bytes, complete: self.is_complete(head, bytes) });
        let proxy = conn.proxy_credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        let secs = now_secs();
        let learned =
            |key: &[u8; 32]| self.bindings.lookup(key, secs).and_then(|arn| self.principals.index_of(&arn));
        let query = request_query(head.path)?;
        let client = conn.client.map(|a| a.ip());
        let caller = self.principals.resolve(head, &query, body, client, proxy, &learned)?;
        let caller_account =
            self.principals.account(&caller).or_else(|| self.endpoint.account.as_deref().map(Cow::Borrowed));
        let mut classification = classify_host(host, head, &query, body, caller_account.as_deref())?;
        self.fill_context(&caller, secs, &mut classification.context);
        let principal = self.principals.arn(&caller).to_string();
        let (decision, shadow) = self.decide_all(&caller, principal.clone(), &mut classification);
        let enforced = self.enforces(classification.host.service);
        Ok(Verdict { classification, principal, principal_source: caller.source, decision, shadow, enforced })
    }

    /// Whether the bytes handed over are the whole body (see [`Authorizer::body_needed`]).
    fn is_complete(&self, head: &RequestHead<'_>, bytes: &[u8]) -> bool {
        match content_length(head.headers) {
            Some(n) => bytes.len() as u64 >= n,
            None => bytes.len() <= self.max_body,
        }
    }

    /// Principal keys, the endpoint's identity and the clock (IAM User Guide, "AWS global condition context
    /// keys"); `aws:SourceIp` stays absent, as it is for traffic through a VPC endpoint.
    fn fill_context(&self, caller: &Caller, secs: u64, ctx: &mut RequestContext) {
        self.principals.context(caller, ctx);
        ctx.set("aws:SecureTransport", "true");
        let (epoch, current) = clock_strings(secs);
        ctx.set("aws:EpochTime", epoch);
        ctx.set("aws:CurrentTime", current);
        if !self.endpoint.id.is_empty() {
            ctx.set("aws:SourceVpce", self.endpoint.id.as_str());
        }
        if !self.endpoint.vpc_id.is_empty() {
            ctx.set("aws:SourceVpc", self.endpoint.vpc_id.as_str());
        }
        if let Some(account) = &self.endpoint.account {
            ctx.set("aws:VpceAccount", account.as_str());
        }
    }

    /// The live decision and, when the service has a shadow policy, the shadow one (ARCHITECTURE.md §10).
    fn decide_all(
        &self,
        caller: &Caller,
        principal: String,
        c: &mut Classification,
    ) -> (Decision, Option<Decision>) {
        let identity = caller.index.and_then(|i| self.identity_policies[i].as_deref());
        let service = service_index(c.host.service);
        let permissions = Permissions { main: c.permission.as_ref(), additional: &c.additional };
        let mut request = AuthzRequest {
            principal,
            action: String::new(),
            resource: String::new(),
            resource_account: None,
            context: std::mem::take(&mut c.context),
        };
        let live = self.decide_with(&self.endpoint_policies[service], identity, permissions, &mut request);
        let shadow = self.shadow_policies[service]
            .as_ref()
            .map(|shadow| self.decide_with(shadow, identity, permissions, &mut request));
        c.context = request.context;
        (live, shadow)
    }

    /// Every permission must be allowed; the first refusal is the answer. The context moves into one
    /// request and back, so a request needing several permissions copies nothing; each permission gets
    /// its own resource keys (a blob mount's source repository has its own tags and owner). The context
    /// is left with the main permission's resource keys (explain and the audit line show them).
    fn decide_with(
        &self,
        endpoint: &Policy,
        identity: Option<&[Policy]>,
        permissions: Permissions<'_>,
        request: &mut AuthzRequest,
    ) -> Decision {
        let mut combined =
            Decision { outcome: Outcome::Allow, denied_by: None, message: None, matched: Vec::new() };
        let mut resource_keys = Vec::new();
        let mut last = 0;
        for (i, permission) in permissions.main.into_iter().chain(permissions.additional).enumerate() {
            last = i;
            resource_keys.iter().for_each(|k: &String| request.context.remove(k));
            request.action.clone_from(&permission.action);
            request.resource.clone_from(&permission.resource);
            request.resource_account = self.directory.resource_account(permission);
            resource_keys = self.directory.resource_context(permission, &mut request.context);
            let resource = self.repository_policies.get(&permission.resource);
            let layers = PolicyLayers { endpoint: Some(endpoint), identity, resource };
            let decision = decide(&layers, request);
            if decision.outcome != Outcome::Allow {
                combined = decision;
                break;
            }
            combined.matched.extend(decision.matched);
        }
        // Most requests have one permission, so the main one's keys are already in place.
        if let (true, Some(permission)) = (last > 0, permissions.main) {
            resource_keys.iter().for_each(|k| request.context.remove(k));
            self.directory.resource_context(permission, &mut request.context);
        }
        combined
    }

    /// Decides a request recorded in the audit log again under this authorizer's policies
    /// (`vpce-proxy replay`): the recorded context, with the resource keys recomputed from this config's
    /// facts, the principal's identity policies and the repository policies from this config.
    pub fn redecide(
        &self,
        service: Service,
        principal: &str,
        permissions: (Option<&Permission>, &[Permission]),
        mut context: RequestContext,
    ) -> Decision {
        context.retain(|key| !crate::directory::is_resource_key(key));
        let identity = self.identity_of(principal);
        let mut request = AuthzRequest {
            principal: principal.to_string(),
            action: String::new(),
            resource: String::new(),
            resource_account: None,
            context,
        };
        let permissions = Permissions { main: permissions.0, additional: permissions.1 };
        self.decide_with(&self.endpoint_policies[service_index(service)], identity, permissions, &mut request)
    }

    /// Whether `service` only reports its refusals (`[enforcement]`, ARCHITECTURE.md §10).
    pub fn enforces(&self, service: Service) -> bool {
        self.enforcement.mode(service) == Mode::Enforce
    }

    /// Whether the response to this request should be shown to [`Authorizer::observe_response`]
    /// (a GetAuthorizationToken response carries a registry token to bind to the caller).
    /// A refusal only reported was forwarded too, so its caller's token is learned as in production.
    pub fn wants_response(&self, verdict: &Verdict) -> bool {
        (verdict.decision.outcome == Outcome::Allow || !verdict.enforced)
            && verdict.principal != crate::policy::ANONYMOUS
            && verdict
                .classification
                .permission
                .as_ref()
                .is_some_and(|p| p.action == "ecr:GetAuthorizationToken")
    }

    /// Decides with `bindings` (the process's, kept across reloads) instead of a fresh memory. A binding
    /// whose principal a reload removed resolves to `anonymous`, since lookups go through this config's
    /// principals.
    pub fn with_bindings(mut self, bindings: Arc<Bindings>) -> Authorizer {
        self.bindings = bindings;
        self
    }

    /// The registry tokens this authorizer decides with.
    pub fn bindings(&self) -> &Arc<Bindings> {
        &self.bindings
    }

    /// Learns from a response body (token bindings). Bodies are bounded by the caller.
    pub fn observe_response(&self, verdict: &Verdict, status: u16, body: &[u8]) {
        if status != 200 || !self.wants_response(verdict) {
            return;
        }
        if self.principals.index_of(&verdict.principal).is_some() {
            self.bindings.learn(body, &verdict.principal, now_secs());
        }
    }
}

impl Authorizer {
    /// Explains a recorded decision under this authorizer's policies (the decision viewer's detail
    /// pane, ARCHITECTURE.md §11); `None` for a request that needed no permission or was not decided.
    pub fn explain(
        &self,
        service: Service,
        principal: &str,
        authorization: &Authorization,
    ) -> Option<Explanation> {
        let i = service_index(service);
        let policies = (&self.endpoint_policies[i], self.shadow_policies[i].as_ref());
        trace::explain(self, service, policies, principal, authorization)
    }

    /// The caller's identity policies, when `[[principal]]` gives it any.
    fn identity_of(&self, principal: &str) -> Option<&[Policy]> {
        self.principals.index_of(principal).and_then(|i| self.identity_policies[i].as_deref())
    }
}

impl Decider for Authorizer {
    fn decide_one(
        &self,
        endpoint: &Policy,
        identity: Option<&[Policy]>,
        permission: &Permission,
        request: &mut AuthzRequest,
    ) -> Decision {
        let one = Permissions { main: Some(permission), additional: &[] };
        self.decide_with(endpoint, identity, one, request)
    }

    fn identity_of(&self, principal: &str) -> Option<&[Policy]> {
        Authorizer::identity_of(self, principal)
    }

    fn repository_policy(&self, resource: &str) -> Option<&Policy> {
        self.repository_policies.get(resource)
    }
}

/// A lookup in the shared binding store, awaited by the edge before [`Authorize::authorize`].
pub type Warming<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// The four questions the proxy asks per request. A trait (rather than [`Authorizer`] itself) so the
/// proxy can be tested with a scripted decider, independently of the policy engine.
pub trait Authorize: Send + Sync {
    /// See [`Authorizer::body_needed`].
    fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize>;
    /// See [`Authorizer::authorize`].
    fn authorize(
        &self,
        head: &RequestHead<'_>,
        body: Option<&[u8]>,
        conn: &ConnFacts,
    ) -> Result<Verdict, Refusal>;
    /// See [`Authorizer::wants_response`].
    fn wants_response(&self, verdict: &Verdict) -> bool;
    /// See [`Authorizer::observe_response`].
    fn observe_response(&self, verdict: &Verdict, status: u16, body: &[u8]);
    /// The lookup in the shared binding store this request needs before it can be decided (its
    /// registry token is neither configured nor in memory), or `None`; see [`Bindings::warm`]. A
    /// scripted test decider needs none.
    fn warm<'a>(&'a self, _headers: &http::HeaderMap) -> Option<Warming<'a>> {
        None
    }
    /// See [`Authorizer::explain`]; the decision viewer's detail pane. An authorizer without policies
    /// (a test's scripted one) explains nothing.
    fn explain(
        &self,
        _service: Service,
        _principal: &str,
        _authorization: &Authorization,
    ) -> Option<Explanation> {
        None
    }
}

impl Authorize for Authorizer {
    fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize> {
        Authorizer::body_needed(self, head)
    }
    fn authorize(
        &self,
        head: &RequestHead<'_>,
        body: Option<&[u8]>,
        conn: &ConnFacts,
    ) -> Result<Verdict, Refusal> {
        Authorizer::authorize(self, head, body, conn)
    }
    fn wants_response(&self, verdict: &Verdict) -> bool {
        Authorizer::wants_response(self, verdict)
    }
    fn observe_response(&self, verdict: &Verdict, status: u16, body: &[u8]) {
        Authorizer::observe_response(self, verdict, status, body)
    }
    fn warm<'a>(&'a self, headers: &http::HeaderMap) -> Option<Warming<'a>> {
        let key = self.bindings.missing(headers).filter(|key| !self.principals.is_static_token(key))?;
        Some(Box::pin(self.bindings.warm(key)))
    }
    fn explain(
        &self,
        service: Service,
        principal: &str,
        authorization: &Authorization,
    ) -> Option<Explanation> {
        Authorizer::explain(self, service, principal, authorization)
    }
}

/// Where the edge gets the authorizer for one request: taken once per request, so a reload never changes
/// the policy a request started under.
pub trait AuthorizerSource: Send + Sync {
    /// The authorizer in force now.
    fn current(&self) -> Arc<dyn Authorize>;
}

/// `YYYY-MM-DDThh:mm:ssZ`, the form IAM uses for `aws:CurrentTime`.
/// `aws:EpochTime` and `aws:CurrentTime` for `secs`, formatted once per second per thread: every request
/// in that second reuses them (formatting dates was a visible share of per-request CPU).
fn clock_strings(secs: u64) -> (CompactString, CompactString) {
    const EMPTY: CompactString = CompactString::const_new("");
    thread_local! {
        static LAST: std::cell::RefCell<(u64, CompactString, CompactString)> =
            const { std::cell::RefCell::new((u64::MAX, EMPTY, EMPTY)) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            *last = (secs, secs.to_compact_string(), iso8601(secs).into());
        }
        (last.1.clone(), last.2.clone())
    })
}

fn iso8601(secs: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use base64::Engine;

    use super::*;
    use crate::config::Limits;
    use crate::load::{load_policies, Fingerprints};
    use crate::policy::Layer;

    /// ARCHITECTURE.md §1 seed scenario (a): only account 123456789123's repositories, only principals of
    /// o-21ej9awi6a, never DeleteRepository on base-image3 (AWS PrivateLink Guide, "Control access to VPC
    /// endpoints using endpoint policies"; Amazon ECR User Guide, "Interface VPC endpoints").
    const ORG_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[
      {"Sid":"OwnAccountOrgOnly","Effect":"Allow","Principal":"*","Action":"ecr:*",
       "Resource":["arn:aws:ecr:*:123456789123:repository/*","*"],
       "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-21ej9awi6a"}}},
      {"Sid":"NoDeleteBase3","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository",
       "Resource":"arn:aws:ecr:*:123456789123:repository/base-image3"}]}"#;

    /// Seed scenario (b): the Marketplace developer may push only to len-s-mp/sample-repository*.
    const DEVELOPER: &str = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":["ecr:GetAuthorizationToken"],"Resource":"*"},
      {"Effect":"Allow","Action":["ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload",
        "ecr:PutImage","ecr:BatchCheckLayerAvailability","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
       "Resource":"arn:aws:ecr:us-east-1:123456789123:repository/len-s-mp/sample-repository*"}]}"#;

    fn authorizer(dir: &Path, extra: &str) -> Authorizer {
        std::fs::write(dir.join("org.json"), ORG_ONLY).unwrap();
        std::fs::write(dir.join("dev.json"), DEVELOPER).unwrap();
        let text = format!(
            r#"[policies]
"ecr.api" = "org.json"
"ecr.dkr" = "org.json"

[[principal]]
arn = "arn:aws:sts::123456789123:assumed-role/admin/s1"
org_id = "o-21ej9awi6a"
access_key_ids = ["AKIAADMIN"]

[[principal]]
arn = "arn:aws:sts::123456789123:assumed-role/developer/s2"
org_id = "o-21ej9awi6a"
access_key_ids = ["AKIADEV"]
identity_policies = ["dev.json"]
{extra}
"#
        );
        let config = Config::parse(&text, &dir.join("vpce-proxy.toml")).unwrap();
        Authorizer::new(&config, load_policies(&config, &mut Fingerprints::default()).unwrap())
    }

    fn api_headers(key: &str, op: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("x-amz-target", format!("AmazonEC2ContainerRegistry_V20150921.{op}").parse().unwrap());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=00"
        );
        h.insert("authorization", auth.parse().unwrap());
        h.insert("x-amz-date", "20260101T000000Z".parse().unwrap());
        h
    }

    /// The head of an ECR API call as the SDKs send it: `POST /` on the regional API host.
    fn api_head(headers: &http::HeaderMap) -> RequestHead<'_> {
        RequestHead { method: "POST", host: "api.ecr.us-east-1.amazonaws.com", path: "/", headers }
    }

    fn api_call(a: &Authorizer, key: &str, op: &str, body: &str) -> Result<Verdict, Refusal> {
        let headers = api_headers(key, op);
        a.authorize(&api_head(&headers), Some(body.as_bytes()), &ConnFacts::default())
    }

    fn registry(a: &Authorizer, method: &str, path: &str, headers: &http::HeaderMap) -> Verdict {
        let head =
            RequestHead { method, host: "123456789123.dkr.ecr.us-east-1.amazonaws.com", path, headers };
        a.authorize(&head, None, &ConnFacts::default()).unwrap()
    }

    #[test]
    fn the_authorizer_is_shared_across_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<Authorizer>();
    }

    #[test]
    fn seed_scenario_a_org_only_endpoint_policy() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "");
        let allowed = api_call(&a, "AKIAADMIN", "DescribeImages", r#"{"repositoryName":"app"}"#).unwrap();
        assert_eq!(allowed.decision.outcome, Outcome::Allow);
        let denied =
            api_call(&a, "AKIAADMIN", "DeleteRepository", r#"{"repositoryName":"base-image3"}"#).unwrap();
        assert_eq!(
            (denied.decision.outcome, denied.decision.denied_by),
            (Outcome::ExplicitDeny, Some(Layer::VpcEndpoint))
        );
        let message = denied.decision.message.unwrap();
        assert!(message.contains("ecr:DeleteRepository") && message.contains("explicit deny"), "{message}");
        let anonymous = api_call(
            &a,
            "AKIAUNKNOWN",
            "DescribeImages",
            r#"{"registryId":"123456789123","repositoryName":"app"}"#,
        )
        .unwrap();
        assert_eq!(
            (anonymous.principal.as_str(), anonymous.decision.outcome),
            ("anonymous", Outcome::ImplicitDeny)
        );
    }

    #[test]
    fn seed_scenario_b_developer_pushes_only_to_sample_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "");
        let ok = api_call(
            &a,
            "AKIADEV",
            "InitiateLayerUpload",
            r#"{"repositoryName":"len-s-mp/sample-repository-1"}"#,
        );
        assert_eq!(ok.unwrap().decision.outcome, Outcome::Allow);
        let no = api_call(
            &a,
            "AKIADEV",
            "InitiateLayerUpload",
            r#"{"repositoryName":"len-s-mp/prod-repository"}"#,
        )
        .unwrap();
        assert_eq!(
            (no.decision.outcome, no.decision.denied_by),
            (Outcome::ImplicitDeny, Some(Layer::Identity))
        );
        let message = no.decision.message.unwrap();
        assert!(
            message.contains("because no identity-based policy allows the ecr:InitiateLayerUpload action"),
            "{message}"
        );
    }

    /// A cross-repository mount reads the source: both permissions must be allowed, first refusal wins.
    /// Amazon ECR User Guide, "Private repository policies" with IAM's "Policy evaluation logic": in one
    /// account a repository policy naming the caller grants without an identity policy, an explicit deny in
    /// it wins, and a caller it does not name needs an identity-policy allow.
    #[test]
    fn a_repository_policy_is_the_resource_layer_of_its_repository() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("app-repo.json"),
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"AdminReads","Effect":"Allow",
               "Principal":{"AWS":"arn:aws:sts::123456789123:assumed-role/admin/s1"},"Action":"ecr:DescribeImages"},
              {"Sid":"NobodyDeletes","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]}"#,
        )
        .unwrap();
        let repo = "[[repository]]\narn = \"arn:aws:ecr:us-east-1:123456789123:repository/app\"\npolicy = \"app-repo.json\"";
        let a = authorizer(dir.path(), &format!("\n{repo}"));
        let body = r#"{"repositoryName": "app"}"#;
        let v = api_call(&a, "AKIAADMIN", "DescribeImages", body).unwrap();
        assert_eq!(v.decision.outcome, Outcome::Allow, "{:?}", v.decision);
        let v = api_call(&a, "AKIAADMIN", "DeleteRepository", body).unwrap();
        assert_eq!(
            (v.decision.outcome, v.decision.denied_by),
            (Outcome::ExplicitDeny, Some(Layer::Resource))
        );
        // The policy is attached and allows DEV nothing: the resource layer is what refused (ARCHITECTURE.md §3).
        let v = api_call(&a, "AKIADEV", "DescribeImages", body).unwrap();
        assert_eq!(
            (v.decision.outcome, v.decision.denied_by),
            (Outcome::ImplicitDeny, Some(Layer::Resource))
        );
        let other = api_call(&a, "AKIAADMIN", "DescribeImages", r#"{"repositoryName": "other"}"#).unwrap();
        assert_eq!(other.decision.outcome, Outcome::Allow, "no repository policy: the layers as before");
    }

    /// IAM User Guide, "AWS global condition context keys", aws:ResourceTag: each permission of a request
    /// is judged on its own resource's tags; a blob mount's source keeps none of the target's.
    #[test]
    fn resource_tags_are_set_per_permission() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("no-prod.json"),
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
              {"Sid":"NoProd","Effect":"Deny","Principal":"*","Action":"*","Resource":"*",
               "Condition":{"StringEquals":{"ecr:ResourceTag/tier":"prod"}}}]}"#,
        )
        .unwrap();
        let text = r#"[policies]
"ecr.dkr" = "no-prod.json"
[[repository]]
arn = "arn:aws:ecr:us-east-1:123456789123:repository/base/prod"
tags = { tier = "prod" }
[[repository]]
arn = "arn:aws:ecr:us-east-1:123456789123:repository/team/app"
tags = { tier = "dev" }
"#;
        let config = Config::parse(text, &dir.path().join("vpce-proxy.toml")).unwrap();
        let a = Authorizer::new(&config, load_policies(&config, &mut Fingerprints::default()).unwrap());
        let d = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
        let headers = http::HeaderMap::new();
        let mount = |from: &str| format!("/v2/team/app/blobs/uploads/?mount={d}&from={from}");
        let v = registry(&a, "POST", &mount("base/dev"), &headers);
        assert_eq!(v.decision.outcome, Outcome::Allow, "{:?}", v.decision);
        let v = registry(&a, "POST", &mount("base/prod"), &headers);
        assert_eq!(v.decision.outcome, Outcome::ExplicitDeny);
        assert!(v.decision.message.unwrap().contains("repository/base/prod"));
        let ctx = &v.classification.context;
        assert_eq!(
            ctx.get("ecr:ResourceTag/tier").unwrap().values().next(),
            Some("dev"),
            "explain shows the target's"
        );
    }

    #[test]
    fn a_blob_mount_is_refused_when_the_source_is_not_readable() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "registry_tokens = [\"devtoken\"]");
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:devtoken");
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Basic {token}").parse().unwrap());
        let d = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
        let own = format!(
            "/v2/len-s-mp/sample-repository-1/blobs/uploads/?mount={d}&from=len-s-mp/sample-repository-2"
        );
        assert_eq!(registry(&a, "POST", &own, &headers).decision.outcome, Outcome::Allow);
        let foreign = format!(
            "/v2/len-s-mp/sample-repository-1/blobs/uploads/?mount={d}&from=len-s-mp/prod-repository"
        );
        let v = registry(&a, "POST", &foreign, &headers);
        assert_eq!(v.decision.outcome, Outcome::ImplicitDeny);
        assert!(v.decision.message.unwrap().contains("repository/len-s-mp/prod-repository"));
    }

    /// `vpce-proxy replay` (ARCHITECTURE.md §10): what the audit line records (permissions and context,
    /// with the main permission's resource keys) decides again exactly as the live request did, with
    /// identity policies found by the principal ARN and each permission's resource keys recomputed.
    #[test]
    fn redeciding_what_a_request_recorded_gives_its_live_decision() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "registry_tokens = [\"devtoken\"]");
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:devtoken");
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Basic {token}").parse().unwrap());
        let d = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
        let rows = [
            ("POST", format!("/v2/len-s-mp/sample-repository-1/blobs/uploads/?mount={d}&from=len-s-mp/sample-repository-2"), Outcome::Allow),
            ("POST", format!("/v2/len-s-mp/sample-repository-1/blobs/uploads/?mount={d}&from=len-s-mp/prod-repository"), Outcome::ImplicitDeny),
            ("GET", "/v2/len-s-mp/sample-repository-1/manifests/v1".to_string(), Outcome::Allow),
            ("DELETE", "/v2/base-image3/manifests/sha256:00".to_string(), Outcome::ImplicitDeny),
        ];
        for (method, path, outcome) in rows {
            let v = registry(&a, method, &path, &headers);
            assert_eq!(v.decision.outcome, outcome, "{method} {path}");
            let c = &v.classification;
            let again = a.redecide(
                c.host.service,
                &v.principal,
                (c.permission.as_ref(), &c.additional),
                c.context.clone(),
            );
            assert_eq!(again, v.decision, "{method} {path}");
        }
    }

    #[test]
    fn get_authorization_token_responses_teach_registry_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "");
        let v = api_call(&a, "AKIADEV", "GetAuthorizationToken", "{}").unwrap();
        assert!(a.wants_response(&v));
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:learned-password");
        let expires = now_secs() + 3600;
        let body =
            format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires}}}]}}"#);
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Basic {token}").parse().unwrap());
        assert_eq!(registry(&a, "GET", "/v2/app/manifests/v1", &headers).principal, "anonymous");
        a.observe_response(&v, 200, body.as_bytes());
        let learned = registry(&a, "GET", "/v2/app/manifests/v1", &headers);
        assert_eq!(learned.principal, "arn:aws:sts::123456789123:assumed-role/developer/s2");
        let describe = api_call(&a, "AKIADEV", "DescribeImages", r#"{"repositoryName":"app"}"#).unwrap();
        assert!(!a.wants_response(&describe));
    }

    /// A reload builds a new authorizer; logins learned by the old one must still name their caller.
    #[test]
    fn a_new_authorizer_shares_the_registry_tokens_the_old_one_learned() {
        let dir = tempfile::tempdir().unwrap();
        let old = authorizer(dir.path(), "");
        let v = api_call(&old, "AKIADEV", "GetAuthorizationToken", "{}").unwrap();
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:kept-password");
        let expires = now_secs() + 3600;
        let body =
            format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires}}}]}}"#);
        old.observe_response(&v, 200, body.as_bytes());
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Basic {token}").parse().unwrap());
        let fresh = authorizer(dir.path(), "");
        assert_eq!(registry(&fresh, "GET", "/v2/app/manifests/v1", &headers).principal, "anonymous");
        let new = authorizer(dir.path(), "").with_bindings(Arc::clone(old.bindings()));
        let kept = registry(&new, "GET", "/v2/app/manifests/v1", &headers);
        assert_eq!(kept.principal, "arn:aws:sts::123456789123:assumed-role/developer/s2");
    }

    #[test]
    fn a_forged_signature_is_refused_when_the_secret_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "secret_access_key = \"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\"");
        let err = api_call(&a, "AKIADEV", "DescribeImages", r#"{"repositoryName":"app"}"#).unwrap_err();
        assert!(err.0.contains("signature does not match"), "{err}");
        // The admin has no secret configured: parsed, not verified.
        assert!(api_call(&a, "AKIAADMIN", "DescribeImages", r#"{"repositoryName":"app"}"#).is_ok());
    }

    /// `limits.max_classify_body_bytes` at its bound: a PutImage body of exactly the bound is read whole
    /// and classified, with a `Content-Length` or chunked; one byte more is refused before policy. The
    /// bytes are what the proxy reads: `min(body_needed, bound + 1)`, or the whole body when shorter.
    #[test]
    fn a_body_is_classified_at_the_bound_and_refused_one_byte_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "");
        let bound = Limits::default().max_classify_body_bytes;
        for (len, declared, classified) in
            [(bound, true, true), (bound, false, true), (bound + 1, true, false), (bound + 1, false, false)]
        {
            let head = r#"{"repositoryName":"app","imageManifest":""#;
            let mut body = head.as_bytes().to_vec();
            body.resize(len - 2, b'a');
            body.extend_from_slice(br#""}"#);
            let mut headers = api_headers("AKIADEV", "PutImage");
            if declared {
                headers.insert("content-length", len.to_string().parse().unwrap());
            }
            let wanted = a.body_needed(&api_head(&headers)).unwrap();
            let read = &body[..len.min(wanted).min(bound + 1)];
            let result = a.authorize(&api_head(&headers), Some(read), &ConnFacts::default());
            let refused_for_size =
                result.as_ref().err().is_some_and(|e| e.0.contains("max_classify_body_bytes"));
            assert_eq!(
                !refused_for_size,
                classified,
                "{len} bytes, content-length {declared}: {:?}",
                result.err()
            );
            if classified {
                assert_eq!(result.unwrap().classification.permission.unwrap().action, "ecr:PutImage");
            }
        }
    }

    #[test]
    fn bodies_are_bounded_and_big_layer_parts_classify_from_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "");
        let mut headers = api_headers("AKIADEV", "UploadLayerPart");
        headers.insert("content-length", (20u64 << 20).to_string().parse().unwrap());
        let head = api_head(&headers);
        let limit = Limits::default().max_classify_body_bytes;
        assert_eq!(a.body_needed(&head), Some(limit));
        let mut prefix = br#"{"repositoryName":"len-s-mp/sample-repository-1","uploadId":"u","partFirstByte":0,"layerPartBlob":""#.to_vec();
        prefix.resize(limit, b'A');
        let v = a.authorize(&head, Some(&prefix), &ConnFacts::default()).unwrap();
        assert_eq!(v.decision.outcome, Outcome::Allow);
        // The same prefix for an operation that must be read whole is refused.
        let mut headers = api_headers("AKIADEV", "PutImage");
        headers.insert("content-length", (20u64 << 20).to_string().parse().unwrap());
        let head = api_head(&headers);
        let err = a.authorize(&head, Some(&prefix), &ConnFacts::default()).unwrap_err();
        assert!(err.0.contains("max_classify_body_bytes"), "{err}");
        // Registry and S3 requests decide from the head alone.
        let headers = http::HeaderMap::new();
        let head = RequestHead {
            method: "PUT",
            host: "123456789123.dkr.ecr.us-east-1.amazonaws.com",
            path: "/v2/a1/manifests/v1",
            headers: &headers,
        };
        assert_eq!(a.body_needed(&head), None);
    }

    #[test]
    fn a_host_that_is_not_an_endpoint_is_refused_before_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), "");
        let headers = http::HeaderMap::new();
        let head =
            RequestHead { method: "GET", host: "registry-1.docker.io", path: "/v2/", headers: &headers };
        let err = a.authorize(&head, None, &ConnFacts::default()).unwrap_err();
        assert!(err.0.contains("not an endpoint host"), "{err}");
    }

    #[test]
    fn a_broken_policy_file_fails_the_whole_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), r#"{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}"#)
            .unwrap();
        let config =
            Config::parse("[policies]\n\"s3\" = \"bad.json\"\n", &dir.path().join("c.toml")).unwrap();
        // An unknown [policies] key is now refused when the config is parsed (config.rs tests).
        assert!(load_policies(&config, &mut Fingerprints::default()).is_err());
    }
}
