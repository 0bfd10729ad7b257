"""Request plumbing shared by the sandbox's two hosts: WeChat-style views and faults."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, current_app, request

from wedraw.sandbox.errors import WxError
from wedraw.sandbox.world import Account, Agent, World

WORLD_KEY = "wedraw.sandbox.world"
HOST_KEY = "wedraw.sandbox.host"
CONTROL_PREFIX = "/__sandbox"


def current_world() -> World:
    return current_app.extensions[WORLD_KEY]


def current_host() -> str:
    return current_app.extensions[HOST_KEY]


def wx_json(body: dict[str, Any]) -> Response:
    """WeChat answers JSON with HTTP 200, errors included, UTF-8 unescaped."""
    return current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype="application/json")


def wx_error(exc: WxError) -> Response:
    return wx_json(exc.body(current_host(), request.remote_addr))


def json_body() -> dict[str, Any]:
    """The JSON body, whatever the Content-Type (SDKs often send none); 47001 if it is not an object."""
    try:
        data = json.loads(request.get_data() or b"null")
    except ValueError:
        raise WxError(47001) from None
    if not isinstance(data, dict):
        raise WxError(47001)
    return data


def wechat_view(
    bp: Blueprint,
    rule: str,
    *,
    methods: Iterable[str] = ("GET",),
    auth: bool = True,
    kinds: tuple[str, ...] | None = None,
) -> Callable:
    """Register a WeChat endpoint.

    The view runs under the world lock. With `auth`, the access_token is checked by
    WeChat's rules and the owning account or agent is passed in; `kinds` limits which
    kind of account may call (others get 48001, as WeChat answers for a missing grant).
    A wrong HTTP method gets 43001/43002 rather than a bare 405, as on WeChat.
    """
    allowed = tuple(m.upper() for m in methods)

    def decorator(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(**kwargs: Any) -> Response:
            world = current_world()
            try:
                if request.method not in allowed:
                    raise WxError(43002 if "POST" in allowed else 43001)
                with world.lock:
                    if auth:
                        owner = world.authenticate(current_host(), request.args.get("access_token"))
                        if kinds and (not isinstance(owner, Account) or owner.kind not in kinds):
                            raise WxError(48001)
                        result = fn(world, owner, **kwargs)
                    else:
                        result = fn(world, **kwargs)
            except WxError as exc:
                return wx_error(exc)
            return result if isinstance(result, Response) else wx_json(result)

        bp.add_url_rule(rule, fn.__name__, view, methods=["GET", "POST"])
        return fn

    return decorator


def ok(**fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **fields}


def require(data: dict[str, Any], name: str, errcode: int = 40035) -> Any:
    value = data.get(name)
    if value in (None, "", [], {}):
        raise WxError(errcode, f"{name} missing")
    return value


def _caller_app_id(world: World) -> str | None:
    """The appid/corp id a request acts for, for faults scoped to one app."""
    for name in ("appid", "corpid"):
        if request.args.get(name):
            return request.args[name]
    token = world.tokens.get(request.args.get("access_token") or "")
    if token is None:
        return None
    owner = token.owner
    return owner.appid if isinstance(owner, Account) else owner.corp_id if isinstance(owner, Agent) else None


def count_and_inject_faults() -> Response | None:
    """before_request: count every WeChat call, then apply a matching injected fault."""
    if request.path.startswith(CONTROL_PREFIX):
        return None
    world, host = current_world(), current_host()
    with world.lock:
        world.calls[f"{host} {request.path}"] += 1
        fault = world.take_fault(host, request.path, _caller_app_id(world)) if world.faults else None
    if fault is None:
        return None
    if fault.delay:
        time.sleep(fault.delay)  # outside the lock: a slow WeChat must not stall the world
    if fault.errcode is not None:
        return wx_error(WxError(fault.errcode, "injected by the sandbox"))
    if fault.http_status is not None:
        return Response(f"sandbox fault: HTTP {fault.http_status}", status=fault.http_status, mimetype="text/plain")
    return None
