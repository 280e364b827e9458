"""A LeNet-style convolutional network (Caffe's LeNet): two conv + pool stages, two dense layers.

28x28x1 -> conv 5x5x20 -> 24x24x20 -> pool -> 12x12x20 -> conv 5x5x50 -> 8x8x50 -> pool
-> 4x4x50 = 800 -> dense 500 -> dense 10.
"""

from mnist_nets.architectures import SEED_RECIPE
from mnist_nets.specs import Conv2D, Dense, Flatten, MaxPool2D, ModelSpec, Recipe, ReLU

SPEC = ModelSpec(
    name="cnn",
    description="LeNet-style: two 5x5 conv + 2x2 max-pool stages, then dense 500 and 10.",
    layers=(
        Conv2D(20, 5),
        ReLU(),
        MaxPool2D(2),
        Conv2D(50, 5),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(500),
        ReLU(),
        Dense(10),
    ),
    loss="cross_entropy",
    recipe=Recipe(lr=0.02, momentum=0.9, batch_size=64, epochs=6, lr_decay=0.7),
    target_accuracy=0.99,
    dataset_targets=(("fashion-mnist", 0.91),),  # issue 13's floor
    # Fashion-MNIST: the MNIST recipe is at 90.6-90.9 % after 6 epochs, and a slower SGD
    # decay over 10 epochs (lr 0.02, x0.85/epoch, batch 64) levelled off at a mean of
    # 90.99-91.08 % in stored run 0009.  Adam with a one-cycle schedule over 6 epochs of
    # batch 128, measured in torch (seeds 0-2): 91.68 %, 91.35 %, 91.44 % (mean 91.49 %), in
    # 48 s of training against 182 s (4 epochs at lr 0.002: 90.99 %).
    dataset_recipes=(
        (
            "fashion-mnist",
            Recipe(lr=0.003, epochs=6, batch_size=128, optimizer="adam", schedule="one_cycle"),
        ),
    ),
    seed_recipe=SEED_RECIPE,
)
