"""The ``cliffhanger`` command (CONTRACT §5).

User mistakes end as one line on stderr and a non-zero exit (2 for bad arguments), never a
traceback. Long steps report progress on stderr; results go to stdout.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

# implicit (the recommender) wants a single-threaded BLAS and threads itself; this must be set
# before numpy loads OpenBLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click
from rich.console import Console

from cliffhanger.errors import UserError
from core.config import paths


@click.group(
    name="cliffhanger",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def app() -> None:
    """Engagement analytics and next-series recommendations for micro-drama apps."""


err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data_samples" / "clean"
DAGSTER_YAML = """\
# Written by cliffhanger: local Dagster instance settings.
telemetry:
  enabled: false
# the working database has one writer: queue runs instead of running them side by side
concurrency:
  runs:
    max_concurrent_runs: 1
"""


def ensure_dagster_home() -> Path:
    """Default ``DAGSTER_HOME`` to the project's folder, with telemetry off."""
    home = paths().dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@app.command()
@click.option("--users", type=int, default=2000, show_default=True, help="Number of users.")
@click.option("--days", type=int, default=14, show_default=True, help="Days of activity.")
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Random seed: same arguments, same bytes.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("landing"),
    show_default=True,
    help="Folder to write catalog/ and events/ into.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "parquet", "segment"]),
    default="jsonl",
    show_default=True,
    help="Canonical JSON Lines, Parquet, or Segment Video Spec JSON Lines.",
)
@click.option("--gzip", is_flag=True, help="Gzip the JSON Lines files.")
@click.option(
    "--dirty",
    type=float,
    default=0.0,
    show_default=True,
    help="Rate of injected delivery faults (0 to 0.5), listed in manifest.json.",
)
@click.option(
    "--series",
    type=int,
    default=None,
    help="Series versions in the catalog (default scales with users).",
)
@click.option("--start", default="2026-09-07", show_default=True, help="First day, YYYY-MM-DD.")
def generate(
    users: int,
    days: int,
    seed: int,
    out_dir: Path,
    fmt: str,
    gzip: bool,
    dirty: float,
    series: int | None,
    start: str,
) -> None:
    """Write a realistic synthetic micro-drama data set: catalog/ and daily events/ files."""
    from synthetic import GenerateError, GenerateSpec
    from synthetic import generate as run_generate

    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        raise UserError(f"--start must be a date like 2026-09-07 (got {start!r})", 2) from None
    spec = GenerateSpec(
        users=users,
        days=days,
        seed=seed,
        out=out_dir,
        fmt=fmt,
        gzip=gzip,
        dirty=dirty,
        series=series,
        start=start_date,
    )
    try:
        with err.status("generating…") as status:
            result = run_generate(spec, progress=lambda msg: status.update(f"generating: {msg}"))
    except GenerateError as exc:
        raise UserError(str(exc), 2) from None
    out.print(
        f"wrote {result.n_series} series, {result.n_episodes} episodes, {result.n_users} users, "
        f"{result.n_events:,} events in {len(result.event_files)} files"
        + (f", {result.n_faults:,} injected faults" if result.n_faults else "")
        + f" to {result.out}"
    )


@app.command()
@click.argument(
    "inputs", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--replay",
    is_flag=True,
    help="Also re-validate records quarantined for an unknown series or episode.",
)
@click.option(
    "--no-publish", is_flag=True, help="Do not publish a new warehouse snapshot afterwards."
)
def ingest(inputs: tuple[Path, ...], replay: bool, no_publish: bool) -> None:
    """Ingest catalog folders (first), event files and folders of event files.

    Prints each file's accounting: records in = loaded + quarantined + duplicates.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from core.config import metric_params
    from core.warehouse import publish, working_database
    from features import build_all
    from ingest.catalog import is_catalog_folder, load_catalog, refresh_public_catalog
    from ingest.events import event_files, ingest_files, replay_quarantine
    from ingest.public import publish_ingestion_tables

    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}", 2)
    catalogs = [p for p in inputs if is_catalog_folder(p)]
    files = event_files(p for p in inputs if p not in catalogs)
    if not files and not catalogs:
        raise UserError("nothing to ingest: the folders hold no files", 2)
    results: list = []
    with working_database(paths()) as con:
        for folder in catalogs:
            loaded = load_catalog(con, folder)
            out.print(
                f"catalog {folder}: {loaded.series} series ({loaded.new_series} new), "
                f"{loaded.episodes} episodes"
            )
        if catalogs:
            refresh_public_catalog(con)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(f"ingesting {len(files)} file(s)", total=None, records=0)
            results = ingest_files(
                con,
                files,
                progress=lambda n: bar.update(task, records=bar.tasks[task].fields["records"] + n),
            )
        if replay:
            r = replay_quarantine(con)
            out.print(
                f"replay: {r.examined} quarantined records re-examined, {r.loaded} loaded, "
                f"{r.duplicates} duplicates, {r.still_quarantined} still quarantined"
            )
        if not no_publish and (results or catalogs or replay):
            with err.status("publishing the warehouse snapshot…"):
                publish_ingestion_tables(con)
                build_all(con, metric_params())
                snap = publish(con, paths(), info={"metric_params": metric_params().as_dict()})
    if results:
        table = Table("file", "status", "records in", "loaded", "quarantined", "duplicates")
        table.columns[1].no_wrap = True
        for r in results:
            table.add_row(
                Path(r.file_path).name,
                r.status,
                f"{r.records_in:,}",
                f"{r.loaded:,}",
                f"{r.quarantined:,}",
                f"{r.duplicates:,}",
            )
        table.add_row(
            "total",
            "",
            f"{sum(r.records_in for r in results):,}",
            f"{sum(r.loaded for r in results):,}",
            f"{sum(r.quarantined for r in results):,}",
            f"{sum(r.duplicates for r in results):,}",
            style="bold",
        )
        out.print(table)
    if not no_publish and (results or catalogs or replay):
        out.print(f"published warehouse snapshot {snap.version}: {paths().warehouse}")
    for r in results:
        if r.message:
            err.print(f"{Path(r.file_path).name}: {r.message}", soft_wrap=True, markup=False)
    refused = [r for r in results if r.status == "refused"]
    if refused:
        # each reason was printed above, after its file's name
        names = ", ".join(Path(r.file_path).name for r in refused)
        raise UserError(f"{len(refused)} file(s) refused: {names}")


def _run_pipeline(quiet: bool = False) -> None:
    import dagster as dg

    landing = paths().landing
    if not (landing / "catalog").is_dir():
        raise UserError(
            f"no catalog in the landing folder {landing}: run `cliffhanger generate --out "
            f"{landing}` or set CLIFFHANGER_LANDING"
        )
    ensure_dagster_home()
    from pipelines.definitions import defs

    job = defs.resolve_job_def("everything")
    with dg.DagsterInstance.get() as instance, err.status("running the pipeline…"):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        if failures:
            error = failures[0].step_failure_data.error
            cause = error.cause or error
            message = cause.message.strip().splitlines()[0]
            # "module.ClassName: text" -> "text"
            message = message.split(": ", 1)[1] if ": " in message else message
            raise UserError(f"pipeline step {failures[0].step_key} failed: {message}")
        raise UserError("the pipeline run failed; see the Dagster logs")
    if not quiet:
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            rows = {k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int)}
            out.print(f"materialized {mat.asset_key.to_user_string()}: {rows}")
        out.print(f"published warehouse: {paths().warehouse}")


@app.command()
def run() -> None:
    """Materialize every Dagster asset in-process and publish the warehouse snapshot."""
    _run_pipeline()


@app.command()
@click.option(
    "--fresh", is_flag=True, help="Replace the landing folder with the sample data first."
)
@click.option("--no-serve", is_flag=True, help="Stop after the pipeline (no API, no dashboards).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of both servers.")
@click.option("--api-port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--dashboard-port", type=click.IntRange(1, 65535), default=8501, show_default=True)
def demo(fresh: bool, no_serve: bool, host: str, api_port: int, dashboard_port: int) -> None:
    """From nothing: sample data, the full pipeline, then the API and the dashboards."""
    landing = paths().landing
    if fresh and landing.exists():
        shutil.rmtree(landing)
    if not (landing / "catalog").is_dir():
        if SAMPLE_DIR.is_dir():
            shutil.copytree(SAMPLE_DIR, landing, dirs_exist_ok=True)
            out.print(f"copied the committed sample data set {SAMPLE_DIR} to {landing}")
        else:
            from synthetic import GenerateSpec
            from synthetic import generate as run_generate

            with err.status("generating sample data…"):
                run_generate(GenerateSpec(users=2000, days=14, seed=7, out=landing))
            out.print(f"generated a sample data set in {landing}")
    _run_pipeline()
    shell = Path(sys.executable).parent / "duckdb"
    query = f"{shell if shell.exists() else 'duckdb'} -readonly {paths().warehouse}"
    if no_serve:
        out.print(f"\nNext: query it read-only with\n  {query}\nor explore the pipeline "
                  f"with `{Path(sys.argv[0]).name} dagster`.")  # fmt: skip
        return
    from cliffhanger.demo import serve_demo

    serve_demo(host, api_port, dashboard_port, query)


@app.command(name="dagster")
@click.option("--port", type=int, default=3000, show_default=True, help="Port of the Dagster UI.")
def dagster_ui(port: int) -> None:
    """Start the Dagster UI (`dagster dev`) with the project's DAGSTER_HOME."""
    ensure_dagster_home()
    beside = Path(sys.executable).parent / "dagster"  # the venv's, even if not on PATH
    exe = str(beside) if beside.exists() else shutil.which("dagster")
    if exe is None:
        raise UserError("the dagster command is not installed in this environment")
    os.execv(exe, [exe, "dev", "-m", "pipelines.definitions", "-p", str(port)])


@app.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port."
)
def dashboard(host: str, port: int) -> None:
    """Start the Streamlit dashboards (read-only on the published warehouse)."""
    script = REPO_ROOT / "dashboards" / "app.py"
    if not script.is_file():
        raise UserError(f"the dashboards are not installed here ({script} is missing)")
    # the venv's own python, so streamlit and the project come from the same environment
    args = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
            "--server.address", host, "--server.port", str(port),
            "--browser.gatherUsageStats", "false"]  # fmt: skip
    err.print(
        f"dashboards on http://{host}:{port} (warehouse: {paths().warehouse})",
        soft_wrap=True,
        markup=False,
    )
    sys.stderr.flush()
    # exec: Ctrl-C and a supervisor's SIGTERM reach Streamlit directly
    os.execv(sys.executable, args)


@app.command()
@click.option(
    "--events",
    type=int,
    default=1_000_000,
    show_default=True,
    help="Approximate number of events to generate.",
)
@click.option(
    "--repeats", type=int, default=3, show_default=True, help="Timed repetitions after a warm-up."
)
def bench(events: int, repeats: int) -> None:
    """Run the benchmarks and write benchmarks/results/latest.{json,md}."""
    from benchmarks.runner import run_benchmarks

    run_benchmarks(events=events, repeats=repeats)


@app.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (each loads the model and keeps its own /metrics).",
)
@click.option(
    "--access-log/--no-access-log", default=True, show_default=True, help="Log every request."
)
def serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """Start the recommendation API (docs/api.md) over the published model bundle."""
    from serving.server import bind_problem, run_server

    problem = bind_problem(host, port)
    if problem:
        raise UserError(problem)
    run_server(host=host, port=port, workers=workers, access_log=access_log)


def main(argv: list[str] | None = None) -> None:
    """Console entry point with one-line errors."""
    try:
        app.main(args=argv, prog_name="cliffhanger", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("cliffhanger: interrupted")
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        err.print(f"cliffhanger: error: {exc.format_message()}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except UserError as exc:
        err.print(f"cliffhanger: error: {exc}", soft_wrap=True, markup=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # known library errors that are user mistakes
        from core.warehouse import WarehouseError
        from ingest.catalog import CatalogError

        if isinstance(exc, CatalogError | WarehouseError | FileNotFoundError | PermissionError):
            err.print(f"cliffhanger: error: {exc}", soft_wrap=True, markup=False)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
