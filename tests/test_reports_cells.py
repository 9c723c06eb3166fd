"""Cell values: rounding half-up per currency, the integer fast path equal to Decimal, spreadsheet dates."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.cells import excel_date, excel_datetime, money, money_number, number_format
from reports.xlsx_rows import money_text

PRECISION = {"BHD": 3, "SAR": 2, "JPY": 0}


@given(st.integers(min_value=-10**15, max_value=10**15), st.sampled_from(["BHD", "SAR", "JPY", None]))
def test_integer_money_text_equals_the_quantized_decimal(micros, currency):
    places = PRECISION.get(currency, 2)
    assert money_text(micros, places) == str(money(micros, currency, PRECISION))


def test_half_up_away_from_zero_and_no_negative_zero():
    assert str(money(82_726_500, "BHD", PRECISION)) == "82.727"
    assert str(money(-82_726_500, "BHD", PRECISION)) == "-82.727"
    assert str(money(70_005_000, "SAR", PRECISION)) == "70.01"
    assert str(money(-400, "BHD", PRECISION)) == "0.000"
    assert money_text(-400, 3) == "0.000"
    assert money(None, "BHD", PRECISION) is None


@given(st.integers(min_value=-10**12, max_value=10**12), st.sampled_from(["BHD", "SAR"]))
def test_the_float_in_a_cell_shows_the_exact_amount(micros, currency):
    """15 significant digits survive a double: formatting the float at the currency's places gives the amount."""
    places = PRECISION[currency]
    assert f"{money_number(micros, currency, PRECISION):.{places}f}" == money_text(micros, places)


def test_number_formats():
    assert (number_format(3), number_format(2), number_format(0)) == (
        "#,##0.000;[Red]-#,##0.000", "#,##0.00;[Red]-#,##0.00", "#,##0;[Red]-#,##0")  # negatives in red


def test_spreadsheet_dates_and_times():
    epoch = datetime(1899, 12, 30)
    assert epoch + timedelta(days=excel_date("2024-01-08")) == datetime(2024, 1, 8)
    serial = excel_datetime("2024-01-07T21:01:00.200Z")
    assert abs((epoch + timedelta(days=serial)) - datetime(2024, 1, 7, 21, 1, 0, 200000)) < timedelta(microseconds=50)
    assert excel_date(None) is None and excel_datetime("") is None
    assert Decimal(excel_date("1900-03-01")) == 61  # Excel's serial (after its 1900 leap-year bug)


ODD_TEXT = ["plain", " leading space", "trailing space ", "tab\tinside", "new\nline", "a & b < c > d", 'quote "x"',
            "_x0041_ literal", "bell\x07char", "=HYPERLINK(\"x\")", "ümlaut ✓", "", "x" * 40_000]


def test_streamed_text_reads_back_unchanged(tmp_path):
    import openpyxl
    import xlsxwriter

    from reports.xlsx_rows import RowStreamWorksheet, row_encoder, write_parts
    parts = write_parts(iter([(s,) for s in ODD_TEXT]), row_encoder(["text"], ["text"], {}, {}), 100,
                        lambda k: str(tmp_path / f"part{k}.xml"))
    assert parts == [(str(tmp_path / "part0.xml"), len(ODD_TEXT))]
    path = tmp_path / "t.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = book.add_worksheet("T", worksheet_class=RowStreamWorksheet)
    ws.write_string(0, 0, "text")
    ws.append_rows_file(parts[0][0], 1, len(ODD_TEXT), 0)
    book.close()
    got = [r[0] for r in openpyxl.load_workbook(path).active.iter_rows(min_row=2, values_only=True)]
    want = list(ODD_TEXT)
    # openpyxl shows the _xHHHH_ escapes as stored (Excel shows the original text)
    want[ODD_TEXT.index("bell\x07char")] = "bell_x0007_char"
    want[ODD_TEXT.index("_x0041_ literal")] = "_x005F_x0041_ literal"
    want[-1] = "x" * 32_767  # a cell holds at most 32,767 characters: cut as XlsxWriter's write_string does
    want[ODD_TEXT.index("")] = None  # an empty text is an empty cell
    assert got == want


def test_parts_split_at_the_row_limit(tmp_path):
    from reports.xlsx_rows import row_encoder, write_parts
    encode = row_encoder(["n"], ["int"], {"int": 3}, {})
    parts = write_parts(iter([(i,) for i in range(7)]), encode, 3, lambda k: str(tmp_path / f"p{k}.xml"))
    assert [n for _, n in parts] == [3, 3, 1]
    assert (tmp_path / "p2.xml").read_text() == '<row r="2"><c r="A2" s="3"><v>6</v></c></row>'
    assert write_parts(iter([]), encode, 3, lambda k: str(tmp_path / "none.xml")) == []
    exact = write_parts(iter([(i,) for i in range(6)]), encode, 3, lambda k: str(tmp_path / f"e{k}.xml"))
    assert [n for _, n in exact] == [3, 3]
