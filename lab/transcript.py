"""An article's transcript line against what a real client printed: the rule that says they match.

A line matches when a client line equals the article's after three mendings, each said in the row:
- the page's stray spaces (`arn:aws:iam:: 111111111111:user/ read-only`) are removed;
- what differs on every run is a placeholder: a layer id (12 hex digits), a `sha256:` digest, a size, a
  push time;
- JSON lines compare by key and value, ignoring indentation and the trailing comma.
A row can give its own pattern instead (with a note saying why), e.g. where AWS's wording has grown since.
"""

import re
from dataclasses import dataclass

#: Stray spaces the AWS Marketplace blog's page put into ARNs.
_STRAY = [("iam:: ", "iam::"), ("user/ ", "user/")]
_HEX12 = re.compile(r"\b[0-9a-f]{12}\b")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: JSON keys whose values differ on every run: any value of the same kind matches.
_ANY_VALUE = {"imageSizeInBytes": r"\d+", "imagePushedAt": r"\S+"}


@dataclass
class Line:
    """One line the article prints (`article`) and the regular expression a client line must match."""

    article: str
    pattern: str
    note: str = ""


def mend(text: str) -> str:
    """The article's line without the page's stray spaces."""
    for bad, good in _STRAY:
        text = text.replace(bad, good)
    return text


def _json_pattern(stripped: str) -> str | None:
    m = re.fullmatch(r'"([A-Za-z]+)": (.*?),?', stripped)
    if not m:
        return None
    key, value = m.groups()
    if key in _ANY_VALUE:
        return rf'"{key}": {_ANY_VALUE[key]},?'
    if key == "registryId":  # the page dropped the quotes in one of the two outputs
        value = '"' + value.strip('"') + '"'
    return rf'"{key}": ' + _placeholders(value) + ",?"


def _placeholders(text: str) -> str:
    """`text` as a regular expression, with digests, layer ids and sizes as placeholders (account ids,
    all digits, stay literal)."""
    out, last = [], 0
    for m in re.finditer(rf"(?P<digest>{_DIGEST.pattern})|(?P<id>{_HEX12.pattern})|(?<=size: )(?P<size>\d+)", text):
        token = m.group(0)
        if m.group("id") and token.isdigit():
            continue
        out.append(re.escape(text[last:m.start()]))
        out.append({"digest": r"sha256:[0-9a-f]{64}", "id": r"[0-9a-f]{12}", "size": r"\d+"}[m.lastgroup])
        last = m.end()
    out.append(re.escape(text[last:]))
    return "".join(out)


def transcript(article: str, note: str = "") -> Line:
    """A transcript line; its pattern derived by the rules above."""
    stripped = mend(article).strip()
    pattern = _json_pattern(stripped) or _placeholders(stripped.rstrip(",")) + (",?" if stripped.endswith(",") else "")
    return Line(article, pattern, note)


def prose(sentence: str, pattern: str, note: str = "") -> Line:
    """A claim the article makes in prose (it prints no transcript for it) and what the client prints."""
    return Line(f"(prose) {sentence}", pattern, note)


def find(line: Line, output: str) -> str | None:
    """The client's line that matches, or None."""
    regex = re.compile(line.pattern)
    for candidate in output.splitlines():
        if regex.fullmatch(candidate.strip()):
            return candidate.strip()
    return None


def check_lines(lines, output: str) -> list:
    """(line, matched client line or None) for each line."""
    return [(line, find(line, output)) for line in lines]
