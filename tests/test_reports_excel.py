"""report.xlsx opened with openpyxl: sheets, columns, number formats, print setup and values against the database."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from sqlalchemy import text

import reports
from reports.columns import COLUMNS, LEDGER_PRESETS
from reports.excel import PRINT_WIDTH, SHEETS
from queries.pseudonym import pseudonymise
from test_reports_fixture import FORMULA_USER, report_db, report_engine, report_settings  # noqa: F401
from test_reports_html import age_bucket, exposure_from_transactions, open_episodes, rollforward_from_transactions

PLACES = {"BHD": 3, "SAR": 2}
DATA_SHEETS = ["Summary", "Exposure", "Ledger", "Reconciliation", "ByUser", "BySource", "Overdrafts", "Anomalies"]


def expected_number(micros: int, currency: str | None) -> float:
    places = PLACES.get(currency, 2)  # an untied error has no currency: 2 decimals
    return float((Decimal(micros) / 1_000_000).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def money_format(currency: str | None) -> str:
    """Thousands separators, the currency's decimals, negatives in red."""
    positive = "#,##0." + "0" * PLACES.get(currency, 2)
    return f"{positive};[Red]-{positive}"


def as_ms(value: datetime) -> str:
    """A datetime cell back to our ISO text, to the millisecond."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(value.microsecond / 1000):03d}Z"


FIELD_OF = {c.label: c.name for c in COLUMNS.values()}


def labels(ws) -> list[str]:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]


def header(ws) -> list[str]:
    """The field names behind a sheet's header row, which is in words."""
    return [FIELD_OF[label] for label in labels(ws)]


def width(ws, index: int) -> float | None:
    """Width of the 1-based column `index` (XlsxWriter writes runs of equal widths as one <col min max>)."""
    return next((d.width for d in ws.column_dimensions.values() if d.min <= index <= d.max), None)


def wb_rows(wb, sheet: str) -> list[tuple]:
    return list(wb[sheet].iter_rows(min_row=2))


def data_rows(ws) -> list[list]:
    return [list(r) for r in ws.iter_rows(min_row=2)]


@pytest.fixture
def workbook(report_engine, report_settings, tmp_path):
    def build(**opts):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        [path] = reports.build("excel", report_engine, report_settings, out, **opts)
        assert path.name == "report.xlsx"
        return openpyxl.load_workbook(path)
    build.settings = report_settings
    return build


def test_sheets_headers_frozen_and_filtered(workbook):
    wb = workbook()
    assert wb.sheetnames == ["README", *DATA_SHEETS]
    for name in DATA_SHEETS:
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{max(ws.max_row, 2)}", name
        for i, col in enumerate(header(ws), start=1):
            assert width(ws, i) == pytest.approx(COLUMNS[col].width, abs=1), (name, col)
    assert header(wb["Ledger"]) == list(LEDGER_PRESETS["accounting"])


def test_headers_are_words_and_the_readme_gives_each_ones_field_name(workbook):
    wb = workbook(columns="full")
    readme = [[c.value for c in r] for r in wb["README"].iter_rows()]
    field = {(r[0], r[1]): r[3] for r in readme if r[0] in SHEETS and r[3]}
    for name in DATA_SHEETS:
        words = labels(wb[name])
        assert len(set(words)) == len(words), name
        for i, label in enumerate(words, start=1):
            assert "_" not in label and label[0].isupper(), (name, label)  # "Business day", never business_date
            assert field[(name, label)] == FIELD_OF[label], (name, label)
            # no word of a header is cut inside the word: the column is wider than its longest word (bold)
            assert max(len(w) for w in label.split()) + 2 <= width(wb[name], i), (name, label)
    assert labels(wb["Ledger"])[:4] == ["Business day", "Logged at (UTC)", "Transaction id", "User id"]


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_row_and_name(workbook):
    wb = workbook()
    for ws in wb.worksheets:
        setup = ws.page_setup
        assert (setup.orientation, setup.paperSize, setup.fitToHeight) == ("landscape", 9, 0), ws.title  # A4
        assert setup.fitToWidth in (None, 1) and ws.sheet_properties.pageSetUpPr.fitToPage, ws.title  # 1 wide
        assert (ws.oddFooter.left.text, ws.oddFooter.right.text) == ("&A", "Page &P"), ws.title  # name, page
        assert setup.useFirstPageNumber, ws.title  # each sheet's pages numbered from 1
        assert ws.oddHeader.left.text.startswith("Balance report, business dates 2023-12-28 to 2024-01-15")
    for name in DATA_SHEETS:
        ws = wb[name]
        assert ws.print_title_rows == "$1:$1" and ws.print_options.gridLines, name
        # the leading columns up to PRINT_WIDTH are printed; all of them when they fit
        widths = [COLUMNS[c].width for c in header(ws)]
        printed = next((n for n in range(1, len(widths) + 1) if sum(widths[:n + 1]) > PRINT_WIDTH), len(widths))
        last = ws.cell(1, printed).column_letter
        assert ws.print_area == f"'{name}'!$A$1:${last}${max(ws.max_row, 2)}", name
    assert [wb[n].print_area.split(":")[1][1] for n in ("Summary", "Exposure", "Ledger")] == ["U", "O", "Q"]  # whole
    assert "explanation" in header(wb["Reconciliation"])[:15] and "review_status" in header(wb["Reconciliation"])[:15]


def test_ids_are_text_and_excel_is_told_so(workbook, tmp_path, report_engine):
    """Ids that are digits stay text (a number would lose leading zeros and show 1.2E+15), and every data sheet
    tells Excel not to flag them with its "number stored as text" triangle."""
    import re
    import zipfile
    wb = workbook(columns="full")
    ledger = wb["Ledger"]
    cols = header(ledger)
    with report_engine.connect() as conn:
        db = conn.execute(text("SELECT event_id, file_id FROM balance_events ORDER BY ts, transaction_id")).all()
    got = [(r[cols.index("event_id")], r[cols.index("file_id")]) for r in ledger.iter_rows(min_row=2)]
    assert [(e.value, f.value) for e, f in got] == [(str(e), str(f)) for e, f in db]
    assert all(e.data_type == "s" and f.data_type == "s" for e, f in got)
    [path] = reports.build("excel", report_engine, workbook.settings, tmp_path / "ids", columns="full")
    with zipfile.ZipFile(path) as archive:
        sheets = [archive.read(f"xl/worksheets/sheet{i}.xml").decode() for i in range(2, 2 + len(DATA_SHEETS))]
    for name, xml in zip(DATA_SHEETS, sheets):
        ws = wb[name]
        assert re.search(r'<ignoredError sqref="A1:([A-Z]+)(\d+)" numberStoredAsText="1"/>', xml).groups() == (
            ws.cell(1, ws.max_column).column_letter, str(max(ws.max_row, 2))), name


def test_negatives_are_red_and_flags_read_true_or_false(workbook):
    wb = workbook()
    summary = wb["Summary"]
    cols = header(summary)
    gaps = [r[cols.index("continuity_gaps")] for r in summary.iter_rows(min_row=2)]
    assert any(c.value < 0 for c in gaps)  # user-a's -2.727 BHD in January
    assert {c.number_format for c in gaps} == {"#,##0.000;[Red]-#,##0.000", "#,##0.00;[Red]-#,##0.00"}
    ledger = wb["Ledger"]
    flags = [r[header(ledger).index("is_calc_mismatch")] for r in ledger.iter_rows(min_row=2)]
    # Excel shows a boolean as TRUE/FALSE whatever its format; LibreOffice needs the format, else shows 1/0
    assert {(c.data_type, c.number_format) for c in flags} == {("b", '"TRUE";"TRUE";"FALSE"')}
    assert {c.value for c in flags} == {True, False}


def test_ledger_matches_database_cell_by_cell(workbook, report_engine):
    ws = workbook()["Ledger"]
    cols = header(ws)
    with report_engine.connect() as conn:
        db = [dict(r) for r in conn.execute(text(
            "SELECT * FROM balance_events ORDER BY ts, transaction_id")).mappings()]
    rows = data_rows(ws)
    assert len(rows) == len(db) == 13
    for cells_, want in zip(rows, db):
        for cell, name in zip(cells_, cols):
            value, kind = want[name], COLUMNS[name].kind
            if value is None:
                assert cell.value is None, name
            elif kind == "money":
                assert cell.data_type == "n" and cell.value == expected_number(value, want["currency"]), name
                assert cell.number_format == money_format(want["currency"]), name
            elif kind == "date":
                assert cell.is_date and cell.number_format == "yyyy-mm-dd"
                assert cell.value.date().isoformat() == value
            elif kind == "datetime":
                assert cell.is_date and as_ms(cell.value) == value
            elif kind == "bool":
                assert cell.data_type == "b" and cell.value is bool(value), name
            else:  # text (ids too, as text) or int
                assert cell.value == (str(value) if kind == "text" else value), name


def test_half_up_rounding_to_each_currency(workbook):
    wb = workbook()
    ledger = {r[2].value: dict(zip(header(wb["Ledger"]), r)) for r in wb["Ledger"].iter_rows(min_row=2)}
    t07 = ledger["T07"]
    assert (t07["new_balance"].value, t07["new_balance"].number_format) == (82.727, money_format("BHD"))  # 82.7265
    assert t07["calc_difference"].value == 0.727
    by_user = {(r[0].value, r[1].value): dict(zip(header(wb["ByUser"]), r)) for r in wb["ByUser"].iter_rows(min_row=2)}
    b = by_user[("user-b", "SAR")]
    assert (b["payment_balance"].value, b["payment_balance"].number_format) == (70.01, money_format("SAR"))  # 70.005


def test_every_money_cell_is_a_number_in_its_currency_format(workbook):
    wb = workbook(columns="full")
    for name in DATA_SHEETS:
        ws = wb[name]
        cols = header(ws)
        cur_at = cols.index("currency")
        for row in data_rows(ws):
            for cell, col in zip(row, cols):
                if COLUMNS[col].kind == "money" and cell.value is not None:
                    assert cell.data_type == "n", (name, col)
                    assert cell.number_format == money_format(row[cur_at].value), (name, col)


def test_other_sheets_match_database(workbook, report_engine):
    wb = workbook()
    queries = {
        "Summary": ("SELECT * FROM balance_rollforward ORDER BY currency, month", ("currency", "month")),
        "Reconciliation": ("SELECT * FROM discrepancy_report ORDER BY business_date, first_seen_at, discrepancy_id",
                           ("discrepancy_id",)),
        "ByUser": ("SELECT * FROM user_balances ORDER BY user_id, currency", ("user_id",)),
        "Anomalies": ("SELECT * FROM anomalies ORDER BY business_date, detected_at, anomaly_id", ("anomaly_id",)),
        # flagged transactions, and the guard's refusal (T11, in user-c's currency)
        "Overdrafts": ("SELECT ts, transaction_id, user_id, currency, amount, new_balance, overdraft_reason AS reason "
                       "FROM balance_events WHERE is_overdraft_actual OR is_overdraft_expected OR is_overdraft_wallet "
                       "OR is_overdraft_crossing UNION ALL SELECT ts, transaction_id, user_id, 'BHD', NULL, NULL, "
                       "'guard' FROM negative_balance_guards ORDER BY ts", ("transaction_id",)),
    }
    with report_engine.connect() as conn:
        for sheet, (sql, key) in queries.items():
            db = [dict(r) for r in conn.execute(text(sql)).mappings()]
            ws = wb[sheet]
            cols = header(ws)
            rows = data_rows(ws)
            assert [tuple(r[cols.index(k)].value for k in key) for r in rows] == [
                tuple(d[k] for k in key) for d in db], sheet
            for row, want in zip(rows, db):
                for cell, name in zip(row, cols):
                    if name == "file":
                        assert cell.value == "stream/000000.gz"  # below the folder ingested, not the server's path
                    if name not in want:
                        continue
                    if COLUMNS[name].kind == "money" and want[name] is not None:
                        assert cell.value == expected_number(want[name], want["currency"]), (sheet, name)
                    elif COLUMNS[name].kind in ("text", "int") and want[name] is not None:
                        assert cell.value == want[name], (sheet, name)
                    elif want[name] is None:
                        assert cell.value is None, (sheet, name)
        by_source = {tuple(c.value for c in r[:4]): r for r in wb["BySource"].iter_rows(min_row=2)}
        for cur, typ, src, count, total in conn.execute(text(
                "SELECT currency, type, source, count(*), sum(amount) FROM balance_events "
                "GROUP BY currency, type, source")):
            row = by_source[(cur, typ, src, None)]
            assert row[4].value == count and row[5].value == expected_number(int(total), cur)


def test_reconciliation_is_one_row_per_issue(workbook):
    recon = workbook()["Reconciliation"]
    cols = header(recon)
    got = {r[cols.index("discrepancy_id")].value: dict(zip(cols, (c.value for c in r)))
           for r in recon.iter_rows(min_row=2)}
    assert len(got) == 9  # 6 episodes, a calculation and a continuity break, an untied error
    episode = got["out_of_sync:T13"]  # two transactions, the second with the Lambda's error, resolved by T05
    assert (episode["count_transactions"], episode["count_lambda_errors"], episode["opening_gap"],
            episode["current_gap"], episode["max_abs_gap"], episode["amount_at_stake"], episode["age_days"],
            episode["last_transaction_id"], episode["resolving_transaction_id"]) == (2, 1, 5.5, 0, 5.5, 0, 12,
                                                                                     "T04", "T05")
    assert (got["out_of_sync:T14"]["status"], got["out_of_sync:T14"]["amount_at_stake"]) == ("open", 3.0)


SUMMARY_MONEY = ("opening_balance", "first_seen_balances", "total_credit", "credit_vat", "total_debit", "debit_vat",
                 "net_movement", "calculation_differences", "continuity_gaps", "closing_balance", "month_end_exposure",
                 "exposure_age_0_7", "exposure_age_8_30", "exposure_age_31_90", "exposure_age_over_90")


def test_summary_sheet_is_the_rollforward_with_vat_net_and_exposure_at_each_months_end(workbook):
    wb = workbook()
    summary = [dict(zip(header(wb["Summary"]), (c.value for c in r))) for r in wb["Summary"].iter_rows(min_row=2)]
    # worked out by hand from the fixture's transactions. December: user-d brings in 5 BHD and is 3 short in
    # the wallet from the 29th (2 days old at the month's end), user-b is 5.5 SAR apart from the 28th. January:
    # BHD debits 25.5 gross with 1.5 VAT (T02, T03); SAR debits 127 with 15 VAT (T04); open now (the data's last
    # day, 2024-01-15): user-d's 3 (17 days), user-a's and user-c's 0.0015 each (0 and 5 days); user-b's 0.005.
    assert [tuple(r[k] for k in ("currency", "month", *SUMMARY_MONEY, "count_month_end_open")) for r in summary] == [
        ("BHD", "2023-12", 0, 5, 10, 0, 0, 0, 10, 0, 0, 15, 3, 3, 0, 0, 0, 1),
        ("BHD", "2024-01", 15, 2, 101, 0, 25.5, 1.5, 77, 0.727, -2.727, 92, 3.003, 0.003, 3, 0, 0, 3),
        ("SAR", "2023-12", 0, 0, 50, 0, 0, 0, 50, 0, 0, 50, 5.5, 5.5, 0, 0, 0, 1),
        ("SAR", "2024-01", 50, 10, 121, 0, 127, 15, 9, 0, 0, 69, 0.01, 0.01, 0, 0, 0, 1)]
    by_user = [dict(zip(header(wb["ByUser"]), (c.value for c in r))) for r in wb["ByUser"].iter_rows(min_row=2)]
    for cur in ("BHD", "SAR"):  # the README's promise: the last closing is the sum of the balances on ByUser
        last = [r for r in summary if r["currency"] == cur][-1]
        assert sum(Decimal(str(u["balance"])) for u in by_user if u["currency"] == cur) == Decimal(
            str(last["closing_balance"]))


def test_summary_sheet_equals_the_database(workbook, report_engine, report_settings):
    """Computed apart from reports/: the roll-forward's months, gross and VAT of the applied transactions of known
    users, and the exposure at each month's end from the users' latest transactions before it."""
    wb = workbook()
    summary = [dict(zip(header(wb["Summary"]), (c.value for c in r))) for r in wb["Summary"].iter_rows(min_row=2)]
    with report_engine.connect() as conn:
        months, moved, at_end = rollforward_from_transactions(conn, report_settings.business_tz)
    assert [(r["currency"], r["month"]) for r in summary] == [(m["currency"], m["month"]) for m in months]
    for row, m in zip(summary, months):
        cur = m["currency"]
        credit, credit_vat = moved.get((cur, m["month"], "CREDIT"), (0, 0))
        debit, debit_vat = moved.get((cur, m["month"], "DEBIT"), (0, 0))
        exposure = at_end[m["month"]].get(cur, {}).get("exposure", 0)
        assert (row["total_credit"], row["credit_vat"], row["total_debit"], row["debit_vat"]) == tuple(
            expected_number(v, cur) for v in (credit, credit_vat, debit, debit_vat)), (cur, m["month"])
        assert row["net_movement"] == expected_number(credit - credit_vat - debit + debit_vat, cur)
        assert m["opening_balance"] + m["first_seen_balances"] + credit - credit_vat - debit + debit_vat + m[
            "calculation_differences"] + m["continuity_gaps"] == m["closing_balance"]  # ties out with gross - VAT
        assert row["month_end_exposure"] == expected_number(exposure, cur), (cur, m["month"])
        ageing = [row[k] for k in ("exposure_age_0_7", "exposure_age_8_30", "exposure_age_31_90",
                                   "exposure_age_over_90")]
        assert sum(Decimal(str(a)) for a in ageing) == Decimal(str(row["month_end_exposure"])), (cur, m["month"])


def test_exposure_sheet_equals_the_database(workbook, report_engine):
    wb = workbook()
    rows = {r[0].value: dict(zip(header(wb["Exposure"]), (c.value for c in r)))
            for r in wb["Exposure"].iter_rows(min_row=2)}
    with report_engine.connect() as conn:
        last_day = date.fromisoformat(conn.execute(text("SELECT MAX(business_date) FROM balance_events")).scalar_one())
        episodes = open_episodes(conn)
        from_transactions = exposure_from_transactions(conn)
    assert set(rows) == set(from_transactions) == {"BHD", "SAR"}
    for cur, row in rows.items():
        mine = [e for e in episodes if e["currency"] == cur]
        t = from_transactions[cur]
        assert (row["count_open"], row["count_users"], row["count_unknown_gap"]) == (len(mine), t["count_users"], 0)
        assert row["exposure"] == expected_number(sum(abs(e["current_gap"]) for e in mine), cur) == expected_number(
            t["exposure"], cur)
        assert row["subscription_above"] == expected_number(t["subscription_above"], cur)
        assert row["subscription_below"] == expected_number(t["subscription_below"], cur)
        for bucket in ("count_age_0_7", "count_age_8_30", "count_age_31_90", "count_age_over_90"):
            assert row[bucket] == sum(
                1 for e in mine if age_bucket((last_day - date.fromisoformat(e["business_date"])).days) == bucket)
    assert (rows["BHD"]["exposure"], rows["SAR"]["exposure"]) == (3.003, 0.01)
    assert (wb["Exposure"]["D2"].number_format, wb["Exposure"]["D3"].number_format) == (
        money_format("BHD"), money_format("SAR"))


def test_by_user_has_the_wallets_own_overdrawn_since(workbook):
    ws = workbook()["ByUser"]
    cols = header(ws)
    rows = {r[0].value: dict(zip(cols, (c.value for c in r))) for r in ws.iter_rows(min_row=2)}
    since = {user: (row["overdrawn_since"], row["wallet_overdrawn_since"]) for user, row in rows.items()
             if row["overdrawn_since"] or row["wallet_overdrawn_since"]}
    # user-c: balance and wallet below zero from the same night; the formula user's balance from the 10th, its
    # wallet only from the 14th; user-d's wallet is short of the balance, not below zero
    assert {user: tuple(str(v) for v in pair) for user, pair in since.items()} == {
        "user-c": ("2024-01-09 21:01:00.100000", "2024-01-09 21:01:00.100000"),
        FORMULA_USER: ("2024-01-10 08:00:00", "2024-01-14 21:30:00")}


def test_formula_text_stays_text(workbook):
    ws = workbook()["ByUser"]
    cell = next(r[0] for r in ws.iter_rows(min_row=2) if r[0].value == FORMULA_USER)
    assert cell.data_type == "s"  # a string cell: never evaluated


def test_readme_explains_every_sheet_and_column(workbook):
    wb = workbook()
    readme = [[c.value for c in r] for r in wb["README"].iter_rows()]
    explained = {(r[0], r[1]) for r in readme if r[0] in SHEETS}
    for name in DATA_SHEETS:
        for col in labels(wb[name]):
            assert (name, col) in explained
        assert any(r[0] == name and r[2].startswith(SHEETS[name]) for r in readme)
    recon = next(r[2] for r in readme if r[0] == "Reconciliation" and isinstance(r[1], int))
    assert recon.endswith(" Prints columns A–O (Business day to Explanation), one page wide; the others are on "
                          "screen.")
    counts = {r[0]: r[1] for r in readme if r[0] in SHEETS and isinstance(r[1], int)}
    assert counts == {name: wb[name].max_row - 1 for name in DATA_SHEETS}
    assert any(r[0] == "Money" and "Never add" in r[2] for r in readme)


def test_more_rows_than_a_sheet_holds_continue_on_numbered_sheets(workbook):
    whole = [[c.value for c in r] for r in workbook()["Ledger"].iter_rows(min_row=2)]
    wb = workbook(max_rows=4)  # header + 3 rows per sheet: 13 transactions need 5 sheets
    parts = ["Ledger", "Ledger 2", "Ledger 3", "Ledger 4", "Ledger 5"]
    assert [n for n in wb.sheetnames if n.startswith("Ledger")] == parts
    split = []
    for name in parts:
        assert header(wb[name]) == list(LEDGER_PRESETS["accounting"])
        assert wb[name].freeze_panes == "A2"
        split += [[c.value for c in r] for r in wb[name].iter_rows(min_row=2)]
    assert split == whole
    readme = [[c.value for c in r] for r in wb["README"].iter_rows()]
    ledger_line = next(r for r in readme if r[0] == "Ledger" and isinstance(r[1], int))
    assert ledger_line[1] == 13
    assert "continued on Ledger 2, Ledger 3, Ledger 4, Ledger 5" in ledger_line[2]


def test_column_presets_and_json_file(workbook, tmp_path):
    assert header(workbook(columns="full")["Ledger"]) == list(LEDGER_PRESETS["full"])
    spec = tmp_path / "cols.json"
    spec.write_text(json.dumps(["transaction_id", "amount", "business_date"]))
    ws = workbook(columns=str(spec))["Ledger"]
    assert header(ws) == ["transaction_id", "amount", "business_date", "currency"]  # currency added for amounts
    spec.write_text(json.dumps({"columns": ["transaction_id", "balance_owed"]}))
    with pytest.raises(reports.UsageError, match="unknown column 'balance_owed'; the Ledger columns are: "):
        workbook(columns=str(spec))
    with pytest.raises(reports.UsageError, match="neither a preset"):
        workbook(columns="accountant")


def test_period_and_currency_filters(workbook):
    ws = workbook(date_from="2024-01-09", date_to="2024-01-10", currency="sar")["Ledger"]
    cols = header(ws)
    got = [(r[cols.index("transaction_id")].value, r[cols.index("currency")].value) for r in ws.iter_rows(min_row=2)]
    assert got == [("T05", "SAR"), ("T08", "SAR"), ("T06", "SAR")]
    assert [r[0].value for r in wb_rows(workbook(date_from="2024-01-11", date_to="2024-01-11"), "Overdrafts")] == [
        datetime(2024, 1, 11, 9, 0)]  # only the guard's refusal that day


def test_pseudonymised_workbook_has_no_user_id(workbook):
    wb = workbook(pseudonymise=True, columns="full")
    token = pseudonymise("user-a", "fixture-key")
    assert token.startswith("u_") and len(token) == 18
    seen = []
    for name in DATA_SHEETS:  # the README's column notes name the test user as an example
        for row in wb[name].iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    seen.append(cell.value)
    blob = "\n".join(seen)
    for user in ("user-a", "user-b", "user-c", "user-d", FORMULA_USER, "random-uuid"):
        assert user not in blob
    assert token in blob
    recon = wb["Reconciliation"]
    cols = header(recon)
    calculation = next(r for r in recon.iter_rows(min_row=2)
                       if r[cols.index("discrepancy_id")].value == "calculation:T07")
    assert calculation[cols.index("explanation")].value == (
        f"new_balance 82.7265 of {token} differs from the expected 82")


def test_one_process_or_several_write_the_same_cells(workbook):
    def cells_of(wb):
        return {name: [[(c.value, c.number_format) for c in r] for r in wb[name].iter_rows()] for name in DATA_SHEETS}
    assert cells_of(workbook(workers=1, max_rows=4)) == cells_of(workbook(workers=3, max_rows=4))


def test_the_package_is_a_valid_zip(report_engine, report_settings, tmp_path):
    import zipfile
    [path] = reports.build("excel", report_engine, report_settings, tmp_path)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every member's CRC-32 checks out
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert zipfile._get_compressor.__module__ == "zipfile"  # the fast deflate is undone after closing
