"""Where the network points of a sweep run: serially in this process, or as Ray tasks.

Ray runs one task per network point (``num_cpus = threads_per_point``, no retries) on a local
embedded instance, or on the cluster at ``address``.  Both engines run the same function,
:func:`hw_bnn.explore.point.run_net_point`, with torch on a fixed number of threads, so the
table is identical under both.  A Ray task that dies (a crashed worker, a lost node) becomes a
failed result of its point; the sweep goes on.
"""

from __future__ import annotations

from pathlib import Path

from hw_bnn.errors import SpecError
from hw_bnn.explore import point as net_point  # run_net_point looked up at run time (tests replace it)

ENGINES = ("auto", "ray", "serial")


def resolve_engine(engine: str, address: str | None) -> str:
    """``"ray"`` or ``"serial"`` for an engine setting: ``auto`` is Ray when it is importable."""
    if engine not in ENGINES:
        raise SpecError(f"explore: engine {engine!r} is not auto, ray or serial")
    if engine == "serial":
        if address:
            raise SpecError("explore: --address connects to a Ray cluster; it needs --engine ray (or auto)")
        return "serial"
    try:
        import ray  # noqa: F401
    except ImportError:
        if engine == "ray" or address:
            raise SpecError(
                "explore: Ray is not installed (pip install 'ray>=2.9', or the project's ray extra); "
                "use --engine serial to run the sweep in this process"
            ) from None
        return "serial"
    return "ray"


def run_serial(todo: list[dict], out: Path, on_done) -> None:
    """Run each point here, in order; ``on_done(point, result)`` after each."""
    for p in todo:
        on_done(p, net_point.run_net_point(p, str(out)))


def run_ray(todo: list[dict], out: Path, on_done, address: str | None, workers: int | None, threads: int) -> dict:
    """Run the points as Ray tasks, at most ``workers`` at once; ``on_done(point, result)`` as each
    finishes.  Starts (and then shuts down) a Ray instance unless one is running.  Returns
    ``{"ray_cpus": CPUs of the cluster}``."""
    import logging

    import ray

    info = {}
    started = False
    if not ray.is_initialized():
        kw = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        if address:
            kw["address"] = address
        ray.init(**kw)
        started = True
    try:
        info["ray_cpus"] = ray.cluster_resources().get("CPU")
        task = ray.remote(num_cpus=threads, max_retries=0)(net_point.run_net_point)
        queue = list(todo)
        pending: dict = {}
        cap = workers or len(queue)
        while queue or pending:
            while queue and len(pending) < cap:
                p = queue.pop(0)
                pending[task.remote(p, str(out))] = p
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                p = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a crashed worker, a lost node, ...
                    res = net_point.failed_result(p, out, net_point.error_text(e))
                on_done(p, res)
    finally:
        if started:
            ray.shutdown()
    return info
