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
    label: str  # the column's header in the workbook and the HTML report
    meaning: str
    width: float = 14



_COLS = [
    # identity and time
    Col("business_date", "date", "Business day", "Day of the event in the business time zone (BUSINESS_TZ), as a "
        "date.", 12),
    Col("ts", "datetime", "Logged at (UTC)", "When the Lambda logged the event, UTC, to the millisecond.", 23),
    Col("transaction_id", "text", "Transaction id", "The transaction's unique id (a ULID; roughly time-ordered).", 29),
    Col("user_id", "text", "User id", "The subscriber (or a pseudonym with --pseudonymise).", 38),
    Col("currency", "text", "Currency", "ISO 4217 currency code. Amounts are never added across currencies.", 10),
    Col("type", "text", "Type", "DEBIT takes money from the balance, CREDIT adds it.", 9),
    Col("type_inferred", "bool", "Type inferred", "TRUE when the log had no type (legacy schema) and it was inferred "
        "from the direction in which the balance moved.", 10),
    Col("schema", "text", "Log format", "Which block format the Lambda printed: full (13 fields) or legacy (7 "
        "fields).", 8),
    Col("source", "text", "Source", "What caused the transaction (PAYMENT, MANUAL_DEDUCTION, REFUND, …); empty in the "
        "legacy format.", 19),
    Col("action", "text", "Action", "The action named in the log, when there was one.", 32),
    # the transaction's money
    Col("amount", "money", "Amount (gross)", "Gross amount, VAT included, as logged. Can be negative.", 14),
    Col("vat", "money", "VAT", "VAT included in the amount.", 12),
    Col("old_balance", "money", "Balance before", "Subscription balance before the transaction, as logged.", 14),
    Col("new_balance", "money", "Balance after", "Subscription balance after the transaction, as logged.", 14),
    Col("payment_balance", "money", "Payment wallet", "The payment wallet's balance, as logged (usually equal to "
        "new_balance).", 14),
    Col("net_change", "money", "Net change", "What the balance should move by: amount minus VAT, negative for a "
        "debit.", 14),
    Col("expected_new_balance", "money", "Expected balance after", "old_balance plus net_change: what new_balance "
        "should be.", 14),
    Col("calc_difference", "money", "Calculation difference", "new_balance minus expected_new_balance (0 when the "
        "arithmetic holds).", 14),
    Col("is_calc_mismatch", "bool", "Calculation mismatch", "TRUE when calc_difference is beyond the tolerance "
        "(BALANCE_TOLERANCE).", 13),
    Col("suggested_adjustment", "money", "Suggested adjustment", "The correction that would make the balance right "
        "again.", 14),
    Col("user_seq", "int", "User's transaction no.", "Position of the transaction in the user's history (1 = "
        "first).", 13),
    Col("prev_new_balance", "money", "Previous balance after", "new_balance of the user's previous transaction in this "
        "currency.", 14),
    Col("is_continuity_break", "bool", "Continuity break", "TRUE when old_balance differs from prev_new_balance: the "
        "balance changed between two logged transactions.", 12),
    Col("continuity_gap", "money", "Continuity gap", "old_balance minus prev_new_balance.", 14),
    Col("is_overdraft_actual", "bool", "Overdraft: balance", "TRUE when new_balance is below zero.", 12),
    Col("is_overdraft_expected", "bool", "Overdraft: expected balance", "TRUE when expected_new_balance is below "
        "zero.", 12),
    Col("is_overdraft_wallet", "bool", "Overdraft: wallet", "TRUE when payment_balance is below zero.", 12),
    Col("is_overdraft_crossing", "bool", "Overdraft: crossed zero", "TRUE when this transaction took the balance from "
        "zero or above to below zero.", 12),
    Col("reason", "text", "Reason", "Why it is an overdraft event: actual (new_balance below zero), expected (the "
        "recomputed balance below zero), wallet (payment_balance below zero), crossing (the balance went from zero or "
        "above to below zero), or guard (the Lambda refused the transaction because the balance would go below "
        "zero).", 22),
    Col("overdraft_reason", "text", "Overdraft reason", "Why the transaction counts as an overdraft: actual, expected, "
        "wallet, crossing (several are listed with commas; see reason); guard for a refusal.", 16),
    Col("is_float_noise", "bool", "Float noise", "TRUE when the log printed binary floating-point noise; the amount "
        "was rounded to the micro-unit and the literal kept in the *_text column.", 9),
    Col("update_payment_balance", "bool", "Update wallet flag", "The Lambda's flag: whether the payment wallet was to "
        "be updated.", 9),
    Col("amount_text", "text", "Amount as logged", "amount exactly as the log printed it.", 12),
    Col("vat_text", "text", "VAT as logged", "vat exactly as the log printed it.", 12),
    Col("old_balance_text", "text", "Balance before as logged", "old_balance exactly as the log printed it.", 12),
    Col("new_balance_text", "text", "Balance after as logged", "new_balance exactly as the log printed it.", 12),
    Col("payment_balance_text", "text", "Payment wallet as logged", "payment_balance exactly as the log printed "
        "it.", 12),
    Col("metadata", "text", "Metadata", "The transaction's metadata as logged (JSON when it was JSON).", 30),
    Col("metadata_is_json", "bool", "Metadata is JSON", "TRUE when metadata was valid JSON.", 10),
    Col("extra_fields", "text", "Extra fields", "Fields outside both known formats, as JSON (kept, never "
        "dropped).", 20),
    Col("request_id", "text", "Request id", "The Lambda invocation that logged the event.", 37),
    Col("message_id", "text", "SQS message id", "The SQS message that carried the transaction.", 37),
    Col("event_id", "text", "Event id", "The log event's id; empty for START, END and REPORT lines.", 10),
    Col("file_id", "text", "File id", "The ingested file the event came from (see ingested_files).", 8),
    Col("line_no", "int", "Line", "Line of that file where the event starts.", 8),
    Col("file", "text", "File", "The file the row comes from (see line_no): its path below the folder that was "
        "ingested, archive.zip!entry for a file inside a zip.", 40),
    # user balances
    Col("balance", "money", "Balance", "Subscription balance after the user's last transaction.", 14),
    Col("first_seen_at", "datetime", "First seen (UTC)", "First time seen in the logs, UTC.", 23),
    Col("last_seen_at", "datetime", "Last seen (UTC)", "Last time seen in the logs, UTC.", 23),
    Col("last_transaction_id", "text", "Last transaction id", "The most recent transaction: the user's (ByUser), or "
        "the issue's last one still out of sync (Reconciliation).", 29),
    Col("last_transaction_at", "datetime", "Last transaction at (UTC)", "When that transaction was logged, UTC.", 23),
    Col("count_transactions", "int", "Transactions", "Number of transactions.", 14),
    Col("count_debits", "int", "Debits (no.)", "Number of debits.", 10),
    Col("count_credits", "int", "Credits (no.)", "Number of credits.", 10),
    Col("total_debit", "money", "Debits (gross)", "Sum of debit amounts (gross).", 14),
    Col("total_credit", "money", "Credits (gross)", "Sum of credit amounts (gross).", 14),
    Col("total_vat", "money", "VAT total", "Sum of VAT.", 12),
    Col("is_overdrawn", "bool", "Overdrawn now", "TRUE when the user's balance is below zero now.", 11),
    Col("overdrawn_since", "datetime", "Overdrawn since (UTC)", "Start of the current stretch below zero, UTC.", 23),
    Col("wallet_overdrawn_since", "datetime", "Wallet overdrawn since (UTC)",
        "Start of the current stretch of the payment (wallet) balance below zero, UTC.", 23),
    Col("count_discrepancies", "int", "Issues", "Number of discrepancies found for the user.", 10),
    Col("count_open_discrepancies", "int", "Open issues", "Number of those still open.", 10),
    Col("count_continuity_breaks", "int", "Continuity breaks", "Number of continuity breaks.", 12),
    Col("count_anomalies", "int", "Anomalies", "Number of anomalies.", 11),
    Col("is_test_user", "bool", "Test user", "TRUE for known test accounts (e.g. 'random-uuid').", 9),
    Col("count_currencies", "int", "Currencies used", "Number of currencies the user has transacted in.", 12),
    # discrepancies (one row per issue)
    Col("discrepancy_id", "text", "Issue id", "The issue's id, the same in every rebuild: kind and first "
        "transaction.", 30),
    Col("kind", "text", "Kind", "out_of_sync: an episode, a run of the user's consecutive transactions after which the "
        "subscription balance and the payment wallet disagree (or the Lambda logged 'not in sync'); calculation: "
        "new_balance breaks the balance rule; continuity: a balance changed between two logged transactions; "
        "untied_error: a 'not in sync' error tied to no transaction.", 12),
    Col("status", "text", "Status", "open or resolved (daily overdraft report: new, ongoing, resolved or "
        "refused).", 10),
    Col("subscription_balance", "money", "Subscription balance", "The subscription balance after the issue's last "
        "transaction.", 14),
    Col("amount_at_stake", "money", "At stake", "What the issue puts in doubt now: an open episode's current gap (each "
        "out-of-sync user's gap, once), 0 once resolved; a calculation or continuity break's difference.", 14),
    Col("current_gap", "money", "Current gap", "Subscription minus payment balance after the issue's last transaction "
        "(empty when the transaction printed no wallet).", 14),
    Col("opening_gap", "money", "Opening gap", "The same gap after the issue's first transaction.", 14),
    Col("max_abs_gap", "money", "Largest gap", "The largest gap, in absolute value, over the issue's "
        "transactions.", 14),
    Col("count_lambda_errors", "int", "Lambda errors", "'not in sync' errors the Lambda logged for the issue's "
        "transactions.", 10),
    Col("age_days", "int", "Age (days)", "Days from first seen to resolved, or to the data's last day while open.", 8),
    Col("first_transaction_id", "text", "First transaction id", "The issue's first transaction.", 28),
    Col("resolving_transaction_id", "text", "Resolved by transaction", "The transaction after which the balances "
        "agreed again.", 28),
    Col("resolved_at", "datetime", "Resolved at (UTC)", "When the balances agreed again, UTC (empty while open).", 23),
    Col("explanation", "text", "Explanation", "The finding in plain words.", 60),
    # open exposure (per currency)
    Col("count_open", "int", "Open episodes", "Open out-of-sync episodes (at most one per user).", 10),
    Col("exposure", "money", "Open exposure", "Sum of the open episodes' current gaps in absolute value: each "
        "out-of-sync user's gap, counted once.", 14),
    Col("subscription_above", "money", "Subscription above wallet", "Part of it where the subscription balance is "
        "above the wallet: meals the customer has not paid for.", 14),
    Col("subscription_below", "money", "Subscription below wallet", "Part of it where the subscription balance is "
        "below the wallet: money received and not credited.", 14),
    Col("count_unknown_gap", "int", "Episodes with unknown gap", "Open episodes whose last transaction printed no "
        "wallet (legacy): not in the exposure.", 10),
    Col("count_age_0_7", "int", "Episodes 0–7 days", "Open episodes first seen 0 to 7 days before the data's last "
        "day.", 10),
    Col("count_age_8_30", "int", "Episodes 8–30 days", "Open episodes first seen 8 to 30 days before.", 10),
    Col("count_age_31_90", "int", "Episodes 31–90 days", "Open episodes first seen 31 to 90 days before.", 10),
    Col("count_age_over_90", "int", "Episodes over 90 days", "Open episodes first seen more than 90 days before.", 10),
    Col("exposure_age_0_7", "money", "Exposure 0–7 days", "The part of the open exposure in episodes first seen 0 to "
        "7 days before (the data's last day; on Summary, the month's end).", 14),
    Col("exposure_age_8_30", "money", "Exposure 8–30 days", "The part in episodes first seen 8 to 30 days before.", 14),
    Col("exposure_age_31_90", "money", "Exposure 31–90 days", "The part in episodes first seen 31 to 90 days before.",
        14),
    Col("exposure_age_over_90", "money", "Exposure over 90 days", "The part in episodes first seen more than 90 days "
        "before.", 14),
    # balance roll-forward (per currency and business month)
    Col("month", "text", "Month", "Business month, YYYY-MM.", 9),
    Col("opening_balance", "money", "Opening balance", "Sum of the users' balances at the start of the month (the "
        "previous closing).", 14),
    Col("first_seen_balances", "money", "Balances first seen", "Balances brought in from before the logs: the old "
        "balance of each user's first transaction, in the month it was seen.", 14),
    Col("credit_vat", "money", "VAT in credits", "VAT included in the month's credits.", 14),
    Col("debit_vat", "money", "VAT in debits", "VAT included in the month's debits (it does not reduce the "
        "balance).", 14),
    Col("net_movement", "money", "Net movement", "Credits minus debits, both net of VAT: (Credits (gross) - VAT in "
        "credits) - (Debits (gross) - VAT in debits), what the month's transactions moved the balances by.", 14),
    Col("calculation_differences", "money", "Calculation differences", "Sum of new minus expected balance (what the "
        "Lambda wrote beyond the balance rule).", 14),
    Col("continuity_gaps", "money", "Continuity gaps", "Sum of old balance minus the user's previous new balance "
        "(changes between logged transactions).", 14),
    Col("closing_balance", "money", "Closing balance", "Sum of the users' balances after their last transaction up to "
        "the month's end: opening + balances first seen + net movement + calculation differences + continuity "
        "gaps.", 14),
    Col("count_new_users", "int", "New users", "Users first seen in the month.", 9),
    Col("count_users", "int", "Users", "Users with a transaction in the month (Summary, the roll-forward's); users "
        "out of sync now, one open episode each (Exposure).", 9),
    Col("month_end_exposure", "money", "Open exposure at month end", "The open exposure at the month's end (the "
        "data's last day for the last month): the open out-of-sync episodes' gaps then, each user's once.", 14),
    Col("count_month_end_open", "int", "Open episodes at month end", "Out-of-sync episodes open at the month's "
        "end.", 10),
    # anomalies
    Col("anomaly_id", "text", "Anomaly id", "The anomaly's id.", 20),
    Col("fingerprint", "text", "Fingerprint", "Stable identity of the finding across rebuilds.", 20),
    Col("detector", "text", "Detector", "Which rule found it.", 20),
    Col("severity", "text", "Severity", "low, medium or high.", 10),
    Col("detected_at", "datetime", "Detected at (UTC)", "When the anomaly was logged (its transaction or event), "
        "UTC.", 23),
    Col("score", "float", "Score", "How unusual, on the detector's own scale (higher is more unusual).", 9),
    Col("parameters", "text", "Parameters", "The detector's thresholds and inputs, as JSON.", 30),
    # reviews (the latest review of a discrepancy or anomaly, set on the dashboard)
    Col("review_status", "text", "Review status", "What the latest reviewer decided: new (not reviewed yet), "
        "investigating, explained, written_off or false_positive.", 13),
    Col("assignee", "text", "Assignee", "Who the latest review assigned it to.", 14),
    Col("reviewed_by", "text", "Reviewed by", "Who wrote the latest review (the signed-in dashboard user).", 14),
    Col("reviewed_at", "datetime", "Reviewed at (UTC)", "When the latest review was saved, UTC.", 23),
    Col("review_note", "text", "Review note", "The latest review's note.", 40),
    # flows by source
    Col("total_amount", "money", "Total (gross)", "Sum of gross amounts.", 14),
    Col("total_net", "money", "Total (net of VAT)", "Sum of amounts net of VAT.", 14),
    # daily overdrafts
    Col("expected_balance", "money", "Expected balance", "What the balance should have been: a calculation break's "
        "expected new_balance or a continuity break's previous balance (Reconciliation); expected_new_balance of the "
        "user's last transaction up to the end of the day (daily overdrafts).", 14),
    Col("overdraft_amount", "money", "Overdraft amount", "How far below zero at the end of the day, as a positive "
        "amount: the deepest of balance, expected_balance and payment_balance (0 when back above zero).", 14),
    Col("count_overdraft_transactions", "int", "Overdraft transactions", "Transactions during the day that left a "
        "balance below zero.", 14),
    # weekly reconciliation
    Col("week_from", "date", "Week from", "First day (Monday) of the week.", 12),
    Col("week_to", "date", "Week to", "Last day (Sunday) of the week.", 12),
    Col("count_opened", "int", "Opened", "Issues first seen during the week.", 10),
    Col("amount_opened", "money", "Gap when opened", "Their gap when they opened (a break: its difference).", 14),
    Col("count_resolved", "int", "Resolved", "Issues resolved during the week (whenever they were opened).", 10),
    Col("amount_resolved", "money", "Largest gap of the resolved", "Their largest gap (a break: its difference).", 14),
    Col("count_still_open", "int", "Still open at week end", "Issues first seen by the end of the week and not "
        "resolved by then.", 10),
    Col("amount_still_open", "money", "Exposure at week end", "The exposure at the week's end: each open episode's gap "
        "after its last transaction before then (a break: its difference).", 14),
    Col("is_partial_week", "bool", "Partial week", "TRUE when the data does not cover the whole week.", 9),
    # raw events
    Col("detail", "text", "Detail", "Short qualifier of the event kind (metric name, skip variant, error type…).", 16),
    Col("level", "text", "Level", "Log level (INFO, ERROR…).", 7),
    Col("parse_status", "text", "Parse status", "ok, quarantined or unknown.", 10),
    Col("text", "text", "Text", "The event exactly as logged, every line of it (only the first line for files "
        "ingested before file texts were kept).", 60),
    Col("payload", "text", "Payload", "The parsed object as JSON (numbers exact), for the kinds no other table "
        "holds.", 60),
]

COLUMNS: dict[str, Col] = {c.name: c for c in _COLS}

# Columns whose values come back again and again (users, codes, kinds, a user's first and last seen):
# workbook cells for them are made once per distinct value and remembered.
REPEATED = frozenset({"user_id", "currency", "type", "schema", "source", "action", "overdraft_reason", "reason",
                      "kind", "status", "detector", "severity", "file", "level", "parse_status", "detail",
                      "review_status", "assignee", "reviewed_by",
                      "parameters", "first_seen_at", "last_seen_at", "resolved_at", "overdrawn_since",
                      "wallet_overdrawn_since"})

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
