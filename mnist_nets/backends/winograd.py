"""Winograd's minimal filtering for the numpy backend's convolutions, by hand.

One dimension first.  An ``r``-tap correlation producing ``m`` outputs,

    y[i] = sum_k d[i + k] * g[k]          (i < m, k < r; d has alpha = m + r - 1 entries),

costs ``m * r`` multiplications done directly.  Winograd's F(m, r) does it with ``alpha``:

    y = A^T [ (G g) * (B^T d) ]            (* element-wise; A^T: m x alpha, G: alpha x r,
                                            B^T: alpha x alpha)

Where the matrices come from (Lavin & Gray 2015, arXiv 1509.09308, section 4; Toom-Cook):
a correlation is a polynomial product read backwards, and a product of polynomials of
degrees ``m - 1`` and ``r - 1`` (``alpha`` coefficients) is fixed by its values at
``alpha`` points.  So: evaluate both factors at ``alpha - 1`` chosen points and at
infinity (the leading coefficient) -- the rows of ``G`` (the filter) and ``B^T`` (the data)
-- multiply the ``alpha`` values pairwise, the only multiplications that depend on both,
and interpolate back -- ``A^T``.  Small points (0, 1, -1, 2, -2, ...) keep the entries
small, so the transforms are additions and a few small constant multiples, and the
rounding error small: it grows with the size of the points, so F(4, 3) (points up to +-2)
loses more precision than F(2, 3) (points 0, +-1); the module's tests measure how much.

Two dimensions nest the 1-D algorithm, rows then columns: an ``alpha x alpha`` input tile
``d`` and an ``r x r`` filter ``g`` give an ``m x m`` output tile

    Y = A^T [ (G g G^T) * (B^T d B) ] A

with ``alpha**2`` multiplications instead of ``m**2 r**2`` (F(2x2, 3x3): 16 instead of 36;
F(4x4, 3x3): 36 instead of 144).  Over channels the element-wise product becomes a sum,
``M[t, f] = sum_c V[t, c] U[c, f]`` for each of the ``alpha**2`` tile positions: one
batched matrix product, ``(alpha**2, T, C) @ (alpha**2, C, F)`` over the ``T`` tiles of the
batch, which BLAS runs (``np.matmul``).  The transforms are element-wise work in numpy.

Backward: every stage is linear, so each stage's backward is its transposed matrix, written
beside its forward in :class:`WinogradConv2DLayer`:

* forward  ``V = B^T d B``, ``U = G g G^T``, ``M = V U`` (per position), ``Y = A^T M A``;
* backward ``dM = A dY A^T``, then ``dU = V^T dM`` -> ``dg = G^T dU G`` (the weight
  gradient, from the kept ``V``), and ``dV = dM U^T`` -> ``dd = B dV B^T``, added back
  where each (overlapping) input tile came from (the input gradient).

The input gradient so obtained is the correlation of the zero-padded output gradient with
the flipped, transposed kernel that textbooks write, computed through the same transforms.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mnist_nets.backends import numpy_layers as nl


class Algorithm(NamedTuple):
    """Winograd's F(m, r): ``m`` outputs of an ``r``-tap correlation from ``alpha = m + r - 1``
    inputs, ``y = AT @ ((G @ g) * (BT @ d))``."""

    name: str
    m: int
    r: int
    AT: np.ndarray  # (m, alpha): interpolation back to the outputs
    G: np.ndarray  # (alpha, r): the filter evaluated at the points
    BT: np.ndarray  # (alpha, alpha): the data transform

    @property
    def alpha(self) -> int:
        return self.m + self.r - 1


def _algorithm(name, m, r, AT, G, BT) -> Algorithm:
    return Algorithm(name, m, r, *(np.array(a, dtype=np.float64) for a in (AT, G, BT)))


# F(2, 3), points 0, 1, -1 and infinity (Lavin & Gray, section 4.1).  The rows of G are
# g(0), g(1)/2, g(-1)/2 and g's leading coefficient: the 1/2 of the interpolation is folded
# into the filter, which is transformed once per step, so B^T and A^T are all 0 and +-1.
F2_3 = _algorithm(
    "F(2x2,3x3)",
    2,
    3,
    AT=[[1, 1, 1, 0], [0, 1, -1, -1]],
    G=[[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
    BT=[[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
)

# F(4, 3), points 0, 1, -1, 2, -2 and infinity (Lavin & Gray, section 4.2).
F4_3 = _algorithm(
    "F(4x4,3x3)",
    4,
    3,
    AT=[
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    G=[
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    BT=[
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
)

# F(2, 5), points 0, 1, -1, 2, -2 and infinity (the same construction, alpha = 6).
F2_5 = _algorithm(
    "F(2x2,5x5)",
    2,
    5,
    AT=[[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]],
    G=[
        [1 / 4, 0, 0, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3],
        [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3],
        [0, 0, 0, 0, 1],
    ],
    BT=[
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
)

ALGORITHMS = {a.name: a for a in (F2_3, F4_3, F2_5)}


def mix(M: np.ndarray, xs, outs, tmp=None, add: bool = False) -> None:
    """``outs[i] = sum_j M[i, j] * xs[j]`` (``+=`` with ``add``) for arrays ``xs[j]`` of one
    shape: a small constant matrix applied along an axis that the caller has cut into
    slices.  Zero entries are skipped and +-1 entries are additions, so a transform costs
    what its nonzero entries cost (the first two +-1 terms in one pass).  ``tmp`` (the
    slices' shape) holds a scaled term."""
    for i, out in enumerate(outs):
        terms = [(M[i, j], x) for j, x in enumerate(xs) if M[i, j] != 0]
        if not add and len(terms) >= 2 and abs(terms[0][0]) == 1 == abs(terms[1][0]):
            (c0, x0), (c1, x1) = terms[:2]
            if c0 == c1:
                np.add(x0, x1, out=out)
                if c0 == -1:
                    np.negative(out, out=out)
            elif c0 == 1:
                np.subtract(x0, x1, out=out)
            else:
                np.subtract(x1, x0, out=out)
            terms = terms[2:]
        elif not add:
            if not terms:
                out.fill(0)
                continue
            c, x = terms.pop(0)
            np.multiply(x, x.dtype.type(c), out=out) if c != 1 else np.copyto(out, x)
        for c, x in terms:
            if c == 1:
                np.add(out, x, out=out)
            elif c == -1:
                np.subtract(out, x, out=out)
            else:
                np.add(out, np.multiply(x, x.dtype.type(c), out=tmp), out=out)


def filter_transform(a: Algorithm, w: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` for a ``(r, r, C, F)`` kernel: ``(alpha, alpha, C, F)``."""
    G = a.G.astype(w.dtype)
    return np.tensordot(G, np.tensordot(G, w, axes=(1, 0)), axes=(1, 1)).transpose(1, 0, 2, 3)


def filter_transform_backward(a: Algorithm, du: np.ndarray) -> np.ndarray:
    """``dg = G^T dU G``: the adjoint of :func:`filter_transform`, ``(r, r, C, F)``."""
    G = a.G.astype(du.dtype)
    return np.tensordot(G.T, np.tensordot(G.T, du, axes=(1, 0)), axes=(1, 1)).transpose(1, 0, 2, 3)


class WinogradConv2DLayer(nl.Conv2DLayer):
    """:class:`~mnist_nets.backends.numpy_layers.Conv2DLayer` (stride 1) computed by
    Winograd's F(m x m, r x r): the same outputs, parameters, gradients and output layouts
    (also fused with a following ``q x q`` max-pool, when ``q`` divides ``m``), up to rounding.

    The output is cut into ``th x tw`` tiles of ``m x m`` pixels (the last ones reach past
    the edge: those pixels are computed from zeros and dropped); tile ``(u, v)`` reads the
    ``alpha x alpha`` input window at ``(m*u, m*v)`` of ``xp``, the padded input with extra
    zeros below and to the right so that every window is whole.

    Inside, activations are laid out ``(H, W, N, C)`` (*speed: long inner loops*): a
    transform combines rows or columns ``m`` apart, i.e. slices of the two outer axes, so
    each numpy operation runs over whole ``N x C`` blocks instead of ``C`` channels at a
    time; and the tiles ``(u, v, n)`` of a position are then one ``(T, C)`` matrix for BLAS.
    """

    def __init__(self, *args, algorithm: Algorithm, **kwargs):
        super().__init__(*args, **kwargs)
        a = self.a = algorithm
        if self.s != 1 or self.k != a.r or a.m % self.pool:
            raise ValueError(f"{a.name} does not fit a {self.k}x{self.k} stride-{self.s} conv")
        self.th, self.tw = -(-self.oh // a.m), -(-self.ow // a.m)
        # the padded input's size: whole tiles, and at least the whole padded image (the
        # last rows or columns may feed only pixels that a pool drops)
        h, w, _ = self.in_shape
        self.hp = max(self.th * a.m + a.r - 1, h + 2 * self.p)
        self.wp = max(self.tw * a.m + a.r - 1, w + 2 * self.p)
        self.transposed = False  # (no patch matrix here)

    def _output_slots(self, y):
        """For each output tile position ``(i, j)``, the view of ``y`` it fills, as
        ``(rows, cols, N, F)``: the pixels ``(m*u + i, m*v + j)`` of every tile ``(n, u, v)``
        inside the image, in ``y``'s layout (plain, or in pooling phases)."""
        m, q = self.a.m, self.pool
        for i in range(m):
            for j in range(m):
                if q == 1:
                    view = y[:, i::m, j::m]
                else:  # pixel (m*u + i) is pooled row (m/q)*u + i//q in phase i % q
                    view = y[(i % q) * q + j % q][:, i // q :: m // q, j // q :: m // q]
                yield i, j, view.transpose(1, 2, 0, 3)

    # -- forward

    def forward(self, x, training):
        a, n = self.a, len(x)
        m, al, p = a.m, a.alpha, self.p
        h, w, c = self.in_shape
        f = self.wb.shape[1]
        th, tw = self.th, self.tw
        self.n = n
        # xp: (H, W, N, C), p zeros on top and left, enough below and right for whole tiles
        shape = (self.hp, self.wp, n, c)
        xp = self.buf.get("xp", shape, init=nl._zeros)  # the borders are never written
        np.copyto(xp[p : p + h, p : p + w], x.transpose(1, 2, 0, 3))
        # V = B^T d B, rows then columns, on strided views (no tile is copied out first):
        #   rows[i][u] = sum_l BT[i, l] xp[m*u + l]          for every tile row u
        #   V[i, j][u, v] = sum_l BT[j, l] rows[i][u, m*v + l]
        rows = self.buf.get("rows", (al, th, shape[1], n, c))
        mix(
            a.BT,
            [xp[i : i + m * th : m] for i in range(al)],
            rows,
            self.buf.get("t1", rows.shape[1:]),
        )
        v = self.buf.get("V", (al, al, th, tw, n, c))
        tmp = self.buf.get("t2", v.shape[2:])
        for i in range(al):
            mix(a.BT, [rows[i][:, j : j + m * tw : m] for j in range(al)], v[i], tmp)
        self.V = v.reshape(al * al, th * tw * n, c)
        # U = G g G^T, then one matrix product per tile position: M = V U
        self.U = filter_transform(a, self.params["weight"]).reshape(al * al, c, f)
        mm = np.matmul(self.V, self.U, out=self.buf.get("M", (al * al, th * tw * n, f)))
        mm = mm.reshape(al, al, th, tw, n, f)
        # Y = A^T M A, rows then columns; each output pixel written once, straight into y
        s = self.buf.get("s", (m, al, th, tw, n, f))
        mix(a.AT, list(mm), s, self.buf.get("t3", s.shape[1:]))
        y = self.buf.get("y", self._out_shape(n, f))
        for i, j, view in self._output_slots(y):
            nr, nc = view.shape[:2]
            mix(a.AT[j : j + 1], [t[:nr, :nc] for t in s[i]], [view])
        y += self.params["bias"]
        return y

    def _out_shape(self, n, f):
        q = self.pool
        if q == 1:
            return (n, self.oh, self.ow, f)
        return (q * q, n, self.oh // q, self.ow // q, f)

    # -- backward, each stage the transpose of its forward

    def backward(self, g):
        a, n = self.a, self.n
        m, al, p = a.m, a.alpha, self.p
        f = self.wb.shape[1]
        th, tw = self.th, self.tw
        np.sum(g.reshape(-1, f), axis=0, out=self.grads["bias"])  # y = ... + b
        # dY tiles gathered from g (pixels past the edge have no gradient: they stay 0)
        dy = self.buf.get("dY", (m, m, th, tw, n, f), init=nl._zeros)
        for i, j, view in self._output_slots(g):
            nr, nc = view.shape[:2]
            np.copyto(dy[i, j, :nr, :nc], view)
        # dM = A dY A^T: the transposes of the output transform's two stages
        A = a.AT.T
        ds = self.buf.get("ds", (m, al, th, tw, n, f))
        tmp = self.buf.get("t5", dy.shape[2:])
        for i in range(m):
            mix(A, list(dy[i]), ds[i], tmp)
        dm = self.buf.get("dM", (al, al, th, tw, n, f))
        mix(A, list(ds), dm, self.buf.get("t6", ds.shape[1:]))
        dm = dm.reshape(al * al, th * tw * n, f)
        # weight gradient: dU = V^T dM (per position), dg = G^T dU G
        du = np.matmul(self.V.transpose(0, 2, 1), dm, out=self.buf.get("dU", self.U.shape))
        self.grads["weight"][...] = filter_transform_backward(a, du.reshape(al, al, *du.shape[1:]))
        if not self.input_grad:
            return None
        # input gradient: dV = dM U^T, dd = B dV B^T, added back where each tile was read
        c = self.U.shape[1]
        dv = np.matmul(dm, self.U.transpose(0, 2, 1), out=self.buf.get("dV", self.V.shape))
        dv = dv.reshape(al, al, th, tw, n, c)
        B = a.BT.T
        drows = self.buf.get("drows", (al, th, self.wp, n, c))
        drows.fill(0)
        tmp = self.buf.get("t7", dv.shape[2:])
        for i in range(al):  # the column stage's transpose: overlapping columns add up
            mix(B, list(dv[i]), [drows[i][:, j : j + m * tw : m] for j in range(al)], tmp, True)
        dxp = self.buf.get("dxp", (self.hp, self.wp, n, c))
        dxp.fill(0)
        dst = [dxp[i : i + m * th : m] for i in range(al)]  # the row stage's transpose
        mix(B, list(drows), dst, self.buf.get("t8", drows.shape[1:]), True)
        h, w, _ = self.in_shape
        dx = self.buf.get("dx", (n, h, w, c))
        np.copyto(dx, dxp[p : p + h, p : p + w].transpose(2, 0, 1, 3))
        return dx


# --------------------------------------------------------------------------- the choice

# Which algorithm runs each convolution (*speed: fast convolutions*): Winograd where it
# measured faster than im2col for layers of that shape, im2col otherwise.  The measurements
# behind each rule are in docs/numpy-fast-convolutions.md.  In short: the batched products
# get 2.25x (F(2x2,3x3)) or 4x (F(4x4,3x3)) fewer multiplications, but numpy pays for the
# transforms in passes over memory, so the saving shows only where the products dominate,
# i.e. with many channels; with one input channel (a first layer) the product is an outer
# product and the transforms are all the work.
# Off by default, for equivalence on real data: a Winograd layer computes the outputs of a
# tile as different sums of rounded terms, so identical input patches (the blank or
# saturated areas of real digits) no longer give exactly equal outputs.  A max-pool window
# that is an exact tie in every other backend (its gradient to the first maximum) then
# becomes a near-tie decided by rounding, and a training run drifts away from the other
# backends' (tests/test_real_data_equivalence.py fails with it on).  True: the choice below.
ENABLED = False
MIN_CHANNELS = 32  # fewer input channels: the transforms cost more than they save


def algorithm_for(layer, in_shape, pool: int) -> Algorithm | None:
    """The Winograd algorithm for a conv layer of this shape, or None for im2col."""
    if not ENABLED or layer.stride != 1 or layer.kernel != 3 or in_shape[2] < MIN_CHANNELS:
        return None
    if pool == 2:  # F(2x2)'s output tiles are the pool's windows
        return F2_3
    if pool == 1 and in_shape[2] >= 96:
        return F4_3
    return None


def direct_flops(n: int, oh: int, ow: int, k: int, c: int, f: int) -> float:
    """Multiply-adds x 2 of the direct convolution (the effective-GFLOP/s numerator)."""
    return 2.0 * n * oh * ow * k * k * c * f
