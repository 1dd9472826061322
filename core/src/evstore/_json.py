"""JSON encoding of payloads and metadata, and UTC timestamps in one format.

Encoding uses the C-accelerated ``json`` encoder with a ``default`` hook for the few
extra types we accept. When it fails we walk the value once more to name the exact
field path, so the error says ``payload.items[2].when`` rather than "not serializable".
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any
from uuid import UUID

import pydantic_core
from pydantic import BaseModel

from ._errors import PayloadSerializationError

_TIMESTAMP_SPEC = "microseconds"


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
    return moment.astimezone(UTC).isoformat(timespec=_TIMESTAMP_SPEC)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec=_TIMESTAMP_SPEC)


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _encode_extra(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).isoformat(timespec=_TIMESTAMP_SPEC)
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


_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_encode_extra
)
# JSONEncoder.encode builds a new C encoder on every call; encoding is on the append
# path, so build the C encoder once. It is CPython's own, available since Python 3.1;
# fall back to the pure-Python path where it is missing.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode_basestring = getattr(json.encoder, "c_encode_basestring", None)


def _make_fast_encoder() -> Any:
    if _c_make_encoder is None or _c_encode_basestring is None:
        return None
    # No circular-reference markers: a cyclic payload ends in RecursionError, which
    # dumps() reports like any other unencodable value.
    encode = _c_make_encoder(None, _encode_extra, _c_encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(encode(value, 0))


_fast_encode = _make_fast_encoder()


def dumps(value: Any, field: str) -> str:
    """Encode ``value`` as compact JSON, naming ``field``'s offending path on failure."""
    try:
        if _fast_encode is not None:
            return str(_fast_encode(value))
        return _encoder.encode(value)
    except RecursionError:
        raise PayloadSerializationError(field, value, cyclic=True) from None
    except (TypeError, ValueError):
        path, bad = _find_unencodable(value, field)
        raise PayloadSerializationError(path or field, bad if path else value) from None


def loads(text: str | bytes) -> Any:
    # pydantic-core's parser is about three times faster than json.loads on typical
    # payloads, and reading is where events are decoded by the thousand.
    return pydantic_core.from_json(text)


_PLAIN = (str, int, bool, type(None))
_EXTRA = (datetime, date, UUID, PurePath, BaseModel)


def _find_unencodable(value: Any, path: str) -> tuple[str, Any]:
    if isinstance(value, float):
        return (path, value) if not math.isfinite(value) else ("", None)
    if isinstance(value, (*_PLAIN, *_EXTRA)):
        return ("", None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return (f"{path} key {key!r}", key)
            found = _find_unencodable(item, f"{path}.{key}")
            if found[0]:
                return found
        return ("", None)
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unencodable(item, f"{path}[{index}]")
            if found[0]:
                return found
        return ("", None)
    return (path, value)
