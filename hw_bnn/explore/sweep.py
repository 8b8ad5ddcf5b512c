"""Running a sweep: every network point of a spec, the table, and the files of the sweep folder.

Resumability: every network point writes ``<out>/nets/<id>/result.json`` when it is done.
A re-run reuses the result of a point whose status is ``ok`` or ``infeasible`` and whose
settings are unchanged (its key, :func:`hw_bnn.explore.spec.point_key`; finished points are
never redone, unless ``force``); ``failed`` points are run again.  A failure inside a point (an
exception, or a crashed Ray worker) is recorded with its error; the sweep goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hw_bnn.errors import SpecError
from hw_bnn.explore.engines import resolve_engine, run_ray, run_serial
from hw_bnn.explore.plots import plot_pareto
from hw_bnn.explore.point import RESULT_FILE, load_finished, net_dir
from hw_bnn.explore.records import write_json
from hw_bnn.explore.report import report_html, report_md
from hw_bnn.explore.results import COLUMNS, status_counts, sweep_table, write_csv, write_parquet
from hw_bnn.explore.spec import SweepSpec, load_spec
from hw_bnn.files import write_text_atomic


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the table, failures, and where everything is."""

    rows: list[dict]
    failed: int  # hardware points with status "failed"
    failed_nets: list[str]
    ran: list[str]  # network points run now
    reused: list[str]  # finished network points taken from their result.json
    paths: dict[str, Path]
    engine: str
    seconds: float

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)


def run_sweep(
    spec,
    out,
    engine: str = "auto",
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    force: bool = False,
    cost: dict | None = None,
) -> SweepResult:
    """Run a sweep (a spec file path, a dict or a :class:`SweepSpec`) into the folder ``out``.

    ``engine``: ``"ray"`` (Ray: a local embedded instance using every core, or the cluster at
    ``address``), ``"serial"`` (this process) or ``"auto"`` (Ray when importable).  ``workers``
    caps the network points in flight.  Finished points (``ok`` / ``infeasible`` with the same
    settings) are reused unless ``force``; failed points are run again.  Writes
    ``results.csv`` (+ ``results.parquet`` with pyarrow), ``results.json``, ``pareto_lut.png``,
    ``pareto_fps.png``, ``report.md``, ``report.html`` and ``spec.yaml``, each atomically.
    ``cost``: the cost model of the hardware points (:meth:`SweepSpec.points`; default calibrated)."""
    t0 = time.perf_counter()
    s = load_spec(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError(f"explore: workers must be an int >= 1, got {workers!r}")
    used = resolve_engine(engine, address)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "spec.yaml", yaml.safe_dump(s.to_dict(), sort_keys=False))
    points = s.points(cost)
    results: dict[str, dict] = {}
    todo = []
    for p in points:
        done = None if force else load_finished(p, out)
        if done is not None:
            results[p["id"]] = done
        else:
            todo.append(p)
    reused = sorted(results)
    info = _run_points(s, todo, out, results, len(points), used, address, workers, progress)
    rows = sweep_table(results)
    seconds = time.perf_counter() - t0
    failed_nets = sorted(pid for pid, res in results.items() if res["status"] == "failed")
    timings = {
        "sweep_s": round(seconds, 3),
        "engine": used,
        "workers": workers,
        **info,
        "points": {pid: {**results[pid].get("timings", {}), "reused": pid in reused} for pid in sorted(results)},
    }
    paths = write_outputs(s, out, rows, timings, failed_nets)
    return SweepResult(
        rows,
        sum(r["status"] == "failed" for r in rows),
        failed_nets,
        sorted(p["id"] for p in todo),
        reused,
        paths,
        used,
        seconds,
    )


def _run_points(
    s: SweepSpec,
    todo: list[dict],
    out: Path,
    results: dict,
    total: int,
    engine: str,
    address: str | None,
    workers: int | None,
    progress: bool,
) -> dict:
    """Run the points of ``todo`` on ``engine`` into ``results`` (each result also stored in its
    point's folder), with a progress bar over all ``total`` points; returns the engine's info."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=len(results), desc=f"explore {s.name}", unit="net", disable=not progress)

    def on_done(p: dict, res: dict) -> None:
        write_json(net_dir(out, p["id"]) / RESULT_FILE, res)
        results[p["id"]] = res
        if res["status"] == "failed" and progress:
            bar.write(f"[explore] {p['id']}: failed: {res['error']}")
        bar.set_postfix_str(f"{p['id']}: {res['status']}", refresh=False)
        bar.update(1)

    info: dict = {}
    try:
        if todo:
            if engine == "ray":
                info = run_ray(todo, out, on_done, address, workers, s.threads_per_point)
            else:
                run_serial(todo, out, on_done)
    finally:
        bar.close()
    return info


def write_outputs(s: SweepSpec, out: Path, rows: list[dict], timings: dict, failed_nets: list[str]) -> dict[str, Path]:
    """The files of a sweep folder from its table; returns their paths by kind."""
    paths = {"csv": out / "results.csv"}
    write_csv(paths["csv"], rows)
    if write_parquet(out / "results.parquet", rows):
        paths["parquet"] = out / "results.parquet"
    counts = status_counts(rows)
    paths["json"] = out / "results.json"
    write_json(
        paths["json"],
        {
            "spec": s.to_dict(),
            "source": s.source,
            "columns": list(COLUMNS),
            "counts": counts,
            "failed_nets": failed_nets,
            "rows": rows,
            "timings": timings,
        },
    )
    paths["pareto_lut"] = out / "pareto_lut.png"
    plot_pareto(rows, "lut", paths["pareto_lut"], "estimated LUTs", False, s.name)
    paths["pareto_fps"] = out / "pareto_fps.png"
    plot_pareto(rows, "fps", paths["pareto_fps"], "frames per second (estimate)", True, s.name)
    paths["report_md"] = out / "report.md"
    write_text_atomic(paths["report_md"], report_md(s, out, rows, counts))
    paths["report_html"] = out / "report.html"
    write_text_atomic(paths["report_html"], report_html(s, out, rows, counts, paths))
    return paths
