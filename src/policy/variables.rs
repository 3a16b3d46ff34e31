//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, `${key, 'default'}` and the escapes
//! `${*}`, `${?}`, `${$}`.
//!
//! IAM substitutes variables only in policies whose Version is `2012-10-17`; under `2008-10-17` or with
//! no Version the text is literal. A variable whose key has no value (and no default) makes the whole
//! entry match nothing. Source: IAM User Guide, "IAM policy elements: Variables and tags".

use std::borrow::Cow;

/// One part of a value that contains variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Policy text; its `*` and `?` stay wildcards where the operator has wildcards.
    Text(Box<str>),
    /// `${*}`, `${?}` or `${$}`: a character that must be matched literally.
    Literal(char),
    /// `${key}` or `${key, 'default'}`; the key is stored lowercased (context keys are case-insensitive).
    Var {
        /// Lowercased context key.
        key: Box<str>,
        /// The value used when the key is absent.
        default: Option<Box<str>>,
    },
}

/// A value with at least one `${...}`, kept in pieces until a request supplies the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

/// Splits `text` into pieces when it contains a variable; `None` when it is plain text (the common,
/// allocation-free case) or when variables are not enabled by the policy Version.
pub(crate) fn compile(text: &str, variables_enabled: bool) -> Option<Template> {
    compile_from(text, variables_enabled, 0)
}

/// [`compile`] for a Resource or NotResource entry. IAM substitutes variables there only in the resource
/// part of an ARN ("Where you can use policy variables"), so a `${...}` in the partition, service, region
/// or account stays literal text: compared as written, it matches no real ARN.
pub(crate) fn compile_resource(text: &str, variables_enabled: bool) -> Option<Template> {
    compile_from(text, variables_enabled, arn_prefix_len(text))
}

/// The length in bytes of an ARN's `arn:partition:service:region:account:` prefix, where a Resource entry
/// cannot hold variables: the whole text when it has fewer than five colons (no resource part), and 0 for
/// text that is not an ARN (`*`, or a plain name matched whole). Colons are counted as written, `${...}`
/// included, because literal text is split into segments exactly so when it is matched.
pub(crate) fn arn_prefix_len(text: &str) -> usize {
    if !text.starts_with("arn:") {
        return 0;
    }
    text.match_indices(':').nth(4).map_or(text.len(), |(colon, _)| colon + 1)
}

/// [`compile`] where the first `literal_len` bytes are plain text whatever they contain.
fn compile_from(text: &str, variables_enabled: bool, literal_len: usize) -> Option<Template> {
    let (literal, mut rest) = text.split_at(literal_len);
    if !variables_enabled || !rest.contains("${") {
        return None;
    }
    let mut pieces = Vec::new();
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal.into()));
    }
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].into()));
        }
        pieces.push(parse_var(&rest[start + 2..start + len]));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.into()));
    }
    Some(Template { pieces })
}

fn parse_var(inner: &str) -> Piece {
    match inner.trim() {
        "*" => return Piece::Literal('*'),
        "?" => return Piece::Literal('?'),
        "$" => return Piece::Literal('$'),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => (key, Some(unquote(default.trim()))),
        None => (inner, None),
    };
    Piece::Var { key: key.trim().to_ascii_lowercase().into(), default: default.map(Into::into) }
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).unwrap_or(text)
}

impl Template {
    /// Substitutes the request's values. With `escape`, the result is a pattern for
    /// [`crate::policy::matching::glob_match`] in escape mode: substituted text and `${*}`-style literals
    /// are `\`-escaped so they never act as wildcards. `None` when a variable has no value.
    pub(crate) fn resolve<'a, F>(&self, lookup: F, escape: bool) -> Option<String>
    where
        F: Fn(&str) -> Option<Cow<'a, str>>,
    {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) if escape => push_escaped(&mut out, text, false),
                Piece::Text(text) => out.push_str(text),
                Piece::Literal(c) if escape => push_escaped(&mut out, c.encode_utf8(&mut [0; 4]), true),
                Piece::Literal(c) => out.push(*c),
                Piece::Var { key, default } => {
                    let value = lookup(key).or_else(|| default.as_deref().map(Cow::Borrowed))?;
                    if escape {
                        push_escaped(&mut out, &value, true);
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        Some(out)
    }
}

/// Escapes `\` always and, for substituted text, the wildcards too.
fn push_escaped(out: &mut String, text: &str, wildcards_too: bool) {
    for c in text.chars() {
        if c == '\\' || (wildcards_too && matches!(c, '*' | '?')) {
            out.push('\\');
        }
        out.push(c);
    }
}
