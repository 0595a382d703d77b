"""The recommendation API (CONTRACT §4): FastAPI over the published model bundle.

``create_app()`` builds the application; ``cliffhanger serve`` runs it with uvicorn. The app
reads only what the pipeline published (``paths().models_dir``) and never imports
``pipelines/``. Endpoints, errors, auth and reload behaviour are documented in docs/api.md.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import paths
from serving.metrics import ApiMetrics
from serving.model import NotAvailable, ServingModel, UnknownLanguage, UnknownSeries
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

# module level: FastAPI resolves these annotations by name (``from __future__ import annotations``)
Id = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_CHARS)]
K = Annotated[int, Query(ge=1, le=100, description="How many items (1..100).")]


# ---------------------------------------------------------------------------------------------
# response models (for the OpenAPI document; handlers return ready JSON for speed)


class ItemOut(BaseModel):
    series_id: str = Field(description="A series version in the requested language.")
    score: float = Field(description="Ranking score (higher is better; scale depends on source).")
    source: str = Field(
        description="Where the item came from: the model (als, bpr, item_knn, ease, ranker, "
        "a blend), item_similarity, trending or popular."
    )
    language: str = Field(
        description="The item's language: the requested one, or another one when the list "
        "was filled (see reason)."
    )
    reason: str = Field(
        description="Why it is listed, e.g. 'picked for you', 'trending now', or 'in es, "
        "another language you watch: few series left in en' for a filled item."
    )


class NextSeriesOut(BaseModel):
    user_id: str
    model_version: str
    fallback: bool = Field(description="True when a fallback model or list is being served.")
    language: str = Field(description="The language the items are in.")
    items: list[ItemOut]


class SimilarOut(BaseModel):
    series_id: str
    model_version: str
    items: list[ItemOut]


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


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong API key"},
    413: {"model": ErrorOut, "description": "The request has a body (no endpoint takes one)"},
    414: {"model": ErrorOut, "description": "Path or query string longer than 1,024 bytes"},
    422: {"model": ErrorOut, "description": "Bad parameter"},
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
    name: str, where: str, schema: dict, description: str, required: bool = False
) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": schema,
        "description": description,
    }


#: OpenAPI description of next-series' parameters (parsed by ``parse_next_series``)
NEXT_SERIES_PARAMETERS = [
    _param_doc(
        "user_id",
        "path",
        {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
        "The app's user id; unknown users get a non-personalised list.",
        required=True,
    ),
    _param_doc(
        "k",
        "query",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "How many items (1..100).",
    ),
    _param_doc(
        "language",
        "query",
        {"type": "string", "maxLength": 35},
        "Language of the items (default: the user's most watched language).",
    ),
    _param_doc(
        "after_series_id",
        "query",
        {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
        "The series the user just finished: steers the list toward similar stories.",
    ),
]


def parse_next_series(
    user_id: str, query: Mapping[str, str]
) -> tuple[str, int, str | None, str | None] | str:
    """Check next-series' parameters; return them, or a message saying what is wrong."""
    if not 1 <= len(user_id) <= MAX_ID_CHARS:
        return f"path parameter 'user_id' must be 1 to {MAX_ID_CHARS} characters"
    raw_k = query.get("k")
    if raw_k is None:
        k = 10
    else:
        try:
            k = int(raw_k)
        except ValueError:
            k = 0
        if not 1 <= k <= 100:
            return f"query parameter 'k' must be an integer from 1 to 100 (got {raw_k[:40]!r})"
    language = query.get("language")
    if language is not None and not 1 <= len(language) <= 35:
        return "query parameter 'language' must be 1 to 35 characters"
    after = query.get("after_series_id")
    if after is not None and not 1 <= len(after) <= MAX_ID_CHARS:
        return f"query parameter 'after_series_id' must be 1 to {MAX_ID_CHARS} characters"
    return user_id, k, language, after


def create_app(root: Path | None = None, *, watch_interval: float = 1.0) -> FastAPI:
    """Build the API over the bundles under ``root`` (default ``paths().models_dir``).

    Parameters
    ----------
    root : Path, optional
        Models folder holding ``current`` and ``bundles/``.
    watch_interval : float
        Seconds between two checks of ``root/current`` for a newly published bundle.
    """
    root = Path(root) if root is not None else paths().models_dir
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

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's own protocol
        holder.start(interval=watch_interval)
        if holder.model is None:
            metrics.model_loaded.set(0)
            log.error("starting without a model: %s", holder.last_error)
        yield
        holder.stop()

    app = FastAPI(
        title="Cliffhanger recommendation API",
        version="1",
        description="Next-series recommendations for micro-drama apps. See docs/api.md.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry checks its providers on every request (~50 µs here);
        # this service exports its own Prometheus metrics instead
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.holder = holder
    app.state.metrics = metrics
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
        no trending list) in the requested language or the most common one.
        """
        # the hot endpoint parses its own parameters: FastAPI's per-request parameter
        # machinery costs ~50 µs, twice the scoring itself (see parse_next_series)
        parsed = parse_next_series(request.path_params["user_id"], request.query_params)
        if isinstance(parsed, str):
            return _error(422, parsed)
        user_id, k, language, after_series_id = parsed
        model = serving_model()
        if isinstance(model, JSONResponse):
            return model
        language = check_language(model, language)
        if isinstance(language, JSONResponse):
            return language
        try:
            rec = model.recommend(user_id, k, language, after_series_id)
        except UnknownSeries:
            return _error(422, f"after_series_id {after_series_id!r} is not in the catalogue")
        except UnknownLanguage:
            return _error(422, f"no series in language {language!r}")
        if model.fallback:
            metrics.fallbacks.labels("model" if model.full else "no_model").inc()
        if not rec.personalized and model.full:
            metrics.unknown_users.inc()
        return JSONResponse(
            {
                "user_id": user_id,
                "model_version": model.version,
                "fallback": model.fallback,
                "language": rec.language,
                "items": [
                    {
                        "series_id": it.series_id,
                        "score": it.score,
                        "source": it.source,
                        "language": it.language,
                        "reason": it.reason,
                    }
                    for it in rec.items
                ],  # fmt: skip
            }
        )

    @app.get(
        "/v1/series/{series_id}/similar",
        response_model=SimilarOut,
        responses={**ERRORS, 404: {"model": ErrorOut, "description": "Unknown series"}},
        summary="Series like this one",
    )
    async def similar(series_id: Id, k: K = 10) -> Response:
        """Series versions in the same language whose stories are most similar."""
        model = serving_model()
        if isinstance(model, JSONResponse):
            return model
        try:
            items = model.similar(series_id, k)
        except UnknownSeries:
            return _error(404, f"unknown series {series_id!r}")
        except NotAvailable as exc:
            return _error(503, str(exc))
        return JSONResponse(
            {
                "series_id": series_id,
                "model_version": model.version,
                "items": [
                    {
                        "series_id": it.series_id,
                        "score": it.score,
                        "source": it.source,
                        "language": it.language,
                        "reason": it.reason,
                    }
                    for it in items
                ],  # fmt: skip
            }
        )

    @app.get("/v1/model", response_model=ModelOut, responses={**ERRORS}, summary="Model in service")
    async def model_info() -> Response:
        """Version, training time and data range, offline metrics, fallback state."""
        model = serving_model()
        if isinstance(model, JSONResponse):
            return model
        return JSONResponse(model.describe())

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

    return app
