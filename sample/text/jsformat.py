"""Values as Node prints them: numbers, quoted strings, compact JSON and ISO timestamps."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal

MS_PER_DAY = 86_400_000

# util.inspect escapes these control characters by name; others become \xNN.
_NAMED_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def js_number(value: float | int | Decimal) -> str:
    """Format a number like JavaScript's Number#toString (what util.inspect prints).

    Python's repr is also the shortest round-trip form; only the switch to exponent
    notation differs (JS: below 1e-6 or from 1e21; Python: below 1e-4 or from 1e16).
    """
    x = float(value)
    if x == 0:
        return "0"  # also turns -0 into 0: balances never print as -0
    text = repr(x)
    if x.is_integer() and abs(x) < 1e21:
        # Beyond 2**53 JS prints the shortest digits padded with zeros, not the exact binary value.
        return str(int(x)) if abs(x) < 2 ** 53 else format(Decimal(text), "f")
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if 1e-6 <= abs(x) < 1e21:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if int(exponent) > 0 else '-'}{abs(int(exponent))}"


def inspect_string(text: str) -> str:
    """Quote a string like util.inspect: '…' by default, "…" if it holds ', `…` if it holds both."""
    if "'" not in text:
        quote = "'"
    elif '"' not in text:
        quote = '"'
    elif "`" not in text and "${" not in text:
        quote = "`"
    else:
        quote = "'"
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if quote == "'" and "'" in text:
        text = text.replace("'", "\\'")   # only when all three quote kinds occur
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: _NAMED_ESCAPES.get(m.group()) or f"\\x{ord(m.group()):02X}", text)
    return quote + text + quote


def compact_json(value) -> str:
    """JSON.stringify without spacing; non-ASCII kept as is, integral floats without `.0` (as Node does)."""
    return json.dumps(_jsify(value), separators=(",", ":"), ensure_ascii=False)


def _jsify(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _jsify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsify(v) for v in value]
    return value


_DAY_PREFIX: dict[int, str] = {}


def iso_ms(epoch_ms: int) -> str:
    """`YYYY-MM-DDThh:mm:ss.mmmZ` for epoch milliseconds (hot path: the date part is cached)."""
    day, rest = divmod(epoch_ms, MS_PER_DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, tz=timezone.utc).strftime("%Y-%m-%d")
        _DAY_PREFIX[day] = prefix
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{prefix}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"
