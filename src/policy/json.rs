//! A small JSON reader that keeps the line and column of every value and key.
//!
//! `serde_json` forgets positions and silently keeps the last of two duplicate keys, while AWS rejects
//! a policy with duplicate keys and operators need `FILE:LINE:COL` for every finding. This reader is
//! the one place the policy text is parsed; `document` and `validate` both walk its tree.

use std::fmt;

/// Deepest nesting accepted; IAM policies are a few levels deep, so anything deeper is hostile input.
pub(crate) const MAX_DEPTH: usize = 64;

/// A position in the source text, both 1-based, column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters (not bytes), as editors show it.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A JSON value with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// Where the value's first character is.
    pub pos: Pos,
    /// The line of the value's last character (the decision viewer highlights whole statements).
    pub end_line: u32,
    /// The value itself.
    pub value: Json,
}

/// An object member key with its position, so findings can point at the key itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Where the opening quote of the key is.
    pub pos: Pos,
    /// The unescaped key text.
    pub name: String,
}

/// The JSON data model; numbers keep their source text because IAM compares them as text or decimals.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, exactly as written.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array, in order.
    Array(Vec<Spanned>),
    /// An object, members in source order; duplicate keys never get this far.
    Object(Vec<(Key, Spanned)>),
}

impl Json {
    /// The JSON type name, for error messages such as "expected a string, found an array".
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl Spanned {
    /// Looks up an object member by exact key; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Spanned> {
        match &self.value {
            Json::Object(members) => members.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value`, for callers that need no positions.
    pub fn to_value(&self) -> serde_json::Value {
        match &self.value {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => n
                .parse::<serde_json::Number>()
                .map(serde_json::Value::Number)
                .unwrap_or_else(|_| serde_json::Value::String(n.clone())),
            Json::String(s) => serde_json::Value::String(s.clone()),
            Json::Array(items) => serde_json::Value::Array(items.iter().map(Spanned::to_value).collect()),
            Json::Object(members) => serde_json::Value::Object(
                members.iter().map(|(k, v)| (k.name.clone(), v.to_value())).collect(),
            ),
        }
    }
}

/// Why the text is not acceptable JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub(crate) struct JsonError {
    /// Where the problem was found.
    pub pos: Pos,
    /// What was wrong, in words.
    pub message: String,
}

/// Parses one JSON document, rejecting duplicate object keys, trailing data and nesting deeper than [`MAX_DEPTH`].
pub(crate) fn parse(text: &str) -> Result<Spanned, JsonError> {
    let mut reader = Reader { chars: text.char_indices().peekable(), line: 1, col: 1, text };
    reader.skip_ws();
    let value = reader.value(0)?;
    reader.skip_ws();
    if reader.peek().is_some() {
        return Err(reader.error("unexpected data after the JSON document"));
    }
    Ok(value)
}

struct Reader<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    line: u32,
    col: u32,
    #[allow(dead_code)]
    text: &'a str,
}

impl Reader<'_> {
    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError { pos: self.pos(), message: message.into() }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn bump(&mut self) -> Option<char> {
        let (_, c) = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), JsonError> {
        match self.peek() {
            Some(c) if c == wanted => {
                self.bump();
                Ok(())
            }
            Some(c) => Err(self.error(format!("expected '{wanted}', found '{c}'"))),
            None => Err(self.error(format!("expected '{wanted}', found the end of the text"))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Spanned, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let pos = self.pos();
        let value = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Json::String(self.string()?),
            Some('t') => self.literal("true", Json::Bool(true))?,
            Some('f') => self.literal("false", Json::Bool(false))?,
            Some('n') => self.literal("null", Json::Null)?,
            Some(c) if c == '-' || c.is_ascii_digit() => Json::Number(self.number()?),
            Some(c) => return Err(self.error(format!("unexpected character '{c}'"))),
            None => return Err(self.error("unexpected end of the text")),
        };
        Ok(Spanned { pos, end_line: self.line, value })
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        let start = self.pos();
        for expected in word.chars() {
            if self.peek() != Some(expected) {
                return Err(JsonError { pos: start, message: format!("invalid literal, expected '{word}'") });
            }
            self.bump();
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<String, JsonError> {
        let start = self.pos();
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                out.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if out.parse::<f64>().is_err() || out.starts_with('+') || out.ends_with('.') {
            return Err(JsonError { pos: start, message: format!("invalid number '{out}'") });
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            let pos = self.pos();
            match self.bump() {
                None => return Err(JsonError { pos, message: "unterminated string".into() }),
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape(pos)?),
                Some(c) if (c as u32) < 0x20 => {
                    return Err(JsonError { pos, message: "control character inside a string".into() })
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, pos: Pos) -> Result<char, JsonError> {
        let bad = || JsonError { pos, message: "invalid escape sequence".into() };
        Ok(match self.bump().ok_or_else(bad)? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let high = self.hex4().ok_or_else(bad)?;
                if (0xD800..0xDC00).contains(&high) {
                    if self.bump() != Some('\\') || self.bump() != Some('u') {
                        return Err(bad());
                    }
                    let low = self.hex4().ok_or_else(bad)?;
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                    char::from_u32(code).ok_or_else(bad)?
                } else {
                    char::from_u32(high).ok_or_else(bad)?
                }
            }
            _ => return Err(bad()),
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut code = 0;
        for _ in 0..4 {
            code = code * 16 + self.bump()?.to_digit(16)?;
        }
        Some(code)
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.expect('[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.expect('{')?;
        let mut members: Vec<(Key, Spanned)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos();
            if self.peek() != Some('"') {
                return Err(self.error("expected a quoted key"));
            }
            let name = self.string()?;
            if members.iter().any(|(k, _)| k.name == name) {
                return Err(JsonError { pos: key_pos, message: format!("duplicate key \"{name}\"") });
            }
            self.skip_ws();
            self.expect(':')?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push((Key { pos: key_pos, name }, value));
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {
                    self.bump();
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let doc = parse("{\n  \"Effect\": \"Allow\"\n}").unwrap();
        let effect = doc.get("Effect").unwrap();
        assert_eq!(effect.pos, Pos { line: 2, col: 13 });
    }

    #[test]
    fn duplicate_keys_are_rejected_at_the_second_key() {
        let err = parse("{\"a\": 1,\n \"a\": 2}").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 2 });
        assert!(err.message.contains("duplicate key \"a\""));
    }

    #[test]
    fn trailing_commas_and_garbage_are_errors() {
        assert!(parse("[1,]").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse("{\"a\" 1}").is_err());
    }

    #[test]
    fn escapes_and_surrogates_decode() {
        let doc = parse(r#""a\u00e9\ud83d\ude00\n""#).unwrap();
        assert_eq!(doc.as_str(), Some("aé😀\n"));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
    }
}
