"""The one place that holds Cliffhanger's locations and metric parameters.

Every value comes from an environment variable with a documented default, so the CLI, the
pipeline, the API and the dashboards agree on where things are without passing paths around.
See ``docs/configuration.md`` for the table of variables.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class LakeSettings:
    """Where a DuckLake warehouse lives (docs/architecture.md, "DuckLake mode").

    ``catalog`` is a DuckLake catalog string (``postgres:dbname=lake host=...``), ``data_path``
    the folder or ``s3://bucket/prefix/`` of its Parquet files.
    """

    catalog: str
    data_path: str


def lake_settings(home: Path) -> LakeSettings | None:
    """The lake of ``CLIFFHANGER_LAKE_CATALOG`` / ``CLIFFHANGER_LAKE_DATA_PATH``; None (the
    embedded DuckDB file) when no catalog is set."""
    catalog = os.environ.get("CLIFFHANGER_LAKE_CATALOG", "").strip()
    if not catalog:
        return None
    data_path = os.environ.get("CLIFFHANGER_LAKE_DATA_PATH", "").strip()
    return LakeSettings(catalog, data_path or str(home / "warehouse" / "lake_data") + "/")


@dataclass(frozen=True)
class Paths:
    """Filesystem locations, resolved from the environment at call time."""

    home: Path
    warehouse: Path
    landing: Path
    dagster_home: Path
    served_log: Path | None = None  # the API's served log; None: home/served
    lake: LakeSettings | None = None  # None: the embedded DuckDB file (the default)

    @property
    def served_dir(self) -> Path:
        """The API's served log folder (docs/feedback-loop.md §2)."""
        return self.served_log if self.served_log is not None else self.home / "served"

    @property
    def warehouse_dir(self) -> Path:
        """Folder holding the public pointer and the versioned snapshots."""
        return self.warehouse.parent

    @property
    def working_db(self) -> Path:
        """The pipeline's private read-write database; nobody else opens it."""
        return self.warehouse_dir / "_work" / "cliffhanger-work.duckdb"

    @property
    def snapshots_dir(self) -> Path:
        return self.warehouse_dir / "snapshots"

    @property
    def models_dir(self) -> Path:
        return self.home / "models_published"

    @property
    def experiment_file(self) -> Path:
        """The online experiment's configuration (docs/feedback-loop.md §4)."""
        return _env_path("CLIFFHANGER_EXPERIMENT", self.home / "experiment.toml")

    @property
    def activity_file(self) -> Path:
        """The viewers' recent activity the API reads beside the bundle (docs/api.md)."""
        return self.models_dir / "activity.parquet"


def paths() -> Paths:
    """Resolve every location from ``CLIFFHANGER_*`` variables (defaults under the cwd)."""
    home = _env_path("CLIFFHANGER_HOME", Path("."))
    return Paths(
        home=home,
        warehouse=_env_path("CLIFFHANGER_WAREHOUSE", home / "warehouse" / "cliffhanger.duckdb"),
        landing=_env_path("CLIFFHANGER_LANDING", home / "landing"),
        dagster_home=_env_path("DAGSTER_HOME", home / "dagster_home"),
        served_log=_env_path("CLIFFHANGER_SERVED_LOG", home / "served"),
        lake=lake_settings(home),
    )


@dataclass(frozen=True)
class MetricParams:
    """Parameters of METRICS.md; recorded in the published metadata."""

    session_gap_minutes: int = 30
    binge_min_episodes: int = 10
    complete_fraction: float = 0.9
    inactive_days: int = 7
    bucket_s: int = 5
    #: the recommender's test period: ``auto`` (about the last 20 % of the history, at
    #: least one day, at most ``AUTO_TEST_DAYS_MAX``) or a number of days, which wins
    test_days: str = "auto"
    launch_horizon_days: int = 28
    launch_interval: float = 0.8
    launch_scale_quantile: float = 0.75
    launch_rework_quantile: float = 0.25
    launch_min_history: int = 8
    ad_unlock_usd: float = 0.02  # what one rewarded ad is worth: an eCPM of $20 / 1000
    subscription_days: int = 7  # how long one subscription purchase lasts
    comparison_age_days: int = 7  # like-for-like age: the first N days since each release
    attribution_hours: int = 24  # a start within this long after an impression is attributed

    def __post_init__(self) -> None:
        parse_test_days(self.test_days)  # refuses nonsense where the value is set

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


#: the longest test period ``test_days = auto`` chooses (days)
AUTO_TEST_DAYS_MAX = 7


def parse_test_days(value: str | int | float | None) -> int | None:
    """``test_days`` as a number of days, or ``None`` for ``auto`` (the windows adapt).

    Raises ``ValueError`` for anything else (a positive whole number of days, or ``auto``).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"test_days must be 'auto' or a number of days, got {value!r}") from None
    if not days.is_integer() or days < 1:
        raise ValueError(f"test_days must be 'auto' or a whole number of days >= 1, got {value!r}")
    return int(days)


def metric_params() -> MetricParams:
    """Metric parameters, overridable as ``CLIFFHANGER_SESSION_GAP_MINUTES`` and so on."""
    kwargs: dict[str, float] = {}
    for name, field in MetricParams.__dataclass_fields__.items():
        raw = os.environ.get(f"CLIFFHANGER_{name.upper()}")
        if raw is not None:
            type_name = getattr(field.type, "__name__", field.type)
            caster = {"float": float, "str": str}.get(str(type_name), int)
            try:
                kwargs[name] = caster(raw)
            except ValueError as exc:
                raise ValueError(
                    f"CLIFFHANGER_{name.upper()}={raw!r} is not a valid {caster.__name__}"
                ) from exc
    try:
        return MetricParams(**kwargs)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"CLIFFHANGER_TEST_DAYS: {exc}") from None
