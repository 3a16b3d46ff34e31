//! Reading the parts of an HTTP request the way AWS does: one value per header, percent-decoding exactly
//! once, and the repository ARN every ECR route builds.

use std::borrow::Cow;

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

/// One `name=value` of a query string: the name percent-decoded, the value kept as sent and decoded
/// only when read. Most values are never read: a presigned layer URL's security token is a kilobyte of
/// escapes that only S3 looks at, and decoding it for the signature parse and again for the S3
/// classification was close to half that request's authorization (`cargo bench --bench authorize`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPair<'a> {
    /// The decoded name (borrowed when it has no escapes, as every AWS parameter name has none).
    pub key: Cow<'a, str>,
    raw_value: &'a str,
}

impl<'a> QueryPair<'a> {
    /// The value, percent-decoded once (borrowed when it has no escapes). [`query_pairs`] already refused
    /// any value that does not decode to UTF-8, so this fails only where that check would have.
    pub fn value(&self) -> Result<Cow<'a, str>, Refusal> {
        decode_cow(self.raw_value)
    }
}

/// The one value of `key` in a query, decoded: the query's twin of [`single_header`]. A key given twice
/// is refused with the caller's `twice`, never guessed.
pub(crate) fn single_param<'a>(
    pairs: &[QueryPair<'a>],
    key: &str,
    twice: impl FnOnce() -> Refusal,
) -> Result<Option<Cow<'a, str>>, Refusal> {
    let mut found = pairs.iter().filter(|p| p.key == key);
    let first = found.next();
    if found.next().is_some() {
        return Err(twice());
    }
    first.map(QueryPair::value).transpose()
}

/// The pairs of a request's query (after the path's first `?`), parsed once per request: the signature
/// parse and the service classifiers all read these (see [`query_pairs`]).
pub fn request_query(path_and_query: &str) -> Result<Vec<QueryPair<'_>>, Refusal> {
    path_and_query.split_once('?').map_or(Ok(Vec::new()), |(_, query)| query_pairs(query))
}

/// Splits a query string into pairs, in order. Undecodable text in a name or a value is refused here,
/// whether or not anyone reads that value, so a request AWS would reject is not forwarded.
pub fn query_pairs(query: &str) -> Result<Vec<QueryPair<'_>>, Refusal> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            check_decodes(v)?;
            let key = if k.contains('%') { Cow::Owned(decode(k)?) } else { Cow::Borrowed(k) };
            Ok(QueryPair { key, raw_value: v })
        })
        .collect()
}

/// Whether `s` percent-decodes to UTF-8, without building the result when it plainly does: text that
/// was already UTF-8 stays so when escapes of ASCII bytes (`%2F`, `%3D`) are replaced, since they split
/// it only at ASCII. Only an escape of a byte from 0x80 up can break it, and then `s` is decoded whole.
fn check_decodes(s: &str) -> Result<(), Refusal> {
    // Pairs of adjacent bytes folded without branching, which the compiler vectorises: a token is a
    // third escapes, too dense for a search for `%` to pay. A `%8`..`%F` with no second hex digit is only
    // a candidate, and `decode` then judges it exactly.
    let bytes = s.as_bytes();
    let high_escape = bytes.iter().zip(bytes.iter().skip(1)).fold(false, |found, (&a, &b)| {
        found | ((a == b'%') & matches!(b, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
    });
    if high_escape {
        decode(s)?;
    }
    Ok(())
}

/// ASCII-lowercased, copied only when it has an uppercase letter: names clients send lowercase already
/// (hosts, signed header lists, hex signatures) are borrowed as they are.
pub(crate) fn lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        text
    }
}

/// [`decode`], borrowing `s` when it has no escape to decode.
pub(crate) fn decode_cow(s: &str) -> Result<Cow<'_, str>, Refusal> {
    if s.contains('%') {
        decode(s).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(s))
    }
}

/// Percent-decodes exactly once; the result must be UTF-8. A `%` not followed by two hex digits stays as
/// it is, as `percent_encoding` leaves it. Written as runs copied between escapes rather than through
/// `percent_encoding`'s byte-at-a-time iterator, which was slow on values that are mostly escapes.
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

    /// A query is refused exactly when one of its names or values does not decode to UTF-8, though
    /// values are only decoded when read; a value read decodes as `decode` does.
    #[test]
    fn query_pairs_refuse_exactly_what_does_not_decode() {
        for value in [
            "plain",
            "a%2Fb",
            "%",
            "%8",
            "%8g",
            "%zz",
            "%7F",
            "%e2%82%ac",
            "%E2%82",
            "%ff",
            "%C3",
            "x%C3%A9y",
            "%2F%2F%80",
            "%%80",
            "ab%8",
        ] {
            let query = format!("X-Amz-Security-Token={value}&b=1");
            let pairs = query_pairs(&query);
            assert_eq!(pairs.is_ok(), decode(value).is_ok(), "{value:?}");
            if let Ok(pairs) = pairs {
                assert_eq!(pairs[0].value().map(Cow::into_owned), decode(value), "{value:?}");
                assert_eq!((pairs[0].key.as_ref(), pairs.len()), ("X-Amz-Security-Token", 2));
            }
        }
        assert!(query_pairs("k%FF=v").is_err(), "a name that does not decode is refused");
        assert!(
            request_query("/p").unwrap().is_empty() && request_query("/p?a=%C3%A9").unwrap()[0].key == "a"
        );
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
