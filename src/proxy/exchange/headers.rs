//! The inner request's head at the edge: the host it names must be the tunnel's, and the request upstream
//! receives is the same request minus what only described the client's hop.

use http::header::{HeaderName, CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, Request, Uri, Version};

use super::body::RequestBody;
use super::conn::ConnCtx;
use crate::proxy::connect::authority_parts;

/// Why the host an inner request names is not acceptable (RFC 9110 §7.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HostError {
    /// `Host` carries bytes that are not visible ASCII.
    #[error("Host header is not ASCII")]
    NotAscii,
    /// Two `Host` headers: upstream and the proxy might each read a different one.
    #[error("more than one Host header")]
    Duplicate,
    /// `Host` and the request target's authority differ.
    #[error("Host header {header:?} disagrees with the request target {target:?}")]
    Disagrees {
        /// The `Host` header.
        header: String,
        /// The request target's authority.
        target: String,
    },
    /// Neither `Host` nor an authority in the request target.
    #[error("request names no host (Host header missing)")]
    Missing,
    /// The request is for another host than the CONNECT target and TLS server name (domain fronting).
    #[error("Host {host:?} does not match the tunnel's host {tunnel:?} (CONNECT target and TLS SNI)")]
    NotTunnel {
        /// The host the request names.
        host: String,
        /// The tunnel's host.
        tunnel: String,
    },
}

/// The request could not be rebuilt for upstream (cannot happen for a host the tunnel accepted, but a
/// request is refused rather than sent somewhere unexpected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad request target: {0}")]
pub(crate) struct TargetError(String);

/// The host the inner request names (`:authority` or `Host`), which must be the tunnel's host: otherwise a
/// client could CONNECT to an allowed name and send requests for another (domain fronting).
/// Borrowed from the request: it runs on every request, and only a refusal needs an owned copy.
pub(crate) fn inner_host<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
    ctx: &ConnCtx,
) -> Result<&'a str, HostError> {
    let from_uri = uri.authority().map(http::uri::Authority::as_str);
    let mut values = headers.get_all(HOST).iter();
    let from_header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => Some(value.to_str().map_err(|_| HostError::NotAscii)?),
        (Some(_), Some(_)) => return Err(HostError::Duplicate),
    };
    let host = match (from_uri, from_header) {
        (Some(a), Some(h)) if !same_host(a, h, ctx.port) => {
            return Err(HostError::Disagrees { header: h.to_string(), target: a.to_string() })
        }
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err(HostError::Missing),
    };
    let tunnel = ctx.host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    if split_authority(host, ctx.port) != (Caseless(tunnel), ctx.port) {
        return Err(HostError::NotTunnel { host: host.to_string(), tunnel: ctx.host.clone() });
    }
    Ok(host)
}

/// `a` and `b` name the same host and port, a missing port meaning `port`.
fn same_host(a: &str, b: &str, port: u16) -> bool {
    split_authority(a, port) == split_authority(b, port)
}

/// Host (brackets and a trailing dot removed, compared without case) and port, a missing port meaning
/// `port`.
fn split_authority(s: &str, port: u16) -> (Caseless<'_>, u16) {
    let (host, port) = authority_parts(s).unwrap_or((s.trim_start_matches('[').trim_end_matches(']'), port));
    (Caseless(host.trim_end_matches('.')), port)
}

/// A host name compared as DNS compares it, without regard to ASCII case.
#[derive(Debug)]
struct Caseless<'a>(&'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

/// The request as upstream receives it: same method, path and query, headers (including `Host`) and
/// body; only connection-scoped headers that cannot cross a hop are dropped (RFC 9110 §7.6.1).
pub(crate) fn upstream_request(
    ctx: &ConnCtx,
    parts: http::request::Parts,
    body: RequestBody,
) -> Result<Request<RequestBody>, TargetError> {
    let authority = if ctx.port == 443 { ctx.host.clone() } else { format!("{}:{}", ctx.host, ctx.port) };
    let bad_target = |e: &dyn std::fmt::Display| TargetError(e.to_string());
    // Built from parts: the path and query hyper already parsed are reused, not printed and parsed again.
    let mut target = http::uri::Parts::default();
    target.scheme = Some(http::uri::Scheme::HTTPS);
    target.authority = Some(authority.parse().map_err(|e| bad_target(&e))?);
    target.path_and_query = Some(
        parts.uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    let uri = Uri::from_parts(target).map_err(|e| bad_target(&e))?;
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = parts.headers;
    strip_hop_by_hop(request.headers_mut());
    Ok(request)
}

/// Removes the headers that describe one connection, not the message (RFC 9110 §7.6.1): those named in
/// `Connection`, and the well-known connection-specific ones. `TE` and `Transfer-Encoding` are left to
/// hyper, which frames each hop itself.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    if headers.contains_key(CONNECTION) {
        strip_named_in_connection(headers);
    }
    // Names, not strings: removing by `&str` parsed each name again on every request and response.
    for name in [CONNECTION, KEEP_ALIVE, PROXY_CONNECTION, UPGRADE] {
        headers.remove(name);
    }
}

/// Removes every header the `Connection` header names.
fn strip_named_in_connection(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §7.2 (Host and :authority) and §7.6.1 (Connection).
    #[test]
    fn host_agreement() {
        let rows = [
            ("a.example", "A.example:443", true),
            ("a.example:443", "a.example", true),
            ("a.example.", "a.example", true),
            ("a.example:8443", "a.example", false),
            ("b.example", "a.example", false),
        ];
        for (a, b, want) in rows {
            assert_eq!(same_host(a, b, 443), want, "{a} vs {b}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_dropped_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, "keep-alive, x-hop".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-hop", "1".parse().unwrap());
        headers.insert("proxy-connection", "keep-alive".parse().unwrap());
        headers.insert("x-amz-date", "20250101T000000Z".parse().unwrap());
        headers.insert("authorization", "AWS4-HMAC-SHA256 Credential=...".parse().unwrap());
        headers.insert("expect", "100-continue".parse().unwrap());
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["authorization", "expect", "x-amz-date"]);
    }
}
