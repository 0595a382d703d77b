"""The recommendation API (CONTRACT §4): FastAPI over the published model bundle.

``create_app()`` builds the application; ``cliffhanger serve`` runs it with uvicorn. The app
reads only what the pipeline published (``paths().models_dir``) and never imports
``pipelines/``. Endpoints, errors, auth and reload behaviour are documented in docs/api.md.
"""

from __future__ import annotations

import hmac
import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import paths
from serving.activity import ActivityHolder
from serving.experiment import CHALLENGER, CONTROL, DEFAULT, ExperimentHolder
from serving.metrics import ApiMetrics
from serving.model import Item, NotAvailable, ServingModel, UnknownLanguage, UnknownSeries
from serving.served_log import ServedLog, served_at
from serving.state import ModelHolder

log = logging.getLogger("cliffhanger.serving")

API_KEY_ENV = "CLIFFHANGER_API_KEY"
#: Limits on what a client may send. No endpoint takes a body; ids are short.
MAX_PATH_BYTES = 1024
MAX_QUERY_BYTES = 1024
MAX_BODY_BYTES = 0
MAX_ID_CHARS = 200
#: Endpoints that answer without the API key (load balancers probe them unauthenticated).
OPEN_PATHS = frozenset({"/healthz"})
#: a language code or locale tag: ``en``, ``EN``, ``pt-BR``, ``pt_BR``, ``zh-Hant-TW``
_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


# ---------------------------------------------------------------------------------------------
# response models (for the OpenAPI document; handlers return ready JSON for speed)


class ItemOut(BaseModel):
    series_id: str = Field(description="A series version in the requested language.")
    title: str | None = Field(description="The series' display title.")
    language: str = Field(
        description="The item's language: the requested one, or another one when the list "
        "was filled (see reason)."
    )
    n_episodes: int | None = Field(description="Episodes of the series.")
    free_episodes: int | None = Field(description="Episodes 1..free_episodes are free.")
    production_type: str | None = Field(description="ai, live_action or hybrid.")
    score: float = Field(
        description="1 / position in the list (1, 0.5, 0.333333, ...): the same meaning for "
        "every source; the model's own scores are in analytics.recommendations."
    )
    source: str = Field(
        description="Where the item came from: als, bpr, item_knn, ease, ranker (the model), "
        "item_similarity, trending, popular, new_release or continue_watching."
    )
    reason: str = Field(
        description="Why it is listed, e.g. 'picked for you', 'trending now', or 'in es, "
        "another language you watch: few series left in en' for a filled item."
    )


class NextSeriesOut(BaseModel):
    user_id: str
    request_id: str = Field(description="This response's id (32 hex): echo it in impressions.")
    model_version: str
    variant: str = Field(description="default, or the experiment's arm: control, challenger.")
    fallback: bool = Field(description="True when a fallback model or list is being served.")
    language: str = Field(description="The language the items are in.")
    items: list[ItemOut]


class SimilarOut(BaseModel):
    series_id: str
    request_id: str
    model_version: str
    variant: str
    items: list[ItemOut]


class ContinueItemOut(BaseModel):
    series_id: str
    title: str | None
    language: str
    n_episodes: int | None
    free_episodes: int | None
    production_type: str | None
    next_episode_number: int = Field(description="The episode to play next (resume or next).")
    next_episode_locked: bool = Field(
        description="Behind the paywall for this user: beyond the free episodes and not "
        "unlocked by them."
    )
    last_watched_at: str = Field(description="When they last watched it (UTC, ISO-8601).")


class ContinueOut(BaseModel):
    user_id: str
    items: list[ContinueItemOut]


class HomeRowOut(BaseModel):
    name: str = Field(
        description="continue_watching, for_you, trending, new_releases or because_you_watched"
    )
    title: str = Field(description="What the app can show above the row.")
    seed_series_id: str | None = Field(
        default=None, description="because_you_watched: the series it is based on."
    )
    items: list[dict[str, Any]]


class HomeOut(BaseModel):
    user_id: str
    request_id: str
    model_version: str
    variant: str
    language: str
    rows: list[HomeRowOut]


class ModelOut(BaseModel):
    model_version: str
    model: str
    kind: str
    trained_at: str | None
    data_start: str | None
    data_end: str | None
    metrics: dict[str, float]
    params: dict[str, Any]
    evaluation: dict[str, Any] = Field(
        default_factory=dict,
        description="The offline evaluation's split (validation_start, test_start, test_end, "
        "test_days) and the gate's paired test of the candidate against the best baseline.",
    )
    fallback: bool
    fallback_reason: str | None
    languages: list[str]
    n_users: int
    n_series: int
    n_stories: int
    loaded_at: str
    experiment: dict[str, Any] | None = Field(
        default=None,
        description="The running experiment (name, salt, challenger_share, challenger_version, "
        "challenger_served, problem), or null.",
    )
    activity: dict[str, Any] = Field(
        default_factory=dict,
        description="The published viewer activity in use: as_of, users, rows, problem.",
    )


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong API key"},
    413: {"model": ErrorOut, "description": "The request has a body (no endpoint takes one)"},
    414: {"model": ErrorOut, "description": "Path or query string longer than 1,024 bytes"},
    422: {"model": ErrorOut, "description": "Bad or unknown parameter"},
    503: {"model": ErrorOut, "description": "No model or list can be served"},
}


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


# ---------------------------------------------------------------------------------------------
# the guard: size limits, auth, metrics — a plain ASGI middleware (cheaper than
# BaseHTTPMiddleware, which adds a task and a stream per request)


class GuardMiddleware:
    """Reject oversized requests (414/413) and unauthenticated ones (401); count everything."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, api_key: str | None) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_box = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        rejection = self._reject(scope)
        try:
            if rejection is not None:
                await rejection(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # the template, not the raw path: user ids must not become label values
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(label, scope["method"], str(status_box[0])).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - started)

    def _reject(self, scope: Scope) -> JSONResponse | None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if len(raw_path) > MAX_PATH_BYTES:
            return _error(414, f"request path longer than {MAX_PATH_BYTES} bytes")
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            return _error(414, f"query string longer than {MAX_QUERY_BYTES} bytes")
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if b"transfer-encoding" in headers or (length is not None and length.strip() != b"0"):
            return _error(413, "this API takes no request body")
        if self.api_key is not None and scope["path"] not in OPEN_PATHS:
            auth = headers.get(b"authorization", b"")
            scheme, _, token = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                return _error(
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return None


# ---------------------------------------------------------------------------------------------
# the app


def _describe_validation(exc: RequestValidationError) -> str:
    """One readable line per problem, e.g. ``query parameter 'k': must be ≤ 100 (got '101')``."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where = f"{loc[0]} parameter '{loc[-1]}'" if len(loc) >= 2 else ".".join(loc) or "request"
        got = err.get("input")
        shown = f" (got {str(got)[:40]!r})" if isinstance(got, str | int | float) else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "invalid request"


def _param_doc(
    name: str, where: str, schema: dict, description: str, required: bool = False, **extra: Any
) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": schema,
        "description": description,
        **extra,
    }


_USER = _param_doc(
    "user_id",
    "path",
    {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
    "The app's user id; unknown users get a non-personalised list.",
    required=True,
)
_SERIES = _param_doc(
    "series_id",
    "path",
    {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
    "A series version of the catalogue.",
    required=True,
)
_K = _param_doc(
    "k",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    "How many items (1..100).",
)
_LANGUAGE = _param_doc(
    "language",
    "query",
    {"type": "string", "maxLength": 35},
    "Language of the items, a code or a locale tag (pt-BR → pt, EN → en); default: the "
    "user's most watched language.",
)
_EXCLUDE = _param_doc(
    "exclude",
    "query",
    {"type": "array", "items": {"type": "string", "maxLength": MAX_ID_CHARS}},
    "Series to leave out, e.g. those already shown (repeatable: exclude=A&exclude=B; every "
    "language version of the story is left out; unknown ids are ignored).",
    style="form",
    explode=True,
)
#: OpenAPI description of next-series' parameters (parsed by ``parse_next_series``)
NEXT_SERIES_PARAMETERS = [
    _USER,
    _K,
    _LANGUAGE,
    _param_doc(
        "after_series_id",
        "query",
        {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
        "The series the user just finished: steers the list toward similar stories.",
    ),
    _EXCLUDE,
]
SIMILAR_PARAMETERS = [_SERIES, _K, _EXCLUDE]
CONTINUE_PARAMETERS = [
    _USER,
    _param_doc(
        "k",
        "query",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "How many series at most (1..100).",
    ),
]
HOME_PARAMETERS = [
    _USER,
    _param_doc(
        "k",
        "query",
        {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        "Items per row at most (1..50).",
    ),
    _LANGUAGE,
]
#: the query parameters each endpoint takes; any other is a 422
ALLOWED = {
    "next-series": ("k", "language", "after_series_id", "exclude"),
    "similar": ("k", "exclude"),
    "continue-watching": ("k",),
    "home": ("k", "language"),
    "none": (),
}


def unknown_parameter(query: QueryParams, endpoint: str) -> str | None:
    """A message naming the first query parameter ``endpoint`` does not take, or ``None``."""
    allowed = ALLOWED[endpoint]
    for key in query:
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            return f"unknown query parameter {key[:40]!r} (this endpoint takes: {known})"
    return None


def parse_k(query: Mapping[str, str], default: int = 10, high: int = 100) -> int | str:
    raw_k = query.get("k")
    if raw_k is None:
        return default
    try:
        k = int(raw_k)
    except ValueError:
        k = 0
    if not 1 <= k <= high:
        return f"query parameter 'k' must be an integer from 1 to {high} (got {raw_k[:40]!r})"
    return k


def parse_exclude(query: QueryParams) -> list[str] | str:
    values = query.getlist("exclude")
    for value in values:
        if not 1 <= len(value) <= MAX_ID_CHARS:
            return f"query parameter 'exclude' must be 1 to {MAX_ID_CHARS} characters"
    return values


def parse_next_series(
    user_id: str, query: QueryParams
) -> tuple[str, int, str | None, str | None, list[str]] | str:
    """Check next-series' parameters; return them, or a message saying what is wrong."""
    if not 1 <= len(user_id) <= MAX_ID_CHARS:
        return f"path parameter 'user_id' must be 1 to {MAX_ID_CHARS} characters"
    problem = unknown_parameter(query, "next-series")
    if problem:
        return problem
    k = parse_k(query)
    if isinstance(k, str):
        return k
    language = query.get("language")
    if language is not None and not 1 <= len(language) <= 35:
        return "query parameter 'language' must be 1 to 35 characters"
    after = query.get("after_series_id")
    if after is not None and not 1 <= len(after) <= MAX_ID_CHARS:
        return f"query parameter 'after_series_id' must be 1 to {MAX_ID_CHARS} characters"
    exclude = parse_exclude(query)
    if isinstance(exclude, str):
        return exclude
    return user_id, k, language, after, exclude


class _HotRoute(Route):
    """A plain Starlette route that names itself in the scope as FastAPI's routes do (the
    metrics label their requests by the route's path template)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)


#: endpoints served by plain Starlette routes (see the end of create_app)
HOT_PATHS = ("/v1/users/{user_id}/next-series",)
#: the rank-based score of positions 1..100, 1 / position rounded (no round() per item)
_RANK_SCORES = [0.0] + [round(1.0 / p, 6) for p in range(1, 101)]


def item_json(model: ServingModel, it: Item, position: int) -> dict[str, Any]:
    """An item as the API shows it: catalogue fields and the rank-based score."""
    row = model.series_row.get(it.series_id)
    out = (
        dict(model.series_info[row]) if row is not None else {"series_id": it.series_id, **_NO_INFO}
    )
    out["language"] = it.language
    out["score"] = _RANK_SCORES[position] if position <= 100 else round(1.0 / position, 6)
    out["source"] = it.source
    out["reason"] = it.reason
    return out


_NO_INFO = {"title": None, "n_episodes": None, "free_episodes": None, "production_type": None}


def new_request_id() -> str:
    """32 lowercase hex characters, fresh per response (a 128-bit random number: the same
    format as ``uuid4().hex``, without its system call; ids need to be unique, not secret)."""
    return f"{random.getrandbits(128):032x}"


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (the API's responses are plain dicts of str, int, float)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def logged_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The served log's items (docs/feedback-loop.md §2): id, position, source, score."""
    return [
        {"series_id": it["series_id"], "position": p, "source": it["source"], "score": it["score"]}
        for p, it in enumerate(items, start=1)
    ]


def create_app(
    root: Path | None = None, *, watch_interval: float = 1.0, home: Path | None = None
) -> FastAPI:
    """Build the API over the bundles under ``root`` (default ``paths().models_dir``).

    Parameters
    ----------
    root : Path, optional
        Models folder holding ``current`` and ``bundles/``.
    watch_interval : float
        Seconds between two checks of ``root/current`` for a newly published bundle (and of
        the experiment file, the challenger bundle and the activity file).
    home : Path, optional
        ``CLIFFHANGER_HOME`` (for the served log, the experiment file and the activity);
        default ``paths()``.
    """
    where = paths()
    root = Path(root) if root is not None else where.models_dir
    home_dir = Path(home) if home is not None else where.home
    metrics = ApiMetrics()
    api_key = os.environ.get(API_KEY_ENV) or None

    def on_change(event: str, detail: str) -> None:
        metrics.reloads.labels(event).inc()
        model = holder.model
        if model is not None:
            metrics.set_model(
                model.version, model.model, model.kind, model.full, model.loaded_at.timestamp()
            )
        else:
            metrics.model_loaded.set(0)

    holder = ModelHolder(root, on_change=on_change)
    experiments = ExperimentHolder(
        where.experiment_file if home is None else home_dir / "experiment.toml", home_dir
    )
    activity = ActivityHolder(root / "activity.parquet")
    served_log = ServedLog(
        where.served_dir if home is None else home_dir / "served",
        on_drop=lambda n: metrics.served_log_dropped.inc(n),
    )
    stop_side = threading.Event()

    def refresh_side() -> None:
        for part in (experiments, activity):
            try:
                part.refresh()
            except Exception:  # keep watching whatever happens; the reason is logged
                log.exception("watcher: unexpected error")

    def watch_side() -> None:
        while not stop_side.wait(watch_interval):
            refresh_side()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's own protocol
        served_log.start()
        holder.start(interval=watch_interval)
        refresh_side()
        side = threading.Thread(target=watch_side, name="side-watcher", daemon=True)
        side.start()
        if holder.model is None:
            metrics.model_loaded.set(0)
            log.error("starting without a model: %s", holder.last_error)
        yield
        stop_side.set()
        holder.stop()
        side.join(timeout=5)
        served_log.stop()

    app = FastAPI(
        title="Cliffhanger recommendation API",
        version="1",
        description="Next-series recommendations for micro-drama apps. See docs/api.md.",
        lifespan=lifespan,
        # the docs pages are served below with assets of our own (no CDN)
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry checks its providers on every request (~50 µs here);
        # this service exports its own Prometheus metrics instead
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.experiments = experiments
    app.state.activity = activity
    app.state.served_log = served_log
    app.add_middleware(GuardMiddleware, metrics=metrics, api_key=api_key)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return _error(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not the client's fault: log the type (no request data) and answer cleanly
        log.exception("unexpected error on %s", request.scope.get("route", None))
        return _error(500, "internal error")

    def serving_model() -> ServingModel | JSONResponse:
        model = holder.model
        if model is None:
            return _error(503, f"no model is loaded and no popular list was found: {holder.last_error}")  # fmt: skip
        return model

    def pick(user_id: str | None) -> tuple[ServingModel | JSONResponse, str, str | None]:
        """The model for ``user_id``, its variant and the experiment's name (§4)."""
        control = serving_model()
        experiment, challenger = experiments.state
        if experiment is None:
            return control, DEFAULT, None
        if user_id is None:  # similar has no user: not split, the served bundle
            return control, CONTROL, experiment.name
        if challenger is not None and experiment.variant(user_id) == CHALLENGER:
            return challenger, CHALLENGER, experiment.name
        return control, CONTROL, experiment.name

    def check_language(model: ServingModel, language: str | None) -> str | JSONResponse | None:
        """The catalogue language asked for (locale tags normalized), or a 422."""
        if language is None or language in model.languages:
            return language
        known = ", ".join(model.languages)
        if not _LANGUAGE_RE.match(language):
            return _error(422, f"language {language[:40]!r} is not a language code (known: {known})")  # fmt: skip
        normalized = model.normalize_language(language)
        if normalized is None:
            return _error(422, f"unknown language code {language!r}: the catalogue has {known}")
        return normalized

    def log_served(
        request_id: str,
        user_id: str | None,
        endpoint: str,
        surface: str,
        model: ServingModel,
        variant: str,
        experiment: str | None,
        items: list[dict[str, Any]],
        at: str,
    ) -> None:
        served_log.add(
            {
                "request_id": request_id,
                "served_at": at,
                "user_id": user_id,
                "endpoint": endpoint,
                "surface": surface,
                "model_version": model.version,
                "variant": variant,
                "experiment": experiment,
                "items": logged_items(items),
            }
        )

    @app.get(
        "/v1/users/{user_id}/next-series",
        response_model=NextSeriesOut,
        responses={**ERRORS},
        summary="Next series for a user",
        openapi_extra={"parameters": NEXT_SERIES_PARAMETERS},
    )
    async def next_series(request: Request) -> Response:
        """Series the user has not started (in any language version), best first.

        Unknown users get the trending list (``source`` trending, or popular when there is
        no trending list) in the requested language or the most common one — unless they
        started series since the model was trained (fresh viewers: a list folded in from
        those, source item_similarity).
        """
        # the hot endpoint parses its own parameters: FastAPI's per-request parameter
        # machinery costs ~50 µs, twice the scoring itself (see parse_next_series)
        parsed = parse_next_series(request.path_params["user_id"], request.query_params)
        if isinstance(parsed, str):
            return _error(422, parsed)
        user_id, k, language, after_series_id, exclude = parsed
        model, variant, experiment = pick(user_id)
        if isinstance(model, JSONResponse):
            return model
        language = check_language(model, language)
        if isinstance(language, JSONResponse):
            return language
        recent = activity.activity.series_of(user_id)
        blocked = model.stories_of(exclude) if exclude else None
        try:
            rec = model.recommend(user_id, k, language, after_series_id, blocked, recent)
        except UnknownSeries:
            return _error(422, f"after_series_id {after_series_id!r} is not in the catalogue")
        except UnknownLanguage:
            return _error(422, f"no series in language {language!r}")
        if model.fallback:
            metrics.fallbacks.labels("model" if model.full else "no_model").inc()
        if not rec.personalized and model.full:
            metrics.unknown_users.inc()
        request_id = new_request_id()
        items = [item_json(model, it, p) for p, it in enumerate(rec.items, start=1)]
        log_served(request_id, user_id, "next-series", "next-series", model, variant,
                   experiment, items, served_at())  # fmt: skip
        return FastJSONResponse(
            {
                "user_id": user_id,
                "request_id": request_id,
                "model_version": model.version,
                "variant": variant,
                "fallback": model.fallback,
                "language": rec.language,
                "items": items,
            }
        )

    @app.get(
        "/v1/series/{series_id}/similar",
        response_model=SimilarOut,
        responses={**ERRORS, 404: {"model": ErrorOut, "description": "Unknown series"}},
        summary="Series like this one",
        openapi_extra={"parameters": SIMILAR_PARAMETERS},
    )
    async def similar(request: Request) -> Response:
        """Series versions in the same language whose stories are most similar."""
        series_id = request.path_params["series_id"]
        if not 1 <= len(series_id) <= MAX_ID_CHARS:
            return _error(422, f"path parameter 'series_id' must be 1 to {MAX_ID_CHARS} characters")  # fmt: skip
        query = request.query_params
        problem = unknown_parameter(query, "similar")
        k = parse_k(query)
        exclude = parse_exclude(query)
        for bad in (problem, k, exclude):
            if isinstance(bad, str):
                return _error(422, bad)
        model, variant, experiment = pick(None)
        if isinstance(model, JSONResponse):
            return model
        blocked = model.stories_of(exclude) if exclude else None
        try:
            found = model.similar(series_id, k, blocked)  # type: ignore[arg-type]
        except UnknownSeries:
            return _error(404, f"unknown series {series_id!r}")
        except NotAvailable as exc:
            return _error(503, str(exc))
        request_id = new_request_id()
        items = [item_json(model, it, p) for p, it in enumerate(found, start=1)]
        log_served(request_id, None, "similar", "similar", model, variant, experiment, items,
                   served_at())  # fmt: skip
        return FastJSONResponse(
            {
                "series_id": series_id,
                "request_id": request_id,
                "model_version": model.version,
                "variant": variant,
                "items": items,
            }
        )

    def continue_items(model: ServingModel, user_id: str, k: int) -> list[dict[str, Any]]:
        out = []
        for prog in activity.activity.rows(user_id):
            if prog.finished:
                continue
            row = model.series_row.get(prog.series_id)
            if row is None:  # no longer in the catalogue
                continue
            info = model.series_info[row]
            out.append(
                {
                    "series_id": prog.series_id,
                    "title": info["title"],
                    "language": model.languages[int(model.series_lang[row])],
                    "n_episodes": info["n_episodes"],
                    "free_episodes": info["free_episodes"],
                    "production_type": info["production_type"],
                    "next_episode_number": prog.next_episode_number,
                    "next_episode_locked": prog.next_episode_locked,
                    "last_watched_at": prog.last_watched_at,
                }
            )
            if len(out) >= k:
                break
        return out

    @app.get(
        "/v1/users/{user_id}/continue-watching",
        response_model=ContinueOut,
        responses={**ERRORS},
        summary="Series the user is in the middle of",
        openapi_extra={"parameters": CONTINUE_PARAMETERS},
    )
    async def continue_watching(request: Request) -> Response:
        """Series in progress, most recently watched first, with the episode to play next
        and whether it is locked for this user; finished series are left out."""
        user_id = request.path_params["user_id"]
        if not 1 <= len(user_id) <= MAX_ID_CHARS:
            return _error(422, f"path parameter 'user_id' must be 1 to {MAX_ID_CHARS} characters")  # fmt: skip
        problem = unknown_parameter(request.query_params, "continue-watching")
        k = parse_k(request.query_params, default=20)
        for bad in (problem, k):
            if isinstance(bad, str):
                return _error(422, bad)
        model = serving_model()
        if isinstance(model, JSONResponse):
            return model
        return FastJSONResponse({"user_id": user_id, "items": continue_items(model, user_id, k)})  # type: ignore[arg-type]

    @app.get(
        "/v1/users/{user_id}/home",
        response_model=HomeOut,
        responses={**ERRORS},
        summary="The home page's rows for a user",
        openapi_extra={"parameters": HOME_PARAMETERS},
    )
    async def home(request: Request) -> Response:
        """Named rows in one call — continue_watching, for_you, trending, new_releases,
        because_you_watched — with no series (story) twice on the page; empty rows are left
        out. One ``request_id`` for the page."""
        user_id = request.path_params["user_id"]
        if not 1 <= len(user_id) <= MAX_ID_CHARS:
            return _error(422, f"path parameter 'user_id' must be 1 to {MAX_ID_CHARS} characters")  # fmt: skip
        query = request.query_params
        problem = unknown_parameter(query, "home")
        k = parse_k(query, default=10, high=50)
        for bad in (problem, k):
            if isinstance(bad, str):
                return _error(422, bad)
        language = query.get("language")
        if language is not None and not 1 <= len(language) <= 35:
            return _error(422, "query parameter 'language' must be 1 to 35 characters")
        model, variant, experiment = pick(user_id)
        if isinstance(model, JSONResponse):
            return model
        language = check_language(model, language)
        if isinstance(language, JSONResponse):
            return language
        try:
            page = home_rows(model, user_id, k, language)  # type: ignore[arg-type]
        except UnknownLanguage:
            return _error(422, f"no series in language {language!r}")
        request_id = new_request_id()
        at = served_at()
        for row in page["rows"]:
            log_served(request_id, user_id, "home", f"home:{row['name']}", model, variant,
                       experiment, row["items"], at)  # fmt: skip
        return FastJSONResponse(
            {
                "user_id": user_id,
                "request_id": request_id,
                "model_version": model.version,
                "variant": variant,
                "language": page["language"],
                "rows": page["rows"],
            }
        )

    def home_rows(
        model: ServingModel, user_id: str, k: int, language: str | None
    ) -> dict[str, Any]:
        recent = activity.activity.series_of(user_id)
        rows: list[dict[str, Any]] = []
        on_page: list[np.ndarray] = []
        cw = continue_items(model, user_id, k)
        for p, it in enumerate(cw, start=1):
            it.update(score=round(1.0 / p, 6), source="continue_watching",
                      reason="continue watching")  # fmt: skip
        if cw:
            rows.append({"name": "continue_watching", "title": "Continue watching", "items": cw})
            on_page.append(model.stories_of([it["series_id"] for it in cw]))
        # every story the user started (the bundle's history and the recent activity)
        started = [model.stories_of(recent)]
        row_index = model.user_row(user_id) if model.full else None
        if row_index is not None:
            started.append(model.indices[model.indptr[row_index] : model.indptr[row_index + 1]])
        started_stories = np.concatenate(started).astype(np.int64)

        def blocked() -> np.ndarray:
            return np.concatenate([started_stories, *on_page]).astype(np.int64)

        def add(name: str, title: str, found: list[Item], **extra: Any) -> None:
            if not found:
                return
            items = [item_json(model, it, p) for p, it in enumerate(found, start=1)]
            rows.append({"name": name, "title": title, **extra, "items": items})
            on_page.append(model.stories_of([it.series_id for it in found]))

        rec = model.recommend(user_id, k, language, None, blocked(), recent)
        li = model.language_code(rec.language)
        if rec.personalized:
            add("for_you", "For you", rec.items)
        add("trending", f"Trending in {rec.language}", model.trending(li, k, blocked()))
        add("new_releases", "New releases", model.new_release_items(li, k, blocked()))
        seed = recent[0] if recent else model.top_history_series(row_index, li)
        if seed is not None and model.full:
            seed_row = model.series_row.get(seed)
            if seed_row is not None:
                title = model.series_info[seed_row]["title"] or seed
                found = model.similar(seed, k, blocked(), li)
                found = [Item(it.series_id, it.score, it.source, it.language,
                              f"because you watched {title}") for it in found]  # fmt: skip
                add("because_you_watched", f"Because you watched {title}", found,
                    seed_series_id=seed)  # fmt: skip
        return {"language": rec.language, "rows": rows}

    @app.get("/v1/model", response_model=ModelOut, responses={**ERRORS}, summary="Model in service")
    async def model_info(request: Request) -> Response:
        """Version, training time and data range, offline metrics, fallback state, the
        running experiment and the viewer activity in use."""
        problem = unknown_parameter(request.query_params, "none")
        if problem:
            return _error(422, problem)
        model = serving_model()
        if isinstance(model, JSONResponse):
            return model
        return JSONResponse(
            {**model.describe(), "experiment": experiments.describe(),
             "activity": activity.describe()}
        )  # fmt: skip

    @app.get("/healthz", summary="Liveness and readiness")
    async def healthz() -> Response:
        """200 when a model is loaded; 503 (with the reason) otherwise."""
        model = holder.model
        if model is not None and model.full:
            return JSONResponse({"status": "ok", "model_version": model.version})
        body: dict[str, Any] = {"status": "unavailable", "reason": holder.last_error}
        if model is not None:
            body["serving"] = f"popular lists of {model.version} (fallback)"
        return JSONResponse(body, status_code=503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # --- the interactive docs, with assets served from the installed fastapi-offline package
    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — Swagger UI",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — ReDoc",
            redoc_js_url="/docs/assets/redoc.standalone.js",
            redoc_favicon_url="/docs/assets/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media = DOCS_ASSETS.get(name)
        if media is None:
            return _error(404, f"no docs asset {name[:40]!r}")
        return FileResponse(docs_assets_dir() / name, media_type=media,
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    # the hot endpoints also as plain Starlette routes in front of their FastAPI twins (which
    # stay for the OpenAPI document and docs): they parse their own parameters, and FastAPI's
    # per-request dependency solving costs ~60 µs of a ~350 µs request (benchmarks/api_load.py)
    for route in list(app.router.routes):
        if getattr(route, "path", None) in HOT_PATHS:
            app.router.routes.insert(0, _HotRoute(route.path, route.endpoint, methods=["GET"]))
    return app


#: the files of the docs pages, from the fastapi-offline package (MIT; Swagger UI and ReDoc
#: are Apache-2.0 and MIT): name -> media type
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}


def docs_assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"
