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
# 60 days with a release every day or so: every page, the Launches page included, has data
SAMPLE_DIR = REPO_ROOT / "data_samples" / "launches"
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
    help="Series versions in the catalog (default scales with users); with --launches, the "
    "back catalog older than the release flow.",
)
@click.option("--start", default="2026-09-07", show_default=True, help="First day, YYYY-MM-DD.")
@click.option(
    "--launches",
    is_flag=True,
    help="Launch mode: a steady flow of releases with planted, heavy-tailed appeal "
    "(recorded in manifest.json) and a stationary audience, for long periods (--days 60+).",
)
@click.option(
    "--exits",
    type=click.Choice(["classic", "kuairand"]),
    default="classic",
    show_default=True,
    help="Where views that are not completed end: classic, or kuairand (fitted to the real "
    "KuaiRand-Pure slice; see docs/generator.md).",
)
@click.option(
    "--weak-scene",
    "weak_scenes",
    multiple=True,
    metavar="SERIES:EPISODE:SECOND:SHARE",
    help="Plant a weak scene: SHARE of the views of the episode still playing at SECOND end "
    "within the next 5 s (repeatable; e.g. S00003:5:40:0.3).",
)
@click.option(
    "--feedback",
    type=click.Choice(["off", "ab", "aa"]),
    default="off",
    show_default=True,
    help="Simulate the app showing recommended lists and viewers tapping: the API's served "
    "log (served/) and impression/click events, users split between control and challenger; "
    "ab plants a better challenger (see --feedback-lift), aa serves the same model to both.",
)
@click.option(
    "--feedback-lift",
    type=float,
    default=1.2,
    show_default=True,
    help="With --feedback ab: the challenger's click probability is the control's times this.",
)
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
    launches: bool,
    exits: str,
    weak_scenes: tuple[str, ...],
    feedback: str,
    feedback_lift: float,
) -> None:
    """Write a realistic synthetic micro-drama data set: catalog/ and daily events/ files."""
    from synthetic import GenerateError, GenerateSpec, WeakScene
    from synthetic import generate as run_generate

    scenes = []
    for text in weak_scenes:
        try:
            sid, episode, second, share = text.split(":")
            scenes.append(WeakScene(sid, int(episode), float(second), float(share)))
        except ValueError:
            raise UserError(
                f"--weak-scene must look like SERIES:EPISODE:SECOND:SHARE (got {text!r})", 2
            ) from None

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
        launches=launches,
        exits=exits,
        weak_scenes=tuple(scenes),
        feedback=feedback,
        feedback_lift=feedback_lift,
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

    Runs the pipeline's ingest and metric assets on these paths (a Dagster run, under the
    same blocking checks as `cliffhanger run`), then publishes a snapshot. Prints each file's
    accounting: records in = loaded + quarantined + duplicates.
    """
    from rich.table import Table

    from ingest.catalog import is_catalog_folder
    from ingest.events import event_files

    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}", 2)
    catalogs = [p for p in inputs if is_catalog_folder(p)]
    events = [p for p in inputs if p not in catalogs]
    if not event_files(events) and not catalogs:
        raise UserError("nothing to ingest: the folders hold no files", 2)
    run_config = {
        "ops": {
            "catalog": {"config": {"folders": [str(p) for p in catalogs]}},
            "ingested_events": {"config": {"paths": [str(p) for p in events], "replay": replay}},
        }
    }
    result = _run_pipeline(
        "ingest_only" if no_publish else "ingest_and_publish", run_config, quiet=True
    )
    meta = _materialized(result)
    for loaded in meta.get("catalog", {}).get("loaded", []):
        out.print(
            f"catalog {loaded['folder']}: {loaded['series']} series ({loaded['new_series']} "
            f"new), {loaded['episodes']} episodes"
        )
    files = meta.get("ingested_events", {}).get("files", [])
    if files:
        table = Table("file", "status", "records in", "loaded", "quarantined", "duplicates")
        table.columns[1].no_wrap = True
        for r in files:
            table.add_row(Path(r["file_path"]).name, r["status"], *(
                f"{r[k]:,}" for k in ("records_in", "loaded", "quarantined", "duplicates")))  # fmt: skip
        table.add_row("total", "", *(
            f"{sum(r[k] for r in files):,}"
            for k in ("records_in", "loaded", "quarantined", "duplicates")), style="bold")  # fmt: skip
        out.print(table)
    r = meta.get("ingested_events", {}).get("replay")
    if r:
        out.print(
            f"replay: {r['examined']} quarantined records re-examined, {r['loaded']} loaded, "
            f"{r['duplicates']} duplicates, {r['still_quarantined']} still quarantined"
        )
    snapshot = meta.get("warehouse_snapshot", {}).get("snapshot_version")
    if snapshot:
        where = meta["warehouse_snapshot"].get("path") if paths().lake else paths().warehouse
        out.print(f"published warehouse snapshot {snapshot}: {where}", soft_wrap=True)
    for r in files:
        if r["message"]:
            err.print(f"{Path(r['file_path']).name}: {r['message']}", soft_wrap=True, markup=False)
    refused = [r for r in files if r["status"] == "refused"]
    if refused:
        # each reason was printed above, after its file's name
        names = ", ".join(Path(r["file_path"]).name for r in refused)
        raise UserError(f"{len(refused)} file(s) refused: {names}")


class _RecordProgress:
    """The ingest asset's progress resource, drawn as a rich status line by the CLI."""

    def __init__(self, status: object) -> None:
        self.status = status
        self.n = 0

    def records(self, n: int) -> None:
        self.n += n
        self.status.update(f"running the pipeline… {self.n:,} records read")  # type: ignore[attr-defined]


def _materialized(result: object) -> dict[str, dict[str, object]]:
    """asset key -> its materialization's metadata values, for the run's assets."""
    found: dict[str, dict[str, object]] = {}
    for event in result.get_asset_materialization_events():  # type: ignore[attr-defined]
        mat = event.materialization
        found[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return found


def _run_pipeline(
    job_name: str = "everything", run_config: dict | None = None, quiet: bool = False
) -> object:
    """Execute one of the Dagster jobs in-process, recorded in ``DAGSTER_HOME``.

    A failed step (a bad catalog, a failing blocking check) ends as one line; the published
    snapshot and model stay as they were.
    """
    import dagster as dg

    ensure_dagster_home()
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    config = {**(run_config or {}),
              "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # fmt: skip
    with dg.DagsterInstance.get() as instance, err.status("running the pipeline…") as status:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=config,
            resources={"progress": _RecordProgress(status)},
        )
    if not result.success:
        checks = sorted(e.check_name for e in result.get_asset_check_evaluations() if not e.passed)
        if checks:
            raise UserError(
                f"blocking check(s) failed: {', '.join(checks)}; nothing downstream ran and "
                "the published warehouse and model were kept (`cliffhanger dagster` shows the run)"
            )
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
        for key, meta in _materialized(result).items():
            rows = {k: v for k, v in meta.items() if isinstance(v, int)}
            out.print(f"materialized {key}: {rows}")
        out.print(f"published warehouse: {paths().warehouse}")
    return result


@app.command()
@click.option("--retention-hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="Keep a retired event file this long after the last kept snapshot that "
              "read it (readers may hold a pruned snapshot open).")  # fmt: skip
@click.option("--small-file-mb", type=click.FloatRange(min=0, min_open=True), default=64.0,
              show_default=True, help="Merge the files of a date when one is smaller.")  # fmt: skip
def maintain(retention_hours: float, small_file_mb: float) -> None:
    """Flush inlined events, merge small event files, delete files nobody can read.

    The Dagster job `maintenance` (scheduled nightly as `maintenance_nightly`), run now.
    """
    config = {"retention_hours": retention_hours, "small_file_mb": small_file_mb}
    result = _run_pipeline(
        "maintenance", {"ops": {"warehouse_maintenance": {"config": config}}}, quiet=True
    )
    m = _materialized(result).get("warehouse_maintenance", {})
    if paths().lake is not None:
        out.print(
            f"flushed {m.get('flushed_rows', 0):,} inlined rows; merged "
            f"{m.get('merged_files', 0):,} lake files into {m.get('written_files', 0):,}; "
            f"expired {m.get('expired_snapshots', 0):,} DuckLake snapshots and deleted "
            f"{m.get('expired_files', 0):,} files no kept snapshot reads"
        )
        return
    out.print(
        f"merged {m.get('merged_files', 0):,} event files of {m.get('merged_dates', 0):,} dates "
        f"into {m.get('written_files', 0):,}; expired {m.get('expired_files', 0):,} files "
        f"({m.get('expired_bytes', 0) / 2**20:,.1f} MB); {m.get('listed_files', 0):,} listed, "
        f"{m.get('retired_files', 0):,} retired files kept for readers"
    )


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
    # the venv's own python, so streamlit and the project come from the same environment;
    # dashboards.launch imports the pages' libraries and opens the warehouse first, so the
    # first visit is quick, then runs `streamlit run` in the same process. A minimal toolbar:
    # no Deploy button or developer menu for the content team
    args = [sys.executable, "-m", "dashboards.launch", str(script), "--server.headless", "true",
            "--server.address", host, "--server.port", str(port),
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]  # fmt: skip
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
