"""Tolerant parser for the text Node's ``util.inspect`` prints (``console.log(text, obj)``).

The Lambda logs its payloads with ``console.log``, so they look like JavaScript
object literals, not JSON: unquoted keys, ``'…'`` strings, bare ``undefined``,
``[Object]`` placeholders, ``Rr {`` class prefixes, column-aligned arrays.
See docs §6 of ``shared/docs/log-format.md``. JSON is a subset of that syntax,
so the compact JSON lines of the log parse too.

Style follows CPython's ``tomllib``: no cursor object, just pure functions over
``(text, pos)``. ``skip_*`` functions return the new position; ``parse_*``
functions return ``(value, new_pos)``. Dispatch looks at one character, with the
likeliest case first. The hot path leans on ``str.find`` and a few precompiled
regexes matched *at* ``pos``, because this runs on ~20,000 blocks per ingest.

Value mapping: object -> dict, array -> list, string -> str, number ->
``Decimal`` built from the printed literal (money: never a float), true/false
-> bool, null -> None, undefined -> ``UNDEFINED``, ``[Object]`` & co. ->
``Placeholder``, ``... N more items`` -> ``MoreItems``, bare Date -> aware
``datetime``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import simplejson

__all__ = [
    "UNDEFINED",
    "InspectSyntaxError",
    "Layout",
    "MoreItems",
    "Payload",
    "Placeholder",
    "parse_payload",
    "parse_value",
    "to_json",
    "to_json_fast",
]

# --- character classes and markers -------------------------------------------

WHITESPACE = frozenset(" \t\r\n")
QUOTES = frozenset("'\"`")
NUMBER_START = frozenset("-0123456789")
# `$` is legal in JS identifiers and common in minified class names.
IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
# `[` + capital letter opens a placeholder (`[Object]`, `[Function: f]`); Node
# prints a space after the `[` of a non-empty array, and JSON arrays never start
# with a capital, so this cannot swallow a real array.
PLACEHOLDER_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
MORE_ITEMS_MARK = "..."
REF_MARK = "<ref "

# Escapes with a fixed meaning. `\/` is not something Node prints, but JSON
# does, and the log contains JSON lines too.
SIMPLE_ESCAPES = {
    "\\": "\\", "'": "'", '"': '"', "`": "`", "/": "/",
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0",
}

NEGATIVE_INFINITY = "-Infinity"

# --- the few regexes, all bounded tokens, compiled once ----------------------

# Bound `.match` methods are kept as module globals: one attribute lookup less
# on the hot path, which runs a few hundred thousand times per ingest.
_match_ws = re.compile(r"[ \t\r\n]*").match
# The common "key: " in one step: blanks, identifier, colon, blanks. The next
# one also takes the "," that ends the previous property. Node leaves only
# ASCII identifiers unquoted and never puts a blank before the colon; anything
# else takes the slow path (parse_key), which is just as correct.
# The same step also takes the value when it is one of the two that make up
# most properties: group 2, a single-quoted string without escapes or line
# breaks (what parse_string's fast path reads); group 3, a number without
# exponent or suffix (what parse_number reads as a plain number). Anything
# else leaves both groups unmatched and goes through parse_value_at.
_PLAIN_VALUE = r"(?:'([^'\\\n]*)'|(-?[0-9]+(?:\.[0-9]+)?)(?![0-9.eEn-]))?"
_match_first_key_colon = re.compile(r"[ \t\r\n]*([A-Za-z_$][A-Za-z0-9_$]*):[ \t\r\n]*" + _PLAIN_VALUE).match
_match_next_key_colon = re.compile(r"[ \t\r\n]*,[ \t\r\n]*([A-Za-z_$][A-Za-z0-9_$]*):[ \t\r\n]*"
                                   + _PLAIN_VALUE).match
_KEY_ONLY, _PLAIN_STRING, _PLAIN_NUMBER = 1, 2, 3  # match.lastindex of the two regexes above
# "," plus the blanks (line break + indentation, or column padding) after it.
_match_comma = re.compile(r"[ \t\r\n]*,[ \t\r\n]*").match
_IDENT_RE = re.compile(r"[A-Za-z_$][\w$]*")
# JS number as printed by Number#toString, plus one suffix character that
# flags a BigInt (`123n`) or maybe a bare Date (`2024-01-31T…`); see parse_number.
_match_number = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?([n-])?").match
# A Date prints bare as its ISO string; Node never prints `2024-…` otherwise.
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
# Class prefix: `Rr {`, array subclass `Foo(2) [`, both followed by one space.
_CLASS_PREFIX_RE = re.compile(r"([A-Za-z_$][\w$]*(?:\([0-9]+\))?) (?=[{\[])")
_BRACKET_OR_EOL_RE = re.compile(r"[\[\]\n]")
_MORE_ITEMS_RE = re.compile(r"\.\.\. ([0-9]+) more items?")
_HEX2_RE = re.compile(r"[0-9A-Fa-f]{2}")
_HEX4_RE = re.compile(r"[0-9A-Fa-f]{4}")
_HEX_BRACED_RE = re.compile(r"\{([0-9A-Fa-f]{1,6})\}")
# Runs of ordinary string characters, one regex per quote style (slow path only).
_STRING_CHUNK_RE = {q: re.compile(rf"[^{q}\\\n]*") for q in QUOTES}
# A whole string whose escapes are all one-character ones (`\\"` in backtick metadata): group 1 is the
# text between the quotes, decoded by one substitution instead of a loop turn per escape.
_SIMPLE_ESCAPE_CHARS = "\\\\'\"`/ntrbfv0"
_match_simply_escaped = {
    q: re.compile(rf"{q}([^{q}\\\n]*(?:\\[{_SIMPLE_ESCAPE_CHARS}][^{q}\\\n]*)*){q}").match for q in QUOTES}
_sub_simple_escape = re.compile(rf"\\([{_SIMPLE_ESCAPE_CHARS}])").sub


# --- value types --------------------------------------------------------------


class _Undefined:
    """JavaScript `undefined`: distinct from `null`/None, which JS also has."""

    __slots__ = ()
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self):  # copy/pickle must keep the singleton
        return "UNDEFINED"


UNDEFINED = _Undefined()

# Bare words Node prints for primitive values. The Decimals are immutable, so
# sharing one instance is safe.
KEYWORDS = {
    "undefined": UNDEFINED,
    "null": None,
    "true": True,
    "false": False,
    "NaN": Decimal("NaN"),
    "Infinity": Decimal("Infinity"),
}


@dataclass(frozen=True, slots=True)
class Placeholder:
    """Something Node did not print in full: `[Object]`, `[Function: f]`, `<1 empty item>`."""

    text: str


@dataclass(frozen=True, slots=True)
class MoreItems:
    """The `... N more items` line Node appends to arrays longer than 100 items."""

    count: int


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 2% of the parse budget
class Payload:
    """What one `console.log(text, obj, extra)` printed after `text`."""

    class_name: str | None  # `Rr` for `Rr {…}`; None for a plain object/array
    value: object
    trailing: str  # further console.log arguments, e.g. an SNS topic ARN


class InspectSyntaxError(ValueError):
    """Malformed input; `pos` is an offset into the parsed text, `line`/`col` 1-based."""

    def __init__(self, message: str, msg: str, pos: int, line: int, col: int):
        super().__init__(message)
        self.msg = msg  # the message without the location
        self.pos = pos
        self.line = line
        self.col = col

    def __reduce__(self):  # picklable, e.g. across a multiprocessing pool
        return self.__class__, (self.args[0], self.msg, self.pos, self.line, self.col)


def _error(text: str, pos: int, msg: str) -> InspectSyntaxError:
    """Build every parse error, so all of them locate the fault the same way."""
    line = text.count("\n", 0, pos) + 1
    col = pos - text.rfind("\n", 0, pos)  # rfind gives -1 on line 1: still 1-based
    if pos >= len(text):
        where = f"at end of input (line {line}, column {col})"
    else:
        where = f"at line {line}, column {col}"
    return InspectSyntaxError(f"{msg} {where}", msg, pos, line, col)


# --- skipping ------------------------------------------------------------------


def skip_ws(text: str, pos: int) -> int:
    # Most calls land on a non-blank character; avoid the regex call then.
    if pos < len(text) and text[pos] in WHITESPACE:
        return _match_ws(text, pos).end()
    return pos


def skip_ref_marker(text: str, pos: int) -> int:
    """Skip `<ref *1> ` which Node puts before an object that a `[Circular *1]` points at."""
    end = text.find(">", pos)
    if end < 0 or text.find("\n", pos, end) >= 0:
        raise _error(text, pos, "unterminated '<ref' marker")
    return skip_ws(text, end + 1)


# --- values --------------------------------------------------------------------


def parse_value(text: str, pos: int = 0) -> tuple[object, int]:
    """Parse one value after optional whitespace; return it and the position after it."""
    start = skip_ws(text, pos)
    try:
        return parse_value_at(text, start)
    except RecursionError:  # only hostile input nests this deep; Node caps depth
        raise _error(text, start, "nesting too deep") from None


def parse_value_at(text: str, pos: int) -> tuple[object, int]:
    """Parse the value starting exactly at `pos` (no leading whitespace)."""
    try:
        char = text[pos]
    except IndexError:  # cheaper than a length test on every value
        raise _error(text, pos, "expected a value") from None
    # Ordered by frequency in the corpus: strings, numbers, nested objects.
    if char == "'":
        return parse_string(text, pos)
    if char in NUMBER_START:
        return parse_number(text, pos)
    if char == "{":
        return parse_object(text, pos)
    if char == "[":
        if text[pos + 1 : pos + 2] in PLACEHOLDER_START:
            return parse_placeholder(text, pos)
        return parse_array(text, pos)
    if char in QUOTES:
        return parse_string(text, pos)
    if char in IDENT_START:
        return parse_word(text, pos)
    if char == "<":
        if text.startswith(REF_MARK, pos):
            return parse_value_at(text, skip_ref_marker(text, pos))
        return parse_angle_placeholder(text, pos)
    raise _error(text, pos, f"expected a value, found {char!r}")


def parse_object(text: str, pos: int) -> tuple[dict, int]:
    """`pos` is at `{`. Handles both the one-line and the one-property-per-line form."""
    obj: dict = {}
    match = _match_first_key_colon(text, pos + 1)
    if match is None:
        pos = skip_ws(text, pos + 1)
        if text.startswith("}", pos):
            return obj, pos + 1
    while True:
        if match is None:  # quoted key, or an error for parse_key to report
            key, pos = parse_key(text, pos)
            value, pos = parse_value_at(text, pos)
        else:
            key = match[1]  # subscript: cheaper than .group(1)
            pos = match.end()
            plain = match.lastindex
            if plain == _KEY_ONLY:
                value, pos = parse_value_at(text, pos)
            elif plain == _PLAIN_STRING:
                value = match[2]
            else:
                value = Decimal(match[3])
        obj[key] = value
        # Fast path: `,` + line break + the next `key: ` in one regex step.
        match = _match_next_key_colon(text, pos)
        if match is not None:
            continue
        pos = skip_ws(text, pos)
        if text.startswith("}", pos):
            return obj, pos + 1
        if not text.startswith(",", pos):
            raise _error(text, pos, f"expected ',' or '}}' after the value of key {key!r}")
        pos = skip_ws(text, pos + 1)
        if text.startswith("}", pos):  # tolerate a trailing comma
            return obj, pos + 1


def parse_key(text: str, pos: int) -> tuple[str, int]:
    """Slow path of `parse_object`: quoted keys (`'a-b': 1`, JSON) and the errors."""
    if pos < len(text) and text[pos] in QUOTES:
        key, pos = parse_string(text, pos)
    else:
        match = _IDENT_RE.match(text, pos)
        if match is None:
            raise _error(text, pos, "expected a property name")
        key, pos = match.group(), match.end()
    pos = skip_ws(text, pos)
    if not text.startswith(":", pos):
        raise _error(text, pos, f"expected ':' after key {key!r}")
    return key, skip_ws(text, pos + 1)


def parse_array(text: str, pos: int) -> tuple[list, int]:
    """`pos` is at `[`. Column-aligned arrays are just arrays with extra blanks."""
    items: list = []
    pos = skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return items, pos + 1
    while True:
        if text.startswith(MORE_ITEMS_MARK, pos):
            more, pos = parse_more_items(text, pos)
            items.append(more)
        else:
            value, pos = parse_value_at(text, pos)
            items.append(value)
        match = _match_comma(text, pos)
        if match is not None:
            pos = match.end()
            if text.startswith("]", pos):  # tolerate a trailing comma
                return items, pos + 1
            continue
        pos = skip_ws(text, pos)
        if text.startswith("]", pos):
            return items, pos + 1
        raise _error(text, pos, "expected ',' or ']' after an array item")


def parse_more_items(text: str, pos: int) -> tuple[MoreItems, int]:
    match = _MORE_ITEMS_RE.match(text, pos)
    if match is None:
        raise _error(text, pos, "expected '... N more items'")
    return MoreItems(int(match.group(1))), match.end()


def parse_string(text: str, pos: int) -> tuple[str, int]:
    """`pos` is at the opening quote (`'`, `"` or a backtick)."""
    end = text.find(text[pos], pos + 1)
    if end >= 0:
        # Fast path: no escapes and no line break before the closing quote,
        # which is every string of the sync blocks except backtick metadata.
        # Slicing first and testing with `in` beats two bounded finds.
        value = text[pos + 1 : end]
        if "\\" not in value and "\n" not in value:
            return value, end + 1
    return parse_escaped_string(text, pos)


def _simple_escape(match: re.Match) -> str:
    return SIMPLE_ESCAPES[match[1]]


def parse_escaped_string(text: str, pos: int) -> tuple[str, int]:
    quote = text[pos]
    simple = _match_simply_escaped[quote](text, pos)
    if simple is not None:  # the common case, decoded in one step; the loop below gives the same
        return _sub_simple_escape(_simple_escape, simple[1]), simple.end()
    chunk_re = _STRING_CHUNK_RE[quote]
    parts = []
    i = pos + 1
    while True:
        match = chunk_re.match(text, i)
        parts.append(match.group())
        i = match.end()
        char = text[i : i + 1]
        if char == quote:
            return "".join(parts), i + 1
        # Node escapes line breaks, so a raw one (or the end of the text)
        # means the quote was never closed: report where the string began.
        if char != "\\" or i + 1 >= len(text):
            raise _error(text, pos, "unterminated string")
        decoded, i = parse_escape(text, i)
        parts.append(decoded)


def parse_escape(text: str, pos: int) -> tuple[str, int]:
    """`pos` is at a backslash inside a string; decode one escape sequence."""
    char = text[pos + 1]
    simple = SIMPLE_ESCAPES.get(char)
    if simple is not None:
        return simple, pos + 2
    if char == "x":
        match = _HEX2_RE.match(text, pos + 2)
        if match is not None:
            return chr(int(match.group(), 16)), match.end()
    elif char == "u":
        match = _HEX4_RE.match(text, pos + 2)
        if match is not None:
            code = int(match.group(), 16)
            end = match.end()
            # JSON writes astral characters as a surrogate pair; join it.
            if 0xD800 <= code <= 0xDBFF and text.startswith("\\u", end):
                low = _HEX4_RE.match(text, end + 2)
                if low is not None and 0xDC00 <= int(low.group(), 16) <= 0xDFFF:
                    code = 0x10000 + ((code - 0xD800) << 10) + int(low.group(), 16) - 0xDC00
                    end = low.end()
            return chr(code), end
        match = _HEX_BRACED_RE.match(text, pos + 2)
        if match is not None and int(match.group(1), 16) <= 0x10FFFF:
            return chr(int(match.group(1), 16)), match.end()
    hint = {"x": ": expected 2 hex digits", "u": ": expected 4 hex digits or {hex}"}.get(char, "")
    raise _error(text, pos, f"invalid escape sequence \\{char}{hint}")


def parse_number(text: str, pos: int) -> tuple[Decimal | datetime, int]:
    """`pos` is at a digit or `-`. Decimal from the literal keeps 1.40000000000005 exact."""
    match = _match_number(text, pos)
    if match is not None and match.lastindex is None:  # a plain number: the hot path
        return Decimal(match[0]), match.end()
    if match is None:
        if text.startswith(NEGATIVE_INFINITY, pos):
            return Decimal("-Infinity"), pos + len(NEGATIVE_INFINITY)
        raise _error(text, pos, "invalid number")
    # The regex also grabbed one suffix character, to test for both rare
    # cases with a single check above: BigInt `123n`, or `2024-…`, a bare Date.
    end = match.end() - 1
    if text[end] == "n":
        return Decimal(text[pos:end]), end + 1
    date = _DATE_RE.match(text, pos)
    if date is not None:
        try:
            return datetime.fromisoformat(date.group()), date.end()
        except ValueError:  # month 13 and the like
            raise _error(text, pos, "invalid date") from None
    return Decimal(text[pos:end]), end  # `-` belongs to whatever follows


def parse_word(text: str, pos: int) -> tuple[object, int]:
    """`pos` is at a letter: a keyword (`undefined`, `true`, …) or a class prefix (`Rr {`)."""
    match = _IDENT_RE.match(text, pos)
    word = match.group()
    if word in KEYWORDS:
        return KEYWORDS[word], match.end()
    prefix = _CLASS_PREFIX_RE.match(text, pos)
    if prefix is not None:
        # The class name only matters for the top-level payload (parse_payload).
        return parse_value_at(text, prefix.end())
    raise _error(text, pos, f"unexpected word {word!r}")


def parse_placeholder(text: str, pos: int) -> tuple[object, int]:
    """`pos` is at `[` of `[Object]`, `[Function: f]`, `[Circular *1]`, `[Getter]`, …

    `[Object: null prototype] {…}` and `[Function: f] {…}` are prefixes, not
    placeholders: then the object that follows is the value.
    """
    text_, end = scan_bracket_tag(text, pos)
    if text.startswith(" {", end) or text.startswith(" [", end):
        return parse_value_at(text, end + 1)
    return Placeholder(text_), end


def scan_bracket_tag(text: str, pos: int) -> tuple[str, int]:
    """`pos` is at `[`; return the whole `[…]` tag, which may nest: `[Function: [Symbol.iterator]]`."""
    depth = 0
    for match in _BRACKET_OR_EOL_RE.finditer(text, pos):
        char = match[0]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if not depth:
                return text[pos : match.end()], match.end()
        else:  # a tag never spans lines: do not run away on a truncated one
            break
    raise _error(text, pos, "unterminated '[' placeholder")


def parse_angle_placeholder(text: str, pos: int) -> tuple[Placeholder, int]:
    """`<2 empty items>` (holes in sparse arrays) and similar `<…>` markers."""
    end = text.find(">", pos)
    if end < 0 or text.find("\n", pos, end) >= 0:
        raise _error(text, pos, "unterminated '<' placeholder")
    return Placeholder(text[pos : end + 1]), end + 1


# --- payload ---------------------------------------------------------------------


def parse_payload(text: str, pos: int = 0, layouts: tuple[Layout, ...] = ()) -> Payload:
    """Parse `[ClassName ]{…}` or `[…]` at `pos`, plus the text printed after it.

    `pos` must be where the object (or its class name) starts: the caller knows
    the message text, and a word before `{` is ambiguous (`…the balance {`).
    `layouts` are shortcuts for an object the caller expects (see Layout); the
    result is the same with or without them.
    """
    start = pos = skip_ws(text, pos)
    class_name = None
    try:
        if not text.startswith("{", pos):  # rare: class name, `<ref *1>` or array
            class_name, pos = parse_payload_prefix(text, pos)
        if text.startswith("{", pos):
            for layout in layouts:
                read = layout.read(text, pos)
                if read is not None:
                    value, pos = read
                    break
            else:
                value, pos = parse_object(text, pos)
        elif text.startswith("[", pos):
            value, pos = parse_array(text, pos)
        else:
            raise _error(text, pos, "expected '{' or '[' to start the payload")
    except RecursionError:
        raise _error(text, start, "nesting too deep") from None
    return Payload(class_name, value, text[pos:].strip())


def parse_payload_prefix(text: str, pos: int) -> tuple[str | None, int]:
    """Skip `<ref *1> `; read a class name: `Rr `, `Foo(2) `, `[Object: null prototype] `."""
    if text.startswith(REF_MARK, pos):
        pos = skip_ref_marker(text, pos)
    char = text[pos : pos + 1]
    if char in IDENT_START:  # '' (end of text) is in no set
        match = _CLASS_PREFIX_RE.match(text, pos)
        if match is None:
            raise _error(text, pos, "expected '{' or '[' to start the payload")
        return match[1], match.end()
    if char == "[" and text[pos + 1 : pos + 2] in PLACEHOLDER_START:
        tag, pos = scan_bracket_tag(text, pos)
        return tag, skip_ws(text, pos)
    return None, pos


# --- known layouts: a shortcut for the commonest block ---------------------------------


class Layout:
    """One exact way Node prints an object: these keys, in this order, one per line, each value a plain
    scalar (a string without escapes or line breaks, a number without exponent, a keyword), optionally
    wrapped in a one-key object (`{ transaction: {…} }`, the sync block, ~20% of all events).

    `read(text, pos)` matches the whole object with one regex and returns what parse_object returns
    for it, or None for anything else (another key order, a backtick string, an extra field): the
    caller then uses parse_object. It is a shortcut, not a second grammar; the tests check that both
    agree on every fixture, the corpus and mutated blocks.
    """

    _SCALAR = r"('[^'\\\n]*'|-?[0-9]+(?:\.[0-9]+)?|true|false|undefined|null)"
    _WORDS = {"true": True, "false": False, "undefined": UNDEFINED, "null": None}

    def __init__(self, keys: tuple[str, ...], wrapper: str | None = None):
        self.keys, self.wrapper = keys, wrapper
        indent = "    " if wrapper else "  "
        props = ",\n".join(f"{indent}{key}: {self._SCALAR}" for key in keys)
        pattern = rf"\{{\n{props}\n{indent[2:]}\}}"
        if wrapper:
            pattern = rf"\{{\n  {wrapper}: {pattern}\n\}}"
        self._match = re.compile(pattern).match

    def read(self, text: str, pos: int) -> tuple[dict, int] | None:
        match = self._match(text, pos)
        if match is None:
            return None
        # a string as parse_string reads it (no escape, no line break inside), a number as parse_number
        # reads it (no exponent, no suffix follows), or a keyword
        words = self._WORDS
        values = [raw[1:-1] if raw[0] == "'" else Decimal(raw) if raw[0] in NUMBER_START else words[raw]
                  for raw in match.groups()]
        obj = dict(zip(self.keys, values))
        return ({self.wrapper: obj} if self.wrapper else obj), match.end()


# --- JSON output -------------------------------------------------------------------


def to_json(value: object) -> str:
    """Compact JSON with Decimals as exact number literals (json.dumps would need floats).

    Lossy by design where JSON has no equivalent: UNDEFINED -> null (like
    JSON.stringify inside arrays), NaN/±Infinity -> "NaN"/"Infinity"/"-Infinity",
    Placeholder -> its text, MoreItems -> "... N more items", Date -> ISO string.
    Strict: anything the parser cannot produce (a float, say) is a TypeError.
    """
    out: list[str] = []
    _write_json(value, out)
    return "".join(out)


def to_json_fast(value: object) -> str:
    """The same text as to_json for every value the parser produces, through simplejson's C encoder
    (about 4x faster: ingestion serialises every payload). It does not reject floats; a non-finite
    number, which simplejson refuses, goes through to_json."""
    try:
        return _fast_encode(value)
    except ValueError:
        return to_json(value)


def _json_default(value: object) -> object:
    if value is UNDEFINED:
        return None
    if isinstance(value, Placeholder):
        return value.text
    if isinstance(value, MoreItems):
        return _more_items_text(value)
    if isinstance(value, datetime):
        return _iso(value)
    raise TypeError(f"to_json cannot serialise {type(value).__name__}")


def _more_items_text(value: MoreItems) -> str:
    return f"... {value.count} more item{'s' if value.count != 1 else ''}"  # Node's own wording


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write_json(value: object, out: list[str]) -> None:
    # bool before Decimal/int: bool is an int subclass.
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None or value is UNDEFINED:
        out.append("null")
    elif isinstance(value, Decimal):
        # str(Decimal) is a valid JSON number for finite values ("1E+21" too).
        out.append(str(value) if value.is_finite() else json.dumps(_special_number(value)))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write_json(item, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write_json(item, out)
        out.append("]")
    elif isinstance(value, Placeholder):
        out.append(json.dumps(value.text, ensure_ascii=False))
    elif isinstance(value, MoreItems):
        out.append(json.dumps(_more_items_text(value)))
    elif isinstance(value, datetime):
        out.append(json.dumps(_iso(value)))
    else:
        raise TypeError(f"to_json cannot serialise {type(value).__name__}")


def _special_number(value: Decimal) -> str:
    if value.is_nan():
        return "NaN"
    return "-Infinity" if value.is_signed() else "Infinity"


# What simplejson.dumps(value, use_decimal=True, allow_nan=False, ensure_ascii=False, separators=(",", ":"),
# default=_json_default) does, without building the encoder again for every payload. namedtuple_as_object
# is off: the parser makes no namedtuple (nor anything with an `_asdict` method), and looking for that
# method on every dict and number took 40% of the encoder's time. The output is the same.
_ENCODER = simplejson.JSONEncoder(use_decimal=True, allow_nan=False, ensure_ascii=False, separators=(",", ":"),
                                  default=_json_default, namedtuple_as_object=False)


def _reusable_encode(encoder: simplejson.JSONEncoder):
    """encoder.encode without the setup JSONEncoder.iterencode repeats on every call (a new C encoder with
    20 arguments, a fresh key cache): the C encoder is built once, as iterencode builds it, minus the
    circular-reference check (the parser makes no cycles). That halves the cost of a sync block's JSON.
    It leans on simplejson internals (pinned in requirements.txt), so it is checked against encoder.encode
    on a sample at import, and encoder.encode is used if anything differs."""
    make = getattr(simplejson.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    key_memo: dict = {}
    try:
        c_encode = make(
            None, encoder.default, simplejson.encoder.encode_basestring, encoder.indent, encoder.key_separator,
            encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan, key_memo,
            encoder.use_decimal, encoder.namedtuple_as_object, encoder.tuple_as_array, None, encoder.item_sort_key,
            encoder.encoding, encoder.for_json, encoder.ignore_nan, Decimal, encoder.iterable_as_array)
    except TypeError:
        return encoder.encode

    def encode(value: object) -> str:
        if len(key_memo) > 10_000:  # encoded keys; a handful in practice
            key_memo.clear()
        return "".join(c_encode(value, 0))

    sample = [{"transaction": {"id": 'é "q" \\ \n\u2028', "n": Decimal("-1.40000000000005"), "big": Decimal("1E+21"),
                               "i": 7, "t": True, "f": False, "z": None, "u": UNDEFINED, "m": {"k": [1, "x"]}}},
              "text", Decimal("8"), [Placeholder("[Object]"), MoreItems(3)], {}]
    try:
        if all(encode(value) == encoder.encode(value) for value in sample):
            return encode
    except (TypeError, ValueError):
        pass
    return encoder.encode


_fast_encode = _reusable_encode(_ENCODER)
