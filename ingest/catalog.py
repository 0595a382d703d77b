"""Load and validate a catalog folder (CONTRACT §1) into the working database.

The catalog is checked as a whole before anything is written: a bad catalog is refused with
every problem listed, and the tables stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.db import transaction

SERIES_COLUMNS = (
    "series_id",
    "title",
    "genres",
    "language",
    "original_series_id",
    "n_episodes",
    "free_episodes",
    "release_date",
    "production_type",
    "production_cost_usd",
)
EPISODE_COLUMNS = ("episode_id", "series_id", "episode_number", "duration_s")
PRODUCTION_TYPES = ("ai", "live_action", "hybrid")
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$"
_SQL = (Path(__file__).with_name("catalog.sql")).read_text()

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE TABLE IF NOT EXISTS raw.series (
    series_id VARCHAR NOT NULL,  -- unique (checked at load; a DuckLake has no keys)
    title VARCHAR,
    genres VARCHAR[],
    language VARCHAR NOT NULL,
    original_series_id VARCHAR,
    n_episodes INTEGER NOT NULL,
    free_episodes INTEGER NOT NULL,
    release_date DATE,
    production_type VARCHAR NOT NULL,
    production_cost_usd DOUBLE,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.episodes (
    episode_id VARCHAR NOT NULL,  -- unique (checked at load)
    series_id VARCHAR NOT NULL,
    episode_number INTEGER NOT NULL,
    duration_s DOUBLE NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
"""


class CatalogError(ValueError):
    """The catalog folder cannot be loaded; ``problems`` lists every reason."""

    def __init__(self, folder: Path, problems: list[str]):
        self.folder = folder
        self.problems = problems
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"catalog {folder} refused: {shown}{more}")


@dataclass(frozen=True)
class CatalogLoad:
    folder: Path
    series: int
    episodes: int
    new_series: int


def catalog_files(folder: Path) -> tuple[Path, Path]:
    """The ``series.*`` and ``episodes.*`` files of a catalog folder (CSV or Parquet)."""
    found: dict[str, Path] = {}
    for stem in ("series", "episodes"):
        matches = [p for ext in (".csv", ".parquet") if (p := folder / f"{stem}{ext}").is_file()]
        if not matches:
            raise CatalogError(folder, [f"no {stem}.csv or {stem}.parquet in {folder}"])
        if len(matches) > 1:
            raise CatalogError(
                folder, [f"both {stem}.csv and {stem}.parquet in {folder}: keep one"]
            )
        found[stem] = matches[0]
    return found["series"], found["episodes"]


def is_catalog_folder(path: Path) -> bool:
    return path.is_dir() and any((path / f"series{ext}").is_file() for ext in (".csv", ".parquet"))


def _stage(
    con: duckdb.DuckDBPyConnection, name: str, path: Path, columns: tuple[str, ...]
) -> list[str]:
    reader = "read_parquet(?)" if path.suffix == ".parquet" else "read_csv(?, all_varchar = true)"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {reader}",  # noqa: S608 (constants; path bound)
            [str(path)],
        )
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        return [f"{path.name} cannot be read: {first_line}"]
    have = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
    missing = [c for c in columns if c not in have]
    return [f"{path.name} lacks column {c}" for c in missing]


def _problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every contract violation of the staged catalog, as readable sentences."""
    checks = [
        ("series", "series_id IS NULL OR series_id = ''", "series with an empty series_id"),
        (
            "series",
            "language IS NULL OR NOT regexp_full_match(language, ?)",
            "series with a language that is not a BCP-47 code",
        ),
        (
            "series",
            "n_episodes IS NULL OR n_episodes < 1",
            "series with n_episodes not an integer >= 1",
        ),
        (
            "series",
            "free_episodes IS NULL OR free_episodes < 0 OR free_episodes > n_episodes",
            "series with free_episodes not in 0..n_episodes",
        ),
        (
            "series",
            "release_date IS NULL AND raw_release_date IS NOT NULL AND raw_release_date <> ''",
            "series with a release_date that is not a date",
        ),
        (
            "series",
            "production_type IS NULL OR production_type NOT IN ('ai', 'live_action', 'hybrid')",
            "series with production_type not one of ai, live_action, hybrid",
        ),
        (
            "series",
            "(production_cost_usd IS NULL AND coalesce(raw_production_cost_usd, '') <> '') "
            "OR production_cost_usd < 0",
            "series with production_cost_usd not a number >= 0",
        ),
        ("episodes", "episode_id IS NULL OR episode_id = ''", "episodes with an empty episode_id"),
        (
            "episodes",
            "episode_number IS NULL OR episode_number < 1",
            "episodes with episode_number not an integer >= 1",
        ),
        (
            "episodes",
            "duration_s IS NULL OR duration_s <= 0 OR isnan(duration_s)",
            "episodes with duration_s not > 0",
        ),
    ]
    problems: list[str] = []
    for table, condition, message in checks:
        params = [LANGUAGE_PATTERN] if "?" in condition else []
        key = "series_id" if table == "series" else "episode_id"
        query = (
            f"SELECT count(*), list(coalesce({key}, '(row ' || rowid || ')'))[1:3] "  # noqa: S608
            f"FROM typed_{table} WHERE {condition}"  # constants only; values are bound
        )
        rows = con.execute(query, params).fetchone()
        if rows[0]:
            problems.append(f"{rows[0]} {message} (e.g. {', '.join(map(str, rows[1]))})")
    relational = [
        (
            "SELECT series_id FROM typed_series GROUP BY 1 HAVING count(*) > 1",
            "duplicate series_id",
        ),
        (
            "SELECT episode_id FROM typed_episodes GROUP BY 1 HAVING count(*) > 1",
            "duplicate episode_id",
        ),
        (
            "SELECT DISTINCT e.series_id FROM typed_episodes e WHERE e.series_id NOT IN "
            "(SELECT series_id FROM typed_series UNION ALL SELECT series_id FROM raw.series)",
            "episodes of a series missing from the catalog",
        ),
        (
            "SELECT s.series_id FROM typed_series s WHERE s.original_series_id IS NOT NULL AND "
            "s.original_series_id NOT IN (SELECT series_id FROM typed_series UNION ALL "
            "SELECT series_id FROM raw.series)",
            "original_series_id that is not a series of the catalog",
        ),
        (
            "SELECT s.series_id FROM typed_series s LEFT JOIN typed_episodes e USING (series_id) "
            "GROUP BY s.series_id, s.n_episodes HAVING count(DISTINCT e.episode_number) <> "
            "any_value(s.n_episodes) OR coalesce(max(e.episode_number), 0) <> any_value(s.n_episodes) "
            "OR count(e.episode_number) <> count(DISTINCT e.episode_number)",
            "series whose episodes are not numbered 1..n_episodes without gaps or repeats",
        ),
    ]
    for query, message in relational:
        ids = [r[0] for r in con.execute(query).fetchall()]
        if ids:
            problems.append(f"{len(ids)} {message} (e.g. {', '.join(map(str, ids[:3]))})")
    return problems


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA_SQL)


def load_catalog(con: duckdb.DuckDBPyConnection, folder: Path) -> CatalogLoad:
    """Validate ``folder``'s catalog and upsert it into ``raw.series`` / ``raw.episodes``.

    Series and episodes already known are replaced by the new rows with the same id; others
    are kept, so a folder holding only new series extends the catalog.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(folder, [f"{folder} is not a folder"])
    series_path, episodes_path = catalog_files(folder)
    ensure_schema(con)
    problems = _stage(con, "stage_series", series_path, SERIES_COLUMNS)
    problems += _stage(con, "stage_episodes", episodes_path, EPISODE_COLUMNS)
    if problems:
        raise CatalogError(folder, problems)
    genres_type = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = 'stage_series' "
        "AND column_name = 'genres'"
    ).fetchone()[0]
    genres_expr = (
        "list_filter(list_transform(genres, lambda g: lower(trim(g::VARCHAR))), lambda g: g <> '')"
        if genres_type.endswith("[]")
        else "list_filter(list_transform(string_split(coalesce(genres::VARCHAR, ''), '|'), "
        "lambda g: lower(trim(g))), lambda g: g <> '')"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW stage_series_g AS "  # noqa: S608 (a constant expression)
        f"SELECT *, {genres_expr} AS genres_list FROM stage_series"
    )
    con.execute(_SQL)
    problems = _problems(con)
    if problems:
        raise CatalogError(folder, problems)
    new_series = con.execute(
        "SELECT count(*) FROM typed_series WHERE series_id NOT IN (SELECT series_id FROM raw.series)"
    ).fetchone()[0]
    # replace by delete + insert rather than INSERT OR REPLACE: a DuckLake table has no
    # primary key (the staged rows were checked for duplicate ids above)
    with transaction(con):
        con.execute(
            "DELETE FROM raw.series WHERE series_id IN (SELECT series_id FROM typed_series)"
        )
        con.execute(
            "INSERT INTO raw.series SELECT series_id, title, genres, language, "
            "original_series_id, n_episodes, free_episodes, release_date, production_type, "
            "production_cost_usd, now() FROM typed_series"
        )
        con.execute(
            "DELETE FROM raw.episodes WHERE series_id IN (SELECT series_id FROM typed_series) "
            "OR episode_id IN (SELECT episode_id FROM typed_episodes)"
        )
        con.execute(
            "INSERT INTO raw.episodes SELECT episode_id, series_id, episode_number, "
            "duration_s, now() FROM typed_episodes"
        )
    counts = con.execute(
        "SELECT (SELECT count(*) FROM typed_series), (SELECT count(*) FROM typed_episodes)"
    ).fetchone()
    return CatalogLoad(folder=folder, series=counts[0], episodes=counts[1], new_series=new_series)


def refresh_public_catalog(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild ``analytics.series`` and ``analytics.episodes`` from the raw catalog."""
    from core.schema_docs import apply_comments

    ensure_schema(con)
    con.execute(
        """
        CREATE OR REPLACE TABLE analytics.series AS
        SELECT series_id, title, genres, language, original_series_id,
               coalesce(original_series_id, series_id) AS story_id,
               original_series_id IS NOT NULL AS is_dubbed,
               n_episodes, free_episodes,
               CASE WHEN free_episodes < n_episodes THEN free_episodes + 1 END
                   AS paywall_episode,
               release_date, production_type, production_cost_usd
        FROM raw.series ORDER BY series_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE analytics.episodes AS
        SELECT e.episode_id, e.series_id, e.episode_number, e.duration_s,
               e.episode_number > s.free_episodes AS is_locked
        FROM raw.episodes e JOIN raw.series s USING (series_id)
        ORDER BY e.series_id, e.episode_number
        """
    )
    apply_comments(con, "series")
    apply_comments(con, "episodes")
    return {
        "series": con.execute("SELECT count(*) FROM analytics.series").fetchone()[0],
        "episodes": con.execute("SELECT count(*) FROM analytics.episodes").fetchone()[0],
    }
