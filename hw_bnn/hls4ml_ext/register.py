"""Registration of the hw-bnn layers with hls4ml: the only place that touches hls4ml's registries.

``register()`` adds, for the ``Vivado`` and ``Vitis`` backends, the layer classes
(``hls4ml.model.layers.register_layer``), a config and a function-call template per layer
(``backend.register_template``) and the HLS header ``hw_bnn_layers.h``
(``backend.register_source``).  hls4ml is neither forked nor patched.

Registration is idempotent: calling ``register()`` twice (or with another header folder, which
then replaces the registered source) is safe.
"""

from __future__ import annotations

import os
from pathlib import Path

from hls4ml.backends import get_backend
from hls4ml.model.layers import layer_map, register_layer
from hls4ml.model.optimizer import get_available_passes

from hw_bnn.errors import HeaderError
from hw_bnn.hls4ml_ext.kinds import BACKENDS, HEADER_NAME
from hw_bnn.hls4ml_ext.layers import LAYER_CLASSES
from hw_bnn.hls4ml_ext.templates import TEMPLATE_CLASSES
from hw_bnn.resources import hls_kernels_dir

HLS_DIR_ENV = "HW_BNN_HLS_DIR"


def hls_dir(override: str | os.PathLike | None = None) -> Path:
    """Folder holding ``hw_bnn_layers.h``: ``override``, else ``$HW_BNN_HLS_DIR``, else the
    kernels shipped with the package (``hw_bnn.resources``)."""
    if override is not None:
        d = Path(override)
    elif os.environ.get(HLS_DIR_ENV):
        d = Path(os.environ[HLS_DIR_ENV])
    else:
        d = hls_kernels_dir()
    return d.expanduser().resolve()


def register(hls_dir_override: str | os.PathLike | None = None) -> Path:
    """Register the hw-bnn layers, templates and HLS source with hls4ml (Vivado and Vitis).

    Idempotent.  ``hls_dir_override`` (or ``$HW_BNN_HLS_DIR``) selects the folder that holds
    ``hw_bnn_layers.h``; a later call with another folder replaces the registered source.
    Returns the path of the registered header.
    """
    header = hls_dir(hls_dir_override) / HEADER_NAME
    if not header.is_file():
        raise HeaderError(f"hw-bnn HLS header not found: {header}")

    for kind, cls in LAYER_CLASSES.items():
        if layer_map.get(kind) is not cls:
            register_layer(kind, cls)

    for backend_name in BACKENDS:
        backend = get_backend(backend_name)
        existing = set(get_available_passes())
        for tcls in TEMPLATE_CLASSES:
            pass_name = f"{backend_name.lower()}:{tcls().get_name()}"
            if pass_name not in existing:
                backend.register_template(tcls)
        # custom sources are a dict keyed by destination: registering again replaces the entry
        backend.register_source(header)
    return header


def layer_classes() -> dict[str, type]:
    """The hls4ml layer classes, by registered kind name."""
    return dict(LAYER_CLASSES)
