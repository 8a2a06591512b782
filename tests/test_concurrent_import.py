"""Two imports of the same real archive at once, as two processes, on both backends (issue 13,
failure 7): neither dies on a unique key (``uq_bill_natural_key``, ``state.code``), both exit
0, and the database holds what one import would: every bill once, its children once, one
``bill_new`` change per bill, and a third import finds nothing to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from scrapers.importers.legiscan import iter_legiscan
from tracker.db import make_engine
from tracker.models import Action, Bill, BillSource, Change, Sponsorship
from tracker.scraped import ScrapedBill

KS_ZIP = "legiscan/bulk_csv/KS_2025-2026_Regular_Session_CSV_20250411_0c8fd50618be7bd118fafec187dc7f90.zip"


def _start(url: str, archive: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from tracker.cli import main; main()"]
        + ["import", "legiscan", str(archive), "--workers", "0", "--json"],
        env={**os.environ, "TRACKER_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = {
            name: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in (("bills", Bill), ("actions", Action), ("sponsors", Sponsorship))
        }
        out["bill_new"] = conn.execute(
            select(func.count()).select_from(Change).where(Change.kind == "bill_new")
        ).scalar_one()
    engine.dispose()
    return out


def test_two_imports_of_one_archive_at_once_equal_one_import(
    db_url: str, shared_data: Path
) -> None:
    archive = shared_data / KS_ZIP
    procs = [_start(db_url, archive) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    bills = [b for b in iter_legiscan([archive]) if isinstance(b, ScrapedBill)]
    one_import = {
        "bills": len(bills),
        "actions": sum(len(b.actions) for b in bills),
        "sponsors": sum(len(b.sponsorships) for b in bills),
        "bill_new": len(bills),
    }
    assert _counts(db_url) == one_import
    # Between them the two runs account for every bill once as new.
    news = [json.loads(out.strip().splitlines()[-1])["new"] for out, _err in outputs]
    assert sum(news) == len(bills)
    third = _start(db_url, archive)
    out, err = third.communicate(timeout=600)
    assert third.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {
        "new": 0,
        "updated": 0,
        "unchanged": len(bills),
        "errors": 0,
    }


CO_TARBALL = "openstates/windy_civi_2025/co-data-pipeline_metadata.tar.gz"
CO_ZIP = "legiscan/bulk_csv/CO_2025-2025_Regular_Session_CSV_20250604_2e86b4855c561c5f4a5d2e691b9e0977.zip"


def test_open_states_and_legiscan_at_once_both_stay(db_url: str, shared_data: Path) -> None:
    """Two sources of one state at once (both create state ``co``): both exit 0, and every
    bill of each is there, credited to its source."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "from tracker.cli import main; main()"]
            + ["import", kind, str(shared_data / path), "--workers", "0", "--json"],
            env={**os.environ, "TRACKER_DATABASE_URL": db_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind, path in (("openstates", CO_TARBALL), ("legiscan", CO_ZIP))
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    engine = make_engine(db_url)
    with engine.connect() as conn:
        by_source = dict(
            conn.execute(select(BillSource.source, func.count()).group_by(BillSource.source)).all()
        )
    engine.dispose()
    assert by_source["import:openstates"] >= 60
    assert by_source["import:legiscan"] >= 700
