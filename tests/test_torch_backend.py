"""PyTorch's own quirks; the contract every backend keeps is in test_backend_contract.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spec_strategies import make_spec, random_batch, random_params  # noqa: E402

from mnist_nets.backends import get_backend  # noqa: E402
from mnist_nets.specs import Conv2D, Dense, Flatten, ReLU  # noqa: E402

pytestmark = pytest.mark.torch

@pytest.fixture(scope="module")
def backend():
    return get_backend("torch")


def assert_close(actual, expected, rel=2e-5):
    """Within ``rel`` of the magnitude of ``expected`` (float32 against float64)."""
    scale = max(float(np.abs(expected).max()), 1e-3)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rel * scale)


def test_versions_and_thread_settings(backend):
    versions = backend.versions()
    assert versions["torch"] == torch.__version__
    assert int(versions["torch_threads"]) == torch.get_num_threads()
    assert backend.thread_settings()["torch_intra_op"] == torch.get_num_threads()


def assert_grads_match_numpy(backend, spec, n, repeats=1):
    """``loss_and_grads`` against the numpy backend run in float64, ``repeats`` times."""
    params = random_params(spec, seed=13)
    x, y = random_batch(spec, n, seed=13)
    reference = get_backend("numpy")
    _, expected = reference.loss_and_grads(reference.build(spec, params, dtype=np.float64), x, y)
    for _ in range(repeats):
        _, grads = backend.loss_and_grads(backend.build(spec, params), x, y)
        for name in params:
            assert_close(grads[name], expected[name])


# torch 2.13.0 on CPU gets the weight gradient of a 1x1 convolution with stride > 1 wrong
# in channels_last, intermittently or always depending on the size (a 12x12 input with
# stride 2: every time we tried).  The backend subsamples the input and convolves with
# stride 1 instead (see Conv.forward); these cases failed without it.
@pytest.mark.parametrize("stride, size", [(2, 12), (3, 12), (3, 6), (4, 8), (2, 7)])
def test_strided_1x1_conv_gradients(backend, stride, size):
    spec = make_spec(
        "strided_1x1",
        [Conv2D(3, 3, padding=1), ReLU(), Conv2D(2, 1, stride), Flatten(), Dense(10)],
        input_shape=(size, size, 1),
    )
    assert_grads_match_numpy(backend, spec, n=4, repeats=20)  # intermittent: try often


def test_single_filter_conv_on_one_image(backend):
    """A one-filter kernel permuted from the canonical layout once kept strides with which
    torch's convolution backward raised "slow_conv2d: grad_weight must be contiguous"."""
    spec = make_spec("one_filter", [Conv2D(1, 2), Flatten(), Dense(10)], input_shape=(6, 6, 2))
    assert_grads_match_numpy(backend, spec, n=1)
