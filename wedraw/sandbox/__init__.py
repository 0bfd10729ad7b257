"""WeChat sandbox: a local WeChat that speaks the real wire protocol.

Two hosts, because WeChat's Official Account / Mini Program paths collide with WeCom's:
the app built with `options={"host": "official"}` serves what api.weixin.qq.com serves
(plus OAuth's open.weixin.qq.com and showqrcode's mp.weixin.qq.com paths), the one with
`"host": "wecom"` serves qyapi.weixin.qq.com. Both share one in-memory `World` passed as
`options["world"]` (one process serves both ports; see `wedraw.sandbox.server`).

The sandbox never imports `wedraw.wechat` or a service: it is WeChat's side of the wire.
"""

from __future__ import annotations

db = None

MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # WeChat's largest upload (a 20 MB file) plus multipart overhead
WORLD_OPTIONS = ("fans", "members", "departments", "seed", "miniprogram_users", "group_chats", "callback_base")


def register(app, api) -> None:
    """Routes of the sandbox host named by app.config["WEDRAW_OPTIONS"]["host"]."""
    from flask import jsonify

    from wedraw.sandbox import control, official, wecom
    from wedraw.sandbox.demo import demo_accounts
    from wedraw.sandbox.http import HOST_KEY, WORLD_KEY, count_and_inject_faults
    from wedraw.sandbox.world import HOSTS, World, WorldParams

    options = app.config["WEDRAW_OPTIONS"]
    host = options.get("host", "official")
    if host not in HOSTS:
        raise ValueError(f"sandbox host must be one of {', '.join(HOSTS)}, got {host!r}")
    world = options.get("world")
    if world is None:
        settings = app.config["WEDRAW_SETTINGS"]
        params = {k: options[k] for k in WORLD_OPTIONS if k in options}
        world = World(WorldParams(**params, demo=demo_accounts(settings.extra)))
    app.extensions[WORLD_KEY] = world
    app.extensions[HOST_KEY] = host
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    app.before_request(count_and_inject_faults)
    app.register_blueprint(official.bp if host == "official" else wecom.bp)
    app.register_blueprint(control.bp)

    def health():
        return jsonify({"status": "ok", "service": "sandbox", "host": host})

    app.add_url_rule("/health", "health", health, methods=["GET"])
