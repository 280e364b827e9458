"""A deep fully connected network: 784 -> 512 -> 256 -> 10 with ReLU."""

from mnist_nets.architectures import SEED_RECIPE
from mnist_nets.specs import Dense, Flatten, ModelSpec, Recipe, ReLU

SPEC = ModelSpec(
    name="dnn",
    description="Fully connected, two hidden ReLU layers (784 -> 512 -> 256 -> 10).",
    layers=(Flatten(), Dense(512), ReLU(), Dense(256), ReLU(), Dense(10)),
    loss="cross_entropy",
    recipe=Recipe(lr=0.05, momentum=0.9, batch_size=128, epochs=10, lr_decay=0.8),
    target_accuracy=0.98,
    dataset_targets=(("fashion-mnist", 0.89),),  # issue 13's floor
    # Fashion-MNIST: the MNIST recipe stops at 88.2-88.8 % after 7 epochs, still rising.
    # A slower decay over 15 epochs, measured in numpy, seeds 0-2: 89.5 %, 89.7 %, 89.3 %.
    dataset_recipes=(
        ("fashion-mnist", Recipe(lr=0.05, momentum=0.9, batch_size=128, epochs=15, lr_decay=0.85)),
    ),
    seed_recipe=SEED_RECIPE,
)
