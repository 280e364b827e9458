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
    # SGD with a slower decay (lr 0.05, momentum 0.9, decay 0.85) over 15 epochs, numpy,
    # seeds 0-2: 89.5 %, 89.7 %, 89.3 %.  Adam with a one-cycle schedule, batch 128, torch:
    # lr 0.002 over 8 epochs, seeds 0-2: 89.49 %, 89.37 %, 89.39 % in 9 s each (about half
    # SGD's 15 epochs); lr 0.001 88.99-89.21 %, lr 0.003 89.23-89.48 %, 6 epochs 88.6-89.0 %.
    dataset_recipes=(
        (
            "fashion-mnist",
            Recipe(lr=0.002, epochs=8, batch_size=128, optimizer="adam", schedule="one_cycle"),
        ),
    ),
    seed_recipe=SEED_RECIPE,
)
