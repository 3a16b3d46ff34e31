//! ECR API (AWS JSON 1.1) request -> ECR action and repository ARN.
//!
//! The operation comes from `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>`, the repository from
//! the JSON body. Actions and resource types follow the Service Authorization Reference, "Actions, resources,
//! and condition keys for Amazon Elastic Container Registry". A body that could be read two ways (not JSON,
//! duplicate keys, a repository named twice, a key spelled in another case) is refused.

use super::body::{scan_prefix, Field, Fields};
use super::{repository_permission, single_header, BodyView, HostInfo, Permission, Refusal, RequestHead};
use crate::policy::iam_data::IAM_DATA_VERSION;
use crate::policy::matching::is_account_id;
use crate::policy::RequestContext;

/// The `X-Amz-Target` prefix of every ECR API operation.
pub(crate) const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";

/// What an operation acts on, which decides the resource ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One repository from `repositoryName` (+ optional `registryId`).
    Repository,
    /// Repositories from `repositoryNames`; absent means all (`*`), as for DescribeRepositories.
    RepositoriesOrAll,
    /// Repositories from `repositoryNames`, which is required.
    Repositories,
    /// The repository in `resourceArn` (tagging).
    ResourceArn,
    /// A registry-level operation: resource `*`.
    Registry,
}

/// The operations of `AmazonEC2ContainerRegistry_V20150921` the classifier maps: operation, IAM action,
/// scope. `ecr_operations.txt` lists them for `scripts/check-ecr-operations`, which fails when botocore's
/// model has an operation that is not there. Each action and its resource type are checked against the
/// IAM data by a unit test; `ListImageReferrers` has no action of its own and needs `ecr:BatchGetImage`
/// (Amazon ECR API Reference, ListImageReferrers). Pull-through-cache side effects of BatchGetImage
/// (`ecr:BatchImportUpstreamImage`, `ecr:CreateRepository`) depend on upstream state and are not added.
pub(crate) const OPERATIONS: [(&str, &str, Scope); 58] = {
    use Scope::*;
    [
        ("BatchCheckLayerAvailability", "ecr:BatchCheckLayerAvailability", Repository),
        ("BatchDeleteImage", "ecr:BatchDeleteImage", Repository),
        ("BatchGetImage", "ecr:BatchGetImage", Repository),
        (
            "BatchGetRepositoryScanningConfiguration",
            "ecr:BatchGetRepositoryScanningConfiguration",
            Repositories,
        ),
        ("CompleteLayerUpload", "ecr:CompleteLayerUpload", Repository),
        ("CreatePullThroughCacheRule", "ecr:CreatePullThroughCacheRule", Registry),
        ("CreateRepository", "ecr:CreateRepository", Repository),
        ("CreateRepositoryCreationTemplate", "ecr:CreateRepositoryCreationTemplate", Registry),
        ("DeleteLifecyclePolicy", "ecr:DeleteLifecyclePolicy", Repository),
        ("DeletePullThroughCacheRule", "ecr:DeletePullThroughCacheRule", Registry),
        ("DeleteRegistryPolicy", "ecr:DeleteRegistryPolicy", Registry),
        ("DeleteRepository", "ecr:DeleteRepository", Repository),
        ("DeleteRepositoryCreationTemplate", "ecr:DeleteRepositoryCreationTemplate", Registry),
        ("DeleteRepositoryPolicy", "ecr:DeleteRepositoryPolicy", Repository),
        ("DeleteSigningConfiguration", "ecr:DeleteSigningConfiguration", Registry),
        ("DeregisterPullTimeUpdateExclusion", "ecr:DeregisterPullTimeUpdateExclusion", Registry),
        ("DescribeImageReplicationStatus", "ecr:DescribeImageReplicationStatus", Repository),
        ("DescribeImageScanFindings", "ecr:DescribeImageScanFindings", Repository),
        ("DescribeImageSigningStatus", "ecr:DescribeImageSigningStatus", Repository),
        ("DescribeImages", "ecr:DescribeImages", Repository),
        ("DescribePullThroughCacheRules", "ecr:DescribePullThroughCacheRules", Registry),
        ("DescribeRegistry", "ecr:DescribeRegistry", Registry),
        ("DescribeRepositories", "ecr:DescribeRepositories", RepositoriesOrAll),
        ("DescribeRepositoryCreationTemplates", "ecr:DescribeRepositoryCreationTemplates", Registry),
        ("GetAccountSetting", "ecr:GetAccountSetting", Registry),
        ("GetAuthorizationToken", "ecr:GetAuthorizationToken", Registry),
        ("GetDownloadUrlForLayer", "ecr:GetDownloadUrlForLayer", Repository),
        ("GetLifecyclePolicy", "ecr:GetLifecyclePolicy", Repository),
        ("GetLifecyclePolicyPreview", "ecr:GetLifecyclePolicyPreview", Repository),
        ("GetRegistryPolicy", "ecr:GetRegistryPolicy", Registry),
        ("GetRegistryScanningConfiguration", "ecr:GetRegistryScanningConfiguration", Registry),
        ("GetRepositoryPolicy", "ecr:GetRepositoryPolicy", Repository),
        ("GetSigningConfiguration", "ecr:GetSigningConfiguration", Registry),
        ("InitiateLayerUpload", "ecr:InitiateLayerUpload", Repository),
        ("ListImageReferrers", "ecr:BatchGetImage", Repository),
        ("ListImages", "ecr:ListImages", Repository),
        ("ListPullTimeUpdateExclusions", "ecr:ListPullTimeUpdateExclusions", Registry),
        ("ListTagsForResource", "ecr:ListTagsForResource", ResourceArn),
        ("PutAccountSetting", "ecr:PutAccountSetting", Registry),
        ("PutImage", "ecr:PutImage", Repository),
        ("PutImageScanningConfiguration", "ecr:PutImageScanningConfiguration", Repository),
        ("PutImageTagMutability", "ecr:PutImageTagMutability", Repository),
        ("PutLifecyclePolicy", "ecr:PutLifecyclePolicy", Repository),
        ("PutRegistryPolicy", "ecr:PutRegistryPolicy", Registry),
        ("PutRegistryScanningConfiguration", "ecr:PutRegistryScanningConfiguration", Registry),
        ("PutReplicationConfiguration", "ecr:PutReplicationConfiguration", Registry),
        ("PutSigningConfiguration", "ecr:PutSigningConfiguration", Registry),
        ("RegisterPullTimeUpdateExclusion", "ecr:RegisterPullTimeUpdateExclusion", Registry),
        ("SetRepositoryPolicy", "ecr:SetRepositoryPolicy", Repository),
        ("StartImageScan", "ecr:StartImageScan", Repository),
        ("StartLifecyclePolicyPreview", "ecr:StartLifecyclePolicyPreview", Repository),
        ("TagResource", "ecr:TagResource", ResourceArn),
        ("UntagResource", "ecr:UntagResource", ResourceArn),
        ("UpdateImageStorageClass", "ecr:UpdateImageStorageClass", Repository),
        ("UpdatePullThroughCacheRule", "ecr:UpdatePullThroughCacheRule", Registry),
        ("UpdateRepositoryCreationTemplate", "ecr:UpdateRepositoryCreationTemplate", Registry),
        ("UploadLayerPart", "ecr:UploadLayerPart", Repository),
        ("ValidatePullThroughCacheRule", "ecr:ValidatePullThroughCacheRule", Registry),
    ]
};

/// Operations in botocore's ECR model (1.44.8 added the replication-backfill ones) for which the IAM data
/// (Service Authorization Reference, "Actions defined by Amazon Elastic Container Registry") names no
/// action. No endpoint policy can be known to allow or deny them, and mapping them onto a neighbouring
/// action (`ecr:PutReplicationConfiguration`, say) would be a guess, so they are refused with that reason.
pub(crate) const NO_IAM_ACTION: [&str; 4] = [
    "DescribeReplicationBackfillResults",
    "ListReplicationBackfills",
    "StartReplicationBackfill",
    "StopReplicationBackfill",
];

/// Operations whose bodies may exceed the classification bound: a layer part is up to 20 MiB of base64.
/// It is classified from a prefix when `repositoryName` (and `registryId`) come before `layerPartBlob`, as
/// the AWS SDKs and CLI serialise them. A second `repositoryName` after the blob cannot be seen, but the
/// upload id is bound upstream to the repository whose InitiateLayerUpload was authorized. Other operations
/// (PutImage with a manifest over the bound) are refused: raise `limits.max_classify_body_bytes` for them.
const PREFIX_CLASSIFIABLE: [&str; 1] = ["UploadLayerPart"];

/// Keys that name the resource; a case variant of one of them is refused, since upstream might accept it.
const RESOURCE_KEYS: [&str; 4] = ["registryId", "repositoryName", "repositoryNames", "resourceArn"];

/// The operation named by `X-Amz-Target`, as `(operation, action, scope)`.
pub(crate) fn operation(head: &RequestHead<'_>) -> Result<(&'static str, &'static str, Scope), Refusal> {
    let target = single_header(head.headers, "x-amz-target")?
        .ok_or_else(|| Refusal("ECR API request without X-Amz-Target".into()))?;
    let op = target
        .strip_prefix(TARGET_PREFIX)
        .ok_or_else(|| Refusal(format!("X-Amz-Target {target:?} is not an ECR API operation")))?;
    if let Some(found) = OPERATIONS.iter().find(|(name, _, _)| *name == op) {
        return Ok(*found);
    }
    if NO_IAM_ACTION.contains(&op) {
        return Err(Refusal(format!(
            "IAM data names no action for ECR operation {op} ({IAM_DATA_VERSION}), so no endpoint policy \
             can be checked against it"
        )));
    }
    Err(Refusal(format!("X-Amz-Target {target:?} names an unknown ECR operation")))
}

/// Classifies an ECR API call; `caller_account` stands in for a missing `registryId`.
pub(crate) fn classify(
    host: &HostInfo,
    head: &RequestHead<'_>,
    body: Option<BodyView<'_>>,
    caller_account: Option<&str>,
    context: &mut RequestContext,
) -> Result<(Permission, Vec<Permission>), Refusal> {
    if head.method != "POST" || head.path != "/" {
        return Err(Refusal(format!("ECR API calls are POST /, not {} {}", head.method, head.path)));
    }
    let (op, action, scope) = operation(head)?;
    let fields = read_fields(op, body)?;
    check_key_spelling(&fields)?;
    super::tags::request_tags(op, &fields, context)?;
    let account = registry_account(&fields, caller_account)?;
    match scope {
        Scope::Registry => Ok((
            Permission { action: action.into(), resource: "*".into(), resource_account: account },
            Vec::new(),
        )),
        Scope::Repository => {
            only_key(&fields, "repositoryName", op)?;
            let name = string_field(&fields, "repositoryName", op)?;
            let account = need_account(account, op)?;
            Ok((repository(action, host, &account, &name)?, Vec::new()))
        }
        Scope::Repositories | Scope::RepositoriesOrAll => {
            only_key(&fields, "repositoryNames", op)?;
            let account = need_account(account, op)?;
            many(action, host, &account, &fields, op, scope == Scope::RepositoriesOrAll)
        }
        Scope::ResourceArn => {
            only_key(&fields, "resourceArn", op)?;
            let arn = string_field(&fields, "resourceArn", op)?;
            Ok((from_arn(action, host, &arn)?, Vec::new()))
        }
    }
}

fn read_fields(op: &str, body: Option<BodyView<'_>>) -> Result<Fields, Refusal> {
    let Some(body) = body else {
        return Err(Refusal(format!("{op}: the JSON body was not read, so the repository is unknown")));
    };
    if body.complete {
        return super::body::parse_complete(body.bytes).map_err(|e| Refusal(format!("{op}: {e}")));
    }
    if !PREFIX_CLASSIFIABLE.contains(&op) {
        return Err(Refusal(format!("{op}: body larger than limits.max_classify_body_bytes")));
    }
    scan_prefix(body.bytes).map_err(|e| Refusal(format!("{op}: {e}")))
}

fn check_key_spelling(fields: &Fields) -> Result<(), Refusal> {
    for (key, _) in fields {
        if let Some(k) = RESOURCE_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key) && **k != key) {
            return Err(Refusal(format!("body key {key:?} differs from {k:?} only in case")));
        }
    }
    Ok(())
}

/// The registry the call acts on: `registryId` when given (12 digits), else the caller's account.
fn registry_account(fields: &Fields, caller: Option<&str>) -> Result<Option<String>, Refusal> {
    match get(fields, "registryId") {
        None => Ok(caller.map(str::to_string)),
        Some(Field::Str(id)) if is_account_id(id) => Ok(Some(id.clone())),
        Some(_) => Err(Refusal("registryId is not a 12-digit account id".into())),
    }
}

fn need_account(account: Option<String>, op: &str) -> Result<String, Refusal> {
    account.ok_or_else(|| {
        Refusal(format!(
            "{op}: no registryId and the caller's account is unknown (configure the principal's account or \
             endpoint.account)"
        ))
    })
}

fn get<'f>(fields: &'f Fields, key: &str) -> Option<&'f Field> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The repository must be named by exactly one of the keys that can name it.
fn only_key(fields: &Fields, wanted: &str, op: &str) -> Result<(), Refusal> {
    let others: Vec<&str> = ["repositoryName", "repositoryNames", "resourceArn"]
        .into_iter()
        .filter(|k| *k != wanted && get(fields, k).is_some())
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(Refusal(format!("{op}: repository named twice ({wanted} and {})", others.join(", "))))
    }
}

fn string_field(fields: &Fields, key: &str, op: &str) -> Result<String, Refusal> {
    match get(fields, key) {
        Some(Field::Str(s)) => Ok(s.clone()),
        Some(_) => Err(Refusal(format!("{op}: {key} is not a string"))),
        None => Err(Refusal(format!("{op}: body has no {key}"))),
    }
}

fn repository(action: &str, host: &HostInfo, account: &str, name: &str) -> Result<Permission, Refusal> {
    if !super::registry::is_repository_name(name) {
        return Err(Refusal(format!("{name:?} is not a valid ECR repository name")));
    }
    Ok(repository_permission(action, host, account, name))
}

fn many(
    action: &str,
    host: &HostInfo,
    account: &str,
    fields: &Fields,
    op: &str,
    absent_means_all: bool,
) -> Result<(Permission, Vec<Permission>), Refusal> {
    match get(fields, "repositoryNames") {
        None if absent_means_all => Ok((
            Permission {
                action: action.into(),
                resource: "*".into(),
                resource_account: Some(account.into()),
            },
            Vec::new(),
        )),
        None => Err(Refusal(format!("{op}: body has no repositoryNames"))),
        Some(Field::StrList(names)) if !names.is_empty() => {
            let mut perms =
                names.iter().map(|n| repository(action, host, account, n)).collect::<Result<Vec<_>, _>>()?;
            let main = perms.remove(0);
            Ok((main, perms))
        }
        Some(_) => Err(Refusal(format!("{op}: repositoryNames is not a non-empty list of strings"))),
    }
}

/// `arn:P:ecr:R:ACCT:repository/NAME`, in this endpoint's partition and region.
fn from_arn(action: &str, host: &HostInfo, arn: &str) -> Result<Permission, Refusal> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let bad =
        || Refusal(format!("resourceArn {arn:?} is not an ECR repository ARN of this endpoint's region"));
    let [p, partition, "ecr", region, account, rest] = parts.as_slice() else { return Err(bad()) };
    if *p != "arn" || *partition != host.partition || *region != host.region {
        return Err(bad());
    }
    if !is_account_id(account) {
        return Err(bad());
    }
    let name = rest.strip_prefix("repository/").ok_or_else(bad)?;
    repository(action, host, account, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amazon ECR API Reference, "Actions": each operation mapped once; all but `ListImageReferrers` (which
    /// "must have the ecr:BatchGetImage permission") to the action of the same name.
    #[test]
    fn the_operation_table_is_complete_and_unique() {
        let mut names: Vec<&str> = OPERATIONS.iter().map(|(n, _, _)| *n).chain(NO_IAM_ACTION).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPERATIONS.len() + NO_IAM_ACTION.len(), "an operation is listed twice");
        for (op, action, _) in OPERATIONS {
            let same = action.strip_prefix("ecr:") == Some(op);
            assert!(same || op == "ListImageReferrers", "{op} -> {action}");
        }
    }

    /// Service Authorization Reference, "Actions defined by Amazon Elastic Container Registry": every
    /// action the table emits is an IAM action, and an operation is registry-level (resource `*`) exactly
    /// when its action has no resource type; the others act on the `repository` resource type.
    #[test]
    fn every_action_is_an_iam_action_and_star_exactly_where_it_has_no_resource_type() {
        for (op, action, scope) in OPERATIONS {
            let types = crate::classify::action_tests::iam_action(action).resource_types;
            let registry_level = scope == Scope::Registry;
            assert_eq!(registry_level, types.is_empty(), "{op} -> {action} is {scope:?}; IAM: {types:?}");
            assert!(registry_level || types.contains(&"repository"), "{op} -> {action}: IAM: {types:?}");
        }
        crate::classify::action_tests::assert_literals_are_iam("ecr_api.rs", include_str!("ecr_api.rs"));
    }

    /// Service Authorization Reference, "Actions defined by Amazon Elastic Container Registry", as the
    /// pinned IAM data has it: no action for these operations, so they are refused with that reason. When
    /// the data gains one, this fails, and the operation should be classified instead.
    #[test]
    fn operations_without_an_iam_action_are_refused_with_that_reason() {
        for op in NO_IAM_ACTION {
            assert!(crate::policy::iam::action("ecr", op).is_none(), "IAM data now names ecr:{op}");
            let mut headers = http::HeaderMap::new();
            headers.insert("x-amz-target", format!("{TARGET_PREFIX}{op}").parse().unwrap());
            let head = RequestHead {
                method: "POST",
                host: "api.ecr.us-east-1.amazonaws.com",
                path: "/",
                headers: &headers,
            };
            let why = operation(&head).unwrap_err().0;
            assert!(why.starts_with(&format!("IAM data names no action for ECR operation {op} (")), "{why}");
        }
    }

    /// How `ecr_operations.txt` spells what names an operation's resource: the body member, or `*`.
    fn resource_word(scope: Scope) -> &'static str {
        match scope {
            Scope::Repository => "repositoryName",
            Scope::Repositories => "repositoryNames",
            Scope::RepositoriesOrAll => "repositoryNames|*",
            Scope::ResourceArn => "resourceArn",
            Scope::Registry => "*",
        }
    }

    /// The lines `ecr_operations.txt` must hold, sorted by operation: `operation action resource`.
    fn operation_lines() -> Vec<String> {
        let mut lines: Vec<String> = OPERATIONS
            .iter()
            .map(|(op, action, scope)| format!("{op} {action} {}", resource_word(*scope)))
            .chain(NO_IAM_ACTION.iter().map(|op| format!("{op} refused no-iam-action")))
            .collect();
        lines.sort_unstable();
        lines
    }

    /// `scripts/check-ecr-operations` compares botocore's ECR model with `ecr_operations.txt`; this keeps
    /// the file equal to the table the classifier uses, so an operation botocore adds fails the script until
    /// it is classified or refused here.
    #[test]
    fn the_committed_operation_list_is_the_classifier_s_table() {
        let committed: Vec<&str> = include_str!("ecr_operations.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        let want = operation_lines();
        assert!(
            committed == want,
            "src/classify/ecr_operations.txt differs from ecr_api.rs's tables; its lines should be:\n{}",
            want.join("\n")
        );
    }
}
