"""The input domain: what the model's input is, as a function of the integer pixels the
hardware receives.

The hardware takes pixels ``p`` in ``0 .. 2**bits - 1``.  A model trained on pixels takes
``x = p`` (the default, ``pixels``).  A model trained on ``ToTensor()``-style inputs in
``[0, 1]``, perhaps normalised, takes

    ``x = (p / divisor - mean[c]) / std[c]``        (float32, in this order, per channel ``c``)

as torchvision's ``ToTensor()`` (``p / 255``) and ``Normalize(mean, std)`` compute it.  The
compiler puts these steps into the graph in front of its input (:func:`insert_input_domain`),
so the first quantizer's thresholds absorb them like any other chain, evaluated in float32 on
every pixel value: the integer graph on ``p`` equals the exported model on ``x`` bit for bit.

Spelled on the command line (:meth:`InputDomain.parse`)::

    pixels                          x = p
    unit                            x = p / 255
    unit:mean=0.1307:std=0.3081     x = (p / 255 - 0.1307) / 0.3081
    unit:mean=0.49,0.48,0.45:std=0.25,0.24,0.26     (one value per channel)
    divisor=2                       x = p / 2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper

from hw_bnn.errors import CompileError

META_KEY = "hw_bnn.input_domain"  # integer.onnx metadata: the domain's spelling


@dataclass(frozen=True)
class InputDomain:
    """``x = (p / divisor - mean) / std`` for pixels ``p`` of ``bits`` bits (see the module)."""

    bits: int = 8
    divisor: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @property
    def is_pixels(self) -> bool:
        return self.divisor == 1.0 and not any(self.mean) and all(s == 1.0 for s in self.std)

    @classmethod
    def parse(cls, text: str | None) -> InputDomain:
        """``pixels``, ``unit`` (``p / 255``) or ``divisor=D``, then ``:mean=..`` and ``:std=..``
        (comma-separated, one value or one per channel)."""
        text = (text or "pixels").strip()
        head, *opts = text.split(":")
        if head == "pixels":
            dom = cls()
        elif head == "unit":
            dom = cls(divisor=255.0)
        elif head.startswith("divisor="):
            dom = cls(divisor=_numbers(text, head)[0])
        else:
            raise CompileError(
                f"input domain {text!r}: expected 'pixels', 'unit' or 'divisor=D', then ':mean=..:std=..'"
            )
        for opt in opts:
            key = opt.partition("=")[0]
            if key not in ("mean", "std"):
                raise CompileError(f"input domain {text!r}: unknown option {opt!r} (mean=.. or std=..)")
            dom = cls(dom.bits, dom.divisor, **{**_fields(dom), key: tuple(_numbers(text, opt))})
        dom.check(text)
        return dom

    def check(self, text: str = "") -> None:
        label = f"input domain {text or self.spelling()!r}"
        if self.divisor <= 0 or any(s == 0 for s in self.std):
            raise CompileError(f"{label}: the divisor and every std must be non-zero (the divisor positive)")
        if not 1 <= self.bits <= 16:
            raise CompileError(f"{label}: pixels of {self.bits} bits (1 to 16)")

    def spelling(self) -> str:
        """The text :meth:`parse` reads back as this domain."""
        head = "pixels" if self.divisor == 1.0 else "unit" if self.divisor == 255.0 else f"divisor={self.divisor!r}"
        if self.is_pixels:
            return "pixels"
        opts = [f"mean={','.join(repr(v) for v in self.mean)}"] if any(self.mean) else []
        opts += [f"std={','.join(repr(v) for v in self.std)}"] if any(s != 1.0 for s in self.std) else []
        return ":".join([head, *opts])

    def formula(self) -> str:
        """The domain as an equation, for reports."""
        x = "p" if self.divisor == 1.0 else f"p / {self.divisor:g}"
        if any(self.mean):
            x = f"({x} - {_vec(self.mean)})"
        if any(s != 1.0 for s in self.std):
            x = f"{x} / {_vec(self.std)}"
        return f"x = {x}, p = 0..{2**self.bits - 1}"

    def to_model(self, p: np.ndarray) -> np.ndarray:
        """The model's input for pixels ``p`` (channel axis 1), in float32 as the graph computes it."""
        x = np.asarray(p, dtype=np.float32)
        if self.is_pixels:
            return x
        x = x / np.float32(self.divisor)
        x = x - _per_channel(self.mean, x.ndim)
        return x / _per_channel(self.std, x.ndim)


def _fields(d: InputDomain) -> dict:
    return {"mean": d.mean, "std": d.std}


def _vec(v: tuple[float, ...]) -> str:
    return f"{v[0]:g}" if len(v) == 1 else "[" + ", ".join(f"{a:g}" for a in v) + "]"


def _numbers(text: str, opt: str) -> list[float]:
    try:
        return [float(v) for v in opt.partition("=")[2].split(",")]
    except ValueError:
        raise CompileError(f"input domain {text!r}: {opt!r} must give numbers") from None


def _per_channel(v: tuple[float, ...], ndim: int) -> np.ndarray:
    """``v`` shaped to broadcast over axis 1 of an ``ndim``-dimensional batch."""
    a = np.asarray(v, dtype=np.float32)
    return a.reshape((1, -1) + (1,) * (ndim - 2)) if a.size > 1 else a.reshape(())


def insert_input_domain(model, domain: InputDomain):
    """``Div(divisor)``, ``Sub(mean)``, ``Div(std)`` between a new integer input ``pixels`` and
    the graph's input (the steps that are not the identity); the model unchanged for ``pixels``."""
    if domain.is_pixels:
        return model
    g = model.graph
    old = g.input[0]
    shape = [d.dim_value for d in old.type.tensor_type.shape.dim]
    for v, what in ((domain.mean, "mean"), (domain.std, "std")):
        if len(v) > 1 and (len(shape) < 2 or shape[1] != len(v)):
            raise CompileError(
                f"input domain {domain.spelling()!r}: {len(v)} values of {what} for an input of shape {shape} "
                f"(one, or one per channel of axis 1)"
            )
    steps = [("Div", (domain.divisor,))]
    steps += [("Sub", domain.mean)] if any(domain.mean) else []
    steps += [("Div", domain.std)] if any(s != 1.0 for s in domain.std) else []
    src = "pixels"
    nodes = []
    for i, (op, values) in enumerate(steps):
        const = f"input_domain_{i}_c"
        model.set_initializer(const, _per_channel(values, len(shape)))
        out = old.name if i == len(steps) - 1 else f"input_domain_{i}"
        nodes.append(helper.make_node(op, [src, const], [out], name=f"input_domain_{op}_{i}"))
        src = out
    for k, n in enumerate(nodes):
        g.node.insert(k, n)
    new = helper.make_tensor_value_info("pixels", old.type.tensor_type.elem_type, shape)
    g.input.remove(old)
    g.input.insert(0, new)
    model.set_metadata_prop(META_KEY, domain.spelling())
    return model


def domain_of(model) -> InputDomain:
    """The domain an integer graph was compiled for (its metadata; ``pixels`` without)."""
    return InputDomain.parse(model.get_metadata_prop(META_KEY) or "pixels")
