"""The code of one item of lib.rs, found by name and highlighted by Pygments.

lib.rs is read again on every call, so the presenter's live edits show on the page after a
rebuild. An item is found by its name, not by a line number, so moving code around (or into
`engines/*.rs` beside lib.rs) does not break the page: what is no longer in lib.rs is
reported as missing, with the exercise that provides it where there is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import RustLexer

LIB_RS = Path(__file__).resolve().parent.parent / "lib.rs"

# The items the page shows: a function or class of the module, or "Class.method".
ITEMS = (
    "fibonacci",
    "count_unique_words",
    "is_palindrome",
    "sum_list",
    "filter_positive",
    "word_frequencies",
    "safe_divide",
    "safe_parse_int",
    "factorial",
    "MovingAverage",
    "RingBuffer",
    "Counter",
    "sieve_of_eratosthenes",
    "count_primes",
    "RingBuffer.extend",
)

# What a started exercise (python3 scripts/dev.py start N) removes from lib.rs: demo.py's map.
EXERCISE_OF = {"factorial": 1, "Counter": 3, "sieve_of_eratosthenes": 4}

FORMATTER = HtmlFormatter(cssclass="highlight", linenos=False)
STYLE_CSS = FORMATTER.get_style_defs(".highlight")


@dataclass
class Snippet:
    """One item's code, or why there is none."""

    item: str
    found: bool
    first_line: int
    code: str
    html: str
    note: str


def _skip_literal(text: str, i: int) -> int:
    """Index past the comment, string or char literal starting at text[i], else i."""
    if text.startswith("//", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if text.startswith("/*", i):
        depth, j = 1, i + 2
        while j < len(text) and depth:
            if text.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif text.startswith("*/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        return j
    raw = re.compile(r'b?r(#*)"').match(text, i)
    if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
        closing = '"' + raw.group(1)
        end = text.find(closing, raw.end())
        return len(text) if end < 0 else end + len(closing)
    if text[i] == '"':
        j = i + 1
        while j < len(text) and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        return j + 1
    if text[i] == "'":
        # A char literal ('a', '\n', '\u{1F980}', '{') and not a lifetime ('py).
        char = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'").match(text, i)
        if char:
            return char.end()
    return i


def _item_end(text: str, start: int) -> int:
    """Index just past the item starting at `start`: its matching `}`, or its `;`."""
    depth, i = 0, start
    while i < len(text):
        j = _skip_literal(text, i)
        if j != i:
            i = j
            continue
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return len(text)


def _with_leading_docs(text: str, start: int) -> int:
    """Move `start` back over the `///` docs and `#[...]` attributes right above it.

    A `//` comment among them (a why between `#[pyo3(...)]` and `fn`) belongs to the item
    too, but `//` lines above all of its docs and attributes (a section's heading) do not.
    """
    lines_start = text.rfind("\n", 0, start) + 1
    head = lines_start  # the topmost `///` or `#[` line seen so far
    while lines_start > 0:
        previous = text.rfind("\n", 0, lines_start - 1) + 1
        line = text[previous : lines_start - 1].strip()
        if not line.startswith(("//", "#[", "#![")):
            break
        lines_start = previous
        if line.startswith(("///", "#[", "#![")):
            head = lines_start
    return head


def _find(text: str, pattern: str, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(start, end) of the item whose header matches `pattern`, or (-1, -1).

    Where several match (a plain-Rust helper and the #[pyfunction] of the same name), the
    one with a #[pyfunction] or #[pymethods] attribute wins.
    """
    spans = []
    for match in re.compile(pattern, re.M).finditer(text, start, len(text) if end is None else end):
        head = _with_leading_docs(text, match.start())
        spans.append((head, _item_end(text, match.start())))
        if "#[py" in text[head : match.start()]:
            return spans[-1]
    return spans[0] if spans else (-1, -1)


def _locate(text: str, item: str) -> list[tuple[int, int]]:
    """The spans of lib.rs that make up `item`: a fn; a class's struct and #[pymethods]."""
    if "." in item:
        cls, method = item.split(".", 1)
        impl_start, impl_end = _find(text, rf"^\s*impl\s+{cls}\s*\{{")
        if impl_start < 0:
            return []
        span = _find(text, rf"^\s*(pub\s+)?fn\s+{method}\b", impl_start, impl_end)
        return [span] if span[0] >= 0 else []
    if item[:1].isupper():
        struct = _find(text, rf"^\s*(pub\s+)?struct\s+{item}\b")
        if struct[0] < 0:
            return []
        methods = _find(text, rf"^\s*impl\s+{item}\s*\{{")
        return [struct] + ([methods] if methods[0] >= 0 else [])
    span = _find(text, rf"^\s*(pub\s+)?fn\s+{item}\b")
    return [span] if span[0] >= 0 else []


def snippet(item: str) -> Snippet:
    """The code of `item` (one of ITEMS) as lib.rs has it now."""
    try:
        text = LIB_RS.read_text(encoding="utf-8")
    except OSError:
        return Snippet(item, False, 0, "", "", "lib.rs cannot be read next to the web/ folder")
    spans = _locate(text, item)
    if not spans:
        number = EXERCISE_OF.get(item.split(".")[0])
        note = f"{item} is not in lib.rs" + (
            f": you write it in exercise {number} (python3 scripts/dev.py solution {number} "
            "puts ours back)"
            if number
            else ""
        )
        return Snippet(item, False, 0, "", "", note)
    code = "\n\n// ...\n\n".join(text[a:b] for a, b in spans)
    first_line = text.count("\n", 0, spans[0][0]) + 1
    html = highlight(code, RustLexer(), FORMATTER)
    return Snippet(item, True, first_line, code, html, "")
