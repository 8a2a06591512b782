"""Collecting: everything that runs something to bring bills in, and hands them to ingest.

``scrapers`` only turns bytes into ``ScrapedBill`` objects; this package runs it and the other
ways bills arrive, each recording a run (``tracker.runs``) and writing through
``tracker.ingest``:

- ``scrape``: a state's live scrape (the scraper, then ingest);
- ``runner``: a state's sources in order of preference (``config/sources.yaml``), and the
  national keyword discovery;
- ``openstates_api``, ``legiscan_api``, ``bulk``: the API and bulk-file sources, with
  ``base`` (quotas, cursors, the API caller), ``follow`` (which bills are followed) and
  ``options`` (the sources config);
- ``parallel``: an importer run in worker processes ahead of ingest.
"""
