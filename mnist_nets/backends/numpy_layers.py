"""The numpy backend's mathematics, by hand: every layer's forward and backward pass side by side,
the two losses and the SGD update.  No autograd: each ``backward`` is the chain rule written out.

Conventions
-----------
* Activations are NHWC, parameters canonical (see :mod:`mnist_nets.specs`).
* ``forward(x, training)`` keeps what its ``backward`` needs; ``backward(g)`` takes
  ``g = dL/dy`` (same shape as the output ``y``), fills the layer's parameter gradients
  and returns ``dL/dx``, or ``None`` when ``input_grad`` is off (no parameter lies before
  the layer, so nobody needs it: that skips the costliest product of the first conv layer).
* Arrays a layer returns live in buffers it reuses from one batch to the next (fresh
  allocations of a few MB each cost page faults on every batch); they stay valid until the
  layer's next call, which is all the training step needs.  The backend copies what
  leaves it.
* Everything runs in the model's dtype (float32 for training, float64 for gradient
  checks); no operation upcasts.

Speed, in one paragraph: a convolution is three large float32 matrix products (im2col,
built with stride tricks and a single copy; a column of ones in the patch matrix carries
the bias, so its gradient comes out of the weight-gradient product for free); max pooling
remembers which window element won and routes the gradient there with a handful of
whole-array operations, no Python loop over pixels; a convolution followed by a
non-overlapping max-pool writes its output in the order the pool reads as contiguous
blocks (a first layer with one channel and few filters runs as a banded product instead:
:mod:`mnist_nets.backends.banded`).  (The backend also runs a ReLU that precedes a
max-pool after it instead: they commute, and the pooled map is smaller.)  numpy runs its
element-wise work on one core, so a training batch with enough work runs as two halves side
by side, each through its own set of layers, the second in a forked process (:func:`step_in_halves`,
:mod:`mnist_nets.backends.numpy_process`).  The SGD update is bound by memory,
so it makes as few passes over the parameters as it can: the learning rate rides in the
gradient (:func:`sgd_folded_step`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist_nets import dropout, specs


class Buffers:
    """Named arrays reused across batches; one is reallocated only when its shape changes."""

    def __init__(self, dtype: np.dtype):
        self.dtype = np.dtype(dtype)
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=None, init=None) -> np.ndarray:
        """The buffer ``name`` of ``shape``: uninitialised, or set by ``init(array)`` when
        it is (re)allocated (e.g. zero borders that later writes never touch)."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = np.empty(shape, dtype)
            if init is not None:
                init(a)
            self._arrays[name] = a
        return a


def _zeros(a: np.ndarray) -> None:
    a.fill(0)


# --------------------------------------------------------------------------- layers


class Layer:
    """A layer: ``params``/``grads`` map local names ("weight", "bias") to arrays."""

    def __init__(self, name: str, in_shape, out_shape, dtype, input_grad: bool):
        self.name = name
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.input_grad = input_grad
        self.buf = Buffers(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, g: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError


class DenseLayer(Layer):
    """``y = x @ W + b`` with ``W`` of shape ``(in, out)``."""

    # *Speed: GEMM operand order* (see weight_gradient): a weight gradient of many inputs
    # and a few outputs over a long batch, x^T g with g of width <= NARROW_OUT, runs
    # faster as (g^T x)^T.  Measured on one core of the 2-core AMD EPYC (OpenBLAS's
    # AVX-512 kernels), 784 inputs and 10 outputs: 1,024 rows 416 -> 349 us, 512 rows 223
    # -> 174 us; 16 or more outputs, or 256 inputs, no faster.  The seed recipe's full
    # batch runs in blocks of 1,024 rows (FULL_BATCH_BLOCK): perceptron, ten steps 0.418
    # -> 0.396 s.  Batches of 128 on two BLAS threads (the standard recipe) measured
    # slower (0.152 -> 0.161 s an epoch), so they keep x^T g.
    NARROW_OUT, WIDE_IN, LONG_BATCH = 12, 512, 512

    def __init__(self, name, in_shape, out_shape, dtype, input_grad, weight, bias, dw, db):
        super().__init__(name, in_shape, out_shape, dtype, input_grad)
        self.params = {"weight": weight, "bias": bias}
        self.grads = {"weight": dw, "bias": db}
        self.narrow = out_shape[0] <= self.NARROW_OUT and in_shape[0] >= self.WIDE_IN

    def forward(self, x, training):
        self.x = x
        y = np.matmul(x, self.params["weight"], out=self.buf.get("y", (len(x), self.out_shape[0])))
        y += self.params["bias"]
        return y

    def backward(self, g):
        # dL/dW = x^T g;  dL/db = sum over the batch of g;  dL/dx = g W^T
        if self.narrow and len(g) >= self.LONG_BATCH:
            weight_gradient(self.x, g, self.grads["weight"], False, self.buf)  # (g^T x)^T
        else:
            np.matmul(self.x.T, g, out=self.grads["weight"])
        np.sum(g, axis=0, out=self.grads["bias"])
        if not self.input_grad:
            return None
        w = self.params["weight"]
        return np.matmul(g, w.T, out=self.buf.get("dx", (len(g), w.shape[0])))


class Conv2DLayer(Layer):
    """Cross-correlation of NHWC ``x`` with a ``(k, k, C, F)`` kernel, stride ``s``,
    symmetric zero padding ``p``:

        y[n, u, v, f] = b[f] + sum_{i, j, c} xp[n, s*u + i, s*v + j, c] * W[i, j, c, f]

    where ``xp`` is ``x`` padded with ``p`` zeros on each side.  As matrices (im2col): with
    ``P`` the patch matrix, one row per output pixel ``(n, u, v)`` and one column per
    ``(i, j, c)`` plus a column of ones, ``y = P @ [W; b]`` with ``W`` reshaped to
    ``(k*k*C, F)``; ``wb`` below is that ``(k*k*C + 1, F)`` matrix, and the canonical
    weight and bias are views of it.

    Fused with a following non-overlapping ``q x q`` max-pool (``pool=q``), the rows of ``P``
    (and so of ``y``) are ordered by pooling phase, ``(a, b, n, u', v')`` for the pixel
    ``(u, v) = (q*u' + a, q*v' + b)``: ``y`` then has shape ``(q*q, N, OH//q, OW//q, F)``
    and each window element is one contiguous block for :class:`MaxPool2DLayer`.  Pixels
    the pool drops (an odd edge) are not computed at all.
    """

    def __init__(
        self, name, in_shape, out_shape, dtype, input_grad, layer: specs.Conv2D, wb, dwb, pool=1
    ):
        super().__init__(name, in_shape, out_shape, dtype, input_grad)
        self.k, self.s, self.p, self.pool = layer.kernel, layer.stride, layer.padding, pool
        c = in_shape[2]
        self.wb, self.dwb = wb, dwb  # (K + 1, F), K = k*k*C
        K, F = wb.shape[0] - 1, wb.shape[1]
        self.params = {"weight": wb[:K].reshape(self.k, self.k, c, F), "bias": wb[K]}
        self.grads = {"weight": dwb[:K].reshape(self.k, self.k, c, F), "bias": dwb[K]}
        oh, ow, _ = out_shape
        self.oh, self.ow = oh // pool * pool, ow // pool * pool  # the pixels computed
        # With one input channel, a patch-matrix *column* is a whole image shifted, so the
        # transposed layout (K + 1, M) copies long runs; otherwise rows of (i, j, c) copy
        # runs of C contiguous channels.
        self.transposed = c == 1

    def _padded(self, x):
        p = self.p
        if p == 0:
            return x
        n, h, w, c = x.shape
        xp = self.buf.get("xp", (n, h + 2 * p, w + 2 * p, c), init=_zeros)  # borders stay 0
        xp[:, p : p + h, p : p + w] = x
        return xp

    def _pixels(self, n: int) -> tuple[int, ...]:
        """The shape of the output-pixel axes, in the order of the rows of ``P``."""
        q = self.pool
        if q == 1:
            return (n, self.oh, self.ow)
        return (q, q, n, self.oh // q, self.ow // q)

    def _patches(self, x) -> np.ndarray:
        """The patch matrix ``P`` (M, K + 1) for NHWC ``x``: one copy through a strided view."""
        k, s, q = self.k, self.s, self.pool
        n, c = len(x), x.shape[3]
        # windows[n, u, v, c, i, j] = xp[n, s*u + i, s*v + j, c]: a view, nothing copied yet
        windows = sliding_window_view(self._padded(x), (k, k), axis=(1, 2))
        windows = windows[:, : s * self.oh : s, : s * self.ow : s].transpose(0, 1, 2, 4, 5, 3)
        if q > 1:  # (n, q*u' + a, q*v' + b, ...) -> (a, b, n, u', v', ...)
            windows = windows.reshape(n, self.oh // q, q, self.ow // q, q, k, k, c)
            windows = windows.transpose(2, 4, 0, 1, 3, 5, 6, 7)
        pixels = self._pixels(n)
        m, K = math.prod(pixels), k * k * c
        if self.transposed:
            pt = self.buf.get("pt", (K + 1, m), init=lambda a: a[K].fill(1))
            axes = (*range(-3, 0), *range(len(pixels)))  # patch axes first
            np.copyto(pt[:K].reshape(k, k, c, *pixels), windows.transpose(axes))
            return pt.T
        pm = self.buf.get("p", (m, K + 1), init=lambda a: a[:, K].fill(1))
        np.copyto(pm[:, :K].reshape(*pixels, k, k, c), windows)
        return pm

    def forward(self, x, training):
        self.n = n = len(x)
        self.P = self._patches(x)
        y = np.matmul(self.P, self.wb, out=self.buf.get("y", (self.P.shape[0], self.wb.shape[1])))
        if self.pool > 1:  # (q*q, N, OH/q, OW/q, F): block a*q + b is phase (a, b)
            return y.reshape(self.pool**2, n, self.oh // self.pool, self.ow // self.pool, -1)
        return y.reshape(n, self.oh, self.ow, -1)

    def phases(self, a: np.ndarray) -> list[np.ndarray]:
        """The fused pool's ``q*q`` window elements of an array in this layer's output
        layout (its output, or its gradient), each shaped as the pooled map."""
        return list(a)

    def to_nhwc(self, a: np.ndarray) -> np.ndarray:
        """An array in this layer's output layout as plain ``(N, OH, OW, F)`` (a copy when
        fused with a pool): for tests and for reading, not for the training step."""
        if self.pool == 1:
            return a
        q, f = self.pool, self.wb.shape[1]
        elements = self.phases(a)
        out = np.empty((len(elements[0]), self.oh, self.ow, f), a.dtype)
        for o, e in enumerate(elements):
            i, j = divmod(o, q)
            out[:, i::q, j::q] = e.reshape(len(e), self.oh // q, self.ow // q, f)
        return out

    def backward(self, g):
        # With G = dL/dy as an (M, F) matrix:  dL/d[W; b] = P^T G  (the ones column gives
        # dL/db = sum of G over pixels);  dL/dP = G W^T, and dL/dx adds each patch entry's
        # gradient back where it was copied from (col2im), one window offset (i, j) at a time:
        #   dL/dxp[n, s*u + i, s*v + j, :] += G[(n, u, v), :] @ W[i, j].T
        f = self.wb.shape[1]
        weight_gradient(self.P, g.reshape(-1, f), self.dwb, self.transposed, self.buf)
        if not self.input_grad:
            return None
        return self._col2im(g)

    def _col2im(self, g):
        """``dL/dx`` from ``g = dL/dy`` (in ``y``'s layout): ``dL/dP = G W^T``, each patch
        entry's gradient added back where it was copied from."""
        n, f, q = self.n, self.wb.shape[1], self.pool
        k, s, p = self.k, self.s, self.p
        h, w, c = self.in_shape
        oh, ow = self.oh, self.ow
        if q > 1:  # rows back from pooling-phase order to (n, u, v)
            gn = self.buf.get("g", (n, oh // q, q, ow // q, q, f))
            np.copyto(gn, g.reshape(q, q, n, oh // q, ow // q, f).transpose(2, 3, 0, 4, 1, 5))
            g = gn
        g2 = g.reshape(n * oh * ow, f)
        dxp = self.buf.get("dxp", (n, h + 2 * p, w + 2 * p, c))
        dxp.fill(0)
        w4 = self.params["weight"]
        dpatch = self.buf.get("dpatch", (n * oh * ow, c))
        for i in range(k):
            for j in range(k):
                np.matmul(g2, w4[i, j].T, out=dpatch)
                dst = dxp[:, i : i + s * oh : s, j : j + s * ow : s]
                np.add(dst, dpatch.reshape(n, oh, ow, c), out=dst)
        return dxp[:, p : p + h, p : p + w] if p else dxp


def weight_gradient(P, G, out, transposed: bool, buf: Buffers) -> None:
    """``out = P^T G``, the weight (and bias) gradient of a convolution (or of a dense layer
    with few outputs, ``P`` its input), in the operand order
    BLAS runs fastest (*speed: GEMM operand order*; the plain version is
    ``tests/numpy_reference.py::weight_gradient``).

    BLAS is fastest when the long pixel axis ``M`` is the inner dimension of both operands
    in memory.  A patch matrix stored transposed (``P = pt.T`` with ``pt`` of shape
    ``(K + 1, M)``, one input channel) already has it so: ``pt @ G`` is written straight
    into ``out``.  Otherwise ``P`` is ``(M, K + 1)`` row-major and ``(G^T P)^T`` is faster
    than ``P^T G``: the same sums, transposed once at the end.
    """
    if transposed:
        np.matmul(P.T, G, out=out)
        return
    out_t = np.matmul(G.T, P, out=buf.get("dwb_t", out.T.shape))
    out[...] = out_t.T


class MaxPool2DLayer(Layer):
    """``y[n, u, v, c] = max_{i, j < k} x[n, s*u + i, s*v + j, c]`` (no padding, floor).

    Fused with the convolution before it (``phases``, that layer's :meth:`Conv2DLayer.phases`):
    the input is the convolution's output in its own layout, ``phases(x)`` its ``k*k``
    window elements, each in contiguous blocks (phase layout); the input gradient is
    returned in that layout too.
    """

    def __init__(
        self, name, in_shape, out_shape, dtype, input_grad, layer: specs.MaxPool2D, phases=None
    ):
        super().__init__(name, in_shape, out_shape, dtype, input_grad)
        self.k, self.s, self.phases = layer.size, layer.stride, phases
        self.phased = phases is not None

    def _window_views(self, a):
        """``a[:, s*u + i, s*v + j]`` over all (u, v), for each window offset (i, j) in row-major
        order: k*k strided views of the pooled shape."""
        k, s = self.k, self.s
        oh, ow, _ = self.out_shape
        return [a[:, i : i + s * oh : s, j : j + s * ow : s] for i in range(k) for j in range(k)]

    def forward(self, x, training):
        kk = self.k * self.k
        if self.phased:  # computed in the elements' shape, returned as (N, OH, OW, C)
            self.x_shape = x.shape
            elements = self.phases(x)
            out = self.buf.get("y", (len(elements[0]), *self.out_shape))
            y = out.reshape(elements[0].shape)
        else:
            elements = self._window_views(x)
            y = out = self.buf.get("y", (len(x), *self.out_shape))
        shape = y.shape
        if kk == 1:
            np.copyto(y, elements[0])
        else:
            np.maximum(elements[0], elements[1], out=y)
        for e in elements[2:]:
            np.maximum(y, e, out=y)
        # won[o]: window element o is the maximum, and the first one (as torch and TF choose)
        self.won = won = self.buf.get("won", (kk, *shape), np.bool_)
        taken = self.buf.get("taken", shape, np.bool_)
        np.equal(elements[0], y, out=won[0])
        np.copyto(taken, won[0])
        for o in range(1, kk - 1):
            np.equal(elements[o], y, out=won[o])
            np.greater(won[o], taken, out=won[o])  # a > b is a and not b
            np.logical_or(taken, won[o], out=taken)
        if kk > 1:
            np.logical_not(taken, out=won[kk - 1])
        return out

    def backward(self, g):
        # dL/dx[n, s*u + i, s*v + j, c] = sum of g over the windows (u, v) that (i, j) won
        n = len(g)
        if self.phased:
            dx = self.buf.get("dx", self.x_shape)
            g = g.reshape(self.won.shape[1:])
            for o, dst in enumerate(self.phases(dx)):
                np.multiply(g, self.won[o], out=dst)
            return dx
        h, w, _ = self.in_shape
        oh, ow, _ = self.out_shape
        dx = self.buf.get("dx", (n, *self.in_shape))
        tiles = self.s == self.k and oh * self.k == h and ow * self.k == w
        if not tiles:
            dx.fill(0)
        for o, dst in enumerate(self._window_views(dx)):
            if self.s == self.k:  # windows do not overlap: each element of dx is written once
                np.multiply(g, self.won[o], out=dst)
            else:
                dst += g * self.won[o]
        return dx


class ReLULayer(Layer):
    """``y = max(x, 0)``."""

    def forward(self, x, training):
        self.mask = np.greater(x, 0, out=self.buf.get("mask", x.shape, np.bool_))
        return np.multiply(x, self.mask, out=self.buf.get("y", x.shape))

    def backward(self, g):
        # dL/dx = g where x > 0, else 0 (the subgradient 0 at x = 0, as torch and TF use)
        return np.multiply(g, self.mask, out=self.buf.get("dx", g.shape))


class FlattenLayer(Layer):
    """``(N, H, W, C) -> (N, H*W*C)`` in H, W, C order: a reshape of NHWC."""

    def forward(self, x, training):
        return x.reshape(len(x), -1)

    def backward(self, g):
        # a reshape moves no value: dL/dx is dL/dy reshaped back
        return g.reshape(len(g), *self.in_shape)


class CropLayer(Layer):
    """``y[n, u, v, c] = x[n, b + u, b + v, c]``: the middle of the image, ``b`` pixels off
    each side.  The output is a view of the input (no copy; the convolution after it reads
    it through a strided view anyway)."""

    def __init__(self, name, in_shape, out_shape, dtype, input_grad, border):
        super().__init__(name, in_shape, out_shape, dtype, input_grad)
        self.b = border

    def forward(self, x, training):
        b = self.b
        return x[:, b : x.shape[1] - b, b : x.shape[2] - b]

    def backward(self, g):
        # dL/dx is dL/dy in the middle and 0 on the border the crop dropped
        if not self.input_grad:
            return None
        b, (h, w, _) = self.b, self.in_shape
        dx = self.buf.get("dx", (len(g), *self.in_shape), init=_zeros)  # the border stays 0
        dx[:, b : h - b, b : w - b] = g
        return dx


class DropoutLayer(Layer):
    """Inverted dropout: in training ``y = x * m / (1 - rate)`` with the mask ``m`` of
    :func:`mnist_nets.dropout.keep_mask` for the model's seed and step (``clock.seed``,
    ``clock.dropout_step``), this layer's index in the spec and the batch rows this layer
    sees (from ``first_row``, set by whoever runs part of a batch through it); at
    inference ``y = x``."""

    def __init__(self, name, in_shape, out_shape, dtype, input_grad, rate, index, clock):
        super().__init__(name, in_shape, out_shape, dtype, input_grad)
        self.rate, self.index, self.clock = rate, index, clock
        # 1 / (1 - rate) in the model's dtype: in float32, dropout.scale(rate) exactly
        self.scale = self.buf.dtype.type(1 / (1 - rate))
        self.first_row = 0  # the batch row of this layer's first input row
        self.keep = None  # the mask m of the last training forward pass

    def forward(self, x, training):
        if not training or self.rate == 0:
            self.keep = None
            return x
        clock = self.clock
        self.keep = dropout.keep_mask(
            clock.seed, clock.dropout_step, self.index, x.shape, self.rate, self.first_row
        )
        y = np.multiply(x, self.keep, out=self.buf.get("y", x.shape))
        y *= self.scale
        return y

    def backward(self, g):
        # dL/dx = g * m / (1 - rate): the same mask and scale as the forward pass
        if self.keep is None:
            return g
        dx = np.multiply(g, self.keep, out=self.buf.get("dx", g.shape))
        dx *= self.scale
        return dx


# --------------------------------------------------------------------------- losses


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Batch mean of ``-log softmax(z)[y] = logsumexp(z) - z[y]`` and its gradient
    ``dL/dz = (softmax(z) - onehot(y)) / N``.  Log-sum-exp subtracts the row maximum first,
    so ``exp`` never overflows.  With label ``smoothing`` ``e`` the target is
    ``(1 - e) onehot(y) + e / 10``: the loss ``logsumexp(z) - (1 - e) z[y] - e mean(z)``
    (the row maximum cancels from it too), the gradient ``(softmax(z) - target) / N``."""
    n = len(logits)
    rows = np.arange(n)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    total = e.sum(axis=1, keepdims=True)
    grad = e / total
    if smoothing:
        keep = 1 - smoothing
        picked = keep * z[rows, labels] + smoothing * z.mean(axis=1)
        loss = float(np.mean(np.log(total[:, 0]) - picked))
        grad[rows, labels] -= grad.dtype.type(keep)
        grad -= grad.dtype.type(smoothing / z.shape[1])
    else:
        loss = float(np.mean(np.log(total[:, 0]) - z[rows, labels]))
        grad[rows, labels] -= 1
    grad /= n
    return loss, grad


def mean_squared_error(outputs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over the batch and the 10 outputs of ``(o - onehot(y))**2``; its gradient is
    ``dL/do = 2 (o - onehot(y)) / (N * 10)``."""
    diff = outputs.copy()
    diff[np.arange(len(outputs)), labels] -= 1
    loss = float(np.mean(np.square(diff)))
    diff *= diff.dtype.type(2 / diff.size)
    return loss, diff


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}


def loss_function(spec: specs.ModelSpec):
    """The spec's loss as ``(logits, labels) -> (loss, dL/dlogits)``, its label smoothing
    bound in."""
    if spec.label_smoothing:
        return functools.partial(softmax_cross_entropy, smoothing=spec.label_smoothing)
    return LOSSES[spec.loss]


# --------------------------------------------------------------------------- optimizer


def sgd_momentum_step(
    params: np.ndarray,
    grads: np.ndarray,
    velocity: np.ndarray,
    lr: float,
    momentum: float,
    scratch: np.ndarray | None = None,
) -> None:
    """``v = momentum * v + grad;  param -= lr * v``, in place, on flat parameter vectors
    (``scratch``, shaped like them, saves allocating ``lr * v``).

    *Speed: plain SGD.*  Without momentum ``v`` is ``grad`` itself (``v`` starts at 0 and
    ``0 * v + grad`` is exactly ``grad``), so the update is ``param -= lr * grad``: two
    passes over the parameters instead of four, the same numbers.
    """
    dtype = params.dtype.type
    if momentum == 0:
        params -= np.multiply(grads, dtype(lr), out=scratch)
        return
    velocity *= dtype(momentum)
    velocity += grads
    params -= np.multiply(velocity, dtype(lr), out=scratch)


def sgd_folded_step(params: np.ndarray, steps: np.ndarray, velocity: np.ndarray, decay) -> None:
    """:func:`sgd_momentum_step` with the learning rate folded in (*speed: the rate in the
    gradient*, see ``NumpyBackend.train_epoch``): ``steps`` is ``lr * grad``, because the
    backward pass started from an output gradient scaled by ``lr`` (it is linear in it), and
    ``velocity`` holds ``u = lr * v``, the velocity in units of a parameter change.  Then
    ``v = momentum * v + grad;  param -= lr * v`` reads::

        u = decay * u + lr * grad      decay = momentum * lr / (the previous step's lr)
        param -= u

    three passes over the parameters instead of four (eight reads and writes of a whole
    vector instead of ten: the update is bound by memory, not arithmetic), and without
    momentum (``decay`` 0) one pass instead of two.  Only the rounding differs from the
    plain update."""
    if decay == 0:
        params -= steps
        return
    velocity *= params.dtype.type(decay)
    velocity += steps
    params -= velocity


# --------------------------------------------------------------------------- batches

# *Speed and memory: inference in chunks.*  Rows are independent at inference, so a large
# batch is run in chunks of at most this many rows: every layer's buffers stay the size of
# a chunk (they are reused, and the activations of a 1,000-image AlexNet batch in one piece
# took about 1 GB) and a chunk's working set stays near the cache.
INFERENCE_CHUNK = 128

# *Speed: the full batch in blocks.*  A training batch that is the whole training set
# (the seed recipe's 60,000 rows) is not copied into shuffled order (a fresh 188 MB array
# on every step took most of the step's time) and is not run in one piece: its gradient
# is summed block by block of this many rows, so that a block's activations are still in
# cache for its backward pass.  The two halves of the rows run side by side, each on its
# own thread with one BLAS thread (*speed: two cores*, ``blocked_step``'s ``run_aside``):
# with two BLAS threads per matrix product, every product paid a thread hand-over, and only
# blocks of 8,192 rows amortised it.  Measured on 60,000 rows, one step, on a 2-core AMD
# EPYC beside another job: perceptron 128-157 ms (one piece at a time, blocks of 8,192) ->
# 72-88 ms (halves, blocks of 512-1,024; 91-107 ms with 2,048); dnn 3.4 -> 2.5-2.8 s.
FULL_BATCH_BLOCK = 1024


def _near_equal_size(n: int, most: int) -> int:
    """The size of near-equal parts of ``n`` rows, at most ``most`` each: ``ceil(n / k)``
    for ``k = ceil(n / most)`` parts (so that the layers' buffers keep one shape)."""
    return -(-n // -(-n // most))


def in_chunks(forward, x: np.ndarray, chunk: int) -> np.ndarray:
    """``forward(x)`` computed on consecutive slices of at most ``chunk`` rows, of near-equal
    size (so the buffers keep one shape), and gathered into a new array (the plain version
    is ``forward(x).copy()``)."""
    n = len(x)
    size = _near_equal_size(n, chunk)
    out = None
    for start in range(0, n, size):
        part = forward(x[start : start + size])
        if out is None:
            out = np.empty((n, *part.shape[1:]), part.dtype)
        out[start : start + len(part)] = part
    return out


def blocked_step(
    model, x: np.ndarray, y: np.ndarray, block: int, run_aside=None, scale: float = 1.0
) -> tuple[float, int]:
    """``model.step(x, y, training=True)`` for a batch of many rows, summed block by block:
    ``(loss, correct)``, and the batch's gradient in ``model.flat_grad``.

    The batch loss is a mean over rows, so its gradient is the sum over blocks ``B`` of the
    gradient of ``sum_{rows in B} loss / N``: each block's output gradient is scaled by
    ``|B| / N`` before its backward pass (``backward`` is linear in it).  Only the order of
    the sums differs from one pass over the whole batch (the plain version,
    ``tests/numpy_reference.py::full_batch_step``), and with it the rounding.

    ``run_aside`` (*speed: two cores*, as in :func:`step_in_halves`): the second half of
    the rows goes block by block through ``model.twin`` on another thread, and the two
    halves' gradients are added at the end.

    ``scale`` multiplies the gradient (the learning rate, where ``train_epoch`` folds it
    in: *speed: the rate in the gradient*).
    """
    n = len(x)
    rows = functools.partial(_blocked_rows, model, block, scale)
    if run_aside is None or n < 2:  # (one row has no halves)
        return rows(_own_side(model), x, y, n)
    return _in_two_halves(model, x, y, run_aside, rows)


def _blocked_rows(
    model, block: int, scale: float, side, x, y, n: int, errors=None, first_row: int = 0
) -> tuple[float, int]:
    """Rows ``x`` of a batch of ``n`` (its rows from ``first_row``, for dropout), block by
    block through ``side.layers`` (None: the model's): their share of the batch's loss,
    their correct count, and their share of its gradient in ``side.flat_grad``
    (``side.scratch``, free, sums the blocks)."""
    flat_grad, acc = side.flat_grad, side.scratch
    rows = len(x)
    block = _near_equal_size(rows, block)
    loss_fn = loss_function(model.spec)
    total_loss, correct = 0.0, 0
    with np.errstate(**(errors or np.geterr())):
        for start in range(0, rows, block):
            xb, yb = x[start : start + block], y[start : start + block]
            logits = model.forward(xb, True, side.layers, first_row + start)
            correct += int(np.count_nonzero(np.argmax(logits, axis=1) == yb))
            loss, g = loss_fn(logits, yb)
            total_loss += loss * len(xb)
            g *= g.dtype.type(scale * len(xb) / n)
            model.backward(g, side.layers)
            if start == 0:
                acc[...] = flat_grad
            elif start + block < rows:
                acc += flat_grad
        if rows > block:  # the last block's gradient is in flat_grad; add the others
            flat_grad += acc
    return total_loss / n, correct


class Twin(NamedTuple):
    """A second set of a model's training layers (the same parameters, their own buffers),
    the gradient vector they fill, and scratch of its size (:func:`_own_side` names the
    model's own in the same way)."""

    layers: list
    flat_grad: np.ndarray
    scratch: np.ndarray


def _own_side(model) -> Twin:
    """The model's own layers (``None`` stands for them), gradient vector and scratch."""
    return Twin(None, model.flat_grad, model.scratch)


# *Speed: two cores.*  numpy's element-wise work (patch copies, pooling, ReLU, sums) runs
# on one core, and only BLAS's matrix products use two.  A training batch with at least
# this many FLOPs of training is therefore split in two halves that run side by side, each
# on its own thread through its own set of layers (numpy lets go of the GIL inside its
# loops), with BLAS held to one thread each.  Measured on a 2-core Intel Xeon, one training
# step: speedrun (batch 256) 34 -> 20 ms, AlexNet (128) 93 -> 66 ms, cnn (64) 9.5 -> 8.2 ms;
# two halves with two BLAS threads each took 50 ms for the speedrun step (the threads fight).
# train_epoch now runs the second half in a forked process instead of on a thread, where
# the halves do not wait for each other's GIL (mnist_nets.backends.numpy_process).
HALVES_MIN_FLOPS = 20e6


def step_in_halves(
    model, x: np.ndarray, y: np.ndarray, run_aside, scale: float = 1.0
) -> tuple[float, int]:
    """``model.step(x, y, training=True)`` as two halves of the batch run side by side:
    ``(loss, correct)``, and the batch's gradient in ``model.flat_grad``.

    The first ``ceil(N / 2)`` rows go through ``model.layers`` on this thread; the others
    through ``model.twin.layers`` by ``run_aside(fn, *args)`` (a thread's or the forked
    child's ``submit``, :class:`numpy_process.SecondProcess`; it returns a
    future).  As in :func:`blocked_step`, each half's output gradient is scaled by its share
    of the rows, so the batch's gradient is the sum of the two halves': only the order of
    the sums differs from one pass (the plain version), and with it the rounding.  The rows
    of the second half take their dropout masks by their row in the whole batch, so the
    masks are those of one pass.  ``scale``
    multiplies the gradient, as in :func:`blocked_step`.
    """
    return _in_two_halves(model, x, y, run_aside, functools.partial(_half_step, model, scale))


def first_half(n: int) -> int:
    """How many of a batch's ``n`` rows the first half takes, ``ceil(n / 2)``; the second
    half (the twin's) takes the other ``n // 2``."""
    return -(-n // 2)


def _in_two_halves(model, x, y, run_aside, half_step) -> tuple[float, int]:
    """The training frame shared by :func:`step_in_halves` and :func:`blocked_step`: the
    halves by :func:`_side_by_side`, each half's gradient in its own side's vector; then the
    twin's gradient is added to the model's.  ``(loss, correct)`` of the whole batch."""
    (loss, correct), (other_loss, other_correct) = _side_by_side(
        model, x, y, run_aside, half_step
    )
    model.flat_grad += model.twin.flat_grad
    return loss + other_loss, correct + other_correct


def forward_in_halves(model, x: np.ndarray, run_aside) -> np.ndarray:
    """Eval-mode logits of ``x`` (a new array), as two halves side by side
    (:func:`_side_by_side`, as in :func:`step_in_halves`).  Rows are independent at
    inference, so each row's logits are those of one pass."""
    here, there = _side_by_side(model, x, None, run_aside, functools.partial(_half_logits, model))
    return np.concatenate([here, there])


def _side_by_side(model, x, y, run_aside, half_step) -> tuple:
    """The first ``ceil(N / 2)`` rows of ``x`` (and labels ``y``, or None) by
    ``half_step(side, x, y, N, errors, first_row=0)`` on this thread with the model's own
    layers and gradient, the others (``first_row`` the first of them) by ``run_aside`` on
    the twin's: the two halves' results, this thread's first."""
    n = len(x)
    half = first_half(n)
    errors = np.geterr()  # numpy's error handling is per thread: the other half's the same
    ys = (None, None) if y is None else (y[:half], y[half:])
    aside = run_aside(half_step, model.twin, x[half:], ys[1], n, errors, half)
    try:
        mine = half_step(_own_side(model), x[:half], ys[0], n, errors, 0)
    finally:
        theirs = aside.result()  # never leave the other half running
    return mine, theirs


def _half_logits(model, side, x, y, n: int, errors: dict, first_row: int = 0) -> np.ndarray:
    """Eval-mode logits of rows ``x`` through ``side.layers`` (a copy: the layers' buffer is
    reused); ``y``, ``n`` and ``first_row`` are unused (they keep :func:`_half_step`'s
    signature, with which :func:`_side_by_side` calls each half)."""
    with np.errstate(**errors):
        return model.forward(x, False, side.layers).copy()


def _half_step(
    model, scale: float, side, x, y, n: int, errors: dict, first_row: int = 0
) -> tuple[float, int]:
    """Forward and backward for rows ``x`` of a batch of ``n`` (its rows from
    ``first_row``, for dropout) through ``side.layers``
    (None: the model's): their share of the batch's loss, their correct count, their share
    of its gradient (in the gradient vector those layers write into)."""
    with np.errstate(**errors):
        logits = model.forward(x, True, side.layers, first_row)
        correct = int(np.count_nonzero(np.argmax(logits, axis=1) == y))
        loss, g = loss_function(model.spec)(logits, y)
        g *= g.dtype.type(scale * len(x) / n)
        model.backward(g, side.layers)
    return loss * len(x) / n, correct


def adam_step(
    params: np.ndarray,
    grads: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    scratch: np.ndarray,
) -> None:
    """Adam's step ``t`` (from 1), in place, on flat vectors (Kingma & Ba, Algorithm 1)::

        m = beta1 * m + (1 - beta1) * grad            first moment (mean of the gradient)
        v = beta2 * v + (1 - beta2) * grad**2         second moment (its mean square)
        m_hat = m / (1 - beta1**t)                    bias corrections: m and v start at 0
        v_hat = v / (1 - beta2**t)
        param -= lr * m_hat / (sqrt(v_hat) + eps)

    The two corrections are scalars, folded in as ``lr / (1 - beta1**t)`` and
    ``sqrt(1 - beta2**t)`` so that only whole-vector operations remain."""
    dtype = params.dtype.type
    beta1, beta2 = betas
    m *= dtype(beta1)
    m += np.multiply(grads, dtype(1 - beta1), out=scratch)
    v *= dtype(beta2)
    np.multiply(grads, grads, out=scratch)
    scratch *= dtype(1 - beta2)
    v += scratch
    np.sqrt(v, out=scratch)  # sqrt(v_hat) + eps = sqrt(v) / sqrt(1 - beta2**t) + eps
    scratch *= dtype(1 / math.sqrt(1 - beta2**t))
    scratch += dtype(eps)
    np.divide(m, scratch, out=scratch)
    scratch *= dtype(lr / (1 - beta1**t))
    params -= scratch
