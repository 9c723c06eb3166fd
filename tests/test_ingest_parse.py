"""Event splitting, classification and typed rows, on the byte-exact examples of log-format.md."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.classify import Event, classify
from ingest.clock import business_day, ts_to_ms
from ingest.events import split_events
from ingest.parse_file import parse_text
from ingest.transactions import RowError, infer_type, transaction_row
from settings import _parse_tz

FIXTURES = Path(__file__).parent / "fixtures" / "logs"
DAY = business_day(_parse_tz("+03:00"))
TOL = Decimal("0.001")


def parse(text: str):
    return parse_text(text, "stream", DAY, TOL)


def one(body: str) -> Event:
    return classify(Event(0, 1, "2024-02-13T21:01:05.050Z", body))


def app(message: str, level: str = "INFO", rid: str = "405bb962-f57b-521d-81a1-e7272fbf6077") -> str:
    return f"2024-02-13T21:01:05.050Z\t{rid}\t{level}\t{message}"


def test_split_events_drops_the_empty_line_and_counts_lines():
    text = ("2024-01-01T00:00:00.000Z START RequestId: a Version: $LATEST\n\n"
            "2024-01-01T00:00:00.001Z 2024-01-01T00:00:00.001Z\ta\tINFO\tStart syncing the balance {\n"
            "  transaction: {}\n}\n\n"
            "2024-01-01T00:00:00.002Z END RequestId: a\n\n")
    events = split_events(text)
    assert [e.line_no for e in events] == [1, 3, 7]
    assert events[1].body.endswith("\n}")
    assert events[0].ts == "2024-01-01T00:00:00.000Z"


def test_text_before_the_first_event_is_kept_and_quarantined():
    parsed = parse("garbage line\n2024-01-01T00:00:00.000Z END RequestId: a\n\n")
    assert parsed.events[0].status == "quarantined"
    assert "before the first event timestamp" in parsed.events[0].reason
    assert parsed.events[1].kind == "end"


@pytest.mark.parametrize("message,kind,detail", [
    ("Processing message 861bec95-b670-4f2a-acf9-19d5bdd7cbe5", "processing", None),
    ("SubscriptionBalanceUpdated event published", "event_published", None),
    ("Skipping the balance sync for create subscription, it will be synced from create subscription payment "
     "listener", "skip_create_subscription", None),
    ("Skipping the balance sync for create web subscription, it will be synced from create web subscription "
     "payment listener", "skip_create_web_subscription", None),
    ("Skipping the process, balance is already synced from other listeners", "skip_already_synced",
     "skipping_the_process"),
    ("Balance is already synced from other listeners", "skip_already_synced", "balance_is_already"),
    ("Skipping the process, Update Payment Balance Flag is set to false { transactionAction: 'DONATE_RAMADAN_MEAL' }",
     "skip_flag_false", "DONATE_RAMADAN_MEAL"),
    ("Sending slack notification", "slack_notification", None),
    ("An error occured while syncing the balance TypeError: Cannot read properties of null (reading 'getBalance')\n"
     "    at Zi.exec (/src/syncBalance/useCase.ts:55:37)", "sync_error", "TypeError"),
    ('Invoke Error \t{"errorType":"TypeError","errorMessage":"e is not iterable","stack":[]}', "invoke_error",
     "TypeError"),
    ('record.body {"id":"01HHYH0YMM1QFA0H3Z4EC8ZG24","amount":10}', "debug_record_body", None),
    ('transaction {"id":"01HHENAEH2F2SFMEW5A7Q9ZFSE","amount":55}', "debug_transaction", None),
    ("Something the Lambda never logged before", "unknown", None),
])
def test_app_messages_are_classified(message, kind, detail):
    ev = one(app(message))
    assert (ev.kind, ev.detail) == (kind, detail)
    assert ev.status == ("unknown" if kind == "unknown" else "ok")


def test_uncaught_exception_has_no_request_id():
    ev = one(app('Uncaught Exception \t{"errorType":"Error","errorMessage":"x"}', "ERROR", "undefined"))
    assert (ev.kind, ev.request_id, ev.detail, ev.level) == ("uncaught_exception", None, "Error", "ERROR")


@pytest.mark.parametrize("body,kind,field", [
    ("START RequestId: 596a396c-7be5-5dba-8ff9-649e2ef2f638 Version: $LATEST", "start", "Version"),
    ("END RequestId: 596a396c-7be5-5dba-8ff9-649e2ef2f638", "end", "RequestId"),
    ("REPORT RequestId: 2163d43b-ef3c-5f06-a20d-89ca11063853\tDuration: 13.43 ms\tBilled Duration: 14 ms\t"
     "Memory Size: 1024 MB\tMax Memory Used: 95 MB\tInit Duration: 672.79 ms\t\n"
     "XRAY TraceId: 1-6577fc1b-6368ad79a9b8454f0d9df6cb\tSegmentId: 672c21551c4e4bed\tSampled: true\t",
     "report", "TraceId"),
    ("INIT_START Runtime Version: nodejs:14.v42\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:4c",
     "init_start", "Runtime Version"),
    ("INIT_REPORT Init Duration: 766.09 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ExitError",
     "init_report", "Phase"),
])
def test_platform_lines(body, kind, field):
    ev = one(body)
    assert ev.kind == kind and field in ev.payload


def test_runtime_error_and_metric_lines():
    assert one("Unknown application error occurred\nRuntime.Unknown").kind == "runtime_error"
    metric = one('{"_aws":{"Timestamp":1702480893805,"CloudWatchMetrics":[{"Namespace":"apiService","Dimensions":'
                 '[["service"]],"Metrics":[{"Name":"negativeBalance","Unit":"Count"}]}]},"service":"syncBalanceSQS",'
                 '"negativeBalance":1,"userId":"8b293101-dfef-43ed-9095-ac05a1507d34","action":"LEAVING_THE_COUNTRY"}')
    assert (metric.kind, metric.detail, metric.user_id) == ("metric", "negativeBalance",
                                                            "8b293101-dfef-43ed-9095-ac05a1507d34")


def test_every_example_of_the_format_document_is_classified():
    parsed = parse((FIXTURES / "format_doc_examples.log").read_text())
    kinds = {e.kind for e in parsed.events}
    assert {e.status for e in parsed.events} == {"ok"}
    expected = {"init_start", "start", "end", "report", "init_report", "runtime_error", "processing", "sync",
                "not_in_sync", "skip_create_subscription", "skip_create_web_subscription", "skip_already_synced",
                "skip_flag_false", "event_published", "metric", "negative_balance_guard", "transaction_lock",
                "sync_error", "uncaught_exception", "invoke_error", "slack_notification", "debug_transaction",
                "debug_record_body", "debug_record"}
    assert expected <= kinds
    assert len(parsed.transactions) == 11  # the §4.1 block is shown again in §5.3


def test_full_and_legacy_transactions_are_exact():
    parsed = parse((FIXTURES / "format_doc_examples.log").read_text())
    rows = {row["transaction_id"]: row for _, row in parsed.transactions}
    noisy = rows["01HHEBMC9TMTY7D3G906RMNFME"]
    assert noisy["schema"] == "legacy" and noisy["type"] == "CREDIT" and noisy["type_inferred"]
    assert noisy["old_balance_text"] == "225.90753636363627" and noisy["is_float_noise"]
    assert noisy["old_balance"] == 225_907_536  # micro-units, half-even
    negative = rows["01HPSVJMCKPJ5WJRRCRARBH494"]
    assert (negative["amount"], negative["type"], negative["type_inferred"]) == (-1_500_000, "DEBIT", False)
    backtick = rows["01HSXDRMCN5ZETR2KY42QTM8Y4"]
    assert backtick["metadata_is_json"] and "don't fire me" in backtick["metadata"]
    undefined = rows["01HQN9WP1DM8Q71S5W7Q81BJPA"]
    assert undefined["metadata"] is None and undefined["metadata_is_json"] is None


def test_legacy_direction_prefers_the_rule_then_the_sign():
    row = {"old_balance": 76_500_000, "new_balance": 78_000_000, "amount": -1_500_000, "vat": 0}
    assert infer_type(row, TOL) == "DEBIT"  # a debit of a negative amount raises the balance
    row = {"old_balance": 1_800_000_000, "new_balance": 2_034_780_000, "amount": 270_000_000, "vat": 0}
    assert infer_type(row, TOL) == "CREDIT"  # §8.5: neither direction fits, the balance went up


def test_quoted_numbers_null_and_missing_fields_are_tolerated():
    payload = {"transaction": {"id": "X1", "userId": "u", "currency": "bhd", "amount": "8", "vat": None,
                               "oldBalance": Decimal("10"), "newBalance": Decimal("2")}}
    row = transaction_row(payload, TOL)
    assert (row["amount"], row["vat"], row["currency"], row["type"]) == (8_000_000, None, "BHD", "DEBIT")
    with pytest.raises(RowError, match="without a transaction id"):
        transaction_row({"transaction": {"userId": "u"}}, TOL)


def test_broken_sync_block_is_quarantined_with_line_and_column():
    text = ("2024-02-13T21:01:05.050Z 2024-02-13T21:01:05.050Z\tr\tINFO\tStart syncing the balance {\n"
            "  transaction: {\n    id: '01HPJ4BT09Y3GYQQZD1XFEGDHT',\n    amount: 8\n\n")
    ev = parse(text).events[0]
    assert ev.kind == "sync" and ev.status == "quarantined"
    assert "line" in ev.reason and "column" in ev.reason


def test_correlation_follows_request_and_message_not_file_order():
    rid = "df533997-8bd7-5e7d-a80e-6465cd6c561c"
    tail = (f"2023-12-12T11:31:41.511Z 2023-12-12T11:31:41.511Z\t{rid}\tERROR\tSubscription balance and payment "
            "balance are not in sync {\n  userId: 'u1',\n  subscriptionBalance: 453,\n  paymentBalance: 870\n}\n\n"
            '2023-12-12T11:31:41.512Z {"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Metrics":[{"Name":'
            '"subBalanceDiscrapancy"}]}]},"userId":"u1"}\n\n'
            f"2023-12-12T11:31:41.559Z END RequestId: {rid}\n\n"
            f"2023-12-12T11:31:41.559Z REPORT RequestId: {rid}\tDuration: 188.64 ms\tBilled Duration: 189 ms\t"
            "Memory Size: 1024 MB\tMax Memory Used: 96 MB\tInit Duration: 655.95 ms\t\n\n")
    head = ("2023-12-12T11:31:40.713Z INIT_START Runtime Version: nodejs:14.v42\tRuntime Version ARN: x\n\n"
            f"2023-12-12T11:31:41.370Z START RequestId: {rid} Version: $LATEST\n\n"
            f"2023-12-12T11:31:41.374Z 2023-12-12T11:31:41.374Z\t{rid}\tINFO\tProcessing message m-1\n\n"
            f"2023-12-12T11:31:41.462Z 2023-12-12T11:31:41.462Z\t{rid}\tINFO\tStart syncing the balance {{\n"
            "  transaction: {\n    id: 'T1',\n    userId: 'u1',\n    currency: 'BHD',\n    amount: 11,\n    vat: 1,\n"
            "    oldBalance: 453,\n    newBalance: 463\n  }\n}\n\n")
    parsed = parse(tail + head)  # the export wrote the tail chunk first
    by_kind = {e.kind: e for e in parsed.events}
    assert by_kind["not_in_sync"].message_id == "m-1" and by_kind["not_in_sync"].transaction_id == "T1"
    assert by_kind["metric"].transaction_id == "T1" and by_kind["metric"].request_id == rid
    (inv,) = parsed.invocations
    assert inv["is_cold_start"] and inv["runtime_version"] == "nodejs:14.v42" and inv["count_messages"] == 1
    assert inv["duration_ms"] == 188.64 and inv["start_ts"] == "2023-12-12T11:31:41.370Z"
    assert parsed.not_in_sync[0][1]["subscription_balance_meaning"] == "old_balance"


def test_business_day_is_utc_plus_three_by_default():
    assert DAY(ts_to_ms("2024-02-13T20:59:59.999Z")) == "2024-02-13"
    assert DAY(ts_to_ms("2024-02-13T21:00:00.000Z")) == "2024-02-14"
    riyadh = business_day(_parse_tz("Asia/Riyadh"))
    assert riyadh(ts_to_ms("2024-02-13T21:00:00.000Z")) == "2024-02-14"


# --- the shortcuts of the parse stage give what the plain code gives ---------------------------------------

def _split_events_reference(text: str):
    """split_events as first written: finditer over EVENT_START, then slices."""
    from ingest.events import EVENT_START, TS_LEN, RawEvent, _strip_terminator
    starts = [m.start() for m in EVENT_START.finditer(text)]
    if not starts:
        return [RawEvent(1, None, _strip_terminator(text))] if text.strip() else []
    events = [RawEvent(1, None, _strip_terminator(text[:starts[0]]))] if text[:starts[0]].strip() else []
    line_no = 1 + text.count("\n", 0, starts[0])
    for start, end in zip(starts, starts[1:] + [len(text)]):
        events.append(RawEvent(line_no, text[start:start + TS_LEN], _strip_terminator(text[start + TS_LEN + 1:end])))
        line_no += text.count("\n", start, end)
    return events


def test_split_events_agrees_with_the_reference_on_odd_layouts():
    import itertools
    ts = "2024-02-13T21:01:05.050Z "
    pieces = ["", "\n", "\n\n", "x", "x\n", "x\n\n\n", ts, ts + "a", ts + "a\n", ts + "a\n\n", " ", ts[:-1], "y\nz"]
    for n in range(4):
        for combo in itertools.product(pieces, repeat=n):
            text = "".join(combo)
            assert split_events(text) == _split_events_reference(text), repr(text)
    doc = (FIXTURES / "format_doc_examples.log").read_text()
    assert split_events(doc) == _split_events_reference(doc)


@pytest.mark.parametrize("body", [
    "START RequestId: 596a396c-7be5-5dba-8ff9-649e2ef2f638 Version: $LATEST",
    "END RequestId: 596a396c-7be5-5dba-8ff9-649e2ef2f638",
    "REPORT RequestId: 2163d43b-ef3c-5f06-a20d-89ca11063853\tDuration: 13.43 ms\tBilled Duration: 14 ms\t"
    "Memory Size: 1024 MB\tMax Memory Used: 95 MB\tInit Duration: 672.79 ms\t\n"
    "XRAY TraceId: 1-6577fc1b-6368ad79a9b8454f0d9df6cb\tSegmentId: 672c21551c4e4bed\tSampled: true\t",
    "INIT_START Runtime Version: nodejs:14.v42\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:4c",
    "END RequestId: 596a396c-7be5-5dba-8ff9-649e2ef2f638\nXRAY TraceId: 1-6577fc1b\t",
    "START RequestId: 596a396c Version: 12",
    "REPORT RequestId: 2163d43b-ef3c-5f06-a20d-89ca11063853\tDuration: 13.43 ms\tBilled Duration: 14 ms\t"
    "Memory Size: 1024 MB\tMax Memory Used: 95 MB\t",
    "REPORT RequestId: x\tDuration: 1: 2 \tBilled Duration: 14 ms\tMemory Size: 1 MB\tMax Memory Used: 9 MB\t"
    "Init Duration: 1 ms\t",
    "REPORT RequestId: x\tDuration:  1 ms\tBilled Duration: 14 ms\tMemory Size: 1 MB\tMax Memory Used: 9 MB\t",
    "REPORT RequestId: x\tDuration: 1 ms\tBilled Duration: 14 ms\tMemory Size: 1 MB\tMax Memory Used: 9 MB\t\n"
    "XRAY TraceId: 1-2\tSegmentId: 3\tSampled: true\t",
    "REPORT RequestId: x\tDuration: 1 ms\tBilled Duration: 14 ms\tMemory Size: 1 MB\tMax Memory Used: 9 MB\t\n"
    "XRAY TraceId: 1-2\tSampled: true\t",
    "REPORT RequestId: x\tDuration: 1 ms\tMemory Size: 1 MB\t",
    'END RequestId: a "quoted" \\ id',  # needs escaping: no shortcut
    "END RequestId: caf\u00e9\u2028",  # not ASCII: no shortcut
    "START",
])
def test_platform_payload_json_is_what_the_serialiser_writes(body):
    from ingest.classify import platform_fields
    from ingest.inspect_parser import to_json_fast
    ev = one(body)
    assert ev.payload == platform_fields(body) and ev.request_id == ev.payload.get("RequestId")
    assert ev.payload_json is None or ev.payload_json == to_json_fast(ev.payload)
    assert (ev.payload_json is None) == any(c in body for c in '"\\\u00e9')


def test_time_of_events_is_cached_per_second_but_exact():
    text = "".join(f"{ts} END RequestId: a\n\n" for ts in (
        "2024-02-13T20:59:59.999Z", "2024-02-13T21:00:00.000Z", "2024-02-13T21:00:00.001Z",
        "2024-02-13T20:59:59.001Z", "2024-02-30T10:00:00.000Z", "2024-02-30T10:00:00.001Z"))
    events = parse(text).events
    assert [(e.ts_ms, e.business_date) for e in events[:4]] == [
        (ts_to_ms(e.ts), DAY(ts_to_ms(e.ts))) for e in events[:4]]
    assert [e.business_date for e in events[:4]] == ["2024-02-13", "2024-02-14", "2024-02-14", "2024-02-13"]
    assert [(e.status, e.ts, e.ts_ms) for e in events[4:]] == [("quarantined", "", 0)] * 2
    assert "impossible timestamp '2024-02-30T10:00:00.001Z' at line 11" in events[5].reason


@pytest.mark.parametrize("literal", ["8", "-1.5", "0", "-0", "0.273", "225.90753636363627", "1E+12", "1e-7",
                                     "0.0000005", "0.0000015", "NaN", "-Infinity", "9223372036854.775807",
                                     "-9223372036854.7758074"])
def test_money_is_the_same_from_the_cache(literal):
    from db.money import to_micros
    from ingest.transactions import money
    value = Decimal(literal)
    expected = (None, str(value), True) if not value.is_finite() else (*to_micros(value)[:1], str(value),
                                                                        to_micros(value)[1])
    assert money(value) == money(Decimal(literal)) == expected


@pytest.mark.parametrize("literal", ["1E+21", "12345678901234567890.1234567", "-9223372036854.7758075"])
def test_money_beyond_bigint_is_a_row_error_every_time(literal):
    """No BIGINT of micro-units holds it: the event is quarantined (a failure is never cached as a value)."""
    from ingest.transactions import RowError, money
    for _ in range(2):
        with pytest.raises(RowError, match=r"is beyond what a BIGINT of micro-units holds"):
            money(Decimal(literal))


def test_minutes_are_read_as_strptime_reads_them():
    from datetime import datetime, timezone

    from ingest.clock import _minute_ms

    def strptime_ms(prefix):
        try:
            return int(datetime.strptime(prefix, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc).timestamp()) * 1000
        except ValueError:
            return "ValueError"

    def ours(prefix):
        try:
            return _minute_ms(prefix)
        except ValueError:
            return "ValueError"

    for prefix in ("2024-02-13T21:01", "2024-02-29T23:59", "2023-02-29T10:00", "2024-13-01T00:00", "2024-00-10T00:00",
                   "2024-01-32T00:00", "2024-01-00T00:00", "2024-01-01T24:00", "2024-01-01T23:60", "0000-01-01T00:00",
                   "1970-01-01T00:00", "\u0662\u0660\u0662\u0664-01-01T00:00", "2024-1-01T00:00"):
        assert ours(prefix) == strptime_ms(prefix), prefix
