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

Backward.  The weight gradient takes the transpose of each forward stage, in reverse
(every stage is linear): ``dM = A dY A^T``, ``dU = V^T dM`` per position (from the kept
input tiles ``V``), ``dg = G^T dU G``.  The input gradient is itself a correlation, of the
output gradient zero-padded by ``k - 1 - p`` with the kernel flipped in both spatial axes
and its channel axes swapped (the textbook form), so it runs through the *forward*
transforms: ``B^T`` on the padded gradient's tiles, ``G`` on the flipped kernel, ``A^T``
into the input gradient's tiles, each pixel written once (the transposed stages,
``B dV B^T``, would instead add overlapping tiles back into place, more passes over memory).

Which of a layer's three products (the forward pass, the weight gradient, the input
gradient) run by Winograd is chosen per layer (:func:`choice_for`); never the forward pass,
which must keep exact ties exact (see there).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mnist_nets.backends import numpy_layers as nl

# The three products of a convolution's training step that a Winograd layer may compute.
PASSES = ("forward", "weight", "input")


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
    """``U = G g G^T`` for a ``(r, r, C, F)`` kernel: ``(alpha, alpha, C, F)``, as two matrix
    products over all ``C x F`` channel pairs at once: ``rows[i] = (G g)[i]``, then
    ``U[i, j] = sum_l G[j, l] rows[i, l]``, i.e. ``G @ rows[i]`` for every ``i``."""
    G = a.G.astype(w.dtype)
    r, c, f = w.shape[1:]
    rows = (G @ w.reshape(r, r * c * f)).reshape(a.alpha, r, c * f)
    return np.matmul(G, rows).reshape(a.alpha, a.alpha, c, f)


def filter_transform_backward(a: Algorithm, du: np.ndarray) -> np.ndarray:
    """``dg = G^T dU G``: the adjoint of :func:`filter_transform`, ``(r, r, C, F)``."""
    G = a.G.astype(du.dtype)
    al, c, f = a.alpha, du.shape[2], du.shape[3]
    rows = np.matmul(G.T, du.reshape(al, al, c * f))  # rows[i] = G^T dU[i]: (alpha, r, C*F)
    return (G.T @ rows.reshape(al, a.r * c * f)).reshape(a.r, a.r, c, f)


class WinogradConv2DLayer(nl.Conv2DLayer):
    """:class:`~mnist_nets.backends.numpy_layers.Conv2DLayer` (stride 1, padding below the
    kernel size) with some of its three products computed by Winograd's F(m x m, r x r): the
    same outputs, parameters, gradients and output layouts (also fused with a following
    ``q x q`` max-pool, when ``q`` divides ``m``), up to rounding.  Which products, by
    ``passes`` (a nonempty subset of :data:`PASSES`):

    * ``"forward"``: the output ``y``; else im2col's patch matrix and one product;
    * ``"weight"``: the weight and bias gradients; else im2col's ``P^T G``;
    * ``"input"``: the input gradient; else im2col's col2im.

    A correlation is cut into ``th x tw`` output tiles of ``m x m`` pixels (the last ones
    reach past the edge: those pixels are computed from zeros and dropped); tile ``(u, v)``
    reads the ``alpha x alpha`` window at ``(m*u, m*v)`` of a zero-padded input, padded
    below and to the right as well, so that every window is whole.  The forward pass
    correlates the input ``x`` (padded by ``p``) with the kernel; the input gradient is the
    correlation of the output gradient (padded by ``k - 1 - p``) with the kernel flipped
    in both spatial axes and its channel axes swapped, through the same transforms.

    Inside, activations are laid out ``(H, W, N, C)`` (*speed: long inner loops*): a
    transform combines rows or columns ``m`` apart, i.e. slices of the two outer axes, so
    each numpy operation runs over whole ``N x C`` blocks instead of ``C`` channels at a
    time; and the tiles ``(u, v, n)`` of a position are then one ``(T, C)`` matrix for BLAS.
    """

    def __init__(self, *args, algorithm: Algorithm, passes=PASSES, **kwargs):
        super().__init__(*args, **kwargs)
        a = self.a = algorithm
        fits = self.s == 1 and self.k == a.r and a.m % self.pool == 0 and self.p < self.k
        if not fits:
            raise ValueError(
                f"{a.name} does not fit a {self.k}x{self.k} stride-{self.s} conv "
                f"with padding {self.p}"
            )
        self.passes = frozenset(passes)
        if not self.passes or not self.passes <= set(PASSES):
            raise ValueError(f"passes must be a nonempty subset of {PASSES}, got {passes}")
        m, r = a.m, a.r
        h, w, _ = self.in_shape
        # the forward correlation: tiles of the output, the input padded by p (and at least
        # the whole padded image: the last rows or columns may feed only dropped pixels)
        self.th, self.tw = -(-self.oh // m), -(-self.ow // m)
        self.hp = max(self.th * m + r - 1, h + 2 * self.p)
        self.wp = max(self.tw * m + r - 1, w + 2 * self.p)
        # the input gradient's: tiles of the input, the output gradient padded by k - 1 - p
        self.gth, self.gtw = -(-h // m), -(-w // m)
        self.ghp = max(self.gth * m + r - 1, self.k - 1 - self.p + self.oh)
        self.gwp = max(self.gtw * m + r - 1, self.k - 1 - self.p + self.ow)

    def _slots(self, y, q: int):
        """For each output tile position ``(i, j)``, the view of ``y`` it fills, as
        ``(rows, cols, N, F)``: the pixels ``(m*u + i, m*v + j)`` of every tile ``(n, u, v)``
        inside the image, in ``y``'s layout (plain ``(N, H, W, F)`` for ``q == 1``, else in
        the pooling phases of a ``q x q`` pool)."""
        m = self.a.m
        for i in range(m):
            for j in range(m):
                if q == 1:
                    view = y[:, i::m, j::m]
                else:  # pixel (m*u + i) is pooled row (m/q)*u + i//q in phase i % q
                    view = y[(i % q) * q + j % q][:, i // q :: m // q, j // q :: m // q]
                yield i, j, view.transpose(1, 2, 0, 3)

    # -- the two halves of a Winograd correlation

    def _tiles(self, xp, th: int, tw: int, key: str) -> np.ndarray:
        """``V = B^T d B`` for the ``th x tw`` tiles ``d`` of ``xp``, a padded input laid out
        ``(H, W, N, C)``: ``(alpha**2, th*tw*N, C)``, rows then columns, on strided views (no
        tile is copied out first)::

            rows[i][u] = sum_l BT[i, l] xp[m*u + l]              for every tile row u
            V[i, j][u, v] = sum_l BT[j, l] rows[i][u, m*v + l]
        """
        a = self.a
        m, al = a.m, a.alpha
        n, c = xp.shape[2:]
        rows = self.buf.get(key + "rows", (al, th, xp.shape[1], n, c))
        tmp = self.buf.get(key + "t1", rows.shape[1:])
        mix(a.BT, [xp[i : i + m * th : m] for i in range(al)], rows, tmp)
        v = self.buf.get(key + "V", (al, al, th, tw, n, c))
        tmp = self.buf.get(key + "t2", v.shape[2:])
        for i in range(al):
            mix(a.BT, [rows[i][:, j : j + m * tw : m] for j in range(al)], v[i], tmp)
        return v.reshape(al * al, th * tw * n, c)

    def _untile(self, mm, th: int, tw: int, slots, key: str) -> None:
        """``Y = A^T M A`` for the products ``mm`` of every tile position, ``(alpha**2,
        th*tw*N, F)``: rows, then columns straight into the output ``slots`` (from
        :meth:`_slots`), so each output pixel is written once."""
        a = self.a
        m, al = a.m, a.alpha
        f = mm.shape[2]
        mm = mm.reshape(al, al, th, tw, -1, f)
        s = self.buf.get(key + "s", (m, *mm.shape[1:]))
        mix(a.AT, list(mm), s, self.buf.get(key + "t3", s.shape[1:]))
        for i, j, view in slots:
            nr, nc = view.shape[:2]
            mix(a.AT[j : j + 1], [t[:nr, :nc] for t in s[i]], [view])

    # -- forward

    def forward(self, x, training):
        self.n = n = len(x)
        p = self.p
        h, w, c = self.in_shape
        if self.passes & {"forward", "weight"}:  # both need the input tiles V
            # xp: (H, W, N, C), p zeros on top and left, more below and right for whole tiles
            xp = self.buf.get("xt", (self.hp, self.wp, n, c), init=nl._zeros)  # borders stay 0
            np.copyto(xp[p : p + h, p : p + w], x.transpose(1, 2, 0, 3))
            self.V = self._tiles(xp, self.th, self.tw, "x")
        if "forward" not in self.passes:  # im2col (see choice_for for why)
            return super().forward(x, training)
        if "weight" not in self.passes:  # im2col's weight gradient needs the patch matrix
            self.P = self._patches(x)
        a = self.a
        al, f = a.alpha, self.wb.shape[1]
        # U = G g G^T, then one matrix product per tile position: M = V U, then Y = A^T M A
        u = filter_transform(a, self.params["weight"]).reshape(al * al, c, f)
        mm = np.matmul(self.V, u, out=self.buf.get("M", (al * al, self.V.shape[1], f)))
        y = self.buf.get("y", self._out_shape(n, f))
        self._untile(mm, self.th, self.tw, self._slots(y, self.pool), "y")
        y += self.params["bias"]
        return y

    def _out_shape(self, n, f):
        q = self.pool
        if q == 1:
            return (n, self.oh, self.ow, f)
        return (q * q, n, self.oh // q, self.ow // q, f)

    # -- backward

    def backward(self, g):
        f = self.wb.shape[1]
        if "weight" in self.passes:
            np.sum(g.reshape(-1, f), axis=0, out=self.grads["bias"])  # y = ... + b
            self._weight_gradient(g)
        else:  # im2col: dL/d[W; b] = P^T G
            nl.weight_gradient(self.P, g.reshape(-1, f), self.dwb, self.transposed, self.buf)
        if not self.input_grad:
            return None
        if "input" not in self.passes:
            return self._col2im(g)
        return self._input_gradient(g)

    def _weight_gradient(self, g) -> None:
        """The transposes of the forward stages, from the output gradient ``g`` (``y``'s
        layout) back to the filter: ``dM = A dY A^T``, ``dU = V^T dM`` per tile position,
        ``dg = G^T dU G``."""
        a, n = self.a, self.n
        m, al = a.m, a.alpha
        f = self.wb.shape[1]
        th, tw = self.th, self.tw
        # dY tiles gathered from g (pixels past the edge have no gradient: they stay 0)
        dy = self.buf.get("dY", (m, m, th, tw, n, f), init=nl._zeros)
        for i, j, view in self._slots(g, self.pool):
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
        c = self.V.shape[2]
        du = np.matmul(self.V.transpose(0, 2, 1), dm, out=self.buf.get("dU", (al * al, c, f)))
        self.grads["weight"][...] = filter_transform_backward(a, du.reshape(al, al, c, f))

    def _input_gradient(self, g) -> np.ndarray:
        """``dL/dx``, as a forward correlation (stride 1)::

            dx[n, y, x, c] = sum_{i, j, f} gp[n, y + i, x + j, f] W[k-1-i, k-1-j, c, f]

        with ``gp`` the output gradient padded by ``k - 1 - p`` zeros on each side: the
        input tiles of ``gp``, the kernel flipped in both spatial axes with its channel
        axes swapped, and the output tiles written straight into ``dx``.  (The same sums as
        the transposes of the forward stages, ``B dV B^T`` added back where the overlapping
        input tiles were read, without the overlapping additions.)"""
        a, n, q = self.a, self.n, self.pool
        al, o = a.alpha, self.k - 1 - self.p
        h, w, c = self.in_shape
        f = self.wb.shape[1]
        # gp: (H, W, N, F), the output gradient at (o, o), zeros around it (never written)
        gp = self.buf.get("gp", (self.ghp, self.gwp, n, f), init=nl._zeros)
        oh, ow = self.oh, self.ow
        if q == 1:
            np.copyto(gp[o : o + oh, o : o + ow], g.transpose(1, 2, 0, 3))
        else:  # from pooling phases: phase (i, j) holds the pixels (q*u + i, q*v + j)
            for i in range(q):
                for j in range(q):
                    dst = gp[o + i : o + oh : q, o + j : o + ow : q]
                    np.copyto(dst, g[i * q + j].transpose(1, 2, 0, 3))
        v = self._tiles(gp, self.gth, self.gtw, "g")
        flipped = np.ascontiguousarray(self.params["weight"][::-1, ::-1])  # (k, k, C, F)
        u = filter_transform(a, flipped).reshape(al * al, c, f).transpose(0, 2, 1)
        mm = np.matmul(v, u, out=self.buf.get("gM", (al * al, v.shape[1], c)))
        dx = self.buf.get("dx", (n, h, w, c))
        self._untile(mm, self.gth, self.gtw, self._slots(dx, 1), "dx")
        return dx


# --------------------------------------------------------------------------- the choice

# Which products of each convolution run by Winograd (*speed: fast convolutions*), by the
# layer's shape, when switched on: where one measured faster than im2col for layers of
# that shape (the measurements are in docs/numpy-fast-convolutions.md), im2col otherwise.
#
# Never the forward pass, for exact ties.  Discrete decisions (ReLU's sign, max-pool's
# winner) are taken in the forward pass only.  im2col computes every output pixel as the
# same dot product of its patch with the kernel, so identical patches (the blank or
# saturated areas of real digits) give bitwise identical outputs, and a max-pool window
# over them is an exact tie, which every backend routes to its first element
# (docs/conventions.md).  A Winograd tile computes its m x m outputs as different sums of
# rounded terms: F(4x4,3x3)'s data transform of a constant tile, 4a - 5a + a, is not
# exactly 0 in float32, so identical patches give outputs a rounding apart and a tie
# becomes a near-tie (tests/test_winograd.py::test_identical_patches_give_identical_outputs).
# The backward passes decide nothing: their rounding moves gradients by float32 error only.
#
# Where the backward passes pay: the batched products do 2.25x (F(2x2,3x3)) fewer
# multiplications, but numpy pays for the transforms in separate passes over memory, so
# the saving shows only where the products dominate, with many channels on both sides and
# no max-pool (whose phase layout costs a gather).  Of the registered networks only
# AlexNet's conv4 (96 -> 96 channels, 7x7) gained, on its input gradient, about 3 % of
# the layer's time; its weight gradient, and every other layer, measured a tie or a loss.
#
# Off by default: a gain of about 2 % of AlexNet's training step is inside the spread of
# the rounds, and im2col is the reference.  (Its rounding moves AlexNet's 24-step real-data
# update by 0.16, as OpenBLAS's AVX2 kernels do: within that test's bound, see
# docs/conventions.md.)
ENABLED = False  # True: the choice below; False: im2col for every product of every layer
MIN_CHANNELS = 96  # on each side of the layer, for the input gradient


def choice_for(layer, in_shape, pool: int) -> tuple[Algorithm, frozenset] | None:
    """``(algorithm, passes)`` for a conv layer of this shape (``passes`` a subset of
    :data:`PASSES`, never ``"forward"``: see above), or None for im2col throughout."""
    if not ENABLED or layer.stride != 1 or layer.kernel != 3 or layer.padding >= 3:
        return None
    if pool == 1 and min(in_shape[2], layer.filters) >= MIN_CHANNELS:
        return F2_3, frozenset({"input"})
    return None


def direct_flops(n: int, oh: int, ow: int, k: int, c: int, f: int) -> float:
    """Multiply-adds x 2 of the direct convolution (the effective-GFLOP/s numerator)."""
    return 2.0 * n * oh * ow * k * k * c * f
