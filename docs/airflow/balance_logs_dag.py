"""Airflow DAGs for balance-logs: the same three jobs as `python -m scheduler`, for teams that run Airflow.

Copy this file into your DAGs folder and set BALANCE_LOGS_HOME to the checkout (with its .venv and .env).
Each task runs one job once with `python -m scheduler --run JOB --at <the run's logical end>`, so a rerun
or a backfill writes exactly the report of that day or week. Ingestion itself is safe to overlap with
anything: it holds a database lock, and a second ingest exits at once ("skipped, another ingest is
running"). Requires Airflow 2.4 or later (the `schedule` argument).
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

HOME = os.environ.get("BALANCE_LOGS_HOME", "/srv/balance-logs")
BUSINESS_TZ = pendulum.timezone(os.environ.get("BALANCE_LOGS_TZ", "Asia/Riyadh"))  # the same zone as BUSINESS_TZ


def run(job: str) -> str:
    """The shell command of one job; Airflow renders the Jinja part to the run's logical end (aware ISO time)."""
    return f"cd {HOME} && .venv/bin/python -m scheduler --run {job} --at '{{{{ data_interval_end.isoformat() }}}}'"


DEFAULTS = {"owner": "balance-logs", "retries": 2, "retry_delay": timedelta(minutes=5)}
START = pendulum.datetime(2024, 1, 1, tz=BUSINESS_TZ)

with DAG("balance_logs_ingest", schedule="*/15 * * * *", start_date=START, catchup=False, max_active_runs=1,
         default_args=DEFAULTS, tags=["balance-logs"],
         doc_md="Ingest LOG_DIR every 15 minutes (INGEST_EVERY_MINUTES); transforms and alerts run inside it."):
    BashOperator(task_id="ingest", bash_command=run("ingest"),
                 execution_timeout=timedelta(minutes=30))

with DAG("balance_logs_daily_overdrafts", schedule="0 1 * * *", start_date=START, catchup=False,
         max_active_runs=1, default_args=DEFAULTS, tags=["balance-logs"],
         doc_md="The overdraft report of the business day, at 01:00 business time, after the nightly batch "
                "(DAILY_REPORT_TIME). Output: REPORT_DIR/daily/overdrafts-YYYY-MM-DD.csv"):
    BashOperator(task_id="daily_overdrafts", bash_command=run("daily-overdrafts"),
                 execution_timeout=timedelta(minutes=15))

with DAG("balance_logs_weekly_reconciliation", schedule="0 1 * * 1", start_date=START, catchup=False,
         max_active_runs=1, default_args=DEFAULTS, tags=["balance-logs"],
         doc_md="The reconciliation summary of the previous Monday-to-Sunday week, on Mondays at 01:00 business "
                "time (WEEKLY_REPORT_WEEKDAY). Output: REPORT_DIR/weekly/reconciliation-YYYY-Www.csv and .html"):
    BashOperator(task_id="weekly_reconciliation", bash_command=run("weekly-reconciliation"),
                 execution_timeout=timedelta(minutes=15))
