"""report.html parsed: self-contained, and every card and table figure equal to the database."""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

import pytest
from sqlalchemy import text

import reports
from queries.pseudonym import pseudonymise
from test_reports_fixture import FORMULA_USER, report_db, report_engine, report_settings  # noqa: F401

PLACES = {"BHD": 3, "SAR": 2}
TOLERANCE = 1000  # BALANCE_TOLERANCE 0.001, in micro-units


def amount(micros, currency) -> str:
    """Micro-units as the report writes them: half-up to the currency's places (2 without a currency)."""
    return str((Decimal(int(micros)) / 1_000_000).quantize(Decimal(1).scaleb(-PLACES.get(currency, 2)),
                                                          rounding=ROUND_HALF_UP))


# Open exposure counted straight from the transactions, without discrepancy_report: each user's latest applied
# transaction (by time, then id) before :until that is out of sync (its wallet differs from its balance beyond
# the tolerance, or the Lambda logged "not in sync" for it) puts its gap at stake, once.
EXPOSURE_FROM_TRANSACTIONS = """
SELECT currency, COUNT(*) AS count_users, SUM(ABS(gap)) AS exposure,
       SUM(CASE WHEN gap > 0 THEN gap ELSE 0 END) AS subscription_above,
       SUM(CASE WHEN gap < 0 THEN -gap ELSE 0 END) AS subscription_below
FROM (SELECT currency, transaction_id, new_balance - payment_balance AS gap,
             ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts DESC, transaction_id DESC) AS from_end
      FROM balance_events
      WHERE ts < :until AND COALESCE(outcome, '') <> 'refused_negative_balance') latest
WHERE from_end = 1
  AND (ABS(gap) > :tolerance OR transaction_id IN (SELECT transaction_id FROM not_in_sync_events
                                                   WHERE transaction_id IS NOT NULL))
GROUP BY currency"""


def exposure_from_transactions(conn, until: str = "9999", tolerance: int = TOLERANCE) -> dict[str, dict]:
    """{currency: {count_users, exposure, subscription_above, subscription_below}} in micro-units."""
    return {r["currency"]: {k: int(r[k] or 0) for k in ("count_users", "exposure", "subscription_above",
                                                        "subscription_below")}
            for r in conn.execute(text(EXPOSURE_FROM_TRANSACTIONS), {"until": until, "tolerance": tolerance})
            .mappings()}


def rollforward_from_transactions(conn, tz: str) -> tuple[list[dict], dict, dict]:
    """Computed apart from reports/: balance_rollforward's rows in order; gross and VAT per (currency, month,
    type) of the applied transactions of known users; the exposure at each month's end (the next month's first
    day, or the day after the data's last) from the users' latest transactions before it."""
    from reports.periods import day_start_utc, next_day
    months = [dict(r) for r in conn.execute(text("SELECT * FROM balance_rollforward ORDER BY currency, month"))
              .mappings()]
    moved = {(cur, month, typ): (int(gross), int(vat)) for cur, month, typ, gross, vat in conn.execute(text(
        "SELECT currency, substr(business_date, 1, 7), type, SUM(amount), SUM(coalesce(vat, 0)) "
        "FROM balance_events WHERE user_id IS NOT NULL AND coalesce(outcome, '') <> 'refused_negative_balance' "
        "GROUP BY 1, 2, 3"))}
    last_day = conn.execute(text("SELECT MAX(business_date) FROM balance_events")).scalar_one()
    at_end = {}
    for month in sorted({m["month"] for m in months}):
        year, mon = int(month[:4]), int(month[5:])
        day = min(date(year + mon // 12, mon % 12 + 1, 1).isoformat(), next_day(last_day))
        at_end[month] = exposure_from_transactions(conn, until=day_start_utc(day, tz))
    return months, moved, at_end


def open_episodes(conn) -> list[dict]:
    return [dict(r) for r in conn.execute(text(
        "SELECT currency, user_id, business_date, current_gap, amount_at_stake FROM discrepancy_report "
        "WHERE kind = 'out_of_sync' AND status = 'open'")).mappings()]


def age_bucket(days: int) -> str:
    return ("count_age_0_7" if days <= 7 else "count_age_8_30" if days <= 30 else "count_age_31_90" if days <= 90
            else "count_age_over_90")


class Page(HTMLParser):
    """Collects what the tests compare: cards (data-kpi), table cells (data-col), scripts, links, charts."""

    def __init__(self, html: str):
        super().__init__()
        self.kpis: dict[tuple[str, str | None], str] = {}
        self.tables: dict[str, list[dict]] = {}
        self.headers: dict[str, list[tuple[str, str]]] = {}  # table -> [(data-col, header text)]
        self.styles: list[str] = []
        self._th = self._style = None
        self.scripts: list[dict] = []
        self.links: list[dict] = []
        self.chart_divs = 0
        self._table = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-kpi" in a:
            self.kpis[(a["data-kpi"], a.get("data-currency"))] = a["data-value"]
        if tag == "table" and "data-table" in a:
            self._table = a["data-table"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append({})
        elif tag == "td" and self._table and "data-col" in a:
            self.tables[self._table][-1][a["data-col"]] = a["data-value"]
        elif tag == "th" and self._table and "data-col" in a:
            self._th = a["data-col"]
            self.headers.setdefault(self._table, []).append((self._th, ""))
        elif tag == "style":
            self._style = True
        elif tag == "script":
            self.scripts.append(a)
        elif tag in ("link", "img", "iframe"):
            self.links.append(a)
        if tag == "div" and "plotly-graph-div" in (a.get("class") or ""):
            self.chart_divs += 1

    def handle_data(self, data):
        if self._th:
            col, text_ = self.headers[self._table][-1]
            self.headers[self._table][-1] = (col, text_ + data)
        if self._style:
            self.styles.append(data)

    def handle_endtag(self, tag):
        if tag == "th":
            self._th = None
        if tag == "style":
            self._style = None
        if tag == "table":
            self.tables[self._table] = [r for r in self.tables[self._table] if r]  # drop the header row
            self._table = None


@pytest.fixture(scope="module")
def page(report_engine, report_settings, tmp_path_factory):
    """build(**opts) -> (parsed page, html); each set of options is written once per database."""
    cache: dict = {}

    def build(**opts) -> tuple[Page, str]:
        key = tuple(sorted(opts.items()))
        if key not in cache:
            [path] = reports.build("html", report_engine, report_settings, tmp_path_factory.mktemp("html"), **opts)
            html = path.read_text(encoding="utf-8")
            cache[key] = Page(html), html
        return cache[key]
    return build


def test_page_is_self_contained(page):
    parsed, html = page()
    assert all("src" not in s for s in parsed.scripts), "no external scripts"
    assert parsed.links == []  # no stylesheets, images or frames fetched from anywhere
    assert "cdn.plot.ly/plotly" not in "".join(s.get("src", "") for s in parsed.scripts)
    assert html.count("plotly.js v") >= 1  # the bundle itself is inline
    assert len(html) > 3_000_000
    assert parsed.chart_divs == 5


def test_styles_are_css_with_a_sans_serif_stack(page):
    """The stylesheet is inlined as written: escaped quotes (&#34;Segoe UI&#34;) made the whole font-family
    declaration invalid, and the page fell back to the browser's serif."""
    parsed, html = page()
    [css] = parsed.styles
    assert "&#34;" not in css and "&quot;" not in css
    stack = css.split("font-family:", 1)[1].split(";", 1)[0]
    assert '"Segoe UI"' in stack and stack.strip().endswith("sans-serif")


def test_table_headers_are_words(page):
    parsed, _ = page()
    from reports.columns import COLUMNS
    assert set(parsed.headers) == set(parsed.tables) | {"rollforward"}
    for table, headers in parsed.headers.items():
        for col, label in headers:
            assert label == COLUMNS[col].label and "_" not in label, (table, col, label)
    assert [label for _, label in parsed.headers["exposure"][:4]] == ["Currency", "Open episodes", "Users",
                                                                       "Open exposure"]


def test_cards_equal_the_database(page, report_engine):
    parsed, _ = page()
    with report_engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
        assert parsed.kpis[("count_transactions", None)] == str(q("SELECT COUNT(*) FROM balance_events")) == "13"
        assert parsed.kpis[("count_users", None)] == str(q("SELECT COUNT(DISTINCT user_id) FROM balance_events"))
        # 4 open episodes (user-a, user-b, user-c, user-d), user-a's continuity break and the untied error
        assert parsed.kpis[("count_open_discrepancies", None)] == str(
            q("SELECT COUNT(*) FROM discrepancy_report WHERE status = 'open'")) == "6"
        assert parsed.kpis[("count_anomalies", None)] == str(q("SELECT COUNT(*) FROM anomalies")) == "4"
        assert parsed.kpis[("count_high_anomalies", None)] == "2"
        assert parsed.kpis[("count_negative_balance_now", None)] == "2"  # user-c and the formula user
        assert parsed.kpis[("count_negative_wallet_now", None)] == "2"
        assert parsed.kpis[("count_overdraft_events", None)] == str(q(
            "SELECT COUNT(*) FROM balance_events WHERE is_overdraft_actual OR is_overdraft_expected "
            "OR is_overdraft_wallet OR is_overdraft_crossing") + q("SELECT COUNT(*) FROM negative_balance_guards"))
        for cur, typ, total in conn.execute(text(
                "SELECT currency, type, SUM(amount) FROM balance_events GROUP BY currency, type")):
            key = "total_debit" if typ == "DEBIT" else "total_credit"
            assert parsed.kpis[(key, cur)] == amount(total, cur)
        # open exposure: each open episode's |current gap|, once per user, equal to the gaps of the users whose
        # latest transaction is out of sync
        episodes: dict[str, int] = {}
        for e in open_episodes(conn):
            episodes[e["currency"]] = episodes.get(e["currency"], 0) + abs(e["current_gap"])
        from_transactions = exposure_from_transactions(conn)
    assert {cur: e["exposure"] for cur, e in from_transactions.items()} == episodes
    assert {cur: parsed.kpis[("open_exposure", cur)] for cur in episodes} == {
        cur: amount(total, cur) for cur, total in episodes.items()}
    assert parsed.kpis[("total_debit", "BHD")] == "25.500" and parsed.kpis[("total_credit", "SAR")] == "171.00"
    # summed exactly in micro-units, then rounded once: 3 + 0.0015 + 0.0015 = 3.003 BHD, not 3.000 + 0.002 + 0.002
    assert parsed.kpis[("open_exposure", "BHD")] == "3.003"
    assert parsed.kpis[("open_exposure", "SAR")] == "0.01"  # user-b's 0.005; the formula user's -2 was resolved
    assert ("open_amount_at_stake", "BHD") not in parsed.kpis  # the old per-row sum is gone


def test_tables_equal_the_database(page, report_engine):
    parsed, _ = page()
    flows = {r["currency"]: r for r in parsed.tables["flows"]}
    assert flows["SAR"] == {"currency": "SAR", "count_debits": "2", "total_debit": "127.00", "count_credits": "4",
                            "total_credit": "171.00", "total_vat": "15.00", "net_change": "59.00"}
    with report_engine.connect() as conn:
        overdrawn = [dict(r) for r in conn.execute(text(
            "SELECT user_id, currency, balance FROM user_balances WHERE is_overdrawn ORDER BY balance")).mappings()]
        open_ = [dict(r) for r in conn.execute(text(
            "SELECT discrepancy_id, kind, first_transaction_id, currency, amount_at_stake, current_gap, age_days "
            "FROM discrepancy_report WHERE status = 'open' "
            "ORDER BY amount_at_stake DESC, business_date DESC, first_seen_at DESC, discrepancy_id")).mappings()]
    assert [(r["user_id"], r["balance"]) for r in parsed.tables["overdrafts"]] == [
        (o["user_id"], amount(o["balance"], o["currency"])) for o in overdrawn]
    assert [(r["kind"], r["first_transaction_id"], r["amount_at_stake"], r["current_gap"], r["age_days"])
            for r in parsed.tables["discrepancies"]] == [
        (o["kind"], o["first_transaction_id"] or "", amount(o["amount_at_stake"], o["currency"]),
         amount(o["current_gap"], o["currency"]), str(o["age_days"])) for o in open_]
    # largest open issues: user-d's episode, user-a's continuity break, then the smaller episodes (equal amounts:
    # the newest first); the untied error (no currency: 2 decimals) puts nothing at stake
    assert [(r["first_transaction_id"], r["amount_at_stake"]) for r in parsed.tables["discrepancies"]] == [
        ("T14", "3.000"), ("T09", "2.727"), ("T06", "0.01"), ("T09", "0.002"), ("T03", "0.002"), ("", "0.00")]
    assert [(r["detector"], r["user_id"]) for r in parsed.tables["anomalies"]] == [
        ("large_amount", "user-b"), ("negative_balance", FORMULA_USER)]  # high only, highest score first


def test_exposure_table_equals_the_database(page, report_engine):
    """Per currency: open episodes, users, exposure split by direction and ageing (days since first seen, to
    the data's last business day), counted in Python from discrepancy_report and checked against the users'
    latest transactions."""
    parsed, _ = page()
    with report_engine.connect() as conn:
        last_day = date.fromisoformat(conn.execute(text("SELECT MAX(business_date) FROM balance_events")).scalar_one())
        want: dict[str, dict] = {}
        for e in open_episodes(conn):
            row = want.setdefault(e["currency"], {"count_open": 0, "users": set(), "exposure": 0, "above": 0,
                                                  "below": 0, "count_age_0_7": 0, "count_age_8_30": 0,
                                                  "count_age_31_90": 0, "count_age_over_90": 0})
            gap = e["current_gap"]
            row["count_open"] += 1
            row["users"].add(e["user_id"])
            row["exposure"] += abs(gap)
            row["above" if gap > 0 else "below"] += abs(gap)
            row[age_bucket((last_day - date.fromisoformat(e["business_date"])).days)] += 1
        from_transactions = exposure_from_transactions(conn)
    got = {r["currency"]: r for r in parsed.tables["exposure"]}
    assert set(got) == set(want) == set(from_transactions) == {"BHD", "SAR"}
    for cur, w in want.items():
        t = from_transactions[cur]
        assert (t["count_users"], t["exposure"], t["subscription_above"], t["subscription_below"]) == (
            len(w["users"]), w["exposure"], w["above"], w["below"]), cur
        assert got[cur] == {
            "currency": cur, "count_open": str(w["count_open"]), "count_users": str(len(w["users"])),
            "exposure": amount(w["exposure"], cur), "subscription_above": amount(w["above"], cur),
            "subscription_below": amount(w["below"], cur), "count_unknown_gap": "0",
            **{k: str(w[k]) for k in ("count_age_0_7", "count_age_8_30", "count_age_31_90", "count_age_over_90")}}
    # user-d's wallet 3 short since December (17 days), user-a's 0.0015 short, user-c's 0.0015 over
    assert {k: got["BHD"][k] for k in ("count_open", "exposure", "subscription_above", "subscription_below",
                                       "count_age_0_7", "count_age_8_30")} == {
        "count_open": "3", "exposure": "3.003", "subscription_above": "3.002", "subscription_below": "0.002",
        "count_age_0_7": "2", "count_age_8_30": "1"}


def test_rollforward_table_equals_the_database(page, report_engine):
    """The roll-forward with gross credits and debits, the VAT in each and the net movement (from the applied
    transactions of known users, summed here apart from reports/), and the open exposure at each month's end."""
    parsed, _ = page()
    with report_engine.connect() as conn:
        db = [dict(r) for r in conn.execute(text(
            "SELECT * FROM balance_rollforward ORDER BY currency, month")).mappings()]
        moved = {(cur, month, typ): (int(gross), int(vat)) for cur, month, typ, gross, vat in conn.execute(text(
            "SELECT currency, substr(business_date, 1, 7), type, SUM(amount), SUM(coalesce(vat, 0)) "
            "FROM balance_events WHERE user_id IS NOT NULL AND coalesce(outcome, '') <> 'refused_negative_balance' "
            "GROUP BY 1, 2, 3"))}
    money = ("opening_balance", "first_seen_balances", "calculation_differences", "continuity_gaps",
             "closing_balance")
    want = []
    for r in db:
        cur = r["currency"]
        credit, credit_vat = moved.get((cur, r["month"], "CREDIT"), (0, 0))
        debit, debit_vat = moved.get((cur, r["month"], "DEBIT"), (0, 0))
        want.append({"currency": cur, "month": r["month"], **{k: amount(r[k], cur) for k in money},
                     "total_credit": amount(credit, cur), "credit_vat": amount(credit_vat, cur),
                     "total_debit": amount(debit, cur), "debit_vat": amount(debit_vat, cur),
                     "net_movement": amount(credit - credit_vat - debit + debit_vat, cur),
                     "count_transactions": str(r["count_transactions"])})
        # it ties out with gross - VAT, and January opens at December's close
        assert (r["opening_balance"] + r["first_seen_balances"] + credit - credit_vat - debit + debit_vat
                + r["calculation_differences"] + r["continuity_gaps"]) == r["closing_balance"]
    assert [{k: v for k, v in row.items() if k != "month_end_exposure"} for row in parsed.tables["rollforward"]] == want
    # the exposure at each month's end: user-d's 3 BHD and user-b's 5.5 SAR in December; now in January
    assert [(r["currency"], r["month"], r["opening_balance"], r["net_movement"], r["closing_balance"],
             r["month_end_exposure"]) for r in parsed.tables["rollforward"]] == [
        ("BHD", "2023-12", "0.000", "10.000", "15.000", "3.000"),
        ("BHD", "2024-01", "15.000", "77.000", "92.000", "3.003"),
        ("SAR", "2023-12", "0.00", "50.00", "50.00", "5.50"),
        ("SAR", "2024-01", "50.00", "9.00", "69.00", "0.01")]


def test_period_filter_applies_to_cards_and_tables(page):
    parsed, html = page(date_from="2024-01-10", date_to="2024-01-10")
    # T03 (21:01 UTC on the 9th is 00:01 on the 10th in +03:00), T08, T06 and T07
    assert parsed.kpis[("count_transactions", None)] == "4"
    assert parsed.kpis[("count_users", None)] == "4"
    # issues first seen that day and open now: user-b's and user-c's episodes (T08's and T07's are resolved)
    assert [(r["kind"], r["first_transaction_id"]) for r in parsed.tables["discrepancies"]] == [
        ("out_of_sync", "T06"), ("out_of_sync", "T03")]
    assert parsed.kpis[("open_exposure", "BHD")] == "0.002" and parsed.kpis[("open_exposure", "SAR")] == "0.01"
    assert len(parsed.tables["rollforward"]) == 4  # a roll-forward is read whole: every month
    assert 'data-meta="date_from">2024-01-10<' in html


def test_currency_filter_applies_to_exposure_and_rollforward(page):
    parsed, _ = page(currency="SAR")
    assert [r["currency"] for r in parsed.tables["exposure"]] == ["SAR"]
    assert [(r["currency"], r["month"]) for r in parsed.tables["rollforward"]] == [("SAR", "2023-12"),
                                                                                 ("SAR", "2024-01")]
    assert {cur for _, cur in parsed.kpis if cur} == {"SAR"}


def test_text_from_the_logs_is_escaped(page):
    _, html = page()
    assert FORMULA_USER not in html  # its quotes are escaped as entities
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in html


def test_pseudonymised_page(page):
    parsed, html = page(pseudonymise=True)
    after_bundle = html.split("</script>", 1)[1]  # plotly.js itself mentions "user-agent"
    for user in ("user-a", "user-b", "user-c", "user-d", "random-uuid"):
        assert user not in after_bundle  # not in cards, tables or the charts' data
    assert parsed.tables["overdrafts"][0]["user_id"] == pseudonymise("user-c", "fixture-key")
    assert "user ids pseudonymised" in html
