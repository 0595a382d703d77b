"""The pipeline's one resource: where the warehouse, landing folder and models live."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from core.config import Paths, paths
from core.warehouse import working_database


class CliffhangerStore(dg.ConfigurableResource):
    """Locations, defaulting to the ``CLIFFHANGER_*`` environment (see docs/configuration.md).

    Tests point every field at a temporary folder.
    """

    home: str = ""
    warehouse: str = ""
    landing: str = ""
    memory_limit: str = "4GB"

    def paths(self) -> Paths:
        env = paths()
        home = Path(self.home) if self.home else env.home
        return Paths(
            home=home,
            warehouse=Path(self.warehouse)
            if self.warehouse
            else (home / "warehouse" / "cliffhanger.duckdb" if self.home else env.warehouse),
            landing=Path(self.landing)
            if self.landing
            else (home / "landing" if self.home else env.landing),
            dagster_home=env.dagster_home,
        )

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with working_database(self.paths(), memory_limit=self.memory_limit) as con:
            yield con
