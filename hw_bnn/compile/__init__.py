"""The compiler: a trained checkpoint -> QONNX -> the integer graph -> the IR.

=====================  ========================================================================
``export``             Brevitas QONNX export (``exported.onnx``) and its check against PyTorch
``pipeline``           :func:`compile_model`: the passes in order, as one list; ``load_onnx``
``passes``             one module per pass family (checks, weights, chains, linear, fixed_point,
                       concat, output), each pass a qonnx ``Transformation``
``graph``              graph helpers: names, constants, attributes, integer sources, chains
``fixed_config``       :class:`FixedPointConfig`, the user's fixed-point setting for shortcuts
``lower``              :func:`lower_to_ir`: the integer graph -> :class:`hw_bnn.ir.IntegerNetwork`
``metadata``           the integer graph's metadata: output affine, fixed-point settings
``qonnx_run``          :func:`run_qonnx`: batched qonnx execution
``custom_op``          the qonnx ops ``FixedChain``, ``FixedAdd``, ``IntConcat`` (domain
                       ``hw_bnn.custom_op``)
=====================  ========================================================================

Importing this package registers the ONNX domain ``hw_bnn.custom_op`` of the integer graph's
own nodes with qonnx (it resolves to :mod:`hw_bnn.compile.custom_op`), so qonnx
``execute_onnx`` runs any ``integer.onnx``.
"""

from qonnx.custom_op.registry import add_domain_alias

add_domain_alias("hw_bnn.custom_op", "hw_bnn.compile.custom_op")
