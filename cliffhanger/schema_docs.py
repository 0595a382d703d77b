"""Documentation of every public table and column, applied as DuckDB ``COMMENT ON``.

The same text is rendered into docs/data-dictionary.md, so the warehouse and the docs never
disagree. Keep entries in the order analysts read them.
"""

from __future__ import annotations

import duckdb

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "series": (
        "One row per series version (a dubbed version is its own row), from the catalog.",
        {
            "series_id": "Unique id of the series version.",
            "title": "Display title.",
            "genres": "Genres, lower case.",
            "language": "BCP-47 language of the audio.",
            "original_series_id": "For a dubbed/localized version: the series it was made from.",
            "story_id": "The story all language versions share: original_series_id, else series_id.",
            "is_dubbed": "True for a dubbed/localized version.",
            "n_episodes": "Number of episodes.",
            "free_episodes": "Episodes 1..free_episodes are free.",
            "paywall_episode": "First locked episode (free_episodes + 1); null if all are free.",
            "release_date": "Release date of this version.",
            "production_type": "How it was made: ai, live_action or hybrid.",
            "production_cost_usd": "Total cost of this version in USD (null if unknown).",
        },
    ),
    "episodes": (
        "One row per episode, from the catalog.",
        {
            "episode_id": "Unique id of the episode; the player's asset id.",
            "series_id": "Series version it belongs to.",
            "episode_number": "1..n_episodes.",
            "duration_s": "Length in seconds.",
            "is_locked": "True when the episode is behind the paywall.",
        },
    ),
}


def apply_comments(con: duckdb.DuckDBPyConnection, table: str, schema: str = "analytics") -> None:
    """``COMMENT ON`` the table and each documented column that exists."""
    description, columns = TABLES[table]
    con.execute(f"COMMENT ON TABLE {schema}.{table} IS {sql_literal(description)}")
    existing = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
    }
    for column, text in columns.items():
        if column in existing:
            con.execute(f"COMMENT ON COLUMN {schema}.{table}.{column} IS {sql_literal(text)}")


def sql_literal(text: str) -> str:
    """A SQL string literal for ``COMMENT ON``, which takes no bound parameters.

    Only for the project's own documentation texts, never for user input.
    """
    return "'" + text.replace("'", "''") + "'"
