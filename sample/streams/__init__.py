"""The logging side of the sample generator: invocations, execution environments, timing and files.

`write_day` turns one `DayPlan` into log streams and writes them. It uses its own
`random.Random` seeded from (seed, day), so each day's files depend only on the
seed and that day's plan: days can be written by parallel workers in any order and
the bytes stay the same.

Where each part lives:

    writer.py       write_day: batches of messages → invocations on environments
    environment.py  one execution environment (= one log stream): cold start, lifetime
    builds.py       the function's runtime, memory size and stack names by date
    invocation.py   the lines one invocation logs, and the gaps between them
    metadata.py     the metadata JSON of full-schema sync blocks
    files.py        one stream's 000000.gz: out-of-order chunks, gzip, twins

The model, tuned on the real export:

* SQS batches of 1–10 messages → one invocation each. The nightly batch is drained
  by a few environments started together (more when there are more messages); the
  daytime traffic reuses a warm environment when one is idle, else cold-starts one.
* One environment = one log stream = one `000000.gz`, named after its creation day.
  Its first invocation follows an `INIT_START` and reports an `Init Duration`.
* Gaps between log lines follow the real ones (a few ms to ~100 ms).
* The file is written in chunks, some of them out of time order (§3.4).
"""
from sample.streams.files import DayResult, Options
from sample.streams.writer import write_day

__all__ = ["DayResult", "Options", "write_day"]
