"""Choosing PE / SIMD for every matrix unit: exact searches under the FINN-R cost model.

The model (:mod:`hw_bnn.dse.units`, :mod:`hw_bnn.dse.cost`): unit ``i`` folded to ``(PE_i, SIMD_i)`` takes
``c_i = (MH_i / PE_i) * (MW_i / SIMD_i) * pixels_i`` cycles per frame and ``LUT_i``, ``BRAM_i``,
``DSP_i``; the pipeline's initiation interval is ``max_i c_i`` and its resources are sums.

**Fewest LUTs for a target** (:func:`fold_for_target`).  ``max_i c_i <= T`` holds exactly when
every ``c_i <= T``, and the total LUT count is a sum, so without other constraints the problem
splits per unit: each unit takes its cheapest legal ``(PE, SIMD)`` with ``c_i <= T``.  Enumerating
each unit's (PE, SIMD) pairs gives the exact optimum.  With a device, the block RAM (and DSP) sums
must also fit; if the per-unit optimum already fits it is optimal, otherwise an exact dynamic
program over the units keeps, for each reachable ``(BRAM, DSP)`` total within the device, the least
LUT total (a multiple-choice knapsack; dominated states are dropped), and the best final state wins.

**Fastest under a LUT budget** (:func:`fold_for_budget`).  The best initiation interval is one of
the achievable per-unit cycle counts.  The least LUT total for ``max_i c_i <= T`` does not increase
with ``T``, so a binary search over the sorted achievable values, each step solved exactly as above,
finds the smallest feasible ``T`` exactly.

**Baseline** (:func:`greedy_setfolding`): per unit, in the style of FINN's ``SetFolding``
transformation, raise SIMD through the divisors of ``MW`` until the target is met, then PE through
the divisors of ``MH``.

``max_parallel`` (every search) restricts PE and SIMD to divisors no larger than it: a smaller
design space (the benchmark uses it to grow the number of candidate foldings).  A convolution's
SIMD is one a window beat takes whole (:meth:`hw_bnn.dse.units.MVU.simd_options`: it divides the
input channels ``C``, or ``C`` divides it), as FINN's sliding-window generator requires.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from hw_bnn.dse.cost import DEFAULT_PARAMS, CostParams, layer_cost
from hw_bnn.dse.devices import Device, capacity
from hw_bnn.dse.units import MVU, unit_cycles
from hw_bnn.errors import FoldingError, InfeasibleTargetError
from hw_bnn.ir.ranges import divisors

__all__ = [
    "Candidate",
    "layer_candidates",
    "count_foldings",
    "target_cycles_from_fps",
    "fold_for_target",
    "fold_for_budget",
    "greedy_setfolding",
    "tradeoff_curve",
]


@dataclass(frozen=True)
class Candidate:
    """One legal folding of one unit and what it costs."""

    pe: int
    simd: int
    cycles: int
    lut: int
    bram18: int
    dsp: int

    @property
    def key(self) -> tuple[int, int, int, int]:
        """Preference among equal-cycle-budget choices: LUT, then BRAM, DSP, then fewer cycles."""
        return self.lut, self.bram18, self.dsp, self.cycles


def _allowed(n: int | list[int], max_parallel: int | None) -> list[int]:
    """The divisors of ``n`` (or the options ``n``) up to ``max_parallel``."""
    options = divisors(n) if isinstance(n, int) else n
    return [d for d in options if max_parallel is None or d <= max_parallel]


def layer_candidates(u: MVU, params: CostParams = DEFAULT_PARAMS, max_parallel: int | None = None) -> list[Candidate]:
    """Every ``(PE, SIMD)`` the folders choose for unit ``u`` (``PE | MH``, ``SIMD`` one of
    :meth:`MVU.simd_options`, both <= ``max_parallel``)."""
    out = []
    for pe in _allowed(u.mh, max_parallel):
        for simd in _allowed(u.simd_options(), max_parallel):
            c = layer_cost(u, pe, simd, params)
            out.append(Candidate(pe, simd, c.cycles, c.lut, c.bram18, c.dsp))
    return out


def count_foldings(layers: list[MVU], max_parallel: int | None = None) -> int:
    """Size of the design space: the product over units of their number of legal (PE, SIMD) pairs."""
    return math.prod(len(_allowed(u.mh, max_parallel)) * len(_allowed(u.simd_options(), max_parallel)) for u in layers)


def target_cycles_from_fps(fps: float, clock_mhz: float) -> int:
    """Cycles per frame for a frame rate at a clock: ``floor(clock_hz / fps)``."""
    if fps <= 0 or clock_mhz <= 0:
        raise FoldingError(f"target: fps ({fps}) and clock ({clock_mhz} MHz) must be positive")
    t = math.floor(clock_mhz * 1e6 / fps)
    if t < 1:
        raise InfeasibleTargetError(f"target: {fps:g} FPS at {clock_mhz:g} MHz leaves less than one cycle per frame")
    return t


# --------------------------------------------------------------------------------------
# exact per-target solver


class _Space:
    """Every unit's candidates, sorted by cycles, with prefix minima for O(log n) look-ups."""

    def __init__(self, layers: list[MVU], params: CostParams, max_parallel: int | None):
        if not layers:
            raise FoldingError("folding: the network has no matrix units")
        names = [u.name for u in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise FoldingError(f"folding: layer names must be unique, repeated: {', '.join(dup)}")
        self.layers = layers
        self.cands = [
            sorted(layer_candidates(u, params, max_parallel), key=lambda c: (c.cycles, c.key)) for u in layers
        ]
        self.cycles = [[c.cycles for c in cs] for cs in self.cands]
        self.best_upto = []  # best_upto[i][j]: the cheapest of cands[i][: j + 1]
        for cs in self.cands:
            best, acc = None, []
            for c in cs:
                if best is None or c.key < best.key:
                    best = c
                acc.append(best)
            self.best_upto.append(acc)

    def min_cycles(self) -> list[int]:
        return [cs[0] for cs in self.cycles]

    def achievable(self) -> list[int]:
        """Sorted achievable per-unit cycle counts at or above the least feasible interval."""
        lower = max(self.min_cycles())
        return sorted({c for cs in self.cycles for c in cs if c >= lower})

    def check_target(self, target: int) -> None:
        mins = self.min_cycles()
        worst = max(range(len(mins)), key=mins.__getitem__)
        if mins[worst] > target:
            u = self.layers[worst]
            raise InfeasibleTargetError(
                f"target {target} cycles per frame is infeasible: layer {u.name!r} "
                f"(MH={u.mh}, MW={u.mw}, pixels={u.pixels}) "
                f"needs at least {mins[worst]} cycles even at its largest allowed PE and SIMD"
            )

    def cheapest(self, target: int) -> list[Candidate]:
        """Per unit the cheapest candidate with ``cycles <= target`` (target assumed feasible)."""
        return [best[bisect.bisect_right(cyc, target) - 1] for cyc, best in zip(self.cycles, self.best_upto)]

    def within(self, i: int, target: int) -> list[Candidate]:
        return self.cands[i][: bisect.bisect_right(self.cycles[i], target)]


def _pareto(cands: list[Candidate]) -> list[Candidate]:
    """Candidates not dominated in (LUT, BRAM18, DSP); among equals the first by ``key``."""
    keep: list[Candidate] = []
    for c in sorted(cands, key=lambda c: c.key):
        if not any(k.lut <= c.lut and k.bram18 <= c.bram18 and k.dsp <= c.dsp for k in keep):
            keep.append(c)
    return keep


def _prune(states: dict) -> dict:
    """Drop states (bram, dsp) -> (lut, ...) dominated by one with no more BRAM, DSP and LUT."""
    best_by_dsp: dict[int, int] = {}  # over the states seen so far (bram ascending): least LUT per DSP total
    out = {}
    for (bram, dsp), val in sorted(states.items()):
        lut = val[0]
        if any(d <= dsp and lut_d <= lut for d, lut_d in best_by_dsp.items()):
            continue
        out[(bram, dsp)] = val
        best_by_dsp[dsp] = min(lut, best_by_dsp.get(dsp, lut))
    return out


def _fits(choice: list[Candidate], cap: dict[str, int]) -> bool:
    return (
        sum(c.lut for c in choice) <= cap["LUT"]
        and sum(c.bram18 for c in choice) <= cap["BRAM18"]
        and sum(c.dsp for c in choice) <= cap["DSP"]
    )


def _solve(space: _Space, target: int, cap: dict[str, int] | None) -> list[Candidate] | None:
    """Least-LUT choice with every unit at ``<= target`` cycles and (with ``cap``) the sums within
    the device; ``None`` when nothing fits.  Exact (see the module docstring)."""
    choice = space.cheapest(target)
    if cap is None or _fits(choice, cap):
        return choice
    if sum(c.lut for c in choice) > cap["LUT"]:
        return None  # the cheapest choice has the least LUT total of all: nothing fits
    # multiple-choice knapsack over (BRAM, DSP): least LUT per reachable state, layer by layer
    states: dict = {(0, 0): (0, None, None)}  # (bram, dsp) -> (lut, previous state, candidate)
    history = []
    for i in range(len(space.layers)):
        options = _pareto([c for c in space.within(i, target) if c.bram18 <= cap["BRAM18"] and c.dsp <= cap["DSP"]])
        nxt: dict = {}
        for (bram, dsp), (lut, _, _) in states.items():
            for c in options:
                key = (bram + c.bram18, dsp + c.dsp)
                total = lut + c.lut
                if key[0] > cap["BRAM18"] or key[1] > cap["DSP"] or total > cap["LUT"]:
                    continue
                if key not in nxt or total < nxt[key][0]:
                    nxt[key] = (total, (bram, dsp), c)
        states = _prune(nxt)
        history.append(states)
        if not states:
            return None
    key = min(states, key=lambda k: (states[k][0], k))
    out = []
    for states_i in reversed(history):
        _, prev, c = states_i[key]
        out.append(c)
        key = prev
    return out[::-1]


def _as_folding(layers: list[MVU], choice: list[Candidate]) -> dict[str, dict[str, int]]:
    return {u.name: {"PE": c.pe, "SIMD": c.simd} for u, c in zip(layers, choice)}


def _cap(device: str | Device | None, limit: float) -> dict[str, int] | None:
    return None if device is None else capacity(device, limit)


def fold_for_target(
    layers: list[MVU],
    target_cycles: int,
    device: str | Device | None = None,
    *,
    limit: float = 1.0,
    params: CostParams = DEFAULT_PARAMS,
    max_parallel: int | None = None,
) -> dict[str, dict[str, int]]:
    """The folding with the fewest estimated LUTs whose slowest unit takes ``<= target_cycles``
    cycles per frame (and that fits ``device`` within ``limit`` of each resource, if given).

    Exact.  Raises :class:`InfeasibleTargetError` naming the bottleneck unit when even its full
    parallelism is too slow, and :class:`FoldingError` when no folding meeting the target fits."""
    if int(target_cycles) < 1:
        raise InfeasibleTargetError(f"target must be at least 1 cycle per frame, got {target_cycles}")
    space = _Space(layers, params, max_parallel)
    space.check_target(int(target_cycles))
    cap = _cap(device, limit)
    choice = _solve(space, int(target_cycles), cap)
    if choice is None:
        least = space.cheapest(int(target_cycles))
        name = getattr(device, "name", device)
        raise FoldingError(
            f"no folding with <= {target_cycles} cycles per frame fits {name} at {limit:.0%}: the cheapest needs "
            f"{sum(c.lut for c in least):,} LUT / {sum(c.bram18 for c in least):,} BRAM18 / "
            f"{sum(c.dsp for c in least):,} DSP, "
            f"the device gives {cap['LUT']:,} / {cap['BRAM18']:,} / {cap['DSP']:,}"
        )
    return _as_folding(layers, choice)


def fold_for_budget(
    layers: list[MVU],
    max_luts: int,
    device: str | Device | None = None,
    *,
    limit: float = 1.0,
    params: CostParams = DEFAULT_PARAMS,
    max_parallel: int | None = None,
) -> dict[str, dict[str, int]]:
    """The fastest folding (least initiation interval) whose estimated LUT total is ``<= max_luts``
    (and that fits ``device``, if given); among the fastest, the one with the fewest LUTs.

    Exact: binary search over the sorted achievable per-unit cycle counts; each step solves the
    target problem exactly.  Raises :class:`FoldingError` when even the cheapest folding is over."""
    space = _Space(layers, params, max_parallel)
    cap = _cap(device, limit)
    cap = dict(cap or {"BRAM18": math.inf, "DSP": math.inf, "LUT": math.inf})
    cap["LUT"] = min(cap["LUT"], int(max_luts))

    def solve(t: int) -> list[Candidate] | None:
        return _solve(space, t, cap)

    values = space.achievable()
    best = solve(values[-1])
    if best is None:
        least = space.cheapest(values[-1])
        raise FoldingError(
            f"no folding fits a budget of {max_luts:,} LUT"
            + (f" on {getattr(device, 'name', device)}" if device is not None else "")
            + f": the cheapest folding needs {sum(c.lut for c in least):,} LUT and "
            f"{sum(c.bram18 for c in least):,} BRAM18"
        )
    lo, hi = 0, len(values) - 1  # values[hi] feasible; find the first feasible index
    while lo < hi:
        mid = (lo + hi) // 2
        got = solve(values[mid])
        if got is None:
            lo = mid + 1
        else:
            hi, best = mid, got
    return _as_folding(layers, best)


def tradeoff_curve(
    layers: list[MVU], params: CostParams = DEFAULT_PARAMS, max_parallel: int | None = None
) -> list[tuple[int, int, dict[str, dict[str, int]]]]:
    """The Pareto front of (cycles per frame, least LUT total), without device constraints:
    ``(interval, lut, folding)`` for every achievable interval where the LUT count drops."""
    space = _Space(layers, params, max_parallel)
    out = []
    for t in space.achievable():
        choice = space.cheapest(t)
        lut = sum(c.lut for c in choice)
        if not out or lut < out[-1][1]:
            out.append((max(c.cycles for c in choice), lut, _as_folding(layers, choice)))
    return out


# --------------------------------------------------------------------------------------
# baseline


def greedy_setfolding(
    layers: list[MVU], target_cycles: int, max_parallel: int | None = None
) -> dict[str, dict[str, int]]:
    """FINN ``SetFolding``-style baseline: per unit, SIMD up through its options (the divisors of
    ``MW``; for a convolution those that divide the input channels or that they divide) until
    ``cycles <= target``, then PE up through the divisors of ``MH``.  A unit that cannot reach the
    target ends at its largest allowed PE and SIMD (as FINN does; the caller sees the cycles)."""
    folding = {}
    for u in layers:
        pe, simd = 1, 1
        for simd in _allowed(u.simd_options(), max_parallel):
            if unit_cycles(u, pe, simd) <= target_cycles:
                break
        if unit_cycles(u, pe, simd) > target_cycles:
            for pe in _allowed(u.mh, max_parallel):
                if unit_cycles(u, pe, simd) <= target_cycles:
                    break
        folding[u.name] = {"PE": pe, "SIMD": simd}
    return folding
