"""Serve both sandbox hosts from one process, sharing one world.

`start_sandbox()` runs them in background threads (tests, the embedded runner);
`python -m wedraw.sandbox` runs them until SIGTERM/SIGINT. As on WeChat, connections are
kept alive, and an injected delay holds one request while others go on (a pool of
`THREADS` request threads per host).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from waitress.server import BaseWSGIServer

from wedraw.core.config import Settings, load_settings
from wedraw.core.factory import create_app
from wedraw.core.serving import bind_server, serve_in_thread, stop_server
from wedraw.sandbox.demo import demo_accounts
from wedraw.sandbox.world import World, WorldParams

# Requests served at once per host: more than the callers of any test or benchmark hold open
# (a delayed request keeps its thread), few enough to stay light when idle.
THREADS = 32
# Open connections per host (idle keep-alive ones included) before it stops accepting.
CONNECTION_LIMIT = 1000


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

    def stop(self) -> None:
        for server in self._servers:
            stop_server(server)
        self.world.pusher.shutdown()
        self._servers.clear()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
    try:  # both hosts bound before either answers: whoever sees one up may call the other
        for name, port in (("official", official_port), ("wecom", wecom_port)):
            servers.append(
                bind_server(
                    apps[name],
                    host=host,
                    port=port,
                    threads=THREADS,
                    ident="wechat-sandbox",
                    connection_limit=CONNECTION_LIMIT,
                )
            )
    except BaseException:
        for server in servers:
            stop_server(server)
        raise
    for server, name in zip(servers, ("official", "wecom"), strict=True):
        serve_in_thread(server, f"sandbox-{name}")
    urls = [f"http://{host}:{server.effective_port}" for server in servers]
    return SandboxHandle(world, urls[0], urls[1], servers)
