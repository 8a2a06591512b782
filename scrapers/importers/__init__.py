"""Importers: Open States and LegiScan data files -> :class:`tracker.scraped.ScrapedBill`.

Each importer is a generator over paths (files, folders, archives) that yields a ScrapedBill per
bill or a :class:`RecordError` per bad record, and goes on. No database access: ``tracker.ingest``
consumes them. ``detect_format`` tells the CLI which importer a path needs.
"""

from scrapers.importers.base import Progress, RecordError, detect_format
from scrapers.importers.legiscan import iter_legiscan, legiscan_session_name
from scrapers.importers.openstates import iter_openstates

__all__ = [
    "Progress",
    "RecordError",
    "detect_format",
    "iter_legiscan",
    "iter_openstates",
    "legiscan_session_name",
]
