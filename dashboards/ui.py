"""Shared page furniture: empty states, the date filter, tables with CSV download, captions."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pandas as pd
import streamlit as st

from dashboards import data

# Plain-language captions, following METRICS.md (the contract's metric definitions).
CAPTIONS: dict[str, str] = {
    "dau": "Daily active users: distinct users with any event that UTC date. "
    "Over a period: the mean of the daily values.",
    "sessions": "Sessions that started in the period. A session is a user's events cut "
    "wherever two consecutive events are more than 30 minutes apart.",
    "episodes_per_session_mean": "Episode views per session, averaged over the period's sessions.",
    "episodes_per_session_median": "The middle session's number of episode views "
    "(computed over the period's sessions, not a median of daily medians).",
    "binge_session_rate": "Binge sessions / sessions. A binge session has 10 or more "
    "episode views.",
    "watch_minutes_per_dau": "Minutes watched in the views started that day, per daily "
    "active user (over a period: total watch minutes / total user-days).",
    "viewers": "Viewers of an episode: distinct users with a view of it.",
    "survival": "The share of viewers who get to each episode, estimated so that viewers who "
    "are still watching count only up to where they are now (they are censored: active in the "
    "last 7 days, not dropped). Kaplan–Meier over the episode index, with its 95% band "
    "(Greenwood variance, log(−log) scale).",
    "hazard": "Hazard: users who dropped at this episode / users at risk there (reached it, "
    "and had entered the series by then). A drop-off point is an episode whose story hazard is "
    "significantly above the series' typical one; the paywall episode (first locked one) is "
    "always marked.",
    "survival_method": "(Kaplan–Meier survival over the episode index, 95% band from "
    "Greenwood's variance on the log(−log) scale.)",
    "dropoff_point": "A story drop-off point: an episode where significantly more viewers stop "
    "for good, with no lock in the way, than the series' usual (story hazard = story drops / "
    "viewers at risk, tested one-sided with an exact binomial test against the series' pooled "
    "story hazard, Benjamini–Hochberg-corrected over its episodes at 5%; at least 10 viewers "
    "at risk). Viewers who stop at the lock screen are the paywall's toll, not a weak episode.",
    "drop_causes": "A viewer stopped for good when they have not come back to the series for "
    "7 days short of its last episode. At the paywall: they saw the lock screen of the next "
    "episode and never unlocked it. To the story: they stopped on a free or unlocked episode "
    "with no lock in the way.",
    "cumulative_incidence": "Share of the series' viewers lost by each episode, split by cause "
    "(Aalen–Johansen cumulative incidence: viewers still watching are counted up to where they "
    "are, as in the survival curve). The two lines add up to 1 − survival.",
    "exit_moments": "Each cell: of the views of that episode still playing at that second, the "
    "share that ended within the next 5 seconds without finishing. An exit moment (black "
    "diamond) is a cell where significantly more views end than at the same position of the "
    "series' other episodes (one-sided exact binomial test, Benjamini–Hochberg-corrected over "
    "the series' cells at 5%). The first seconds of every episode lose the most viewers, so "
    "they are compared with the first seconds of the others; the closing stretch (the last "
    "20%) with the other episodes' endings.",
    "retention_curve": "Share of the episode's views still watching at each 5-second mark "
    "(rewatches count as separate views).",
    "hook_rate": "Hook rate: viewers of episode 1 who went on to episode 2.",
    "completion_rate": "Completion: viewers of episode 1 who also viewed the last episode.",
    "paywall_conversion_rate": "Paywall conversion: viewers of the last free episode who "
    "viewed the first locked one.",
    "cost_per_watch_hour": "Cost per watch hour to date: production cost / hours watched in "
    "the data held (USD). A lifetime cost over however many days of viewing the data holds, "
    "so an old series looks cheap and a new one dear: compare the first-days figure.",
    "cost_at_age": "Cost per watch hour at the same age: production cost / hours watched in "
    "the first days since release (CLIFFHANGER_COMPARISON_AGE_DAYS), for versions whose first "
    "days are all in the data; blank for the others.",
    "shrunk": "Shrunk rate: (successes + α) / (viewers + α + β), with one beta prior (α, β) "
    "fitted across the series shown (beta-binomial, method of moments). A series with few "
    "viewers is pulled toward the typical rate; one with many keeps its own.",
    "allocated_revenue": "Revenue attributed through unlocks: coin unlocks at the buyer's "
    "average price per unlock (coins bought in one series pay for unlocks in others), ad "
    "unlocks at an eCPM (CLIFFHANGER_AD_UNLOCK_USD), subscriptions spread over the episodes "
    "watched while they lasted.",
    "raw_revenue": "Purchases that carry this series' id: misses ad unlocks and coins spent "
    "here but bought elsewhere. Shown for reference; comparisons use the allocated revenue.",
    "like_for_like": "AI and live-action series are compared only within groups of the same "
    "genre (first listed), language, original or dub, and release age (< 30 days, < 180, "
    "older); a group counts when it has at least 2 series and 30 viewers on each side. Rates "
    "are shrunk, weighted per viewer of the step; cost per watch hour is over each version's "
    "first days. The difference is averaged over groups, weighted by their viewers; its 95% "
    "interval is a bootstrap over series within each group. The table says how many series "
    "and viewers are behind each value.",
    "dubs": "Each dub beside its original. New to the story: the dub's viewers who never "
    "watched the original (the audience the dub added), with its 95% Wilson interval. Hook and "
    "paywall conversion are shrunk. Revenue is allocated through unlocks; dub return = revenue "
    "to date / the dub's cost (with a 95% interval from the spread of revenue per viewer). "
    "Versions are aligned on days since each one's release: the at-age columns compare both "
    "over their first {age} days, when both were released inside the data; otherwise each "
    "version's days since release say how old its to-date figures are.",
    "production_type": "Each bar is the viewer-weighted mean over the group's series (cost: "
    "total cost / total watch hours); the whisker is a 95% bootstrap interval over series, "
    "so a group with few series shows a wide one.",
    "retention": "Cohort = users whose first event is on that UTC date. N-day retention: "
    "share of the cohort active exactly on day N. On-or-after: active on day N or any later "
    "day. Days not yet observable for a cohort are blank, not zero.",
    "model_evaluation": "Offline evaluation on a time split (test = the last 7 days): for "
    "each user, the series they started after the cut and had not started before. The full "
    "catalog is ranked; bars show the value at k, whiskers the 95% bootstrap interval over "
    "users. popularity and trending are the baselines to beat.",
    "session_continuation": "Of the viewers of an episode, the share who started the next one "
    "in the same session: measurable from a series' first day, before anyone can count as "
    "dropped.",
    "launch_percentile": "Share of earlier launches (released before this one) whose viewers "
    "at the same age were at most this one's: 0.9 = better than 90% of them at this age. "
    "Blank with fewer than 5 earlier launches to compare with.",
    "launch_forecast": "Forecast of the cumulative value at the horizon (28 days after "
    "release), learned from past launches' first days (counts, hook and paywall conversion, "
    "production type, genre, language, dub or original). The 80% interval is conformal: in "
    "the backtest it holds the realized value for about 80% of past launches, hits included.",
    "launch_label": "scale: even the low end of the viewers interval beats three quarters of "
    "past launches at the horizon. rework: even the high end stays below the bottom quarter. "
    "watch: anything in between, or too little history to tell.",
    "label_scale": "Launches whose viewers interval lies above the catalogue's upper quartile.",
    "label_watch": "Launches whose interval straddles the catalogue's quartiles.",
    "label_rework": "Launches whose viewers interval lies below the catalogue's lower quartile.",
    "launch_backtest": "Rolling origin: each past launch forecast at each age only from "
    "launches whose horizon had passed by then. Coverage should be near the interval's level "
    "(0.8) overall and in each third of the realized value (the top third: the hits); the "
    "error is the median |ln(forecast+1) − ln(realized+1)|, beside the Szabo–Huberman "
    "baseline's (late count regressed on the early count).",
    "ingestion": "Every input record ends in exactly one place: loaded, quarantined (with a "
    "reason) or counted as a duplicate. records_in = loaded + quarantined + duplicates.",
}

NO_WAREHOUSE = (
    "No warehouse has been published yet at `{path}`. Load data with `cliffhanger demo` "
    "(sample data and the full pipeline) or `cliffhanger ingest CATALOG_DIR EVENTS_DIR`, "
    "then reload this page."
)


def require_warehouse() -> data.Snapshot:
    """The current snapshot, or an explanation of what to do and a stop (never a traceback)."""
    try:
        return data.snapshot()
    except data.NoWarehouse:
        from core.config import paths

        st.info(NO_WAREHOUSE.format(path=paths().warehouse), icon=":material/database:")
        st.stop()
        raise  # unreachable: st.stop() ends the script run
    except duckdb.Error as exc:
        # e.g. a file at the warehouse path that is not a DuckDB database
        first = str(exc).strip().splitlines()[0]
        st.warning(f"The published warehouse cannot be opened ({first}). Publish it again "
                   "with `cliffhanger run`.")  # fmt: skip
        st.stop()
        raise


def require_table(name: str, what_to_do: str | None = None) -> bool:
    """Show an empty state and return False when ``analytics.<name>`` is absent."""
    if data.has_table(name):
        return True
    st.info(
        what_to_do
        or f"The published warehouse has no `analytics.{name}` table yet: run `cliffhanger run`.",
        icon=":material/info:",
    )
    return False


def date_range() -> tuple[dt.date, dt.date] | None:
    """The sidebar's date range (inclusive), or the full data range while it is half-picked."""
    bounds = data.date_bounds()
    if bounds is None:
        return None
    picked = st.session_state.get("date_range")
    if isinstance(picked, tuple | list) and len(picked) == 2:
        lo, hi = picked
        return max(lo, bounds[0]), min(hi, bounds[1])
    return bounds


def date_filter_sidebar() -> None:
    """The date-range filter every page shares (drawn once by app.py)."""
    try:
        bounds = data.date_bounds()
    except (data.NoWarehouse, duckdb.Error):
        return  # the page itself explains
    if bounds is None:
        return
    st.sidebar.date_input(
        "Date range (UTC)",
        value=bounds,
        min_value=bounds[0],
        max_value=bounds[1],
        key="date_range",
        help="Applied to every chart and table that has dates.",
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def table(df: pd.DataFrame, name: str, **dataframe_kwargs: object) -> None:
    """A table with a CSV download of exactly the rows shown."""
    st.dataframe(df, hide_index=True, **dataframe_kwargs)
    st.download_button(
        f"Download {name} (CSV)",
        df.to_csv(index=False).encode(),
        file_name=f"{_slug(name)}.csv",
        mime="text/csv",
        key=f"download_{_slug(name)}",
        icon=":material/download:",
    )


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or pd.isna(x) else f"{100 * x:.{digits}f}%"


def num(x: float | None, digits: int = 0) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:,.{digits}f}"


# columns that identify a row rather than measure it: tables show them after the metrics
ID_COLUMNS = ("series_id", "story_id", "original_series_id", "title", "language",
              "production_type", "genres", "is_dubbed", "release_date", "n_episodes",
              "free_episodes")  # fmt: skip


def metrics_first(df: pd.DataFrame, lead: tuple[str, ...] = ("title", "language")) -> pd.DataFrame:
    """The same frame with ``lead`` columns first, then the metrics, then the other ids."""
    leading = [c for c in lead if c in df.columns]
    ids = [c for c in ID_COLUMNS if c in df.columns and c not in leading]
    rest = [c for c in df.columns if c not in leading and c not in ids]
    return df[leading + rest + ids]
