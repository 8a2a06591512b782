"""Full-text search over bills: one interface over SQLite FTS5 and PostgreSQL full-text search.

One module per concern, as datasette splits its facets and filters from the view composing them:

- :mod:`.query`: the query's URL parameters, safe word parsing, typed bill numbers;
- :mod:`.filters`: the query's filters as SQL conditions;
- :mod:`.backends`: matching words with FTS5 MATCH or a PostgreSQL tsquery;
- :mod:`.facets`: counts per state, stage, topic and session;
- :mod:`.cache` and :mod:`.snapshot`: big result sets counted and ranked once per data version;
- :mod:`.ranking`: ordering a page by relevance or by latest action;
- :mod:`.plans`: SQLite's covering indexes (INDEXED BY);
- :mod:`.results`: :func:`search` composing them;
- :mod:`.indexing`: keeping the index in step with the bills;
- :mod:`.export`: CSV rows and the JSON of a result (the API's and the CLI's).

User input never reaches MATCH or ``to_tsquery`` as typed, and every query is built with bound
parameters. A bill number typed in the box (``HB 2795``, ``s6169``, ``ny s6169``) resolves to
the bill. This package's namespace is the public face the site, the CLI and ingest use.
"""

from tracker.search.backends import fts5_expression, pg_tsquery
from tracker.search.cache import clear_cache
from tracker.search.export import (
    EXPORT_COLUMNS,
    MAX_EXPORT_ROWS,
    csv_safe,
    export_query,
    export_rows,
    result_json,
    write_csv,
)
from tracker.search.facets import FACETS, FacetValue
from tracker.search.indexing import indexed_count, rebuild_index, rebuild_index_on, reindex_bills
from tracker.search.query import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    Item,
    SearchQuery,
    TextQuery,
    detect_bill_number,
    parse_text,
)
from tracker.search.results import SearchResult, count_later, search, warm

__all__ = [
    "DEFAULT_PER_PAGE",
    "EXPORT_COLUMNS",
    "FACETS",
    "MAX_EXPORT_ROWS",
    "MAX_PER_PAGE",
    "MAX_QUERY_CHARS",
    "FacetValue",
    "Item",
    "SearchQuery",
    "SearchResult",
    "TextQuery",
    "clear_cache",
    "count_later",
    "csv_safe",
    "detect_bill_number",
    "export_query",
    "export_rows",
    "fts5_expression",
    "indexed_count",
    "parse_text",
    "pg_tsquery",
    "rebuild_index",
    "rebuild_index_on",
    "reindex_bills",
    "result_json",
    "search",
    "warm",
    "write_csv",
]
