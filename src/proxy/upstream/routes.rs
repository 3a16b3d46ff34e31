//! `[[upstream]]` routes: send a host (or every host under a suffix) to another address while TLS SNI and
//! `Host` stay the AWS name, which is how the lab reaches its stand-ins without touching DNS.

use crate::config::UpstreamRoute;

/// The routes in config order; the first match wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    routes: Vec<(Pattern, String)>,
}

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    /// `*.suffix`: any host with at least one more label in front of `.suffix`.
    Suffix(String),
}

impl Routes {
    /// Builds the table; host patterns are case-insensitive.
    pub(crate) fn new(routes: &[UpstreamRoute]) -> Routes {
        let routes = routes
            .iter()
            .map(|r| {
                let host = r.host.to_ascii_lowercase();
                let pattern = match host.strip_prefix('*') {
                    Some(suffix) if suffix.starts_with('.') => Pattern::Suffix(suffix.to_string()),
                    _ => Pattern::Exact(host),
                };
                (pattern, r.address.clone())
            })
            .collect();
        Routes { routes }
    }

    /// The address to dial for `host:port`: a route's address, or the host itself.
    pub(crate) fn address(&self, host: &str, port: u16) -> String {
        match self.route(host) {
            Some((_, address)) => address.clone(),
            None if host.contains(':') => format!("[{host}]:{port}"),
            None => format!("{host}:{port}"),
        }
    }

    /// Whether a route names `host` (rather than the host being dialled as itself).
    pub(crate) fn routes(&self, host: &str) -> bool {
        self.route(host).is_some()
    }

    fn route(&self, host: &str) -> Option<&(Pattern, String)> {
        let lower = host.to_ascii_lowercase();
        self.routes.iter().find(|(pattern, _)| match pattern {
            Pattern::Exact(h) => *h == lower,
            Pattern::Suffix(s) => lower.len() > s.len() && lower.ends_with(s.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_route_wins_else_the_host_itself() {
        let route = |host: &str, address: &str| UpstreamRoute { host: host.into(), address: address.into() };
        let routes = Routes::new(&[
            route("api.ecr.us-east-1.amazonaws.com", "127.0.0.1:5000"),
            route("*.dkr.ecr.us-east-1.amazonaws.com", "127.0.0.1:5001"),
            route("*.amazonaws.com", "127.0.0.1:5002"),
        ]);
        let rows = [
            ("API.ecr.us-east-1.amazonaws.com", "127.0.0.1:5000"),
            ("1234.dkr.ecr.us-east-1.amazonaws.com", "127.0.0.1:5001"),
            ("dkr.ecr.us-east-1.amazonaws.com", "127.0.0.1:5002"),
            ("b.s3.us-east-1.amazonaws.com", "127.0.0.1:5002"),
            ("example.com", "example.com:443"),
            ("::1", "[::1]:443"),
        ];
        for (host, want) in rows {
            assert_eq!(routes.address(host, 443), want, "{host}");
        }
    }
}
