"""Serve a WSGI app with waitress from a background thread of this process.

Used where one process serves in-process apps: the embedded runner behind `make run`, the
WeChat sandbox, tests and benchmarks. Production serves with gunicorn (deploy/).

waitress keeps HTTP/1.1 connections alive (werkzeug's development server closes every one,
so each call would cost a new connection and a new thread on both sides), watches its
sockets with poll(), not select() (select() cannot watch a descriptor numbered above 1024),
and hands requests to a fixed pool of threads.
"""

from __future__ import annotations

import threading
from typing import Any

from waitress.server import BaseWSGIServer, create_server

STOP_TIMEOUT = 5.0


def bind_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    threads: int = 8,
    **options: Any,
) -> BaseWSGIServer:
    """A server bound to its port (a taken port raises OSError here), not serving yet; port 0 picks a
    free one. `server.effective_port` is the port it listens on."""
    options.setdefault("ident", "wedraw")
    return create_server(app, host=host, port=port, threads=threads, asyncore_use_poll=True, **options)


def serve_in_thread(server: BaseWSGIServer, name: str = "http") -> BaseWSGIServer:
    threading.Thread(target=server.run, name=name, daemon=True).start()
    return server


def start_server(app: Any, *, name: str = "http", **options: Any) -> BaseWSGIServer:
    """Bind now and serve in a daemon thread (options as `bind_server`). Stop with `stop_server()`."""
    return serve_in_thread(bind_server(app, **options), name)


def stop_server(server: BaseWSGIServer) -> None:
    """Stop it whole, as a process exit would: the listening socket, every accepted connection (a client's
    pooled keep-alive connection must not outlive the server) and the worker threads."""
    server.close()
    for channel in list(server._map.values()):
        channel.close()
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=STOP_TIMEOUT)
