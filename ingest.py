#!/usr/bin/env python3
"""Ingest CloudWatch exports of the balance-sync Lambda: `python ingest.py --help`."""
import logging
import os
import sys

from ingest.cli import main

if __name__ == "__main__":
    code = main()
    # Everything is committed, closed and printed: leave without tearing the interpreter down module by
    # module (about 20 ms of a two-second run on the real export).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
