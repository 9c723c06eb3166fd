"""The transforms on a realistic export: checks an accountant would do by hand.

The export is the real one (BALANCE_LOGS_CORPUS) when it is beside the checkout, else the sample export.
Totals are recomputed from the raw log text with a regular expression of our own, independent of
the ingest parser. The real export's own numbers, the ones docs/transforms.md quotes, are checked by the
tests that ask for `real_db` (skipped without the real export).
"""
from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine
from transform.invariants import check

# log-format.md §8.5: legacy blocks of 2023-12-12 whose balance moved by the net-of-VAT amount although vat
# was logged as 0. They are the only rows of the export that break the ledger identity.
IDENTITY_BREAKS = {
    "01HHEB0ZPCK6NMWZQE4DQBAGGX": -35_220_000,  # SAR 1800 + 270       -> 2034.78  (= 270 / 1.15)
    "01HHFAXARTZQ1ASGRRZN457TYM": -909_000,  # BHD 463 + 10            -> 472.091  (= 10 / 1.1)
    "01HHEN4MS3AN4F8P25MF0A2GEA": 727_000,  # BHD 96.5 − 8             -> 89.227   (= 8 / 1.1)
    "01HHEN4PVPVF2TV178YPES6CD8": 727_000,
    "01HHEN4S12A5ZGTKBDCDV1SPAX": 727_000,
}
SYNC_BLOCK = re.compile(r"\tStart syncing the balance \{\n(.*?)\n\}\n", re.S)
FIELD = re.compile(r"^\s+(id|currency|amount|vat): '?([^',]+)'?,?$", re.M)
NOT_IN_SYNC = "\tSubscription balance and payment balance are not in sync {"


def _connection(url: str):
    engine = make_engine(url, readonly=True)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.fixture(scope="module")
def db(realistic_db):
    """A realistic export: the real one when it is there, else the sample."""
    yield from _connection(realistic_db)


@pytest.fixture(scope="module")
def real_db(corpus_db):
    """The real export (skipped without it), for its own numbers."""
    yield from _connection(corpus_db)


@pytest.fixture(scope="module")
def raw_text(realistic_dir) -> list[str]:
    out = []
    for path in sorted(Path(realistic_dir).rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out.append((gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", "replace"))
    return out


def test_identity_holds_for_all_but_the_known_rows(real_db):
    rows = dict(real_db.execute(text("SELECT transaction_id, calc_difference FROM balance_events "
                                     "WHERE is_calc_mismatch")).all())
    assert rows == IDENTITY_BREAKS


def test_tolerance_separates_noise_from_errors(real_db):
    """The numbers behind BALANCE_TOLERANCE = 0.001 (docs/transforms.md#tolerance)."""
    noise = real_db.execute(text("SELECT MAX(ABS(calc_difference)), "
                                 "SUM(CASE WHEN calc_difference <> 0 THEN 1 ELSE 0 END) "
                                 "FROM balance_events WHERE NOT is_calc_mismatch")).one()
    smallest_error = real_db.execute(text("SELECT MIN(ABS(calc_difference)) FROM balance_events "
                                          "WHERE is_calc_mismatch")).scalar()
    assert noise == (500, 301)  # 301 rows off by at most 0.0005 (4-decimal balances printed to 3 decimals)
    assert smallest_error == 727_000


def test_totals_per_currency_equal_the_raw_log_text(db, raw_text):
    """Amounts are stored in micro-units: a literal with float noise (more than 6 decimals) is rounded
    half-even to the micro-unit, so the raw sum is compared after that rounding, and unrounded within a
    micro-unit."""
    seen, totals = set(), defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    unrounded = defaultdict(Decimal)
    micro = Decimal("0.000001")
    for text_ in raw_text:
        for block in SYNC_BLOCK.finditer(text_):
            fields = dict(FIELD.findall(block.group(1)))
            if fields["id"] in seen:
                continue
            seen.add(fields["id"])
            total = totals[fields["currency"]]
            total[0] += Decimal(fields["amount"]).quantize(micro, rounding=ROUND_HALF_EVEN)
            total[1] += Decimal(fields["vat"]).quantize(micro, rounding=ROUND_HALF_EVEN)
            total[2] += 1
            unrounded[fields["currency"]] += Decimal(fields["amount"])
    stored = {cur: [Decimal(a) / 10**6, Decimal(v) / 10**6, n] for cur, a, v, n in db.execute(text(
        "SELECT currency, SUM(amount), SUM(vat), COUNT(*) FROM balance_events GROUP BY currency"))}
    assert stored == dict(totals)
    assert all(abs(unrounded[cur] - stored[cur][0]) < micro for cur in stored)
    flows = {cur: [Decimal(a) / 10**6, Decimal(v) / 10**6, n] for cur, a, v, n in db.execute(text(
        "SELECT currency, SUM(total_amount), SUM(total_vat), SUM(count_transactions) FROM daily_flows "
        "GROUP BY currency"))}
    assert flows == dict(totals)


def test_every_not_in_sync_error_is_tied_to_exactly_one_transaction(db, raw_text):
    raw_errors = sum(t.count(NOT_IN_SYNC) for t in raw_text)
    tied = db.execute(text(
        "SELECT n.transaction_id, n.user_id = b.user_id FROM not_in_sync_events n "
        "LEFT JOIN balance_events b ON b.transaction_id = n.transaction_id")).all()
    assert len(tied) == raw_errors > 0
    assert all(tx is not None and same_user for tx, same_user in tied)
    # each error counts once, in the episode of its transaction (a refused transaction is in none)
    in_episodes = db.execute(text(
        "SELECT SUM(count_lambda_errors) FROM discrepancy_transactions WHERE role = 'out_of_sync'")).scalar()
    on_refused = db.execute(text(
        "SELECT COUNT(*) FROM not_in_sync_events n JOIN balance_events b ON b.transaction_id = n.transaction_id "
        "WHERE b.outcome = 'refused_negative_balance'")).scalar()
    assert in_episodes + on_refused == raw_errors
    assert db.execute(text("SELECT SUM(count_lambda_errors) FROM discrepancy_report")).scalar() == raw_errors - on_refused


def test_the_real_export_has_4361_not_in_sync_errors(real_db):
    assert real_db.execute(text("SELECT COUNT(*) FROM not_in_sync_events")).scalar() == 4361


def _independent_episodes(conn) -> tuple[int, set, dict]:
    """Runs of consecutive out-of-sync applied transactions per user, counted in Python from balance_events:
    (episodes, users, {currency: (open users with a gap, Σ |gap| of the latest transaction)})."""
    errors = {r[0] for r in conn.execute(text("SELECT transaction_id FROM not_in_sync_events"))}
    rows = conn.execute(text(
        "SELECT user_id, currency, transaction_id, new_balance, payment_balance FROM balance_events "
        "WHERE user_id IS NOT NULL AND coalesce(outcome, '') <> 'refused_negative_balance' "
        "ORDER BY user_id, ts, transaction_id")).all()
    episodes, users, exposure = 0, set(), {}
    previous_user, inside, last = None, False, None
    for user, currency, tx, new, payment in rows + [(None, None, None, None, None)]:
        if user != previous_user:
            if inside and last[4] is not None and last[4] != last[3]:
                n, total = exposure.get(last[1], (0, 0))
                exposure[last[1]] = (n + 1, total + abs(last[3] - last[4]))
            previous_user, inside = user, False
        if user is None:
            break
        out = tx in errors or (payment is not None and abs(payment - new) > 1000)
        if out and not inside:
            episodes += 1
            users.add(user)
        inside, last = out, (user, currency, tx, new, payment)
    return episodes, users, exposure


def test_open_exposure_is_each_users_current_gap_counted_once(db):
    episodes, users, exposure = _independent_episodes(db)
    assert db.execute(text("SELECT COUNT(*), COUNT(DISTINCT user_id) FROM discrepancy_report "
                           "WHERE kind = 'out_of_sync'")).one() == (episodes, len(users))
    stored = {cur: (n, total) for cur, n, total in db.execute(text(
        "SELECT currency, SUM(CASE WHEN amount_at_stake > 0 THEN 1 ELSE 0 END), SUM(amount_at_stake) "
        "FROM discrepancy_report WHERE kind = 'out_of_sync' AND status = 'open' GROUP BY currency"))}
    assert {cur: v for cur, v in stored.items() if v[0]} == exposure


def test_the_real_exports_open_exposure(real_db):
    """Counted independently (issue #15): ~220 episodes over ~200 users; BHD 75,893.743 over 100 users, SAR
    332,223.88 over 66."""
    assert real_db.execute(text("SELECT COUNT(*), COUNT(DISTINCT user_id) FROM discrepancy_report "
                                "WHERE kind = 'out_of_sync'")).one() == (221, 204)
    exposure = dict((cur, (n, total)) for cur, n, total in real_db.execute(text(
        "SELECT currency, SUM(CASE WHEN amount_at_stake > 0 THEN 1 ELSE 0 END), SUM(amount_at_stake) "
        "FROM discrepancy_report WHERE kind = 'out_of_sync' AND status = 'open' GROUP BY currency")))
    assert exposure["BHD"] == (100, 75_893_743_000)
    assert exposure["SAR"] == (66, 332_223_880_000)


def test_the_roll_forward_ties_out_to_the_users_balances(db):
    rows = db.execute(text("SELECT currency, month, opening_balance, first_seen_balances, credits, debits, "
                           "calculation_differences, continuity_gaps, closing_balance FROM balance_rollforward "
                           "ORDER BY currency, month")).all()
    assert rows
    previous: dict[str, int] = {}
    for cur, month, opening, first_seen, credits, debits, calc, gaps, closing in rows:
        assert opening == previous.get(cur, 0), (cur, month)
        assert opening + first_seen + credits - debits + calc + gaps == closing, (cur, month)
        previous[cur] = closing
    balances = dict(db.execute(text("SELECT currency, SUM(balance) FROM user_balances WHERE count_currencies = 1 "
                                    "GROUP BY currency")).all())
    assert previous == balances
    # credits and debits, computed apart from the transform: net of VAT, applied transactions of known users; and
    # the VAT inside them
    moved = {(cur, typ): (net, vat) for cur, typ, net, vat in db.execute(text(
        "SELECT currency, type, SUM(amount - coalesce(vat, 0)), SUM(coalesce(vat, 0)) FROM balance_events "
        "WHERE user_id IS NOT NULL AND coalesce(outcome, '') <> 'refused_negative_balance' GROUP BY currency, type"))}
    for cur in previous:
        credits, debits, credit_vat, debit_vat = db.execute(text(
            "SELECT SUM(credits), SUM(debits), SUM(credit_vat), SUM(debit_vat) FROM balance_rollforward "
            "WHERE currency = :c"), {"c": cur}).one()
        assert (credits, credit_vat) == moved.get((cur, "CREDIT"), (0, 0))
        assert (debits, debit_vat) == moved.get((cur, "DEBIT"), (0, 0))


REFUSED = text("SELECT transaction_id, is_overdraft_actual, overdraft_reason FROM balance_events "
               "WHERE outcome = 'refused_negative_balance'")
# the next transaction of the user after a refused one, when it continues from the refused one's old balance
FOLLOWERS = text("""
    SELECT n.is_continuity_break FROM balance_events r JOIN balance_events n
      ON n.user_id = r.user_id AND n.user_seq = r.user_seq + 1
    WHERE r.outcome = 'refused_negative_balance' AND n.old_balance = r.old_balance""")


def test_refused_transactions_never_moved_the_balance(db):
    """Blocks followed by the negative-balance guard (e.g. SAR 4590 - 5250 -> -660) were never applied."""
    refused = db.execute(REFUSED).all()
    assert refused and not any(r[1] for r in refused)
    assert all("actual" not in r[2] and "crossing" not in r[2] for r in refused)
    # the next transaction continues from the refused one's old balance, and that is no break
    assert not any(db.execute(FOLLOWERS).scalars().all())


def test_the_real_exports_8_refused_transactions(real_db):
    """The real export's 8 refused blocks; 7 are followed by a transaction that continues from them."""
    assert len(real_db.execute(REFUSED).all()) == 8
    assert len(real_db.execute(FOLLOWERS).scalars().all()) == 7
    # a user with refusals: the balance is that of the last applied transaction (a 1,000.00 SAR CALO_TEAM_PERKS
    # credit on 20.00), never one a refused block printed
    balance = real_db.execute(text("SELECT balance FROM user_balances "
                                   "WHERE user_id = '4ab67531-e103-4b29-92d6-246927bd64a0'")).scalar()
    assert balance == 1_020_000_000


def test_invariants_hold_on_the_corpus(db):
    assert [str(f) for f in check(db, 1000)] == []


def test_findings_on_the_corpus(real_db):
    by_detector = dict(real_db.execute(text("SELECT detector, COUNT(*) FROM anomalies GROUP BY detector")).all())
    # 504 breaks if refused transactions counted; the 7 right after a refusal are the chain working as it should
    assert by_detector["continuity_gap"] == 497
    assert by_detector["vat_mismatch"] == 5  # exactly the five identity breaks, explained as VAT not logged
    assert by_detector["test_user"] == 1
    assert by_detector["float_noise"] == 134
    assert "multi_currency" not in by_detector  # a user never appears in two currencies (§7)
    vat = {r[0] for r in real_db.execute(text("SELECT transaction_id FROM anomalies WHERE detector = 'vat_mismatch'"))}
    assert vat == set(IDENTITY_BREAKS)
    # amount spikes, each against the user's transactions of the same type, source and action (docs/transforms.md):
    # 73, where comparing all of a user's debits (or credits) at twice the median found 309
    spikes = Counter(json.loads(p)["action"] for (p,) in real_db.execute(text(
        "SELECT parameters FROM anomalies WHERE detector = 'amount_spike'")))
    assert spikes == {"DELIVERY_DEDUCTION": 48, "RENEW_SUBSCRIPTION": 10, "PAY_PENDING_AMOUNT": 5,
                      "ADD_DELIVERY_ADDONS": 3, "PURCHASE_ADDON_SUBSCRIPTION": 3, "FOREIGN_OBJECT": 3,
                      "INVAILID_ENTRY": 1}
    typos = real_db.execute(text("SELECT DISTINCT explanation FROM anomalies WHERE detector = 'unknown_action'")).all()
    assert typos == [("Action INVAILID_ENTRY is not a known action; it is probably a misspelling of INVALID_ENTRY "
                      "(1 edit away).",)]


def test_incremental_ingest_equals_full_refresh(realistic_dir, tmp_path):
    """Two ingests of halves give the same derived tables as one ingest of the whole (on a slice)."""
    from pipeline import run
    from tests.dbsnap import snapshot
    import settings as settings_mod
    streams = sorted(p for p in Path(realistic_dir).glob("*/*") if p.is_dir())
    streams = streams[200:260] if len(streams) >= 260 else streams[:60]  # the sample export has fewer streams
    derived = ("balance_events", "discrepancy_report", "discrepancy_transactions", "balance_rollforward",
               "anomalies", "user_balances", "daily_flows", "daily_health", "daily_event_counts")
    urls = {}
    for name, batches in (("incremental", [streams[1::2], streams]), ("full", [streams])):
        url = urls[name] = f"sqlite:///{tmp_path / name}.db"
        for batch in batches:
            run([str(p) for p in batch], settings_mod.load(env_file="/dev/null", DATABASE_URL=url), workers=0)
    snaps = {}
    for name, url in urls.items():
        snap = snapshot(url)
        snaps[name] = {t: snap[t] for t in derived}
    engine = make_engine(urls["full"], readonly=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM discrepancy_report")).scalar() > 0
    engine.dispose()
    # event ids are allocated in ingest order, so they differ; everything else must be equal
    for table in derived:
        assert len(snaps["incremental"][table]) == len(snaps["full"][table]), table
    assert _without_event_ids(snaps["incremental"], urls["incremental"]) == _without_event_ids(snaps["full"],
                                                                                              urls["full"])


def _without_event_ids(snap: dict, url: str) -> dict:
    from tests.dbsnap import reflect
    engine, meta = reflect(url)
    engine.dispose()
    out = {}
    for table, rows in snap.items():
        names = [c.name for c in meta.tables[table].columns if c.name not in ("run_id", "ingested_at")]
        drop = {i for i, n in enumerate(names) if n == "event_id"}
        out[table] = sorted((tuple(v for i, v in enumerate(r) if i not in drop) for r in rows), key=repr)
    return out
