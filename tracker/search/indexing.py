"""Keeping the search index in step with the bills: per batch after ingest, or whole.

The index holds, per bill, five weighted fields: identifier, title (with other titles),
body (abstracts and subjects), sponsor names and the distinct action texts. SQLite keeps them in
the FTS5 table ``bill_fts`` (rowid = bill id); PostgreSQL keeps one weighted tsvector per bill in
``bill_search`` (weights A/B/C/D) with a GIN index. Both are created by migration 0002_search.

PostgreSQL also keeps ``bill_search_title`` (migration 0011_search_title): per bill, the part of
its document whose lexemes occur in the identifier or a title (weight A), with every position
of those lexemes, so ``ts_rank`` of one such word is the same as over the whole document. It is
derived from ``bill_search`` by the database in the same statements, so the two never disagree;
the title-first ranking of one plain word reads it instead of every match's whole document
(see :func:`tracker.search.backends.pg_title_first`).

PostgreSQL also keeps ``bill_search_sponsor`` (migration 0012_search_sponsor): per bill, the
lexemes of its document with a position of weight C (the sponsors' names, and nothing else's),
with those positions only, also derived from ``bill_search`` in the same statements. A sponsor
name is matched there with a plain lexeme test instead of a ``:C`` test over every bill whose
document holds the lexeme in any weight (see :func:`tracker.search.backends.pg_sponsor_query`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, Engine, func, select, text

from tracker.search.backends import FTS5_WEIGHTS
from tracker.tables import bill_table

_SQLITE_DOC = """
SELECT b.id,
  b.identifier || ' ' || b.identifier_norm || ' ' ||
    coalesce((SELECT group_concat(j.value, ' ') FROM json_each(b.other_identifiers) j), ''),
  b.title || ' ' ||
    coalesce((SELECT group_concat(json_extract(j.value, '$.title'), ' ')
              FROM json_each(b.other_titles) j), ''),
  coalesce((SELECT group_concat(json_extract(j.value, '$.abstract'), ' ')
            FROM json_each(b.abstracts) j), '') || ' ' ||
    coalesce((SELECT group_concat(j.value, ' ') FROM json_each(b.subjects) j), ''),
  coalesce((SELECT group_concat(DISTINCT s.name) FROM sponsorship s
            WHERE s.bill_id = b.id AND s.removed_at IS NULL), ''),
  coalesce((SELECT group_concat(DISTINCT a.description) FROM action a
            WHERE a.bill_id = b.id AND a.removed_at IS NULL), '')
FROM bill b
"""
_SQLITE_INSERT = "INSERT INTO bill_fts(rowid, identifier, title, body, sponsors, actions)"

_PG_ARRAY = "CASE WHEN json_typeof(b.{col}) = 'array' THEN b.{col} ELSE '[]'::json END"
_PG_DOC = f"""
INSERT INTO bill_search (bill_id, document)
SELECT b.id,
  setweight(to_tsvector('english', b.identifier || ' ' || b.identifier_norm || ' ' ||
      coalesce(oi.t, '') || ' ' || b.title || ' ' || coalesce(ot.t, '')), 'A') ||
  setweight(to_tsvector('english', coalesce(ab.t, '') || ' ' || coalesce(su.t, '')), 'B') ||
  setweight(to_tsvector('english', coalesce(sp.t, '')), 'C') ||
  setweight(to_tsvector('english', coalesce(ac.t, '')), 'D')
FROM bill b
LEFT JOIN LATERAL (SELECT string_agg(j, ' ') AS t
    FROM json_array_elements_text({_PG_ARRAY.format(col="other_identifiers")}) j) oi ON true
LEFT JOIN LATERAL (SELECT string_agg(j->>'title', ' ') AS t
    FROM json_array_elements({_PG_ARRAY.format(col="other_titles")}) j) ot ON true
LEFT JOIN LATERAL (SELECT string_agg(j->>'abstract', ' ') AS t
    FROM json_array_elements({_PG_ARRAY.format(col="abstracts")}) j) ab ON true
LEFT JOIN LATERAL (SELECT string_agg(j, ' ') AS t
    FROM json_array_elements_text({_PG_ARRAY.format(col="subjects")}) j) su ON true
LEFT JOIN LATERAL (SELECT string_agg(DISTINCT s.name, ' ') AS t FROM sponsorship s
    WHERE s.bill_id = b.id AND s.removed_at IS NULL) sp ON true
LEFT JOIN LATERAL (SELECT string_agg(DISTINCT a.description, ' ') AS t FROM action a
    WHERE a.bill_id = b.id AND a.removed_at IS NULL) ac ON true
{{where}}
ON CONFLICT (bill_id) DO UPDATE SET document = EXCLUDED.document
"""  # noqa: S608 - constants only
# the lexemes with a position of weight A, with all their positions: the document less the
# lexemes it has less those of weight A (C functions only: a quarter of the cost of unnest)
_PG_TITLE = """
INSERT INTO bill_search_title (bill_id, words)
SELECT s.bill_id, ts_delete(s.document, tsvector_to_array(
    ts_delete(s.document, tsvector_to_array(ts_filter(s.document, '{{a}}')))))
FROM bill_search s
{where}
ON CONFLICT (bill_id) DO UPDATE SET words = EXCLUDED.words
"""

# the lexemes with a position of weight C, with those positions only (ts_filter: one C call)
_PG_SPONSOR = """
INSERT INTO bill_search_sponsor (bill_id, words)
SELECT s.bill_id, ts_filter(s.document, '{{c}}')
FROM bill_search s
{where}
ON CONFLICT (bill_id) DO UPDATE SET words = EXCLUDED.words
"""


def reindex_bills(conn: Connection, bill_ids: Iterable[int]) -> None:
    """Re-index these bills inside the caller's transaction (ingest calls it after each batch).

    One DELETE and one INSERT ... SELECT per call: the documents are assembled by the database,
    so a batch of 500 bills costs two statements, not 500 round trips.
    """
    ids = sorted({int(i) for i in bill_ids})
    if not ids:
        return
    for chunk in _chunks(ids, 5000):
        if conn.dialect.name == "sqlite":
            param = json.dumps(chunk)
            conn.execute(
                text("DELETE FROM bill_fts WHERE rowid IN (SELECT value FROM json_each(:ids))"),
                {"ids": param},
            )
            conn.execute(
                text(
                    f"{_SQLITE_INSERT} {_SQLITE_DOC} "  # noqa: S608 - constants only
                    "WHERE b.id IN (SELECT value FROM json_each(:ids))"
                ),
                {"ids": param},
            )
        else:
            conn.execute(text(_PG_DOC.format(where="WHERE b.id = ANY(:ids)")), {"ids": chunk})
            where = "WHERE s.bill_id = ANY(:ids)"
            conn.execute(text(_PG_TITLE.format(where=where)), {"ids": chunk})
            conn.execute(text(_PG_SPONSOR.format(where=where)), {"ids": chunk})


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rebuild_index_on(conn: Connection) -> None:
    """Drop and rebuild the whole index on `conn` (used by the migration and after big imports)."""
    if conn.dialect.name == "sqlite":
        # FTS5 keeps this setting: ORDER BY rank uses bm25 with our column weights
        conn.execute(
            text("INSERT INTO bill_fts(bill_fts, rank) VALUES ('rank', :rank)"),
            {"rank": f"bm25({FTS5_WEIGHTS})"},
        )
        conn.execute(text("DELETE FROM bill_fts"))
        conn.execute(text(f"{_SQLITE_INSERT} {_SQLITE_DOC}"))
        conn.execute(text("INSERT INTO bill_fts(bill_fts) VALUES ('optimize')"))
    else:
        conn.execute(text("TRUNCATE bill_search"))
        conn.execute(text(_PG_DOC.format(where="")))
        # migration 0002 builds the index before 0011 creates the title table
        if conn.execute(text("SELECT to_regclass('bill_search_title')")).scalar() is not None:
            rebuild_title_index_on(conn)
        # and before 0012 creates the sponsor table
        if conn.execute(text("SELECT to_regclass('bill_search_sponsor')")).scalar() is not None:
            rebuild_sponsor_index_on(conn)
        conn.execute(text("ANALYZE bill_search"))  # fresh statistics so the GIN index gets used


def rebuild_title_index_on(conn: Connection) -> None:
    """PostgreSQL: derive every bill's ``bill_search_title`` row from ``bill_search``."""
    conn.execute(text("TRUNCATE bill_search_title"))
    conn.execute(text(_PG_TITLE.format(where="")))
    conn.execute(text("ANALYZE bill_search_title"))


def rebuild_sponsor_index_on(conn: Connection) -> None:
    """PostgreSQL: derive every bill's ``bill_search_sponsor`` row from ``bill_search``."""
    conn.execute(text("TRUNCATE bill_search_sponsor"))
    conn.execute(text(_PG_SPONSOR.format(where="")))
    conn.execute(text("ANALYZE bill_search_sponsor"))


def rebuild_index(engine: Engine) -> int:
    """Rebuild the whole index in one transaction; returns the number of bills indexed."""
    with engine.begin() as conn:
        rebuild_index_on(conn)
        return int(conn.execute(select(func.count()).select_from(bill_table)).scalar_one())


def indexed_count(conn: Connection) -> int:
    table = "bill_fts" if conn.dialect.name == "sqlite" else "bill_search"
    return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
