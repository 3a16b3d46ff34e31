//! Reading the parts of an HTTP request the way AWS does: one value per header, percent-decoding exactly
//! once, and the repository ARN every ECR route builds.

use super::model::{HostInfo, Permission, Refusal};

/// Whether a request carries a body at all (a non-zero `Content-Length` or any `Transfer-Encoding`).
pub fn has_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING) || content_length(headers).is_some_and(|n| n > 0)
}

/// The declared body length, when there is exactly one well-formed `Content-Length`.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()?.trim().parse().ok()
}

/// The single value of a header; a header sent twice where AWS expects one is refused, never guessed.
pub fn single_header<'h>(headers: &'h http::HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Refusal(format!("header {name} given more than once")));
    }
    first.to_str().map(Some).map_err(|_| Refusal(format!("header {name} is not visible ASCII")))
}

/// Splits a query string into percent-decoded pairs, in order; undecodable text is refused.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Percent-decodes exactly once; the result must be UTF-8.
pub fn decode(s: &str) -> Result<String, Refusal> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Refusal(format!("{s:?} does not percent-decode to UTF-8")))
}

/// `arn:P:ecr:R:ACCT:repository/NAME` (the name keeps its slashes), owned by `account`.
pub fn repository_permission(action: &str, host: &HostInfo, account: &str, name: &str) -> Permission {
    Permission {
        action: action.to_string(),
        resource: format!("arn:{}:ecr:{}:{}:repository/{}", host.partition, host.region, account, name),
        resource_account: Some(account.to_string()),
    }
}
