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
    # Fashion-MNIST: the MNIST recipe is at 90.6-90.9 % after 6 epochs.  A slower decay over
    # 10 epochs, measured in torch (seeds 0-2): 90.92 %, 90.91 %, 91.26 % (mean 91.03 %).
    dataset_recipes=(
        ("fashion-mnist", Recipe(lr=0.02, momentum=0.9, batch_size=64, epochs=10, lr_decay=0.85)),
    ),
    seed_recipe=SEED_RECIPE,
)
