"""Operator errors in one paragraph: the one handler around every `tracker` command.

A wrong database port, a missing database, a bad password, an unparseable URL, a full disk or a
folder the process may not write used to end in a 400-line traceback with the cause at the
bottom. :func:`explain` turns those into one message that names the setting to fix; the exit
status is 2 for configuration (fix a setting, then rerun) and 1 for runtime trouble (disk,
permissions). ``--debug`` or ``TRACKER_DEBUG=1`` shows the traceback as before.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any

CONFIG, RUNTIME = 2, 1

# (phrases of the driver's message, any of which names the cause; what to say; exit status).
# A phrase is words that must all appear. First match wins.
_DB_CAUSES: list[tuple[tuple[tuple[str, ...], ...], str, int]] = [
    (
        (("password authentication failed",), ("role", "does not exist"), ("no password",)),
        "the database refused the user or password",
        CONFIG,
    ),
    ((("database", "does not exist"),), "the database does not exist (create it first)", CONFIG),
    (
        (("connection refused",), ("could not translate host",), ("name or service not known",),
         ("timeout expired",), ("no route to host",), ("is the server running",)),
        "the database server cannot be reached (is it running, is the host and port right?)",
        CONFIG,
    ),
    ((("unable to open database file",),), "the SQLite file cannot be opened", CONFIG),
    ((("disk is full",), ("no space left",)), "the disk is full: free some space and rerun", RUNTIME),
    ((("readonly database",), ("read-only",)), "the database is read-only for this user", RUNTIME),
]  # fmt: skip


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("TRACKER_DEBUG", "").strip() in ("1", "true")


def _safe_url() -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from tracker.settings import get_settings

    raw = get_settings().resolved_database_url
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable)"


def _database(exc: Any) -> tuple[str, int]:
    text = str(exc.orig or exc).lower()
    found = next(
        (
            (what, status)
            for phrases, what, status in _DB_CAUSES
            if any(all(word in text for word in phrase) for phrase in phrases)
        ),
        None,
    )
    what, status = found or (
        f"the database failed: {str(exc.orig or exc).splitlines()[0]}",
        RUNTIME,
    )
    return f"{what}. TRACKER_DATABASE_URL is {_safe_url()}.", status


def _os_error(exc: OSError) -> tuple[str, int] | None:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full{where}: free some space (TRACKER_DATA_DIR) and rerun.", RUNTIME
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"permission denied{where}: let this user write there, or point TRACKER_DATA_DIR "
            "(or TRACKER_DATABASE_URL) somewhere it may.",
            RUNTIME,
        )
    if exc.errno == errno.ENOENT and exc.filename:
        return f"no such file or folder{where}: check TRACKER_DATA_DIR and the paths given.", CONFIG
    return None


def explain(exc: BaseException) -> tuple[str, int] | None:
    """(one-paragraph message, exit status) for an operator error, or None for a bug."""
    # SQLAlchemy and the settings (pydantic) are imported here, not at start-up: `tracker --help`
    # must not pay for them.
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from tracker.settings import SettingsError

    if isinstance(exc, OperationalError):
        return _database(exc)
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return (
            f"TRACKER_DATABASE_URL is not a usable database URL ({exc}); expected e.g. "
            "postgresql://user@host:5432/tracker or sqlite:///data/tracker.db.",
            CONFIG,
        )
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, SettingsError):
        return str(exc), CONFIG
    cause = exc.__cause__ or exc.__context__
    return explain(cause) if cause is not None and cause is not exc else None


def run_guarded(command: Callable[[], object], argv: list[str]) -> None:
    """Run ``command``; an operator error prints one paragraph to stderr and exits 2 or 1."""
    try:
        command()
    except Exception as exc:
        found = None if debug_requested(argv) else explain(exc)
        if found is None:
            raise
        message, status = found
        print(f"tracker: error: {message} (details: rerun with --debug)", file=sys.stderr)
        raise SystemExit(status) from None
