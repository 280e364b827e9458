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
* **The one-cycle schedule spans the first 1.6 epochs** (``Recipe.cycle_epochs``), not
  all two: the rate anneals sooner, and the test accuracy, which climbs fastest as the rate
  comes down, reaches 99 % about 0.2 epochs sooner.  The rest of the run goes at the
  cycle's final rate (lr / 250,000), so the weights barely move after the cycle.  A 1.5-
  epoch cycle reached 99 % as soon but left one seed at 98.91 %; 1.25 epochs ended below
  99 % on a seed, and 1.75 gained less.

Everything else is ``speedrun``'s: conv 5x5 -> max-pool -> ReLU -> conv 32@3x3 -> max-pool
-> ReLU -> dense 256 -> ReLU -> dense 10; Adam lr 0.01, betas (0.7, 0.9), a one-cycle
learning rate warmed up over 5 % of its steps, batch 256, two epochs, no shuffling, the
test set evaluated 20 times an epoch (off the training clock).

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
        "batch 256, unshuffled."
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
        shuffle=False,
        evals_per_epoch=20,
    ),
    target_accuracy=0.99,
)
