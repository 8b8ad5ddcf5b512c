"""Exact threshold extraction from a step function on a finite integer domain (NumPy only).

Between an integer accumulator ``a`` in ``[lo, hi]`` and the next quantizer ``q`` sits an
elementwise chain ``f``.  ``code(a) = q(f(a))`` takes ``L + 1`` integer levels ``0..L``.
The compiler evaluates ``code`` on every ``a`` of the domain (docs/architecture.md) and this
module turns that table into MultiThreshold form, exactly:

* non-decreasing channel: ``t_k = min{a : code(a) >= k}`` (``hi + 1`` when never reached),
  so that ``code(a) = sum_k [a >= t_k]`` on the whole domain;
* non-increasing channel: when the caller can negate the accumulator (flip the channel's
  weights, ``a' = lo + hi - a``), the thresholds are taken on the flipped domain;
* anything else is not monotone and raises :class:`NonMonotoneError` naming the channel.

Every result is confirmed against the table before it is returned.
"""

from __future__ import annotations

import numpy as np

from hw_bnn.errors import IRError, NonMonotoneError


def multithreshold(a: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``sum_k [a[..., c] >= T[c, k]]`` (qonnx MultiThreshold semantics, channels last)."""
    return np.sum(a[..., None] >= thresholds, axis=-1)


def thresholds_from_codes(domain: np.ndarray, codes: np.ndarray, levels: int, allow_flip: bool):
    """Thresholds ``(C, levels)`` int64 and a boolean ``flipped`` mask ``(C,)``.

    ``domain``: the contiguous integers ``lo..hi`` (shape ``(D,)``); ``codes``: the level
    index of every domain value per channel, shape ``(D, C)``, integers in ``[0, levels]``.
    A flipped channel's thresholds apply to ``a' = lo + hi - a``.
    """
    domain = np.asarray(domain, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    if domain.ndim != 1 or codes.ndim != 2 or codes.shape[0] != domain.shape[0]:
        raise IRError(f"domain {domain.shape} and codes {codes.shape} do not match")
    if domain.size > 1 and np.any(np.diff(domain) != 1):
        raise IRError("the domain must be the contiguous integers lo..hi")
    if codes.min(initial=0) < 0 or codes.max(initial=0) > levels:
        raise IRError(f"codes outside 0..{levels}")
    lo, hi = int(domain[0]), int(domain[-1])
    step = np.diff(codes, axis=0)
    increasing = np.all(step >= 0, axis=0)
    decreasing = np.all(step <= 0, axis=0)
    bad = np.flatnonzero(~increasing & ~decreasing)
    if bad.size:
        c = int(bad[0])
        turn = int(np.flatnonzero(step[:, c] != 0)[0])
        raise NonMonotoneError(
            c,
            f"channel {c} is not monotone in the accumulator (it rises and falls over "
            f"[{lo}, {hi}], first change at a={int(domain[turn])}); it cannot be written "
            f"as thresholds",
        )
    flipped = decreasing & ~increasing
    if flipped.any() and not allow_flip:
        c = int(np.flatnonzero(flipped)[0])
        raise NonMonotoneError(
            c,
            f"channel {c} is decreasing in its input and its accumulator cannot be negated here",
        )
    work = codes.copy()
    work[:, flipped] = work[::-1, flipped]  # code'(a') = code(lo + hi - a')
    ks = np.arange(1, levels + 1)
    reached = work[:, :, None] >= ks  # (D, C, L)
    first = np.argmax(reached, axis=0)  # (C, L) first index reaching level k
    thresholds = np.where(reached.any(axis=0), domain[first], hi + 1).astype(np.int64)
    # confirm on the whole domain
    check = multithreshold(domain[:, None], thresholds)
    if not np.array_equal(check, work):
        raise AssertionError("threshold confirmation failed")  # pragma: no cover
    return thresholds, flipped
