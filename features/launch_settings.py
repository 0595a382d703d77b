"""The launch forecast's parameters, apart from the numerical code (no numpy or polars), so a
build with nothing to learn from yet never pays for importing them."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import MetricParams

METRICS = ("viewers", "watch_hours", "revenue_usd")
LABELS = ("scale", "watch", "rework")
BACKTEST_AGES = (0, 1, 2, 3, 5, 7, 14, 21)


@dataclass(frozen=True)
class ForecastSettings:
    """The forecast's parameters (MetricParams ``launch_*``; docs/configuration.md)."""

    horizon_days: int = 28
    interval: float = 0.8
    scale_quantile: float = 0.75
    rework_quantile: float = 0.25
    min_history: int = 8
    backtest_ages: tuple[int, ...] = BACKTEST_AGES
    feature_set: str = "compact"  # or "full" (features.launch_forecast._features)

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
        if self.feature_set not in ("compact", "full"):
            raise ValueError(f"feature_set must be compact or full (got {self.feature_set!r})")
        if not 0 <= self.rework_quantile <= self.scale_quantile <= 1:
            raise ValueError(
                "launch_rework_quantile <= launch_scale_quantile, both in [0, 1] (got "
                f"{self.rework_quantile}, {self.scale_quantile})"
            )
