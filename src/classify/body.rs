//! The top-level members of an ECR API JSON body, from the whole body or from a bounded prefix.
//!
//! Whole bodies go through the project's strict reader ([`crate::policy::json::parse`]), which refuses
//! duplicate keys. A layer part can be 20 MiB of base64, so a body larger than the classification bound is
//! scanned as a prefix instead: members are read until the bytes run out, and the caller decides whether the
//! members seen so far settle the question.

use crate::policy::json::{self, Json};

/// One top-level member value, reduced to what classification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    /// A string.
    Str(String),
    /// An array whose items are all strings.
    StrList(Vec<String>),
    /// An array of `{"Key": K, "Value": V}` string pairs (ECR's `tags`).
    Tags(Vec<(String, String)>),
    /// Anything else (numbers, objects, mixed arrays, or a value cut off by the prefix).
    Other,
}

/// Top-level members in body order.
pub(crate) type Fields = Vec<(String, Field)>;

/// Why a body cannot be read as an ECR API request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// Not UTF-8.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// Not JSON, or duplicate keys.
    #[error("body is not acceptable JSON: {0}")]
    Json(String),
    /// Valid JSON but not an object.
    #[error("body is not a JSON object")]
    NotObject,
    /// The prefix ended inside the object's structure in a way the scanner does not accept.
    #[error("body prefix is malformed: {0}")]
    Prefix(&'static str),
    /// A key appeared twice in the prefix.
    #[error("body has the key {0:?} twice")]
    Duplicate(String),
}

/// Parses a complete body strictly.
pub(crate) fn parse_complete(bytes: &[u8]) -> Result<Fields, BodyError> {
    let text = std::str::from_utf8(bytes).map_err(|_| BodyError::NotUtf8)?;
    let doc = json::parse(text).map_err(|e| BodyError::Json(e.to_string()))?;
    let Json::Object(members) = doc.value else { return Err(BodyError::NotObject) };
    Ok(members.into_iter().map(|(k, v)| (k.name, reduce(v.value))).collect())
}

/// Takes the tree by value, so each kept string moves into its field instead of being copied.
fn reduce(value: Json) -> Field {
    match value {
        Json::String(s) => Field::Str(s),
        Json::Array(items) if items.iter().all(|i| i.as_str().is_some()) => {
            Field::StrList(items.into_iter().filter_map(|i| into_string(i.value)).collect())
        }
        Json::Array(items) => {
            items.iter().map(|i| tag(&i.value)).collect::<Option<Vec<_>>>().map_or(Field::Other, Field::Tags)
        }
        _ => Field::Other,
    }
}

fn into_string(value: Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s),
        _ => None,
    }
}

/// `{"Key": K, "Value": V}` with string members and nothing else.
fn tag(item: &Json) -> Option<(String, String)> {
    let Json::Object(members) = item else { return None };
    let text = |name: &str| members.iter().find(|(k, _)| k.name == name).and_then(|(_, v)| v.as_str());
    let (key, value) = (text("Key")?, text("Value")?);
    (members.len() == 2).then(|| (key.to_string(), value.to_string()))
}

/// Reads top-level members of a truncated body; a member whose value is cut off is recorded as
/// [`Field::Other`] and ends the scan. Only string values are kept.
pub(crate) fn scan_prefix(bytes: &[u8]) -> Result<Fields, BodyError> {
    let mut s = Scanner { b: bytes, i: 0 };
    let mut fields = Fields::new();
    s.ws();
    if s.next() != Some(b'{') {
        return Err(BodyError::NotObject);
    }
    loop {
        s.ws();
        match s.peek() {
            None => return Ok(fields),
            Some(b'"') => {}
            Some(b'}') if fields.is_empty() => return Ok(fields),
            Some(_) => return Err(BodyError::Prefix("expected a key")),
        }
        let Some(key) = s.string()? else { return Ok(fields) };
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(BodyError::Duplicate(key));
        }
        s.ws();
        match s.next() {
            None => return Ok(fields),
            Some(b':') => {}
            Some(_) => return Err(BodyError::Prefix("expected ':'")),
        }
        s.ws();
        let value = if s.peek() == Some(b'"') {
            match s.string()? {
                Some(v) => Field::Str(v),
                None => {
                    fields.push((key, Field::Other));
                    return Ok(fields);
                }
            }
        } else {
            if !s.skip_value()? {
                fields.push((key, Field::Other));
                return Ok(fields);
            }
            Field::Other
        };
        fields.push((key, value));
        s.ws();
        match s.next() {
            None => return Ok(fields),
            Some(b',') => {}
            Some(b'}') => return Err(BodyError::Prefix("object ended inside a truncated body")),
            Some(_) => return Err(BodyError::Prefix("expected ',' or '}'")),
        }
    }
}

/// Deepest nesting a skipped value may have.
const MAX_SKIP_DEPTH: usize = 64;

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string at the cursor, unescaped; `None` when the prefix ends inside it.
    fn string(&mut self) -> Result<Option<String>, BodyError> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.next() else { return Ok(None) };
            match c {
                b'"' => return String::from_utf8(out).map(Some).map_err(|_| BodyError::NotUtf8),
                b'\\' => {
                    let Some(e) = self.next() else { return Ok(None) };
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => match self.unicode()? {
                            Some(ch) => ch,
                            None => return Ok(None),
                        },
                        _ => return Err(BodyError::Prefix("bad escape")),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => return Err(BodyError::Prefix("control character in a string")),
                c => out.push(c),
            }
        }
    }

    /// `\uXXXX` (the `\u` already read); surrogates are refused rather than combined.
    fn unicode(&mut self) -> Result<Option<char>, BodyError> {
        if self.i + 4 > self.b.len() {
            return Ok(None);
        }
        let hex = std::str::from_utf8(&self.b[self.i..self.i + 4]).map_err(|_| BodyError::NotUtf8)?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| BodyError::Prefix("bad \\u escape"))?;
        self.i += 4;
        char::from_u32(code).map(Some).ok_or(BodyError::Prefix("surrogate escape in a key"))
    }

    /// Skips a non-string value; `false` when the prefix ends inside it.
    fn skip_value(&mut self) -> Result<bool, BodyError> {
        let mut depth = 0usize;
        loop {
            let Some(c) = self.peek() else { return Ok(false) };
            match c {
                b'"' => {
                    if self.string()?.is_none() {
                        return Ok(false);
                    }
                    continue;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_SKIP_DEPTH {
                        return Err(BodyError::Prefix("nesting too deep"));
                    }
                }
                b'}' | b']' => {
                    if depth == 0 {
                        return Ok(true);
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(true);
                    }
                }
                b',' if depth == 0 => return Ok(true),
                b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return Ok(true),
                _ => {}
            }
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_bodies_are_parsed_strictly() {
        let fields =
            parse_complete(br#"{"registryId":"123456789012","repositoryNames":["a","b"],"n":1}"#).unwrap();
        assert_eq!(fields[0], ("registryId".into(), Field::Str("123456789012".into())));
        assert_eq!(fields[1], ("repositoryNames".into(), Field::StrList(vec!["a".into(), "b".into()])));
        assert_eq!(fields[2], ("n".into(), Field::Other));
        // An empty list is a list of no strings; a list of {"Key","Value"} objects is tags; a mix is neither.
        let lists = parse_complete(
            br#"{"e":[],"t":[{"Key":"k","Value":"v"}],"m":["a",{"Key":"k","Value":"v"}],"x":[{"Key":"k"}]}"#,
        )
        .unwrap();
        assert_eq!(lists[0].1, Field::StrList(vec![]));
        assert_eq!(lists[1].1, Field::Tags(vec![("k".into(), "v".into())]));
        assert_eq!((&lists[2].1, &lists[3].1), (&Field::Other, &Field::Other));
        // Amazon ECR rejects what the JSON reader rejects: duplicate keys, trailing data, non-objects.
        let bad: [(&[u8], &str); 4] = [
            (br#"{"a":"1","a":"2"}"#, "acceptable JSON"),
            (br#"{"a":"1"} x"#, "acceptable JSON"),
            (b"[1]", "not a JSON object"),
            (b"\xff", "UTF-8"),
        ];
        for (body, why) in bad {
            let err = parse_complete(body).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn prefix_scan_reads_members_before_the_cut() {
        let body = br#"{"registryId":"123456789012", "repositoryName" : "team\/app", "partFirstByte":0,"#;
        let mut long = body.to_vec();
        long.extend_from_slice(br#""nested":{"a":[1,{"b":"}"}]},"layerPartBlob":"QUJDRE"#);
        let fields = scan_prefix(&long).unwrap();
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["registryId", "repositoryName", "partFirstByte", "nested", "layerPartBlob"]);
        assert_eq!(fields[1].1, Field::Str("team/app".into()));
        assert_eq!(fields[4].1, Field::Other, "a value cut off is never taken as a string");
    }

    #[test]
    fn prefix_scan_refuses_duplicates_and_escaped_twins() {
        let dup = br#"{"repositoryName":"a","repository\u004eame":"b","layerPartBlob":"AAAA"#;
        assert_eq!(scan_prefix(dup).unwrap_err(), BodyError::Duplicate("repositoryName".into()));
        assert_eq!(scan_prefix(b"[").unwrap_err(), BodyError::NotObject);
        assert!(scan_prefix(br#"{"a":"b"} "#).is_err(), "an object that closes inside a truncated body");
        let cut_key = scan_prefix(br#"{"repositoryName":"a","regis"#).unwrap();
        assert_eq!(cut_key.len(), 1);
    }
}
