"""The registered architectures, one module each, each defining ``SPEC``.

Register a new one in ``mnist_nets.specs._REGISTRY``.
"""
