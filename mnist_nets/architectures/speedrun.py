"""The time-to-99 % speedrun network: the fastest published MNIST recipe, as a spec, with
its first convolution narrowed to 12 filters for the CPU.

From tuomaso/train_mnist_fast (0.76 s to a mean 99.04 % over 30 seeds on a laptop GTX
1660 Ti): conv 24@5x5 -> max-pool -> ReLU -> conv 32@3x3 -> max-pool -> ReLU -> dense 256
-> ReLU -> dense 10, no dropout; Adam lr 0.01 with betas (0.7, 0.9), a one-cycle learning
rate, batch 256, one epoch, no shuffling.  Max-pool before ReLU is the same function as
ReLU before max-pool (and the numpy backend runs it that way round).

28x28x1 -> conv 5x5x12 -> 24x24x12 -> pool -> 12x12x12 -> conv 3x3x32 -> 10x10x32 -> pool
-> 5x5x32 = 800 -> dense 256 -> dense 10.

How it departs from the published recipe, and why (docs/history.md, "The speedrun
recipe", has the measurements):

* **Two epochs, not one.** The one-cycle runs over two epochs: over a single epoch, as
  published, the final accuracy lands too close to 99 % for a mean of 99 % over seeds.
* **Warm-up 5 % of the steps**, not torch's default 30 %: a shorter warm-up reaches 99 %
  sooner, and 5 % was chosen on seeds the benchmark does not use.
* **12 filters in the first convolution**, not 24: on a CPU the 24x24 maps of the first
  convolution are a step's largest arrays, and halving them makes a step cheaper while the
  epochs to 99 % stay about the same.
* **The test set is evaluated after every twentieth of an epoch** (off the training
  clock), so that time-to-99 % is read where the accuracy first reaches 99 %.
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
