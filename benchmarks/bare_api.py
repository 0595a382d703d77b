"""The api_load benchmark's baseline: a bare FastAPI endpoint returning a fixed 10-item list.

``python -m benchmarks.bare_api --port N [--workers W] [--no-access-log]`` serves it through
``serving.server.run_server`` — the same uvicorn settings as ``cliffhanger serve`` (loop,
HTTP parser, workers, log configuration) — so the ratio of the real endpoint to this one is
the cost of the API itself (parameter checks, the model lookup, scoring, metrics), not of
the server or the machine. Same route and response shape as ``/v1/users/{id}/next-series``.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

ITEMS = [
    {"series_id": f"s{i:05d}-en", "score": round(1.0 - i / 20, 4), "source": "ranker",
     "language": "en", "reason": "Picked for you"}
    for i in range(10)
]  # fmt: skip


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/users/{user_id}/next-series")
    async def next_series(request: Request) -> Response:
        return JSONResponse({
            "user_id": request.path_params["user_id"], "model_version": "bare",
            "fallback": False, "language": "en", "items": ITEMS,
        })  # fmt: skip

    return app


def main(argv: list[str] | None = None) -> None:
    from serving.server import run_server

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bare_api", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-access-log", action="store_true")
    args = ap.parse_args(argv)
    run_server(args.host, args.port, args.workers, not args.no_access_log,
               app="benchmarks.bare_api:create_app")  # fmt: skip


if __name__ == "__main__":
    main()
