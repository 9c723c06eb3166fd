"""`python -m sample --out DIR --days N --users N --seed N …` (see sample.cli)."""
import sys

from sample.cli import main

sys.exit(main())
