"""Deterministic generator of realistic balance-sync CloudWatch exports (`python -m sample`)."""
from sample.export import NIS_MEANING_SWITCH, SampleStats, SampleUsageError, generate, main

__all__ = ["generate", "SampleStats", "SampleUsageError", "NIS_MEANING_SWITCH", "main"]
