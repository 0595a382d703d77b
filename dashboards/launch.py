"""``cliffhanger dashboard``'s process: warm up, then hand over to Streamlit's own CLI.

A Streamlit server imports a page's libraries (pandas, altair, numpy, the DuckDB client) and
opens the warehouse on the first visit, which then takes seconds. Here they are imported and
the published snapshot is opened before the server starts listening, in the same process, so
the first visitor finds them ready. Run as ``python -m dashboards.launch SCRIPT [FLAGS...]``
with ``streamlit run``'s flags.
"""

from __future__ import annotations

import sys
import time


def warm() -> float:
    """Import what the pages use and open the current snapshot; returns the seconds it took."""
    start = time.perf_counter()
    import altair
    import duckdb
    import numpy  # noqa: F401
    import pandas
    import pyarrow
    import streamlit  # noqa: F401
    import streamlit.components.v1  # noqa: F401
    from streamlit.runtime.caching import cache_resource  # noqa: F401

    from dashboards import data, stats, ui  # noqa: F401

    # Altair validates a chart against the Vega-Lite schema on first use (loading it takes a
    # second or more), and pandas-to-Arrow has a first-call cost too: pay both now
    frame = pandas.DataFrame({"x": [1, 2], "y": [0.5, 0.25]})
    altair.Chart(frame).mark_bar().encode(x="x:Q", y="y:Q").to_dict()
    pyarrow.Table.from_pandas(frame)

    try:
        target = data.current_target()
        con = data._connection(target)  # the cached per-snapshot connection the pages use
        cur = con.cursor()
        try:  # touch the catalog and the tables every page opens with
            cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ?", [data.SCHEMA]
            ).fetchall()
            cur.execute("SELECT 1").df()  # pandas conversion path, first use
        finally:
            cur.close()
    except (data.NoWarehouse, duckdb.Error):
        pass  # nothing published yet, or unreadable: the pages say so themselves
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    import logging
    import warnings

    # calling a cached function before the server runs makes Streamlit warn that there is no
    # script run context; that is expected here
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seconds = warm()
    logging.getLogger("streamlit").setLevel(logging.WARNING)
    print(f"dashboards warmed up in {seconds:.1f} s", file=sys.stderr, flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *argv]
    cli.main()


if __name__ == "__main__":
    main()
