"""Which cost model ``hw-bnn fold`` and ``hw-bnn explore`` use: ``--cost finn|calibrated|measured``.

* ``finn``: FINN-R's LUT formula (:mod:`hw_bnn.dse.cost`, LUT6 counts).
* ``calibrated`` (the default): the calibrated LUT and FF sums of :mod:`hw_bnn.dse.calibration`
  for the device's family (``xc7`` for the Xilinx parts, ``ecp5`` for the ECP5 ones; ``xc7``
  without a device).
* ``measured``: every candidate ``(PE, SIMD)`` of every unit is synthesized with Yosys
  (:func:`hw_bnn.synth.units.synthesize_unit`, for the family's synthesis target, cached), and its
  LUT (``lut_total``), FF, BRAM18 and DSP counts are what the search minimizes and reports.  A
  compiled build's units carry their trained weights; a recipe's untrained shapes get random ones
  (:func:`hw_bnn.synth.calibrate.build_layer`).  Candidates of more than ``max_lanes`` lanes
  (``PE * SIMD``) take the calibrated estimate instead (a fully parallel large layer takes Yosys
  many minutes); :attr:`MeasuredCost.counts` says how many of each there were.

Only this layer (above :mod:`hw_bnn.synth`) runs a tool: the search in :mod:`hw_bnn.dse` gets the
measurements as a function (``CostParams.measure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hw_bnn.errors import FoldingError

if TYPE_CHECKING:  # NumPy and the search load when a command runs, not when the CLI starts
    from hw_bnn.dse.cost import CostParams

COST_MODELS = ("finn", "calibrated", "measured")
MAX_MEASURED_LANES = 2048
SYNTH_TARGET = {"xc7": "xc7", "ecp5": "ecp5"}  # calibration family -> Yosys target


def family_of(device) -> str:
    """The calibration family of a device (``xc7`` without one)."""
    from hw_bnn.dse.devices import get_device

    return "xc7" if device is None else get_device(device).calibration


class MeasuredCost:
    """``(unit, pe, simd, weight_ram) -> {"lut", "ff", "bram18", "dsp"}`` from synthesis, for
    ``CostParams(measure=...)``; ``None`` (the calibrated estimate) above ``max_lanes`` lanes.

    ``layers``: IR layers by name (their weights are synthesized); a unit without one gets a
    layer of its shape with random weights."""

    def __init__(self, family: str, layers: dict | None = None, cache_dir=None, max_lanes: int = MAX_MEASURED_LANES):
        self.target = SYNTH_TARGET[family]
        self.layers = dict(layers or {})
        self.cache_dir = cache_dir
        self.max_lanes = int(max_lanes)
        self.counts = {"synthesized": 0, "cached": 0, "estimated": 0}
        self._memo: dict = {}

    def _layer(self, u):
        if u.name not in self.layers:
            from hw_bnn.synth.calibrate import build_layer, shape_of

            self.layers[u.name] = build_layer(shape_of(u))
        return self.layers[u.name]

    def _rtl(self, u, pe: int, simd: int, weight_ram: str):
        from hw_bnn.rtl.units import Stream, mvu_unit

        stream = Stream(simd, u.in_bits, False, u.mw * u.pixels)
        return mvu_unit(self._layer(u), pe, simd, stream, u.pixels, weight_ram)

    def _record(self, key, res: dict) -> dict:
        self.counts["cached" if res["cached"] else "synthesized"] += 1
        got = {"lut": res["lut_total"], "ff": res["ff"], "bram18": res["bram18"], "dsp": res["dsp"]}
        self._memo[key] = got
        return got

    def __call__(self, u, pe: int, simd: int, weight_ram: str) -> dict | None:
        key = (u, pe, simd, weight_ram)
        if key in self._memo:
            return self._memo[key]
        if pe * simd > self.max_lanes:
            self.counts["estimated"] += 1
            self._memo[key] = None
            return None
        from hw_bnn.synth.units import synthesize_unit

        return self._record(key, synthesize_unit(self._rtl(u, pe, simd, weight_ram), self.target, self.cache_dir))

    def prefetch(self, units, max_parallel: int | None = None) -> None:
        """Synthesize every candidate of ``units`` (``PE | MH``, ``SIMD | MW``, both at most
        ``max_parallel``, at most ``max_lanes`` lanes) now, several per Yosys run where the target
        allows (:func:`hw_bnn.synth.units.synthesize_units`): the search then reads them."""
        from hw_bnn.dse.cost import layer_cost
        from hw_bnn.ir.ranges import divisors
        from hw_bnn.synth.units import synthesize_units

        keys = []
        for u in units:
            for pe in divisors(u.mh):
                for simd in u.simd_options():
                    too_wide = max_parallel is not None and max(pe, simd) > max_parallel
                    if too_wide or pe * simd > self.max_lanes:
                        continue
                    key = (u, pe, simd, layer_cost(u, pe, simd).weight_ram)  # where the weights go
                    if key not in self._memo and key not in keys:
                        keys.append(key)
        results = synthesize_units([self._rtl(*key) for key in keys], self.target, self.cache_dir)
        for key, res in zip(keys, results):
            self._record(key, res)

    def summary(self) -> str:
        c = self.counts
        return (
            f"measured on {self.target}: {c['synthesized']} units synthesized, {c['cached']} from the cache, "
            f"{c['estimated']} over {self.max_lanes} lanes estimated (calibrated)"
        )


def cost_params(
    cost: str, device=None, layers: dict | None = None, cache_dir=None, max_lanes: int = MAX_MEASURED_LANES
) -> CostParams:
    """The :class:`CostParams` of ``--cost`` for ``device`` (see the module docstring)."""
    from hw_bnn.dse.cost import DEFAULT_PARAMS, CostParams

    if cost not in COST_MODELS:
        raise FoldingError(f"cost model {cost!r} is not one of {', '.join(COST_MODELS)}")
    if cost == "finn":
        return DEFAULT_PARAMS
    family = family_of(device)
    if cost == "calibrated":
        return CostParams(calibration=family)
    return CostParams(calibration=family, measure=MeasuredCost(family, layers, cache_dir, max_lanes))
