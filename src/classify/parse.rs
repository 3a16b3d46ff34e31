//! Reading the parts of an HTTP request the way AWS does: one value per header, percent-decoding exactly
//! once, and the repository ARN every ECR route builds.

use base64::Engine;

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

/// Percent-decodes exactly once; the result must be UTF-8. A `%` not followed by two hex digits stays as
/// it is, as `percent_encoding` leaves it. Written as runs copied between escapes rather than through
/// `percent_encoding`'s byte-at-a-time iterator: a presigned layer URL's security token is a kilobyte of
/// escapes, decoded twice per request (signature and S3 classification), which was a third of its
/// authorization (`cargo bench --bench authorize`).
pub fn decode(s: &str) -> Result<String, Refusal> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%') else { return Ok(s.to_owned()) };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[hi, lo]) if bytes[i] == b'%' => hex_value(hi).zip(hex_value(lo)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                let run = bytes[i + 1..].iter().position(|&b| b == b'%').map_or(bytes.len(), |p| i + 1 + p);
                out.extend_from_slice(&bytes[i..run]);
                i = run;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Refusal(format!("{s:?} does not percent-decode to UTF-8")))
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

/// `Basic base64(USER:PASSWORD)` (RFC 7617; the scheme is case-insensitive) -> `(USER, PASSWORD)`.
/// The one decoder for every Basic credential the proxy reads: `Proxy-Authorization` on CONNECT and a
/// registry client's `Authorization` carrying a GetAuthorizationToken password.
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    basic_token(token)
}

/// `base64(USER:PASSWORD)` -> `(USER, PASSWORD)`: the token part of a Basic credential, which is also
/// the shape of GetAuthorizationToken's `authorizationToken`.
pub fn basic_token(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `arn:P:ecr:R:ACCT:repository/NAME` (the name keeps its slashes), owned by `account`.
pub fn repository_permission(action: &str, host: &HostInfo, account: &str, name: &str) -> Permission {
    Permission {
        action: action.to_string(),
        resource: format!("arn:{}:ecr:{}:{}:repository/{}", host.partition, host.region, account, name),
        resource_account: Some(account.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decode` agrees with `percent_encoding` on every shape of escape, valid or not (RFC 3986 §2.1).
    #[test]
    fn decode_matches_percent_encoding_on_every_escape_shape() {
        for input in [
            "",
            "plain",
            "a%2Fb",
            "%41%42%43",
            "%",
            "%4",
            "%zz",
            "%%41",
            "x%",
            "x%4",
            "%e2%82%ac",
            "%E2%82%AC",
            "IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVz%3D%3D",
            "100%",
            "%2",
            "+%20+",
        ] {
            let theirs = percent_encoding::percent_decode_str(input).decode_utf8().map(|c| c.into_owned());
            assert_eq!(decode(input).ok(), theirs.ok(), "{input:?}");
        }
        assert!(decode("%ff").is_err(), "a byte that is not UTF-8 is refused");
        assert!(decode("%C3").is_err(), "half a UTF-8 sequence is refused");
    }

    /// RFC 7617 §2: `Basic` then base64 of `user-id ":" password`; the password may contain colons.
    #[test]
    fn basic_credentials_decode_as_rfc_7617_says() {
        let rows: [(&str, Option<(&str, &str)>); 7] = [
            ("Basic YWxpY2U6czNjcmV0", Some(("alice", "s3cret"))),
            ("basic YWxpY2U6czNjcmV0", Some(("alice", "s3cret"))),
            ("BASIC  YWxpY2U6czNjcmV0 ", Some(("alice", "s3cret"))),
            ("Basic QVdTOmE6Yg==", Some(("AWS", "a:b"))),
            ("Bearer YWxpY2U6czNjcmV0", None),
            ("Basic bm9jb2xvbg==", None),
            ("Basic !!!", None),
        ];
        for (value, want) in rows {
            let got = basic_credentials(value);
            assert_eq!(got.as_ref().map(|(u, p)| (u.as_str(), p.as_str())), want, "{value}");
        }
    }
}
