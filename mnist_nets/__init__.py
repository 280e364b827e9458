"""mnist_nets: the classic MNIST networks in numpy (by hand) and the frameworks of
:data:`mnist_nets.backends.registry.FRAMEWORKS` (PyTorch, TensorFlow, JAX).

Importing this package imports numpy and nothing heavier; a framework is imported
only when its backend is asked for (:func:`mnist_nets.backends.get_backend`).

    from mnist_nets.specs import get_spec
    from mnist_nets.params import init_params
    from mnist_nets.backends import get_backend
    from mnist_nets.data import load_split

    spec = get_spec("cnn")
    backend = get_backend("numpy")
    model = backend.build(spec, init_params(spec, seed=0))
    history = backend.train(model, (load_split("train"), load_split("test")),
                            spec.recipe, seed=0)
    # other hyper-parameters: dataclasses.replace(spec.recipe, epochs=1, lr=0.01)
"""

__version__ = "0.1.0"
