"""Recommendation quality through the product's own pipeline, as a user would run it.

``python -m benchmarks.pipeline_quality [--datasets kuairand gen1500 gen31k]``

For each data set, in a fresh temporary ``CLIFFHANGER_HOME``: ``cliffhanger ingest CATALOG
EVENTS`` then ``cliffhanger run`` (every asset, ``test_days = auto``, the ranker on, the
paired gate), each in its own process (wall time and peak RSS recorded); then every model's
rows are read from ``analytics.model_evaluation`` in the published warehouse.

Data sets:

- ``kuairand``: the KuaiRand-Pure slice in ``data_samples/kuairand-pure`` (6 days, 16 k users,
  4 k videos, each a one-episode series) converted by ``python -m models.kuairand convert``;
  the windows adapt (test = the last day; truth = videos first played in it);
- ``gen1500``: ``cliffhanger generate --users 1500`` (a small app, 14 days);
- ``gen31k``: ``cliffhanger generate --users 31333 --series 1253 --seed 1`` (the benchmark set
  of ``python -m benchmarks``, about 9.3 M events).

Target checks (issue #14): KuaiRand — served NDCG@10 ≥ 1.10× the tuned trending list with the
paired CI of its difference above 0; generated sets — the served model beats the best baseline
with a paired CI above 0; 31 k set — EASE or the ranker ≥ 1.5× popularity.

Writes ``benchmarks/results/pipeline_quality.json`` and ``.md`` (a run of some data sets
keeps the other data sets' earlier results).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
BASELINES = ("popularity", "trending")

DATASETS = {
    "kuairand": {
        "title": "KuaiRand-Pure slice (6 days, real log)",
        "make": [sys.executable, "-m", "models.kuairand", "convert", "{out}"],
    },
    "gen1500": {
        "title": "generated, 1,500 users, 14 days",
        "make": [
            sys.executable,
            "-m",
            "cliffhanger.cli",
            "generate",
            "--users",
            "1500",
            "--format",
            "parquet",
            "--out",
            "{out}",
        ],  # fmt: skip
    },
    "gen31k": {
        "title": "generated, 31,333 users, 14 days (the benchmark set)",
        "make": [
            sys.executable,
            "-m",
            "cliffhanger.cli",
            "generate",
            "--users",
            "31333",
            "--series",
            "1253",
            "--seed",
            "1",
            "--format",
            "parquet",
            "--out",
            "{out}",
        ],  # fmt: skip
    },
}


def run_child(cmd: list[str], env: dict, log: Path) -> dict:
    """Run ``cmd``; its wall time, peak RSS (MB, from wait4) and exit code."""
    started = time.perf_counter()
    with open(log, "ab") as fh:
        fh.write(f"$ {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def input_data(name: str, log: Path) -> Path:
    """The data set's catalog/ and events/ folder under benchmarks/data (made once)."""
    out = DATA / f"pq_{name}"
    if not (out / "catalog").is_dir() or not (out / "events").is_dir():
        cmd = [part.format(out=out) for part in DATASETS[name]["make"]]
        run_child(cmd, dict(os.environ, PYTHONPATH=str(ROOT)), log)
    return out


def evaluation(warehouse: Path) -> dict:
    """Every model's row of ``analytics.model_evaluation`` (NDCG@10 and friends)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        frame = con.sql("SELECT * FROM analytics.model_evaluation ORDER BY model, metric").pl()
    finally:
        con.close()
    models: dict[str, dict] = {}
    for r in frame.iter_rows(named=True):
        m = models.setdefault(r["model"], {
            "model": r["model"], "served": bool(r["is_served"]),
            "baseline": bool(r["is_baseline"]), "validation_ndcg": r["validation_ndcg"],
            "params": json.loads(r["params"]) if r["params"] else {}, "n_users": r["n_users"],
            "paired_baseline": r["paired_baseline"], "ndcg_diff": r["ndcg_diff"],
            "ndcg_diff_ci": [r["ndcg_diff_ci_low"], r["ndcg_diff_ci_high"]],
            "test_start": str(r["test_start"]), "test_end": str(r["test_end"]),
            "validation_start": str(r["validation_start"]), "test_days": r["test_days"],
        })  # fmt: skip
        m[r["metric"]] = [r["value"], r["ci_low"], r["ci_high"]]
    return dict(sorted(models.items(), key=lambda kv: -kv[1]["ndcg"][0]))


def checks(name: str, models: dict) -> list[dict]:
    """The issue's target checks on one data set's rows."""
    served = next(m for m in models.values() if m["served"])
    out = []
    low = served["ndcg_diff_ci"][0]
    paired_ok = not served["baseline"] and low is not None and low > 0
    if name == "kuairand":
        trending = models["trending"]["ndcg"][0]
        ratio = served["ndcg"][0] / trending
        out.append({
            "target": "served NDCG@10 ≥ 1.10× tuned trending, paired CI of the difference > 0",
            "value": f"{served['model']}: {ratio:.2f}× trending; paired diff vs "
                     f"{served['paired_baseline']} {_diff(served)}",
            "ratio": round(ratio, 3), "met": ratio >= 1.10 and paired_ok,
        })  # fmt: skip
    else:
        best = max(BASELINES, key=lambda b: models[b]["ndcg"][0])
        ratio = served["ndcg"][0] / models[best]["ndcg"][0]
        out.append({
            "target": "served beats the best baseline, paired CI of the difference > 0",
            "value": f"{served['model']}: {ratio:.2f}× {best}; paired diff vs "
                     f"{served['paired_baseline']} {_diff(served)}",
            "ratio": round(ratio, 3), "met": paired_ok,
        })  # fmt: skip
    if name == "gen31k":
        pop = models["popularity"]["ndcg"][0]
        for model in ("ease", "ranker"):
            if model in models:
                ratio = models[model]["ndcg"][0] / pop
                out.append({"target": f"{model} NDCG@10 ≥ 1.5× popularity",
                            "value": f"{ratio:.2f}×", "ratio": round(ratio, 3),
                            "met": ratio >= 1.5})  # fmt: skip
    return out


def _diff(m: dict) -> str:
    if m["ndcg_diff"] is None:
        return "—"
    lo, hi = m["ndcg_diff_ci"]
    return f"{m['ndcg_diff']:+.4f} ({lo:+.4f}..{hi:+.4f})"


def run_dataset(name: str, keep: bool) -> dict:
    DATA.mkdir(parents=True, exist_ok=True)
    log = DATA / f"pipeline_quality-{name}.log"
    log.write_text("")
    source = input_data(name, log)
    home = Path(tempfile.mkdtemp(prefix=f"pq-{name}-", dir=DATA))
    env = dict(os.environ, CLIFFHANGER_HOME=str(home), PYTHONPATH=str(ROOT))
    for var in [v for v in env if v.startswith("CLIFFHANGER_") and v != "CLIFFHANGER_HOME"]:
        env.pop(var)  # the defaults, as a new user has them (test_days = auto)
    cli = [sys.executable, "-m", "cliffhanger.cli"]
    print(f"{name}: ingest…", file=sys.stderr)
    ingest = run_child([*cli, "ingest", str(source / "catalog"), str(source / "events")], env, log)
    print(f"{name}: run… (ingest {ingest['seconds']} s)", file=sys.stderr)
    run = run_child([*cli, "run"], env, log)
    print(f"{name}: run {run['seconds']} s", file=sys.stderr)
    models = evaluation(home / "warehouse" / "cliffhanger.duckdb")
    manifest = json.loads((home / "models_published" / "current" / "manifest.json").read_text())
    result = {
        "dataset": name, "title": DATASETS[name]["title"],
        "events": _events(source), "ingest": ingest, "run": run,
        "served": next(m for m in models.values() if m["served"])["model"],
        "fallback_reason": manifest.get("fallback_reason"), "models": models,
        "checks": checks(name, models), "home": str(home) if keep else None,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    if not keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return result


def _events(source: Path) -> int | None:
    manifest = source / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())["counts"]["events"]
    import polars as pl

    return pl.scan_parquet(source / "events" / "*.parquet").select(pl.len()).collect().item()


def render(results: dict) -> str:
    from benchmarks.runner import machine

    m = machine()
    lines = [
        "# pipeline_quality — the recommender through `cliffhanger ingest` + `cliffhanger run`",
        "",
        f"Written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {m['cores']} cores, "
        f"{m['memory_gb']} GB (shared machine). `python -m benchmarks.pipeline_quality`: each "
        "data set ingested and run by the CLI in a fresh `CLIFFHANGER_HOME` with the defaults "
        "(`test_days = auto`, the ranker on); rows from `analytics.model_evaluation`. NDCG@10 "
        "with 95 % bootstrap CIs over the test period's users; `paired diff` = the model's "
        "per-user NDCG@10 minus the best baseline's (chosen on validation), mean and paired "
        "bootstrap 95 % CI; the gate serves a candidate only when that CI lies above 0.",
        "",
        "## Targets",
        "",
        "| data set | target | measured | met |",
        "|---|---|---|---|",
    ]
    for r in results.values():
        for c in r["checks"]:
            lines.append(f"| {r['dataset']} | {c['target']} | {c['value']} | "
                         f"{'**yes**' if c['met'] else '**no**'} |")  # fmt: skip
    for r in results.values():
        any_m = next(iter(r["models"].values()))
        lines += [
            "",
            f"## {r['dataset']}: {r['title']}",
            "",
            f"{r['events']:,} events; {_step('ingest', r['ingest'])}, {_step('run', r['run'])}"
            f". Validation from {any_m['validation_start']}, "
            f"test {any_m['test_start']} → {any_m['test_end']} ({any_m['test_days']} days, "
            f"auto), {any_m['n_users']:,} scored test users. Served: **{r['served']}**"
            + (f" (fallback: {r['fallback_reason']})" if r["fallback_reason"] else "")
            + ".",
            "",
            "| model | NDCG@10 (95 % CI) | validation NDCG@10 | paired diff vs best baseline "
            "(95 % CI) | recall@10 | hit rate@10 | coverage | served |",
            "|---|---|---:|---|---:|---:|---:|---|",
        ]
        for name, mm in r["models"].items():
            n = mm["ndcg"]
            val = "—" if mm["validation_ndcg"] is None else f"{mm['validation_ndcg']:.4f}"
            vs = "" if mm["ndcg_diff"] is None else f" vs {mm['paired_baseline']}"
            label = name + (f" ({_params(mm['params'])})" if mm["baseline"] else "")
            lines.append(
                f"| {label} | {n[0]:.4f} ({n[1]:.4f}–{n[2]:.4f}) | {val} | {_diff(mm)}{vs} | "
                f"{mm['recall'][0]:.4f} | {mm['hit_rate'][0]:.4f} | {mm['coverage'][0]:.3f} | "
                f"{'**yes**' if mm['served'] else ''} |"
            )
    return "\n".join(lines) + "\n"


def _step(name: str, step: dict) -> str:
    if step.get("seconds") is None:
        return f"{name} not timed"
    return f"{name} {step['seconds']} s (peak RSS {step['peak_rss_mb']:,} MB)"


def _params(params: dict) -> str:
    if "half_life_days" in params:
        h = float(params["half_life_days"])
        return f"half-life {h * 24:g} h" if h < 1 else f"half-life {h:g} d"
    if "window_days" in params:
        w = params["window_days"]
        return "all history" if w is None else f"last {w:g} d"
    return ", ".join(f"{k} {v}" for k, v in params.items())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_quality",
                                 description=__doc__.split("\n\n")[0])  # fmt: skip
    ap.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    ap.add_argument("--keep", action="store_true", help="keep each run's CLIFFHANGER_HOME")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    path = args.out / "pipeline_quality.json"
    for name in args.datasets:
        result = run_dataset(name, args.keep)
        # read just before writing: several data sets may run at once, in separate processes
        results = {r["dataset"]: r for r in json.loads(path.read_text())} if path.exists() else {}
        results[name] = result
        ordered = {k: results[k] for k in DATASETS if k in results}
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(ordered.values()), indent=2, default=str) + "\n")
        (args.out / "pipeline_quality.md").write_text(render(ordered))
    print((args.out / "pipeline_quality.md").read_text())


if __name__ == "__main__":
    main()
