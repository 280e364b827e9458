"""A one-channel convolution as a *banded* matrix product (*speed: banded first layer*).

im2col (:class:`~mnist_nets.backends.numpy_layers.Conv2DLayer`) gives every output pixel a
row of the patch matrix: its ``k x k`` window.  With one input channel and few filters
that matrix is most of the layer's work, and it is mostly copies: neighbouring pixels'
windows overlap in ``k (k - 1)`` of their ``k * k`` values, and each is copied again.  The
product after it is thin (inner dimension ``k * k + 1 = 26``, ``F = 8-12`` columns) and is
bound by memory too.

Here one row serves ``B`` neighbouring output pixels of an image row: it holds their
common input window, ``k`` rows by ``T = B + k - 1`` columns.  The kernel is spread over a
``(k T + 1, B F)`` matrix ``Kb`` with zeros where a pixel's window does not reach::

    y[n, u, B*vb + b, f] = bias[f] + sum_{i < k, t < T} x[n, u + i, B*vb + t] * Kb[i*T + t, (b, f)]
    Kb[i*T + t, (b, f)] = W[i, t - b, 0, f]   if 0 <= t - b < k,   else 0

(``B = 4``, ``k = 5``: ``T = 8``, rows of 40 values for 4 pixels, where im2col copies 100.)
The patch matrix is 2.5x smaller and the product does 1.6x the multiplications, mostly by
zeros.  The zeros add exactly nothing, and the non-zero terms come in im2col's order, so where
the BLAS kernel adds the terms of a dot product in order (OpenBLAS's AVX-512 sgemm does;
its AVX2 sgemm groups them otherwise, 1 ulp apart) the outputs are bitwise im2col's and
exact ties stay exact (``tests/test_banded.py``).
The weight gradient is the same product transposed, ``dKb = A^T dY``, folded back: every
weight ``W[i, j, f]`` appears ``B`` times in ``Kb`` (once per pixel ``b``, on a diagonal),
and its gradient is the sum of those ``B`` entries of ``dKb``.

Fused with the 2x2 max-pool after it (as im2col is): the rows are ordered ``(a, n, u', vb)``
for image row ``u = 2u' + a``, and a row's ``B`` pixels ``b = 2*b2 + bb`` get the columns
``(bb, b2, f)``.  The four elements of a pooling window, ``(a, bb)``, are then four strided
blocks of the output (:meth:`BandedConv2DLayer.phases`), each with runs of ``(B/2) F``
contiguous values in the pooled map's own NHWC order.

When it pays (``applies``): while the thin product is bound by memory, that is with few
filters.  With more, the extra multiplications cost what the smaller copy saves (the
measurements per layer: docs/numpy-fast-convolutions.md, "The banded first layer").
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist_nets import specs
from mnist_nets.backends import numpy_layers as nl

B = 4  # output pixels per row of the patch matrix
MAX_FILTERS = 16  # speedrun's 12 and speedrun2's 8 gain, cnn's 20 does not (see above)


def applies(layer: specs.Conv2D, in_shape, out_shape, pool: int, input_grad: bool) -> bool:
    """Whether a conv layer runs banded: one input channel, stride 1, at most
    ``MAX_FILTERS`` filters, fused with a 2x2 pool over output rows of whole ``B``-pixel
    groups, and first of the trained layers (no input gradient: it is not written here)."""
    oh, ow = out_shape[0] // 2 * 2, out_shape[1] // 2 * 2
    return (
        in_shape[2] == 1
        and layer.stride == 1
        and layer.filters <= MAX_FILTERS
        and pool == 2
        and ow % B == 0
        and oh > 0
        and not input_grad
    )


class BandedConv2DLayer(nl.Conv2DLayer):
    """The layer of :class:`~mnist_nets.backends.numpy_layers.Conv2DLayer` (same parameters,
    same outputs), its patch matrix banded as the module describes; fused with a 2x2 pool."""

    def __init__(self, name, in_shape, out_shape, dtype, input_grad, layer, wb, dwb):
        if not applies(layer, in_shape, out_shape, 2, input_grad):
            raise ValueError(
                f"{name}: a banded convolution does not fit input {in_shape}, output "
                f"{out_shape}; build Conv2DLayer instead (banded.applies says which fit)"
            )
        super().__init__(name, in_shape, out_shape, dtype, input_grad, layer, wb, dwb, pool=2)
        k, F = self.k, wb.shape[1]
        self.T = T = B + k - 1
        # where each canonical entry wb[(i, j), f] sits in Kb, once per pixel b: the
        # forward pass scatters wb there, the backward pass sums dKb's B copies back
        b = np.arange(B)[:, None]
        i, j = np.divmod(np.arange(k * k), k)
        row0 = np.append(i * T + j, k * T)  # pixel 0's rows; the bias row k*T for every pixel
        rows = row0 + b * np.append(np.ones(k * k, int), 0)  # (B, k*k + 1)
        cols = (b % 2) * (B // 2) * F + (b // 2) * F + np.arange(F)  # (B, F): (bb, b2, f)
        self.at = rows[:, :, None] * (B * F) + cols[:, None, :]  # (B, k*k + 1, F), into Kb

    def _band(self, x) -> np.ndarray:
        """The banded patch matrix ``A`` (rows ``(a, n, u', vb)``, ``k T`` values and a 1)."""
        n, k, T, oh, ow = len(x), self.k, self.T, self.oh, self.ow
        xs = self._padded(x)[..., 0]
        # win[n, u, vb, i, t] = x[n, u + i, B*vb + t]: a view, nothing copied yet
        win = sliding_window_view(xs, (k, T), axis=(1, 2))[:, :oh, : ow - B + 1 : B]
        win = win.reshape(n, oh // 2, 2, ow // B, k, T).transpose(2, 0, 1, 3, 4, 5)
        a = self.buf.get("band", (n * oh * ow // B, k * T + 1), init=lambda a: a[:, -1].fill(1))
        np.copyto(a[:, :-1].reshape(2, n, oh // 2, ow // B, k, T), win)
        return a

    def forward(self, x, training):
        self.n = len(x)
        self.P = self._band(x)
        kb = self.buf.get("kb", (self.k * self.T + 1, B * self.wb.shape[1]), init=nl._zeros)
        kb.ravel()[self.at] = self.wb  # the same entries every time: the zeros stay zeros
        return np.matmul(self.P, kb, out=self.buf.get("y", (len(self.P), kb.shape[1])))

    def phases(self, a: np.ndarray) -> list[np.ndarray]:
        """The four pooling-window elements ``(a, bb)`` of an output-shaped array, each as
        ``(N, OH/2, OW/B, (B/2) F)``: the pooled map's NHWC order, in runs of ``(B/2) F``."""
        f = self.wb.shape[1]
        a6 = a.reshape(2, self.n, self.oh // 2, self.ow // B, 2, B // 2 * f)
        return [a6[r, :, :, :, c] for r in range(2) for c in range(2)]

    def backward(self, g):
        # dL/dKb = A^T G, then each weight's B copies summed: dL/dW[i, j, f] = sum_b dKb[...]
        dkb = self.buf.get("dkb", (self.P.shape[1], g.shape[1]))
        nl.weight_gradient(self.P, g, dkb, False, self.buf)
        np.sum(dkb.ravel()[self.at], axis=0, out=self.dwb)
        return None
