"""Prometheus metrics of the API, in a registry of its own (one per app instance).

Labels are bounded: ``route`` is the route *template* (``/v1/users/{user_id}/next-series``),
never the raw path, so user ids never become label values.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# the *_created series double the output and nobody here graphs them
disable_created_metrics()


class ApiMetrics:
    """The API's counters, histogram and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cliffhanger_api_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cliffhanger_api_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "cliffhanger_api_fallback_responses",
            "Recommendation responses marked fallback, by reason (model: the pipeline served a "
            "fallback model; no_model: the API serves popular lists because no model loaded).",
            ["reason"],
            registry=self.registry,
        )
        self.unknown_users = Counter(
            "cliffhanger_api_unknown_user_responses",
            "next-series responses for users the model does not know (non-personalised).",
            registry=self.registry,
        )
        self.served_log_dropped = Counter(
            "cliffhanger_served_log_dropped",
            "Served-log lines lost (the writer's queue was full, or a write failed).",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "cliffhanger_model_info",
            "1 for the model version in service (labels describe it).",
            ["model_version", "model", "kind"],
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "cliffhanger_model_loaded",
            "1 when a full model is in service, 0 when none (or only popular lists) is.",
            registry=self.registry,
        )
        self.model_loaded_at = Gauge(
            "cliffhanger_model_loaded_timestamp_seconds",
            "Unix time the model in service was loaded.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "cliffhanger_model_reloads",
            "Model load attempts by outcome (loaded, failed, degraded).",
            ["outcome"],
            registry=self.registry,
        )

    def set_model(self, version: str, model: str, kind: str, full: bool, loaded_at: float) -> None:
        """Point the info gauge at the model now in service."""
        self.model_info.clear()
        self.model_info.labels(model_version=version, model=model, kind=kind).set(1)
        self.model_loaded.set(1 if full else 0)
        self.model_loaded_at.set(loaded_at)
