"""Sharper tests for mnist_nets.data, written to kill mutants that survived `make mutation`."""

from __future__ import annotations

import numpy as np

from mnist_nets.data import epoch_order, minibatches


def test_epoch_order_depends_on_seed_and_epoch_separately():
    """Seeding with seed + epoch would make seed 1 epoch 1 equal seed 2 epoch 0."""
    n = 1000
    assert not np.array_equal(epoch_order(1, 1, n), epoch_order(2, 0, n))
    assert not np.array_equal(epoch_order(0, 1, n), epoch_order(1, 0, n))
    assert not np.array_equal(epoch_order(3, 0, n), epoch_order(0, 3, n))
    np.testing.assert_array_equal(epoch_order(5, 2, n), epoch_order(5, 2, n))
    np.testing.assert_array_equal(epoch_order(5, 2, n),
                                  np.random.default_rng([5, 2]).permutation(n))
    assert sorted(epoch_order(5, 2, n)) == list(range(n))


def test_minibatches_split_the_epoch_order():
    batches = list(minibatches(10, 4, seed=3, epoch=1))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), epoch_order(3, 1, 10))
