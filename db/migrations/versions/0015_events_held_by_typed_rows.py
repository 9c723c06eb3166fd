"""An event whose typed row holds every value of its parsed_logs row has no parsed_logs row

Revision ID: 0015
Revises: 0014

The applied copy of a transaction (balance_events), a not-in-sync error, a guard refusal, and the START, END and
REPORT lines of an invocation (invocations gains where its END and REPORT lines are) lose their parsed_logs row
when their typed row holds all of it (docs/ingest.md, "How events are stored"); db/events.py is every event.
ingested_files gains the event id of each file's first event, from which ids go on. A downgrade gives every
event its parsed_logs row back (START, END and REPORT lines under new event ids).
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_SHARED = ("ts", "ts_ms", "business_date", "request_id", "message_id", "transaction_id", "user_id", "line_no",
           "file_id", "event_id")
_TYPED = (("sync", "balance_events", "INFO"), ("not_in_sync", "not_in_sync_events", "ERROR"),
          ("negative_balance_guard", "negative_balance_guards", "INFO"))
_PLATFORM = {"end": ("end_file_id", "end_line_no", "end_ts", "end_date"),
             "report": ("report_file_id", "report_line_no", "report_ts", "report_date")}
_INVOCATION_COLUMNS = {'count_starts': sa.Integer, 'count_ends': sa.Integer, 'count_reports': sa.Integer,
                       'end_file_id': sa.Integer, 'end_line_no': sa.Integer, 'end_date': lambda: sa.String(10),
                       'report_file_id': sa.Integer, 'report_line_no': sa.Integer, 'report_ts': lambda: sa.String(24),
                       'report_date': lambda: sa.String(10)}
_CLEAN = ("p.parse_status = 'ok' AND p.detail IS NULL AND p.text IS NULL AND p.payload IS NULL")


def _same(a: str, b: str) -> str:
    return f"{a} IS {b}" if op.get_bind().dialect.name == "sqlite" else f"{a} IS NOT DISTINCT FROM {b}"


def upgrade() -> None:
    op.add_column('ingested_files', sa.Column('first_event_id', sa.BigInteger()))
    for name, kind in _INVOCATION_COLUMNS.items():
        op.add_column('invocations', sa.Column(name, kind()))
    op.execute("UPDATE ingested_files SET first_event_id = "
               "(SELECT MIN(event_id) FROM parsed_logs p WHERE p.file_id = ingested_files.file_id)")
    for kind, table, level in _TYPED:
        same = " AND ".join(_same(f"t.{c}", f"p.{c}") for c in _SHARED)
        op.execute(f"DELETE FROM parsed_logs WHERE event_id IN (SELECT p.event_id FROM parsed_logs p "
                   f"JOIN {table} t ON t.event_id = p.event_id WHERE p.kind = '{kind}' AND p.level = '{level}' "
                   f"AND {_CLEAN} AND {same})")
    # START, END and REPORT lines: how many each request has, and where the only one of its kind is
    op.execute("CREATE TEMPORARY TABLE platform_lines AS SELECT request_id, kind, COUNT(*) AS n, "
               "MIN(event_id) AS event_id FROM parsed_logs WHERE kind IN ('start', 'end', 'report') AND "
               "request_id IS NOT NULL AND ts <> '' AND parse_status <> 'unknown' GROUP BY request_id, kind")
    op.execute("CREATE INDEX ix_platform_lines ON platform_lines (request_id, kind)")
    line = "FROM platform_lines o WHERE o.request_id = invocations.request_id AND o.kind = '{kind}'"
    op.execute("UPDATE invocations SET " + ", ".join(
        f"count_{kind}s = coalesce((SELECT o.n {line.format(kind=kind)}), 0)" for kind in ("start", "end", "report")))
    op.execute("CREATE TEMPORARY TABLE platform_once AS SELECT p.event_id, p.request_id, p.kind, p.file_id, "
               "p.line_no, p.ts, p.business_date, CASE WHEN p.level IS NULL AND p.message_id IS NULL AND "
               f"p.transaction_id IS NULL AND p.user_id IS NULL AND {_CLEAN} THEN 1 ELSE 0 END AS clean "
               "FROM parsed_logs p WHERE p.event_id IN (SELECT event_id FROM platform_lines WHERE n = 1)")
    op.execute("CREATE INDEX ix_platform_once ON platform_once (request_id, kind)")
    for kind, (file_id, line_no, ts, day) in _PLATFORM.items():
        once = f"FROM platform_once o WHERE o.request_id = invocations.request_id AND o.kind = '{kind}'"
        op.execute(f"UPDATE invocations SET {file_id} = (SELECT o.file_id {once}), "
                   f"{line_no} = (SELECT o.line_no {once}), {day} = (SELECT o.business_date {once}), "
                   f"{ts} = (SELECT o.ts {once}) WHERE request_id IN (SELECT request_id FROM platform_once "
                   f"WHERE kind = '{kind}')")
    # such a line goes when it is clean and its invocation's row points at it (db/events.py shows it from there)
    points = {"start": "i.file_id = o.file_id AND i.line_no = o.line_no AND i.start_ts = o.ts "
                       "AND i.business_date = o.business_date"}
    points.update({kind: f"i.{f} = o.file_id AND i.{n} = o.line_no AND i.{t} = o.ts AND i.{d} = o.business_date"
                   for kind, (f, n, t, d) in _PLATFORM.items()})
    for kind, where in points.items():
        op.execute(f"DELETE FROM parsed_logs WHERE event_id IN (SELECT o.event_id FROM platform_once o "
                   f"JOIN invocations i ON i.request_id = o.request_id WHERE o.kind = '{kind}' AND o.clean = 1 "
                   f"AND {where})")
    op.execute("DROP TABLE platform_once")
    op.execute("DROP TABLE platform_lines")


def downgrade() -> None:
    bind = op.get_bind()
    row = ("event_id, file_id, line_no, ts, ts_ms, business_date, kind, level, request_id, message_id, "
           "transaction_id, user_id, parse_status")
    missing = "NOT EXISTS (SELECT 1 FROM parsed_logs p WHERE p.file_id = {f} AND p.line_no = {n})"
    for kind, table, level in _TYPED:
        op.execute(f"INSERT INTO parsed_logs ({row}) SELECT t.event_id, t.file_id, t.line_no, t.ts, t.ts_ms, "
                   f"t.business_date, '{kind}', '{level}', t.request_id, t.message_id, t.transaction_id, t.user_id, "
                   f"'ok' FROM {table} t WHERE " + missing.format(f="t.file_id", n="t.line_no"))
    lines = []
    for kind, (file_id, line_no, ts, day) in {"start": ("file_id", "line_no", "start_ts", "business_date"),
                                              **_PLATFORM}.items():
        known = "start_ts" if kind == "start" else line_no
        lines += [(*r, kind) for r in bind.execute(sa.text(
            f"SELECT {file_id}, {line_no}, {ts}, {day}, request_id FROM invocations i WHERE {known} IS NOT NULL "
            "AND " + missing.format(f=f"i.{file_id}", n=f"i.{line_no}")))]
    first = max(bind.execute(sa.text("SELECT MAX(first_event_id + count_events) FROM ingested_files")).scalar() or 1,
                (bind.execute(sa.text("SELECT MAX(event_id) FROM parsed_logs")).scalar() or 0) + 1)
    new = [{"event_id": first + i, "file_id": f, "line_no": n, "ts": ts, "ts_ms": _ms(ts), "business_date": day,
            "kind": kind, "request_id": request} for i, (f, n, ts, day, request, kind) in enumerate(sorted(lines))]
    insert = sa.text(f"INSERT INTO parsed_logs ({row}) VALUES (:event_id, :file_id, :line_no, :ts, :ts_ms, "
                     ":business_date, :kind, NULL, :request_id, NULL, NULL, NULL, 'ok')")
    for start in range(0, len(new), 10000):
        bind.execute(insert, new[start:start + 10000])
    # ALTER TABLE, not Alembic's batch copy: the copy would drop a table other tables' rows refer to
    for name in _INVOCATION_COLUMNS:
        op.execute(f"ALTER TABLE invocations DROP COLUMN {name}")
    op.execute("ALTER TABLE ingested_files DROP COLUMN first_event_id")


def _ms(ts: str) -> int:
    """Epoch milliseconds of an ISO-8601 UTC time with milliseconds, as ingest computes them."""
    when = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(when.timestamp()) * 1000 + when.microsecond // 1000
