"""The hls4ml backend: hw-bnn layers for hls4ml and the emitter of an integer network's project.

An integer network (:mod:`hw_bnn.ir`) becomes an hls4ml project in four steps: plan it (every
tensor's shape, range and width, checked against what the layers take), resolve the folding,
build hls4ml's layer list and configuration, and write the project atomically.  The C++ kernels
are ``hls/hw_bnn_layers.h`` (shipped in the wheel, :mod:`hw_bnn.resources`); hls4ml is neither
forked nor patched, only extended through its registration API.

=================  ============================================================================
``kinds``          hls4ml class name per IR layer kind; C++ namespace, header and backends
``hls_types``      ``ap_[u]int`` / ``ap_[u]fixed`` type strings and ranges
``folding``        PE / SIMD folding (``resolve_folding``), weight memory, reuse-factor schedule
``plan``           ``plan_network``: one planning step per layer kind; ``resolve_io_type``
``config``         hls4ml's layer list and HLS configuration of a planned network
``layers``         the nine hls4ml layer classes (imports hls4ml)
``templates``      their config structs and kernel calls (imports hls4ml)
``register``       ``register()``: the only place that touches hls4ml's registries
``emit``           ``emit_project``: plan, configure, write to a temporary folder, rename
=================  ============================================================================

Only ``layers``, ``templates``, ``register`` and ``emit`` import hls4ml; the others import NumPy
and the IR.
"""
