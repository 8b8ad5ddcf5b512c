"""Simulation of the emitted hardware and its verification against the golden model.

:mod:`~hw_bnn.sim.csim` compiles and runs the hls4ml C simulation; :mod:`~hw_bnn.sim.verify`
compares it with the golden model (mismatched images, the first divergent layer)."""
