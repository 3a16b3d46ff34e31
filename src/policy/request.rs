//! What is being asked: who, which action, on which resource, with which context keys.

use compact_str::CompactString;

/// The value of one condition context key: a single value or a multivalued set (such as `aws:TagKeys`).
///
/// Set operators (`ForAllValues:`/`ForAnyValue:`) and single-valued operators treat the two differently,
/// so the distinction is kept rather than folding everything into a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    /// A single-valued key such as `aws:PrincipalOrgID`. Inline up to 24 bytes, which holds most values a
    /// request carries (`true`, the clock, account, endpoint, VPC and org ids), so setting one allocates
    /// nothing and copying the principal's values into each request is a copy of bytes.
    Single(CompactString),
    /// A multivalued key such as `aws:TagKeys` or `aws:PrincipalOrgPaths`.
    Multi(Vec<String>),
}

impl ContextValue {
    /// All values as a slice-like iterator, one for `Single`.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        let (single, multi): (Option<&str>, &[String]) = match self {
            ContextValue::Single(v) => (Some(v), &[]),
            ContextValue::Multi(vs) => (None, vs),
        };
        single.into_iter().chain(multi.iter().map(String::as_str))
    }
}

/// Condition context keys; names are case-insensitive in IAM, so they are stored lowercased.
///
/// A request carries about 15 keys, so they live in a vector searched linearly: comparing a few short
/// strings is cheaper than hashing each one with SipHash, and the vector of 15 stays below glibc's
/// large-allocation size, where the hash map's table (1.8 KB) made every request consolidate the
/// allocator's fast bins (`cargo bench --bench authorize`, ARCHITECTURE.md §7). Order carries no meaning:
/// equality ignores it and the callers that show keys sort them.
///
/// Keys are small strings kept inline (up to 24 bytes, which holds nearly every IAM key): lowercasing
/// each key into its own heap string was a quarter of a request's allocations.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    values: Vec<(CompactString, ContextValue)>,
}

impl PartialEq for RequestContext {
    fn eq(&self, other: &Self) -> bool {
        self.values.len() == other.values.len() && self.values.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for RequestContext {}

impl RequestContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty context with room for `keys` keys: the proxy fills about 15 per request.
    pub fn with_capacity(keys: usize) -> Self {
        RequestContext { values: Vec::with_capacity(keys) }
    }

    /// Sets a key, replacing any earlier value; the key's case does not matter.
    pub fn insert(&mut self, key: &str, value: ContextValue) {
        self.upsert(key, value, || lowercase_key(key));
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<CompactString>) {
        self.insert(key, ContextValue::Single(value.into()));
    }

    /// Sets a key only when it is not already present (request-supplied values win over derived ones).
    pub fn set_default(&mut self, key: &str, value: impl Into<CompactString>) {
        if self.position(key).is_none() {
            self.values.push((lowercase_key(key), ContextValue::Single(value.into())));
        }
    }

    /// Removes a key (per-permission resource keys are replaced between the permissions of one request).
    pub fn remove(&mut self, key: &str) {
        if let Some(i) = self.position(key) {
            self.values.swap_remove(i);
        }
    }

    /// Keeps only the keys (lowercased) for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.values.retain(|(k, _)| keep(k));
    }

    /// Looks a key up case-insensitively.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.position(key).map(|i| &self.values[i].1)
    }

    /// Every key (lowercased) and value, for explain output and audit; in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Copies every key of `other` over this context.
    pub fn extend(&mut self, other: &RequestContext) {
        for (k, v) in &other.values {
            // `other` stores its keys lowercased already, so they are copied as they are.
            self.upsert(k, v.clone(), || k.clone());
        }
    }

    /// Replaces `key`'s value, or adds it under the stored form `stored` makes (only then is it made).
    fn upsert(&mut self, key: &str, value: ContextValue, stored: impl FnOnce() -> CompactString) {
        match self.position(key) {
            Some(i) => self.values[i].1 = value,
            None => self.values.push((stored(), value)),
        }
    }

    /// Where `key` is, compared without regard to ASCII case (stored keys are lowercase).
    fn position(&self, key: &str) -> Option<usize> {
        self.values.iter().position(|(k, _)| k.eq_ignore_ascii_case(key))
    }
}

/// A key as stored: ASCII-lowercased, inline when short.
fn lowercase_key(key: &str) -> CompactString {
    let mut stored = CompactString::from(key);
    stored.make_ascii_lowercase();
    stored
}

/// The principal ARN used for unsigned requests, as AWS reports it in denial messages.
pub const ANONYMOUS: &str = "anonymous";

/// One authorization question: may `principal` perform `action` on `resource`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzRequest {
    /// The caller's ARN (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`, `arn:aws:iam::ACCT:user/NAME`) or
    /// [`ANONYMOUS`].
    pub principal: String,
    /// The IAM action, `service:Operation`, as the service names it (`ecr:PutImage`).
    pub action: String,
    /// The target ARN, or `*` for registry-level operations.
    pub resource: String,
    /// The account that owns the resource; decides same-account vs cross-account evaluation.
    pub resource_account: Option<String>,
    /// Condition context keys.
    pub context: RequestContext,
}
