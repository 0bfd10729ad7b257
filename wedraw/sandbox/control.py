"""Control endpoints under /__sandbox/: never part of WeChat's surface.

Tests, the H5 apps and developers use them to shape the world (reset, register
accounts, inject faults, move the clock, expire tokens), to act as WeChat users
(follow, send text, click a menu, scan a code, log in to the Mini Program) and to see
what WeChat would have delivered (the outbox) or pushed (callback records).
Both hosts serve them; they act on the one shared world.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections import Counter
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Blueprint, jsonify, request

from wedraw.core.config import ConfigError
from wedraw.core.errors import ApiError
from wedraw.sandbox.demo import check_aes_key
from wedraw.sandbox.errors import WxError
from wedraw.sandbox.http import CONTROL_PREFIX, current_world
from wedraw.sandbox.official import menu_click_keys, mint_oauth_code
from wedraw.sandbox.pusher import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT, MODES, PushRecord
from wedraw.sandbox.world import (
    CODE_TTL,
    MINIPROGRAM,
    OFFICIAL,
    Account,
    Agent,
    Code,
    Department,
    Member,
    World,
    _alnum_id,
    person_profile,
)

bp = Blueprint("sandbox_control", __name__, url_prefix=CONTROL_PREFIX)

ACCOUNT_SETTINGS = (
    "name",
    "token",
    "aes_key",
    "callback_url",
    "encrypt_mode",
    "token_daily_quota",
    "template_daily_quota",
    "custom_per_interaction",
    "code2session_per_minute",
    "job_events",
)
AGENT_SETTINGS = ("name", "token", "aes_key", "callback_url")
WORLD_PARAMS = ("fans", "members", "departments", "seed", "miniprogram_users", "group_chats", "callback_base")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise ApiError(400, "The body must be JSON.")
    if data is not None and not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data or {}


def _number(data: dict, name: str, default: float | None = None, *, minimum: float = 0, cast=float) -> Any:
    raw = data.get(name, default)
    if raw is None:
        return None
    try:
        value = cast(raw)
    except (TypeError, ValueError):
        raise ApiError(422, f"{name} must be a number", errors={name: ["Not a number."]}) from None
    if value < minimum:
        raise ApiError(422, f"{name} must be at least {minimum}", errors={name: ["Too small."]})
    return value


def _wx(exc: WxError) -> ApiError:
    return ApiError(
        404 if exc.errcode in (40003, 40013, 60111, 40037) else 409,
        f"{exc.errcode} {exc.message}",
        code=f"wechat_{exc.errcode}",
    )


def _account(world: World, appid: str | None, kind: str | None = None) -> Account:
    default = world.demo.miniprogram.appid if kind == MINIPROGRAM else world.demo.official.appid
    account = world.accounts.get(appid or default)
    if account is None or (kind and account.kind != kind):
        raise ApiError(404, f"no {kind or 'account'} with appid {appid!r}")
    return account


def _agent(world: World, corp_id: str | None, agent_id: Any) -> Agent:
    corp = world.corps.get(corp_id or world.demo.wecom.corp_id)
    if corp is None:
        raise ApiError(404, f"no corp {corp_id!r}")
    try:
        agent = corp.agents.get(int(agent_id)) if agent_id is not None else next(iter(corp.agents.values()), None)
    except (TypeError, ValueError):
        agent = None
    if agent is None:
        raise ApiError(404, f"no agent {agent_id!r} in {corp.corp_id}")
    return agent


def _push_options(data: dict) -> dict[str, Any]:
    mode = data.get("mode")
    if mode is not None and mode not in MODES:
        raise ApiError(422, f"mode must be one of {', '.join(MODES)}")
    return {
        "mode": mode,
        "timeout": _number(data, "timeout", DEFAULT_TIMEOUT, minimum=0.01),
        "attempts": _number(data, "attempts", DEFAULT_ATTEMPTS, minimum=1, cast=int),
        "wait": bool(data.get("wait", True)),
    }


def _push(world: World, owner: Account | Agent, message: dict[str, Any], options: dict[str, Any]) -> PushRecord:
    """Fill the envelope fields WeChat sets, then push (outside the world lock)."""
    with world.lock:
        now = int(world.clock.now())
        if isinstance(owner, Agent):
            message = {"ToUserName": owner.corp_id, "CreateTime": now, **message, "AgentID": owner.agent_id}
        else:
            message = {"ToUserName": owner.original_id, "CreateTime": now, **message}
        if message.get("MsgType") != "event" and "MsgId" not in message:
            message["MsgId"] = world.next_msg_id()
        target = world.push_target(owner, options["mode"])
    return world.pusher.push(
        target, message, timeout=options["timeout"], attempts=options["attempts"], wait=options["wait"]
    )


def _owner(world: World, data: dict) -> Account | Agent:
    if data.get("corp_id") or data.get("agent_id") is not None:
        return _agent(world, data.get("corp_id"), data.get("agent_id"))
    return _account(world, data.get("appid"), OFFICIAL)


# --------------------------------------------------------------------------- world


@bp.route("/", methods=["GET"])
def summary():
    world = current_world()
    with world.lock:
        body = world.summary()
    body["demo"] = {
        "official": world.demo.official.__dict__,
        "miniprogram": world.demo.miniprogram.__dict__,
        "wecom": world.demo.wecom.__dict__,
    }
    return jsonify(body)


@bp.route("/reset", methods=["POST"])
def reset():
    data = _body()
    overrides = {k: data[k] for k in WORLD_PARAMS if k in data}
    for name in ("fans", "members", "departments", "seed", "miniprogram_users", "group_chats"):
        if overrides.get(name) is not None:
            overrides[name] = _number(overrides, name, cast=int)
    world = current_world()
    try:
        world.reset(**overrides)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    with world.lock:
        return jsonify(world.summary())


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    world = current_world()
    with world.lock:
        if request.method == "POST":
            world.clock.advance(_number(_body(), "advance", 0, minimum=0))
        return jsonify({"now": world.clock.now(), "offset": world.clock.offset})


@bp.route("/stats", methods=["GET", "DELETE"])
def stats():
    world = current_world()
    with world.lock:
        if request.method == "DELETE":
            world.calls.clear()
            world.token_calls.clear()
        return jsonify({"calls": dict(world.calls), "token_calls": dict(world.token_calls)})


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    world = current_world()
    with world.lock:
        if request.method == "DELETE":
            world.faults.clear()
        elif request.method == "POST":
            data = _body()
            if not data.get("path"):
                raise ApiError(422, "path is required", errors={"path": ["Missing data for required field."]})
            host = data.get("host")
            if host not in (None, "official", "wecom"):
                raise ApiError(422, "host must be official or wecom")
            # times: how many matching calls the fault answers; null keeps it until removed.
            times = None if data.get("times", 1) is None else _number(data, "times", 1, minimum=1, cast=int)
            try:
                fault = world.add_fault(
                    data["path"],
                    host=host,
                    appid=data.get("appid"),
                    times=times,
                    errcode=_number(data, "errcode", minimum=-1, cast=int),
                    delay=_number(data, "delay", 0),
                    http_status=_number(data, "http_status", minimum=100, cast=int),
                )
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
            return jsonify(fault.as_dict()), 201
        return jsonify({"faults": [f.as_dict() for f in world.faults]})


@bp.route("/faults/<int:fault_id>", methods=["DELETE"])
def fault_delete(fault_id: int):
    world = current_world()
    with world.lock:
        before = len(world.faults)
        world.faults[:] = [f for f in world.faults if f.id != fault_id]
        if len(world.faults) == before:
            raise ApiError(404, f"no fault {fault_id}")
    return "", 204


@bp.route("/tokens/expire", methods=["POST"])
def tokens_expire():
    """Make matching access tokens fail now with 42001 (expired, default) or 40001 (not latest)."""
    data = _body()
    world = current_world()
    with world.lock:
        try:
            hit = world.expire_tokens(
                appid=data.get("appid") or data.get("corp_id"),
                token=data.get("token"),
                agent_id=_number(data, "agent_id", cast=int),
                errcode=_number(data, "errcode", 42001, cast=int),
            )
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
    return jsonify({"expired": hit})


# --------------------------------------------------------------------------- outbox and pushes


@bp.route("/outbox", methods=["GET", "DELETE"])
def outbox():
    """Everything delivered, filtered by app / channel / recipient, with counts per recipient."""
    world = current_world()
    with world.lock:
        if request.method == "DELETE":
            world.outbox.clear()
            return jsonify({"total": 0, "counts": {}, "messages": []})
        args = request.args
        since = _number(args, "since_id", 0, cast=int)
        limit = _number(args, "limit", 1000, minimum=0, cast=int)
        matching = [
            d
            for d in world.outbox
            if d.id > since and all(not args.get(k) or getattr(d, k) == args[k] for k in ("app", "channel", "to"))
        ]
        counts = Counter(d.to for d in matching)
        return jsonify(
            {
                "total": len(matching),
                "counts": dict(counts),
                "messages": [d.as_dict() for d in matching[-limit:]] if limit else [],
            }
        )


@bp.route("/pushes", methods=["GET"])
def pushes():
    world = current_world()
    with world.lock:
        records = [r for r in world.pushes if not request.args.get("app") or r.app == request.args["app"]]
    return jsonify({"pushes": [r.as_dict() for r in records]})


@bp.route("/pushes/<int:push_id>", methods=["GET"])
def push_get(push_id: int):
    world = current_world()
    with world.lock:
        record = next((r for r in world.pushes if r.id == push_id), None)
    if record is None:
        raise ApiError(404, f"no push {push_id}")
    if request.args.get("wait"):
        record.done.wait(_number(request.args, "wait", 0))
    return jsonify(record.as_dict())


@bp.route("/push", methods=["POST"])
def push():
    """Push any message or event: `message` holds its fields (FromUserName and MsgType at least)."""
    data = _body()
    message = data.get("message")
    if not isinstance(message, dict) or not message.get("FromUserName") or not message.get("MsgType"):
        raise ApiError(422, "message must be an object with FromUserName and MsgType")
    world = current_world()
    with world.lock:
        owner = _owner(world, data)
    record = _push(world, owner, message, _push_options(data))
    return jsonify(record.as_dict()), 201


@bp.route("/push/verify", methods=["POST"])
def push_verify():
    """The GET WeChat sends when a callback URL is saved in its console."""
    data = _body()
    world = current_world()
    with world.lock:
        target = world.push_target(_owner(world, data))
    return jsonify(world.pusher.verify_url(target, _number(data, "timeout", DEFAULT_TIMEOUT, minimum=0.01)))


# --------------------------------------------------------------------------- simulated users


def _fan_for(account: Account, openid: str | None):
    user = account.users.find(openid)
    if user is None:
        raise ApiError(404, f"no user {openid!r} in {account.appid}")
    return user


@bp.route("/actions/<action>", methods=["POST"])
def user_action(action: str):
    """A WeChat user acts: follow, unfollow, text, click, scan (Official Account); text, click (WeCom)."""
    data = _body()
    options = _push_options(data)
    world = current_world()
    with world.lock:
        owner = _owner(world, data)
        now = world.clock.now()
        if isinstance(owner, Agent):
            message = _wecom_action(world, owner, action, data)
        else:
            message = _official_action(world, owner, action, data, now)
    record = _push(world, owner, message, options)
    return jsonify({"from": message["FromUserName"], "push": record.as_dict()}), 201


def _official_action(world: World, account: Account, action: str, data: dict, now: float) -> dict:
    users = account.users
    if action == "follow" and not data.get("openid"):
        user = users.add(world.new_person(), now, subscribed=True)
    else:
        user = _fan_for(account, data.get("openid"))
    base = {"FromUserName": user.openid}
    if action in ("follow", "text", "click", "scan"):
        user.last_interaction, user.custom_sent = now, 0  # each opens a fresh 48-hour window
    if action == "follow":
        users.set_subscribed(user, True, now)
        return {**base, "MsgType": "event", "Event": "subscribe", "EventKey": ""}
    if action == "unfollow":
        if not user.subscribed:
            raise ApiError(409, "the user does not follow the account")
        users.set_subscribed(user, False, now)
        return {**base, "MsgType": "event", "Event": "unsubscribe", "EventKey": ""}
    if not user.subscribed and action in ("text", "click"):
        raise ApiError(409, "only followers can message or use the menu")
    if action == "text":
        content = data.get("content")
        if not isinstance(content, str) or not content:
            raise ApiError(422, "content is required")
        return {**base, "MsgType": "text", "Content": content}
    if action == "click":
        key = data.get("key")
        if key not in menu_click_keys(account.menu):
            raise ApiError(409, f"the menu has no click button with key {key!r}")
        return {**base, "MsgType": "event", "Event": "CLICK", "EventKey": key}
    if action == "scan":
        code = account.qrcodes.get(data.get("ticket") or "")
        if code is None or (code.expires_at is not None and code.expires_at <= now):
            raise ApiError(409, "unknown or expired ticket")
        if user.subscribed:
            return {**base, "MsgType": "event", "Event": "SCAN", "EventKey": code.scene, "Ticket": code.ticket}
        users.set_subscribed(user, True, now)
        user.subscribe_scene = "ADD_SCENE_QR_CODE"
        return {
            **base,
            "MsgType": "event",
            "Event": "subscribe",
            "EventKey": f"qrscene_{code.scene}",
            "Ticket": code.ticket,
        }
    raise ApiError(404, f"unknown action {action!r}; use follow, unfollow, text, click or scan")


def _wecom_action(world: World, agent: Agent, action: str, data: dict) -> dict:
    corp = world.corps[agent.corp_id]
    userid = data.get("userid") or next((m.userid for m in corp.members.values() if m.active), None)
    if userid not in corp.members:
        raise ApiError(404, f"no member {userid!r}")
    if action == "text":
        if not data.get("content"):
            raise ApiError(422, "content is required")
        return {"FromUserName": userid, "MsgType": "text", "Content": data["content"]}
    if action == "click":
        if not data.get("key"):
            raise ApiError(422, "key is required")
        return {"FromUserName": userid, "MsgType": "event", "Event": "click", "EventKey": data["key"]}
    raise ApiError(404, f"unknown WeCom action {action!r}; use text or click")


@bp.route("/wxlogin", methods=["POST"])
def wxlogin():
    """What `wx.login()` gives a Mini Program: a five-minute, single-use code for one user.

    `openid` picks the user (default: the first; `"new": true` makes a new one);
    `risky: true` marks the user as one WeChat's risk control rejects (40226).
    """
    data = _body()
    world = current_world()
    with world.lock:
        account = _account(world, data.get("appid"), MINIPROGRAM)
        now = world.clock.now()
        if data.get("new"):
            user = account.users.add(world.new_person(), now, subscribed=True)
        elif data.get("openid"):
            user = _fan_for(account, data["openid"])
        else:
            user = account.users.at(0) if len(account.users) else account.users.add(world.new_person(), now, True)
        if "risky" in data:
            user.risky = bool(data["risky"])
        code = Code(secrets.token_hex(16), user.openid, now + CODE_TTL)
        account.login_codes[code.code] = code
        unionid = person_profile(world.params.seed, user.person)["unionid"]
    return jsonify({"code": code.code, "openid": user.openid, "unionid": unionid, "expires_in": CODE_TTL}), 201


@bp.route("/phone-data", methods=["POST"])
def phone_data():
    """What `<button open-type="getPhoneNumber">` hands a Mini Program: the user's phone number,
    encrypted with the user's current session_key as WeChat does it.

    WeChat's rule: AES-128-CBC with PKCS#7 padding, key = base64-decode(session_key), a fresh
    random 16-byte iv; `encryptedData` and `iv` are base64. The plaintext is JSON with
    `phoneNumber`, `purePhoneNumber`, `countryCode` and a `watermark` ({appid, timestamp}).
    `openid` picks the user, who must have logged in (jscode2session issued the session_key);
    `phone` (default: one derived from the openid) and `country_code` (default "86").
    """
    data = _body()
    world = current_world()
    with world.lock:
        account = _account(world, data.get("appid"), MINIPROGRAM)
        user = _fan_for(account, data.get("openid"))
        if not user.session_key:
            raise ApiError(409, "this user has no session_key yet: log in first (wxlogin, then jscode2session)")
        key = base64.b64decode(user.session_key)
        timestamp = int(world.clock.now())
    pure = str(data.get("phone") or "139" + str(int.from_bytes(user.openid.encode()[-6:], "big") % 10**8).zfill(8))
    if not pure.isdigit() or not 5 <= len(pure) <= 15:
        raise ApiError(422, "phone must be 5 to 15 digits", errors={"phone": ["Not a phone number."]})
    country = str(data.get("country_code") or "86")
    plain = {
        "phoneNumber": pure if country == "86" else f"+{country}{pure}",
        "purePhoneNumber": pure,
        "countryCode": country,
        "watermark": {"appid": account.appid, "timestamp": timestamp},
    }
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(json.dumps(plain, ensure_ascii=False).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    return jsonify(
        {
            "errMsg": "getPhoneNumber:ok",
            "encryptedData": base64.b64encode(encrypted).decode(),
            "iv": base64.b64encode(iv).decode(),
            "openid": user.openid,
            "phone": pure,
        }
    ), 201


@bp.route("/oauth/code", methods=["POST"])
def oauth_code():
    """An OAuth web-login code without a browser round trip (appid: an Official Account or a corp id)."""
    data = _body()
    world = current_world()
    with world.lock:
        try:
            code = mint_oauth_code(
                world,
                data.get("appid") or world.demo.official.appid,
                data.get("openid") or data.get("userid"),
                data.get("scope") or "snsapi_base",
            )
        except WxError as exc:
            raise _wx(exc) from None
    return jsonify({"code": code.code, "subject": code.subject, "scope": code.scope, "expires_in": CODE_TTL}), 201


@bp.route("/subscribe-grants", methods=["POST"])
def subscribe_grants():
    """The user accepts `wx.requestSubscribeMessage`: `count` more sends of one template."""
    data = _body()
    world = current_world()
    with world.lock:
        account = _account(world, data.get("appid"), MINIPROGRAM)
        user = _fan_for(account, data.get("openid"))
        template_id = data.get("template_id")
        if template_id not in account.templates:
            raise ApiError(404, f"no subscribe template {template_id!r}")
        user.grants[template_id] += _number(data, "count", 1, minimum=1, cast=int)
        return jsonify({"openid": user.openid, "template_id": template_id, "grants": user.grants[template_id]})


@bp.route("/users/<appid>", methods=["GET"])
def users(appid: str):
    """Users of an Official Account or Mini Program, with the state the rules depend on."""
    world = current_world()
    offset = _number(request.args, "offset", 0, cast=int)
    limit = min(_number(request.args, "limit", 50, minimum=1, cast=int), 1000)
    with world.lock:
        account = _account(world, appid)
        rows = []
        for i in range(offset, min(offset + limit, len(account.users))):
            user = account.users.at(i)
            profile = person_profile(world.params.seed, user.person)
            rows.append(
                {
                    "index": i,
                    "openid": user.openid,
                    "unionid": profile["unionid"],
                    "nickname": profile["nickname"],
                    "subscribed": user.subscribed,
                    "last_interaction": user.last_interaction,
                    "custom_sent": user.custom_sent,
                    "tags": sorted(user.tags),
                    "blacklisted": user.blacklisted,
                    "risky": user.risky,
                    "grants": dict(user.grants),
                }
            )
        return jsonify({"total": len(account.users), "subscribed": account.users.subscribed_count, "users": rows})


# --------------------------------------------------------------------------- registering accounts


def _settings(data: dict, allowed: tuple[str, ...]) -> dict[str, Any]:
    settings = {k: data[k] for k in allowed if k in data}
    if settings.get("aes_key"):
        try:
            check_aes_key("aes_key", settings["aes_key"])
        except ConfigError as exc:
            raise ApiError(422, str(exc), errors={"aes_key": ["Not an EncodingAESKey."]}) from None
    if "encrypt_mode" in settings and settings["encrypt_mode"] not in MODES:
        raise ApiError(422, f"encrypt_mode must be one of {', '.join(MODES)}")
    for name in ("token_daily_quota", "template_daily_quota", "custom_per_interaction", "code2session_per_minute"):
        if name in settings:
            settings[name] = _number(settings, name, minimum=0, cast=int)
    return settings


def _account_dict(account: Account) -> dict:
    return {
        "appid": account.appid,
        "kind": account.kind,
        "name": account.name,
        "original_id": account.original_id,
        "callback_url": account.callback_url,
        "encrypt_mode": account.encrypt_mode,
        "users": len(account.users),
        "templates": list(account.templates),
    }


@bp.route("/accounts", methods=["POST"])
def account_register():
    data = _body()
    for name in ("appid", "secret"):
        if not data.get(name):
            raise ApiError(422, f"{name} is required", errors={name: ["Missing data for required field."]})
    world = current_world()
    with world.lock:
        try:
            account = world.register_account(
                data["appid"],
                data["secret"],
                kind=data.get("kind", OFFICIAL),
                fans=_number(data, "fans", 0, cast=int),
                users=_number(data, "users", 0, cast=int),
                **_settings(data, ACCOUNT_SETTINGS),
            )
        except ValueError as exc:
            raise ApiError(409, str(exc)) from None
        return jsonify(_account_dict(account)), 201


@bp.route("/accounts/<appid>", methods=["PATCH"])
def account_update(appid: str):
    data = _body()
    world = current_world()
    with world.lock:
        account = _account(world, appid)
        for key, value in _settings(data, ACCOUNT_SETTINGS).items():
            setattr(account, key, value)
        return jsonify(_account_dict(account))


def _agent_dict(agent: Agent) -> dict:
    return {
        "corp_id": agent.corp_id,
        "agent_id": agent.agent_id,
        "name": agent.name,
        "callback_url": agent.callback_url,
    }


@bp.route("/corps", methods=["POST"])
def corp_register():
    data = _body()
    if not data.get("corp_id"):
        raise ApiError(422, "corp_id is required", errors={"corp_id": ["Missing data for required field."]})
    world = current_world()
    with world.lock:
        try:
            corp = world.register_corp(
                data["corp_id"],
                data.get("name") or data["corp_id"],
                members=_number(data, "members", 0, cast=int),
                departments=_number(data, "departments", 1, minimum=1, cast=int),
            )
            for spec in data.get("agents") or []:
                world.add_agent(
                    corp, _number(spec, "agent_id", cast=int), spec["secret"], **_settings(spec, AGENT_SETTINGS)
                )
        except (ValueError, KeyError, TypeError) as exc:
            world.corps.pop(data["corp_id"], None)
            raise ApiError(409, f"cannot register corp: {exc}") from None
        return jsonify(
            {
                "corp_id": corp.corp_id,
                "members": len(corp.members),
                "agents": [_agent_dict(a) for a in corp.agents.values()],
            }
        ), 201


@bp.route("/corps/<corp_id>/agents", methods=["POST"])
def agent_register(corp_id: str):
    data = _body()
    world = current_world()
    with world.lock:
        corp = world.corps.get(corp_id)
        if corp is None:
            raise ApiError(404, f"no corp {corp_id!r}")
        if not data.get("secret") or data.get("agent_id") is None:
            raise ApiError(422, "agent_id and secret are required")
        try:
            agent = world.add_agent(
                corp, _number(data, "agent_id", cast=int), data["secret"], **_settings(data, AGENT_SETTINGS)
            )
        except ValueError as exc:
            raise ApiError(409, str(exc)) from None
        return jsonify(_agent_dict(agent)), 201


@bp.route("/corps/<corp_id>/agents/<int:agent_id>", methods=["PATCH"])
def agent_update(corp_id: str, agent_id: int):
    data = _body()
    world = current_world()
    with world.lock:
        agent = _agent(world, corp_id, agent_id)
        for key, value in _settings(data, AGENT_SETTINGS).items():
            setattr(agent, key, value)
        return jsonify(_agent_dict(agent))


@bp.route("/robots", methods=["POST"])
def robot_register():
    data = _body()
    world = current_world()
    with world.lock:
        try:
            robot = world.add_robot(
                data.get("corp_id") or world.demo.wecom.corp_id, data.get("key"), data.get("name") or ""
            )
        except ValueError as exc:
            raise ApiError(409, str(exc)) from None
    return jsonify(
        {
            "key": robot.key,
            "corp_id": robot.corp_id,
            "name": robot.name,
            "webhook_url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={robot.key}",
        }
    ), 201


# --------------------------------------------------------------------------- WeCom contact changes
#
# An administrator changing the corp's contacts: each change is applied to the world and
# WeCom's `change_contact` events are pushed (signed and encrypted) to the corp's agents
# that have a callback URL, or to the one named by `agent_id`; `"push": false` changes the
# world silently (a missed event, for a full sync to repair). The answer carries the
# change and the push records.


def _corp_for(world: World, data: dict):
    corp = world.corps.get(data.get("corp_id") or world.demo.wecom.corp_id)
    if corp is None:
        raise ApiError(404, f"no corp {data.get('corp_id')!r}")
    return corp


def _contact_targets(world: World, corp, data: dict) -> list[Agent]:
    if not data.get("push", True):
        return []
    if data.get("agent_id") is not None:
        return [_agent(world, corp.corp_id, data["agent_id"])]
    return [a for a in corp.agents.values() if a.callback_url]


def _departments_arg(data: dict, name: str = "department") -> list[int] | None:
    raw = data.get(name)
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, f"{name} must be a non-empty list of department ids", errors={name: ["Not a list."]})
    return [_number({name: v}, name, cast=int, minimum=1) for v in raw]


def _contact_change(change) -> Any:
    """Run `change(world, corp)` under the lock, push its events in order, answer the change and pushes."""
    data = _body()
    options = _push_options(data)
    world = current_world()
    with world.lock:
        corp = _corp_for(world, data)
        try:
            subject, events = change(world, corp, data)
        except WxError as exc:
            raise _wx(exc) from None
        targets = _contact_targets(world, corp, data)
    pushes = [_push(world, agent, event, options).as_dict() for event in events for agent in targets]
    return jsonify({**subject, "events": events, "pushes": pushes}), 200


def _member_dict(member: Member) -> dict:
    return member.detail()


@bp.route("/wecom/users", methods=["POST"])
def wecom_user_create():
    """A member joins: `userid`, `name`, `department` (ids), optional `position`, `mobile`, `email`,
    `gender`, `status` (mobile/email null: WeCom withholds them from apps, as for apps made after 2022-06-20)."""

    def change(world: World, corp, data: dict):
        if not data.get("userid") or not data.get("name"):
            raise ApiError(422, "userid and name are required")
        departments = _departments_arg(data) or [1]
        member = Member(
            userid=str(data["userid"]),
            name=str(data["name"]),
            department=departments,
            position=str(data.get("position") or ""),
            mobile=data.get("mobile", ""),
            gender=str(data.get("gender") or "0"),
            email=data.get("email", ""),
            status=_number(data, "status", 1, minimum=1, cast=int),
            open_userid=_alnum_id("wo", 32, world.params.seed, corp.corp_id, "member", data["userid"]),
            order=[0] * len(departments),
        )
        event = corp.add_member(member)
        return {"member": _member_dict(member)}, [event]

    return _contact_change(change)


@bp.route("/wecom/users/<userid>", methods=["PATCH"])
def wecom_user_update(userid: str):
    """Change a member: any of `name`, `department`, `position`, `mobile`, `email`, `gender`, `status`,
    `new_userid`; the update_user event carries only what changed."""

    def change(world: World, corp, data: dict):
        changes = {k: data[k] for k in ("name", "position", "mobile", "email", "new_userid") if k in data}
        if "gender" in data:
            changes["gender"] = str(data["gender"])
        if "status" in data:
            changes["status"] = _number(data, "status", minimum=1, cast=int)
        departments = _departments_arg(data)
        if departments is not None:
            changes["department"] = departments
        event = corp.update_member(userid, changes)
        member = corp.members[changes.get("new_userid") or userid]
        return {"member": _member_dict(member)}, [event]

    return _contact_change(change)


@bp.route("/wecom/users/<userid>", methods=["DELETE"])
def wecom_user_delete(userid: str):
    def change(world: World, corp, data: dict):
        return {"userid": userid}, [corp.remove_member(userid)]

    return _contact_change(change)


@bp.route("/wecom/departments", methods=["POST"])
def wecom_department_create():
    """A department: `name`, `parentid` (default 1), optional `id` and `order`."""

    def change(world: World, corp, data: dict):
        if not data.get("name"):
            raise ApiError(422, "name is required")
        dept_id = _number(data, "id", None, minimum=2, cast=int) or max(corp.departments, default=0) + 1
        dept = Department(
            id=dept_id,
            name=str(data["name"]),
            name_en=str(data.get("name_en") or ""),
            parentid=_number(data, "parentid", 1, minimum=1, cast=int),
            order=_number(data, "order", 100000000 - dept_id, minimum=0, cast=int),
        )
        event = corp.add_department(dept)
        return {"department": dept.__dict__}, [event]

    return _contact_change(change)


@bp.route("/wecom/departments/<int:dept_id>", methods=["PATCH"])
def wecom_department_update(dept_id: int):
    def change(world: World, corp, data: dict):
        changes = {"name": data.get("name"), "order": _number(data, "order", None, minimum=0, cast=int)}
        changes["parentid"] = _number(data, "parentid", None, minimum=1, cast=int)
        event = corp.update_department(dept_id, changes)
        return {"department": corp.departments[dept_id].__dict__}, [event]

    return _contact_change(change)


@bp.route("/wecom/departments/<int:dept_id>", methods=["DELETE"])
def wecom_department_delete(dept_id: int):
    """Delete a department; its members move to `move_to` (default: its parent), each with an update_user."""

    def change(world: World, corp, data: dict):
        move_to = _number(data, "move_to", None, minimum=1, cast=int)
        events = corp.remove_department(dept_id, move_to)
        return {"department_id": dept_id}, events

    return _contact_change(change)


@bp.route("/wecom/tags", methods=["POST"])
def wecom_tag_create():
    """A contacts tag (`tagname`, optional `tagid`). WeCom pushes no event for creating one."""
    data = _body()
    if not data.get("tagname"):
        raise ApiError(422, "tagname is required")
    world = current_world()
    with world.lock:
        corp = _corp_for(world, data)
        try:
            tag = corp.add_tag(_number(data, "tagid", None, minimum=1, cast=int), str(data["tagname"]))
        except WxError as exc:
            raise _wx(exc) from None
        return jsonify({"tagid": tag.id, "tagname": tag.name}), 201


@bp.route("/wecom/tags/<int:tag_id>/members", methods=["POST"])
def wecom_tag_members(tag_id: int):
    """Add or remove tag members: `add_users`, `del_users` (userids), `add_parties`, `del_parties` (ids)."""

    def change(world: World, corp, data: dict):
        lists = {}
        for name in ("add_users", "del_users", "add_parties", "del_parties"):
            value = data.get(name) or []
            if not isinstance(value, list):
                raise ApiError(422, f"{name} must be a list")
            lists[name] = [int(v) for v in value] if name.endswith("parties") else [str(v) for v in value]
        event = corp.change_tag(tag_id, **lists)
        tag = corp.tags[tag_id]
        return {"tag": {"tagid": tag.id, "tagname": tag.name, "users": tag.users, "parties": tag.parties}}, [event]

    return _contact_change(change)
