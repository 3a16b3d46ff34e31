//! Wildcard matching: actions (case-insensitive, `*` and `?`) and ARNs (case-sensitive, per segment).
//!
//! Patterns are compiled once when a policy loads ([`Glob`], [`ArnPattern`]) so that matching a request
//! walks bytes without allocating. Source: IAM User Guide, "IAM JSON policy elements: Action" and
//! "IAM JSON policy elements: Resource" (wildcards within each ARN segment).

/// How a compiled wildcard pattern is matched; the common shapes skip the general algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobKind {
    /// `*`: everything.
    Any,
    /// No wildcard at all.
    Exact,
    /// `text*` with no other wildcard.
    Prefix,
    /// Anything else.
    General,
}

/// A compiled `*`/`?` pattern. Policies are read once and matched millions of times, so the shape of
/// the pattern is classified up front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    text: Box<str>,
    kind: GlobKind,
}

impl Glob {
    /// Compiles a pattern in which `*` and `?` are wildcards.
    pub(crate) fn new(pattern: &str) -> Glob {
        let wildcards = pattern.bytes().filter(|b| matches!(b, b'*' | b'?')).count();
        let kind = if pattern == "*" {
            GlobKind::Any
        } else if wildcards == 0 {
            GlobKind::Exact
        } else if wildcards == 1 && pattern.ends_with('*') {
            GlobKind::Prefix
        } else {
            GlobKind::General
        };
        let text = match kind {
            GlobKind::Prefix => pattern[..pattern.len() - 1].into(),
            _ => pattern.into(),
        };
        Glob { text, kind }
    }

    /// Whether the pattern is a lone `*`.
    #[cfg(test)]
    pub(crate) fn is_any(&self) -> bool {
        self.kind == GlobKind::Any
    }

    /// Case-sensitive match.
    pub(crate) fn matches(&self, text: &str) -> bool {
        self.matches_with(text, false)
    }

    /// ASCII case-insensitive match (IAM action names are ASCII).
    pub(crate) fn matches_ignore_case(&self, text: &str) -> bool {
        self.matches_with(text, true)
    }

    fn matches_with(&self, text: &str, ci: bool) -> bool {
        let pat = self.text.as_bytes();
        let txt = text.as_bytes();
        match self.kind {
            GlobKind::Any => true,
            GlobKind::Exact => bytes_eq(pat, txt, ci),
            GlobKind::Prefix => txt.len() >= pat.len() && bytes_eq(pat, &txt[..pat.len()], ci),
            GlobKind::General => glob_match(pat, txt, ci, false),
        }
    }
}

fn bytes_eq(a: &[u8], b: &[u8], ci: bool) -> bool {
    if ci {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Length of the UTF-8 character starting with `first`, so `?` consumes one character, not one byte.
fn char_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Matches `text` against a `*`/`?` pattern with one backtracking point (linear for IAM-sized input).
/// With `escapes`, `\x` in the pattern is a literal `x`: variables substitute text that must never act as
/// a wildcard (`${*}` is a literal star).
pub(crate) fn glob_match(pat: &[u8], text: &[u8], ci: bool, escapes: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += char_len(text[t]);
                    continue;
                }
                c => {
                    let (lit, width) =
                        if escapes && c == b'\\' && p + 1 < pat.len() { (pat[p + 1], 2) } else { (c, 1) };
                    if bytes_eq(&[lit], &text[t..t + 1], ci) {
                        p += width;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                let next = st + char_len(text[st]);
                star = Some((sp, next));
                p = sp;
                t = next;
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// An ARN pattern split into its six segments (`arn:partition:service:region:account:resource`); a
/// wildcard never crosses a segment boundary except in the last one, which keeps its `/` and `:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnPattern {
    segments: Vec<Glob>,
    /// When every segment before the last has no wildcard (`arn:aws:s3:::`), that text through the colon
    /// that ends it: one comparison then stands for five, which were most of a layer GET's decision.
    exact_head: Option<String>,
}

impl ArnPattern {
    /// Compiles a pattern; `None` if it does not start with `arn:` (then it is matched whole).
    pub(crate) fn new(pattern: &str) -> Option<ArnPattern> {
        if !pattern.starts_with("arn:") {
            return None;
        }
        let segments: Vec<Glob> = pattern.splitn(6, ':').map(Glob::new).collect();
        let last = segments.len() - 1;
        let exact = segments[..last].iter().all(|seg| seg.kind == GlobKind::Exact);
        let exact_head = exact.then(|| segments[..last].iter().map(|seg| format!("{}:", seg.text)).collect());
        Some(ArnPattern { segments, exact_head })
    }

    /// Matches an ARN split once per request. The resource segment is compared first: it is where
    /// patterns of one policy usually differ, so most non-matching statements stop after one comparison.
    pub(crate) fn matches_parts(&self, arn: &ArnParts<'_>) -> bool {
        let last = self.segments.len() - 1;
        let Some(rest) = arn.rest_from(last) else { return false };
        if !self.segments[last].matches(rest) {
            return false;
        }
        match &self.exact_head {
            // `rest` followed a colon, so the head ends just before it.
            Some(head) => arn.text[..arn.text.len() - rest.len()] == **head,
            None => self.segments[..last]
                .iter()
                .enumerate()
                .all(|(i, seg)| arn.segment(i).is_some_and(|s| seg.matches(s))),
        }
    }
}

/// An ARN (or any string) with the positions of its first five `:` found once, so that every statement of
/// a policy can compare segments without splitting the request's ARN again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArnParts<'a> {
    text: &'a str,
    colons: [usize; 5],
    count: usize,
}

impl<'a> ArnParts<'a> {
    /// Finds the segment boundaries.
    pub(crate) fn new(text: &'a str) -> ArnParts<'a> {
        let mut colons = [0usize; 5];
        let mut count = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b':' {
                colons[count] = i;
                count += 1;
                if count == 5 {
                    break;
                }
            }
        }
        ArnParts { text, colons, count }
    }

    /// The whole text.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// Segment `i` (0-based) when it is followed by another segment.
    fn segment(&self, i: usize) -> Option<&'a str> {
        if i >= self.count {
            return None;
        }
        let start = if i == 0 { 0 } else { self.colons[i - 1] + 1 };
        Some(&self.text[start..self.colons[i]])
    }

    /// Everything from segment `i` to the end.
    fn rest_from(&self, i: usize) -> Option<&'a str> {
        match i {
            0 => Some(self.text),
            _ if i <= self.count => Some(&self.text[self.colons[i - 1] + 1..]),
            _ => None,
        }
    }
}

/// A compiled `Resource` entry (or ARN condition value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResourcePattern {
    /// `*`.
    Any,
    /// An ARN, matched per segment.
    Arn(ArnPattern),
    /// Anything else, matched as one string.
    Plain(Glob),
}

impl ResourcePattern {
    /// Compiles one resource pattern.
    pub(crate) fn new(pattern: &str) -> ResourcePattern {
        if pattern == "*" {
            ResourcePattern::Any
        } else if let Some(arn) = ArnPattern::new(pattern) {
            ResourcePattern::Arn(arn)
        } else {
            ResourcePattern::Plain(Glob::new(pattern))
        }
    }

    /// Whether `resource` (an ARN, or `*` for registry-level operations) matches.
    pub(crate) fn matches(&self, resource: &str) -> bool {
        self.matches_parts(&ArnParts::new(resource))
    }

    /// [`ResourcePattern::matches`] on a request ARN split once.
    pub(crate) fn matches_parts(&self, resource: &ArnParts<'_>) -> bool {
        match self {
            ResourcePattern::Any => true,
            ResourcePattern::Arn(arn) => arn.matches_parts(resource),
            ResourcePattern::Plain(glob) => glob.matches(resource.text()),
        }
    }
}

/// Matches a pattern produced by variable substitution (`\\`-escaped literals) against an ARN or string,
/// per ARN segment like [`ArnPattern`]. Used only on the variable path.
pub(crate) fn escaped_resource_match(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if !pattern.starts_with("arn:") {
        return glob_match(pattern.as_bytes(), resource.as_bytes(), false, true);
    }
    let segments = split_unescaped(pattern);
    let mut parts = resource.splitn(segments.len(), ':');
    segments
        .iter()
        .all(|seg| parts.next().is_some_and(|part| glob_match(seg.as_bytes(), part.as_bytes(), false, true)))
}

/// Splits at the first five `:` that are not escaped.
fn split_unescaped(pattern: &str) -> Vec<&str> {
    let bytes = pattern.as_bytes();
    let mut out = Vec::with_capacity(6);
    let (mut start, mut i) = (0usize, 0usize);
    while i < bytes.len() && out.len() < 5 {
        match bytes[i] {
            b'\\' => i += 1,
            b':' => {
                out.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&pattern[start.min(pattern.len())..]);
    out
}

/// Whether `text` is an AWS account id: exactly 12 ASCII digits (policies, hosts, bodies and config all
/// spell accounts this way, so one definition serves them).
pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The account id of an ARN (its fifth segment), if it has one.
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    arn.split(':').nth(4).filter(|acct| !acct.is_empty())
}
