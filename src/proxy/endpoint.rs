//! Which hosts are endpoint hosts, decided from the name alone at CONNECT time (before any request).
//!
//! The classifier decides the details per request; this only answers "would a VPC endpoint for ECR or S3
//! serve this name at all", so a CONNECT to anything else is refused (or tunnelled when configured)
//! without terminating TLS for it.

use crate::classify::hosts::parse_host;
use crate::classify::Service;

/// The service whose endpoint serves `host` (no port), or `None` for a host no ECR/S3 endpoint serves.
/// Delegates to the classifier's host parser, so CONNECT admits exactly the hosts requests can be
/// classified for.
pub fn service_of(host: &str) -> Option<Service> {
    parse_host(host).ok().map(|info| info.service)
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
