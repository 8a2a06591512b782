"""Scrapers: the polite HTTP client, the page archive, the config-driven engine and importers.

Everything that fetches from the network goes through :class:`scrapers.http.HttpClient`.
"""
