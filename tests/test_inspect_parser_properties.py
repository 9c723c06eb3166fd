"""Property tests for ingest/inspect_parser.py.

1. Round trip: random JS-like values, printed by a small Python copy of
   util.inspect's rules (below), parse back to exactly the same value.
2. Robustness: arbitrary or mangled text only ever raises InspectSyntaxError,
   with a position inside the text, and does not hang (hypothesis deadline).
"""

import re
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # plain `pytest` works too

from ingest.inspect_parser import (  # noqa: E402
    UNDEFINED,
    InspectSyntaxError,
    parse_payload,
    parse_value,
)

VALID = Path(__file__).parent / "fixtures" / "inspect" / "valid"
BLOCKS = sorted(path.read_text(encoding="utf-8") for path in VALID.glob("*.txt"))

# --- a Python rendering of util.inspect (Node 20, default options) ---------------
# Only what the round trip needs: no depth limit, no column grouping of arrays.
# render_string and render_number were checked against Node 20's util.inspect
# on 3,000 random doubles and 500 random strings: identical output.

# lib/internal/util/inspect.js `meta`: how each control character is escaped.
_META = {i: f"\\x{i:02X}" for i in [*range(0x20), *range(0x7F, 0xA0)]}
_META.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x5C: "\\\\"})
IDENTIFIER_KEY = re.compile(r"[a-zA-Z_][a-zA-Z_0-9]*")
BREAK_LENGTH = 80  # Node's default: a container longer than this goes multi-line


def render_string(value: str) -> str:
    # strEscape: prefer ', switch to " or ` only to avoid escaping a quote.
    quote = "'"
    if "'" in value:
        if '"' not in value:
            quote = '"'
        elif "`" not in value and "${" not in value:
            quote = "`"
    escapes = dict(_META)
    if quote == "'":
        escapes[0x27] = "\\'"
    return quote + value.translate(escapes) + quote


def render_key(key: str) -> str:
    # Node's keyStrRegExp: only plain ASCII identifiers go unquoted (not even `$x`).
    return key if IDENTIFIER_KEY.fullmatch(key) else render_string(key)


def render_number(value: Decimal) -> str:
    """ECMAScript Number::toString (what Node prints), from the value's own digits."""
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value.is_signed() else "Infinity"
    sign = "-" if value.is_signed() else ""  # util.inspect prints -0 as `-0`
    if not value:
        return sign + "0"
    _, digits, exponent = value.normalize().as_tuple()
    digits = "".join(map(str, digits))
    k, n = len(digits), len(digits) + exponent  # value = 0.digits × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n > 0 else '-'}{abs(n - 1)}"


def render(value: object, indent: int = 0) -> str:
    if isinstance(value, str):
        return render_string(value)
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, Decimal):
        return render_number(value)
    if isinstance(value, dict):
        parts = [f"{render_key(k)}: {render(v, indent + 2)}" for k, v in value.items()]
        braces = "{}"
    else:
        parts = [render(v, indent + 2) for v in value]
        braces = "[]"
    if not parts:
        return braces
    # reduceToSingleString: one line if it fits and nothing inside broke lines.
    one_line = f"{braces[0]} {', '.join(parts)} {braces[1]}"
    if len(one_line) + indent <= BREAK_LENGTH and "\n" not in one_line:
        return one_line
    pad = "\n" + " " * indent
    return f"{braces[0]}{pad}  " + f",{pad}  ".join(parts) + f"{pad}{braces[1]}"


# --- strategies ------------------------------------------------------------------

# Characters that stress the string rules, mixed into arbitrary text.
TRICKY = st.sampled_from(list("'\"`\\$\n\t\r\x00\x0b\x7f\x85{}[]:,") + ["${", "é", "€", "😀", "متاح", " "])
strings = st.lists(TRICKY | st.text(max_size=5), max_size=6).map("".join)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
numbers = st.one_of(
    # Floats printed the JS way: the case the ledger cares about (1.40000000000005).
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: Decimal(render_number(Decimal(repr(f))))),
    st.integers(-(10**12), 10**12).map(Decimal),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("-0")]),
)
scalars = st.one_of(strings, numbers, st.booleans(), st.none(), st.just(UNDEFINED))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(identifiers | strings, inner, max_size=6),
    max_leaves=30,
)


def same(a: object, b: object) -> bool:
    """Exact equality: Decimals digit for digit (NaN included), None is not UNDEFINED."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    return a == b


# --- round trip ------------------------------------------------------------------


@given(values)
@example({"transaction": {"amount": Decimal("1.40000000000005"), "metadata": UNDEFINED}})
@example(["it's", 'say "hi"', "both ' and \"", "all ' \" `", "${x} ' \""])
def test_round_trip(value: object) -> None:
    text = render(value)
    parsed, end = parse_value(text)
    assert end == len(text)
    assert same(parsed, value), text


@given(st.dictionaries(identifiers, values, max_size=6), st.text(max_size=20))
def test_payload_round_trip_with_trailing_text(value: dict, trailing: str) -> None:
    text = render(value) + " " + trailing
    payload = parse_payload(text)
    assert same(payload.value, value)
    assert payload.trailing == trailing.strip()


# --- robustness ------------------------------------------------------------------

# A generous deadline stands in for "never hangs": every input here is short,
# so anything near a second means a loop that stopped advancing.
robust = settings(deadline=timedelta(seconds=1), max_examples=300)


def _only_syntax_errors(text: str, pos: int = 0) -> None:
    for parse in (parse_payload, parse_value):
        try:
            parse(text, pos)
        except InspectSyntaxError as error:
            assert 0 <= error.pos <= len(text)
            assert error.line == text.count("\n", 0, error.pos) + 1
            assert error.col >= 1


@robust
@given(st.text())
def test_random_text(text: str) -> None:
    _only_syntax_errors(text)


@robust
@given(st.text(alphabet="{}[]'\"`\\:,.<>*n-+e0123456789 \nabcRrtuflsNI", max_size=60))
def test_random_inspect_like_text(text: str) -> None:
    _only_syntax_errors(text)


def mutated(data: st.DataObject, block: str, alphabet: str, max_insert: int) -> str:
    """`block` with up to 40 characters replaced by up to `max_insert` drawn from `alphabet`."""
    start = data.draw(st.integers(0, len(block)))
    end = data.draw(st.integers(start, min(len(block), start + 40)))
    return block[:start] + data.draw(st.text(alphabet=alphabet, max_size=max_insert)) + block[end:]


@robust
@given(st.sampled_from(BLOCKS), st.data())
def test_mutated_blocks(block: str, data: st.DataObject) -> None:
    _only_syntax_errors(mutated(data, block, "{}[]'\"`\\:,\n x9", 3))


@robust
@given(st.sampled_from([b for b in BLOCKS if b.endswith("}")]), st.data())
def test_truncated_blocks_always_fail(block: str, data: st.DataObject) -> None:
    # A block cut anywhere before its final `}` must be rejected, never
    # returned as a partial object: the ingest would lose fields silently.
    cut = data.draw(st.integers(0, len(block) - 1))
    try:
        parse_payload(block[:cut])
    except InspectSyntaxError:
        return
    raise AssertionError(f"truncated block parsed: {block[:cut]!r}")


# --- the plain-value step of parse_object ----------------------------------------
# parse_object reads a plain 'string' or number in the same regex step as its key.
# Without that step (the key regexes alone, every value through parse_value_at)
# the parser must give the same value, type for type, or the same error.

import ingest.inspect_parser as _ip  # noqa: E402

_KEY_ONLY = {
    "_match_first_key_colon": re.compile(r"[ \t\r\n]*([A-Za-z_$][A-Za-z0-9_$]*):[ \t\r\n]*").match,
    "_match_next_key_colon": re.compile(r"[ \t\r\n]*,[ \t\r\n]*([A-Za-z_$][A-Za-z0-9_$]*):[ \t\r\n]*").match,
}


def _outcome(text: str) -> str:
    try:
        return repr(parse_payload(text))  # Decimal('1.0') and Decimal('1.00') differ here
    except InspectSyntaxError as error:
        return f"error: {error}"


def _outcome_without_plain_values(text: str) -> str:
    saved = {name: getattr(_ip, name) for name in _KEY_ONLY}
    try:
        for name, match in _KEY_ONLY.items():
            setattr(_ip, name, match)
        return _outcome(text)
    finally:
        for name, match in saved.items():
            setattr(_ip, name, match)


def test_plain_values_agree_on_every_fixture() -> None:
    for block in BLOCKS:
        assert _outcome(block) == _outcome_without_plain_values(block)


@robust
@given(st.sampled_from(BLOCKS), st.data())
def test_plain_values_agree_on_mutated_blocks(block: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(block)))
    end = data.draw(st.integers(start, min(len(block), start + 40)))
    insert = data.draw(st.text(alphabet="{}[]'\"`\\:,.\n x9-enN", max_size=4))
    text = block[:start] + insert + block[end:]
    assert _outcome(text) == _outcome_without_plain_values(text)


@robust
@given(st.text(alphabet="{}'\\:,.\n x9-enNa", max_size=40))
def test_plain_values_agree_on_object_like_text(text: str) -> None:
    text = "{ a: " + text
    assert _outcome(text) == _outcome_without_plain_values(text)


# --- known layouts (ingest.classify.SYNC_LAYOUTS) ------------------------------
# A Layout reads a block in one regex step or declines; what it reads must be what
# parse_object reads, type for type.

from ingest.classify import NOT_IN_SYNC_LAYOUTS, SYNC_LAYOUTS  # noqa: E402
from ingest.inspect_parser import parse_object  # noqa: E402


def _layouts_agree(text: str) -> bool:
    """Asserts agreement; True when a layout read the text."""
    read = False
    for layout in SYNC_LAYOUTS + NOT_IN_SYNC_LAYOUTS:
        fast = layout.read(text, 0)
        if fast is not None:
            assert repr(fast) == repr(parse_object(text, 0)), text
            assert repr(parse_payload(text, 0, (layout,))) == repr(parse_payload(text)), text
            read = True
    return read


# The fixtures a layout reads: full and legacy schema, metadata undefined, negative numbers, float noise, not in
# sync. The others take parse_object's general path: metadata in backticks or with escaped quotes, a one-line
# object, the guard's and other messages' objects.
LAYOUT_FIXTURES = {"debit_refund_with_vat", "float_noise_legacy", "full_schema_sync_block", "legacy_sync_block",
                   "metadata_undefined", "negative_amount", "negative_balances", "not_in_sync",
                   "not_in_sync_negative_payment_balance", "random_uuid_test_user"}


def test_layouts_read_the_sync_fixtures_as_parse_object_does() -> None:
    read = {path.stem for path in sorted(VALID.glob("*.txt")) if _layouts_agree(path.read_text(encoding="utf-8"))}
    assert read == LAYOUT_FIXTURES


@robust
@given(st.sampled_from(BLOCKS), st.data())
def test_layouts_agree_on_mutated_blocks(block: str, data: st.DataObject) -> None:
    _layouts_agree(mutated(data, block, "{}'\"`\\:,.\n x9-enNutrl", 4))


def _agree_or_all_refuse(text: str, layouts) -> None:
    try:
        _layouts_agree(text)
    except InspectSyntaxError:  # parse_object refuses it: then no layout may have read it
        assert all(layout.read(text, 0) is None for layout in layouts)


values_of_a_field = st.one_of(
    st.text(max_size=8).map(render_string), st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["true", "false", "undefined", "null", "1e5", "-0", "007", "1.50", "NaN", "12n", "[Object]"]))


@robust
@given(st.lists(values_of_a_field, min_size=13, max_size=13))
def test_layouts_agree_whatever_the_values(values: list) -> None:
    keys = SYNC_LAYOUTS[0].keys
    _agree_or_all_refuse("{\n  transaction: {\n" + ",\n".join(f"    {k}: {v}" for k, v in zip(keys, values))
                         + "\n  }\n}", SYNC_LAYOUTS)


@robust
@given(st.lists(values_of_a_field, min_size=3, max_size=3))
def test_not_in_sync_layout_agrees_whatever_the_values(values: list) -> None:
    keys = NOT_IN_SYNC_LAYOUTS[0].keys
    _agree_or_all_refuse("{\n" + ",\n".join(f"  {k}: {v}" for k, v in zip(keys, values)) + "\n}",
                         NOT_IN_SYNC_LAYOUTS)


# --- escaped strings: the one-step decoding of simple escapes ---------------------

def _escaped_outcome(text: str) -> str:
    try:
        return repr(_ip.parse_escaped_string(text, 0))
    except InspectSyntaxError as error:
        return f"error: {error}"


@robust
@given(st.sampled_from("'\"`"), st.text(alphabet="ab'\"`\\/ntrbfv0xu{}12\n", max_size=30))
def test_simple_escapes_decode_as_the_loop_does(quote: str, body: str) -> None:
    text = quote + body + quote + " tail"
    fast = _escaped_outcome(text)
    saved = _ip._match_simply_escaped
    try:
        _ip._match_simply_escaped = {q: (lambda text, pos: None) for q in saved}
        assert fast == _escaped_outcome(text)
    finally:
        _ip._match_simply_escaped = saved


# --- payload JSON: the reused C encoder writes what to_json writes ----------------

from ingest.inspect_parser import to_json, to_json_fast  # noqa: E402


@given(values)
@example({"n": Decimal("NaN")})
@example([Decimal("-Infinity"), {"k": "v"}])
def test_fast_json_is_to_json(value: object) -> None:
    assert to_json_fast(value) == to_json(value)
    assert to_json_fast({"after": value, "x": "y"}) == to_json({"after": value, "x": "y"})
