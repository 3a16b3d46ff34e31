//! The host names whose leaves are minted at start, so the first client of a fresh proxy never waits for
//! a key pair and a signature inside its handshake (ARCHITECTURE.md §7).
//!
//! The names are the ones a client of this endpoint asks for first: each configured upstream route (a
//! `*.dkr.ecr.REGION...` route once per known account), and the ECR API, registry and S3 layer-bucket
//! names of every region the routes name, plus `us-east-1`. Anything else is minted on first use.

use std::collections::BTreeSet;

use crate::classify::hosts::is_region;
use crate::config::Config;
use crate::policy::matching::is_account_id;

/// At most this many leaves are minted at start, whatever the config lists.
pub(crate) const MAX_PREMINT: usize = 64;

/// The names to mint at start, sorted, at most [`MAX_PREMINT`].
pub(crate) fn names(config: &Config) -> Vec<String> {
    let accounts = accounts(config);
    let mut regions = BTreeSet::from(["us-east-1".to_string()]);
    let mut names = BTreeSet::new();
    for route in &config.upstreams {
        let host = route.host.to_ascii_lowercase();
        if let Some(region) = region_of(&host) {
            regions.insert(region.to_string());
        }
        match host.strip_prefix("*.") {
            None => {
                names.insert(host.clone());
            }
            Some(rest) if rest.starts_with("dkr.ecr.") => {
                names.extend(accounts.iter().map(|account| format!("{account}.{rest}")));
            }
            Some(_) => {}
        }
    }
    for region in &regions {
        let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        names.insert(format!("api.ecr.{region}.{suffix}"));
        names.insert(format!("ecr.{region}.{suffix}"));
        names.insert(format!("s3.{region}.{suffix}"));
        names.insert(format!("prod-{region}-starport-layer-bucket.s3.{region}.{suffix}"));
        names.extend(accounts.iter().map(|account| format!("{account}.dkr.ecr.{region}.{suffix}")));
    }
    names.into_iter().take(MAX_PREMINT).collect()
}

/// Every account the config names: the endpoint's, each principal's, each `[[account]]`.
fn accounts(config: &Config) -> BTreeSet<String> {
    let principals = config
        .principals
        .iter()
        .filter_map(|p| p.account.clone().or_else(|| p.arn.split(':').nth(4).map(str::to_string)));
    let listed = config.accounts.iter().map(|a| a.id.clone());
    config
        .endpoint
        .account
        .iter()
        .cloned()
        .chain(principals)
        .chain(listed)
        .filter(|a| is_account_id(a))
        .collect()
}

/// The region label of an AWS host name (`...ecr.us-east-1.amazonaws.com` -> `us-east-1`).
fn region_of(host: &str) -> Option<&str> {
    host.split('.').find(|label| is_region(label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpstreamRoute;

    fn config(toml: &str) -> Config {
        Config::parse(toml, std::path::Path::new("vpce-proxy.toml")).expect("config")
    }

    #[test]
    fn a_registry_wildcard_route_is_minted_once_per_known_account() {
        let mut c = config(
            "[endpoint]\naccount = \"123456789123\"\n[[principal]]\narn = \"arn:aws:iam::210987654321:user/dev\"\n",
        );
        c.upstreams = vec![
            UpstreamRoute {
                host: "*.dkr.ecr.eu-west-1.amazonaws.com".into(),
                address: "127.0.0.1:5000".into(),
            },
            UpstreamRoute { host: "registry.internal".into(), address: "127.0.0.1:5001".into() },
        ];
        let names = names(&c);
        for expected in [
            "123456789123.dkr.ecr.eu-west-1.amazonaws.com",
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com",
            "registry.internal",
            "api.ecr.eu-west-1.amazonaws.com",
            "prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com",
            "api.ecr.us-east-1.amazonaws.com",
            "123456789123.dkr.ecr.us-east-1.amazonaws.com",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
    }

    #[test]
    fn the_embedded_defaults_mint_the_us_east_1_api_and_s3_names_only() {
        let names = names(&Config::default());
        assert_eq!(
            names,
            [
                "api.ecr.us-east-1.amazonaws.com",
                "ecr.us-east-1.amazonaws.com",
                "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com",
                "s3.us-east-1.amazonaws.com",
            ]
        );
    }

    #[test]
    fn the_list_is_bounded_whatever_the_config_names() {
        let accounts = (0..200)
            .map(|i| crate::config::AccountConfig {
                id: format!("{:012}", 100_000_000_000u64 + i),
                ..Default::default()
            })
            .collect();
        let c = Config { accounts, ..Config::default() };
        assert_eq!(names(&c).len(), MAX_PREMINT);
    }
}
