"""Idempotent demo/bootstrap data for every service (`wedraw seed`, run by `make run`).

Each service package may expose `seed(app, echo)`; this walks the registry and calls them
inside each service's own app, so no service touches another's tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from wedraw.core.factory import create_app
from wedraw.core.registry import WEB_SERVICES, get_service


def seed_all(settings=None, echo: Callable[[str], None] = print) -> None:
    for name in WEB_SERVICES:
        module = importlib.import_module(get_service(name).package)
        seed = getattr(module, "seed", None)
        if seed is None:
            continue
        app = create_app(name, settings=settings)
        with app.app_context():
            seed(app, echo)
