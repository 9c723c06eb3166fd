"""The URL is the state: which tab (the path) and every filter (the query string).

`/reconciliation?from=2024-01-01&to=2024-01-31&cur=BHD&user=df06&kind=sync&status=open`

Global parameters (every tab): `from`, `to` (business dates), `cur` (one
currency; absent = every currency side by side), `user` (part of a user id).
Each tab adds its own (`by`, `uid`, `reason`, `kind`, `status`, `detector`,
`severity`). Values are read as untrusted text: `filters()` validates them and
query functions check tab parameters against their allowed values.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode

from queries import Filters

GLOBAL_PARAMS = ("from", "to", "cur", "user")
MAX_PARAMS = 20
MAX_VALUE = 200
LEDGER_PREFIX = "/ledger/"


def parse(search: str | None) -> dict[str, str]:
    """`?a=1&b=2` -> {"a": "1", "b": "2"} (first value wins, sizes bounded, blanks dropped)."""
    out: dict[str, str] = {}
    for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=False)[:MAX_PARAMS]:
        if key not in out and value.strip():
            out[key] = value.strip()[:MAX_VALUE]
    return out


def encode(params: dict) -> str:
    """The query string for params, globals first, empty values left out ('' when nothing is set)."""
    keys = [k for k in GLOBAL_PARAMS if k in params] + sorted(k for k in params if k not in GLOBAL_PARAMS)
    pairs = [(k, str(params[k])) for k in keys if params[k] not in (None, "", [])]
    return "?" + urlencode(pairs) if pairs else ""


def filters(search_or_params) -> Filters:
    params = parse(search_or_params) if not isinstance(search_or_params, dict) else search_or_params
    return Filters.clean(params.get("from"), params.get("to"), params.get("cur"), params.get("user"))


def global_search(search: str | None) -> str:
    """Only the global filters of a query string (what tab links carry along)."""
    params = parse(search)
    return encode({k: v for k, v in params.items() if k in GLOBAL_PARAMS})


def ledger_path(user_id: str) -> str:
    return LEDGER_PREFIX + quote(user_id, safe="")


def ledger_user(pathname: str | None) -> str | None:
    if pathname and pathname.startswith(LEDGER_PREFIX):
        user = unquote(pathname[len(LEDGER_PREFIX):]).strip()
        return user[:MAX_VALUE] or None
    return None
