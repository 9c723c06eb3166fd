"""sample: deterministic, realistic sample exports (format: shared/docs/log-format.md).

The checks here parse the generated files with a few regular expressions of their
own, so they do not depend on the ingestion code they are meant to test.
"""
from __future__ import annotations

import gzip
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sample import NIS_MEANING_SWITCH, generate, main
from sample.truth import read_truth
from vocabulary import DETECTORS, DISCREPANCY_KINDS
from sample.currencies import CURRENCIES
from sample.text import lines as r
from sample.text.ids import CROCKFORD, ulid_text, uuid_text
from sample.text.jsformat import inspect_string, js_number

ROOT = Path(__file__).resolve().parents[1]
EVENT_START = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ", re.M)
# Shape A after the export timestamp: `<innerTs>\t<requestId>\t<LEVEL>\t<body>`
SHAPE_A = re.compile(r"^(\S+)\t([0-9a-f-]{36}|undefined)\t(INFO|ERROR|WARN|DEBUG|TRACE)\t(.*)", re.S)
STREAM_NAME = re.compile(r"^(\d{4}-\d\d-\d\d)-\[\$LATEST\][0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
FIELD = re.compile(r"^ {2,4}(\w+): (.*?),?$", re.M)
TOLERANCE = Decimal("0.001")
SWITCH_TS = NIS_MEANING_SWITCH.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- reading a generated export with nothing but regular expressions -------------------------

def read_texts(root: Path) -> dict[Path, str]:
    return {path: gzip.decompress(path.read_bytes()).decode("utf-8") for path in sorted(root.rglob("000000.gz"))}


def split_events(text: str) -> list[tuple[str, str]]:
    """(timestamp, message) per event, in file order, without the trailing empty line."""
    starts = [m.start() for m in EVENT_START.finditer(text)] + [len(text)]
    return [(text[a:a + 24], text[a + 25:b].rstrip("\n")) for a, b in zip(starts, starts[1:])]


def body_of(message: str) -> tuple[str, str, str] | None:
    """(requestId, level, body) of a shape-A message."""
    m = SHAPE_A.match(message)
    return (m.group(2), m.group(3), m.group(4)) if m else None


def sync_blocks(texts: dict[Path, str]) -> list[dict]:
    """Every sync block as a dict of printed values, with its timestamp, request id and what follows it."""
    blocks = []
    for text in texts.values():
        events = sorted(split_events(text), key=lambda e: e[0])   # stable: same-ms events keep their order
        for i, (ts, message) in enumerate(events):
            parsed = body_of(message)
            if parsed and parsed[2].startswith("Start syncing the balance {"):
                block = dict(FIELD.findall(parsed[2]))
                block.update(_ts=ts, _rid=parsed[0], _after=[
                    body_of(m)[2] if body_of(m) else m for _, m in events[i + 1:i + 4]
                    if body_of(m) is None or body_of(m)[0] == parsed[0]])
                blocks.append(block)
    return blocks


def value(text: str) -> Decimal:
    return Decimal(text.strip("'"))


def rule_holds(block: dict) -> bool:
    old, new, net = value(block["oldBalance"]), value(block["newBalance"]), value(block["amount"]) - value(block["vat"])
    kind = block.get("type", "").strip("'")
    if kind:
        expected = old - net if kind == "DEBIT" else old + net
        return abs(new - expected) <= TOLERANCE
    return min(abs(new - (old - net)), abs(new - (old + net))) <= TOLERANCE   # legacy: either direction


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The 14-day / 300-user sample that `make run` and the shared fixtures use."""
    out = tmp_path_factory.mktemp("sample14")
    stats = generate(out, days=14, users=300, seed=7)
    return out, stats, read_texts(out)


@pytest.fixture(scope="module")
def blocks(sample):
    return sync_blocks(sample[2])


# --- determinism ---------------------------------------------------------------------------

def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_whatever_the_workers(tmp_path):
    generate(tmp_path / "a", days=4, users=150, seed=3, workers=2)
    generate(tmp_path / "b", days=4, users=150, seed=3, workers=1)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a and a == b


def test_different_seed_gives_different_files(tmp_path):
    generate(tmp_path / "a", days=3, users=100, seed=3)
    generate(tmp_path / "b", days=3, users=100, seed=4)
    assert set(tree(tmp_path / "a")) != set(tree(tmp_path / "b"))


# --- layout and physical format -----------------------------------------------------------

def test_layout_is_task_then_streams_then_one_gzip_object(sample):
    out, stats, texts = sample
    tasks = [p for p in out.iterdir()]
    assert [p.name for p in tasks] == [stats.export_task] and UUID.match(stats.export_task)
    streams = list(tasks[0].iterdir())
    assert len(streams) == stats.streams
    for folder in streams:
        assert STREAM_NAME.match(folder.name), folder.name
        assert [p.name for p in folder.iterdir()] == ["000000.gz"]
        raw = (folder / "000000.gz").read_bytes()
        assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[9] == 0xFF    # no stored name, OS byte 255


def test_every_event_has_the_export_shape(sample):
    for path, text in sample[2].items():
        assert text.endswith("\n\n") and not text.endswith("\n\n\n"), path
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if EVENT_START.match(line):
                assert i == 0 or lines[i - 1] == "", f"{path}:{i}: no empty line before the event"
        for ts, message in split_events(text):
            first = message.split("\n", 1)[0]
            if first.startswith(("REPORT ", "XRAY ")):
                assert all(line.endswith("\t") for line in message.split("\n")), message
            elif first.startswith(("START ", "END ", "INIT_START ")):
                assert not first.endswith("\t") and "\n" not in message
            elif not first.startswith("{"):
                a = SHAPE_A.match(message)
                assert a and a.group(1) == ts, message


def test_stream_date_is_its_first_day_and_one_cold_start_per_stream(sample):
    for path, text in sample[2].items():
        events = sorted(split_events(text), key=lambda e: e[0])
        assert path.parent.name[:10] == events[0][0][:10]
        assert sum(m.startswith("INIT_START Runtime Version: nodejs:") for _, m in events) == 1
        reports = [m for _, m in events if m.startswith("REPORT ")]
        assert "Init Duration" in reports[0] and not any("Init Duration" in m for m in reports[1:])


def test_chunks_are_out_of_order_in_some_files(sample):
    texts = sample[2]
    backwards = [p for p, t in texts.items() if any(b[0] < a[0] for a, b in zip(split_events(t), split_events(t)[1:]))]
    assert len(backwards) >= len(texts) // 10
    tail_first = 0
    for path in backwards:
        seen_end = set()
        for _, message in split_events(texts[path]):
            if message.startswith("END RequestId: "):
                seen_end.add(message.split()[2])
            elif message.startswith("START RequestId: ") and message.split()[2] in seen_end:
                tail_first += 1
    assert tail_first > 0, "no invocation has its END before its START"


# --- content ------------------------------------------------------------------------------

def test_every_message_kind_is_present(sample, blocks):
    texts = "".join(sample[2].values())
    for needle in ("INIT_START Runtime Version: nodejs:", "\tDuration: ", "Init Duration: ", "\nXRAY TraceId: 1-",
                   "\tINFO\tProcessing message ", "\tINFO\tSubscriptionBalanceUpdated event published\n",
                   "\tERROR\tSubscription balance and payment balance are not in sync {\n",
                   "Skipping the balance sync for create subscription, it will be synced",
                   "Skipping the balance sync for create web subscription, it will be synced",
                   "\tINFO\tSkipping the process, balance is already synced from other listeners\n",
                   "\tINFO\tBalance is already synced from other listeners\n",
                   "Update Payment Balance Flag is set to false { transactionAction: '",
                   "\tINFO\t{\n  message: 'Subscriber will have a negative balance",
                   "Transaction Lock created!!!!!!!!!!!!!!!!!!!!!!!!!!! Rr {\n  dirty: {},",
                   "\tERROR\tAn error occured while syncing the balance TypeError:",
                   "\tERROR\tInvoke Error \t{\"errorType\"",
                   '"Name":"synBalanceError"', '"Name":"subBalanceDiscrapancy"', '"Name":"negativeBalance"',
                   "    metadata: undefined,\n", "    metadata: `{", "    userId: 'random-uuid',",
                   "    type: 'CREDIT',", "    source: 'REFUND',", "    amount: -"):
        assert needle in texts, needle
    guards = [b for b in blocks if b["_after"] and b["_after"][0].startswith("{\n  message: 'Subscriber")]
    assert guards, "no guard after a sync block"
    assert {b["currency"].strip("'") for b in blocks} == set(CURRENCIES)
    assert any("type" not in b for b in blocks) and any("type" in b for b in blocks)


def test_balance_rule_holds_except_on_the_listed_ledger_breaks(sample, blocks):
    stats = sample[1]
    broken = {b["id"].strip("'") for b in blocks if not rule_holds(b)}
    assert broken == set(stats.ledger_break_tx_ids) and broken
    for b in blocks:
        if b["id"].strip("'") in broken:
            assert b["vat"] == "0" and "type" not in b


def test_vat_follows_the_currency_rate(blocks):
    for b in blocks:
        cur = CURRENCIES[b["currency"].strip("'")]
        amount, vat = value(b["amount"]), value(b["vat"])
        assert -amount.as_tuple().exponent <= cur.places and -vat.as_tuple().exponent <= cur.places
        if b.get("source") in ("'PAYMENT'", "'REFUND'"):
            assert vat == (amount * cur.vat_rate / (1 + cur.vat_rate)).quantize(cur.quantum, "ROUND_HALF_UP")
        elif "source" in b:
            assert vat == 0


def test_continuity_breaks_only_where_listed(sample, blocks):
    stats = sample[1]
    unapplied = set(stats.unapplied_tx_ids)
    by_user = defaultdict(list)
    for b in blocks:
        by_user[b["userId"]].append(b)
    breaks = set()
    for user_blocks in by_user.values():
        user_blocks.sort(key=lambda b: b["_ts"])
        balance = None
        for b in user_blocks:
            if balance is not None and abs(value(b["oldBalance"]) - balance) > TOLERANCE:
                breaks.add(b["id"].strip("'"))
            balance = value(b["oldBalance"] if b["id"].strip("'") in unapplied else b["newBalance"])
    assert breaks == set(stats.continuity_break_tx_ids) and breaks


def test_not_in_sync_follows_blocks_whose_payment_balance_differs(sample, blocks):
    assert sample[1].nis_switch_at == SWITCH_TS   # the default sample spans the 2024-01-08 change
    switched = checked = 0
    for b in blocks:
        nis = [a for a in b["_after"] if a.startswith("Subscription balance and payment balance are not in sync")]
        if "paymentBalance" in b and not b["_after"][0].startswith("{"):
            assert bool(nis) == (value(b["paymentBalance"]) != value(b["newBalance"])), b
        if nis:
            fields = dict(FIELD.findall(nis[0]))
            after = b["_ts"] >= SWITCH_TS
            assert value(fields["subscriptionBalance"]) == value(b["newBalance" if after else "oldBalance"])
            if "paymentBalance" in b:
                assert fields["paymentBalance"] == b["paymentBalance"]
            switched += after
            checked += 1
    assert 0 < switched < checked


def ulid_ms(ulid: str) -> int:
    return int("".join(f"{CROCKFORD.index(c):05b}" for c in ulid[:10]), 2)


def epoch_ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def test_not_in_sync_uses_the_new_meaning_when_the_range_does_not_span_the_change(tmp_path):
    stats = generate(tmp_path, days=3, users=300, seed=2, start="2023-12-20")
    assert stats.nis_switch_at == "2023-12-20T00:00:00.000Z"
    pairs = [(b, [a for a in b["_after"] if a.startswith("Subscription balance and payment")])
             for b in sync_blocks(read_texts(tmp_path))]
    pairs = [(b, nis[0]) for b, nis in pairs if nis]
    assert pairs and all(dict(FIELD.findall(nis))["subscriptionBalance"] == b["newBalance"] for b, nis in pairs)


def test_transaction_ids_are_unique_ulids_made_just_before_the_log_line(blocks):
    ids = [b["id"].strip("'") for b in blocks]
    assert len(ids) == len(set(ids)) and all(ULID.match(i) for i in ids)
    for b in blocks:
        # created when the message was sent: seconds before it is logged (~3 min for a redelivery)
        assert 0 <= epoch_ms(b["_ts"]) - ulid_ms(b["id"].strip("'")) < 200_000


def test_redelivered_messages_fail_then_succeed_once(sample):
    stats, texts = sample[1], sample[2]
    attempts = defaultdict(list)
    for text in texts.values():
        events = sorted(split_events(text), key=lambda e: e[0])
        for i, (ts, message) in enumerate(events):
            parsed = body_of(message)
            if parsed and parsed[2].startswith("Processing message "):
                following = body_of(events[i + 1][1]) if i + 1 < len(events) else None
                attempts[parsed[2].split()[-1]].append((ts, parsed[0], following and following[2][:30]))
    repeated = {k: sorted(v) for k, v in attempts.items() if len(v) > 1}
    assert set(repeated) == set(stats.redelivered_message_ids)
    for tries in repeated.values():
        assert len({rid for _, rid, _ in tries}) == len(tries)          # each attempt in its own invocation
        assert all(t[2].startswith("An error occured") for t in tries[:-1])
        assert tries[-1][2].startswith("Start syncing the balance")


def test_stats_match_the_files(sample, blocks):
    out, stats, texts = sample
    events = [e for t in texts.values() for e in split_events(t)]
    assert stats.events == len(events)
    assert stats.bytes_uncompressed == sum(len(t.encode()) for t in texts.values())
    assert stats.transactions == len(blocks)
    assert stats.legacy_transactions == sum("type" not in b for b in blocks)
    assert stats.not_in_sync == sum("not in sync {" in m for _, m in events)
    assert stats.skips == sum(bool(re.search(r"\t(Skipping the|Balance is already synced)", m)) for _, m in events)
    assert stats.invocations == sum(m.startswith("START ") for _, m in events)
    assert stats.messages == sum("\tProcessing message " in m for _, m in events)
    for code in CURRENCIES:
        mine = [b for b in blocks if b["currency"] == f"'{code}'"]
        assert stats.amount_by_currency.get(code, 0) == sum((value(b["amount"]) for b in mine), Decimal(0))
        assert stats.vat_by_currency.get(code, 0) == sum((value(b["vat"]) for b in mine), Decimal(0))
    printed = {b["id"].strip("'") for b in blocks}
    for ids in (stats.continuity_break_tx_ids, stats.ledger_break_tx_ids, stats.unapplied_tx_ids,
                stats.overdraft_tx_ids, stats.negative_amount_tx_ids):
        assert ids and set(ids) <= printed
    assert not set(stats.guard_only_tx_ids) & printed


def test_twins_and_junk(tmp_path):
    stats = generate(tmp_path, days=3, users=200, seed=5, twins=True, junk=True)
    twins = list(tmp_path.rglob("000000"))
    assert len(twins) == stats.twin_files > 0
    for twin in twins:
        assert twin.read_bytes() == gzip.decompress((twin.parent / "000000.gz").read_bytes())
    names = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert ".DS_Store" in names and "._000000.gz" in names
    assert list((tmp_path / "__MACOSX").rglob("._000000.gz"))
    assert stats.junk_files == sum(n in (".DS_Store", "._000000.gz") for n in names)


# --- --truth: detector cases and the list of every finding -------------------------------------

@pytest.fixture(scope="module")
def truth_sample(tmp_path_factory):
    """The default sample's arguments, with --truth."""
    out = tmp_path_factory.mktemp("truth")
    stats = generate(out / "export", days=14, users=300, seed=7, truth=out / "truth.csv")
    return stats, read_texts(out / "export"), read_truth(out / "truth.csv")


def logged_blocks(texts: dict[Path, str]) -> dict[str, list[tuple[str, str]]]:
    """(time, text) of every sync block, by transaction id, in time order."""
    blocks = defaultdict(list)
    for text in texts.values():
        for ts, message in split_events(text):
            parsed = body_of(message)
            if parsed and parsed[2].startswith("Start syncing the balance {"):
                blocks[re.search(r"id: '(\w+)'", parsed[2]).group(1)].append((ts, parsed[2]))
    return {tx_id: sorted(found) for tx_id, found in blocks.items()}


def test_truth_lists_a_finding_of_every_kind_and_near_misses(truth_sample):
    stats, _, rows = truth_sample
    findings = Counter(r["kind"] for r in rows if r["expect"] == "finding")
    assert set(findings) == set(DETECTORS) | set(DISCREPANCY_KINDS)
    assert stats.truth_counts == dict(findings)
    assert {r["kind"] for r in rows if r["expect"] == "none"} == {
        "amount_spike", "rapid_deduction", "off_hours_manual", "duplicate_transaction"}
    assert rows == sorted(rows, key=lambda r: (r["time"], r["kind"], r["transaction_id"], r["detail"]))


def test_truth_names_logged_blocks_at_their_logged_time(truth_sample):
    stats, texts, rows = truth_sample
    blocks = logged_blocks(texts)
    assert len(blocks) == stats.transactions
    assert sum(len(found) for found in blocks.values()) == stats.transactions + stats.redelivered_copies
    for row in rows:
        if row["transaction_id"]:
            assert blocks[row["transaction_id"]][0][0] == row["time"], row
    untied = {r["detail"] for r in rows if r["kind"] == "untied_error"}
    events = [m for text in texts.values() for _, m in split_events(text)]
    assert stats.not_in_sync == sum("not in sync {" in m for m in events)
    # an untied error's message logs no sync block: Processing message, then the error
    for message_id in untied:
        request = next(body_of(m)[0] for m in events if m.endswith(f"Processing message {message_id}"))
        assert [body_of(m)[2].split(" {")[0] for m in events if body_of(m) and body_of(m)[0] == request
                and not body_of(m)[2].startswith("Processing")] == [r.NOT_IN_SYNC]


def test_redelivered_copies_are_identical_or_differ_in_metadata_only(truth_sample):
    _, texts, rows = truth_sample
    blocks = logged_blocks(texts)
    copies = {r["transaction_id"]: r["expect"] for r in rows if r["kind"] == "duplicate_transaction"}
    assert sorted(copies.values()) == ["finding"] * 3 + ["none"] * 3
    for tx_id, expect in copies.items():
        (first_ts, first), (again_ts, again) = blocks[tx_id]
        assert 80 <= (epoch_ms(again_ts) - epoch_ms(first_ts)) / 1000 <= 100   # redelivered ~90 s later
        if expect == "none":
            assert again == first
        else:
            differ = [(a, b) for a, b in zip(first.splitlines(), again.splitlines()) if a != b]
            assert len(differ) == 1 and differ[0][0].lstrip().startswith("metadata: ")


def test_truth_cases_leave_the_default_sample_alone(sample):
    """Without --truth none of the cases is injected (the same arguments give the same files as always)."""
    out, stats, texts = sample
    assert stats.redelivered_copies == 0 and stats.truth_counts == {}
    assert max(len(found) for found in logged_blocks(texts).values()) == 1


# --- byte-exact against events of the real export (copied from shared/docs/log-format.md) ---------

REAL_FULL_BLOCK = """2024-02-13T21:01:05.050Z 2024-02-13T21:01:05.050Z\t405bb962-f57b-521d-81a1-e7272fbf6077\tINFO\t\
Start syncing the balance {
  transaction: {
    id: '01HPJ4BT09Y3GYQQZD1XFEGDHT',
    type: 'DEBIT',
    source: 'MANUAL_DEDUCTION',
    action: 'DELIVERY_DEDUCTION',
    userId: 'df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02',
    paymentBalance: 16.4,
    updatePaymentBalance: true,
    metadata: '{"walletId":"wallet#df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02","deliveryId":\
"ef86902c-c781-4769-8454-59c85e9cfc33","walletSk":"ef86902c-c781-4769-8454-59c85e9cfc33"}',
    currency: 'BHD',
    amount: 8,
    vat: 0,
    oldBalance: 24.4,
    newBalance: 16.4
  }
}

"""
REAL_LEGACY_BLOCK = """2023-12-12T06:32:56.714Z 2023-12-12T06:32:56.714Z\te6da31dd-21be-5e56-a8dd-6c2f217da942\tINFO\t\
Start syncing the balance {
  transaction: {
    id: '01HHEBMC9TMTY7D3G906RMNFME',
    userId: '5416c645-2ddd-4c73-a383-a80daafc23ca',
    currency: 'BHD',
    amount: 34.5,
    vat: 3.136,
    oldBalance: 225.90753636363627,
    newBalance: 257.27153636363624
  }
}

"""
REAL_LOCK = """2024-04-25T12:17:23.211Z 2024-04-25T12:17:23.211Z\tf79c4d9b-216a-5bd1-b4c4-133f6d681f3b\tINFO\t\
Transaction Lock created!!!!!!!!!!!!!!!!!!!!!!!!!!! Rr {
  dirty: {},
  original: {
    id: 'trxLock#f50d0778-fab9-47c1-bf7d-a23e9649e127',
    sk: '01HWAK0PEB55WS1WQW8J339CPV',
    userId: 'f50d0778-fab9-47c1-bf7d-a23e9649e127',
    dataType: 'trxLock',
    createdAt: '2024-04-25T12:17:23.150Z',
    updatedAt: '2024-04-25T12:17:23.150Z',
    ttl: 1715861843,
    tk: '2024-04-25T12:17:23.150Z',
    fk: '2024-04-25T12:17:23.150Z'
  },
  attributes: [
    'id',        'sk',
    'userId',    'dataType',
    'createdAt', 'updatedAt',
    'ttl',       'tk',
    'fk'
  ],
  id: 'trxLock#f50d0778-fab9-47c1-bf7d-a23e9649e127',
  sk: '01HWAK0PEB55WS1WQW8J339CPV',
  userId: 'f50d0778-fab9-47c1-bf7d-a23e9649e127',
  dataType: 'trxLock',
  createdAt: '2024-04-25T12:17:23.150Z',
  updatedAt: '2024-04-25T12:17:23.150Z',
  ttl: 1715861843,
  tk: '2024-04-25T12:17:23.150Z',
  fk: '2024-04-25T12:17:23.150Z',
  newEntity: false
}

"""
REAL_REPORT = ("2024-02-13T21:01:05.410Z REPORT RequestId: 405bb962-f57b-521d-81a1-e7272fbf6077\tDuration: 617.70 ms\t"
               "Billed Duration: 618 ms\tMemory Size: 1024 MB\tMax Memory Used: 102 MB\tInit Duration: 744.70 ms\t\n"
               "XRAY TraceId: 1-65cbd88f-05d439337d712642907d32e5\tSegmentId: 161f72f65e42c349\tSampled: true\t\n\n")


def test_renderers_reproduce_real_events_byte_for_byte():
    full = r.sync_full_body(
        "01HPJ4BT09Y3GYQQZD1XFEGDHT", "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION",
        "df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02", 16.4,
        '{"walletId":"wallet#df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02","deliveryId":"ef86902c-c781-4769-8454-59c85e9cfc33",'
        '"walletSk":"ef86902c-c781-4769-8454-59c85e9cfc33"}', "BHD", "8", "0", 24.4, 16.4)
    assert r.app_event(epoch_ms("2024-02-13T21:01:05.050Z"), "405bb962-f57b-521d-81a1-e7272fbf6077", "INFO",
                       full) == REAL_FULL_BLOCK
    legacy = r.sync_legacy_body("01HHEBMC9TMTY7D3G906RMNFME", "5416c645-2ddd-4c73-a383-a80daafc23ca", "BHD", "34.5",
                                "3.136", 225.90753636363627, 257.27153636363624)
    assert r.app_event(epoch_ms("2023-12-12T06:32:56.714Z"), "e6da31dd-21be-5e56-a8dd-6c2f217da942", "INFO",
                       legacy) == REAL_LEGACY_BLOCK
    lock = r.lock_body("f50d0778-fab9-47c1-bf7d-a23e9649e127", "01HWAK0PEB55WS1WQW8J339CPV",
                       epoch_ms("2024-04-25T12:17:23.150Z"))
    assert r.app_event(epoch_ms("2024-04-25T12:17:23.211Z"), "f79c4d9b-216a-5bd1-b4c4-133f6d681f3b", "INFO",
                       lock) == REAL_LOCK
    report = r.report_text("405bb962-f57b-521d-81a1-e7272fbf6077", 617.70, 1024, 102, 744.70,
                           ("1-65cbd88f-05d439337d712642907d32e5", "161f72f65e42c349"))
    assert r.raw_event(epoch_ms("2024-02-13T21:01:05.410Z"), report) == REAL_REPORT
    user = "8b293101-dfef-43ed-9095-ac05a1507d34"
    assert r.emf_text("negativeBalance", 1702480893805, user, "LEAVING_THE_COUNTRY") == (
        '{"_aws":{"Timestamp":1702480893805,"CloudWatchMetrics":[{"Namespace":"apiService","Dimensions":[["service"]],'
        '"Metrics":[{"Name":"negativeBalance","Unit":"Count"}]}]},"service":"syncBalanceSQS","negativeBalance":1,'
        '"userId":"8b293101-dfef-43ed-9095-ac05a1507d34","action":"LEAVING_THE_COUNTRY"}')
    assert r.guard_body("4ab67531-e103-4b29-92d6-246927bd64a0", "01HPPKFWBMDN52VNPWPK3GAY0Z", 4590, -660) == (
        "{\n  message: 'Subscriber will have a negative balance due to this action, the process will terminate.',\n"
        "  data: {\n    transactionId: '01HPPKFWBMDN52VNPWPK3GAY0Z',\n"
        "    userId: '4ab67531-e103-4b29-92d6-246927bd64a0',\n    currentBalance: 4590,\n    newBalance: -660\n  }\n}")


# --- values as Node prints them -------------------------------------------------------------

@pytest.mark.parametrize("number, text", [
    (8, "8"), (8.0, "8"), (-1.5, "-1.5"), (0.1 + 0.2, "0.30000000000000004"), (1.1 * 3, "3.3000000000000003"),
    (-0.0, "0"), (1e21, "1e+21"), (1.5e-7, "1.5e-7"), (0.00001, "0.00001"),
    (123456789012345680000.0, "123456789012345680000"),
])
def test_js_number(number, text):
    assert js_number(number) == text


def test_inspect_string_quoting():
    assert inspect_string('{"a":1}') == "'{\"a\":1}'"
    assert inspect_string("don't") == '"don\'t"'
    assert inspect_string('{"m":"don\'t"}') == '`{"m":"don\'t"}`'
    assert inspect_string('{"a":"[{\\"id\\":1}]"}') == "'{\"a\":\"[{\\\\\"id\\\\\":1}]\"}'"
    assert inspect_string("a\nb") == "'a\\nb'"


def test_identifiers():
    real = "01HPJ4BT09Y3GYQQZD1XFEGDHT"   # logged 2024-02-13T21:01:05.050Z
    assert ulid_text(ulid_ms(real), 0)[:10] == real[:10] and ulid_text(ulid_ms(real), 0)[10:] == "0" * 16
    assert 0 < epoch_ms("2024-02-13T21:01:05.050Z") - ulid_ms(real) < 5000
    assert len(ulid_text(2 ** 48 - 1, 2 ** 80 - 1)) == 26
    assert UUID.match(uuid_text(2 ** 128 - 1)) and uuid_text(0)[14] == "4" and uuid_text(0, 5)[14] == "5"


# --- command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: --out, --days, --users, --seed"),
    (["--days", "x", "--users", "1", "--seed", "1", "--out", "{tmp}"], "argument --days: invalid int value: 'x'"),
    (["--days", "0", "--users", "1", "--seed", "1", "--out", "{tmp}"], "--days must be a whole number from 1 to"),
    (["--days", "1", "--users", "-3", "--seed", "1", "--out", "{tmp}"], "--users must be a whole number from 1 to"),
    (["--days", "1", "--users", "1", "--seed", "1", "--start", "2024-13-01", "--out", "{tmp}"],
     "--start '2024-13-01' is not a date; use YYYY-MM-DD"),
    (["--days", "1", "--users", "1", "--seed", "1", "--out", "{full}"], "is not empty; pass a new or empty folder"),
    (["--days", "1", "--users", "1", "--seed", "1", "--out", "{file}"], "is a file; pass a new or empty folder"),
    (["--days", "1", "--users", "1", "--seed", "1", "--out", "{tmp}", "--truth", "{tmp}/truth.csv"],
     "is inside --out"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    args = [a.format(tmp=tmp_path / "new", full=tmp_path / "full", file=tmp_path / "file") for a in args]
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("module", ["sample", "ingest.sample"])   # the second is the old name, kept as an alias
def test_cli_writes_a_sample_and_prints_one_line(tmp_path, module):
    done = subprocess.run([sys.executable, "-m", module, "--out", str(tmp_path / "out"), "--days", "2",
                           "--users", "50", "--seed", "1", "--stats-json", str(tmp_path / "stats.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("sample: ")
    assert list((tmp_path / "out").rglob("000000.gz")) and (tmp_path / "stats.json").exists()
