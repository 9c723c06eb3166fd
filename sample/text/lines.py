"""Byte-exact text of every log line the sample generator writes (docs: shared/docs/log-format.md).

Each `*_body` function returns the text after `<LEVEL>\\t` of a shape-A line;
`app_event` and `raw_event` wrap a body or a platform line into a whole event,
including the empty line that follows every event in an export.
"""
from __future__ import annotations

import json
import math

from sample.text.jsformat import inspect_string, iso_ms, js_number

# --- constants -------------------------------------------------------------------

SKIP_CREATE = ("Skipping the balance sync for create subscription, "
               "it will be synced from create subscription payment listener")
SKIP_WEB = ("Skipping the balance sync for create web subscription, "
            "it will be synced from create web subscription payment listener")
SKIP_ALREADY = "Skipping the process, balance is already synced from other listeners"
ALREADY_SYNCED = "Balance is already synced from other listeners"  # the rarer second wording
SKIP_FLAG = "Skipping the process, Update Payment Balance Flag is set to false"
PUBLISHED = "SubscriptionBalanceUpdated event published"
NOT_IN_SYNC = "Subscription balance and payment balance are not in sync"
GUARD_TEXT = "Subscriber will have a negative balance due to this action, the process will terminate."
LOCK_TEXT = "Transaction Lock created" + "!" * 27
SYNC_ERROR = ("An error occured while syncing the balance TypeError: "
              "Cannot read properties of null (reading 'getBalance')")
LOCK_TTL_S = 21 * 86_400  # the lock items expire three weeks after creation
LOCK_ATTRIBUTES = ("id", "sk", "userId", "dataType", "createdAt", "updatedAt", "ttl", "tk", "fk")

INVOKE_ERROR_JSON = json.dumps({
    "errorType": "TypeError", "errorMessage": "e is not iterable",
    "stack": ["TypeError: e is not iterable",
              "    at lambdaHandler (/src/syncBalance/listener.ts:24:24)",
              "    at mA (/node_modules/@middy/core/index.js:166:9)",
              "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"]},
    separators=(",", ":"))


# --- event wrappers (each event is followed by an empty line) -------------------------

def app_event(epoch_ms: int, request_id: str, level: str, body: str) -> str:
    """Shape A: `<ts> <ts>\\t<requestId>\\t<LEVEL>\\t<body>` (the two timestamps are always equal)."""
    ts = iso_ms(epoch_ms)
    return f"{ts} {ts}\t{request_id}\t{level}\t{body}\n\n"


def raw_event(epoch_ms: int, text: str) -> str:
    """Shape B and C: `<ts> <text>`."""
    return f"{iso_ms(epoch_ms)} {text}\n\n"


# --- platform lines ---------------------------------------------------------------------

def init_start_text(runtime: str, arn_hash: str) -> str:
    return (f"INIT_START Runtime Version: {runtime}\t"
            f"Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:{arn_hash}")


def start_text(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST"


def end_text(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_text(request_id: str, duration_ms: float, memory_mb: int, used_mb: int,
                init_ms: float | None, xray: tuple[str, str] | None) -> str:
    """REPORT, TAB-separated and ending with a TAB; optional Init Duration and XRAY line."""
    billed = math.ceil(round(duration_ms, 2))
    text = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {memory_mb} MB\tMax Memory Used: {used_mb} MB\t")
    if init_ms is not None:
        text += f"Init Duration: {init_ms:.2f} ms\t"
    if xray is not None:
        trace_id, segment_id = xray
        text += f"\nXRAY TraceId: {trace_id}\tSegmentId: {segment_id}\tSampled: true\t"
    return text


# --- application messages -----------------------------------------------------------

def processing_body(message_id: str) -> str:
    return f"Processing message {message_id}"


def sync_full_body(tx_id: str, kind: str, source: str, action: str, user_id: str, payment_balance: float,
                   metadata: str | None, currency: str, amount: str, vat: str,
                   old_balance: float, new_balance: float) -> str:
    """`Start syncing the balance {…}` with the 13-field schema; metadata None prints bare `undefined`."""
    meta = "undefined" if metadata is None else inspect_string(metadata)
    return ("Start syncing the balance {\n"
            "  transaction: {\n"
            f"    id: '{tx_id}',\n"
            f"    type: '{kind}',\n"
            f"    source: '{source}',\n"
            f"    action: '{action}',\n"
            f"    userId: '{user_id}',\n"
            f"    paymentBalance: {js_number(payment_balance)},\n"
            "    updatePaymentBalance: true,\n"
            f"    metadata: {meta},\n"
            f"    currency: '{currency}',\n"
            f"    amount: {amount},\n"
            f"    vat: {vat},\n"
            f"    oldBalance: {js_number(old_balance)},\n"
            f"    newBalance: {js_number(new_balance)}\n"
            "  }\n"
            "}")


def sync_legacy_body(tx_id: str, user_id: str, currency: str, amount: str, vat: str,
                     old_balance: float, new_balance: float) -> str:
    """`Start syncing the balance {…}` with the 7-field legacy schema (no type, source, action…)."""
    return ("Start syncing the balance {\n"
            "  transaction: {\n"
            f"    id: '{tx_id}',\n"
            f"    userId: '{user_id}',\n"
            f"    currency: '{currency}',\n"
            f"    amount: {amount},\n"
            f"    vat: {vat},\n"
            f"    oldBalance: {js_number(old_balance)},\n"
            f"    newBalance: {js_number(new_balance)}\n"
            "  }\n"
            "}")


def not_in_sync_body(user_id: str, subscription_balance: float, payment_balance: float) -> str:
    # Always one property per line: the one-line form would exceed util.inspect's 80 columns.
    return (f"{NOT_IN_SYNC} {{\n"
            f"  userId: '{user_id}',\n"
            f"  subscriptionBalance: {js_number(subscription_balance)},\n"
            f"  paymentBalance: {js_number(payment_balance)}\n"
            "}")


def skip_flag_body(action: str) -> str:
    return f"{SKIP_FLAG} {{ transactionAction: '{action}' }}"


def guard_body(user_id: str, tx_id: str, current_balance: float, new_balance: float | None) -> str:
    """Negative-balance guard: the message starts with the object itself.

    Without a preceding sync block the data object is (userId, currentBalance,
    transactionId); after a sync block it is (transactionId, userId, currentBalance,
    newBalance), as in the two generations of the function.
    """
    if new_balance is None:
        data = (f"    userId: '{user_id}',\n"
                f"    currentBalance: {js_number(current_balance)},\n"
                f"    transactionId: '{tx_id}'\n")
    else:
        data = (f"    transactionId: '{tx_id}',\n"
                f"    userId: '{user_id}',\n"
                f"    currentBalance: {js_number(current_balance)},\n"
                f"    newBalance: {js_number(new_balance)}\n")
    return f"{{\n  message: '{GUARD_TEXT}',\n  data: {{\n{data}  }}\n}}"


def lock_body(user_id: str, tx_id: str, created_ms: int) -> str:
    """`Transaction Lock created!!!… Rr {…}`: class prefix, `{}`, and a column-aligned array."""
    created = iso_ms(created_ms)
    fields = (f"id: 'trxLock#{user_id}',\n", f"sk: '{tx_id}',\n", f"userId: '{user_id}',\n",
              "dataType: 'trxLock',\n", f"createdAt: '{created}',\n", f"updatedAt: '{created}',\n",
              f"ttl: {created_ms // 1000 + LOCK_TTL_S},\n", f"tk: '{created}',\n", f"fk: '{created}'")
    original = "".join("    " + f for f in fields)
    own = "".join("  " + f for f in fields)
    return (f"{LOCK_TEXT} Rr {{\n"
            "  dirty: {},\n"
            "  original: {\n"
            f"{original}\n"
            "  },\n"
            "  attributes: [\n"
            f"{_aligned_columns(LOCK_ATTRIBUTES)}\n"
            "  ],\n"
            f"{own},\n"
            "  newEntity: false\n"
            "}")


def _aligned_columns(items: tuple[str, ...]) -> str:
    """util.inspect's grouping of short array items: two per line, padded to the widest item."""
    quoted = [f"'{item}'," for item in items[:-1]] + [f"'{items[-1]}'"]
    width = max(len(q) for q in quoted)
    lines = []
    for i in range(0, len(quoted), 2):
        pair = quoted[i:i + 2]
        first = pair[0].ljust(width) if len(pair) == 2 else pair[0]
        lines.append("    " + " ".join([first] + pair[1:]))
    return "\n".join(lines)


def sync_error_body(names: tuple[str, str, str]) -> str:
    """`An error occured while syncing the balance` with its stack; minified names vary per build."""
    use_case, listener, middy = names
    return (f"{SYNC_ERROR}\n"
            f"    at {use_case}.exec (/src/syncBalance/useCase.ts:55:37)\n"
            "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
            f"    at {listener} (/src/syncBalance/listener.ts:30:7)\n"
            f"    at {middy} (/node_modules/@middy/core/index.js:192:26)")


def invoke_error_body() -> str:
    # The runtime separates the label from the JSON with a space and a TAB.
    return f"Invoke Error \t{INVOKE_ERROR_JSON}"


def emf_text(metric: str, timestamp_ms: int, user_id: str | None = None, action: str | None = None) -> str:
    """A shape-C EMF metric line, key order as the function writes it."""
    text = ('{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"apiService","Dimensions":[["service"]],'
            '"Metrics":[{"Name":"%s","Unit":"Count"}]}]},"service":"syncBalanceSQS","%s":1'
            % (timestamp_ms, metric, metric))
    if user_id is not None:
        text += f',"userId":"{user_id}","action":"{action}"'
    return text + "}"
