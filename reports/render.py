"""Jinja2 templates (reports/templates/) and the filters they use to show numbers.

Autoescaping is on: every value from the database (user ids, explanations)
is text, never markup. Pages are self-contained: styles are inlined, and the
charts carry the plotly.js bundle inside the file, so they open offline.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


def amount(value: Decimal | None) -> str:
    """A quantized amount with thousands separators (`-1,234.500`); empty when missing."""
    return "" if value is None else f"{value:,}"


def count(value) -> str:
    return "" if value is None else f"{int(value):,}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["amount"] = amount
    env.filters["count"] = count
    env.globals["css"] = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env


def page(name: str, **values) -> str:
    return environment().get_template(name).render(**values)
