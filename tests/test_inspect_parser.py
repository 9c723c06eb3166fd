"""Example-based tests for ingest/inspect_parser.py.

Golden files live in tests/fixtures/inspect/:
  valid/NAME.txt    a payload copied byte-exact from docs/log-format.md (from the
                    `{`, or the class name, to the end of the event)
  valid/NAME.json   the expected `to_json` of its value. These were produced by
                    evaluating the .txt as a JavaScript literal in Node and
                    JSON.stringify-ing it, so they are independent of the parser.
  invalid/NAME.txt  a payload with the fault NAME describes
  invalid/NAME.err  the exact InspectSyntaxError message
"""

import gzip
import re
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # plain `pytest` works too

from ingest.inspect_parser import (  # noqa: E402
    UNDEFINED,
    InspectSyntaxError,
    MoreItems,
    Payload,
    Placeholder,
    parse_payload,
    parse_value,
    to_json,
    to_json_fast,
)

FIXTURES = Path(__file__).parent / "fixtures" / "inspect"


def _read(path: Path) -> str:
    # newline="" keeps the bytes as they are: line/column numbers depend on them.
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def _cases(kind: str) -> list:
    return [pytest.param(path, id=f"{kind}/{path.stem}") for path in sorted((FIXTURES / kind).glob("*.txt"))]


@pytest.mark.parametrize("path", _cases("valid") + _cases("invalid"))
def test_fixture(path: Path) -> None:
    text = _read(path)
    if path.parent.name == "valid":
        expected = _read(path.with_suffix(".json")).removesuffix("\n")
        assert to_json(parse_payload(text).value) == expected
    else:
        expected = _read(path.with_suffix(".err")).removesuffix("\n")
        with pytest.raises(InspectSyntaxError) as caught:
            parse_payload(text)
        assert str(caught.value) == expected


def test_fixture_folders_are_complete() -> None:
    # A .txt without its expectation would silently test nothing.
    for kind, suffix in (("valid", ".json"), ("invalid", ".err")):
        texts = sorted((FIXTURES / kind).glob("*.txt"))
        assert len(texts) >= 10
        assert all(path.with_suffix(suffix).exists() for path in texts)


# --- payload-level features ------------------------------------------------------


def test_class_prefix_becomes_class_name() -> None:
    payload = parse_payload(_read(FIXTURES / "valid" / "transaction_lock_class_prefix.txt"))
    assert payload.class_name == "Rr"
    assert payload.value["dirty"] == {}
    # The column-printed array: five lines, two items on most of them.
    assert payload.value["attributes"] == [
        "id", "sk", "userId", "dataType", "createdAt", "updatedAt", "ttl", "tk", "fk",
    ]
    assert payload.value["newEntity"] is False


def test_second_console_log_argument_is_trailing_text() -> None:
    payload = parse_payload(_read(FIXTURES / "valid" / "slack_notification_placeholders.txt"))
    assert payload.class_name is None
    assert payload.trailing == "arn:aws:sns:us-east-1:488923344249:calo-sns-dev-send-slack"
    assert payload.value["blocks"][1] == {"type": "section", "fields": Placeholder("[Array]")}


def test_payload_starts_at_pos_and_full_block_values() -> None:
    message = "Start syncing the balance " + _read(FIXTURES / "valid" / "full_schema_sync_block.txt")
    payload = parse_payload(message, message.index("{"))
    assert payload == Payload(None, payload.value, "")
    transaction = payload.value["transaction"]
    assert list(transaction) == [  # insertion order is the printed order
        "id", "type", "source", "action", "userId", "paymentBalance", "updatePaymentBalance",
        "metadata", "currency", "amount", "vat", "oldBalance", "newBalance",
    ]
    assert transaction["amount"] == Decimal("8") and transaction["updatePaymentBalance"] is True


def test_backtick_metadata_unescapes_to_valid_json() -> None:
    payload = parse_payload(_read(FIXTURES / "valid" / "backtick_metadata.txt"))
    metadata = payload.value["transaction"]["metadata"]
    assert '"addons":"[{\\"id\\":' in metadata  # `\\"` in the log is `\"` in the value
    assert "don't fire me" in metadata


def test_metadata_undefined() -> None:
    payload = parse_payload(_read(FIXTURES / "valid" / "metadata_undefined.txt"))
    assert payload.value["transaction"]["metadata"] is UNDEFINED


def test_float_noise_stays_exact() -> None:
    payload = parse_payload(_read(FIXTURES / "valid" / "float_noise_legacy.txt"))
    old = payload.value["transaction"]["oldBalance"]
    assert isinstance(old, Decimal) and str(old) == "225.90753636363627"
    assert parse_value("1.40000000000005")[0].as_tuple() == Decimal("1.40000000000005").as_tuple()


def test_json_lines_parse_as_well() -> None:
    # `Uncaught Exception \t{json}`: JSON is a subset of what util.inspect prints.
    payload = parse_payload(_read(FIXTURES / "valid" / "uncaught_exception_json.txt"))
    assert payload.value["code"] == "ERR_MODULE_NOT_FOUND"
    assert "\nDid you mean" in payload.value["errorMessage"]


@pytest.mark.parametrize(
    ("text", "class_name"),
    [
        ("{}", None),
        ("[]", None),
        ("  Foo {}", "Foo"),
        ("Foo(2) [ 1, 2 ]", "Foo(2)"),
        ("[Object: null prototype] { a: 1 }", "[Object: null prototype]"),
        ("<ref *1> { self: [Circular *1] }", None),
    ],
)
def test_payload_prefixes(text: str, class_name: str | None) -> None:
    assert parse_payload(text).class_name == class_name


# --- values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal("0")),
        ("-0", Decimal("-0")),
        ("8", Decimal("8")),
        ("-1.5", Decimal("-1.5")),
        ("1e+21", Decimal("1E+21")),
        ("1.5e-7", Decimal("1.5e-7")),
        ("123n", Decimal("123")),
        ("-18882687848426735616n", Decimal("-18882687848426735616")),
    ],
)
def test_numbers_are_decimals_from_the_literal(text: str, expected: Decimal) -> None:
    value, pos = parse_value(text)
    assert (value, pos) == (expected, len(text))
    assert value.as_tuple() == expected.as_tuple()  # same digits and exponent, not just equal


@pytest.mark.parametrize(
    ("text", "json_text"),
    [("NaN", '"NaN"'), ("Infinity", '"Infinity"'), ("-Infinity", '"-Infinity"')],
)
def test_non_finite_numbers(text: str, json_text: str) -> None:
    value, _ = parse_value(text)
    assert isinstance(value, Decimal) and not value.is_finite()
    assert to_json(value) == json_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("null", None), ("undefined", UNDEFINED)],
)
def test_keywords(text: str, expected: object) -> None:
    assert parse_value(text)[0] is expected


def test_undefined_is_a_falsy_singleton() -> None:
    assert not UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"
    assert type(UNDEFINED)() is UNDEFINED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"'a\\b'", "a\\b"),
        (r"'it\'s'", "it's"),
        ('"it\'s"', "it's"),
        (r"`'\"\``", "'\"`"),
        (r"'\n\t\r\b\f\v\0'", "\n\t\r\b\f\v\0"),
        (r"'\x0B\x7F\xe9'", "\x0b\x7f\xe9"),
        (r"'\u20ac\u{1F600}'", "\u20ac\U0001f600"),
        (r'"\ud83d\ude00"', "\U0001f600"),  # JSON-style surrogate pair
        ("'متاح'", "متاح"),
        ("''", ""),
    ],
)
def test_strings_and_escapes(text: str, expected: str) -> None:
    assert parse_value(text) == (expected, len(text))


def test_quoted_keys_and_one_line_objects() -> None:
    text = "{ 'a-b': 1, \"c\": [ 'x', \"y\" ], $d: {}, e: [] }"
    assert parse_value(text)[0] == {"a-b": Decimal(1), "c": ["x", "y"], "$d": {}, "e": []}


def test_placeholders() -> None:
    text = "[ [Object], [Array], [Function: f], [Getter/Setter], [Function: [Symbol.iterator]], <2 empty items> ]"
    assert parse_value(text)[0] == [
        Placeholder("[Object]"), Placeholder("[Array]"), Placeholder("[Function: f]"),
        Placeholder("[Getter/Setter]"), Placeholder("[Function: [Symbol.iterator]]"),
        Placeholder("<2 empty items>"),
    ]


def test_more_items_and_aligned_columns() -> None:
    text = "[\n    1, 22, 333,\n    4,  5,   6,\n    ... 100 more items\n  ]"
    value, _ = parse_value(text)
    assert value[:6] == [Decimal(n) for n in (1, 22, 333, 4, 5, 6)]
    assert value[6] == MoreItems(100)
    assert to_json(parse_value("[ 1, ... 1 more item ]")[0]) == '[1,"... 1 more item"]'


def test_circular_reference() -> None:
    value, _ = parse_value("<ref *1> { a: 1, self: [Circular *1] }")
    assert value == {"a": Decimal(1), "self": Placeholder("[Circular *1]")}


def test_nested_class_instance_and_date() -> None:
    value, _ = parse_value("{ lock: Rr { ttl: 1 }, at: 2024-04-25T12:17:23.150Z }")
    assert value == {"lock": {"ttl": Decimal(1)}, "at": datetime(2024, 4, 25, 12, 17, 23, 150000, tzinfo=timezone.utc)}
    assert to_json(value["at"]) == '"2024-04-25T12:17:23.150Z"'


def test_parse_value_returns_position_after_value() -> None:
    text = "  { a: 1 } tail"
    assert parse_value(text) == ({"a": Decimal(1)}, 10)
    with pytest.raises(InspectSyntaxError, match="unexpected word 'tail' at line 1, column 12"):
        parse_value(text, 10)  # leading blanks are skipped, then `tail` is no value


# --- errors and JSON output --------------------------------------------------------


def test_error_attributes() -> None:
    text = "{\n  amount 8\n}"
    with pytest.raises(InspectSyntaxError) as caught:
        parse_payload(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.pos, error.line, error.col) == (11, 2, 10)
    assert text[error.pos] == "8"
    assert error.msg == "expected ':' after key 'amount'"
    assert str(error) == "expected ':' after key 'amount' at line 2, column 10"


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(InspectSyntaxError, match="nesting too deep"):
        parse_value("[ " * 100_000)


def test_to_json() -> None:
    value = {
        "n": [Decimal("1.40000000000005"), Decimal("8"), Decimal("-660"), Decimal("1E+21")],
        "s": 'é "q" \\ \n',
        "u": UNDEFINED,
        "z": None,
        "b": [True, False],
        "p": Placeholder("[Object]"),
        "m": MoreItems(3),
    }
    assert to_json(value) == (
        '{"n":[1.40000000000005,8,-660,1E+21],"s":"é \\"q\\" \\\\ \\n","u":null,"z":null,'
        '"b":[true,false],"p":"[Object]","m":"... 3 more items"}'
    )
    with pytest.raises(TypeError):
        to_json(1.5)  # a float here means someone bypassed the parser


# --- the real export (the corpus_dir fixture: skipped when it is not beside the checkout) ----------

EVENT_START = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", re.MULTILINE)
# Test-only heuristic for where a payload starts: the first `{`, or a
# capitalised word right before it (`… created!!! Rr {`). Message texts put a
# lower-case word there (`the balance {`); the real classifier knows the texts.
PAYLOAD_START = re.compile(r"(?:(?<= )[A-Z][\w$]* )?\{")


def _corpus_messages(root: Path):
    """Shape-A messages (after `ts requestId LEVEL`) of every event in the corpus."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("._") or path.name == ".DS_Store":
            continue
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
        starts = [match.start() for match in EVENT_START.finditer(text)] + [len(text)]
        for begin, end in zip(starts, starts[1:]):
            fields = text[begin:end].removesuffix("\n\n").split("\t", 3)
            if len(fields) == 4:
                yield fields[3]


def test_every_corpus_payload_parses(corpus_dir) -> None:
    parsed = 0
    for message in _corpus_messages(corpus_dir):
        start = PAYLOAD_START.search(message)
        if start is None:
            continue
        payload = parse_payload(message, start.start())  # raises on any failure
        assert isinstance(payload.value, dict)
        assert payload.trailing == "" or payload.trailing.startswith("arn:aws:sns:")
        parsed += 1
    assert parsed > 20_000  # ~21,000 in the 2023-12 to 2024-05 sample


def test_the_fast_serialiser_writes_what_to_json_writes() -> None:
    """Ingestion stores to_json_fast's text; it must be to_json's, also for the rare non-finite numbers."""
    value = {"n": [Decimal("1.40000000000005"), Decimal("NaN"), Decimal("-Infinity"), Decimal("1E+21")],
             "s": 'é "q" \\ \n\u2028', "u": UNDEFINED, "p": Placeholder("[Object]"),
             "m": [MoreItems(1), MoreItems(3)]}
    assert to_json_fast(value) == to_json(value)
    finite = {k: v for k, v in value.items() if k != "n"}
    assert to_json_fast(finite) == to_json(finite)
    for path in sorted((FIXTURES / "valid").glob("*.txt")):
        parsed = parse_payload(_read(path)).value
        assert to_json_fast(parsed) == to_json(parsed), path.name


def test_sync_layouts_read_corpus_blocks_as_parse_object_does(corpus_dir) -> None:
    from ingest.classify import SYNC_LAYOUTS
    from ingest.inspect_parser import parse_object

    read = 0
    for message in _corpus_messages(corpus_dir):
        if not message.startswith("Start syncing the balance {"):
            continue
        start = message.index("{")
        fast = next((r for r in (layout.read(message, start) for layout in SYNC_LAYOUTS) if r is not None), None)
        if fast is not None:
            assert repr(fast) == repr(parse_object(message, start))
            read += 1
    assert read > 10_000  # most of the ~16,300 blocks; backtick metadata takes parse_object
