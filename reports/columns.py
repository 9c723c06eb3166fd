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
    Col("file", "text", "The file the row comes from (see line_no): its path below the folder that was ingested, "
        "archive.zip!entry for a file inside a zip.", 40),
    # user balances
    Col("balance", "money", "Subscription balance after the user's last transaction.", 14),
    Col("first_seen_at", "datetime", "First time seen in the logs, UTC.", 23),
    Col("last_seen_at", "datetime", "Last time seen in the logs, UTC.", 23),
    Col("last_transaction_id", "text", "The most recent transaction: the user's (ByUser), or the issue's last one "
        "still out of sync (Reconciliation).", 29),
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
    # discrepancies (one row per issue)
    Col("discrepancy_id", "text", "The issue's id, the same in every rebuild: kind and first transaction.", 30),
    Col("kind", "text", "out_of_sync: an episode, a run of the user's consecutive transactions after which the "
        "subscription balance and the payment wallet disagree (or the Lambda logged 'not in sync'); calculation: "
        "new_balance breaks the balance rule; continuity: a balance changed between two logged transactions; "
        "untied_error: a 'not in sync' error tied to no transaction.", 12),
    Col("status", "text", "open or resolved (daily overdraft report: new, ongoing, resolved or refused).", 10),
    Col("subscription_balance", "money", "The subscription balance after the issue's last transaction.", 14),
    Col("amount_at_stake", "money", "What the issue puts in doubt now: an open episode's current gap (each "
        "out-of-sync user's gap, once), 0 once resolved; a calculation or continuity break's difference.", 14),
    Col("current_gap", "money", "Subscription minus payment balance after the issue's last transaction (empty "
        "when the transaction printed no wallet).", 14),
    Col("opening_gap", "money", "The same gap after the issue's first transaction.", 14),
    Col("max_abs_gap", "money", "The largest gap, in absolute value, over the issue's transactions.", 14),
    Col("count_lambda_errors", "int", "'not in sync' errors the Lambda logged for the issue's transactions.", 10),
    Col("age_days", "int", "Days from first seen to resolved, or to the data's last day while open.", 8),
    Col("first_transaction_id", "text", "The issue's first transaction.", 28),
    Col("resolving_transaction_id", "text", "The transaction after which the balances agreed again.", 28),
    Col("resolved_at", "datetime", "When the balances agreed again, UTC (empty while open).", 23),
    Col("explanation", "text", "The finding in plain words.", 60),
    # open exposure (per currency)
    Col("count_open", "int", "Open out-of-sync episodes (at most one per user).", 10),
    Col("exposure", "money", "Sum of the open episodes' current gaps in absolute value: each out-of-sync user's "
        "gap, counted once.", 14),
    Col("subscription_above", "money", "Part of it where the subscription balance is above the wallet: meals the "
        "customer has not paid for.", 14),
    Col("subscription_below", "money", "Part of it where the subscription balance is below the wallet: money "
        "received and not credited.", 14),
    Col("count_unknown_gap", "int", "Open episodes whose last transaction printed no wallet (legacy): not in the "
        "exposure.", 10),
    Col("count_age_0_7", "int", "Open episodes first seen 0 to 7 days before the data's last day.", 9),
    Col("count_age_8_30", "int", "Open episodes first seen 8 to 30 days before.", 9),
    Col("count_age_31_90", "int", "Open episodes first seen 31 to 90 days before.", 9),
    Col("count_age_over_90", "int", "Open episodes first seen more than 90 days before.", 9),
    # balance roll-forward (per currency and business month)
    Col("month", "text", "Business month, YYYY-MM.", 9),
    Col("opening_balance", "money", "Sum of the users' balances at the start of the month (the previous closing).", 16),
    Col("first_seen_balances", "money", "Balances brought in from before the logs: the old balance of each user's "
        "first transaction, in the month it was seen.", 16),
    Col("credits", "money", "Applied credits, net of VAT.", 16),
    Col("debits", "money", "Applied debits, net of VAT (a positive amount, subtracted).", 16),
    Col("calculation_differences", "money", "Sum of new minus expected balance (what the Lambda wrote beyond the "
        "balance rule).", 16),
    Col("continuity_gaps", "money", "Sum of old balance minus the user's previous new balance (changes between "
        "logged transactions).", 16),
    Col("closing_balance", "money", "Sum of the users' balances after their last transaction up to the month's "
        "end: opening + first seen + credits - debits + calculation differences + continuity gaps.", 16),
    Col("count_new_users", "int", "Users first seen in the month.", 9),
    Col("count_users", "int", "Users (with a transaction in the month, in the roll-forward).", 9),
    # anomalies
    Col("anomaly_id", "text", "The anomaly's id.", 20),
    Col("fingerprint", "text", "Stable identity of the finding across rebuilds.", 20),
    Col("detector", "text", "Which rule found it.", 20),
    Col("severity", "text", "low, medium or high.", 9),
    Col("detected_at", "datetime", "When the anomaly was logged (its transaction or event), UTC.", 23),
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
    Col("expected_balance", "money", "What the balance should have been: a calculation break's expected "
        "new_balance or a continuity break's previous balance (Reconciliation); expected_new_balance of the user's "
        "last transaction up to the end of the day (daily overdrafts).", 14),
    Col("overdraft_amount", "money", "How far below zero at the end of the day, as a positive amount: the deepest "
        "of balance, expected_balance and payment_balance (0 when back above zero).", 14),
    Col("count_overdraft_transactions", "int", "Transactions during the day that left a balance below zero.", 10),
    # weekly reconciliation
    Col("week_from", "date", "First day (Monday) of the week.", 12),
    Col("week_to", "date", "Last day (Sunday) of the week.", 12),
    Col("count_opened", "int", "Issues first seen during the week.", 10),
    Col("amount_opened", "money", "Their gap when they opened (a break: its difference).", 14),
    Col("count_resolved", "int", "Issues resolved during the week (whenever they were opened).", 10),
    Col("amount_resolved", "money", "Their largest gap (a break: its difference).", 14),
    Col("count_still_open", "int", "Issues first seen by the end of the week and not resolved by then.", 10),
    Col("amount_still_open", "money", "The exposure at the week's end: each open episode's gap after its last "
        "transaction before then (a break: its difference).", 14),
    Col("is_partial_week", "bool", "TRUE when the data does not cover the whole week.", 9),
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
