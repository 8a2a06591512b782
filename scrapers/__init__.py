"""Scrapers: a library that turns bytes into ``ScrapedBill`` objects, and nothing more.

The polite HTTP client and page archive, the config-driven engine and the live scraper, and
the importers of Open States and LegiScan data. Nothing here opens the tracker's database or
decides what a bill means: ``tracker.collect`` runs scrapers and hands their bills to
``tracker.ingest``, where ``tracker.understand`` classifies and stages them. From ``tracker``
this package imports only the ``ScrapedBill`` contract and the vocabularies
(``tests/test_layers.py`` checks it).

Everything that fetches from the network goes through :class:`scrapers.http.HttpClient`.
"""
