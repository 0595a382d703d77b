"""The recommendation API (CONTRACT §4): FastAPI over the published model bundle.

``serving.app.create_app`` builds the app, ``serving.server.run_server`` runs it with uvicorn
(``cliffhanger serve``), ``serving.model`` scores, ``serving.state`` hot-reloads bundles and
``serving.metrics`` holds the Prometheus metrics. It reads only what the pipeline published and
never imports ``pipelines/``. See docs/api.md.
"""
