"""The Xilinx deployment package of a build: :func:`write_deploy` writes a folder to take to a
Zynq-7000 board (Pynq-Z1/Z2 by default) and run there with PYNQ.

==============================  ==============================================================
``rtl/``                        the RTL project (``hwbnn_top.sv``, kernels, ``*.mem``), the
                                AXI4-Stream wrapper ``hwbnn_axis.sv`` and ``hwbnn_axis_bd.v``
                                (its parameters fixed, Verilog-2001, for a module reference)
``vivado/build_rtl.tcl``        project, block design (PS7, AXI DMA, wrapper), bitstream,
                                ``hwbnn.bit`` + ``hwbnn.hwh`` beside the driver
``vivado/build_hls.tcl``        the hls4ml project's own ``hls/build_prj.tcl`` (where ``hls/``)
``Makefile``                    ``make bitstream`` / ``make hls`` (a clear stop without the tools)
``driver.py``, ``hwbnn_io.py``  the PYNQ driver (FINN's convention) and its NumPy packing
``io_shapes.json``              stream shapes and layouts (:mod:`~hw_bnn.deploy.shapes`)
``validate.py``                 accuracy on a data set, or ``--self-check`` against golden/
``golden/``                     ``inputs.npy``, ``expected.npy`` (golden model outputs)
``README.md``                   the above, and how to run it
==============================  ==============================================================

TDATA/TLAST layout: :mod:`hw_bnn.sim.axissim`.  :func:`~hw_bnn.deploy.simcheck.self_check_in_simulation`
runs a folder's own driver and self-check against the RTL simulation of its wrapper.
"""

from hw_bnn.deploy.package import DeployError, write_deploy

__all__ = ["DeployError", "write_deploy"]
