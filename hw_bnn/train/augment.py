"""Data augmentation of the training images: a random affine map per image, drawn anew every
epoch (torch only; the validation and test images are never augmented).

Recipe block ``train.augment`` (all optional, 0 turns a part off)::

    augment: {shift: 2, rotate: 10, scale: 0.1}

For each image ``n`` draw, uniformly and independently, an angle ``a`` in
``[-rotate, rotate]`` degrees, a zoom ``z`` in ``[1 - scale, 1 + scale]`` and a translation
``(t_x, t_y)`` in ``[-shift, shift]`` pixels.  The output pixel at ``u`` (coordinates relative
to the image centre) samples the input at

    ``u' = R(a) u / z - t``,   ``R(a) = [[cos a, -sin a], [sin a, cos a]]``

by bilinear interpolation, zero outside the image (the background of MNIST), then rounds to
the nearest integer: the augmented image is again 8-bit pixels 0..255, the domain the
hardware sees.  The draws come from the training run's own generator, so a seed gives the
same images in every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Augment:
    """``shift`` (pixels), ``rotate`` (degrees), ``scale`` (fraction of the size); see the module."""

    shift: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0

    @classmethod
    def from_settings(cls, settings: dict | None) -> Augment:
        return cls(**(settings or {}))

    @property
    def active(self) -> bool:
        return bool(self.shift or self.rotate or self.scale)

    def thetas(self, n: int, height: int, width: int, generator):
        """The ``(n, 2, 3)`` sampling matrices ``[R(a) / z | -t]`` in ``affine_grid``'s
        normalised coordinates (a pixel is ``2 / size`` there)."""
        import torch

        def uniform(*shape):
            return torch.rand(*shape, generator=generator) * 2.0 - 1.0

        angle = uniform(n) * (self.rotate * math.pi / 180.0)
        zoom = 1.0 + uniform(n) * self.scale
        shift = uniform(n, 2) * self.shift
        tx, ty = -shift[:, 0] * (2.0 / width), -shift[:, 1] * (2.0 / height)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        return torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)

    def __call__(self, images, generator):
        """Augmented copies of ``images`` (float pixels, ``(N, C, H, W)``), integer-valued."""
        if not self.active:
            return images
        import torch.nn.functional as F

        n, _, h, w = images.shape
        grid = F.affine_grid(self.thetas(n, h, w, generator), list(images.shape), align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.round_().clamp_(0.0, 255.0)
