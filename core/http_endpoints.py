"""The HTTP side of a running process: Prometheus ``/metrics``, ``/healthz`` (the process is
alive) and ``/readyz`` (connected and making progress; 503 with the reason otherwise)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from binlog_pipeline.core.health import Health

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: no access log
        pass


def _text(start_response: StartResponse, status: str, body: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


def serve(host: str, port: int, health: Health) -> WSGIServer:
    """Start serving in a daemon thread; returns the server (``server_port`` is the bound port,
    useful with port 0)."""
    metrics_app = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            ok, why = health.ready()
            return _text(start_response, "200 OK" if ok else "503 Service Unavailable", why + "\n")
        return _text(start_response, "404 Not Found", "try /metrics, /healthz or /readyz\n")

    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="http-endpoints", daemon=True).start()
    log.info("serving /metrics, /healthz and /readyz on http://%s:%s", host, server.server_port)
    return server
