"""Pseudonymous user ids: the same user always gets the same token, and the token cannot be reversed without the key.

`pseudonymise(user_id, key)` is HMAC-SHA256 of the id under PSEUDONYMISE_KEY,
truncated to 16 hex digits (64 bits: collisions are negligible for millions of
users) and prefixed `u_` so a token is recognisable in a spreadsheet. Reports
apply it to every user-id column and to the id wherever it appears inside the
same row's free text (explanations, raw log text).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache

TOKEN_HEX_DIGITS = 16
PREFIX = "u_"


def pseudonymise(user_id: str | None, key: str | bytes) -> str | None:
    if user_id is None or user_id == "":
        return user_id
    key_bytes = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key_bytes, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:TOKEN_HEX_DIGITS]


def identity(value):
    return value


def user_mapper(key: str | None) -> Callable[[str | None], str | None]:
    """The function reports apply to user ids: a cached pseudonymiser with the key, else the identity."""
    if not key:
        return identity

    @lru_cache(maxsize=1 << 16)
    def mapped(user_id):
        return pseudonymise(user_id, key)
    return mapped


def scrub(text: str | None, user_id: str | None, token: str | None) -> str | None:
    """`text` with every occurrence of `user_id` replaced by its token (free-text columns)."""
    if not text or not user_id or user_id == token:
        return text
    return text.replace(user_id, token)
