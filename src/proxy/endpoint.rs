//! Which hosts are endpoint hosts, decided from the name alone at CONNECT time (before any request).
//!
//! The classifier decides the details per request; this only answers "would a VPC endpoint for ECR or S3
//! serve this name at all", so a CONNECT to anything else is refused (or tunnelled when configured)
//! without terminating TLS for it.

use crate::classify::Service;

/// DNS suffixes of the AWS partitions.
const SUFFIXES: [&str; 8] = [
    "amazonaws.com.cn",
    "amazonaws.com",
    "api.aws",
    "on.aws",
    "c2s.ic.gov",
    "sc2s.sgov.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

/// The service whose endpoint serves `host` (no port), or `None` for a host no ECR/S3 endpoint serves.
pub fn service_of(host: &str) -> Option<Service> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = SUFFIXES
        .iter()
        .find_map(|s| host.strip_suffix(s).and_then(|rest| rest.strip_suffix('.')))?
        .split('.')
        .collect();
    let is_ecr = |l: &&str| *l == "ecr" || *l == "ecr-fips";
    let dkr = labels.windows(2).any(|w| w[0] == "dkr" && is_ecr(&w[1]))
        || labels.iter().any(|l| *l == "dkr-ecr" || *l == "dkr-ecr-fips");
    if dkr {
        Some(Service::EcrDkr)
    } else if labels.iter().any(is_ecr) {
        Some(Service::EcrApi)
    } else if labels.iter().any(|l| is_s3_label(l)) {
        Some(Service::S3)
    } else {
        None
    }
}

fn is_s3_label(label: &str) -> bool {
    label == "s3" || (label.starts_with("s3-") && !label.starts_with("s3-control"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(service_of(host), *want, "{host}");
        }
    }
}
