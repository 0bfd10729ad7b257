"""Serve both sandbox hosts from one process, sharing one world.

`start_sandbox()` runs them in background threads (tests, the embedded runner);
`python -m wedraw.sandbox` runs them until SIGTERM/SIGINT. Threaded servers matter:
an injected delay holds one request while others go on, as on WeChat.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from wedraw.core.config import Settings, load_settings
from wedraw.core.factory import create_app
from wedraw.sandbox.demo import demo_accounts
from wedraw.sandbox.world import World, WorldParams

SHUTDOWN_POLL = 0.05  # how often a serving thread checks for stop(): stopping is quick


def build_world(settings: Settings, **params: Any) -> World:
    """A world sized by `params` (WorldParams fields), with the demo accounts from the settings' environment."""
    params.setdefault("demo", demo_accounts(settings.extra))
    return World(WorldParams(**params))


def build_apps(settings: Settings, world: World) -> dict[str, Flask]:
    """The two host apps over one world, built by the shared factory."""
    return {
        host: create_app("sandbox", settings=settings, options={"host": host, "world": world})
        for host in ("official", "wecom")
    }


@dataclass
class SandboxHandle:
    """A running sandbox: its two base URLs and its world (for direct inspection in tests)."""

    world: World
    official_url: str
    wecom_url: str
    _servers: list[BaseWSGIServer] = field(default_factory=list, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.world.pusher.shutdown()
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(host: str, port: int, app: Flask) -> BaseWSGIServer:
    """A threaded server on a socket we bind ourselves: a taken port raises OSError here
    (werkzeug's own bind prints and exits the process, which an embedding caller cannot handle)."""
    with socket.create_server((host, port)) as listener:
        return make_server(host, port, app, threaded=True, fd=listener.fileno())


def start_sandbox(
    settings: Settings | None = None,
    *,
    official_port: int = 0,
    wecom_port: int = 0,
    host: str = "127.0.0.1",
    world: World | None = None,
    **world_params: Any,
) -> SandboxHandle:
    """Start both hosts in background threads; port 0 picks a free port. Stop with `.stop()`."""
    settings = settings or load_settings()
    world = world or build_world(settings, **world_params)
    apps = build_apps(settings, world)
    servers: list[BaseWSGIServer] = []
    try:
        for name, port in (("official", official_port), ("wecom", wecom_port)):
            servers.append(_serve(host, port, apps[name]))
    except BaseException:
        for server in servers:
            server.server_close()
        raise
    threads = []
    for server, name in zip(servers, ("official", "wecom"), strict=True):
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, name=f"sandbox-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    urls = [f"http://{host}:{server.port}" for server in servers]
    return SandboxHandle(world, urls[0], urls[1], servers, threads)
