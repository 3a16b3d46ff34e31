//! AWS Signature Version 4: who signed a request (access key id, date, region, service), and optionally
//! whether the signature is genuine.
//!
//! The proxy forwards requests unchanged and AWS verifies signatures itself, so parsing alone names the
//! caller. When an operator configures a principal's secret key, the proxy also verifies, so a request that
//! merely quotes someone else's access key id is refused instead of being judged as that principal. The
//! algorithm follows the IAM User Guide, "Create a signed AWS API request" (canonical request, string to sign,
//! signing key); the test vectors are from AWS's published SigV4 test suite.

use std::borrow::Cow;

use compact_str::CompactString;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::parse::{lowercase, request_query, single_param, QueryPair};
use super::{single_header, BodyView, Refusal, RequestHead};

/// The only algorithm AWS accepts for SigV4.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The SHA-256 of an empty payload, hex-encoded.
pub(crate) const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What a SigV4 signature claims. The longer text borrows from the request wherever it appears there as
/// is and the credential's parts are inline, since a signed call was once parsed into about fifteen
/// small strings per request; a presigned URL's escaped credential is the one decoded copy left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigV4<'a> {
    /// The access key id that names the caller. This and the scope's three parts are inline small strings:
    /// each fits in one, and a presigned URL's credential is escaped (`%2F`), so borrowing them would mean
    /// four allocations there.
    pub access_key_id: CompactString,
    /// `YYYYMMDD` from the credential scope.
    pub date: CompactString,
    /// Region from the credential scope.
    pub region: CompactString,
    /// Service from the credential scope (`ecr`, `s3`).
    pub service: CompactString,
    /// Lowercased header names covered by the signature, `;`-separated in signed order, as the canonical
    /// request lists them: kept whole rather than split into a list built per request.
    pub signed_headers: Cow<'a, str>,
    /// Hex signature, lowercased.
    pub signature: Cow<'a, str>,
    /// `X-Amz-Date` (header or query).
    pub amz_date: Option<Cow<'a, str>>,
    /// Whether it came from the query string (presigned URL).
    pub presigned: bool,
}

/// Finds a SigV4 signature in the `Authorization` header or the presigned query; `None` when unsigned or
/// signed another way. Both at once is refused, as AWS does.
pub(crate) fn parse<'a>(head: &RequestHead<'a>) -> Result<Option<SigV4<'a>>, Refusal> {
    parse_with(head, &request_query(head.path)?)
}

/// [`parse`] with the request's query already split ([`request_query`]), as the authorizer has it.
pub(crate) fn parse_with<'a>(
    head: &RequestHead<'a>,
    pairs: &[QueryPair<'a>],
) -> Result<Option<SigV4<'a>>, Refusal> {
    let header = match single_header(head.headers, "authorization")? {
        Some(v) if v.starts_with(ALGORITHM) => Some(parse_header(v, head)?),
        _ => None,
    };
    let query = parse_query(pairs)?;
    match (header, query) {
        (Some(_), Some(_)) => Err(Refusal("SigV4 in both the Authorization header and the query".into())),
        (h, q) => Ok(h.or(q)),
    }
}

fn parse_header<'a>(value: &'a str, head: &RequestHead<'a>) -> Result<SigV4<'a>, Refusal> {
    let rest = value[ALGORITHM.len()..].trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| bad("Authorization component without '='"))?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(bad("unknown Authorization component")),
        };
        if slot.replace(Cow::Borrowed(v)).is_some() {
            return Err(bad("Authorization component given twice"));
        }
    }
    let amz_date = single_header(head.headers, "x-amz-date")?.map(Cow::Borrowed);
    build(credential, signed, signature, amz_date, false)
}

fn parse_query<'a>(pairs: &[QueryPair<'a>]) -> Result<Option<SigV4<'a>>, Refusal> {
    let one = |key: &str| single_param(pairs, key, || bad("presigned parameter given twice"));
    match one("X-Amz-Algorithm")? {
        None => Ok(None),
        Some(a) if a == ALGORITHM => build(
            one("X-Amz-Credential")?,
            one("X-Amz-SignedHeaders")?,
            one("X-Amz-Signature")?,
            one("X-Amz-Date")?,
            true,
        )
        .map(Some),
        Some(_) => Err(bad("unknown X-Amz-Algorithm")),
    }
}

fn bad(what: &str) -> Refusal {
    Refusal(format!("malformed SigV4 signature: {what}"))
}

fn build<'a>(
    credential: Option<Cow<'a, str>>,
    signed: Option<Cow<'a, str>>,
    signature: Option<Cow<'a, str>>,
    amz_date: Option<Cow<'a, str>>,
    presigned: bool,
) -> Result<SigV4<'a>, Refusal> {
    let credential = credential.ok_or_else(|| bad("no Credential"))?;
    let signed = signed.ok_or_else(|| bad("no SignedHeaders"))?;
    let signature = signature.ok_or_else(|| bad("no Signature"))?;
    let [key, date, region, service] = credential_parts(&credential)?;
    let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric());
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if !key_ok || !date_ok || region.is_empty() || service.is_empty() {
        return Err(bad("Credential has an empty or malformed part"));
    }
    // A signature is an HMAC in hex; anything else can never verify, so it is refused here rather than
    // carried to `verify` or upstream (found by the sigv4 fuzz target).
    if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("Signature is not hex"));
    }
    let (access_key_id, signed_headers, signature) = (key, lowercase(signed), lowercase(signature));
    Ok(SigV4 { access_key_id, date, region, service, signed_headers, signature, amz_date, presigned })
}

/// `KEY/DATE/REGION/SERVICE/aws4_request` -> the four parts.
fn credential_parts(credential: &str) -> Result<[CompactString; 4], Refusal> {
    let mut parts = credential.split('/');
    match [(); 6].map(|()| parts.next()) {
        [Some(key), Some(date), Some(region), Some(service), Some("aws4_request"), None] => {
            Ok([key, date, region, service].map(CompactString::from))
        }
        _ => Err(bad("Credential is not KEY/DATE/REGION/SERVICE/aws4_request")),
    }
}

/// Recomputes the signature with `secret` and compares in constant time. `query` is the request's query
/// as [`request_query`] split it.
pub(crate) fn verify(
    sig: &SigV4<'_>,
    head: &RequestHead<'_>,
    query: &[QueryPair<'_>],
    body: Option<BodyView<'_>>,
    secret: &str,
) -> Result<(), Refusal> {
    let amz_date = sig.amz_date.as_deref().ok_or_else(|| bad("no X-Amz-Date"))?;
    if !amz_date.starts_with(&*sig.date) {
        return Err(bad("X-Amz-Date does not match the credential date"));
    }
    let canonical = canonical_request(sig, head, query, body)?;
    let key = cached_signing_key(secret, &sig.date, &sig.region, &sig.service);
    let (mut hex, mut given) = ([0; 64], [0; 32]);
    let digest = sha256_hex(canonical.as_bytes(), &mut hex);
    // The string to sign goes straight into the MAC, piece by piece: it is never needed whole.
    let to_sign: [&[u8]; 11] = [
        ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        sig.date.as_bytes(),
        b"/",
        sig.region.as_bytes(),
        b"/",
        sig.service.as_bytes(),
        b"/aws4_request\n",
        digest.as_bytes(),
    ];
    let expected = hmac(&key, &to_sign);
    // A signature of another length is hex (parse checked) but can never match.
    let well_formed = hex::decode_to_slice(sig.signature.as_bytes(), &mut given).is_ok();
    if well_formed && bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(Refusal(format!(
            "SigV4 signature does not match for access key {} (forged or altered request)",
            masked(&sig.access_key_id)
        )))
    }
}

/// An access key id for messages and logs: only its last four characters, as the AWS console shows keys.
pub(crate) fn masked(key_id: &str) -> String {
    let tail: String = key_id.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}

/// HMAC-SHA256 of the concatenation of `parts`, fed in one by one so no message is built whole.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    parts.iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().into()
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), &[date.as_bytes()]);
    let k_region = hmac(&k_date, &[region.as_bytes()]);
    let k_service = hmac(&k_region, &[service.as_bytes()]);
    hmac(&k_service, &[b"aws4_request"])
}

/// The signing keys this thread derived last: a key changes only with the secret, the day, the region and
/// the service, and deriving one is four HMACs, a tenth of a signed request's authorization. Per thread,
/// so no lock; a few entries, so a proxy serving several principals or regions still hits.
const CACHED_KEYS: usize = 8;

/// (secret, date, region, service) and the key derived from them.
type CachedKey = (String, String, String, String, [u8; 32]);

thread_local! {
    static SIGNING_KEYS: std::cell::RefCell<Vec<CachedKey>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`signing_key`], from this thread's cache when it derived the same key before: returned by value, 32
/// bytes on the stack, not a copy on the heap.
fn cached_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    SIGNING_KEYS.with(|cell| {
        let mut keys = cell.borrow_mut();
        let same = |(s, d, r, v, _): &CachedKey| s == secret && d == date && r == region && v == service;
        if let Some((.., key)) = keys.iter().find(|k| same(k)) {
            return *key;
        }
        let key = signing_key(secret, date, region, service);
        if keys.len() == CACHED_KEYS {
            keys.remove(0);
        }
        keys.push((secret.into(), date.into(), region.into(), service.into(), key));
        key
    })
}

/// The canonical request: method, URI, query, headers, signed header list, payload hash.
pub(crate) fn canonical_request(
    sig: &SigV4<'_>,
    head: &RequestHead<'_>,
    query: &[QueryPair<'_>],
    body: Option<BodyView<'_>>,
) -> Result<String, Refusal> {
    let path = head.path_only();
    // Built in one string, each part appended in place rather than formatted on its own and joined.
    let mut out = String::with_capacity(256 + head.path.len());
    out.push_str(head.method);
    out.push('\n');
    canonical_uri(&mut out, path, sig.service == "s3");
    out.push('\n');
    canonical_query(&mut out, query, sig.presigned)?;
    out.push('\n');
    for name in sig.signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        header_value(&mut out, head, name)?;
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&sig.signed_headers);
    out.push('\n');
    payload_hash(&mut out, sig, head, body)?;
    Ok(out)
}

/// S3 signs the path as sent; every other service signs it URI-encoded once more.
fn canonical_uri(out: &mut String, path: &str, s3: bool) {
    let path = if path.is_empty() { "/" } else { path };
    if s3 {
        out.push_str(path);
        return;
    }
    for (i, segment) in path.split('/').enumerate() {
        out.push_str(if i == 0 { "" } else { "/" });
        uri_encode_into(out, segment, true);
    }
}

/// The query's pairs, each name and value URI-encoded, sorted, joined with `&`, appended to `out`.
fn canonical_query(out: &mut String, query: &[QueryPair<'_>], presigned: bool) -> Result<(), Refusal> {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|p| !(presigned && p.key == "X-Amz-Signature"))
        .map(|p| Ok((uri_encode(&p.key, true), uri_encode(&p.value()?, true))))
        .collect::<Result<_, Refusal>>()?;
    pairs.sort();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push_str(if i == 0 { "" } else { "&" });
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    Ok(())
}

/// Values of one signed header, trimmed, inner runs of spaces collapsed, several joined with `,`.
fn header_value(out: &mut String, head: &RequestHead<'_>, name: &str) -> Result<(), Refusal> {
    let mut values = head.headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        if name == "host" {
            out.push_str(head.host);
            return Ok(());
        }
        return Err(bad("a signed header is missing"));
    }
    for (i, value) in values.enumerate() {
        let value = value.to_str().map_err(|_| bad("signed header is not visible ASCII"))?;
        out.push_str(if i == 0 { "" } else { "," });
        // `to_str` let only visible ASCII and tabs through, so the ASCII split is the whole of it.
        for (j, word) in value.split_ascii_whitespace().enumerate() {
            out.push_str(if j == 0 { "" } else { " " });
            out.push_str(word);
        }
    }
    Ok(())
}

/// `x-amz-content-sha256` when sent (upstream checks the body against it, as AWS does); presigned URLs are
/// `UNSIGNED-PAYLOAD`; otherwise the hash of the body, which must then have been read whole. Appended to
/// `out`; the body's hash goes through a stack buffer.
fn payload_hash(
    out: &mut String,
    sig: &SigV4<'_>,
    head: &RequestHead<'_>,
    body: Option<BodyView<'_>>,
) -> Result<(), Refusal> {
    let mut hex = [0; 64];
    let hash = match (single_header(head.headers, "x-amz-content-sha256")?, body) {
        (Some(sent), _) => sent,
        (None, _) if sig.presigned => "UNSIGNED-PAYLOAD",
        (None, Some(b)) if b.complete => sha256_hex(b.bytes, &mut hex),
        (None, _) if !super::has_body(head.headers) => EMPTY_SHA256,
        (None, _) => return Err(Refusal(
            "SigV4 signature cannot be verified: the body was not read whole and x-amz-content-sha256 is absent \
             (raise limits.max_classify_body_bytes)"
                .into(),
        )),
    };
    out.push_str(hash);
    Ok(())
}

/// The SHA-256 of `data` in lowercase hex, written into `out`: the canonical request's digest and the
/// payload hash both need it only long enough to feed it on.
fn sha256_hex<'b>(data: &[u8], out: &'b mut [u8; 64]) -> &'b str {
    hex::encode_to_slice(Sha256::digest(data), out).expect("64 hex digits fill 64 bytes");
    std::str::from_utf8(out).expect("hex digits are ASCII")
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (uppercase); `/` only when asked.
pub(crate) fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    uri_encode_into(&mut out, s, encode_slash);
    out
}

/// [`uri_encode`], appended to `out`.
fn uri_encode_into(out: &mut String, s: &str, encode_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (b == b'/' && !encode_slash)
        {
            out.push(b as char);
        } else {
            out.extend(['%', HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn head<'a>(method: &'a str, path: &'a str, headers: &'a http::HeaderMap) -> RequestHead<'a> {
        RequestHead { method, host: "example.amazonaws.com", path, headers }
    }

    /// [`verify`] with the request's query split as the authorizer splits it.
    fn verified(
        sig: &SigV4<'_>,
        head: &RequestHead<'_>,
        body: Option<BodyView<'_>>,
        secret: &str,
    ) -> Result<(), Refusal> {
        verify(sig, head, &request_query(head.path)?, body, secret)
    }

    fn signed(signed_headers: &str, signature: &str, extra: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("host", "example.amazonaws.com".parse().unwrap());
        h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        for (k, v) in extra {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders={signed_headers}, Signature={signature}"
        );
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    /// AWS SigV4 test suite vectors (aws-sig-v4-test-suite): request, signed headers, expected signature.
    const VECTORS: [(&str, &str, &str, &str); 3] = [
        ("get-vanilla", "GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        ("post-vanilla", "POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ];

    #[test]
    fn aws_test_suite_signatures_verify() {
        for (name, method, path, signature) in VECTORS {
            let headers = signed("host;x-amz-date", signature, &[]);
            let head = head(method, path, &headers);
            let sig = parse(&head).unwrap().unwrap();
            assert_eq!(sig.access_key_id, "AKIDEXAMPLE", "{name}");
            assert_eq!((&*sig.date, &*sig.region, &*sig.service), ("20150830", "us-east-1", "service"));
            verified(&sig, &head, None, SECRET).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_cached_signing_key_is_the_derived_one_and_follows_every_input() {
        let derive = |s, d, r, v| (signing_key(s, d, r, v), cached_signing_key(s, d, r, v));
        for (secret, date, region, service) in [
            ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam"),
            ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam"),
            ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150831", "us-east-1", "iam"),
            ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "eu-west-1", "iam"),
            ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "ecr"),
            ("another-secret", "20150830", "us-east-1", "iam"),
        ] {
            let (derived, cached) = derive(secret, date, region, service);
            assert_eq!(derived, cached, "{secret} {date} {region} {service}");
        }
        // AWS SigV4 documentation, "Create a signing key": the example's kSigning.
        let key =
            cached_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    }

    /// Header names in SignedHeaders and the hex signature are case-insensitive: a list or a signature
    /// sent in capitals is lowercased and still verifies (aws-sig-v4-test-suite get-vanilla).
    #[test]
    fn signed_headers_and_signature_in_capitals_verify() {
        let (_, method, path, signature) = VECTORS[0];
        let headers = signed("Host;X-Amz-Date", &signature.to_ascii_uppercase(), &[]);
        let sig = parse(&head(method, path, &headers)).unwrap().unwrap();
        assert_eq!((&*sig.signed_headers, &*sig.signature), ("host;x-amz-date", signature));
        verified(&sig, &head(method, path, &headers), None, SECRET).unwrap();
    }

    #[test]
    fn a_changed_request_or_secret_is_refused() {
        let (_, method, path, signature) = VECTORS[0];
        let headers = signed("host;x-amz-date", signature, &[]);
        let sig = parse(&head(method, path, &headers)).unwrap().unwrap();
        let cases: [(&str, &str, &str); 3] =
            [("POST", path, SECRET), (method, "/other", SECRET), (method, path, "not-the-secret")];
        for (m, p, secret) in cases {
            let err = verified(&sig, &head(m, p, &headers), None, secret).unwrap_err();
            assert!(err.0.contains("does not match"), "{m} {p}: {err}");
        }
    }

    #[test]
    fn payload_hash_comes_from_x_amz_content_sha256_or_the_whole_body() {
        let (_, _, _, signature) = VECTORS[0];
        // With the header, its value is the payload hash even though the body is not read.
        let headers = signed(
            "host;x-amz-date",
            signature,
            &[("x-amz-content-sha256", EMPTY_SHA256), ("content-length", "5")],
        );
        let h = head("GET", "/", &headers);
        let sig = parse(&h).unwrap().unwrap();
        verified(&sig, &h, None, SECRET).unwrap();
        // Without it, a body that was not read whole cannot be verified.
        let headers = signed("host;x-amz-date", signature, &[("content-length", "5")]);
        let h = head("GET", "/", &headers);
        let err = verified(&sig, &h, Some(BodyView { bytes: b"ab", complete: false }), SECRET).unwrap_err();
        assert!(err.0.contains("cannot be verified"), "{err}");
        // A complete empty body hashes like no body at all.
        verified(&sig, &h, Some(BodyView { bytes: b"", complete: true }), SECRET).unwrap();
    }

    #[test]
    fn presigned_query_is_parsed_and_decoded() {
        let headers = http::HeaderMap::new();
        let path = "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ab";
        let sig = parse(&head("GET", path, &headers)).unwrap().unwrap();
        assert!(sig.presigned);
        assert_eq!((&*sig.access_key_id, &*sig.service), ("AKIDEXAMPLE", "s3"));
        let twice = format!("{path}&X-Amz-Date=20150831T000000Z");
        let err = parse(&head("GET", &twice, &headers)).unwrap_err();
        assert!(err.0.contains("presigned parameter given twice"), "{err}");
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let bad = [
            "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/s/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, Credential=B/20150830/r/s/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/r/s/other, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/r/s/aws4_request, SignedHeaders=host, Signature=0abplc",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/r/s/aws4_request, SignedHeaders=host, Signature=",
        ];
        for value in bad {
            let mut headers = http::HeaderMap::new();
            headers.insert("authorization", value.parse().unwrap());
            assert!(parse(&head("GET", "/", &headers)).is_err(), "{value}");
        }
    }
}

#[cfg(test)]
mod masking {
    #[test]
    fn refusals_show_only_the_last_four_characters_of_a_key_id() {
        assert_eq!(super::masked("AKIAIOSFODNN7EXAMPLE"), "****MPLE");
        assert_eq!(super::masked("AB"), "****AB");
    }
}
