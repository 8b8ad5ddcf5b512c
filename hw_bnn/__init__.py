"""hw-bnn: a hardware co-design flow for binary neural networks on FPGAs.

Brevitas training -> QONNX export -> exact integer thresholds and XNOR-popcount ->
NumPy golden model -> hls4ml project with our own BNN layers -> bit-exact C simulation.
"""

__version__ = "0.1.0"
