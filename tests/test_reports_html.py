"""report.html parsed: self-contained, and every card and table figure equal to the database."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

import pytest
from sqlalchemy import text

import reports
from queries.pseudonym import pseudonymise
from test_reports_fixture import FORMULA_USER, report_db, report_engine, report_settings  # noqa: F401

PLACES = {"BHD": 3, "SAR": 2}


def amount(micros, currency) -> str:
    return str((Decimal(int(micros)) / 1_000_000).quantize(Decimal(1).scaleb(-PLACES[currency]),
                                                          rounding=ROUND_HALF_UP))


class Page(HTMLParser):
    """Collects what the tests compare: cards (data-kpi), table cells (data-col), scripts, links, charts."""

    def __init__(self, html: str):
        super().__init__()
        self.kpis: dict[tuple[str, str | None], str] = {}
        self.tables: dict[str, list[dict]] = {}
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
        elif tag == "script":
            self.scripts.append(a)
        elif tag in ("link", "img", "iframe"):
            self.links.append(a)
        if tag == "div" and "plotly-graph-div" in (a.get("class") or ""):
            self.chart_divs += 1

    def handle_endtag(self, tag):
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


def test_cards_equal_the_database(page, report_engine):
    parsed, _ = page()
    with report_engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
        assert parsed.kpis[("count_transactions", None)] == str(q("SELECT COUNT(*) FROM balance_events")) == "10"
        assert parsed.kpis[("count_users", None)] == str(q("SELECT COUNT(DISTINCT user_id) FROM balance_events"))
        assert parsed.kpis[("count_open_discrepancies", None)] == str(
            q("SELECT COUNT(*) FROM discrepancy_report WHERE status = 'open'")) == "3"
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
    assert parsed.kpis[("total_debit", "BHD")] == "25.500" and parsed.kpis[("total_credit", "SAR")] == "120.00"
    # open amounts at stake: summed exactly in micro-units, then rounded once (0.7265 + 2.7265 = 3.453, not 3.454)
    assert parsed.kpis[("open_amount_at_stake", "BHD")] == "3.453"
    assert parsed.kpis[("open_amount_at_stake", "SAR")] == "0.01"


def test_tables_equal_the_database(page, report_engine):
    parsed, _ = page()
    flows = {r["currency"]: r for r in parsed.tables["flows"]}
    assert flows["SAR"] == {"currency": "SAR", "count_debits": "2", "total_debit": "127.00", "count_credits": "2",
                            "total_credit": "120.00", "total_vat": "15.00", "net_change": "8.00"}
    with report_engine.connect() as conn:
        overdrawn = [dict(r) for r in conn.execute(text(
            "SELECT user_id, currency, balance FROM user_balances WHERE is_overdrawn ORDER BY balance")).mappings()]
        open_ = [dict(r) for r in conn.execute(text(
            "SELECT discrepancy_id, user_id, currency, amount_at_stake FROM discrepancy_report "
            "WHERE status = 'open' ORDER BY ABS(amount_at_stake) DESC")).mappings()]
    assert [(r["user_id"], r["balance"]) for r in parsed.tables["overdrafts"]] == [
        (o["user_id"], amount(o["balance"], o["currency"])) for o in overdrawn]
    assert [r["amount_at_stake"] for r in parsed.tables["discrepancies"]] == [
        amount(o["amount_at_stake"], o["currency"]) for o in open_] == ["2.727", "0.727", "0.01"]
    assert [(r["detector"], r["user_id"]) for r in parsed.tables["anomalies"]] == [
        ("large_amount", "user-b"), ("negative_balance", FORMULA_USER)]  # high only, highest score first


def test_period_filter_applies_to_cards_and_tables(page):
    parsed, html = page(date_from="2024-01-10", date_to="2024-01-10")
    # T03 (21:01 UTC on the 9th is 00:01 on the 10th in +03:00), T08, T06 and T07
    assert parsed.kpis[("count_transactions", None)] == "4"
    assert parsed.kpis[("count_users", None)] == "4"
    assert [r["kind"] for r in parsed.tables["discrepancies"]] == ["calculation", "wallet"]
    assert 'data-meta="date_from">2024-01-10<' in html


def test_text_from_the_logs_is_escaped(page):
    _, html = page()
    assert FORMULA_USER not in html  # its quotes are escaped as entities
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in html


def test_pseudonymised_page(page):
    parsed, html = page(pseudonymise=True)
    after_bundle = html.split("</script>", 1)[1]  # plotly.js itself mentions "user-agent"
    for user in ("user-a", "user-b", "user-c", "random-uuid"):
        assert user not in after_bundle  # not in cards, tables or the charts' data
    assert parsed.tables["overdrafts"][0]["user_id"] == pseudonymise("user-c", "fixture-key")
    assert "user ids pseudonymised" in html
