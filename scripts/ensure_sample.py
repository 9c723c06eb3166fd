"""`make run` helper: if LOG_DIR (from .env / environment) holds no file, write a sample export there."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import settings  # noqa: E402

SAMPLE = {"days": 14, "users": 300, "seed": 42}


def main() -> int:
    log_dir = Path(settings.load().log_dir)
    if not log_dir.is_absolute():
        log_dir = settings.ROOT / log_dir
    if log_dir.exists() and any(p.is_file() for p in log_dir.rglob("*")):
        return 0
    from sample import generate
    print(f"{log_dir} is empty: writing a sample export there "
          f"(python -m sample --out {log_dir} --days {SAMPLE['days']} --users {SAMPLE['users']} "
          f"--seed {SAMPLE['seed']}); put real CloudWatch exports there instead to see your own data")
    generate(log_dir, **SAMPLE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
