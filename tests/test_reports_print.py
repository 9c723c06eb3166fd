"""report.xlsx as LibreOffice prints it (`soffice --headless --convert-to pdf`), read back page by page with poppler
(`pdfinfo`, `pdftotext`): every page A4 landscape with the report's period on top; each sheet one page wide, its
pages numbered from 1 with its name in the footer, the header row (every printed column's header, in words) on its
first pages and its last; no number too wide for its column (####). On the real export when it is beside the
checkout, else the sample. Skipped, and said so, without LibreOffice Calc or poppler-utils (`make test` installs
them: scripts/system-deps.sh).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from sqlalchemy import text

import reports
import settings as settings_mod
from db.engine import make_engine

TOOLS = {"soffice": "libreoffice-calc", "pdftotext": "poppler-utils", "pdfinfo": "poppler-utils"}
FIRST_PAGES = 3  # pages of each sheet read from its start (and its last page)
A4_LANDSCAPE = (841.89, 595.28)  # points
FOOTER = re.compile(r"^(\S.*?)\s{2,}Page (\d+)$")
PLACES = {"BHD": 3, "KWD": 3, "OMR": 3, "SAR": 2, "AED": 2, "QAR": 2}


@dataclass
class Page:
    number: int  # in the PDF, from 1
    size: tuple[float, float]
    text: str

    @property
    def lines(self) -> list[str]:
        return [ln.strip() for ln in self.text.splitlines() if ln.strip()]

    @property
    def footer(self) -> tuple[str, int]:
        match = FOOTER.match(self.lines[-1])
        assert match, f"page {self.number} ends with {self.lines[-1]!r}, not its sheet's name and page number"
        return match.group(1), int(match.group(2))


@pytest.fixture(scope="module")
def printed(realistic_db, tmp_path_factory):
    """(workbook, [Page]) of the realistic export's workbook printed to PDF by LibreOffice."""
    missing = sorted({package for tool, package in TOOLS.items() if not shutil.which(tool)})
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (make test installs them; without root it prints the "
                    "apt-get command)")
    out = tmp_path_factory.mktemp("print")
    engine = make_engine(realistic_db, readonly=True)
    try:
        [xlsx] = reports.build("excel", engine, settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db),
                               out)
    finally:
        engine.dispose()
    profile = (out / "libreoffice-profile").as_uri()  # its own profile: another LibreOffice may be running
    subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf", "--outdir",
                    str(out), str(xlsx)], check=True, capture_output=True, timeout=900)
    pdf = out / "report.pdf"
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "100000", str(pdf)], check=True, capture_output=True,
                          text=True).stdout
    sizes = [(float(w), float(h)) for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info, re.M)]
    texts = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                           text=True).stdout.split("\f")[:len(sizes)]
    assert len(texts) == len(sizes) > 0
    return openpyxl.load_workbook(xlsx), [Page(i, size, t) for i, (size, t) in enumerate(zip(sizes, texts), 1)]


def by_sheet(pages: list[Page]) -> dict[str, list[Page]]:
    out: dict[str, list[Page]] = {}
    for page in pages:
        out.setdefault(page.footer[0], []).append(page)
    return out


def test_every_page_is_a4_landscape_with_the_period_on_top(printed):
    _, pages = printed
    for page in pages:
        assert page.size == pytest.approx(A4_LANDSCAPE, abs=1), page.number
        assert page.lines[0].startswith("Balance report, business dates "), page.number


def test_each_sheet_prints_in_order_its_pages_numbered_from_one(printed):
    wb, pages = printed
    sheets = by_sheet(pages)
    assert list(sheets) == wb.sheetnames  # every sheet, in the workbook's order, none split into pieces
    for name, its in sheets.items():
        assert [p.footer[1] for p in its] == list(range(1, len(its) + 1)), name
        assert [p.number for p in its] == list(range(its[0].number, its[0].number + len(its))), name
    assert "Balance report workbook" in sheets["README"][0].text


def test_each_sheets_pages_are_one_page_wide_under_its_header_row(printed):
    """The first pages and the last of every data sheet show the header of every printed column (so no page is a
    strip of columns, and the header row repeats), and no number is too wide for its column."""
    wb, pages = printed
    for name, its in by_sheet(pages).items():
        if name == "README":
            continue
        ws = wb[name]
        last = openpyxl.utils.column_index_from_string(ws.print_area.split(":")[1].split("$")[1])
        words = {w for cell in next(ws.iter_rows(min_row=1, max_row=1, max_col=last)) for w in cell.value.split()}
        for page in its[:FIRST_PAGES] + its[-1:]:
            seen = set(page.text.split())
            assert words <= seen, (name, page.footer[1], sorted(words - seen))
            assert "###" not in page.text, (name, page.footer[1])
    ledger = by_sheet(pages)["Ledger"]
    assert len(ledger) < wb["Ledger"].max_row / 40  # whole rows to a page, not strips of columns


def test_the_summary_prints_the_roll_forward_in_each_currencys_decimals(printed, realistic_db):
    wb, pages = printed
    engine = make_engine(realistic_db, readonly=True)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT currency, month, opening_balance, closing_balance FROM "
                                      "balance_rollforward ORDER BY currency, month")).mappings().first()
    finally:
        engine.dispose()
    places = PLACES[first["currency"]]

    def shown(micros: int) -> str:
        value = (Decimal(micros) / 1_000_000).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return f"{value:,}"
    summary = by_sheet(pages)["Summary"][0]
    row = next(ln for ln in summary.lines if ln.startswith(f"{first['currency']} "))
    assert row.split()[:3] == [first["currency"], first["month"], shown(first["opening_balance"])]
    assert shown(first["closing_balance"]) in row.split()
