"""The URL is the state: which tab (the path) and every filter (the query string).

`/reconciliation?from=2024-01-01&to=2024-01-31&cur=BHD&user=df06&kind=sync&status=open`

Global parameters (every tab): `from`, `to` (business dates), `cur` (one
currency; absent = every currency side by side), `user` (part of a user id).
Each tab adds its own (`by`, `uid`, `reason`, `kind`, `status`, `detector`,
`severity`), each grid its sort and column filters (`issues.sort=…`, see
app/grid.py), and a ledger the page it was opened from (`back`). Values are
read as untrusted text: `filters()` validates them and query functions check
tab parameters against their allowed values.
"""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from queries import Filters

GLOBAL_PARAMS = ("from", "to", "cur", "user")
MAX_PARAMS = 30
MAX_VALUE = 200
BACK = "back"  # a ledger's origin: path and query string of the page it was opened from
MAX_BACK = 2000
LEDGER_PREFIX = "/ledger/"
LEDGER_GRID = "ledger"  # URL key of the ledger's transactions grid (app/grid.py)
ISSUES_GRID = "issues"  # URL key of the Reconciliation tab's issues grid
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse(search: str | None) -> dict[str, str]:
    """`?a=1&b=2` -> {"a": "1", "b": "2"} (first value wins, sizes bounded, blanks dropped)."""
    out: dict[str, str] = {}
    for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=False)[:MAX_PARAMS]:
        if key not in out and value.strip():
            out[key] = value.strip()[:MAX_BACK if key == BACK else MAX_VALUE]
    return out


def encode(params: dict) -> str:
    """The query string for params, globals first, empty values left out ('' when nothing is set). Colons and
    commas stay readable (`issues.sort=-amount_at_stake,user_id`, `issues.user_id=contains:df06`)."""
    keys = [k for k in GLOBAL_PARAMS if k in params] + sorted(k for k in params if k not in GLOBAL_PARAMS)
    pairs = [(k, str(params[k])) for k in keys if params[k] not in (None, "", [])]
    return "?" + urlencode(pairs, safe=":,") if pairs else ""


def date_text(value) -> str | None:
    """A date typed into a field: '' or None (no bound), the date as YYYY-MM-DD, or None when it is not one.
    Strict: exactly YYYY-MM-DD and a real day (2024-02-30 and 20245-01-01 are refused)."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or not DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def date_problem(value) -> str | None:
    """One line saying why a typed date is not used, or None when it is a date (or empty)."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or date_text(text):
        return None
    shown = text if len(text) <= 24 else text[:24] + "…"
    return f"“{shown}” is not a date: type YYYY-MM-DD"


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


def ledger_href(user_id: str, origin: str | None = None, *, transaction: str | None = None,
                keep_filters: bool = True) -> str:
    """The ledger of a user, opened from `origin` (path and query string; its back link returns there): with the
    origin's global filters, or filtered to one transaction (then without date or currency filters, which could
    hide it)."""
    params = {}
    origin_path, _, origin_search = (origin or "").partition("?")
    if keep_filters:
        params.update({k: v for k, v in parse(origin_search).items() if k in GLOBAL_PARAMS})
    if transaction:
        params[f"{LEDGER_GRID}.transaction_id"] = f"equals:{transaction}"
    if origin_path and not origin_path.startswith(LEDGER_PREFIX):
        params[BACK] = origin[:MAX_BACK]
    return ledger_path(user_id) + encode(params)


def back_target(params: dict) -> str | None:
    """The page a ledger returns to: `back` when it is a local page of this app (never another site)."""
    value = params.get(BACK) or ""
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc:
        return None
    return value


def issue_href(discrepancy_id: str) -> str:
    """The Reconciliation tab showing one issue (whatever the dates: an id is absolute)."""
    return "/reconciliation" + encode({f"{ISSUES_GRID}.discrepancy_id": f"equals:{discrepancy_id}"})


def issue_mentions(text: str) -> list[tuple[str, str | None]]:
    """'out_of_sync:01H… (open); calculation:01J… (resolved here)' -> [(part, its discrepancy id), …]."""
    out = []
    for part in (p.strip() for p in (text or "").split(";")):
        if part:
            ident = part.split(" (", 1)[0].strip()
            out.append((part, ident if ":" in ident else None))
    return out
