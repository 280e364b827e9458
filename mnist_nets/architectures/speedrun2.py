"""The second time-to-99 % speedrun network: ``speedrun`` on the middle of the image, with
a narrower first convolution and label smoothing.

``speedrun`` is kept as it was, so that its stored figures stay comparable; this spec is
the record attempt after it.  What it changes, and why (docs/speedrun.md has each variant
tried, with its measured epochs to 99 % and step time):

* **The blank border is cropped** (a :class:`~mnist_nets.specs.Crop` layer, the first of
  the net): MNIST's digits are centred in a 20x20 box of the 28x28 image, so the outer
  pixels are nearly always 0, and dropping 2 on each side leaves a 24x24 image.  Every map
  after it is smaller (conv1 20x20 instead of 24x24, conv2 8x8 instead of 10x10, 512
  features into the first dense layer instead of 800).  Cropping 3 (22x22) lost accuracy.
* **8 filters in the first convolution**, not 12: with the crop, a training step costs
  2.03 MFLOP per image instead of ``speedrun``'s 4.05.
* **Label smoothing 0.1** (``ModelSpec.label_smoothing``: cross-entropy against
  ``0.9 * one_hot + 0.01``): with it the cropped nets reached 99 % about 0.2 epochs
  sooner.
* **Shuffled batches, and a one-cycle over the first 1.6 of the 2 epochs**
  (``Recipe.cycle_epochs``; after it the rate stays at the cycle's final value, lr /
  250,000, and the weights barely move).  Unshuffled, MNIST's own order put the same
  images at the same step in every run: the test accuracy dipped after 1.05 epochs and rose
  again by 1.25 in every seed, so most seeds crossed 99 % at 1.25 whatever the schedule.
  Shuffled, that pattern is gone (and over both epochs the accuracy ends higher); with the
  shorter cycle the rate comes down sooner, and the accuracy, which climbs fastest as it
  comes down, crossed 99 % 0.15-0.2 epochs sooner than unshuffled over two epochs (median
  1.05 over seeds 10-29 against 1.25 over seeds 10-19; 1.10-1.13 against 1.25-1.28 in the
  benchmark's runs).

Everything else is ``speedrun``'s: conv 5x5 -> max-pool -> ReLU -> conv 32@3x3 -> max-pool
-> ReLU -> dense 256 -> ReLU -> dense 10; Adam lr 0.01, betas (0.7, 0.9), a one-cycle
learning rate warmed up over 5 % of its steps, batch 256, the test set evaluated 20 times
an epoch (off the training clock).

28x28x1 -> crop 2 -> 24x24x1 -> conv 5x5x8 -> 20x20x8 -> pool -> 10x10x8 -> conv 3x3x32
-> 8x8x32 -> pool -> 4x4x32 = 512 -> dense 256 -> dense 10.
"""

from mnist_nets.specs import Conv2D, Crop, Dense, Flatten, MaxPool2D, ModelSpec, Recipe, ReLU

SPEC = ModelSpec(
    name="speedrun2",
    description=(
        "speedrun on the middle 24x24 of the image (2 border pixels cropped off each side), "
        "its first conv narrowed to 8 filters, label smoothing 0.1: crop, conv 8@5x5, pool, "
        "conv 32@3x3, pool, dense 256, 10; Adam + one-cycle over the first 1.6 of 2 epochs, "
        "batch 256, shuffled."
    ),
    layers=(
        Crop(2),
        Conv2D(8, 5),
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
    label_smoothing=0.1,
    recipe=Recipe(
        lr=0.01,
        epochs=2,
        batch_size=256,
        optimizer="adam",
        betas=(0.7, 0.9),
        schedule="one_cycle",
        warmup=0.05,
        cycle_epochs=1.6,
        shuffle=True,
        evals_per_epoch=20,
    ),
    target_accuracy=0.99,
)
