"""The pipeline's resources: where things live, and the metric parameters in force.

Both are read from the environment once, where the process starts (``definitions.py``
for ``dagster dev``, the CLI for ``cliffhanger run``/``ingest``), and are visible and
settable in the Dagster UI's launchpad; asset bodies never read the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from core.config import LakeSettings, MetricParams, Paths
from core.warehouse import working_database


class CliffhangerStore(dg.ConfigurableResource):
    """Locations: the warehouse, the landing folder and the published models.

    Empty fields derive from ``home`` (``home/warehouse/cliffhanger.duckdb``,
    ``home/landing``); tests point ``home`` at a temporary folder.
    """

    home: str = "."
    warehouse: str = ""
    landing: str = ""
    served_log: str = ""  # the API's served log; empty: home/served
    memory_limit: str = "4GB"
    # lake mode (docs/architecture.md): a DuckLake catalog string; empty: the DuckDB file
    lake_catalog: str = ""
    lake_data_path: str = ""  # empty: home/warehouse/lake_data/

    @classmethod
    def from_paths(cls, paths: Paths) -> CliffhangerStore:
        """The store of resolved :class:`Paths` (e.g. ``core.config.paths()``)."""
        return cls(home=str(paths.home), warehouse=str(paths.warehouse),
                   landing=str(paths.landing), served_log=str(paths.served_dir),
                   lake_catalog=paths.lake.catalog if paths.lake else "",
                   lake_data_path=paths.lake.data_path if paths.lake else "")  # fmt: skip

    def paths(self) -> Paths:
        home = Path(self.home or ".")
        return Paths(
            home=home,
            warehouse=Path(self.warehouse) if self.warehouse
            else home / "warehouse" / "cliffhanger.duckdb",
            landing=Path(self.landing) if self.landing else home / "landing",
            dagster_home=home / "dagster_home",
            served_log=Path(self.served_log) if self.served_log else None,
            lake=LakeSettings(self.lake_catalog, self.lake_data_path
                              or str(home / "warehouse" / "lake_data") + "/")
            if self.lake_catalog else None,
        )  # fmt: skip

    @contextmanager
    def connect(self, exclusive: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working database (``exclusive=False``: see ``working_database``)."""
        with working_database(
            self.paths(), memory_limit=self.memory_limit, exclusive=exclusive
        ) as con:
            yield con


class MetricSettings(dg.ConfigurableResource):
    """METRICS.md's parameters (docs/configuration.md); recorded in every snapshot."""

    session_gap_minutes: int = MetricParams.session_gap_minutes
    binge_min_episodes: int = MetricParams.binge_min_episodes
    complete_fraction: float = MetricParams.complete_fraction
    inactive_days: int = MetricParams.inactive_days
    bucket_s: int = MetricParams.bucket_s
    test_days: str = MetricParams.test_days  # "auto" or a number of days
    launch_horizon_days: int = MetricParams.launch_horizon_days
    launch_interval: float = MetricParams.launch_interval
    launch_scale_quantile: float = MetricParams.launch_scale_quantile
    launch_rework_quantile: float = MetricParams.launch_rework_quantile
    launch_min_history: int = MetricParams.launch_min_history
    ad_unlock_usd: float = MetricParams.ad_unlock_usd
    subscription_days: int = MetricParams.subscription_days
    comparison_age_days: int = MetricParams.comparison_age_days
    attribution_hours: int = MetricParams.attribution_hours

    @classmethod
    def from_params(cls, params: MetricParams) -> MetricSettings:
        return cls(**{**params.as_dict(), "test_days": str(params.test_days)})

    def params(self) -> MetricParams:
        return MetricParams(
            **{name: getattr(self, name) for name in MetricParams.__dataclass_fields__}
        )


class Progress:
    """Where long steps report how far they are: silent unless the CLI binds its own.

    A plain object bound as ``dg.ResourceParam`` (it carries a callback, not config).
    """

    def records(self, n: int) -> None:
        """``n`` more records read."""
