"""Run a .sql file of several statements with bound parameters."""

from __future__ import annotations

from pathlib import Path

import duckdb


def statements(path: Path) -> list[str]:
    """The statements of a SQL file; each ends with ``;`` at the end of a line."""
    text = Path(path).read_text()
    return [part.strip() for part in text.split(";\n") if _has_sql(part)]


def _has_sql(part: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in part.splitlines())


def run(con: duckdb.DuckDBPyConnection, sql: list[str], values: dict[str, object]) -> None:
    """Execute each statement, binding only the ``$name`` parameters it uses.

    DuckDB binds parameters one statement at a time, and refuses unused ones.
    """
    for statement in sql:
        code = "\n".join(line.split("--", 1)[0] for line in statement.splitlines())
        con.execute(statement, {k: v for k, v in values.items() if f"${k}" in code})
