"""The names the hls4ml backend and the C++ kernels share (no hls4ml import).

One hls4ml layer class per IR layer kind (:mod:`hw_bnn.hls4ml_ext.layers`), registered under
its class name; the kernels live in namespace ``hw_bnn_hls`` of ``hls/hw_bnn_layers.h``, which
the project includes as ``nnet_utils/hw_bnn_layers.h``.
"""

from __future__ import annotations

THRESHOLD_KIND = "HwBnnThreshold"
XNOR_DENSE_KIND = "HwBnnXnorDense"
INT_DENSE_KIND = "HwBnnIntDense"
CONV_KIND = "HwBnnConv"
MAXPOOL_KIND = "HwBnnMaxPool"
FLATTEN_KIND = "HwBnnFlatten"
FIXED_CHAIN_KIND = "HwBnnFixedChain"
FIXED_ADD_KIND = "HwBnnFixedAdd"
CONCAT_KIND = "HwBnnConcat"

# IR layer kind -> hls4ml class name
HLS_CLASS_OF = {
    "threshold": THRESHOLD_KIND,
    "xnor_dense": XNOR_DENSE_KIND,
    "int_dense": INT_DENSE_KIND,
    "conv": CONV_KIND,
    "maxpool": MAXPOOL_KIND,
    "flatten": FLATTEN_KIND,
    "fixed_chain": FIXED_CHAIN_KIND,
    "fixed_add": FIXED_ADD_KIND,
    "concat": CONCAT_KIND,
}

HEADER_NAME = "hw_bnn_layers.h"
INCLUDE = f"nnet_utils/{HEADER_NAME}"
CPP_NAMESPACE = "hw_bnn_hls"  # namespace of the kernels in hw_bnn_layers.h
BACKENDS = ("Vivado", "Vitis")  # the hls4ml backends the layers are registered with
