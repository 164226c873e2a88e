"""``python -m labelloop_tools.local.moto_main``: moto's server, lighter per request.

What moto's server does differently here, for the traffic of our services (many small DynamoDB,
SQS and SNS calls). Its first two per-request costs were measured with py-spy while a clip went
through the pipeline (benchmarks/real_models.py), and taken from Triton on a two-core machine:

* werkzeug's access log, a line formatted and flushed per request: a sixth of the emulator's
  CPU. Warnings and errors (a request that raised) still reach the log; werkzeug's start-up
  banner, an info line, does not.
* the dispatcher lists moto's package folder (``os.listdir`` and an ``isdir`` per service) for
  every request to find the service a host names: an eighth. The installed services do not
  change while the server runs, so the list is read once.
* moto's server runs requests on threads with no lock around a DynamoDB item's read-modify-write,
  so two concurrent increments of one counter could count once and two conditional puts of one
  item could both succeed (seen in CI: a label counted once for two). DynamoDB applies every
  request atomically, and budgets, claims and counters rely on it: here DynamoDB requests run one
  at a time (:func:`_atomic_dynamodb`). The other services keep their concurrency (SQS long polls
  wait for minutes).
* werkzeug's development server closes the connection after every response, so every AWS call
  of every service opened a new TCP connection (connect, a thread on the server, urllib3's set-up
  on the client). Real AWS keeps connections alive, and so does this server: see
  :class:`KeepAliveRequestHandler`.
"""

from __future__ import annotations

import functools
import logging
import threading
import types
from collections.abc import Callable, Iterable
from typing import IO, Any, cast

import moto.server
from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from werkzeug import serving
from werkzeug.wsgi import LimitedStream

_list_installed_services = backends.list_of_moto_modules


@functools.cache
def _installed_services() -> tuple[str, ...]:
    return tuple(_list_installed_services())


_dispatch = DomainDispatcherApplication.__call__
_dynamodb = threading.Lock()


def _atomic_dynamodb(
    self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """moto's dispatch, with DynamoDB requests (``X-Amz-Target: DynamoDB_...``) one at a time, their
    response bodies built inside the lock."""
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        return cast("Iterable[bytes]", _dispatch(self, environ, start_response))
    with _dynamodb:
        response: Iterable[bytes] = _dispatch(self, environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            if hasattr(response, "close"):
                response.close()


class _NoLeftoverSelector:
    """werkzeug, sure that it closes every connection, reads whatever the client sends in the 10 ms
    after a response and throws it away, which on a kept-alive connection would be the client's
    next request. Here a request's body is read to its end instead (see the handler), so there is
    never anything left over to drain."""

    def register(self, *_: Any) -> None: ...

    def select(self, *_: Any, **__: Any) -> list[Any]:
        return []

    def close(self) -> None: ...


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's handler on a connection kept alive between requests (HTTP/1.1 keep-alive).

    werkzeug's development server closes every connection because an application that does not
    read a request's whole body would leave its rest to be parsed as the next request. So each
    request's body is bounded by its Content-Length and read to its end after the response; a
    chunked body (no length) closes the connection as before.
    """

    _body: LimitedStream | None = None
    # The response's headers and body leave in two writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK of the headers (up to 40 ms) on every request of a kept connection.
    disable_nagle_algorithm = True

    def make_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks it; we cannot bound it
            self.close_connection = True
            self._body = None
            return environ
        self._body = LimitedStream(cast("IO[bytes]", self.rfile), int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = self._body
        environ["wsgi.input_terminated"] = True  # werkzeug's Request then reads the stream as given
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
            return  # werkzeug's unconditional close; the client's own "Connection: close" still counts
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        super().run_wsgi()
        if self._body is not None:
            self._body.exhaust()


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    backends.list_of_moto_modules = _installed_services
    serving.selectors = types.SimpleNamespace(DefaultSelector=_NoLeftoverSelector, EVENT_READ=1)  # type: ignore[attr-defined,assignment]
    DomainDispatcherApplication.__call__ = _atomic_dynamodb  # type: ignore[method-assign]
    moto.server.MotoRequestHandler = KeepAliveRequestHandler  # type: ignore[attr-defined]
    moto.server.main()
