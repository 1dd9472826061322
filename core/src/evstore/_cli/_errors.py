"""Errors as the command line shows them: one line on stderr and an exit status.

evstore's own errors already name what was wrong and the fix. SQLite's and the operating
system's do not, so they get a hint here; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import click

from .. import ConcurrencyError, EvstoreError, PayloadTooLargeError, StoreBusyError, UnknownEventTypeError
from ._shared import CommandError, VersionConflict, _redacted

_DAMAGED = ("malformed", "not a database", "corrupt", "disk image")


def as_click_error(error: BaseException, db: Path | str | None) -> click.ClickException | None:
    """The one-line form of ``error``, or None when it is not an error of the input, the
    store or the machine (a bug: let it show its traceback)."""
    if isinstance(error, ConcurrencyError):
        return VersionConflict(str(error))
    if isinstance(error, EvstoreError):
        return CommandError(explain(error))
    if isinstance(error, sqlite3.DatabaseError):
        return CommandError(_sqlite_message(error, db))
    if isinstance(error, BrokenPipeError):
        return None  # the entry point stops quietly
    if isinstance(error, OSError):
        return CommandError(_os_message(error))
    if isinstance(error, OverflowError) and "SQLite" in str(error):
        return CommandError(f"a number is too large for the store: {error} (the largest is 2**63-1)")
    return None


def explain(error: EvstoreError) -> str:
    """An evstore error's message, with the command-line spelling of the fix where the
    message names the Python one."""
    message = str(error)
    if isinstance(error, StoreBusyError):
        return (
            f"{message} On the command line: pass --busy-timeout SECONDS (or set "
            "EVSTORE_BUSY_TIMEOUT) to wait longer."
        )
    if isinstance(error, PayloadTooLargeError):
        return f"{message} On the command line: --max-payload-bytes N."
    if isinstance(error, UnknownEventTypeError):
        # Only append and import take --permissive; a plugin's command that appends
        # does not, and there the Python spelling is the one its author can use.
        if _current_command_takes("permissive"):
            return error.explained("pass --permissive")
        return error.explained(
            f"{error.PERMISSIVE_IN_PYTHON} (on the command line, append and import take --permissive)"
        )
    return message


def _current_command_takes(parameter: str) -> bool:
    context = click.get_current_context(silent=True)
    return context is not None and any(p.name == parameter for p in context.command.params)


def _sqlite_message(error: sqlite3.DatabaseError, db: Path | str | None) -> str:
    where = _redacted(db) if db is not None else "the database"
    text = str(error)
    if any(sign in text for sign in _DAMAGED):
        hint = (
            " The file looks damaged: check it with `sqlite3 PATH 'PRAGMA integrity_check'` and "
            "restore it from a backup (`evstore restore`) or an `evstore export`."
        )
    elif "no such table" in text or "no such column" in text:
        hint = (
            " The store's schema is incomplete (a table was dropped or the file is not an evstore "
            "store): restore it from a backup (`evstore restore`) or an export (`evstore import`)."
        )
    elif "disk is full" in text or "disk I/O error" in text:
        hint = " The transaction was rolled back: free disk space (SQLite also needs room for its -wal file) and retry."
    elif "readonly" in text or "read-only" in text:
        hint = " The file or its folder is read-only: reading commands still work; write on writable media."
    else:
        hint = ""
    return f"SQLite failed on {where!r}: {text}.{hint}"


def _os_message(error: OSError) -> str:
    what = f"{error.filename!r}: " if error.filename else ""
    reason = error.strerror or str(error)
    hint = " Free disk space and run the command again." if error.errno == errno.ENOSPC else ""
    return f"{what}{reason}.{hint}"
