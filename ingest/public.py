"""The public face of ingestion: analytics.ingestion_files, quarantine and refused_files."""

from __future__ import annotations

import duckdb

from core.schema_docs import apply_comments


def publish_ingestion_tables(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild the analytics views of the ingestion record; returns their row counts."""
    con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    con.execute(
        """
        CREATE OR REPLACE TABLE analytics.ingestion_files AS
        SELECT file_path, content_sha256, format, records_in, loaded, quarantined, duplicates,
               ingested_at, bytes, seconds
        FROM raw.ingestion_files ORDER BY ingested_at, file_path
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE analytics.quarantine AS
        SELECT file_path, record_number, reason, raw_record, quarantined_at, file_sha256,
               status, replayed_at
        FROM raw.quarantine ORDER BY quarantined_at, file_path, record_number
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE analytics.refused_files AS
        SELECT file_path, content_sha256, reason, refused_at FROM raw.refused_files
        ORDER BY refused_at
        """
    )
    counts = {}
    for table in ("ingestion_files", "quarantine", "refused_files"):
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts
