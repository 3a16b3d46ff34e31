//! The IAM action names this tool knows for the services it fronts, and a did-you-mean helper.
//!
//! IAM accepts any action name in a policy and silently matches nothing for a misspelt one, so a typo such
//! as `ecr:BatchGetImages` turns a grant into a denial that nobody notices until a pull fails. `validate`
//! checks `ecr:` and `s3:` names against these lists. Source: Service Authorization Reference, "Actions
//! defined by Amazon Elastic Container Registry" and "Actions defined by Amazon S3". AWS adds actions over
//! time, so a name missing here is only an error when it is one or two edits away from a known one.

/// Every action of the `ecr` service prefix (Service Authorization Reference, Amazon ECR).
pub(crate) const ECR_ACTIONS: &[&str] = &[
    "BatchCheckLayerAvailability",
    "BatchDeleteImage",
    "BatchGetImage",
    "BatchGetRepositoryScanningConfiguration",
    "BatchImportUpstreamImage",
    "CompleteLayerUpload",
    "CreatePullThroughCacheRule",
    "CreateRepository",
    "CreateRepositoryCreationTemplate",
    "DeleteLifecyclePolicy",
    "DeletePullThroughCacheRule",
    "DeleteRegistryPolicy",
    "DeleteRepository",
    "DeleteRepositoryCreationTemplate",
    "DeleteRepositoryPolicy",
    "DescribeImageReplicationStatus",
    "DescribeImageScanFindings",
    "DescribeImageSigningStatus",
    "DescribeImages",
    "DescribePullThroughCacheRules",
    "DescribeRegistry",
    "DescribeRepositories",
    "DescribeRepositoryCreationTemplates",
    "GetAccountSetting",
    "GetAuthorizationToken",
    "GetDownloadUrlForLayer",
    "GetImageCopyStatus",
    "GetLifecyclePolicy",
    "GetLifecyclePolicyPreview",
    "GetRegistryPolicy",
    "GetRegistryScanningConfiguration",
    "GetRepositoryPolicy",
    "GetSigningConfiguration",
    "InitiateLayerUpload",
    "ListImages",
    "ListPullTimeUpdateExclusions",
    "ListTagsForResource",
    "PutAccountSetting",
    "PutImage",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutReplicationConfiguration",
    "PutSigningConfiguration",
    "ReplicateImage",
    "SetRepositoryPolicy",
    "StartImageScan",
    "StartLifecyclePolicyPreview",
    "TagResource",
    "UntagResource",
    "UpdatePullThroughCacheRule",
    "UpdateRepositoryCreationTemplate",
    "UploadLayerPart",
    "ValidatePullThroughCacheRule",
];

/// The actions of the `s3` service prefix (Service Authorization Reference, Amazon S3).
pub(crate) const S3_ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "AssociateAccessGrantsIdentityCenter",
    "BypassGovernanceRetention",
    "CreateAccessGrant",
    "CreateAccessGrantsInstance",
    "CreateAccessGrantsLocation",
    "CreateAccessPoint",
    "CreateAccessPointForObjectLambda",
    "CreateBucket",
    "CreateJob",
    "CreateMultiRegionAccessPoint",
    "CreateStorageLensGroup",
    "DeleteAccessGrant",
    "DeleteAccessGrantsInstance",
    "DeleteAccessGrantsInstanceResourcePolicy",
    "DeleteAccessGrantsLocation",
    "DeleteAccessPoint",
    "DeleteAccessPointForObjectLambda",
    "DeleteAccessPointPolicy",
    "DeleteAccessPointPolicyForObjectLambda",
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteJobTagging",
    "DeleteMultiRegionAccessPoint",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "DeleteStorageLensConfiguration",
    "DeleteStorageLensConfigurationTagging",
    "DeleteStorageLensGroup",
    "DescribeJob",
    "DescribeMultiRegionAccessPointOperation",
    "DissociateAccessGrantsIdentityCenter",
    "GetAccelerateConfiguration",
    "GetAccessGrant",
    "GetAccessGrantsInstance",
    "GetAccessGrantsInstanceForPrefix",
    "GetAccessGrantsInstanceResourcePolicy",
    "GetAccessGrantsLocation",
    "GetAccessPoint",
    "GetAccessPointConfigurationForObjectLambda",
    "GetAccessPointForObjectLambda",
    "GetAccessPointPolicy",
    "GetAccessPointPolicyForObjectLambda",
    "GetAccessPointPolicyStatus",
    "GetAccessPointPolicyStatusForObjectLambda",
    "GetAccountPublicAccessBlock",
    "GetAnalyticsConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetDataAccess",
    "GetEncryptionConfiguration",
    "GetIntelligentTieringConfiguration",
    "GetInventoryConfiguration",
    "GetJobTagging",
    "GetLifecycleConfiguration",
    "GetMetricsConfiguration",
    "GetMultiRegionAccessPoint",
    "GetMultiRegionAccessPointPolicy",
    "GetMultiRegionAccessPointPolicyStatus",
    "GetMultiRegionAccessPointRoutes",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionForReplication",
    "GetObjectVersionTagging",
    "GetObjectVersionTorrent",
    "GetReplicationConfiguration",
    "GetStorageLensConfiguration",
    "GetStorageLensConfigurationTagging",
    "GetStorageLensDashboard",
    "GetStorageLensGroup",
    "InitiateReplication",
    "ListAccessGrants",
    "ListAccessGrantsInstances",
    "ListAccessGrantsLocations",
    "ListAccessPoints",
    "ListAccessPointsForObjectLambda",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListCallerAccessGrants",
    "ListJobs",
    "ListMultiRegionAccessPoints",
    "ListMultipartUploadParts",
    "ListStorageLensConfigurations",
    "ListStorageLensGroups",
    "ListTagsForResource",
    "ObjectOwnerOverrideToBucketOwner",
    "PauseReplication",
    "PutAccelerateConfiguration",
    "PutAccessGrantsInstanceResourcePolicy",
    "PutAccessPointConfigurationForObjectLambda",
    "PutAccessPointPolicy",
    "PutAccessPointPolicyForObjectLambda",
    "PutAccessPointPublicAccessBlock",
    "PutAccountPublicAccessBlock",
    "PutAnalyticsConfiguration",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutIntelligentTieringConfiguration",
    "PutInventoryConfiguration",
    "PutJobTagging",
    "PutLifecycleConfiguration",
    "PutMetricsConfiguration",
    "PutMultiRegionAccessPointPolicy",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "PutStorageLensConfiguration",
    "PutStorageLensConfigurationTagging",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
    "SubmitMultiRegionAccessPointRoutes",
    "TagResource",
    "UntagResource",
    "UpdateAccessGrantsLocation",
    "UpdateJobPriority",
    "UpdateJobStatus",
    "UpdateStorageLensGroup",
];

/// ECR actions that have no resource type in the Service Authorization Reference: IAM authorizes them on
/// resource `*`, so a statement naming only repository ARNs never grants them (docker login fails).
pub(crate) const ECR_REGISTRY_ACTIONS: &[&str] = &[
    "DeleteRegistryPolicy",
    "DescribeRegistry",
    "GetAuthorizationToken",
    "GetRegistryPolicy",
    "GetRegistryScanningConfiguration",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutReplicationConfiguration",
];

/// Global condition keys (IAM User Guide, "AWS global condition context keys"). A misspelt key is absent
/// from every request, which turns `StringEquals` into never and `StringNotEquals` into always.
pub(crate) const GLOBAL_CONDITION_KEYS: &[&str] = &[
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalType",
    "aws:RequestedRegion",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:SourceVpc",
    "aws:SourceVpcArn",
    "aws:SourceVpce",
    "aws:TagKeys",
    "aws:TokenIssueTime",
    "aws:UserAgent",
    "aws:ViaAWSService",
    "aws:VpcSourceIp",
    "aws:VpceAccount",
    "aws:VpceOrgID",
    "aws:VpceOrgPaths",
    "aws:referer",
    "aws:userid",
    "aws:username",
];

/// Global condition keys that take a tag key after the slash.
pub(crate) const GLOBAL_TAG_KEY_PREFIXES: &[&str] =
    &["aws:PrincipalTag/", "aws:RequestTag/", "aws:ResourceTag/"];

/// What the known lists say about an `aws:` condition key (keys are case-insensitive in IAM); other
/// prefixes are service keys this tool has no list for.
pub(crate) fn lookup_condition_key(key: &str) -> Lookup {
    let is_global = key.len() >= 4 && key.is_char_boundary(4) && key[..4].eq_ignore_ascii_case("aws:");
    if !is_global {
        return Lookup::OtherService;
    }
    let lower = key.to_ascii_lowercase();
    let tagged = GLOBAL_TAG_KEY_PREFIXES
        .iter()
        .any(|p| lower.starts_with(&p.to_ascii_lowercase()) && lower.len() > p.len());
    if tagged || GLOBAL_CONDITION_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
        return Lookup::Known;
    }
    let (stem, tag) = match key.split_once('/') {
        Some((stem, tag)) => (stem, format!("/{tag}")),
        None => (key, String::new()),
    };
    let names = GLOBAL_CONDITION_KEYS
        .iter()
        .copied()
        .chain(GLOBAL_TAG_KEY_PREFIXES.iter().map(|p| p.trim_end_matches('/')));
    Lookup::Unknown(closest(stem, names, 2).map(|k| format!("{k}{tag}")))
}

/// What the known-action lists say about one `service:name` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The service is not one this tool has a list for: nothing can be said.
    OtherService,
    /// A known action, or a wildcard pattern matching at least one.
    Known,
    /// A wildcard pattern that matches no known action.
    WildcardMatchesNothing,
    /// Not a known action; the closest known name (already prefixed) when one is near enough.
    Unknown(Option<String>),
}

/// Looks an action pattern up; service prefixes and action names are case-insensitive in IAM.
pub(crate) fn lookup(service: &str, name: &str) -> Lookup {
    let (prefix, known) = if service.eq_ignore_ascii_case("ecr") {
        ("ecr", ECR_ACTIONS)
    } else if service.eq_ignore_ascii_case("s3") {
        ("s3", S3_ACTIONS)
    } else {
        return Lookup::OtherService;
    };
    if name.contains(['*', '?']) {
        return if known.iter().any(|k| glob_matches(name, k)) {
            Lookup::Known
        } else {
            Lookup::WildcardMatchesNothing
        };
    }
    if known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        return Lookup::Known;
    }
    let limit = (name.chars().count() / 8).max(2);
    Lookup::Unknown(closest(name, known.iter().copied(), limit).map(|k| format!("{prefix}:{k}")))
}

/// The candidate with the smallest case-insensitive edit distance to `word`, if within `limit` edits;
/// the first of equals wins so suggestions are stable.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
    limit: usize,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Case-insensitive `*`/`?` match, the way IAM matches action names.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Service Authorization Reference, Amazon ECR: the actions a docker push and pull need.
    #[test]
    fn push_and_pull_actions_are_known() {
        for name in [
            "GetAuthorizationToken",
            "BatchCheckLayerAvailability",
            "InitiateLayerUpload",
            "UploadLayerPart",
            "CompleteLayerUpload",
            "PutImage",
            "BatchGetImage",
            "GetDownloadUrlForLayer",
            "DeleteRepository",
        ] {
            assert_eq!(lookup("ecr", name), Lookup::Known, "{name}");
        }
        assert_eq!(lookup("S3", "getobject"), Lookup::Known);
        for name in ECR_REGISTRY_ACTIONS {
            assert_eq!(lookup("ecr", name), Lookup::Known, "{name}");
        }
    }

    #[test]
    fn lists_are_sorted_and_free_of_duplicates() {
        for list in [ECR_ACTIONS, S3_ACTIONS, ECR_REGISTRY_ACTIONS, GLOBAL_CONDITION_KEYS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{:?}", list.windows(2).find(|w| w[0] >= w[1]));
        }
    }

    #[test]
    fn typos_get_a_suggestion_and_strangers_do_not() {
        assert_eq!(lookup("ecr", "BatchGetImages"), Lookup::Unknown(Some("ecr:BatchGetImage".into())));
        assert_eq!(lookup("ecr", "PutImgae"), Lookup::Unknown(Some("ecr:PutImage".into())));
        assert_eq!(lookup("s3", "GetObjects"), Lookup::Unknown(Some("s3:GetObject".into())));
        assert_eq!(lookup("ecr", "LaunchRocket"), Lookup::Unknown(None));
        assert_eq!(lookup("ec2", "RunInstances"), Lookup::OtherService);
    }

    /// IAM User Guide, AWS global condition context keys: case-insensitive, tag keys after the slash.
    #[test]
    fn global_condition_keys_are_checked_and_typos_corrected() {
        assert_eq!(lookup_condition_key("aws:PrincipalOrgID"), Lookup::Known);
        assert_eq!(lookup_condition_key("AWS:principalorgid"), Lookup::Known);
        assert_eq!(lookup_condition_key("aws:PrincipalTag/team"), Lookup::Known);
        assert_eq!(
            lookup_condition_key("aws:PrincipleOrgID"),
            Lookup::Unknown(Some("aws:PrincipalOrgID".into()))
        );
        assert_eq!(
            lookup_condition_key("aws:PrincipleTag/team"),
            Lookup::Unknown(Some("aws:PrincipalTag/team".into()))
        );
        assert_eq!(lookup_condition_key("ecr:ResourceTag/x"), Lookup::OtherService);
    }

    #[test]
    fn wildcards_must_match_something() {
        assert_eq!(lookup("ecr", "Get*"), Lookup::Known);
        assert_eq!(lookup("ecr", "BatchGet?mage"), Lookup::Known);
        assert_eq!(lookup("ecr", "Pull*"), Lookup::WildcardMatchesNothing);
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
