"""The HTML report: one self-contained file (styles and plotly.js inlined) that opens offline.

KPI cards, charts and the key tables, all from reports/queries. Every figure
a reader could check carries its raw value in a `data-value` attribute, which
is what tests/test_reports_html.py compares with the database.
"""
from __future__ import annotations

from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from reports import charts, queries, render
from reports.columns import COLUMNS
from reports.context import Context

FILE_NAME = "report.html"
TOP_ROWS = 50  # rows in each key table; the workbook has them all
NUMERIC = frozenset({"money", "int", "float"})  # right-aligned, header and cells

TABLES = {
    "flows": ("Debits and credits per currency",
              ("currency", "count_debits", "total_debit", "count_credits", "total_credit", "total_vat",
               "net_change")),
    "overdrafts": ("Users with a negative balance or wallet now, deepest first",
                   ("user_id", "currency", "balance", "payment_balance", "overdrawn_since", "wallet_overdrawn_since",
                    "last_seen_at", "count_open_discrepancies")),
    "exposure": ("Open exposure per currency: open out-of-sync episodes, each user's current gap once",
                 ("currency", "count_open", "count_users", "exposure", "subscription_above", "subscription_below",
                  "count_unknown_gap", "count_age_0_7", "count_age_8_30", "count_age_31_90", "count_age_over_90")),
    "rollforward": ("Balance roll-forward per currency and business month, with the open exposure at each month's end",
                    ("currency", "month", "opening_balance", "first_seen_balances", "total_credit", "credit_vat",
                     "total_debit", "debit_vat", "net_movement", "calculation_differences", "continuity_gaps",
                     "closing_balance", "count_transactions", "month_end_exposure")),
    "discrepancies": ("Largest open issues (episodes and breaks), largest amount at stake first",
                      ("business_date", "kind", "user_id", "currency", "first_transaction_id", "count_transactions",
                       "current_gap", "amount_at_stake", "age_days", "explanation")),
    "anomalies": ("High-severity anomalies",
                  ("business_date", "detector", "severity", "user_id", "currency", "amount", "score",
                   "explanation")),
}


def plural(n: int, noun: str) -> str:
    """'1 user', '2 users', '1,234 open episodes'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _figure_html(fig) -> str:
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False},
                       default_width="100%")


def _table(ctx: Context, key: str, rows: list[dict]) -> dict:
    title, columns = TABLES[key]
    out = []
    for row in rows:
        row = ctx.private(row)
        cells_ = []
        for name in columns:
            value = row.get(name)
            kind = COLUMNS[name].kind
            if kind == "money":
                exact = ctx.money(value, row.get("currency"))
                cells_.append({"col": name, "value": "" if exact is None else str(exact),
                               "text": render.amount(exact), "num": True})
            elif kind == "int":
                cells_.append({"col": name, "value": "" if value is None else str(int(value)),
                               "text": render.count(value), "num": True})
            elif kind == "float":
                cells_.append({"col": name, "value": "" if value is None else repr(float(value)),
                               "text": "" if value is None else f"{float(value):.2f}", "num": True})
            elif kind == "datetime" and value:  # the header says UTC: to the second, without T and Z
                cells_.append({"col": name, "value": value, "text": value[:19].replace("T", " "), "num": False})
            else:
                text = "" if value is None else str(value)
                cells_.append({"col": name, "value": text, "text": text, "num": False})
        out.append(cells_)
    headers = [(name, COLUMNS[name].label, COLUMNS[name].kind in NUMERIC) for name in columns]
    return {"key": key, "title": title, "columns": headers, "rows": out}


def write(ctx: Context) -> list[Path]:
    f, engine, precision = ctx.filters, ctx.engine, ctx.precision
    kpi = queries.kpis(engine, f)
    flows = kpi.pop("flows")
    figures = [
        charts.net_flow(queries.daily_net_flow(engine, f), precision),
        charts.top_overdrafts(queries.top_overdrafts(engine, f, limit=None), precision, ctx.user),
        charts.mismatches(queries.discrepancies_by_day(engine, f)),
        charts.anomalies_by_detector(queries.anomalies_by_detector(engine, f)),
        charts.cold_starts(queries.daily_health(engine, f)),
    ]
    exposure = kpi.pop("exposure")
    tables = [
        _table(ctx, "flows", flows),
        _table(ctx, "exposure", [queries.exposure_row(e) for e in exposure]),
        _table(ctx, "rollforward", queries.summary(engine, f)),
        _table(ctx, "overdrafts", queries.top_overdrafts(engine, f, limit=TOP_ROWS)),
        _table(ctx, "discrepancies", queries.open_discrepancies_by_stake(engine, f, TOP_ROWS)),
        _table(ctx, "anomalies", queries.high_anomalies(engine, f, TOP_ROWS)),
    ]
    money_cards = []
    for r in flows:  # one card per currency and direction: money is never added across currencies
        cur = r["currency"]
        money_cards += [
            {"currency": cur, "key": "total_debit", "label": "Debits", "value": ctx.money(r["total_debit"], cur),
             "sub": f"{plural(r['count_debits'], 'transaction')}, gross"},
            {"currency": cur, "key": "total_credit", "label": "Credits", "value": ctx.money(r["total_credit"], cur),
             "sub": f"{plural(r['count_credits'], 'transaction')}, gross"}]
    money_cards += [{"currency": e["currency"], "key": "open_exposure", "label": "Open exposure",
                     "value": ctx.money(e["exposure"], e["currency"]),
                     "sub": f"{plural(e['count_open'], 'open episode')}, {plural(e['count_users'], 'user')}"}
                    for e in exposure]
    first, last = queries.business_date_range(engine)
    html = render.page("report.html.j2", ctx=ctx, kpi=kpi, money_cards=money_cards, tables=tables,
                       charts=[_figure_html(fig) for fig in figures], plotlyjs=get_plotlyjs(),
                       top_rows=TOP_ROWS, period_from=f.date_from_text or first, period_to=f.date_to_text or last)
    path = ctx.out_dir / FILE_NAME
    path.write_text(html, encoding="utf-8")
    return [path]
