"""``mnist-nets serve``: a local page to draw a digit on, where every installed framework
predicts it from the same weights, and the HTTP API behind it (docs/serve.md).

``POST /api/predict`` takes a PNG (``Content-Type: image/png``) or JSON
``{"pixels": [28 rows of 28 values 0-255]}`` (``application/json``), makes it MNIST-like
as ``predict`` does, and answers::

    {"predictions": {"numpy": {"probabilities": [10 floats], "class": "7", "seconds": s}, ...},
     "image": [28 rows of 28 floats in 0..1: what the networks saw],
     "classes": ["0", ..., "9"]}

Errors are JSON ``{"error": "..."}``: 400 a malformed body, 413 a body over
:data:`mnist_nets.serve.app.MAX_BODY` (4 MiB), 415 another Content-Type, 422 an image
with no digit in it.

:mod:`~mnist_nets.serve.predictor` holds the models (no web code);
:mod:`~mnist_nets.serve.app` the Starlette app and the uvicorn server, imported only by
the command; ``static/`` the page.
"""
