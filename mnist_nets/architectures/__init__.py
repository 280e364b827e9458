"""The registered architectures, one module each, each defining ``SPEC``.

Register a new one in ``mnist_nets.specs._REGISTRY``.
"""

from mnist_nets.specs import Recipe

# The original project's recipe, as its code ran it: full-batch gradient descent, each of
# its 100 "epochs" one step over all 60,000 training images, learning rate 0.01 (the
# figures its README's tables give for every network).  The `seed` benchmark profile runs it.
SEED_RECIPE = Recipe(lr=0.01, epochs=100, batch_size=60_000, momentum=0.0)
