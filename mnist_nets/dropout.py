"""Dropout masks from one seeded source, the same in every backend.

A dropout mask is a pure function of ``(seed, step, layer, element)``:

* ``seed``: the model's seed (``Backend.build``'s), any integer in ``[0, 2**64)``;
* ``step``: the model's count of training forward passes, starting at 1 for its first
  training batch and advanced by one for every batch (and every ``forward(training=True)``),
  across epochs: so the epoch and the batch within it are both in it;
* ``layer``: the dropout layer's index in ``spec.layers``;
* ``element``: the element's flat index in the batch's activation in the canonical layout
  (row-major over ``(N, features)`` or NHWC), counted from the batch's first row.

The function is a counter-based hash built from ``lowbias32`` (Chris Wellons' 32-bit
integer mix: two multiplies and three xor-shifts, a bijection on 32-bit words):

    L  = mix(GOLDEN * (layer + 1))                      a constant per layer
    h  = mix(step ^ L);  h = mix(h ^ seed_lo);  k1 = mix(h ^ seed_hi);  k2 = mix(k1 + GOLDEN)
    bits[element] = mix(mix(element ^ k1) + k2)
    keep = bits >= threshold(rate)                      probability 1 - rate (to 2**-32)

all arithmetic modulo 2**32.  Each backend evaluates it in its own integer operations
(:class:`Ops` adapts one framework), so masks are made on the device and inside compiled
code (``jax.jit``, ``tf.function``) and no mask crosses from the host; the numpy
evaluation here (:data:`NUMPY`) is the reference the tests hold every backend to, bit for
bit.  The applied layer is inverted dropout, ``y = where(keep, x * scale(rate), 0)``, and
its gradient ``where(keep, g * scale(rate), 0)``, ``scale`` rounded to float32 once.

Numpy only: importing this module imports no framework.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9  # 2**32 / golden ratio
MIX1, MIX2 = 0x7FEB352D, 0x846CA68B  # lowbias32's multipliers


@dataclass(frozen=True)
class Ops:
    """One framework's 32-bit unsigned word arithmetic (results modulo 2**32): ``xor``,
    ``add`` and ``mul`` of two words (a word and a Python int constant), ``shr`` by a
    Python int, and ``const`` making a Python int a word of that framework."""

    xor: Callable[[Any, Any], Any]
    add: Callable[[Any, Any], Any]
    mul: Callable[[Any, int], Any]
    shr: Callable[[Any, int], Any]
    const: Callable[[int], Any]


def mix(x, ops: Ops):
    """lowbias32: a bijective 32-bit mix with good avalanche."""
    x = ops.xor(x, ops.shr(x, 16))
    x = ops.mul(x, MIX1)
    x = ops.xor(x, ops.shr(x, 15))
    x = ops.mul(x, MIX2)
    return ops.xor(x, ops.shr(x, 16))


def seed_words(seed: int) -> tuple[int, int]:
    """``seed`` as its low and high 32-bit words."""
    seed = int(seed) % 2**64
    return seed & MASK32, seed >> 32


def layer_constant(layer: int) -> int:
    """``mix(GOLDEN * (layer + 1))``, the per-layer constant, as a Python int."""
    word = np.uint32((GOLDEN * (int(layer) + 1)) & MASK32)
    with np.errstate(over="ignore"):
        return int(mix(word, NUMPY))


def keys(seed_lo, seed_hi, step, layer: int, ops: Ops):
    """``(k1, k2)`` of a step and layer; ``seed_lo``, ``seed_hi`` and ``step`` are words of
    ``ops`` (traced values inside compiled code)."""
    h = mix(ops.xor(step, ops.const(layer_constant(layer))), ops)
    h = mix(ops.xor(h, seed_lo), ops)
    k1 = mix(ops.xor(h, seed_hi), ops)
    k2 = mix(ops.add(k1, ops.const(GOLDEN)), ops)
    return k1, k2


def bits(index, k1, k2, ops: Ops):
    """The random word of every element ``index`` (words of ``ops``) under keys ``k1, k2``."""
    return mix(ops.add(mix(ops.xor(index, k1), ops), k2), ops)


def threshold(rate: float) -> int:
    """An element is kept when its word is at least this: probability ``1 - rate``."""
    return min(round(float(rate) * 2**32), MASK32)


def scale(rate: float) -> np.float32:
    """The kept elements' factor ``1 / (1 - rate)``, rounded to float32 once."""
    return np.float32(1.0 / (1.0 - float(rate)))


# --------------------------------------------------------------------------- numpy


def _u32(c) -> np.uint32:
    return np.uint32(int(c) & MASK32)


NUMPY = Ops(
    xor=np.bitwise_xor,
    add=lambda a, b: np.add(a, b, dtype=np.uint32),  # wraps modulo 2**32
    mul=lambda a, c: np.multiply(a, _u32(c), dtype=np.uint32),
    shr=lambda a, s: np.right_shift(a, np.uint32(s)),
    const=_u32,
)


def keep_mask(
    seed: int, step: int, layer: int, shape: tuple[int, ...], rate: float, first_row: int = 0
) -> np.ndarray:
    """The reference mask (bool, ``shape`` in the canonical layout) of rows ``first_row,
    first_row + 1, ...`` of a batch, for ``seed``, ``step`` and ``layer``."""
    lo, hi = seed_words(seed)
    with np.errstate(over="ignore"):
        k1, k2 = keys(_u32(lo), _u32(hi), _u32(step), layer, NUMPY)
        row = int(np.prod(shape[1:], dtype=np.int64))
        start = first_row * row
        index = np.arange(start, start + int(np.prod(shape, dtype=np.int64)), dtype=np.uint32)
        return bits(index, k1, k2, NUMPY).reshape(shape) >= threshold(rate)
