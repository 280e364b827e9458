"""The simple perceptron: one layer of ten perceptrons, 784 pixels -> 10 digit scores.

The original project's README describes 784 inputs -> one hidden ReLU neuron -> 10
outputs and claims ~90 %; its code was in fact this 10x784 linear layer with softmax,
which is where the ~90 % came from.  The literal one-neuron network is registered
beside it as ``single_neuron``.
"""

from mnist_nets.architectures import SEED_RECIPE
from mnist_nets.specs import Dense, Flatten, ModelSpec, Recipe

SPEC = ModelSpec(
    name="perceptron",
    description="Softmax regression: a single dense layer of ten perceptrons (784 -> 10).",
    layers=(Flatten(), Dense(10)),
    loss="cross_entropy",
    recipe=Recipe(lr=0.1, momentum=0.9, batch_size=128, epochs=5, lr_decay=0.5),
    target_accuracy=0.915,
    # the floor: the mean test accuracy over seeds it must reach on Fashion-MNIST
    dataset_targets=(("fashion-mnist", 0.835),),
    seed_recipe=SEED_RECIPE,
)
