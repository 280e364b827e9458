"""The time-to-99 % speedrun network: the fastest published MNIST recipe, as a spec, with
its first convolution narrowed to 12 filters for the CPU.

From tuomaso/train_mnist_fast (0.76 s to a mean 99.04 % over 30 seeds on a laptop GTX
1660 Ti): conv 24@5x5 -> max-pool -> ReLU -> conv 32@3x3 -> max-pool -> ReLU -> dense 256
-> ReLU -> dense 10, no dropout; Adam lr 0.01 with betas (0.7, 0.9), a one-cycle learning
rate, batch 256, one epoch, no shuffling.  Max-pool before ReLU is the same function as
ReLU before max-pool (and the numpy backend runs it that way round).

28x28x1 -> conv 5x5x12 -> 24x24x12 -> pool -> 12x12x12 -> conv 3x3x32 -> 10x10x32 -> pool
-> 5x5x32 = 800 -> dense 256 -> dense 10.

Measured here with the published 24 filters (PyTorch eager, 2 shared CPU cores): the
published recipe's one epoch ended at 98.98 % (seed 0; the issue's own runs: 98.75-98.87 %
over 3 seeds), short of a mean of 99 %.  So the one-cycle runs over two epochs: seeds 0-3
ended at 99.20, 99.25, 99.26 and 99.26 %, and first reached 99 % after 1.6, 1.5, 1.4 and
1.4 epochs (PyTorch, measured on a machine too busy for the times to mean anything; the
benchmark's rounds measure them).
The test set is evaluated after every twentieth of an epoch (off the training clock), so
that time-to-99 % is read where the accuracy first reaches 99 %.

The warm-up is 5 % of the steps (15 % until run 0020), not torch's default 30 %.  Measured
over seeds 0-4 (PyTorch, 2 epochs, 24 filters, 10 evaluations an epoch; 2026-12-03, 2-core
AMD EPYC), the test accuracy first reached 99 % after these numbers of epochs:
- warm-up 30 %: 1.7, 1.6, 1.5, 1.7 and 1.6;
- 15 %: 1.4 in every seed (final accuracy 99.20-99.31 %);
- 10 %: 1.6, 1.4, 1.4, 1.3, 1.4;
- 5 %: 1.5, 1.3, 1.3, 1.3, 1.4.
numpy, seeds 0-2: 1.6, 1.3, 1.3 with 15 % (final 99.15-99.22 %); 1.6, 1.6, 1.4 with 30 %.
A peak of 0.02 was slower (1.7-1.8 epochs) and 0.007 no faster (median 1.4).  A one-cycle
over a single epoch, as published, ended at 98.96-99.07 % (seeds 0-2): too close to 99 %
to hold a mean of 99 % over seeds.

The first convolution has 12 filters, not the published 24 (measured 2026-12-03, 2-core AMD
EPYC, seeds 0-4, 2 epochs, the test set evaluated every twentieth of an epoch).  On the CPU
its 24 filters cost more than they bring: its 24x24 maps are the largest arrays of a step,
and the second convolution's patches are 9 x 24 = 216 wide.  With 12 filters a numpy
training step of 256 images took 28 ms instead of 36 ms (medians of six alternations), and the
test accuracy first reached 99 % after:
- 24 filters (published): PyTorch 1.35, 1.35, 1.40, 1.35, 1.40 epochs (final 99.20-99.31 %);
- 16 filters: PyTorch 1.25, 1.35, 1.55, 1.45, 1.80 (final 99.01-99.26 %);
- 12 filters: PyTorch 1.55, 1.40, 1.35, 1.40, 1.55 (final 99.09-99.22 %); numpy 1.55, 1.40,
  1.35, 1.40, 1.65 (final 99.08-99.20 %);
- 8 filters: PyTorch 1.55, 1.55, 1.55, 1.65, 1.65 (final 99.06-99.15 %).
With 12 filters and a dense layer of 128 instead of 256, PyTorch reached 99 % later too:
1.30-1.55 epochs, median 1.50.  A one-cycle that ends early (over the first 1.4 or 1.5 epochs,
then at its floor learning rate; 12 filters, PyTorch, 20 evaluations an epoch) reached
99 % sooner, after 1.10-1.35 and 1.20-1.30 epochs, but in each one seed of five never did
(it ended at 98.91 and 98.94 %): not adopted.

The warm-up went from 15 % to 5 % after run 0020, chosen on seeds 5-9, which the benchmark
(seeds 0-4) does not use (12 filters, 20 evaluations an epoch).  99 % first came after:
- PyTorch: 1.40, 1.40, 1.40, 1.35, 1.30 epochs with 15 % (final 99.13-99.24 %); 1.30, 1.25,
  1.30, 1.45, 1.40 with 5 % (final 99.15-99.27 %);
- numpy: 1.40, 1.45, 1.35, 1.30, 1.70 with 15 % (final 99.09-99.20 %); 1.25, 1.35, 1.30,
  1.40, 1.35 with 5 % (final 99.12-99.21 %).
"""

from mnist_nets.specs import Conv2D, Dense, Flatten, MaxPool2D, ModelSpec, Recipe, ReLU

SPEC = ModelSpec(
    name="speedrun",
    description=(
        "Time-to-99 % net (tuomaso/train_mnist_fast, its first conv narrowed from 24 to 12 "
        "filters): conv 12@5x5, pool, conv 32@3x3, pool, dense 256, 10; Adam + one-cycle over "
        "2 epochs, batch 256, unshuffled."
    ),
    layers=(
        Conv2D(12, 5),
        MaxPool2D(2),
        ReLU(),
        Conv2D(32, 3),
        MaxPool2D(2),
        ReLU(),
        Flatten(),
        Dense(256),
        ReLU(),
        Dense(10),
    ),
    loss="cross_entropy",
    recipe=Recipe(
        lr=0.01,
        epochs=2,
        batch_size=256,
        optimizer="adam",
        betas=(0.7, 0.9),
        schedule="one_cycle",
        warmup=0.05,
        shuffle=False,
        evals_per_epoch=20,
    ),
    target_accuracy=0.99,
)
