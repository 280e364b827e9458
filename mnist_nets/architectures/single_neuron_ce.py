"""The same one-neuron bottleneck as ``single_neuron``, trained with softmax cross-entropy.

Under mean squared error the ten outputs, each a linear function of one scalar, mostly
learn the class frequencies; cross-entropy asks instead for the right digit to score
highest, which lets more digits win an interval of that scalar's line.  Measured beside
``single_neuron``, it shows how much of the bottleneck's poor accuracy is the loss and how
much is the single neuron.
"""

from mnist_nets.architectures import SEED_RECIPE, single_neuron
from mnist_nets.specs import ModelSpec, Recipe

SPEC = ModelSpec(
    name="single_neuron_ce",
    description="784 -> 1 ReLU neuron -> 10, softmax cross-entropy.",
    layers=single_neuron.SPEC.layers,  # the same network; only the loss and recipe differ
    loss="cross_entropy",
    recipe=Recipe(lr=0.05, momentum=0.9, batch_size=128, epochs=10),
    target_accuracy=None,
    seed_recipe=SEED_RECIPE,
)
