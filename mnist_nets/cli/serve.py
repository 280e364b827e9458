"""``serve``: a local page to draw a digit on, where every installed framework predicts
it, and its HTTP API (:mod:`mnist_nets.serve`; docs/serve.md).

Without ``--weights`` it trains nothing: it says in one line how to get weights and
exits with code 2.  Ctrl-C stops the server once open requests are answered (at most
five seconds), exit code 130.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket

from mnist_nets.cli.common import PROG, Interrupted, UsageError, err

NO_WEIGHTS = (
    "serve needs trained weights: train some first, e.g. `mnist-nets train --model speedrun "
    "--out speedrun.npz` (under a minute on a CPU), then `mnist-nets serve --weights "
    "speedrun.npz`"
)


def port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535 (0: any free port), got {text}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    if args.weights is None:
        raise UsageError(NO_WEIGHTS)
    try:
        from mnist_nets.serve.app import bind, create_app, make_server
    except ImportError as exc:
        raise UsageError(
            f"serve needs {exc.name or 'starlette and uvicorn'}, which is not installed: "
            "`pip install -r requirements.txt` (pinned) or `pip install 'mnist-nets[serve]'`"
        ) from None
    from mnist_nets.serve.predictor import Predictor

    try:
        # bound before the frameworks load, so that a port in use is told at once
        sock = bind(args.host, args.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fix = {
            errno.EADDRINUSE: "another program uses it: choose another --port (0: any free one)",
            errno.EACCES: "ports below 1024 need privileges: choose --port 8000 or above",
        }.get(exc.errno or 0, "give an address of this machine, e.g. --host 127.0.0.1")
        raise UsageError(
            f"cannot listen on {args.host} port {args.port}: {reason}; {fix}"
        ) from None
    try:
        predictor = Predictor(
            args.weights,
            frameworks=args.frameworks,
            device=args.device,
            log=lambda line: err(f"{PROG} serve: {line}"),
        )
        server = make_server(create_app(predictor))
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
        err(
            f"{PROG} serve: {predictor.spec.name} ({predictor.dataset}) on "
            f"http://{shown}:{port}/ in {', '.join(m.label for m in predictor.models.values())}"
            " (Ctrl-C stops)"
        )
        if not _is_loopback(args.host):
            err(f"{PROG} serve: note: {args.host} is reachable from other machines")
        # uvicorn answers Ctrl-C by finishing open requests, then raises it again here
        # (or returns, where SIGINT is ignored, as in a background job): only a signal
        # ends it
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    raise Interrupted("stopped (Ctrl-C)")
