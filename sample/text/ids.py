"""Identifiers as the export prints them: UUIDs (SQS messages, requests, users) and ULIDs (transactions)."""
from __future__ import annotations

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # ULID alphabet: no I, L, O, U
# ULIDs are encoded ten bits (two characters) at a time: 13 pairs = 130 bits.
_PAIRS = tuple(a + b for a in CROCKFORD for b in CROCKFORD)


def uuid_text(bits128: int, version: int = 4) -> str:
    """A UUID string from 128 random bits, with the version nibble and RFC 4122 variant set."""
    bits = (bits128 & ~(0xF << 76)) | (version << 76)
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ulid_text(epoch_ms: int, random80: int) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, 26 Crockford base32 characters."""
    value = (epoch_ms << 80) | random80
    return "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in range(120, -1, -10)])
