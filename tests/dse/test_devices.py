"""The device catalogue and the fit of a cost estimate on a device."""

import json

import pytest

from hw_bnn.dse.cost import CostParams, network_cost
from hw_bnn.dse.devices import Device, fit, get_device
from hw_bnn.dse.units import MVU
from hw_bnn.errors import DeviceError

BLOCK = CostParams(weight_ram="block")  # the FINN-R BRAM formula; the default puts shallow memories in LUTs

# --- devices ----------------------------------------------------------------------------


def test_device_catalogue_and_aliases():
    assert get_device("PYNQ-Z2") is get_device("xc7z020") is get_device("pynq-z1")
    z2 = get_device("xc7z020")
    assert (z2.lut, z2.ff, z2.bram18, z2.bram36, z2.dsp) == (53_200, 106_400, 280, 140, 220)
    zcu = get_device("zcu104")
    assert (zcu.name, zcu.lut, zcu.bram18, zcu.uram, zcu.dsp) == ("xczu7ev", 230_400, 624, 96, 1_728)
    u250 = get_device("alveo-u250")
    assert (u250.lut, u250.ff, u250.bram36, u250.uram, u250.dsp) == (1_728_000, 3_456_000, 2_688, 1_280, 12_288)
    with pytest.raises(DeviceError, match=r"unknown device 'kintex'; known devices: xc7z020, pynq-z1, .*xcu250"):
        get_device("kintex")


def test_fit_reports_utilization_headroom_and_overshoot():
    tiny = Device("tiny", "tiny-1", (), lut=1000, ff=2000, bram18=2, uram=0, dsp=0)
    small = network_cost(
        [MVU.dense("fc", mw=64, mh=32)], {"fc": {"PE": 4, "SIMD": 8}}, params=BLOCK
    )  # 560 LUT, 1 BRAM18
    r = fit(small, tiny)
    assert r.fits and r["LUT"].used == 560 and r["LUT"].headroom == 440
    assert r["LUT"].utilization == pytest.approx(56.0) and r["BRAM18"].utilization == pytest.approx(50.0)
    assert not fit(small, tiny, limit=0.5).fits  # 560 > 500
    big = network_cost([MVU.dense("fc", mw=64, mh=32)], {"fc": {"PE": 32, "SIMD": 64}})
    r = fit(big, tiny)
    assert not r.fits and not r["LUT"].fits and r["LUT"].headroom == 1000 - big.lut < 0
    assert "does NOT fit" in r.table() and json.dumps(r.to_dict())
