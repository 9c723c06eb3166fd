"""`python -m scheduler`: ingestion every N minutes, the daily overdraft report and the weekly reconciliation.

The jobs are plain functions of (settings, now) in scheduler/jobs.py; their
timing is in scheduler/schedule.py (APScheduler's BlockingScheduler, business
time zone); the command line is scheduler/cli.py. docs/scheduling.md shows the
equivalent cron lines and an Airflow DAG.
"""
