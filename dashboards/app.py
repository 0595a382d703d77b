"""Cliffhanger dashboards: the Streamlit entry point (``cliffhanger dashboard`` runs it).

It draws what every page shares (the snapshot in use, the date filter) and routes to one
file per page with ``st.navigation``. Pages read the published warehouse only, through
``dashboards.data``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboards/app.py` puts dashboards/ (not the repository) on sys.path; make
# the project importable even when it is not installed in the running environment
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import duckdb  # noqa: E402
import streamlit as st  # noqa: E402

from dashboards import data, ui  # noqa: E402

st.set_page_config(page_title="Cliffhanger dashboards", page_icon="🎬", layout="wide")

# the page files live in views/, not pages/: Streamlit would take a pages/ folder for its
# older multipage mode and serve a bookmarked /series without this entry script (no shared
# sidebar) on a server's first request
PAGES = [
    st.Page("views/launches.py", title="Launches", icon=":material/rocket_launch:", default=True),
    st.Page(
        "views/overview.py", title="Overview", icon=":material/monitoring:", url_path="overview"
    ),
    st.Page("views/series.py", title="Series", icon=":material/movie:", url_path="series"),
    st.Page("views/catalog.py", title="Catalog", icon=":material/table:", url_path="catalog"),
    st.Page(
        "views/retention.py", title="Retention", icon=":material/grid_on:", url_path="retention"
    ),
    st.Page(
        "views/recommendations.py",
        title="Recommendations",
        icon=":material/recommend:",
        url_path="recommendations",
    ),
    st.Page(
        "views/data_health.py",
        title="Data health",
        icon=":material/health_and_safety:",
        url_path="data-health",
    ),
]

page = st.navigation(PAGES)
ui.date_filter_sidebar()
try:
    snap = data.snapshot()
    st.sidebar.caption(f"Warehouse snapshot `{snap.version}`")
except data.NoWarehouse:
    st.sidebar.caption("No warehouse published yet")
except duckdb.Error:
    st.sidebar.caption("The published warehouse cannot be opened")  # the page says more
page.run()
