"""A non-editable install must carry templates/, config/ and the migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_config_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("single_payer_tracker-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for state_file in (ROOT / "config" / "states").glob("*.yaml"):
        assert f"tracker/bundled/config/states/{state_file.name}" in names
    for template in (ROOT / "templates").rglob("*.*"):
        rel = template.relative_to(ROOT / "templates").as_posix()
        assert f"tracker/bundled/templates/{rel}" in names, rel
    assert "tracker/bundled/config/actions.yaml" in names
    assert "tracker/bundled/config/topics.yaml" in names
    assert "tracker/migrations/env.py" in names
    assert "tracker/migrations/script.py.mako" in names
    assert any(n.startswith("tracker/migrations/versions/0001") for n in names)
    for package in ("tracker", "scrapers"):
        for module in (ROOT / package).rglob("*.py"):
            rel = module.relative_to(ROOT).as_posix()
            assert rel in names, f"{rel} is missing from the wheel (pyproject packages list)"
