"""Every column a report shows: its kind (how a cell is written), width and a plain-words meaning.

The workbook's README sheet, docs/reports.md and the CSV headers all come
from this one list, so a column is explained wherever it appears. Ledger
column presets (`accounting`, `full`, or a JSON file) are checked against it.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from errors import UsageError

# kinds: text | money (in the row's currency) | date (business date) | datetime (UTC) | bool | int | float


@dataclasses.dataclass(frozen=True)
class Col:
    name: str
    kind: str
    meaning: str
    width: float = 14



_COLS = [
    # identity and time
    Col("business_date", "date", "Day of the event in the business time zone (BUSINESS_TZ), as a date.", 12),
    Col("ts", "datetime", "When the Lambda logged the event, UTC, to the millisecond.", 23),
    Col("transaction_id", "text", "The transaction's unique id (a ULID; roughly time-ordered).", 29),
    Col("user_id", "text", "The subscriber (or a pseudonym with --pseudonymise).", 38),
    Col("currency", "text", "ISO 4217 currency code. Amounts are never added across currencies.", 9),
    Col("type", "text", "DEBIT takes money from the balance, CREDIT adds it.", 9),
    Col("type_inferred", "bool", "TRUE when the log had no type (legacy schema) and it was inferred from the "
        "direction in which the balance moved.", 9),
    Col("schema", "text", "Which block format the Lambda printed: full (13 fields) or legacy (7 fields).", 8),
    Col("source", "text", "What caused the transaction (PAYMENT, MANUAL_DEDUCTION, REFUND, …); empty in the "
        "legacy format.", 19),
    Col("action", "text", "The action named in the log, when there was one.", 16),
    # the transaction's money
    Col("amount", "money", "Gross amount, VAT included, as logged. Can be negative.", 14),
    Col("vat", "money", "VAT included in the amount.", 12),
    Col("old_balance", "money", "Subscription balance before the transaction, as logged.", 14),
    Col("new_balance", "money", "Subscription balance after the transaction, as logged.", 14),
    Col("payment_balance", "money", "The payment wallet's balance, as logged (usually equal to new_balance).", 14),
    Col("net_change", "money", "What the balance should move by: amount minus VAT, negative for a debit.", 14),
    Col("expected_new_balance", "money", "old_balance plus net_change: what new_balance should be.", 14),
    Col("calc_difference", "money", "new_balance minus expected_new_balance (0 when the arithmetic holds).", 14),
    Col("is_calc_mismatch", "bool", "TRUE when calc_difference is beyond the tolerance (BALANCE_TOLERANCE).", 9),
    Col("suggested_adjustment", "money", "The correction that would make the balance right again.", 14),
    Col("user_seq", "int", "Position of the transaction in the user's history (1 = first).", 8),
    Col("prev_new_balance", "money", "new_balance of the user's previous transaction in this currency.", 14),
    Col("is_continuity_break", "bool", "TRUE when old_balance differs from prev_new_balance: the balance changed "
        "between two logged transactions.", 9),
    Col("continuity_gap", "money", "old_balance minus prev_new_balance.", 14),
    Col("is_overdraft_actual", "bool", "TRUE when new_balance is below zero.", 9),
    Col("is_overdraft_expected", "bool", "TRUE when expected_new_balance is below zero.", 9),
    Col("is_overdraft_wallet", "bool", "TRUE when payment_balance is below zero.", 9),
    Col("is_overdraft_crossing", "bool", "TRUE when this transaction took the balance from zero or above to "
        "below zero.", 9),
    Col("reason", "text", "Why it is an overdraft event: actual (new_balance below zero), expected (the recomputed "
        "balance below zero), wallet (payment_balance below zero), crossing (the balance went from zero or above "
        "to below zero), or guard (the Lambda refused the transaction because the balance would go below zero).", 22),
    Col("overdraft_reason", "text", "Why the transaction counts as an overdraft: actual, expected, wallet, "
        "crossing (several are listed with commas; see reason); guard for a refusal.", 16),
    Col("is_float_noise", "bool", "TRUE when the log printed binary floating-point noise; the amount was rounded "
        "to the micro-unit and the literal kept in the *_text column.", 9),
    Col("update_payment_balance", "bool", "The Lambda's flag: whether the payment wallet was to be updated.", 9),
    Col("amount_text", "text", "amount exactly as the log printed it.", 12),
    Col("vat_text", "text", "vat exactly as the log printed it.", 12),
    Col("old_balance_text", "text", "old_balance exactly as the log printed it.", 12),
    Col("new_balance_text", "text", "new_balance exactly as the log printed it.", 12),
    Col("payment_balance_text", "text", "payment_balance exactly as the log printed it.", 12),
    Col("metadata", "text", "The transaction's metadata as logged (JSON when it was JSON).", 30),
    Col("metadata_is_json", "bool", "TRUE when metadata was valid JSON.", 9),
    Col("extra_fields", "text", "Fields outside both known formats, as JSON (kept, never dropped).", 20),
    Col("request_id", "text", "The Lambda invocation that logged the event.", 37),
    Col("message_id", "text", "The SQS message that carried the transaction.", 37),
    Col("event_id", "int", "Row number of the log event in parsed_logs.", 10),
    Col("file_id", "int", "The ingested file the event came from (see ingested_files).", 8),
    Col("line_no", "int", "Line of that file where the event starts.", 8),
    Col("file", "text", "Path of the ingested file the row comes from (see line_no).", 40),
    # user balances
    Col("balance", "money", "Subscription balance after the user's last transaction.", 14),
    Col("first_seen_at", "datetime", "First time seen in the logs, UTC.", 23),
    Col("last_seen_at", "datetime", "Last time seen in the logs, UTC.", 23),
    Col("last_transaction_id", "text", "The user's most recent transaction.", 29),
    Col("last_transaction_at", "datetime", "When that transaction was logged, UTC.", 23),
    Col("count_transactions", "int", "Number of transactions.", 10),
    Col("count_debits", "int", "Number of debits.", 10),
    Col("count_credits", "int", "Number of credits.", 10),
    Col("total_debit", "money", "Sum of debit amounts (gross).", 14),
    Col("total_credit", "money", "Sum of credit amounts (gross).", 14),
    Col("total_vat", "money", "Sum of VAT.", 12),
    Col("is_overdrawn", "bool", "TRUE when the user's balance is below zero now.", 9),
    Col("overdrawn_since", "datetime", "Start of the current stretch below zero, UTC.", 23),
    Col("count_discrepancies", "int", "Number of discrepancies found for the user.", 10),
    Col("count_open_discrepancies", "int", "Number of those still open.", 10),
    Col("count_continuity_breaks", "int", "Number of continuity breaks.", 10),
    Col("count_anomalies", "int", "Number of anomalies.", 10),
    Col("is_test_user", "bool", "TRUE for known test accounts (e.g. 'random-uuid').", 9),
    Col("count_currencies", "int", "Number of currencies the user has transacted in.", 10),
    # discrepancies
    Col("discrepancy_id", "text", "The discrepancy's id.", 20),
    Col("kind", "text", "sync: subscription and payment balances disagree (the 'not in sync' error); wallet: the "
        "payment wallet differs from new_balance; calculation: new_balance breaks the balance rule; "
        "continuity: a balance changed between two logged transactions.", 12),
    Col("status", "text", "open or resolved (daily overdraft report: new, ongoing, resolved or refused).", 10),
    Col("detected_at", "datetime", "When the discrepancy was logged, UTC.", 23),
    Col("subscription_balance", "money", "The subscription balance involved.", 14),
    Col("difference", "money", "The disagreement: subscription minus payment balance, or the calculation "
        "difference.", 14),
    Col("amount_at_stake", "money", "How much money the discrepancy puts in doubt.", 14),
    Col("resolved_at", "datetime", "When the balances agreed again, UTC (empty while open).", 23),
    Col("explanation", "text", "The finding in plain words.", 60),
    # anomalies
    Col("anomaly_id", "text", "The anomaly's id.", 20),
    Col("fingerprint", "text", "Stable identity of the finding across rebuilds.", 20),
    Col("detector", "text", "Which rule found it.", 20),
    Col("severity", "text", "low, medium or high.", 9),
    Col("score", "float", "How unusual, on the detector's own scale (higher is more unusual).", 9),
    Col("parameters", "text", "The detector's thresholds and inputs, as JSON.", 30),
    # reviews (the latest review of a discrepancy or anomaly, set on the dashboard)
    Col("review_status", "text", "What the latest reviewer decided: new (not reviewed yet), investigating, "
        "explained, written_off or false_positive.", 13),
    Col("assignee", "text", "Who the latest review assigned it to.", 14),
    Col("reviewed_by", "text", "Who wrote the latest review (the signed-in dashboard user).", 14),
    Col("reviewed_at", "datetime", "When the latest review was saved, UTC.", 23),
    Col("review_note", "text", "The latest review's note.", 40),
    # flows by source
    Col("total_amount", "money", "Sum of gross amounts.", 14),
    Col("total_net", "money", "Sum of amounts net of VAT.", 14),
    # daily overdrafts
    Col("expected_balance", "money", "expected_new_balance of the user's last transaction up to the end of the "
        "day.", 14),
    Col("overdraft_amount", "money", "How far below zero at the end of the day, as a positive amount: the deepest "
        "of balance, expected_balance and payment_balance (0 when back above zero).", 14),
    Col("count_overdraft_transactions", "int", "Transactions during the day that left a balance below zero.", 10),
    # weekly reconciliation
    Col("week_from", "date", "First day (Monday) of the week.", 12),
    Col("week_to", "date", "Last day (Sunday) of the week.", 12),
    Col("count_opened", "int", "Discrepancies whose business date falls in the week.", 10),
    Col("amount_opened", "money", "Their amount at stake.", 14),
    Col("count_resolved", "int", "Discrepancies resolved during the week (whenever they were opened).", 10),
    Col("amount_resolved", "money", "Their amount at stake.", 14),
    Col("count_still_open", "int", "Discrepancies opened by the end of the week and not resolved by then.", 10),
    Col("amount_still_open", "money", "Their amount at stake.", 14),
    # raw events
    Col("detail", "text", "Short qualifier of the event kind (metric name, skip variant, error type…).", 16),
    Col("level", "text", "Log level (INFO, ERROR…).", 7),
    Col("parse_status", "text", "ok, quarantined or unknown.", 10),
    Col("text", "text", "First line of the message, as logged.", 60),
    Col("payload", "text", "The parsed object as JSON (numbers exact).", 60),
]

COLUMNS: dict[str, Col] = {c.name: c for c in _COLS}

# Columns whose values come back again and again (users, codes, kinds, a user's first and last seen):
# workbook cells for them are made once per distinct value and remembered.
REPEATED = frozenset({"user_id", "currency", "type", "schema", "source", "action", "overdraft_reason", "reason",
                      "kind", "status", "detector", "severity", "file", "level", "parse_status", "detail",
                      "review_status", "assignee", "reviewed_by",
                      "parameters", "first_seen_at", "last_seen_at", "resolved_at", "overdrawn_since"})

# The raw event kind column has the same name as the discrepancy kind; the raw CSV explains it in docs.
RAW_KIND_MEANING = "What the log event is (sync, not_in_sync, report, start, …)."

LEDGER_PRESETS: dict[str, tuple[str, ...]] = {
    # What an accountant reconciles: who, when, how much, and whether the arithmetic held.
    "accounting": ("business_date", "ts", "transaction_id", "user_id", "currency", "type", "source", "amount",
                   "vat", "net_change", "old_balance", "new_balance", "payment_balance", "calc_difference",
                   "is_calc_mismatch", "is_continuity_break", "overdraft_reason"),
    # Every column of balance_events, including the literals as printed and provenance.
    "full": ("business_date", "ts", "transaction_id", "user_id", "currency", "type", "type_inferred", "schema",
             "source", "action", "amount", "vat", "old_balance", "new_balance", "payment_balance", "net_change",
             "expected_new_balance", "calc_difference", "is_calc_mismatch", "suggested_adjustment", "user_seq",
             "prev_new_balance", "is_continuity_break", "continuity_gap", "is_overdraft_actual",
             "is_overdraft_expected", "is_overdraft_wallet", "is_overdraft_crossing", "overdraft_reason",
             "is_float_noise", "update_payment_balance", "amount_text", "vat_text", "old_balance_text",
             "new_balance_text", "payment_balance_text", "metadata", "metadata_is_json", "extra_fields",
             "request_id", "message_id", "event_id", "file_id", "line_no"),
}
LEDGER_COLUMNS = frozenset(LEDGER_PRESETS["full"])


def ledger_columns(spec: str | None) -> tuple[str, ...]:
    """Columns for the Ledger sheet: a preset name, or a JSON file with a list of names (or {"columns": [...]})."""
    spec = spec or "accounting"
    if spec in LEDGER_PRESETS:
        return LEDGER_PRESETS[spec]
    path = Path(spec)
    if not path.suffix.lower() == ".json":
        raise UsageError(f"--columns {spec!r} is neither a preset ({', '.join(LEDGER_PRESETS)}) nor a .json file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--columns {spec}: cannot read it ({exc.strerror}); pass a preset name "
                         f"({', '.join(LEDGER_PRESETS)}) or an existing JSON file") from None
    except ValueError as exc:
        raise UsageError(f"--columns {spec}: not valid JSON ({exc}); write a list like "
                         '["business_date", "user_id", "amount"]') from None
    names = data.get("columns") if isinstance(data, dict) else data
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise UsageError(f"--columns {spec}: expected a non-empty list of column names "
                         '(or {"columns": [...]})')
    unknown = [n for n in names if n not in LEDGER_COLUMNS]
    if unknown:
        raise UsageError(f"--columns {spec}: unknown column {unknown[0]!r}; the Ledger columns are: "
                         + ", ".join(LEDGER_PRESETS["full"]))
    if any(COLUMNS[n].kind == "money" for n in names) and "currency" not in names:
        names = [*names, "currency"]  # an amount means nothing without its currency
    return tuple(dict.fromkeys(names))
