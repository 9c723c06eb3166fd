#!/usr/bin/env python3
"""Ingest CloudWatch exports of the balance-sync Lambda: `python ingest.py --help`."""
import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
