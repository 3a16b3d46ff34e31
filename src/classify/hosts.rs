//! Host name -> which endpoint it belongs to ([`HostInfo`]), for every host form of ARCHITECTURE.md §1.
//!
//! The service key decides which endpoint policy applies, so a host that merely resembles an AWS name is
//! "not an endpoint host" rather than a guess: every label is checked, the region must look like a region
//! and the DNS suffix must belong to the region's partition.

use std::borrow::Cow;

use super::parse::lowercase;
use super::{HostInfo, Refusal, Service};
use crate::policy::matching::is_account_id;

/// A DNS suffix and the partition whose regions use it.
type Suffix = (&'static [&'static str], &'static [&'static str]);
const SUFFIXES: [Suffix; 5] = [
    (&["amazonaws", "com", "cn"], &["aws-cn"]),
    (&["amazonaws", "com"], &["aws", "aws-us-gov"]),
    (&["c2s", "ic", "gov"], &["aws-iso"]),
    (&["sc2s", "sgov", "gov"], &["aws-iso-b"]),
    (&["api", "aws"], &["aws"]),
];

/// The most labels an endpoint host has: a bucket name is at most 63 characters (32 labels) and the
/// longest form adds 6 (`s3.dualstack.R.amazonaws.com.cn`). A longer name is no endpoint's, so the labels
/// fit a small array and a host parse, which runs several times per request, allocates nothing for them.
const MAX_LABELS: usize = 40;

/// What `split_region` found: the labels before `<region>.<suffix>`, the region and its partition.
type RegionSplit<'a> = Option<(&'a [&'a str], &'a str, &'static str)>;

/// Classifies a `Host` header value (any case, optional trailing dot, optional `:443`).
pub(crate) fn parse_host(raw: &str) -> Result<HostInfo, Refusal> {
    let name = normalize(raw).ok_or_else(|| not_endpoint(raw))?;
    let (mut buf, mut count) = ([""; MAX_LABELS], 0);
    for label in name.split('.') {
        if label.is_empty() || count == MAX_LABELS {
            return Err(not_endpoint(raw));
        }
        buf[count] = label;
        count += 1;
    }
    let labels = &buf[..count];
    let split = split_region(labels);
    ecr_api(labels, split)
        .or_else(|| ecr_dkr(labels, split))
        .or_else(|| s3(labels, split))
        .ok_or_else(|| not_endpoint(raw))
}

fn not_endpoint(raw: &str) -> Refusal {
    Refusal(format!("{raw:?} is not an endpoint host (not an ECR API, ECR registry or S3 host name)"))
}

/// Lowercases, strips a trailing dot and a `:443` port; any other port is not an endpoint. Borrows when
/// the name is lowercase already, as clients send it: this runs several times per request.
pub(crate) fn normalize(raw: &str) -> Option<Cow<'_, str>> {
    let trimmed = raw.trim();
    let host = trimmed.strip_suffix(":443").unwrap_or(trimmed);
    let host = host.strip_suffix('.').unwrap_or(host);
    let ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        return None;
    }
    Some(lowercase(Cow::Borrowed(host)))
}

/// The partition a region belongs to (`cn-*` aws-cn, `us-gov-*` aws-us-gov, `us-iso-*`, `us-isob-*`).
pub(crate) fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// `xx-word-N` or `xx-word-word-N`: lowercase letter groups then a number. Checked without allocating:
/// it runs several times per request (host parse on every request).
pub(crate) fn is_region(s: &str) -> bool {
    let Some((rest, last)) = s.rsplit_once('-') else { return false };
    let mut groups = 1;
    let mut group_len = 0;
    for b in rest.bytes() {
        match b {
            b'-' if group_len > 0 => (groups, group_len) = (groups + 1, 0),
            b'a'..=b'z' => group_len += 1,
            _ => return false,
        }
    }
    group_len > 0 && (2..=4).contains(&groups) && !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `labels` into the part before `<region>.<suffix>`, checking the suffix fits the region.
fn split_region<'a>(labels: &'a [&'a str]) -> RegionSplit<'a> {
    for (suffix, partitions) in SUFFIXES {
        let n = suffix.len();
        if labels.len() <= n || !labels.ends_with(suffix) {
            continue;
        }
        let region = labels[labels.len() - n - 1];
        if is_region(region) && partitions.contains(&partition_of(region)) {
            return Some((&labels[..labels.len() - n - 1], region, partition_of(region)));
        }
        return None;
    }
    None
}

fn info(service: Service, region: &str, account: Option<&str>, bucket: Option<String>) -> HostInfo {
    HostInfo {
        service,
        region: region.to_string(),
        partition: partition_of(region),
        account: account.map(str::to_string),
        bucket,
    }
}

/// `api.ecr.R`, `ecr.R`, `ecr-fips.R`, `api.ecr-fips.R` on amazonaws.com(.cn) and `ecr(-fips).R.api.aws`.
fn ecr_api(labels: &[&str], split: RegionSplit<'_>) -> Option<HostInfo> {
    let (front, region, _) = split?;
    let dual = labels.last() == Some(&"aws");
    let ok = match front {
        ["ecr" | "ecr-fips"] => true,
        ["api", "ecr" | "ecr-fips"] => !dual,
        _ => false,
    };
    ok.then(|| info(Service::EcrApi, region, None, None))
}

/// `ACCT.dkr.ecr(-fips).R.amazonaws.com(.cn)` and the dual-stack `ACCT.dkr-ecr(-fips).R.on.aws`.
fn ecr_dkr(labels: &[&str], split: RegionSplit<'_>) -> Option<HostInfo> {
    if let [account, "dkr-ecr" | "dkr-ecr-fips", region, "on", "aws"] = labels {
        return (is_account_id(account) && is_region(region) && partition_of(region) == "aws")
            .then(|| info(Service::EcrDkr, region, Some(account), None));
    }
    let (front, region, _) = split?;
    if labels.last() == Some(&"aws") {
        return None;
    }
    match front {
        [account, "dkr", "ecr" | "ecr-fips"] if is_account_id(account) => {
            Some(info(Service::EcrDkr, region, Some(account), None))
        }
        _ => None,
    }
}

/// Every S3 form: global, regional, legacy dash, dual-stack, FIPS; path style or with a bucket in front.
fn s3(labels: &[&str], split: RegionSplit<'_>) -> Option<HostInfo> {
    if let Some(pos) = labels.iter().rposition(|l| *l == "s3" || *l == "s3-external-1") {
        if labels[pos + 1..] == ["amazonaws", "com"] {
            return bucket_host(&labels[..pos], "us-east-1");
        }
    }
    // s3-R.amazonaws.com (legacy dash form), possibly with a bucket in front.
    if let [front @ .., dash, "amazonaws", "com"] = labels {
        if let Some(region) = dash.strip_prefix("s3-").filter(|r| is_region(r) && partition_of(r) == "aws") {
            return bucket_host(front, region);
        }
    }
    let (front, region, _) = split?;
    if labels.last() == Some(&"aws") {
        return None;
    }
    let front = match front {
        [rest @ .., "s3" | "s3-fips", "dualstack"] => rest,
        [rest @ .., "s3" | "s3-fips"] => rest,
        _ => return None,
    };
    bucket_host(front, region)
}

fn bucket_host(front: &[&str], region: &str) -> Option<HostInfo> {
    let bucket = if front.is_empty() {
        None
    } else {
        let name = front.join(".");
        if !is_bucket_name(&name) {
            return None;
        }
        Some(name)
    };
    Some(info(Service::S3, region, None, bucket))
}

/// S3 bucket naming rules: 3-63 characters of lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit.
pub(crate) fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// The service whose endpoint serves `host` (no port), or `None` for a host no ECR/S3 endpoint serves.
/// Asked at CONNECT time and on the SNI listener, before any request: the same parser as classification,
/// so a tunnel is opened for exactly the hosts whose requests can be classified.
pub(crate) fn service_of(host: &str) -> Option<Service> {
    parse_host(host).ok().map(|info| info.service)
}

#[cfg(test)]
mod tests {
    use crate::classify::Service;
    /// Region code shapes from the AWS General Reference, "Service endpoints" (`us-east-1`,
    /// `ap-southeast-2`, `us-gov-west-1`, `us-isob-east-1`); the rest are malformed.
    #[test]
    fn region_shapes() {
        let rows = [
            ("us-east-1", true),
            ("ap-southeast-2", true),
            ("us-gov-west-1", true),
            ("us-isob-east-1", true),
            ("cn-north-1", true),
            ("us-east", false),
            ("east-1", false),
            ("us--east-1", false),
            ("-us-east-1", false),
            ("us-east--1", false),
            ("us-east-", false),
            ("us-East-1", false),
            ("us-east-1a", false),
            ("a-b-c-d-e-1", false),
            ("-1", false),
            ("", false),
        ];
        for (s, want) in rows {
            assert_eq!(super::is_region(s), want, "{s:?}");
        }
    }

    /// Host forms from the AWS docs: "Amazon ECR endpoints and quotas"
    /// (https://docs.aws.amazon.com/general/latest/gr/ecr.html), "Amazon S3 endpoints"
    /// (https://docs.aws.amazon.com/general/latest/gr/s3.html) and "Amazon ECR interface VPC endpoints"
    /// (https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html).
    #[test]
    fn endpoint_hosts_by_service() {
        let rows: &[(&str, Option<Service>)] = &[
            ("api.ecr.us-east-1.amazonaws.com", Some(Service::EcrApi)),
            ("ecr.us-east-1.amazonaws.com", Some(Service::EcrApi)),
            ("ecr-fips.us-east-1.amazonaws.com", Some(Service::EcrApi)),
            ("ecr.us-east-1.api.aws", Some(Service::EcrApi)),
            ("api.ecr.cn-north-1.amazonaws.com.cn", Some(Service::EcrApi)),
            ("123456789012.dkr.ecr.us-west-2.amazonaws.com", Some(Service::EcrDkr)),
            ("123456789012.dkr.ecr-fips.us-west-2.amazonaws.com", Some(Service::EcrDkr)),
            ("123456789012.dkr-ecr.us-west-2.on.aws", Some(Service::EcrDkr)),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", Some(Service::EcrDkr)),
            ("prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com", Some(Service::S3)),
            ("bucket.s3.amazonaws.com", Some(Service::S3)),
            ("s3.us-east-1.amazonaws.com", Some(Service::S3)),
            ("s3-fips.us-east-1.amazonaws.com", Some(Service::S3)),
            ("API.ECR.US-EAST-1.AMAZONAWS.COM.", Some(Service::EcrApi)),
            ("s3-control.us-east-1.amazonaws.com", None),
            ("sts.amazonaws.com", None),
            ("example.com", None),
            ("ecr.example.com", None),
            ("amazonaws.com", None),
        ];
        for (host, want) in rows {
            assert_eq!(super::service_of(host), *want, "{host}");
        }
    }

    /// S3 User Guide, "General purpose bucket naming rules": at most 63 characters, dots allowed, so the
    /// longest virtual-hosted name has 37 labels; a name with more labels is no endpoint's.
    #[test]
    fn the_longest_bucket_host_parses_and_longer_names_are_refused() {
        let bucket = vec!["a"; 32].join(".");
        assert_eq!(bucket.len(), 63);
        let host = format!("{bucket}.s3.dualstack.us-east-1.amazonaws.com");
        let info = super::parse_host(&host).unwrap();
        assert_eq!((info.service, info.bucket.as_deref()), (Service::S3, Some(bucket.as_str())));
        let too_many = format!("{}.s3.us-east-1.amazonaws.com", vec!["a"; 36].join("."));
        assert!(super::parse_host(&too_many).unwrap_err().0.contains("not an endpoint host"));
    }
}
