"""FPGA devices the design-space exploration targets, and whether a cost estimate fits one.

Resource counts are the whole device's, from the vendor product tables:

* xc7z020 (PYNQ-Z1, PYNQ-Z2): Xilinx DS190 "Zynq-7000 SoC Data Sheet: Overview", table 1
  (and the Zynq-7000 product selection guide): 53,200 LUTs, 106,400 flip-flops, 140 block RAMs
  of 36 Kb (4.9 Mb) = 280 RAMB18, 220 DSP48E1.
* xczu7ev (ZCU104): Xilinx DS891 "Zynq UltraScale+ MPSoC Data Sheet: Overview" (and the Zynq
  UltraScale+ product selection guide), ZU7EV column: 230,400 LUTs, 460,800 flip-flops, 312
  block RAMs (11.0 Mb) = 624 RAMB18, 96 UltraRAMs (27.0 Mb), 1,728 DSP48E2.
* xcu250 (Alveo U250): Xilinx DS962 "Alveo U200 and U250 Data Center Accelerator Cards Data
  Sheet", table 1 (the XCVU13P-class die): 1,728K LUTs, 3,456K registers, 2,688 block RAMs
  (94.5 Mb) = 5,376 RAMB18, 1,280 UltraRAMs (360 Mb), 12,288 DSP slices.  A Vitis shell takes a
  part of these; FINN's ``finn/util/platforms.py`` lists what remains per SLR.

Checked against (the vendor PDFs themselves could not be fetched while this was written):
FINN's ``src/finn/util/platforms.py`` gives the same xc7z020 numbers (53,200 LUT, 2 x 53,200 FF,
280 BRAM18, 220 DSP) and, rounded / as observed in Vivado, ZU7EV 230,000 LUT, 610 BRAM18, 92 URAM,
1,728 DSP; PYNQ's ZCU104 page names the part XCZU7EV-2FFVC1156.  The block-RAM counts match the
capacities in the product tables: 140 x 36 Kb = 4.9 Mb, 312 x 36 Kb = 11.0 Mb, 96 x 288 Kb =
27.0 Mb, 2,688 x 36 Kb = 94.5 Mb, 1,280 x 288 Kb = 360 Mb.

Lattice ECP5 (``family="ecp5"``): Lattice FPGA-DS-02012 "ECP5 and ECP5-5G Family Data Sheet",
table 1.1 (ECP5 and ECP5-5G Family Selection Guide), the LFE5U columns:

* lfe5u-25f (ULX3S 25F, OrangeCrab 25F): 24K LUTs (24,288 LUT4, each slice with its two
  flip-flops: 24,288 FF), 56 sysMEM EBR blocks of 18 Kbit (1,008 Kbit), 28 18x18 multipliers.
* lfe5u-45f (ULX3S 45F): 44K LUTs (43,848 LUT4, 43,848 FF), 108 EBR (1,944 Kbit), 72 multipliers.
* lfe5u-85f (ULX3S 85F): 84K LUTs (83,640 LUT4, 83,640 FF), 208 EBR (3,744 Kbit), 156 multipliers.

An EBR (DP16KD) has the six simple-dual-port aspect ratios of a RAMB18 (16K x 1 ... 512 x 36), so
it is counted as one ``bram18``; a multiplier (MULT18X18D) as one ``dsp``; ECP5 has no UltraRAM.
The LUTs of an ECP5 device are LUT4s, a Xilinx device's LUT6s: ``family`` says which cost
coefficients an estimate for the device takes (:data:`CALIBRATION_OF`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hw_bnn.errors import DeviceError


@dataclass(frozen=True)
class Device:
    """Resources of one FPGA part."""

    name: str
    part: str
    boards: tuple[str, ...]
    lut: int
    ff: int
    bram18: int
    uram: int
    dsp: int
    family: str = "xilinx"  # "xilinx" (LUT6, RAMB18, DSP48) or "ecp5" (LUT4, DP16KD, MULT18X18D)

    @property
    def calibration(self) -> str:
        """The calibrated cost model of this device's family (:data:`CALIBRATION_OF`)."""
        return CALIBRATION_OF[self.family]

    @property
    def bram36(self) -> int:
        return self.bram18 // 2

    def to_dict(self) -> dict:
        return asdict(self)


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device(
            "xc7z020", "xc7z020clg400-1", ("pynq-z1", "pynq-z2"), lut=53_200, ff=106_400, bram18=280, uram=0, dsp=220
        ),
        Device("xczu7ev", "xczu7ev-ffvc1156-2-e", ("zcu104",), lut=230_400, ff=460_800, bram18=624, uram=96, dsp=1_728),
        Device(
            "xcu250",
            "xcu250-figd2104-2L-e",
            ("u250", "alveo-u250"),
            lut=1_728_000,
            ff=3_456_000,
            bram18=5_376,
            uram=1_280,
            dsp=12_288,
        ),
        Device(
            "lfe5u-25f",
            "LFE5U-25F-6BG381C",
            ("ulx3s-25f", "orangecrab-25f"),
            lut=24_288,
            ff=24_288,
            bram18=56,
            uram=0,
            dsp=28,
            family="ecp5",
        ),
        Device(
            "lfe5u-45f",
            "LFE5U-45F-6BG381C",
            ("ulx3s-45f",),
            lut=43_848,
            ff=43_848,
            bram18=108,
            uram=0,
            dsp=72,
            family="ecp5",
        ),
        Device(
            "lfe5u-85f",
            "LFE5U-85F-6BG381C",
            ("ulx3s-85f",),
            lut=83_640,
            ff=83_640,
            bram18=208,
            uram=0,
            dsp=156,
            family="ecp5",
        ),
    )
}
# the calibrated cost model (hw_bnn.dse.calibration) of each family: UltraScale+ parts have the
# 7-series LUT6 fabric and take its coefficients
CALIBRATION_OF = {"xilinx": "xc7", "ecp5": "ecp5"}


def known_devices() -> list[str]:
    """Every accepted name: part names and board names."""
    return [n for d in DEVICES.values() for n in (d.name, *d.boards)]


def get_device(name: str | Device) -> Device:
    """A device by part name (``xc7z020``), full part (``xc7z020clg400-1``) or board (``pynq-z2``),
    case-insensitive; a :class:`Device` is returned as is.  Unknown names raise
    :class:`DeviceError` listing the known ones."""
    if isinstance(name, Device):
        return name
    key = str(name).strip().lower()
    for d in DEVICES.values():
        if key in (d.name, d.part.lower(), *d.boards):
            return d
    raise DeviceError(f"unknown device {name!r}; known devices: {', '.join(known_devices())}")


@dataclass(frozen=True)
class ResourceFit:
    """One resource of a fit: ``headroom = available - used`` (negative: overshoot)."""

    resource: str
    used: int
    available: int

    @property
    def utilization(self) -> float:
        """Percent of the available resource."""
        if self.available == 0:
            return 0.0 if self.used == 0 else float("inf")
        return 100.0 * self.used / self.available

    @property
    def headroom(self) -> int:
        return self.available - self.used

    @property
    def fits(self) -> bool:
        return self.used <= self.available

    def to_dict(self) -> dict:
        return {**asdict(self), "utilization_pct": self.utilization, "headroom": self.headroom, "fits": self.fits}


@dataclass(frozen=True)
class FitReport:
    """Whether a cost estimate fits a device, per resource (flip-flops where the estimate has them:
    the calibrated and measured models)."""

    device: Device
    limit: float
    resources: tuple[ResourceFit, ...]

    @property
    def fits(self) -> bool:
        return all(r.fits for r in self.resources)

    def __getitem__(self, resource: str) -> ResourceFit:
        for r in self.resources:
            if r.resource == resource:
                return r
        raise KeyError(resource)

    def to_dict(self) -> dict:
        return {
            "device": self.device.name,
            "limit": self.limit,
            "fits": self.fits,
            "resources": [r.to_dict() for r in self.resources],
        }

    def table(self) -> str:
        out = [
            f"{self.device.name} ({', '.join(self.device.boards)}), limit {self.limit:.0%} of each resource: "
            f"{'fits' if self.fits else 'does NOT fit'}"
        ]
        for r in self.resources:
            sign = "headroom" if r.fits else "overshoot"
            out.append(
                f"  {r.resource:7s} {r.used:>10,d} / {r.available:>10,d}  {r.utilization:6.1f}%  "
                f"{sign} {abs(r.headroom):,d}"
            )
        return "\n".join(out)


def capacity(device: str | Device, limit: float = 1.0) -> dict[str, int]:
    """Usable amount of each estimated resource: ``floor(limit * available)``."""
    d = get_device(device)
    if not 0 < limit <= 1:
        raise DeviceError(f"utilization limit must be in (0, 1], got {limit}")
    return {k: int(limit * getattr(d, k.lower())) for k in ("LUT", "BRAM18", "URAM", "DSP", "FF")}


def fit(cost, device: str | Device, limit: float = 1.0) -> FitReport:
    """Compare a :class:`hw_bnn.dse.cost.NetworkCost` (anything with ``lut``, ``bram18``, ``uram``,
    ``dsp``, and ``ff`` unless it is ``None``) with a device.  ``limit`` scales what counts as
    available (FINN suggests about 0.7 of the LUTs and 0.8 of the block RAM for timing closure)."""
    d = get_device(device)
    cap = capacity(d, limit)
    used = {"LUT": cost.lut, "BRAM18": cost.bram18, "URAM": getattr(cost, "uram", 0), "DSP": cost.dsp}
    if getattr(cost, "ff", None) is not None:
        used["FF"] = cost.ff
    return FitReport(d, limit, tuple(ResourceFit(k, int(v), cap[k]) for k, v in used.items()))


def fit_all(cost) -> dict[str, FitReport]:
    """The fit of ``cost`` on every device of the catalogue (:data:`DEVICES`) of its family (its
    ``family``: ``xilinx`` for FINN-R and the xc7 calibration, ``ecp5``), all of each resource."""
    family = getattr(cost, "family", "xilinx")
    return {name: fit(cost, d) for name, d in DEVICES.items() if d.family == family}
