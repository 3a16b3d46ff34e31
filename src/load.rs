//! The one load path for the config and the policy files it names: `run` at start-up, every reload and
//! `explain` call [`load`], so they accept and refuse the same files with the same message.
//!
//! Each policy file is read once; the same bytes are linted with `vpce-proxy validate`'s rules, compiled
//! into the [`Policy`] that decides, and hashed for `/healthz`. A hash can therefore never describe a
//! different version of a file than the one in force. Lint errors reject the file with the linter's
//! `FILE:LINE:COL severity code message`; warnings are logged and the file applied. Any bad file fails
//! the whole load (a reload never half-applies), but every file is still read and fingerprinted, so the
//! watcher waits for the next edit rather than reporting the same error every poll.
//!
//! Not in `policy/`, which does no I/O.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::admin::{PolicyHash, PolicyHashes};
use crate::classify::principal::{PrincipalError, Principals};
use crate::classify::Service;
use crate::config::{Config, ConfigError};
use crate::directory::{Directory, DirectoryError};
use crate::policy::validate::{validate, Finding, PolicyKind, Severity};
use crate::policy::{Policy, PolicyError};

/// Why the config and its policies cannot be put in force; a reload keeps the old ones.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The config file is unreadable or malformed (its message names FILE:LINE:COL).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The binding store could not be opened (a damaged bindings file: FILE:LINE:COL, or a bad URL).
    #[error("[bindings]: {0}")]
    Bindings(#[from] crate::bindings::StoreError),
    /// A policy file named by the config could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A policy file is not UTF-8 text, so neither the linter nor the parser can read it.
    #[error("{path}: not UTF-8 at byte {byte}")]
    NotUtf8 {
        /// The policy file.
        path: PathBuf,
        /// Offset of the first byte that is not UTF-8.
        byte: usize,
    },
    /// The linter found errors: the first as `FILE:LINE:COL severity code message`, then how many more.
    #[error("{}{}", finding_line(.path, .first), more_errors(*.more))]
    Lint {
        /// The policy file.
        path: PathBuf,
        /// The first error by position.
        first: Finding,
        /// How many other errors the file has.
        more: usize,
    },
    /// The linter passed text the compiler refuses (the two disagree): `FILE:LINE:COL: message`.
    #[error("{path}:{source}")]
    Compile {
        /// The policy file.
        path: PathBuf,
        /// The compiler's error, at `LINE:COL`.
        source: PolicyError,
    },
    /// Two principals claim the same credential, or one is incomplete.
    #[error(transparent)]
    Principals(#[from] PrincipalError),
    /// An `[[account]]`, `[[repository]]` or `[[bucket]]` entry is malformed or repeated.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// `FILE:LINE:COL severity code message`, as `vpce-proxy validate` prints a finding.
fn finding_line(path: &Path, finding: &Finding) -> String {
    let Finding { pos, severity, code, message } = finding;
    format!("{}:{pos} {severity} {code} {message}", path.display())
}

/// The suffix that says a file has more errors than the one shown.
fn more_errors(more: usize) -> String {
    match more {
        0 => String::new(),
        n => format!(" (and {n} more errors)"),
    }
}

/// Everything a config's files compile to, ready for `Authorizer::new`, with the hashes of exactly the
/// bytes that were compiled.
#[derive(Debug)]
pub struct LoadedPolicies {
    /// The endpoint policy per service (indexed by [`service_index`]); AWS's allow-all where the config
    /// names none.
    pub(crate) endpoint: [Policy; 3],
    /// The shadow (candidate) endpoint policy per service, when `[shadow_policies]` names one.
    pub(crate) shadow: [Option<Policy>; 3],
    /// Per configured principal, its identity policies; `None` when it has none configured.
    pub(crate) identity: Vec<Option<Vec<Policy>>>,
    /// The configured principals, checked for conflicting claims.
    pub(crate) principals: Principals,
    /// Account, repository and bucket facts (ARCHITECTURE.md §9).
    pub(crate) directory: Directory,
    /// Repository (resource-based) policies by repository ARN.
    pub(crate) repository: HashMap<String, Policy>,
    hashes: PolicyHashes,
}

impl LoadedPolicies {
    /// The endpoint policy in force for `service`.
    pub fn endpoint(&self, service: Service) -> &Policy {
        &self.endpoint[service_index(service)]
    }

    /// Puts `policy` in force for `service` instead of the config's (`replay --policy SERVICE=FILE`).
    pub fn replace_endpoint(&mut self, service: Service, policy: Policy) {
        self.endpoint[service_index(service)] = policy;
    }

    /// The identity policies of the principal at `index` in the config, if it has any configured.
    pub fn identity(&self, index: usize) -> Option<&[Policy]> {
        self.identity.get(index)?.as_deref()
    }

    /// Role (`config`, a service key, `identity:ARN`, `repository:ARN`) -> file and SHA-256, for `/healthz`.
    pub fn hashes(&self) -> &PolicyHashes {
        &self.hashes
    }
}

/// The position of a service's endpoint policy in [`LoadedPolicies`].
pub(crate) fn service_index(service: Service) -> usize {
    match service {
        Service::EcrApi => 0,
        Service::EcrDkr => 1,
        Service::S3 => 2,
    }
}

/// Reads the config (`None` = embedded defaults) and every policy it names, recording each file read in
/// `seen` (also when the load fails, so the watcher can wait for the next edit).
pub fn load(
    config_path: Option<&Path>,
    seen: &mut Fingerprints,
) -> Result<(Config, LoadedPolicies), LoadError> {
    let Some(path) = config_path else {
        let config = Config::default();
        let policies = load_policies(&config, seen)?;
        return Ok((config, policies));
    };
    let read = read_file(path);
    let hash = hash_entry(path, &read.fingerprint);
    seen.files.insert(path.to_path_buf(), read.fingerprint);
    let bytes = read.bytes.map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let config = Config::parse(&String::from_utf8_lossy(&bytes), path)?;
    let mut policies = load_policies(&config, seen)?;
    policies.hashes.insert("config".into(), hash);
    Ok((config, policies))
}

/// Reads, lints and compiles every policy file of an already parsed config (paths resolved by
/// `Config::parse`, which also refuses a `[policies]` key that is not a service). File errors come before
/// principal conflicts, the order an operator fixes them in.
pub fn load_policies(config: &Config, seen: &mut Fingerprints) -> Result<LoadedPolicies, LoadError> {
    let mut files = Files { seen, read: Vec::new(), hashes: PolicyHashes::new(), first_error: None };
    let mut endpoint = [Policy::allow_all(), Policy::allow_all(), Policy::allow_all()];
    for (&service, path) in &config.policies {
        if let Some(policy) = files.policy(service.key().to_string(), path, PolicyKind::Endpoint) {
            endpoint[service_index(service)] = policy;
        }
    }
    let mut shadow = [None, None, None];
    for (&service, path) in &config.shadow_policies {
        let role = format!("shadow:{}", service.key());
        shadow[service_index(service)] = files.policy(role, path, PolicyKind::Endpoint);
    }
    let identity = config.principals.iter().map(|p| files.identity(&p.arn, &p.identity_policies)).collect();
    let mut repository = HashMap::new();
    for repo in &config.repositories {
        let Some(path) = &repo.policy else { continue };
        if let Some(policy) = files.policy(format!("repository:{}", repo.arn), path, PolicyKind::Resource) {
            repository.insert(repo.arn.clone(), policy);
        }
    }
    let principals = Principals::new(&config.principals, &config.accounts);
    let directory = Directory::new(config);
    if let Some(error) = files.first_error {
        return Err(error);
    }
    let (principals, directory) = (principals?, directory?);
    Ok(LoadedPolicies { endpoint, shadow, identity, principals, directory, repository, hashes: files.hashes })
}

/// One policy file read as one kind, and what it compiled to (`None`: it failed, and the load's first
/// error says why).
struct FileAsKind {
    path: PathBuf,
    kind: PolicyKind,
    compiled: Option<(Policy, PolicyHash)>,
}

/// The policy files of one load: each (file, kind) is read and compiled once however many roles name
/// it, so two services naming one file get the same bytes.
struct Files<'a> {
    seen: &'a mut Fingerprints,
    read: Vec<FileAsKind>,
    hashes: PolicyHashes,
    first_error: Option<LoadError>,
}

impl Files<'_> {
    /// The compiled policy at `path`, its hash recorded under `role`; `None` after recording an error.
    fn policy(&mut self, role: String, path: &Path, kind: PolicyKind) -> Option<Policy> {
        let cached = self.read.iter().position(|f| f.path == path && f.kind == kind);
        let index = cached.unwrap_or_else(|| {
            let compiled = match load_file(path, kind, self.seen) {
                Ok(compiled) => Some(compiled),
                // Keep reading so every file is fingerprinted and the watcher sees the fix.
                Err(error) => {
                    self.first_error.get_or_insert(error);
                    None
                }
            };
            self.read.push(FileAsKind { path: path.to_path_buf(), kind, compiled });
            self.read.len() - 1
        });
        let (policy, hash) = self.read[index].compiled.as_ref()?;
        self.hashes.insert(role, hash.clone());
        Some(policy.clone())
    }

    /// One principal's identity policies, hashed as `identity:ARN` (`identity:ARN#N` when it has several).
    fn identity(&mut self, arn: &str, paths: &[PathBuf]) -> Option<Vec<Policy>> {
        if paths.is_empty() {
            return None;
        }
        let mut policies = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let role = if paths.len() == 1 {
                format!("identity:{arn}")
            } else {
                format!("identity:{arn}#{}", i + 1)
            };
            policies.extend(self.policy(role, path, PolicyKind::Identity));
        }
        Some(policies)
    }
}

/// Reads one policy file, fingerprints it in `seen`, compiles and hashes the bytes read.
fn load_file(
    path: &Path,
    kind: PolicyKind,
    seen: &mut Fingerprints,
) -> Result<(Policy, PolicyHash), LoadError> {
    let read = read_file(path);
    let hash = hash_entry(path, &read.fingerprint);
    seen.files.insert(path.to_path_buf(), read.fingerprint);
    let bytes = read.bytes.map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
    let policy = compile(path, &bytes, kind)?;
    Ok((policy, hash))
}

/// Lints policy bytes as `vpce-proxy validate` does, so a load refuses exactly what the linter calls an
/// error, then compiles the same text; warnings are logged and do not stop the file.
pub fn compile(path: &Path, bytes: &[u8], kind: PolicyKind) -> Result<Policy, LoadError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| LoadError::NotUtf8 { path: path.to_path_buf(), byte: e.valid_up_to() })?;
    let findings = validate(text, kind);
    for warning in findings.iter().filter(|f| f.severity == Severity::Warning) {
        tracing::warn!(finding = %finding_line(path, warning), "policy warning");
    }
    let mut errors = findings.into_iter().filter(|f| f.severity == Severity::Error);
    if let Some(first) = errors.next() {
        return Err(LoadError::Lint { path: path.to_path_buf(), first, more: errors.count() });
    }
    Policy::parse(text).map_err(|source| LoadError::Compile { path: path.to_path_buf(), source })
}

/// The `/healthz` entry for a file, from the digest its fingerprint already holds: the bytes are hashed
/// once per read. A missing file is never reported (its read error fails the load first).
fn hash_entry(path: &Path, fingerprint: &Fingerprint) -> PolicyHash {
    let sha256 = match fingerprint {
        Fingerprint::Present { sha256, .. } => hex::encode(sha256),
        Fingerprint::Missing => String::new(),
    };
    PolicyHash { file: path.display().to_string(), sha256 }
}

/// The fingerprint of one file as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fingerprint {
    Present { modified: Option<SystemTime>, len: u64, sha256: [u8; 32] },
    Missing,
}

impl Fingerprint {
    /// How `now` differs from this earlier fingerprint of the same file.
    fn change_to(&self, now: &Fingerprint) -> Change {
        match (self, now) {
            (a, b) if a == b => Change::Unchanged,
            (
                Fingerprint::Present { len, sha256, .. },
                Fingerprint::Present { len: new_len, sha256: new_sha256, .. },
            ) if len == new_len && sha256 == new_sha256 => Change::Touched,
            _ => Change::Content,
        }
    }
}

/// How the files on disk differ from what a load read, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Every file is as it was read.
    Unchanged,
    /// Only modification times differ (`touch`, an editor saving unchanged text): the same bytes compile
    /// to the same policies, so there is nothing to reload.
    Touched,
    /// A file's bytes differ, or it appeared or vanished.
    Content,
}

/// Every file one load read, with what it looked like then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints {
    files: BTreeMap<PathBuf, Fingerprint>,
}

impl Fingerprints {
    /// The files read, in path order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }

    /// The largest change among the files since they were read.
    pub fn compare(&self) -> Change {
        self.clone().refresh()
    }

    /// Re-reads every file and returns the largest change; files whose only change is their
    /// modification time are recorded as seen now, so a `touch` is reported once.
    pub fn refresh(&mut self) -> Change {
        let mut largest = Change::Unchanged;
        for (path, old) in &mut self.files {
            let now = read_file(path).fingerprint;
            let change = old.change_to(&now);
            if change == Change::Touched {
                *old = now;
            }
            largest = largest.max(change);
        }
        largest
    }
}

/// One file's bytes and fingerprint, from one read.
struct FileRead {
    bytes: Result<Vec<u8>, std::io::Error>,
    fingerprint: Fingerprint,
}

fn read_file(path: &Path) -> FileRead {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match crate::files::read(path) {
        Ok(bytes) => {
            let sha256: [u8; 32] = Sha256::digest(&bytes).into();
            let fingerprint = Fingerprint::Present { modified, len: bytes.len() as u64, sha256 };
            FileRead { bytes: Ok(bytes), fingerprint }
        }
        Err(error) => FileRead { bytes: Err(error), fingerprint: Fingerprint::Missing },
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
