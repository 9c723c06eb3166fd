"""Classify one raw event: line shape, kind, level, request id and payload.

Kinds are the public vocabulary of `parsed_logs.kind` (vocabulary.EVENT_KINDS). A message
that matches no known text is kind `unknown` and keeps its raw text; a known
message whose payload cannot be read is *quarantined* with the reason.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal

from ingest.inspect_parser import InspectSyntaxError, Layout, parse_payload

# message prefix (after '<LEVEL>\t') -> (kind, detail, has_inspect_payload)
APP_MESSAGES: tuple[tuple[str, str, str | None, bool], ...] = (
    ("Processing message", "processing", None, False),
    ("Start syncing the balance", "sync", None, True),
    ("SubscriptionBalanceUpdated event published", "event_published", None, False),
    ("Subscription balance and payment balance are not in sync", "not_in_sync", None, True),
    ("Skipping the balance sync for create subscription", "skip_create_subscription", None, False),
    ("Skipping the balance sync for create web subscription", "skip_create_web_subscription", None, False),
    ("Skipping the process, balance is already synced", "skip_already_synced", "skipping_the_process", False),
    ("Balance is already synced from other listeners", "skip_already_synced", "balance_is_already", False),
    ("Skipping the process, Update Payment Balance Flag is set to false", "skip_flag_false", None, True),
    ("Transaction Lock created", "transaction_lock", None, True),
    ("An error occured while syncing the balance", "sync_error", None, False),
    ("Sending slack notification", "slack_notification", None, True),
    ("record.body", "debug_record_body", None, False),
    ("record", "debug_record", None, True),
    ("transaction", "debug_transaction", None, False),
)
JSON_AFTER_TAB = {"Uncaught Exception": "uncaught_exception", "Invoke Error": "invoke_error"}
JSON_AFTER_SPACE = {"debug_record_body", "debug_transaction"}
NEGATIVE_GUARD_TEXT = "Subscriber will have a negative balance"
PLATFORM = {"START": "start", "END": "end", "REPORT": "report", "INIT_START": "init_start",
            "INIT_REPORT": "init_report"}
LEVELS = frozenset({"INFO", "ERROR", "WARN", "DEBUG", "TRACE", "FATAL"})
# One match per application line: '<requestId>\t<LEVEL>\t' after the inner timestamp, then which message
# prefix of APP_MESSAGES starts the text, tried in order. `(?![\w.])` is the word boundary the prefix must end
# at ('record' must not swallow 'record.body'): \w is str.isalnum() plus '_'. Group 3 + i is APP_MESSAGES[i].
_match_app_line = re.compile(
    r"([^\t]*)\t(" + "|".join(sorted(LEVELS)) + r")\t(?:"
    + "|".join(rf"({re.escape(prefix)})(?![\w.])" for prefix, _, _, _ in APP_MESSAGES) + ")?").match
# Platform lines whose fields are plain printable ASCII (no quote, no backslash) have a payload JSON that is
# just the fields between double quotes: no encoder needed for the ~30% of events that are START/END/REPORT.
_is_plain_ascii = re.compile(r'[\t\n -!#-\[\]-~]*').fullmatch
# The two commonest platform lines whole, with what platform_fields reads from them.
_match_start_line = re.compile(r"START RequestId: ([0-9a-f-]+) Version: ([0-9A-Za-z$._-]+)").fullmatch
_match_end_line = re.compile(r"END RequestId: ([0-9a-f-]+)").fullmatch
# And REPORT (+ XRAY line): values of printable ASCII without quote or backslash, no blank at either end
# (what platform_fields' strip() leaves), so the payload JSON needs no escaping either.
_REPORT_VALUE = r"([!#-\[\]-~](?:[ !#-\[\]-~]*[!#-\[\]-~])?)"
_REPORT_KEYS = ("RequestId", "Duration", "Billed Duration", "Memory Size", "Max Memory Used")
_XRAY_KEYS = ("TraceId", "SegmentId", "Sampled")
_match_report_line = re.compile(
    "REPORT " + "".join(f"{key}: {_REPORT_VALUE}\t" for key in _REPORT_KEYS)
    + f"(?:Init Duration: {_REPORT_VALUE}\t)?"
    + "(?:\nXRAY " + "".join(f"{key}: {_REPORT_VALUE}\t" for key in _XRAY_KEYS) + ")?").fullmatch
# The sync block as the Lambda prints it, full and legacy schema (ingest.transactions.FULL_FIELDS and
# LEGACY_FIELDS): parse_payload reads these with one regex, and any other block as before.
SYNC_LAYOUTS = (
    Layout(("id", "type", "source", "action", "userId", "paymentBalance", "updatePaymentBalance", "metadata",
            "currency", "amount", "vat", "oldBalance", "newBalance"), wrapper="transaction"),
    Layout(("id", "userId", "currency", "amount", "vat", "oldBalance", "newBalance"), wrapper="transaction"),
)
NOT_IN_SYNC_LAYOUTS = (Layout(("userId", "subscriptionBalance", "paymentBalance")),)
LAYOUTS = {"sync": SYNC_LAYOUTS, "not_in_sync": NOT_IN_SYNC_LAYOUTS}


class Event:
    """One log event on its way to the database. Correlation fills in the ids."""
    __slots__ = ("index", "line_no", "ts", "body", "stream", "kind", "detail", "level", "request_id",
                 "message_id", "transaction_id", "user_id", "payload", "status", "reason",
                 "event_id", "ts_ms", "business_date", "payload_json")

    def __init__(self, index: int, line_no: int, ts: str | None, body: str, stream: str | None = None):
        self.index, self.line_no, self.ts, self.body, self.stream = index, line_no, ts, body, stream
        self.kind, self.detail, self.level, self.request_id = "unknown", None, None, None
        self.message_id = self.transaction_id = self.user_id = None
        self.payload, self.status, self.reason = None, "ok", None
        self.payload_json = None  # the payload's JSON when classify could write it cheaply, else None

    def quarantine(self, reason: str) -> None:
        self.status, self.reason = "quarantined", reason


def classify(ev: Event) -> Event:
    body = ev.body
    if ev.ts is None:
        ev.quarantine("text before the first event timestamp; expected 'YYYY-MM-DDThh:mm:ss.mmmZ <message>'")
        return ev
    first_tab = body.find("\t")
    if first_tab == 24 and body[23] == "Z":
        _classify_app(ev, body)
    elif body[:1] == "{":
        _classify_metric(ev, body)
    else:
        _classify_platform(ev, body)
    return ev


def _classify_app(ev: Event, body: str) -> None:
    # body[:25] is '<innerTs>\t' (classify checked); split on the first three tabs only
    match = _match_app_line(body, 25)
    if match is None:  # fewer than three tabs, or no known level in the third field
        ev.status = "unknown"
        return
    request_id, ev.level = match[1], match[2]
    ev.request_id = None if request_id == "undefined" else request_id
    message = body[match.end(2) + 1:]
    if match.lastindex > 2:  # a prefix of APP_MESSAGES
        prefix, kind, detail, has_payload = APP_MESSAGES[match.lastindex - 3]
        ev.kind, ev.detail = kind, detail
        _payload_of(ev, message, len(prefix), kind, has_payload)
        return
    for prefix, kind in JSON_AFTER_TAB.items():
        if message.startswith(prefix):
            ev.kind = kind
            _json_payload(ev, message[message.find("{"):] if "{" in message else "")
            if isinstance(ev.payload, dict):
                ev.detail = str(ev.payload.get("errorType") or "") or None
            return
    if message.startswith("{"):
        _classify_bare_object(ev, message)
        return
    ev.kind, ev.status = "unknown", "unknown"


def _classify_bare_object(ev: Event, message: str) -> None:
    """`INFO\t{ message: 'Subscriber will have a negative balance…', data: {…} }` is the only known one."""
    is_guard = NEGATIVE_GUARD_TEXT in message
    try:
        value = parse_payload(message).value
    except InspectSyntaxError as exc:
        if is_guard:
            ev.kind = "negative_balance_guard"
            ev.quarantine(f"unreadable object: {exc}")
        else:
            ev.status = "unknown"
        return
    if is_guard and isinstance(value, dict):
        ev.kind, ev.payload = "negative_balance_guard", value
        data = value.get("data")
        if isinstance(data, dict) and data.get("userId") is not None:
            ev.user_id = str(data["userId"])
    else:
        ev.status = "unknown"


def _payload_of(ev: Event, message: str, after: int, kind: str, has_payload: bool) -> None:
    if kind == "processing":
        ev.message_id = message[after:].strip() or None
        return
    if kind in JSON_AFTER_SPACE:
        _json_payload(ev, message[after:].strip())
        return
    if kind == "sync_error":
        # 'An error occured while syncing the balance TypeError: …' -> detail 'TypeError'
        rest = message[after:].lstrip().split("\n", 1)[0]
        ev.detail = rest.split(":", 1)[0].strip() or None if rest else None
        ev.payload = {"error": message[after:].strip()}
        return
    if not has_payload:
        return
    brace = message.find("{", after)
    if brace < 0:
        if kind in ("sync", "not_in_sync", "transaction_lock", "skip_flag_false"):
            ev.quarantine(f"'{message[:after]}' without the object that always follows it")
        return
    # A minified class name may stand before the brace ('Transaction Lock created!!! Rr {').
    head = message[after:brace].rstrip()
    word = head.rsplit(" ", 1)[-1] if head else ""
    start = after + len(head) - len(word) if word.isidentifier() else brace
    try:
        parsed = parse_payload(message, start, LAYOUTS.get(kind, ()))
    except InspectSyntaxError as exc:
        ev.quarantine(f"unreadable object: {exc}")
        return
    ev.payload = parsed.value
    if parsed.class_name or parsed.trailing:
        ev.payload = {"class": parsed.class_name, "value": parsed.value, "trailing": parsed.trailing or None}
    if kind == "skip_flag_false" and isinstance(parsed.value, dict):
        ev.detail = str(parsed.value.get("transactionAction") or "") or None


def _json_payload(ev: Event, text: str) -> None:
    try:
        ev.payload = json.loads(text, parse_float=Decimal, parse_int=Decimal)  # exact, never float
    except (json.JSONDecodeError, ValueError) as exc:
        ev.quarantine(f"unreadable JSON: {exc}")


def _classify_metric(ev: Event, body: str) -> None:
    if not body.startswith('{"_aws"'):
        ev.status = "unknown"
        return
    ev.kind = "metric"
    _json_payload(ev, body)
    payload = ev.payload
    if isinstance(payload, dict):
        try:
            ev.detail = payload["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        except (KeyError, IndexError, TypeError):
            ev.detail = None
        user = payload.get("userId")
        ev.user_id = str(user) if user is not None else None


def _classify_platform(ev: Event, body: str) -> None:
    end = _match_end_line(body)
    if end is not None:
        ev.kind, ev.request_id = "end", end[1]
        ev.payload, ev.payload_json = {"RequestId": end[1]}, f'{{"RequestId":"{end[1]}"}}'
        return
    start = _match_start_line(body)
    if start is not None:
        ev.kind, ev.request_id = "start", start[1]
        ev.payload = {"RequestId": start[1], "Version": start[2]}
        ev.payload_json = f'{{"RequestId":"{start[1]}","Version":"{start[2]}"}}'
        return
    report = _match_report_line(body)
    if report is not None:
        values = report.groups()
        fields = dict(zip(_REPORT_KEYS, values[:5]))
        if values[5] is not None:
            fields["Init Duration"] = values[5]
        if values[6] is not None:
            fields.update(zip(_XRAY_KEYS, values[6:]))
        ev.kind, ev.request_id, ev.payload = "report", values[0], fields
        ev.payload_json = "{" + ",".join([f'"{key}":"{value}"' for key, value in fields.items()]) + "}"
        return
    space = body.find(" ")
    kind = PLATFORM.get(body if space < 0 else body[:space])
    if kind is None:
        if body.startswith("Unknown application error occurred"):
            ev.kind, ev.level, ev.detail = "runtime_error", "ERROR", body.split("\n")[-1].strip() or None
        else:
            ev.status = "unknown"
        return
    ev.kind = kind
    fields = platform_fields(body)
    ev.payload = fields
    if _is_plain_ascii(body):  # then no key or value needs escaping: the JSON to_json_fast would write
        ev.payload_json = "{" + ",".join([f'"{key}":"{value}"' for key, value in fields.items()]) + "}"
    ev.request_id = fields.get("RequestId")
    if kind == "init_start":
        ev.detail = fields.get("Runtime Version")
    elif kind == "init_report":
        ev.level = "ERROR" if fields.get("Status") == "error" else None
        ev.detail = fields.get("Error Type") or fields.get("Status")


def platform_fields(body: str) -> dict[str, str]:
    """'REPORT RequestId: x\tDuration: 1.2 ms\t…\nXRAY TraceId: …' -> {'RequestId': 'x', 'Duration': '1.2 ms', …}."""
    fields: dict[str, str] = {}
    for line_no, line in enumerate(body.split("\n")):
        head, _, rest = line.partition(" ")
        if line_no == 0:
            line = rest
        elif head == "XRAY":
            line = rest
        if head == "START":  # 'START RequestId: <id> Version: $LATEST' separates with a space, not a TAB
            line = line.replace(" Version: ", "\tVersion: ")
        for part in line.split("\t"):
            key, sep, value = part.partition(": ")
            if sep:
                fields[key.strip()] = value.strip()
    return fields
