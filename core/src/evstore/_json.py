"""JSON for payloads, metadata and projection columns, and UTC timestamps in one format.

Encoding is ``orjson`` (about ten times the standard library's encoder on a 12 KB
payload) made strict where it is lenient, because whatever is stored must read back as
it was given, on every backend, for good:

- keys must be strings (``{1: "a", "1": "b"}`` would otherwise lose a value);
- NaN and infinities are refused (orjson writes them as ``null``);
- strings must be valid Unicode (a lone surrogate cannot be stored as UTF-8) and hold
  no NUL character (PostgreSQL's text cannot, so a projection column on one backend, or
  a store moved to it, could not take what the other accepted);
- nesting is limited to :data:`MAX_DEPTH` levels, well inside what every decoder we use
  reads back (pydantic-core's ~200, orjson's 1024, Python's recursion limit), so an
  accepted payload can always be exported, replayed and verified.

When encoding fails we walk the value once more to name the exact field path, so the
error says ``payload.items[2].when`` rather than "not serializable".
"""

from __future__ import annotations

import json
import math
import time
from array import array
from collections.abc import Callable
from datetime import UTC, date, datetime
from itertools import accumulate
from pathlib import PurePath
from typing import Any
from uuid import UUID

import orjson
import pydantic_core
from pydantic import BaseModel

from ._errors import PayloadSerializationError

MAX_DEPTH = 100
"""How deeply a payload or metadata value may nest (a dict in a list in a dict is 3)."""

_TIMESTAMP_SPEC = "microseconds"
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 +1 -1 -1


def format_timestamp(moment: datetime) -> str:
    """Aware UTC ISO-8601 with microseconds, the one format every stored time uses.

    A naive datetime is rejected rather than guessed at: guessing local time would make
    the same history produce different rows on machines in different time zones.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"timestamp {moment.isoformat()} has no time zone; pass an aware datetime "
            "(for example datetime.now(timezone.utc))"
        )
    try:
        return moment.astimezone(UTC).isoformat(timespec=_TIMESTAMP_SPEC)
    except OverflowError:
        raise ValueError(
            f"timestamp {moment.isoformat()} is outside the years 1 to 9999 once converted to UTC"
        ) from None


# (a Unix second, its "YYYY-MM-DDTHH:MM:SS" in UTC): one tuple, swapped whole, so a
# thread reading it never pairs one second with another's text.
_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """The current time as ``format_timestamp`` writes it. Every append without a
    timestamp and every projection update takes one: the date and time of day are
    formatted once a second, only the microseconds each call (half the cost of
    ``datetime.now(UTC).isoformat``)."""
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != seconds:
        cached = _second = (seconds, datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")[:19])
    return f"{cached[1]}.{micros:06d}+00:00"


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _encode_extra(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return format_timestamp(value)
        return value.isoformat(timespec=_TIMESTAMP_SPEC)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(type(value).__name__)


_STRICT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_encode_extra)


def dumps(value: Any, field: str = "value") -> str:
    """Encode ``value`` as compact JSON (keys in the order given, non-ASCII kept), or
    raise ``PayloadSerializationError`` naming ``field``'s offending path. Public as
    ``evstore.encode_json``: projections storing JSON in a column use it, so the text is
    the same in every process, on every backend, and after every rebuild."""
    try:
        encoded = orjson.dumps(value, default=_encode_extra, option=_OPTIONS)
    except orjson.JSONEncodeError as error:
        encoded = _fallback(value, field, error)
    # The checks search the decoded text: ``in`` on a str costs a sixth of the same on
    # bytes, and every append encodes its payload here.
    text = encoded.decode()
    if "\\u0000" in text:
        _check_no_nul(value, field)
    if "null" in text:
        # orjson writes NaN and infinities as null: only a payload that has a null can
        # hide one, and then the standard encoder (which refuses them) decides.
        _check_finite(value, field)
    # Deeper than MAX_DEPTH takes more than MAX_DEPTH opening brackets, each closed.
    if (
        len(text) > 2 * MAX_DEPTH and text.count("[") + text.count("{") > MAX_DEPTH
        and _depth(encoded) > MAX_DEPTH
    ):
        raise PayloadSerializationError(field, value, too_deep=MAX_DEPTH)
    return text


def _fallback(value: Any, field: str, error: Exception) -> bytes:
    """orjson refused the value; integers beyond 64 bits are still JSON (the standard
    encoder writes them), anything else is named precisely."""
    if "64-bit" in str(error):
        path, bad = _find_unencodable(value, field)
        if not path:
            try:
                return _STRICT.encode(value).encode()
            except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
                pass
    if "Recursion limit" in str(error):
        raise PayloadSerializationError(field, value, too_deep=MAX_DEPTH) from None
    path, bad = _find_unencodable(value, field)
    raise PayloadSerializationError(path or field, bad if path else value) from None


def _check_finite(value: Any, field: str) -> None:
    try:
        _STRICT.encode(value)  # C speed; refuses NaN and infinities
        return
    except ValueError:
        pass
    except (TypeError, RecursionError):  # a type orjson knows and json does not: walk it
        pass
    path, bad = _find(value, field, 0, _is_nonfinite)
    if path:
        raise PayloadSerializationError(path, bad) from None


def _check_no_nul(value: Any, field: str) -> None:
    """orjson escapes NUL as ``\\u0000``; the text may also be an escaped backslash
    before ``u0000``, so walk the value for a real one."""
    path, bad = _find(value, field, 0, _has_nul)
    if path:
        raise PayloadSerializationError(path, bad, nul=True) from None


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def _is_nonfinite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _find(value: Any, path: str, depth: int, is_bad: Callable[[Any], bool]) -> tuple[str, Any]:
    """The path and value of the first part of ``value`` (keys included, pydantic models
    as they encode) for which ``is_bad`` holds, or ``("", None)``."""
    if is_bad(value):
        return (path, value)
    if depth > MAX_DEPTH:
        return ("", None)
    if isinstance(value, BaseModel):
        return _find(value.model_dump(mode="json"), path, depth, is_bad)
    if isinstance(value, dict):
        children = [(f"{path} key {key!r}", key) for key in value]
        children += [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, (list, tuple)):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return ("", None)
    for child_path, item in children:
        found = _find(item, child_path, depth + 1, is_bad)
        if found[0]:
            return found
    return ("", None)


def _depth(encoded: bytes) -> int:
    """The nesting depth of JSON text (brackets inside strings do not count).

    Only C-level bytes operations, because a 12 KB payload with a few hundred brackets
    reaches this on every append: dropping escaped backslashes and then escaped quotes
    leaves every remaining quote a string delimiter, so the even pieces between quotes
    are the text outside strings; the brackets there become +1 / -1 steps, and the
    deepest running sum is the depth. (A regular expression over the strings took four
    times as long.)"""
    unescaped = encoded.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    steps = outside.translate(None, _NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(array("b", steps)), default=0)


def loads(text: str | bytes) -> Any:
    """Decode JSON text (public as ``evstore.decode_json``). pydantic-core's parser is about three times faster than
    json.loads on typical payloads; anything it cannot nest deep enough for (stored by
    another program) falls back to the standard decoder."""
    try:
        return pydantic_core.from_json(text)
    except ValueError as error:
        if "recursion limit" not in str(error):
            raise
        return json.loads(text)


_PLAIN = (str, int, bool, type(None))
_EXTRA = (datetime, date, UUID, PurePath, BaseModel)


def _find_unencodable(value: Any, path: str, depth: int = 0) -> tuple[str, Any]:
    if depth > MAX_DEPTH:
        return (path, value)
    if isinstance(value, float):
        return (path, value) if not math.isfinite(value) else ("", None)
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return (path, value)
        return ("", None)
    if isinstance(value, (*_PLAIN, *_EXTRA)):
        return ("", None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{path} key {key!r}", key)
            found = _find_unencodable(key, f"{path} key {key!r}", depth + 1)
            if found[0]:
                return found
            found = _find_unencodable(item, f"{path}.{key}", depth + 1)
            if found[0]:
                return found
        return ("", None)
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unencodable(item, f"{path}[{index}]", depth + 1)
            if found[0]:
                return found
        return ("", None)
    return (path, value)
