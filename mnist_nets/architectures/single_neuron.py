"""The original project's network taken literally: 784 -> one hidden ReLU neuron -> 10.

A single scalar must carry all ten classes, so this network cannot do much better
than ~40 % whatever the training: it is here so that the claim can be measured.
"""

from mnist_nets.architectures import SEED_RECIPE
from mnist_nets.specs import Dense, Flatten, ModelSpec, Recipe, ReLU

SPEC = ModelSpec(
    name="single_neuron",
    description="784 -> 1 ReLU neuron -> 10, mean squared error on one-hot targets.",
    layers=(Flatten(), Dense(1), ReLU(), Dense(10)),
    loss="mse",
    recipe=Recipe(lr=0.01, momentum=0.9, batch_size=128, epochs=5),
    target_accuracy=None,
    seed_recipe=SEED_RECIPE,
)
