"""Group robots, app chats and app messages. Every message goes out through the message center.

The message center owns sending (rate limits, retries, the send log). This service owns the
robots (their webhook keys, encrypted here) and the corp's apps, and passes what the
message center needs with each request over its internal API
(`/internal/message/wecom/...`, service token):

- robot messages: queued there (`robot-sends`); the robot's 20 messages a minute are honoured
  by waiting in the message center's sliding window, never by dropping. Their outcome is read
  back (`sends/status`, by idempotency key) by `refresh_robot_messages`: on every read of a
  robot's messages and every 15 s by beat. WeCom's 93000 (a dead key) marks the robot broken.
- app messages and app chat messages: sent at once (`app-sends`, `appchat-sends`), so the
  composer shows the outcome, and the recipients WeCom reports invalid, per send.

App chats themselves (create, members, name, owner) are managed in WeCom directly with the
app's secret: WeCom has no call that lists them, so the table here is the list.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import current_app
from sqlalchemy import or_, select

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.internal import call_service
from wedraw.core.pagination import paginate
from wedraw.wecom.models import App, AppChat, AppMessage, Corp, Robot, RobotMessage, db
from wedraw.wecom.services import (
    _cipher,
    app_client,
    app_credentials,
    commit,
    default_app,
    fingerprint,
    get_corp,
    hint,
    ok_or_raise,
)

log = logging.getLogger("wedraw.wecom.messaging")

MC = "message_center"
MC_PREFIX = "/internal/message/wecom"
ROBOT_TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
APP_TEXT_MAX_BYTES = 2048
IMAGE_MAX_BYTES = 2 * 1024 * 1024
OPEN_STATES = ("queued",)
LOST_AFTER = timedelta(minutes=10)


def _mc(method: str, path: str, **kwargs) -> Any:
    """Ask the message center; it being unreachable or failing is a 424 (this request depended on it)."""
    try:
        return call_service(MC, method, MC_PREFIX + path, settings=current_app.config["WEDRAW_SETTINGS"], **kwargs)
    except ApiError as exc:
        if exc.code in (404, 409, 422):
            raise
        raise ApiError(
            424, "The message center is unavailable; nothing was sent. Try again shortly.", "upstream_unavailable"
        ) from None


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _too_long(kind: str, field: str, size: int, limit: int) -> ApiError:
    return ApiError(
        422,
        f"A {kind} may have at most {limit} bytes of content; this one has {size}.",
        "invalid_message",
        errors={field: [f"At most {limit} bytes (UTF-8); got {size}."]},
    )


def _articles(articles: list[dict] | None, field: str) -> list[dict]:
    if not articles or not 1 <= len(articles) <= 8:
        raise ApiError(422, "A news message needs 1 to 8 articles.", errors={field: ["1 to 8 articles."]})
    return [{k: str(a[k]) for k in ("title", "description", "url", "picurl") if a.get(k)} for a in articles]


def message_body(data: dict, *, robot: bool) -> tuple[dict, str]:
    """WeCom's message body for a request's msgtype, checked as WeCom checks it; and a preview line."""
    msgtype = data["msgtype"]
    text_limit = ROBOT_TEXT_MAX_BYTES if robot else APP_TEXT_MAX_BYTES
    if msgtype == "text":
        content = data.get("content") or ""
        if not content.strip():
            raise ApiError(422, "A text message needs content.", errors={"content": ["Required."]})
        if _bytes(content) > text_limit:
            raise _too_long("text message", "content", _bytes(content), text_limit)
        body: dict[str, Any] = {"content": content}
        for key in ("mentioned_list", "mentioned_mobile_list"):
            if robot and data.get(key):
                body[key] = list(data[key])
        return {"msgtype": "text", "text": body}, content
    if msgtype == "markdown":
        content = data.get("content") or ""
        if not content.strip():
            raise ApiError(422, "A markdown message needs content.", errors={"content": ["Required."]})
        if _bytes(content) > MARKDOWN_MAX_BYTES:
            raise _too_long("markdown message", "content", _bytes(content), MARKDOWN_MAX_BYTES)
        return {"msgtype": "markdown", "markdown": {"content": content}}, content
    if msgtype == "image":
        try:
            raw = base64.b64decode(str(data.get("image_base64") or ""), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise ApiError(422, "An image message needs the image as base64.", errors={"image_base64": ["Required."]})
        if len(raw) > IMAGE_MAX_BYTES:
            raise ApiError(
                422,
                f"A robot image may be at most 2 MB; this one has {len(raw) // 1024} KB.",
                errors={"image_base64": ["At most 2 MB."]},
            )
        return {"msgtype": "image", "image": {"base64": base64.b64encode(raw).decode()}}, "[image]"
    if msgtype == "news":
        articles = _articles(data.get("articles"), "articles")
        return {"msgtype": "news", "news": {"articles": articles}}, "[news] " + articles[0].get("title", "")
    if msgtype == "textcard":
        card = {k: data.get(k) for k in ("title", "description", "url", "btntxt") if data.get(k)}
        missing = [k for k in ("title", "description", "url") if not card.get(k)]
        if missing:
            raise ApiError(
                422, "A textcard needs a title, a description and a url.", errors={k: ["Required."] for k in missing}
            )
        return {"msgtype": "textcard", "textcard": card}, f"[textcard] {card['title']}"
    raise ApiError(422, f"Unsupported msgtype {msgtype!r}.", errors={"msgtype": ["Unsupported here."]})


# ---------------------------------------------------------------- robots


def _webhook_key(data: dict) -> str | None:
    if data.get("key"):
        return data["key"].strip()
    url = data.get("webhook_url")
    if not url:
        return None
    keys = parse_qs(urlsplit(url).query).get("key") or []
    if not keys or not keys[0].strip():
        raise ApiError(422, "The webhook URL has no key= parameter.", errors={"webhook_url": ["No key in the URL."]})
    return keys[0].strip()


def robot_key(robot: Robot) -> str:
    return _cipher().decrypt(robot.key_enc)


def list_robots(args: dict) -> dict:
    stmt = select(Robot).order_by(Robot.id)
    if args.get("status"):
        stmt = stmt.where(Robot.status == args["status"])
    if args.get("corp_id") is not None:
        stmt = stmt.where(Robot.corp_ref == args["corp_id"])
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(Robot.name.like(like), Robot.description.like(like)))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_robot(robot_id: int) -> Robot:
    robot = db.session.get(Robot, robot_id)
    if robot is None:
        raise ApiError(404, f"No robot {robot_id}.")
    return robot


def robot_detail(robot_id: int) -> Robot:
    """The robot, its state brought up to date from its open messages (a dead key shows as broken)."""
    get_robot(robot_id)
    refresh_robot_messages(robot_id)
    return get_robot(robot_id)


def _set_key(robot: Robot, key: str) -> None:
    robot.key_enc, robot.key_hint, robot.key_fingerprint = _cipher().encrypt(key), hint(key) or "****", fingerprint(key)


def create_robot(data: dict) -> Robot:
    key = _webhook_key(data)
    if not key:
        raise ApiError(422, "A robot needs its webhook key (or webhook URL).", errors={"key": ["Required."]})
    if data.get("corp_id") is not None:
        get_corp(data["corp_id"])
    robot = Robot(name=data["name"], description=data.get("description"), corp_ref=data.get("corp_id"))
    _set_key(robot, key)
    db.session.add(robot)
    commit("A robot with this webhook key is already registered.")
    return robot


def update_robot(robot_id: int, data: dict) -> Robot:
    robot = get_robot(robot_id)
    for field in ("name", "description"):
        if field in data:
            setattr(robot, field, data[field])
    if "corp_id" in data:
        if data["corp_id"] is not None:
            get_corp(data["corp_id"])
        robot.corp_ref = data["corp_id"]
    key = _webhook_key(data)
    if key:
        _set_key(robot, key)
        robot.status, robot.broken_reason, robot.broken_at = "active", None, None
    if data.get("status"):
        robot.status = data["status"]
        if data["status"] == "active":
            robot.broken_reason, robot.broken_at = None, None
    commit("A robot with this webhook key is already registered.")
    return robot


def delete_robot(robot_id: int) -> None:
    db.session.delete(get_robot(robot_id))
    db.session.commit()


def _usable(robot: Robot) -> None:
    if robot.status == "broken":
        raise ApiError(
            409,
            f"Robot {robot.name} is broken: {robot.broken_reason}. Register its new webhook key (or mark it active).",
            "robot_broken",
        )
    if robot.status == "disabled":
        raise ApiError(409, f"Robot {robot.name} is disabled.", "robot_disabled")


def mark_broken(robot: Robot, reason: str) -> None:
    if robot.status != "broken":
        robot.status, robot.broken_reason, robot.broken_at = "broken", reason[:255], utcnow()


def send_robot_message(
    robot_id: int, data: dict, requested_by: str | None, *, test: bool = False, idempotency_key: str | None = None
) -> RobotMessage:
    """Queue one robot message with the message center (422 before anything is queued when WeCom would refuse it).

    With an `idempotency_key` (other services' requests), a repeat returns the first message, and
    one that never reached the message center is handed over again under the same key.
    """
    robot = get_robot(robot_id)
    key = f"wecom-robot-ext-{idempotency_key}" if idempotency_key else f"wecom-robot-{uuid.uuid4().hex}"
    row = db.session.execute(select(RobotMessage).where(RobotMessage.idempotency_key == key)).scalar_one_or_none()
    if row is not None and (row.robot_id != robot.id or row.delivery_id is not None or row.status != "failed"):
        return row
    _usable(robot)
    message, preview = message_body(data, robot=True)
    if row is None:
        row = RobotMessage(
            robot_id=robot.id,
            msgtype=message["msgtype"],
            preview=preview[:255],
            test=test,
            status="queued",
            idempotency_key=key,
            requested_by=requested_by,
        )
        db.session.add(row)
    row.status, row.errmsg = "queued", None
    commit("This idempotency key is being used by a concurrent request.")
    try:
        answer = _mc(
            "POST",
            "/robot-sends",
            json={
                "key": robot_key(robot),
                "name": robot.name,
                "message": message,
                "idempotency_key": row.idempotency_key,
                "requested_by": requested_by,
                # The message center's copy of a broken state is cleared when the robot was made active since.
                "active_since": robot.updated_at.isoformat() + "Z",
            },
        )
    except ApiError as exc:
        row.status, row.errmsg = "failed", exc.description[:255]
        if exc.error_code == "sender_broken" or "broken" in exc.description:
            mark_broken(robot, exc.description)
        db.session.commit()
        raise
    _apply_status(row, robot, answer["delivery"], answer.get("sender") or {})
    db.session.commit()
    return row


def find_robot(ref: int | str) -> Robot:
    """A robot by our id or by its name (for other services)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return get_robot(int(ref))
    robot = db.session.execute(select(Robot).where(Robot.name == str(ref)).order_by(Robot.id).limit(1)).scalar()
    if robot is None:
        raise ApiError(404, f"No robot named {ref!r}.")
    return robot


def send_test(robot_id: int, requested_by: str | None) -> RobotMessage:
    robot = get_robot(robot_id)
    content = f"WeDraw 测试消息：机器人「{robot.name}」已连接。({utcnow().strftime('%Y-%m-%d %H:%M:%S')} UTC)"
    return send_robot_message(robot_id, {"msgtype": "text", "content": content}, requested_by, test=True)


def _apply_status(row: RobotMessage, robot: Robot, delivery: dict, sender: dict) -> None:
    status = delivery.get("status")
    row.delivery_id = delivery.get("id") or row.delivery_id
    row.attempts = int(delivery.get("attempts") or 0)
    row.errcode, row.errmsg = delivery.get("errcode"), (delivery.get("errmsg") or None)
    row.checked_at = utcnow()
    if status == "sent":
        row.status = "sent"
        row.sent_at = _parse_time(delivery.get("sent_at")) or utcnow()
        robot.last_sent_at = max(filter(None, (robot.last_sent_at, row.sent_at)))
    elif status in ("failed_final", "cancelled"):
        row.status = "failed"
    else:
        row.status = "queued"
    if row.errcode == 93000 or delivery.get("category") == "robot" or sender.get("status") == "broken":
        mark_broken(robot, sender.get("broken_reason") or f"WeCom refused the webhook key ({row.errcode})")


def _parse_time(value: str | None) -> datetime | None:
    """An ISO time from the message center as naive UTC (as stored)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def refresh_robot_messages(robot_id: int | None = None, message_ids: list[int] | None = None, limit: int = 500) -> int:
    """Read back the outcome of open robot messages from the message center. Returns how many changed.

    Never raises for the message center being away: reads stay readable, the next refresh catches up.
    """
    stmt = select(RobotMessage).where(RobotMessage.status.in_(OPEN_STATES)).order_by(RobotMessage.id).limit(limit)
    if robot_id is not None:
        stmt = stmt.where(RobotMessage.robot_id == robot_id)
    if message_ids is not None:
        stmt = stmt.where(RobotMessage.id.in_(message_ids or [-1]))
    rows = db.session.execute(stmt).scalars().all()
    if not rows:
        return 0
    try:
        answer = _mc("POST", "/sends/status", json={"keys": [r.idempotency_key for r in rows]}, timeout=5)
    except ApiError as exc:
        db.session.rollback()
        log.info("robot message outcomes not read: %s", exc.description)
        return 0
    found = answer.get("sends") or {}
    robots = {
        r.id: r for r in db.session.execute(select(Robot).where(Robot.id.in_({m.robot_id for m in rows}))).scalars()
    }
    changed = 0
    now = utcnow()
    for row in rows:
        before = (row.status, row.attempts, row.errcode)
        entry = found.get(row.idempotency_key)
        if entry is None:
            if now - row.created_at > LOST_AFTER:
                row.status, row.errmsg = "failed", "never reached the message center"
        else:
            _apply_status(row, robots[row.robot_id], entry["delivery"], entry.get("sender") or {})
        changed += before != (row.status, row.attempts, row.errcode)
    db.session.commit()
    return changed


def list_robot_messages(robot_id: int, args: dict) -> dict:
    get_robot(robot_id)
    refresh_robot_messages(robot_id)
    stmt = select(RobotMessage).where(RobotMessage.robot_id == robot_id).order_by(RobotMessage.id.desc())
    if args.get("status"):
        stmt = stmt.where(RobotMessage.status == args["status"])
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_robot_message(robot_id: int, message_id: int) -> RobotMessage:
    row = db.session.get(RobotMessage, message_id)
    if row is None or row.robot_id != robot_id:
        raise ApiError(404, f"No message {message_id} of robot {robot_id}.")
    if row.status in OPEN_STATES:
        refresh_robot_messages(robot_id, [row.id])
        row = db.session.get(RobotMessage, message_id)
    return row


# ---------------------------------------------------------------- app messages


def _recipients(data: dict) -> tuple[list[str], list[int], list[int], bool]:
    touser = list(dict.fromkeys(data.get("touser") or []))
    toparty = list(dict.fromkeys(data.get("toparty") or []))
    totag = list(dict.fromkeys(data.get("totag") or []))
    to_all = bool(data.get("to_all"))
    if not (touser or toparty or totag or to_all):
        raise ApiError(
            422,
            "Name the recipients: members (touser), departments (toparty), tags (totag), or everyone (to_all).",
            errors={"touser": ["At least one recipient."]},
        )
    return touser, toparty, totag, to_all


def _record_outcome(row: AppMessage, answer: dict) -> None:
    row.delivery_id = answer.get("delivery_id")
    row.msgid = answer.get("msgid")
    row.errcode, row.errmsg = answer.get("errcode"), (answer.get("errmsg") or None)
    invalid = answer.get("invalid") or {}
    row.invalid_users = invalid.get("users") or []
    row.invalid_parties = invalid.get("parties") or []
    row.invalid_tags = invalid.get("tags") or []
    if answer.get("status") == "sent":
        row.status, row.sent_at = "sent", utcnow()
    else:
        row.status = "failed"


def send_app_message(corp_ref: int, data: dict, requested_by: str | None) -> AppMessage:
    """An app message to members, departments and tags (or everyone), sent now through the message center."""
    corp = get_corp(corp_ref)
    app = default_app(corp, data.get("app_id"))
    touser, toparty, totag, to_all = _recipients(data)
    message, preview = message_body(data, robot=False)
    row = AppMessage(
        corp_ref=corp.id,
        app_id=app.id,
        kind="app",
        msgtype=message["msgtype"],
        preview=preview[:255],
        to_all=to_all,
        status="sending",
        idempotency_key=f"wecom-app-{uuid.uuid4().hex}",
        requested_by=requested_by,
    )
    row.message, row.touser, row.toparty, row.totag = message, touser, toparty, totag
    db.session.add(row)
    db.session.commit()
    payload = {
        **app_credentials(corp, app),
        "message": message,
        "touser": ["@all"] if to_all else touser,
        "toparty": [] if to_all else [str(p) for p in toparty],
        "totag": [] if to_all else [str(t) for t in totag],
        "idempotency_key": row.idempotency_key,
        "requested_by": requested_by,
    }
    _send_now(row, "/app-sends", payload)
    return row


def _send_now(row: AppMessage, path: str, payload: dict) -> None:
    try:
        answer = _mc("POST", path, json=payload, timeout=30)
    except ApiError as exc:
        row.status, row.errmsg = "failed", exc.description[:255]
        db.session.commit()
        if exc.code == 422:
            raise
        return
    _record_outcome(row, answer)
    db.session.commit()


def list_app_messages(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(AppMessage).where(AppMessage.corp_ref == corp_ref).order_by(AppMessage.id.desc())
    if args.get("kind"):
        stmt = stmt.where(AppMessage.kind == args["kind"])
    if args.get("status"):
        stmt = stmt.where(AppMessage.status == args["status"])
    if args.get("app_id") is not None:
        stmt = stmt.where(AppMessage.app_id == args["app_id"])
    if args.get("q"):
        stmt = stmt.where(AppMessage.preview.like(f"%{args['q']}%"))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_app_message(corp_ref: int, message_id: int) -> AppMessage:
    row = db.session.get(AppMessage, message_id)
    if row is None or row.corp_ref != corp_ref:
        raise ApiError(404, f"No app message {message_id} in corp {corp_ref}.")
    return row


# ---------------------------------------------------------------- app chats


def list_app_chats(corp_ref: int, args: dict) -> dict:
    get_corp(corp_ref)
    stmt = select(AppChat).where(AppChat.corp_ref == corp_ref).order_by(AppChat.id.desc())
    if args.get("app_id") is not None:
        stmt = stmt.where(AppChat.app_id == args["app_id"])
    if args.get("member"):
        stmt = stmt.where(AppChat.userids_json.like(f'%"{args["member"]}"%'))
    if args.get("q"):
        q = args["q"].strip()
        stmt = stmt.where(or_(AppChat.name.like(f"%{q}%"), AppChat.chatid == q))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_app_chat(corp_ref: int, chat_id: int) -> AppChat:
    chat = db.session.get(AppChat, chat_id)
    if chat is None or chat.corp_ref != corp_ref:
        raise ApiError(404, f"No app chat {chat_id} in corp {corp_ref}.")
    return chat


def _chat_client(corp: Corp, chat: AppChat):
    app = db.session.get(App, chat.app_id)
    return app_client(corp, app)


def create_app_chat(corp_ref: int, data: dict, requested_by: str | None) -> AppChat:
    corp = get_corp(corp_ref)
    app = default_app(corp, data.get("app_id"))
    userids = list(dict.fromkeys(data["userids"]))
    owner = data.get("owner") or userids[0]
    if owner not in userids:
        raise ApiError(422, "The owner must be one of the chat's members.", errors={"owner": ["Not a member."]})
    if not 2 <= len(userids) <= 2000:
        raise ApiError(422, "An app chat has 2 to 2,000 members.", errors={"userids": ["2 to 2,000 members."]})
    body: dict[str, Any] = {"name": data["name"], "owner": owner, "userlist": userids}
    if data.get("chatid"):
        taken = db.session.execute(
            select(AppChat.id).where(AppChat.corp_ref == corp.id, AppChat.chatid == data["chatid"])
        ).first()
        if taken:
            raise ApiError(409, f"App chat {data['chatid']} already exists.", "conflict")
        body["chatid"] = data["chatid"]
    client = app_client(corp, app)
    created = ok_or_raise(client.call(client.api.post, "appchat/create", data=body), "create the app chat")
    now = utcnow()
    chat = AppChat(
        corp_ref=corp.id,
        app_id=app.id,
        chatid=str(created.get("chatid") or data.get("chatid")),
        name=data["name"],
        owner=owner,
        member_count=len(userids),
        created_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    chat.userids = userids
    db.session.add(chat)
    commit(f"App chat {chat.chatid} is already recorded.")
    return chat


def _apply_chat_info(chat: AppChat, info: dict) -> None:
    chat.name = str(info.get("name") or chat.name)[:64]
    chat.owner = str(info.get("owner") or chat.owner)[:64]
    if isinstance(info.get("userlist"), list):
        chat.userids = [str(u) for u in info["userlist"]]
        chat.member_count = len(chat.userids)
    chat.updated_at = utcnow()


def refresh_app_chat(corp_ref: int, chat_id: int) -> AppChat:
    """Read the chat back from WeCom (name, owner, members may change in the WeCom client too)."""
    corp = get_corp(corp_ref)
    chat = get_app_chat(corp_ref, chat_id)
    client = _chat_client(corp, chat)
    info = ok_or_raise(client.call(client.api.get, "appchat/get", params={"chatid": chat.chatid}), "read the app chat")
    _apply_chat_info(chat, (info or {}).get("chat_info") or {})
    db.session.commit()
    return chat


def update_app_chat(corp_ref: int, chat_id: int, data: dict) -> AppChat:
    corp = get_corp(corp_ref)
    chat = get_app_chat(corp_ref, chat_id)
    body: dict[str, Any] = {"chatid": chat.chatid}
    for field in ("name", "owner"):
        if data.get(field):
            body[field] = data[field]
    if data.get("add_userids"):
        body["add_user_list"] = list(dict.fromkeys(data["add_userids"]))
    if data.get("remove_userids"):
        body["del_user_list"] = list(dict.fromkeys(data["remove_userids"]))
    if len(body) == 1:
        raise ApiError(422, "Nothing to change.", errors={"name": ["Give a name, owner or members to add or remove."]})
    client = _chat_client(corp, chat)
    ok_or_raise(client.call(client.api.post, "appchat/update", data=body), "update the app chat")
    members = [
        u for u in dict.fromkeys(chat.userids + body.get("add_user_list", [])) if u not in body.get("del_user_list", [])
    ]
    _apply_chat_info(chat, {"name": body.get("name"), "owner": body.get("owner"), "userlist": members})
    db.session.commit()
    return chat


def delete_app_chat(corp_ref: int, chat_id: int) -> None:
    """Forget the chat here (WeCom has no call that dissolves an app chat)."""
    db.session.delete(get_app_chat(corp_ref, chat_id))
    db.session.commit()


def send_app_chat_message(corp_ref: int, chat_id: int, data: dict, requested_by: str | None) -> AppMessage:
    corp = get_corp(corp_ref)
    chat = get_app_chat(corp_ref, chat_id)
    app = db.session.get(App, chat.app_id)
    message, preview = message_body(data, robot=False)
    row = AppMessage(
        corp_ref=corp.id,
        app_id=app.id,
        kind="appchat",
        chat_id=chat.id,
        msgtype=message["msgtype"],
        preview=preview[:255],
        status="sending",
        idempotency_key=f"wecom-appchat-{uuid.uuid4().hex}",
        requested_by=requested_by,
    )
    row.message = message
    db.session.add(row)
    db.session.commit()
    payload = {
        **app_credentials(corp, app),
        "chatid": chat.chatid,
        "message": message,
        "idempotency_key": row.idempotency_key,
        "requested_by": requested_by,
    }
    _send_now(row, "/appchat-sends", payload)
    return row


def list_app_chat_messages(corp_ref: int, chat_id: int, page: int, page_size: int) -> dict:
    chat = get_app_chat(corp_ref, chat_id)
    stmt = select(AppMessage).where(AppMessage.chat_id == chat.id).order_by(AppMessage.id.desc())
    return paginate(db.session, stmt, page, page_size)
