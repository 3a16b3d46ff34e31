//! What the endpoint knows about resources and accounts beyond the request (ARCHITECTURE.md §9): the
//! organization of each `[[account]]`, the tags of each `[[repository]]`, the owner of each `[[bucket]]`.
//!
//! Turns those facts into the resource context keys AWS sets (IAM User Guide, "AWS global condition
//! context keys": `aws:ResourceAccount`, `aws:ResourceOrgID`, `aws:ResourceOrgPaths`, `aws:ResourceTag/*`;
//! Service Authorization Reference, Amazon ECR: `ecr:ResourceTag/*`). Pure: built once per config, swapped
//! whole on reload with the authorizer.

use std::collections::{BTreeMap, HashMap};

use crate::classify::Permission;
use crate::config::{AccountConfig, Config};
use crate::policy::matching::is_account_id;
use crate::policy::{ContextValue, RequestContext};

/// Why the facts in a config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// An account id is not 12 digits.
    #[error("{section} {value:?}: not a 12-digit account id")]
    AccountId {
        /// `[[account]]` or `[[bucket]]`.
        section: &'static str,
        /// The value given.
        value: String,
    },
    /// The same account, repository or bucket is described twice.
    #[error("{section} {value:?} is described twice")]
    Duplicate {
        /// The config section.
        section: &'static str,
        /// The repeated id, ARN or name.
        value: String,
    },
    /// A `[[repository]]` arn is not an ECR repository ARN.
    #[error("[[repository]] arn {0:?} is not arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME")]
    RepositoryArn(String),
}

/// The facts, indexed for per-request lookups.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    accounts: HashMap<String, AccountConfig>,
    repository_tags: HashMap<String, BTreeMap<String, String>>,
    bucket_owners: HashMap<String, String>,
}

fn account_id(section: &'static str, value: &str) -> Result<String, DirectoryError> {
    if is_account_id(value) {
        Ok(value.to_string())
    } else {
        Err(DirectoryError::AccountId { section, value: value.to_string() })
    }
}

fn insert_once<V>(
    map: &mut HashMap<String, V>,
    section: &'static str,
    key: String,
    value: V,
) -> Result<(), DirectoryError> {
    if map.contains_key(&key) {
        return Err(DirectoryError::Duplicate { section, value: key });
    }
    map.insert(key, value);
    Ok(())
}

impl Directory {
    /// Indexes the config's facts; a malformed id or a fact given twice is an error, not a guess.
    pub(crate) fn new(config: &Config) -> Result<Directory, DirectoryError> {
        let mut directory = Directory::default();
        for account in &config.accounts {
            let id = account_id("[[account]]", &account.id)?;
            insert_once(&mut directory.accounts, "[[account]]", id, account.clone())?;
        }
        for repo in &config.repositories {
            let parts: Vec<&str> = repo.arn.splitn(6, ':').collect();
            let valid = matches!(parts.as_slice(), ["arn", _, "ecr", _, acct, rest]
                if is_account_id(acct) && rest.strip_prefix("repository/").is_some_and(|n| !n.is_empty()));
            if !valid {
                return Err(DirectoryError::RepositoryArn(repo.arn.clone()));
            }
            insert_once(
                &mut directory.repository_tags,
                "[[repository]]",
                repo.arn.clone(),
                repo.tags.clone(),
            )?;
        }
        for bucket in &config.buckets {
            let owner = account_id("[[bucket]]", &bucket.account)?;
            insert_once(&mut directory.bucket_owners, "[[bucket]]", bucket.name.clone(), owner)?;
        }
        Ok(directory)
    }

    /// The account owning a permission's resource: as classified, else the `[[bucket]]` owner of an S3
    /// ARN (`arn:P:s3:::BUCKET` or `arn:P:s3:::BUCKET/KEY`).
    pub(crate) fn resource_account(&self, permission: &Permission) -> Option<String> {
        if permission.resource_account.is_some() {
            return permission.resource_account.clone();
        }
        let rest = permission.resource.strip_prefix("arn:")?;
        let (_partition, rest) = rest.split_once(':')?;
        let bucket = rest.strip_prefix("s3:::")?.split('/').next()?;
        self.bucket_owners.get(bucket).cloned()
    }

    /// Sets the resource keys of one permission and returns their names, so the next permission of the
    /// same request (a blob mount's source repository) starts from none of them.
    pub(crate) fn resource_context(&self, permission: &Permission, ctx: &mut RequestContext) -> Vec<String> {
        let mut set = Vec::new();
        let mut put = |key: String, value: ContextValue| {
            ctx.insert(&key, value);
            set.push(key);
        };
        if let Some(account) = self.resource_account(permission) {
            if let Some(facts) = self.accounts.get(&account) {
                if let Some(org) = &facts.org_id {
                    put("aws:ResourceOrgID".into(), ContextValue::Single(org.as_str().into()));
                }
                if !facts.org_paths.is_empty() {
                    put("aws:ResourceOrgPaths".into(), ContextValue::Multi(facts.org_paths.clone()));
                }
            }
            put("aws:ResourceAccount".into(), ContextValue::Single(account.into()));
        }
        for (k, v) in self.repository_tags.get(&permission.resource).into_iter().flatten() {
            put(format!("aws:ResourceTag/{k}"), ContextValue::Single(v.as_str().into()));
            put(format!("ecr:ResourceTag/{k}"), ContextValue::Single(v.as_str().into()));
        }
        set
    }
}

/// Whether a lowercased context key is one [`Directory::resource_context`] sets: replay drops recorded
/// ones and recomputes them from its own config's facts.
pub(crate) fn is_resource_key(key: &str) -> bool {
    matches!(key, "aws:resourceorgid" | "aws:resourceorgpaths" | "aws:resourceaccount")
        || key.starts_with("aws:resourcetag/")
        || key.starts_with("ecr:resourcetag/")
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
