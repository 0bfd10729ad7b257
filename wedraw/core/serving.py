"""Serve a WSGI app with waitress from a background thread of this process.

Used where one process serves in-process apps: the embedded runner behind `make run`, the
WeChat sandbox, tests and benchmarks. Production serves with gunicorn (deploy/).

waitress keeps HTTP/1.1 connections alive (werkzeug's development server closes every one,
so each call would cost a new connection and a new thread on both sides), watches its
sockets with poll(), not select() (select() cannot watch a descriptor numbered above 1024),
and hands requests to a fixed pool of threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from waitress.server import BaseWSGIServer, create_server

STOP_TIMEOUT = 5.0  # seconds running requests get to finish when a server stops
FLUSH_TIMEOUT = 1.0  # seconds their answers get to go out


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
    """Stop it whole, as a process exit would, but let requests already running answer first.

    Stop accepting; let running requests finish (up to STOP_TIMEOUT) and their answers go out (a finished
    request wakes the serving loop through the trigger, so that closes last); then close every connection
    (a client's pooled keep-alive connection must not outlive the server). The serving thread's loop ends
    when its map is empty."""
    # Out of the loop's map first: a hang-up seen on the listening socket would otherwise reach the server's
    # handle_close, which closes the trigger too. Then shut it down, which refuses new connections at once
    # (a plain close would leave it listening until the loop's poll() lets go of it).
    server.del_channel()
    with contextlib.suppress(OSError):
        server.socket.shutdown(socket.SHUT_RDWR)
    server.socket.close()
    with contextlib.suppress(OSError):
        server.pull_trigger()  # wake the loop so it polls without the listening socket
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while time.monotonic() < deadline and any(
        getattr(channel, "total_outbufs_len", 0) for channel in list(server._map.values())
    ):
        time.sleep(0.01)
    for channel in list(server._map.values()):
        channel.close()
    server.trigger.close()
