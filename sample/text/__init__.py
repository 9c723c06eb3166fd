"""Byte-exact text of what the sample export holds (docs: shared/docs/log-format.md).

Pure functions only: no randomness and no state, so the same inputs always give the
same bytes. `jsformat` prints values as Node does, `ids` builds UUIDs and ULIDs,
`lines` writes each log line.
"""
