"""The early launch forecast: cumulative viewers, watch hours and revenue at the horizon.

A plain library over polars frames and numpy (no Dagster). For a series version of age ``a``
(complete days since release) the forecast at horizon ``H`` is learned from past observed
launches whose day ``H`` is complete, using their state at the same age ``a``:

- **Baseline** (Szabo & Huberman): ``ln(y_H + 1) = b0 + b1 ln(x_a + 1)``, ordinary least
  squares of the late count on the early count of the same metric.
- **Model**: the same two unpenalized terms plus ridge-penalized richer features (the early
  counts of all three metrics, the last days' new viewers, episodes per viewer, hook rate and
  paywall conversion to date, production type, language, dub or original, genres, episode
  counts). The penalty is chosen by exact leave-one-out error among a grid that ends with an
  infinite penalty, i.e. the baseline itself, so the model falls back to the baseline when the
  richer features do not help.
- **Interval**: normalized (locally weighted) jackknife conformal prediction. The
  leave-one-out residuals ``e_i`` of the model (closed form for a linear smoother) are divided
  by a predicted spread ``s(x) = exp(g0 + g1 * prediction)``, fitted to ``ln |e_i|``; the
  interval is ``prediction + [q_low, q_high] * s(x)`` with ``q_low``/``q_high`` the conformal
  quantiles (levels ``(1 - level) / 2`` and ``(1 + level) / 2``, finite-sample corrected) of
  the signed normalized residuals. Launches whose outcome is hard to predict (small, noisy
  ones) get wide intervals and clear hits narrow ones, instead of one global width that
  under-covers the tails; the backtest reports coverage by tercile of the realized value.
- **Small histories** fall back in steps: below ``min_history`` past launches the baseline
  with slope 1 (``ln(y_H + 1) = ln(x_a + 1) + c``, the original Szabo-Huberman form) and a
  global-width jackknife conformal interval (``method = 'baseline'``); with 1-3 launches a
  wide heuristic interval that is not calibrated (``method = 'fallback'``,
  ``is_calibrated = false``); with none, no forecast (``method = 'none'``).

The forecast and the interval's low end never fall below what the launch has already reached
(cumulative values cannot shrink), which can only raise coverage.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from core.config import MetricParams

METRICS = ("viewers", "watch_hours", "revenue_usd")
TARGET = {
    "viewers": "cumulative_viewers",
    "watch_hours": "cumulative_watch_hours",
    "revenue_usd": "cumulative_revenue_usd",
}
LABELS = ("scale", "watch", "rework")
BACKTEST_AGES = (0, 1, 2, 3, 5, 7, 14, 21)
PENALTIES = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, math.inf)
PRODUCTION_TYPES = ("ai", "hybrid")  # one-hot against live_action
_EPS = 1e-9
MARGIN = 0.05  # leave-one-out improvement the richer model needs over the baseline


@dataclass(frozen=True)
class ForecastSettings:
    """The forecast's parameters (MetricParams ``launch_*``; docs/configuration.md)."""

    horizon_days: int = 28
    interval: float = 0.8
    scale_quantile: float = 0.75
    rework_quantile: float = 0.25
    min_history: int = 12
    backtest_ages: tuple[int, ...] = BACKTEST_AGES

    @classmethod
    def from_params(cls, params: MetricParams) -> ForecastSettings:
        return cls(
            horizon_days=int(params.launch_horizon_days),
            interval=float(params.launch_interval),
            scale_quantile=float(params.launch_scale_quantile),
            rework_quantile=float(params.launch_rework_quantile),
            min_history=int(params.launch_min_history),
        )

    def validate(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"launch_horizon_days must be at least 1 (got {self.horizon_days})")
        if not 0 < self.interval < 1:
            raise ValueError(f"launch_interval must lie in (0, 1) (got {self.interval})")
        if not 0 <= self.rework_quantile <= self.scale_quantile <= 1:
            raise ValueError(
                "launch_rework_quantile <= launch_scale_quantile, both in [0, 1] (got "
                f"{self.rework_quantile}, {self.scale_quantile})"
            )


@dataclass(frozen=True)
class History:
    """What the forecast learns from: launch rows by age, and the data's last complete day."""

    rows: pl.DataFrame  # one row per series version x complete age <= horizon
    last_complete_date: dt.date | None


_HISTORY_SQL = """
SELECT d.series_id, d.age_days, d.date, d.release_date, d.language, d.production_type,
       d.is_dubbed, d.is_observed_launch,
       d.cumulative_viewers::DOUBLE AS cumulative_viewers,
       d.cumulative_watch_hours, d.cumulative_revenue_usd,
       d.cumulative_episode_views::DOUBLE AS cumulative_episode_views,
       d.new_viewers::DOUBLE AS new_viewers,
       avg(d.new_viewers) OVER (PARTITION BY d.series_id ORDER BY d.age_days
                                ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS new_viewers_3d,
       d.hook_rate_to_date, d.paywall_conversion_to_date,
       s.n_episodes, s.free_episodes, s.genres
FROM analytics.series_launch_daily d JOIN analytics.series s USING (series_id)
WHERE d.is_complete_day AND d.age_days <= $horizon
ORDER BY d.series_id, d.age_days
"""


def load_history(con: duckdb.DuckDBPyConnection, horizon_days: int = 28) -> History:
    """Read the launch curves the forecast needs from ``analytics.series_launch_daily``."""
    result = con.execute(_HISTORY_SQL, {"horizon": int(horizon_days)})
    names = [d[0] for d in result.description]
    rows = pl.DataFrame(result.fetchall(), schema=names, orient="row", infer_schema_length=None)
    last = con.execute("SELECT max(event_date) - 1 FROM raw.events").fetchall()[0][0]
    return History(rows=rows, last_complete_date=last)


# ---- the linear smoother with its exact leave-one-out residuals ----------------------------


@dataclass(frozen=True)
class _Fit:
    coef: np.ndarray
    loo_residuals: np.ndarray
    penalty: float


def _ridge(x: np.ndarray, y: np.ndarray, free: int, penalty: float) -> _Fit:
    """Ridge with the first ``free`` columns unpenalized; exact LOO residuals (hat matrix)."""
    n, p = x.shape
    pen = np.full(p, penalty if math.isfinite(penalty) else 0.0)
    pen[:free] = 0.0
    cols = slice(None) if math.isfinite(penalty) else slice(0, free)
    xs = x[:, cols]
    gram = xs.T @ xs + np.diag(pen[cols]) + _EPS * np.eye(xs.shape[1])
    inv = np.linalg.pinv(gram)
    coef_part = inv @ xs.T @ y
    hat = np.einsum("ij,jk,ik->i", xs, inv, xs)
    resid = y - xs @ coef_part
    loo = resid / np.clip(1.0 - hat, 1e-6, None)
    coef = np.zeros(p)
    coef[cols] = coef_part
    return _Fit(coef, loo, penalty)


def _best_ridge(x: np.ndarray, y: np.ndarray, free: int) -> _Fit:
    fits = [_ridge(x, y, free, lam) for lam in PENALTIES]
    # the richer features must earn their place: a finite penalty is chosen only when it
    # beats the baseline (the infinite one) by MARGIN in leave-one-out error
    errors = [float(np.mean(f.loo_residuals**2)) for f in fits]
    best = int(np.argmin(errors[:-1]))
    return fits[best] if errors[best] < errors[-1] * (1.0 - MARGIN) else fits[-1]


def _conformal_quantile(
    scores: np.ndarray, level: float, weights: np.ndarray | None = None
) -> float:
    """The conformal quantile of ``scores`` at ``level``: the ceil((n + 1) level)-th smallest
    (inf when n is too small for the level). With ``weights`` (one per score, the new point
    weighing 1), the weighted version of Barber et al. (2023) for data that drift in time."""
    n = len(scores)
    if weights is None:
        k = math.ceil((n + 1) * level)
        return math.inf if k > n else float(np.sort(scores)[k - 1])
    order = np.argsort(scores)
    cum = np.cumsum(weights[order]) / (weights.sum() + 1.0)
    hit = np.nonzero(cum >= level - 1e-12)[0]
    return float(scores[order][hit[0]]) if len(hit) else math.inf


# ---- features -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Vocab:
    languages: tuple[str, ...]
    genres: tuple[str, ...]


def _vocab(train: pl.DataFrame) -> _Vocab:
    langs = train.group_by("language").len().filter(pl.col("len") >= 3)["language"].to_list()
    genres = (
        train.select(pl.col("genres").explode()).group_by("genres").len()
        .filter(pl.col("len") >= 3)["genres"].to_list()
    )  # fmt: skip
    return _Vocab(tuple(sorted(langs)), tuple(sorted(g for g in genres if g is not None)))


def _features(frame: pl.DataFrame, vocab: _Vocab, fill: dict[str, float]) -> np.ndarray:
    """The penalized features of the model, one row per launch (not standardized)."""
    v = np.log1p(frame["cumulative_viewers"].to_numpy())
    cols = [
        v,
        np.log1p(frame["cumulative_watch_hours"].to_numpy()),
        np.log1p(frame["cumulative_revenue_usd"].to_numpy()),
        np.log1p(frame["new_viewers"].to_numpy()),
        np.log1p(frame["new_viewers_3d"].to_numpy()),
        np.log1p(frame["cumulative_episode_views"].to_numpy()) - v,
        frame["hook_rate_to_date"].fill_null(fill["hook"]).to_numpy(),
        frame["paywall_conversion_to_date"].fill_null(fill["paywall"]).to_numpy(),
        frame["is_dubbed"].cast(pl.Float64).to_numpy(),
        frame["n_episodes"].cast(pl.Float64).to_numpy(),
        frame["free_episodes"].cast(pl.Float64).to_numpy(),
    ]
    cols += [(frame["production_type"] == t).cast(pl.Float64).to_numpy() for t in PRODUCTION_TYPES]
    cols += [(frame["language"] == lang).cast(pl.Float64).to_numpy() for lang in vocab.languages]
    cols += [frame["genres"].list.contains(g).cast(pl.Float64).to_numpy() for g in vocab.genres]
    return np.column_stack(cols).astype(np.float64)


def _early(frame: pl.DataFrame, metric: str) -> np.ndarray:
    return np.log1p(frame[TARGET[metric]].to_numpy().astype(np.float64))


# ---- one (metric, age): learn from ``train``, forecast ``test`` ------------------------------


@dataclass(frozen=True)
class Prediction:
    """Forecasts on the log1p scale for the rows of one test frame, plus how they were made."""

    forecast: np.ndarray
    low: np.ndarray
    high: np.ndarray
    baseline: np.ndarray  # the Szabo-Huberman OLS forecast (NaN when it cannot be fitted)
    baseline_low: np.ndarray  # its global-width jackknife conformal interval, for comparison
    baseline_high: np.ndarray
    method: str
    is_calibrated: bool
    n_history: int
    penalty: float | None
    catalogue_low: float | None  # the realized value at the rework quantile (original scale)
    catalogue_high: float | None  # the realized value at the scale quantile


def predict(
    train: pl.DataFrame, y_train: np.ndarray, test: pl.DataFrame, metric: str,
    settings: ForecastSettings,
) -> Prediction:  # fmt: skip
    """Forecast ``metric`` at the horizon for ``test`` from ``train`` (both at one age).

    ``y_train`` is the realized value at the horizon (original scale) of each training row.
    """
    n, m = train.height, test.height
    nan = np.full(m, np.nan)
    alpha = 1.0 - settings.interval
    if n == 0:
        return Prediction(nan, nan, nan, nan, nan, nan, "none", False, 0, None, None, None)
    y = np.log1p(y_train.astype(np.float64))
    z, z_test = _early(train, metric), _early(test, metric)
    q_low = float(np.quantile(y_train, settings.rework_quantile)) if n >= 4 else None
    q_high = float(np.quantile(y_train, settings.scale_quantile)) if n >= 4 else None
    weights = _recency_weights(train, float(settings.horizon_days))
    ones, ones_test = np.ones(n), np.ones(m)

    # the Szabo-Huberman baseline: OLS of ln(y + 1) on ln(x + 1) with a global-width
    # jackknife conformal interval; with fewer than 4 launches its slope-1 form
    if n >= 4:
        base = _ridge(np.column_stack([ones, z]), y, free=2, penalty=math.inf)
        base_pred = np.column_stack([ones_test, z_test]) @ base.coef
        width = _conformal_quantile(np.abs(base.loo_residuals), settings.interval, weights)
        base_low, base_high = base_pred - width, base_pred + width
    else:
        c = float(np.mean(y - z))
        spread = float(np.max(np.abs(y - z - c))) if n > 1 else 0.0
        half = max(2.0 * spread, 1.0)  # a heuristic, not calibrated
        base_pred = z_test + c
        base_low, base_high = base_pred - half, base_pred + half
        return Prediction(base_pred, base_low, base_high, base_pred, base_low, base_high,
                          "fallback", False, n, None, q_low, q_high)  # fmt: skip
    if n < settings.min_history or not math.isfinite(width):
        return Prediction(base_pred, base_low, base_high, base_pred, base_low, base_high,
                          "baseline", True, n, None, q_low, q_high)  # fmt: skip

    # the model: intercept and the early count unpenalized, the rest ridge-penalized
    fill = {
        "hook": _mean_or(train["hook_rate_to_date"], 0.5),
        "paywall": _mean_or(train["paywall_conversion_to_date"], 0.2),
    }
    vocab = _vocab(train)
    w, w_test = _features(train, vocab, fill), _features(test, vocab, fill)
    mu, sd = w.mean(axis=0), w.std(axis=0)
    keep = sd > 1e-9
    w = (w[:, keep] - mu[keep]) / sd[keep]
    w_test = (w_test[:, keep] - mu[keep]) / sd[keep]
    x = np.column_stack([ones, z, w])
    x_test = np.column_stack([ones_test, z_test, w_test])
    fit = _best_ridge(x, y, free=2)
    pred = x_test @ fit.coef
    loo_pred = y - fit.loo_residuals

    # normalized conformal: signed LOO residuals over a spread predicted from the prediction
    abs_res = np.abs(fit.loo_residuals)
    floor = max(float(np.median(abs_res)) * 0.1, 1e-3)
    g = _ridge(np.column_stack([ones, loo_pred]), np.log(abs_res + floor), free=1, penalty=1.0)
    spread_train = np.exp(np.column_stack([ones, loo_pred]) @ g.coef)
    lo_clip, hi_clip = float(spread_train.min()), float(spread_train.max())
    spread_test = np.clip(np.exp(np.column_stack([ones_test, pred]) @ g.coef), lo_clip, hi_clip)
    scores = fit.loo_residuals / spread_train
    q_lo = -_conformal_quantile(-scores, 1.0 - alpha / 2.0, weights)
    q_hi = _conformal_quantile(scores, 1.0 - alpha / 2.0, weights)
    if not (math.isfinite(q_lo) and math.isfinite(q_hi)):
        # too few launches for a quantile on each side: a symmetric score needs fewer
        q_hi = _conformal_quantile(np.abs(scores), settings.interval, weights)
        q_lo = -q_hi
    low, high = pred + q_lo * spread_test, pred + q_hi * spread_test
    return Prediction(pred, np.minimum(low, pred), np.maximum(high, pred), base_pred, base_low,
                      base_high, "model", True, n, fit.penalty, q_low, q_high)  # fmt: skip


def _recency_weights(train: pl.DataFrame, half_life_days: float) -> np.ndarray:
    """Conformal weights: a launch whose horizon day is ``half_life_days`` older than the most
    recent one weighs half as much (audiences drift; recent errors say more)."""
    days = (train["horizon_date"].max() - train["horizon_date"]).dt.total_days().to_numpy()
    return np.power(0.5, days.astype(np.float64) / half_life_days)


def _mean_or(col: pl.Series, default: float) -> float:
    value = col.drop_nulls().mean()
    return float(value) if value is not None else default


def _to_scale(log_values: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Back from log1p, never below what the launch already reached."""
    return np.maximum(np.expm1(log_values), floor)


def _label(
    low: float, high: float, pred: Prediction, settings: ForecastSettings
) -> tuple[str, str]:
    if pred.method == "none" or not math.isfinite(low) or not math.isfinite(high):
        return "watch", "no past launches with a complete horizon to learn from"
    if pred.catalogue_low is None or pred.catalogue_high is None:
        return "watch", f"only {pred.n_history} past launches: too few for catalogue quartiles"
    if low >= pred.catalogue_high:
        return "scale", (
            f"interval low end at or above the catalogue's {settings.scale_quantile:.0%} "
            "quantile of past launches"
        )
    if high <= pred.catalogue_low:
        return "rework", (
            f"interval high end at or below the catalogue's {settings.rework_quantile:.0%} "
            "quantile of past launches"
        )
    return "watch", "interval overlaps the catalogue's middle range"


# ---- the training sets -----------------------------------------------------------------------


def _outcomes(history: History, horizon: int) -> pl.DataFrame:
    """Observed launches whose horizon day is complete, with their realized values there."""
    at_h = history.rows.filter(pl.col("is_observed_launch") & (pl.col("age_days") == horizon))
    return at_h.select(
        "series_id",
        horizon_date=pl.col("date"),
        **{f"y_{m}": pl.col(TARGET[m]) for m in METRICS},
    )


def _training_at(history: History, outcomes: pl.DataFrame, age: int) -> pl.DataFrame:
    return history.rows.filter(pl.col("is_observed_launch") & (pl.col("age_days") == age)).join(
        outcomes, on="series_id"
    )


def forecast_young(history: History, settings: ForecastSettings) -> pl.DataFrame:
    """``analytics.launch_forecast``: every version younger than the horizon, as of the last
    complete day, one row per metric."""
    settings.validate()
    h = settings.horizon_days
    last = history.last_complete_date
    if last is None:
        return _empty_forecast()
    current = history.rows.filter(pl.col("date") == last)
    young = current.filter(pl.col("age_days") < h)
    if young.height == 0:
        return _empty_forecast()
    outcomes = _outcomes(history, h)
    out: list[pl.DataFrame] = []
    for age in sorted(young["age_days"].unique().to_list()):
        test = young.filter(pl.col("age_days") == age)
        observed = test.filter(pl.col("is_observed_launch"))
        older = test.filter(~pl.col("is_observed_launch"))
        train = _training_at(history, outcomes, age)
        for metric in METRICS:
            if observed.height:
                pred = predict(train, train[f"y_{metric}"].to_numpy(), observed, metric, settings)
                out.append(_forecast_rows(observed, metric, pred, settings, last))
            if older.height:
                none = predict(train.head(0), np.zeros(0), older, metric, settings)
                rows = _forecast_rows(older, metric, none, settings, last)
                out.append(rows.with_columns(
                    label_reason=pl.lit("released before the data start: its first days are "
                                        "not in the data")
                ))  # fmt: skip
    frame = pl.concat(out, how="vertical_relaxed")
    series_label = frame.filter(pl.col("metric") == "viewers").select(
        "series_id", series_label="label"
    )
    return (
        frame.join(series_label, on="series_id", how="left")
        .select(FORECAST_COLUMNS)
        .sort("series_id", "metric")
    )


FORECAST_SCHEMA = {
    "series_id": pl.String,
    "as_of_date": pl.Date,
    "release_date": pl.Date,
    "age_days": pl.Int32,
    "horizon_days": pl.Int32,
    "metric": pl.String,
    "observed_to_date": pl.Float64,
    "forecast": pl.Float64,
    "interval_low": pl.Float64,
    "interval_high": pl.Float64,
    "interval_level": pl.Float64,
    "baseline_forecast": pl.Float64,
    "method": pl.String,
    "is_calibrated": pl.Boolean,
    "n_history": pl.Int32,
    "catalogue_low_quantile": pl.Float64,
    "catalogue_high_quantile": pl.Float64,
    "label": pl.String,
    "label_reason": pl.String,
    "series_label": pl.String,
    "language": pl.String,
    "production_type": pl.String,
    "is_observed_launch": pl.Boolean,
}
FORECAST_COLUMNS = list(FORECAST_SCHEMA)


def _empty_forecast() -> pl.DataFrame:
    return pl.DataFrame(schema=FORECAST_SCHEMA)


def _forecast_rows(
    test: pl.DataFrame, metric: str, pred: Prediction, settings: ForecastSettings,
    as_of: dt.date,
) -> pl.DataFrame:  # fmt: skip
    floor = test[TARGET[metric]].to_numpy().astype(np.float64)
    forecast = _to_scale(pred.forecast, floor)
    low = _to_scale(pred.low, floor)
    high = np.maximum(_to_scale(pred.high, floor), forecast)
    labels = [_label(lo, hi, pred, settings) for lo, hi in zip(low, high, strict=True)]
    return pl.DataFrame(
        {
            "series_id": test["series_id"],
            "as_of_date": [as_of] * test.height,
            "release_date": test["release_date"],
            "age_days": test["age_days"].cast(pl.Int32),
            "horizon_days": [settings.horizon_days] * test.height,
            "metric": [metric] * test.height,
            "observed_to_date": floor,
            "forecast": forecast,
            "interval_low": low,
            "interval_high": high,
            "interval_level": [settings.interval] * test.height,
            "baseline_forecast": _to_scale(pred.baseline, floor),
            "method": [pred.method] * test.height,
            "is_calibrated": [pred.is_calibrated] * test.height,
            "n_history": [pred.n_history] * test.height,
            "catalogue_low_quantile": [pred.catalogue_low] * test.height,
            "catalogue_high_quantile": [pred.catalogue_high] * test.height,
            "label": [lab for lab, _ in labels],
            "label_reason": [why for _, why in labels],
            "language": test["language"],
            "production_type": test["production_type"],
            "is_observed_launch": test["is_observed_launch"],
        },
        schema_overrides={k: v for k, v in FORECAST_SCHEMA.items() if k != "series_label"},
    ).with_columns(
        pl.col(c).fill_nan(None)
        for c in ("forecast", "interval_low", "interval_high", "baseline_forecast")
    )


# ---- the rolling-origin backtest -------------------------------------------------------------

BACKTEST_ROW_SCHEMA = {
    "metric": pl.String,
    "age_days": pl.Int32,
    "horizon_days": pl.Int32,
    "series_id": pl.String,
    "forecast_date": pl.Date,
    "latest_history_horizon_date": pl.Date,
    "n_history": pl.Int32,
    "method": pl.String,
    "realized": pl.Float64,
    "forecast": pl.Float64,
    "interval_low": pl.Float64,
    "interval_high": pl.Float64,
    "covered": pl.Boolean,
    "abs_log_error": pl.Float64,
    "baseline_forecast": pl.Float64,
    "baseline_abs_log_error": pl.Float64,
    "baseline_covered": pl.Boolean,
    "label": pl.String,
    "realized_tercile": pl.Int32,
}


def backtest(history: History, settings: ForecastSettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rolling origin over past launches: each observed launch with a complete horizon is
    forecast at each backtest age ``a`` from the launches whose horizon day is on or before its
    forecast date (release + a), nothing later, exactly as :func:`forecast_young` would have
    on that date. Returns (one row per launch x metric x age, the summary by metric x age)."""
    settings.validate()
    h = settings.horizon_days
    outcomes = _outcomes(history, h)
    records: list[dict] = []
    for age in (a for a in settings.backtest_ages if a < h):
        at_age = _training_at(history, outcomes, age)
        if at_age.height == 0:
            continue
        at_age = at_age.with_columns(forecast_date=pl.col("date"))
        for date in sorted(at_age["forecast_date"].unique().to_list()):
            test = at_age.filter(pl.col("forecast_date") == date)
            train = at_age.filter(pl.col("horizon_date") <= date)
            latest = train["horizon_date"].max() if train.height else None
            for metric in METRICS:
                y_test = test[f"y_{metric}"].to_numpy().astype(np.float64)
                pred = predict(train, train[f"y_{metric}"].to_numpy(), test, metric, settings)
                if pred.method == "none":
                    continue
                floor = test[TARGET[metric]].to_numpy().astype(np.float64)
                f = _to_scale(pred.forecast, floor)
                lo = _to_scale(pred.low, floor)
                hi = np.maximum(_to_scale(pred.high, floor), f)
                b = _to_scale(pred.baseline, floor)
                b_lo, b_hi = (
                    _to_scale(pred.baseline_low, floor),
                    _to_scale(pred.baseline_high, floor),
                )
                for i in range(test.height):
                    records.append({
                        "metric": metric, "age_days": age, "horizon_days": h,
                        "series_id": test["series_id"][i], "forecast_date": date,
                        "latest_history_horizon_date": latest, "n_history": pred.n_history,
                        "method": pred.method, "realized": y_test[i], "forecast": f[i],
                        "interval_low": lo[i], "interval_high": hi[i],
                        "covered": bool(lo[i] <= y_test[i] <= hi[i]),
                        "abs_log_error": abs(math.log1p(f[i]) - math.log1p(y_test[i])),
                        "baseline_forecast": None if math.isnan(b[i]) else b[i],
                        "baseline_abs_log_error": None if math.isnan(b[i])
                        else abs(math.log1p(b[i]) - math.log1p(y_test[i])),
                        "baseline_covered": None if math.isnan(b[i])
                        else bool(b_lo[i] <= y_test[i] <= b_hi[i]),
                        "label": _label(lo[i], hi[i], pred, settings)[0],
                    })  # fmt: skip
    if not records:
        return pl.DataFrame(schema=BACKTEST_ROW_SCHEMA), pl.DataFrame(schema=BACKTEST_SCHEMA)
    rows = pl.DataFrame(records, schema={k: v for k, v in BACKTEST_ROW_SCHEMA.items()
                                         if k != "realized_tercile"})  # fmt: skip
    # terciles of the realized value among the launches backtested for that metric and age
    rows = rows.with_columns(
        realized_tercile=(
            (pl.col("realized").rank("ordinal").over("metric", "age_days") - 1)
            * 3
            // pl.len().over("metric", "age_days")
            + 1
        ).cast(pl.Int32)
    ).sort("metric", "age_days", "forecast_date", "series_id")
    return rows, summarize(rows, settings)


BACKTEST_SCHEMA = {
    "metric": pl.String,
    "age_days": pl.Int32,
    "horizon_days": pl.Int32,
    "interval_level": pl.Float64,
    "n_series": pl.UInt32,
    "coverage": pl.Float64,
    "median_abs_log_error": pl.Float64,
    "baseline_median_abs_log_error": pl.Float64,
    "coverage_low_tercile": pl.Float64,
    "coverage_mid_tercile": pl.Float64,
    "coverage_high_tercile": pl.Float64,
    "baseline_coverage": pl.Float64,
    "baseline_coverage_high_tercile": pl.Float64,
    "median_interval_ratio": pl.Float64,
    "share_model": pl.Float64,
    "median_n_history": pl.Float64,
}


def summarize(rows: pl.DataFrame, settings: ForecastSettings) -> pl.DataFrame:
    """The backtest by metric x age: coverage, errors and coverage by realized tercile."""
    cov = pl.col("covered").cast(pl.Float64)
    base_cov = pl.col("baseline_covered").cast(pl.Float64)
    return (
        rows.group_by("metric", "age_days", "horizon_days")
        .agg(
            n_series=pl.len(),
            coverage=cov.mean(),
            median_abs_log_error=pl.col("abs_log_error").median(),
            baseline_median_abs_log_error=pl.col("baseline_abs_log_error").median(),
            coverage_low_tercile=cov.filter(pl.col("realized_tercile") == 1).mean(),
            coverage_mid_tercile=cov.filter(pl.col("realized_tercile") == 2).mean(),
            coverage_high_tercile=cov.filter(pl.col("realized_tercile") == 3).mean(),
            baseline_coverage=base_cov.mean(),
            baseline_coverage_high_tercile=base_cov.filter(pl.col("realized_tercile") == 3).mean(),
            median_interval_ratio=(
                (pl.col("interval_high") + 1) / (pl.col("interval_low") + 1)
            ).median(),
            share_model=(pl.col("method") == "model").cast(pl.Float64).mean(),
            median_n_history=pl.col("n_history").cast(pl.Float64).median(),
        )
        .with_columns(interval_level=pl.lit(settings.interval))
        .select(list(BACKTEST_SCHEMA))
        .cast(BACKTEST_SCHEMA)
        .sort("metric", "age_days")
    )
