"""The web app (Starlette) and the server (uvicorn) around a :class:`Predictor`.

Routes: ``GET /`` the page, ``GET /static/...`` its script and style, ``GET /api/info``
the model, dataset, classes and frameworks, ``POST /api/predict`` (see
:mod:`mnist_nets.serve`).  Every error answer is JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mnist_nets.serve.predictor import InputError, Predictor

#: the largest request body read, in bytes; a larger one is refused with 413 as soon as
#: its Content-Length says so, or once that many bytes have arrived
MAX_BODY = 4 * 1024 * 1024
STATIC = Path(__file__).parent / "static"
# the page loads nothing from elsewhere and runs no inline script
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:",
    "X-Content-Type-Options": "nosniff",
}


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, refused (:class:`BodyTooLarge`) as soon as it is known to
    exceed ``limit``: by its Content-Length before anything is read, or while the
    chunks of a body without one arrive, so a huge body is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InputError(f"bad Content-Length header {declared!r}")
        if int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes):
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise InputError("the JSON is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise InputError(f"the body is not valid JSON ({exc})") from None


def error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(predictor: Predictor, max_body: int = MAX_BODY) -> Starlette:
    """The app serving ``predictor``'s frameworks."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def info(request: Request) -> Response:
        return JSONResponse({**predictor.info(), "max_body": max_body})

    async def predict(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("image/png", "application/json"):
            return error(
                f"Content-Type {kind or 'missing'}: send image/png (a PNG) or "
                'application/json ({"pixels": [28 rows of 28 values 0-255]})',
                415,
            )
        try:
            raw = await read_body(request, max_body)
            if kind == "image/png":
                image = await run_in_threadpool(predictor.image_from_png, raw)
            else:  # parsed off the event loop: a few MiB of JSON take a while
                image = await run_in_threadpool(
                    lambda: predictor.image_from_pixels(parse_json(raw))
                )
        except BodyTooLarge:
            return error(f"the body is larger than {max_body:,} bytes; send a smaller one", 413)
        except InputError as exc:
            return error(str(exc), exc.status)
        answers = await run_in_threadpool(predictor.predict, image)
        return JSONResponse(
            {
                "predictions": answers,
                "image": [[round(float(v), 4) for v in row] for row in image],
                "classes": list(predictor.classes),
            }
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        answer = error(exc.detail, exc.status_code)
        answer.headers.update(exc.headers or {})  # 405's Allow
        return answer

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Starlette raises the exception again after this answer: uvicorn logs its traceback
        return error(f"internal error: {type(exc).__name__}: {exc}", 500)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/info", info),
            Route("/api/predict", predict, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: a free one), so that a port in
    use is told before the frameworks load."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on connections whose socket says
    # so, and without it each answer on a kept-alive connection waits 40 ms (Nagle's
    # algorithm holding the body until the client's delayed ACK of the headers)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(app: Starlette):
    """A uvicorn server for ``app``: no access log, uvicorn's own warnings on stderr, and
    at most five seconds for open requests to finish once told to stop."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="off",
    )
    return uvicorn.Server(config)
