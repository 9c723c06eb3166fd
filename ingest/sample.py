"""`python -m ingest.sample`: the old name of `python -m sample` (the generator lives in sample/)."""
import sys

from sample.cli import main

if __name__ == "__main__":
    sys.exit(main())
