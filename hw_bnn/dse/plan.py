"""One folding goal, solved by the exact search and by the greedy baseline, side by side.

A goal is a cycle target ``T`` (the fewest-LUT folding with ``max_i c_i <= T``,
:func:`hw_bnn.dse.folding.fold_for_target`) or a LUT budget ``B`` (the fastest folding with
``sum_i LUT_i <= B``, :func:`hw_bnn.dse.folding.fold_for_budget`).  For a cycle target the
FINN ``SetFolding``-style baseline (:func:`hw_bnn.dse.folding.greedy_setfolding`) is costed under
the same model, so the gap ``greedy LUT / our LUT - 1`` is measured, not claimed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw_bnn.dse.cost import DEFAULT_PARAMS, CostParams, NetworkCost, network_cost
from hw_bnn.dse.devices import Device, FitReport, fit
from hw_bnn.dse.folding import fold_for_budget, fold_for_target, greedy_setfolding
from hw_bnn.dse.units import MVU


@dataclass(frozen=True)
class FoldPlan:
    """Our folding's cost, the greedy baseline's (only for a cycle target: SetFolding has no
    budget mode), the target, and the fit on the device asked for (``None`` without one)."""

    ours: NetworkCost
    greedy: NetworkCost | None
    target_cycles: int | None
    fit: FitReport | None

    def comparison_table(self) -> str:
        """Per unit: our PE / SIMD / cycles / LUT beside the greedy baseline's, then the totals."""
        ours, greedy = self.ours, self.greedy
        hdr = (
            f"{'layer':10s} {'MH':>5s} {'MW':>5s} | {'PE':>4s} {'SIMD':>5s} {'cycles':>9s} {'LUT':>8s} | "
            f"greedy: {'PE':>4s} {'SIMD':>5s} {'cycles':>9s} {'LUT':>8s}"
        )
        out = [hdr, "-" * len(hdr)]
        for a, b in zip(ours.layers, greedy.layers):
            out.append(
                f"{a.name:10s} {a.mh:5d} {a.mw:5d} | {a.pe:4d} {a.simd:5d} {a.cycles:9d} {a.lut:8d} |         "
                f"{b.pe:4d} {b.simd:5d} {b.cycles:9d} {b.lut:8d}"
            )
        out.append("-" * len(hdr))
        out.append(
            f"{'total':10s} {'':5s} {'':5s} | {'':4s} {'':5s} {ours.max_cycles:9d} {ours.lut:8d} |         "
            f"{'':4s} {'':5s} {greedy.max_cycles:9d} {greedy.lut:8d}"
        )
        gap = 100.0 * (greedy.lut - ours.lut) / ours.lut if ours.lut else 0.0
        out.append(
            f"greedy SetFolding-style baseline needs {gap:+.1f} % LUTs ({greedy.bram18} BRAM18 against {ours.bram18})"
        )
        return "\n".join(out)


def plan_folding(
    layers: list[MVU],
    *,
    target_cycles: int | None = None,
    max_luts: int | None = None,
    device: str | Device | None = None,
    clock_mhz: float = 100.0,
    limit: float = 1.0,
    params: CostParams = DEFAULT_PARAMS,
    max_parallel: int | None = None,
) -> FoldPlan:
    """Solve one goal: ``target_cycles`` (with the greedy baseline) or else ``max_luts``; the
    search respects ``device`` within ``limit`` of each resource when one is given.  ``params``:
    the cost model (FINN-R's by default, calibrated or measured: :class:`CostParams`) of the
    search and of both costs; ``max_parallel`` bounds PE and SIMD (the greedy walk's too)."""
    kw = {"limit": limit, "params": params, "max_parallel": max_parallel}
    if target_cycles is not None:
        ours = fold_for_target(layers, target_cycles, device, **kw)
        greedy = network_cost(layers, greedy_setfolding(layers, target_cycles, max_parallel), clock_mhz, params)
    else:
        ours, greedy = fold_for_budget(layers, max_luts, device, **kw), None
    cost = network_cost(layers, ours, clock_mhz, params)
    return FoldPlan(cost, greedy, target_cycles, fit(cost, device, limit) if device else None)
