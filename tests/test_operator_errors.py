"""Operator errors in one paragraph (issue 13, failure 11): a wrong port, user or database name,
an unparseable URL, a full disk or a folder this user may not write give one line naming the
setting, exit status 2 (configuration) or 1 (runtime), and no traceback unless asked for."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.cli.errors import explain

PG = "postgresql://127.0.0.1:5432"


def _tracker(*args: str, url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "TRACKER_DATABASE_URL": url, "TRACKER_DATA_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", "from tracker.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "command", "says"),
    [
        ("postgresql://127.0.0.1:1/test", ["status"], "cannot be reached"),
        (f"{PG}/t_no_such_database_synthetic", ["db", "upgrade"], "does not exist"),
        ("postgresql://no_such_user_synthetic@127.0.0.1:5432/test", ["search", "x"], "user"),
        ("nosuchdialect://x", ["status"], "not a usable database URL"),
    ],
)
def test_database_mistakes_are_one_paragraph(
    url: str, command: list[str], says: str, tmp_path: Path
) -> None:
    result = _tracker(*command, url=url, tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert says in lines[0] and "TRACKER_DATABASE_URL" in lines[0]
    assert "--debug" in lines[0]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    url = "postgresql://127.0.0.1:1/test"
    flag = _tracker("--debug", "status", url=url, tmp_path=tmp_path)
    env = _tracker("status", url=url, tmp_path=tmp_path, TRACKER_DEBUG="1")
    for result in (flag, env):
        assert result.returncode == 1 and "Traceback" in result.stderr


def test_disk_full_and_permission_denied_are_runtime_errors() -> None:
    full = explain(OSError(errno.ENOSPC, "No space left on device", "/data/tracker.db"))
    denied = explain(PermissionError(errno.EACCES, "Permission denied", "/data"))
    assert full is not None and full[1] == 1 and "disk is full" in full[0]
    assert denied is not None and denied[1] == 1 and "TRACKER_DATA_DIR" in denied[0]
    wrapped = RuntimeError("import failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert explain(wrapped) == explain(OSError(errno.ENOSPC, "x"))


def test_a_bug_is_not_dressed_up_as_an_operator_error() -> None:
    assert explain(KeyError("x")) is None and explain(ValueError("y")) is None
