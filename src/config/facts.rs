//! The facts a proxy cannot see on the wire (ARCHITECTURE.md §9): which organization an account belongs
//! to, a repository's tags, who owns a bucket. AWS knows them from Organizations, ECR and S3; an endpoint
//! stand-in has to be told, or every condition on `aws:ResourceOrgID`, `aws:ResourceTag/*` or an S3
//! request's `aws:ResourceAccount` reads an absent key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// One account the endpoint knows about: its organization, for `aws:ResourceOrgID` / `aws:ResourceOrgPaths`
/// on resources it owns and the default `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths` of its principals.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AccountConfig {
    /// The 12-digit account id.
    pub id: String,
    /// The organization id (`o-...`).
    pub org_id: Option<String>,
    /// Organization paths (`o-.../r-.../ou-.../`).
    pub org_paths: Vec<String>,
}

/// One repository's facts: tags for `aws:ResourceTag/*` and `ecr:ResourceTag/*`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RepositoryConfig {
    /// `arn:aws:ecr:REGION:ACCOUNT:repository/NAME`.
    pub arn: String,
    /// The repository's tags.
    pub tags: BTreeMap<String, String>,
    /// A repository (resource-based) policy file, evaluated as the resource layer for this repository.
    pub policy: Option<PathBuf>,
}

/// Who owns an S3 bucket: a bucket name alone does not say, and `aws:ResourceAccount` (with the
/// owner's organization) depends on it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BucketConfig {
    /// The bucket name.
    pub name: String,
    /// The owning account's 12-digit id.
    pub account: String,
}
