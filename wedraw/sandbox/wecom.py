"""What `qyapi.weixin.qq.com` serves (WeCom), on the sandbox's second port.

WeCom answers every call with `errcode`/`errmsg`, success included. Tokens belong to
one agent (one app secret); the same token is returned while it is valid.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Any

from flask import Blueprint, request

from wedraw.sandbox.errors import WxError
from wedraw.sandbox.http import json_body, ok, require, wechat_view
from wedraw.sandbox.world import (
    ROBOT_LIMIT,
    ROBOT_WINDOW,
    TOKEN_TTL,
    Agent,
    AppChat,
    Corp,
    Media,
    Member,
    World,
)

bp = Blueprint("sandbox_wecom", __name__)

AGENT_MSG_TYPES = (
    "text",
    "image",
    "voice",
    "video",
    "file",
    "textcard",
    "news",
    "mpnews",
    "markdown",
    "miniprogram_notice",
    "template_card",
)
APPCHAT_MSG_TYPES = ("text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown")
ROBOT_MSG_TYPES = ("text", "markdown", "image", "news", "file", "voice", "template_card")
ROBOT_MEDIA_LIMITS = {"file": 20 << 20, "voice": 2 << 20}
CHATID = re.compile(r"^[0-9a-zA-Z]{1,32}$")
LIST_ID_MAX = 10_000
GROUPCHAT_LIST_MAX = 1000


def _corp(world: World, agent: Agent) -> Corp:
    return world.corps[agent.corp_id]


def _member(corp: Corp, userid: Any) -> Member:
    member = corp.members.get(userid) if isinstance(userid, str) else None
    if member is None:
        raise WxError(60111)
    return member


def _department(corp: Corp, dept_id: Any) -> int:
    try:
        dept = int(dept_id)
    except (TypeError, ValueError):
        raise WxError(60123) from None
    if dept not in corp.departments:
        raise WxError(60123)
    return dept


def _members_in(corp: Corp, dept_id: int, fetch_child: bool) -> list[Member]:
    depts = set(corp.subtree(dept_id)) if fetch_child else {dept_id}
    return [m for m in corp.members.values() if depts.intersection(m.department)]


def _cursor(raw: Any) -> int:
    """Cursors are opaque to callers; here they carry an offset."""
    if not raw:
        return 0
    try:
        return int(base64.urlsafe_b64decode(str(raw).encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise WxError(40058, "invalid cursor") from None


def _next_cursor(offset: int, total: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode() if offset < total else ""


def _limit(raw: Any, default: int, maximum: int) -> int:
    try:
        limit = int(raw if raw is not None else default)
    except (TypeError, ValueError):
        raise WxError(40058, "limit") from None
    if not 1 <= limit <= maximum:
        raise WxError(40058, f"limit must be 1 to {maximum}")
    return limit


# --------------------------------------------------------------------------- token and contacts


@wechat_view(bp, "/cgi-bin/gettoken", auth=False)
def gettoken(world: World) -> dict:
    corp_id, secret = request.args.get("corpid"), request.args.get("corpsecret")
    world.token_calls[corp_id or "?"] += 1
    if not corp_id:
        raise WxError(41002, "corpid missing")
    if not secret:
        raise WxError(41004, "corpsecret missing")
    corp = world.corp(corp_id)
    agent = next((a for a in corp.agents.values() if secrets.compare_digest(a.secret, secret)), None)
    if agent is None:
        raise WxError(40001, "invalid corpsecret")
    issued = world.issue_wecom_token(agent)
    remaining = max(1, int(issued.expires_at - world.clock.now()))
    return ok(access_token=issued.value, expires_in=min(remaining, TOKEN_TTL))


@wechat_view(bp, "/cgi-bin/department/list")
def department_list(world: World, agent: Agent) -> dict:
    corp = _corp(world, agent)
    root = _department(corp, request.args.get("id", 1))
    depts = [corp.departments[d] for d in corp.subtree(root)]
    return ok(
        department=[
            {"id": d.id, "name": d.name, "name_en": d.name_en, "parentid": d.parentid, "order": d.order} for d in depts
        ]
    )


@wechat_view(bp, "/cgi-bin/user/list")
def user_list(world: World, agent: Agent) -> dict:
    corp = _corp(world, agent)
    dept = _department(corp, request.args.get("department_id"))
    members = _members_in(corp, dept, request.args.get("fetch_child") == "1")
    return ok(userlist=[m.detail() for m in members])


@wechat_view(bp, "/cgi-bin/user/simplelist")
def user_simple_list(world: World, agent: Agent) -> dict:
    corp = _corp(world, agent)
    dept = _department(corp, request.args.get("department_id"))
    members = _members_in(corp, dept, request.args.get("fetch_child") == "1")
    return ok(
        userlist=[
            {"userid": m.userid, "name": m.name, "department": m.department, "open_userid": m.open_userid}
            for m in members
        ]
    )


@wechat_view(bp, "/cgi-bin/user/get")
def user_get(world: World, agent: Agent) -> dict:
    return ok(**_member(_corp(world, agent), request.args.get("userid")).detail())


@wechat_view(bp, "/cgi-bin/user/list_id", methods=("POST",))
def user_list_id(world: World, agent: Agent) -> dict:
    """Every member's userid and departments, by cursor (up to 10,000 a page)."""
    body = json_body()
    corp = _corp(world, agent)
    offset, limit = _cursor(body.get("cursor")), _limit(body.get("limit"), LIST_ID_MAX, LIST_ID_MAX)
    members = list(corp.members.values())
    page = members[offset : offset + limit]
    rows = [{"userid": m.userid, "department": d} for m in page for d in m.department]
    return ok(next_cursor=_next_cursor(offset + len(page), len(members)), dept_user=rows)


@wechat_view(bp, "/cgi-bin/tag/list")
def tag_list(world: World, agent: Agent) -> dict:
    """Every contacts tag of the corp (id and name)."""
    corp = _corp(world, agent)
    return ok(taglist=[{"tagid": t.id, "tagname": t.name} for t in sorted(corp.tags.values(), key=lambda t: t.id)])


@wechat_view(bp, "/cgi-bin/tag/get")
def tag_get(world: World, agent: Agent) -> dict:
    """One tag: its name, its members (userid and name) and its whole departments."""
    corp = _corp(world, agent)
    try:
        tag = corp.tags.get(int(request.args.get("tagid") or ""))
    except ValueError:
        tag = None
    if tag is None:
        raise WxError(40068)
    return ok(
        tagname=tag.name,
        userlist=[{"userid": u, "name": corp.members[u].name} for u in tag.users if u in corp.members],
        partylist=list(tag.parties),
    )


# --------------------------------------------------------------------------- agent messages and app chats


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if str(v)]
    return [v for v in str(value or "").split("|") if v]


@wechat_view(bp, "/cgi-bin/message/send", methods=("POST",))
def message_send(world: World, agent: Agent) -> dict:
    """errcode 0 even when some recipients are invalid: they are listed in invaliduser/invalidparty/invalidtag."""
    body = json_body()
    try:
        agent_id = int(body.get("agentid"))
    except (TypeError, ValueError):
        raise WxError(40056) from None
    if agent_id != agent.agent_id:
        raise WxError(40056)
    msgtype = body.get("msgtype")
    if msgtype not in AGENT_MSG_TYPES or not isinstance(body.get(msgtype), dict):
        raise WxError(40008)
    corp = _corp(world, agent)
    users, parties, tags = _split(body.get("touser")), _split(body.get("toparty")), _split(body.get("totag"))
    recipients: dict[str, None] = {}
    invalid_users, invalid_parties = [], []
    if "@all" in users:
        recipients.update(dict.fromkeys(m.userid for m in corp.members.values() if m.active))
        users = []
    for userid in users:
        member = corp.members.get(userid)
        if member is None or not member.active:
            invalid_users.append(userid)
        else:
            recipients[userid] = None
    for party in parties:
        if not party.isdigit() or int(party) not in corp.departments:
            invalid_parties.append(party)
            continue
        recipients.update(dict.fromkeys(m.userid for m in _members_in(corp, int(party), True) if m.active))
    invalid_tags = []
    for raw_tag in tags:
        tag = corp.tags.get(int(raw_tag)) if raw_tag.isdigit() else None
        if tag is None:
            invalid_tags.append(raw_tag)
            continue
        tagged = [corp.members[u] for u in tag.users if u in corp.members]
        for party in tag.parties:
            if party in corp.departments:
                tagged.extend(_members_in(corp, party, True))
        recipients.update(dict.fromkeys(m.userid for m in tagged if m.active))
    invalid = {
        "invaliduser": "|".join(invalid_users),
        "invalidparty": "|".join(invalid_parties),
        "invalidtag": "|".join(invalid_tags),
    }
    if not recipients:
        raise WxError(81013, **invalid)
    msgid = secrets.token_urlsafe(24)
    for userid in recipients:
        world.deliver(agent.label, "wecom", userid, msgtype, body, msgid)
    return ok(**invalid, unlicenseduser="", msgid=msgid, response_code="")


def _appchat(corp: Corp, chatid: Any) -> AppChat:
    chat = corp.appchats.get(chatid) if isinstance(chatid, str) else None
    if chat is None:
        raise WxError(86003)
    return chat


def _check_chat_members(corp: Corp, userids: Any) -> list[str]:
    if not isinstance(userids, list) or any(not isinstance(u, str) for u in userids):
        raise WxError(86007)
    if any(u not in corp.members for u in userids):
        raise WxError(86216)
    return list(dict.fromkeys(userids))


@wechat_view(bp, "/cgi-bin/appchat/create", methods=("POST",))
def appchat_create(world: World, agent: Agent) -> dict:
    body = json_body()
    corp = _corp(world, agent)
    userlist = _check_chat_members(corp, body.get("userlist"))
    if not 2 <= len(userlist) <= 2000:
        raise WxError(86006)
    owner = body.get("owner") or userlist[0]
    if owner not in userlist:
        raise WxError(86005)
    chatid = body.get("chatid") or secrets.token_hex(16)
    if not isinstance(chatid, str) or not CHATID.match(chatid):
        raise WxError(86001)
    if chatid in corp.appchats:
        raise WxError(86215)
    name = str(body.get("name") or "")[:50]
    corp.appchats[chatid] = AppChat(chatid, name, owner, userlist)
    return ok(chatid=chatid)


@wechat_view(bp, "/cgi-bin/appchat/get")
def appchat_get(world: World, agent: Agent) -> dict:
    chat = _appchat(_corp(world, agent), request.args.get("chatid"))
    return ok(
        chat_info={
            "chatid": chat.chatid,
            "name": chat.name,
            "owner": chat.owner,
            "userlist": chat.userlist,
            "chat_type": 0,
        }
    )


@wechat_view(bp, "/cgi-bin/appchat/update", methods=("POST",))
def appchat_update(world: World, agent: Agent) -> dict:
    body = json_body()
    corp = _corp(world, agent)
    chat = _appchat(corp, body.get("chatid"))
    added = _check_chat_members(corp, body.get("add_user_list") or [])
    removed = set(_check_chat_members(corp, body.get("del_user_list") or []))
    members = [u for u in dict.fromkeys(chat.userlist + added) if u not in removed]
    owner = body.get("owner") or chat.owner
    if owner not in members:
        raise WxError(86005)
    if not 2 <= len(members) <= 2000:
        raise WxError(86006)
    if body.get("name"):
        chat.name = str(body["name"])[:50]
    chat.userlist, chat.owner = members, owner
    return ok()


@wechat_view(bp, "/cgi-bin/appchat/send", methods=("POST",))
def appchat_send(world: World, agent: Agent) -> dict:
    body = json_body()
    chat = _appchat(_corp(world, agent), body.get("chatid"))
    msgtype = body.get("msgtype")
    if msgtype not in APPCHAT_MSG_TYPES or not isinstance(body.get(msgtype), dict):
        raise WxError(40008)
    msgid = secrets.token_urlsafe(24)
    for userid in chat.userlist:
        world.deliver(agent.label, "appchat", userid, msgtype, body, msgid)
    return ok()


# --------------------------------------------------------------------------- customers


@wechat_view(bp, "/cgi-bin/externalcontact/get_follow_user_list")
def external_follow_users(world: World, agent: Agent) -> dict:
    """The members with the customer-contact function: here, the members who follow a customer."""
    corp = _corp(world, agent)
    following = {f["userid"] for c in corp.external_contacts.values() for f in c.follow_users}
    return ok(follow_user=[userid for userid in corp.members if userid in following])


@wechat_view(bp, "/cgi-bin/externalcontact/list")
def external_list(world: World, agent: Agent) -> dict:
    corp = _corp(world, agent)
    member = _member(corp, request.args.get("userid"))
    ids = [
        c.external_userid
        for c in corp.external_contacts.values()
        if any(f["userid"] == member.userid for f in c.follow_users)
    ]
    if not ids:
        raise WxError(84061)
    return ok(external_userid=ids)


@wechat_view(bp, "/cgi-bin/externalcontact/get")
def external_get(world: World, agent: Agent) -> dict:
    corp = _corp(world, agent)
    contact = corp.external_contacts.get(request.args.get("external_userid") or "")
    if contact is None:
        raise WxError(40096)
    return ok(
        external_contact={
            "external_userid": contact.external_userid,
            "name": contact.name,
            "type": contact.type,
            "avatar": "",
            "gender": contact.gender,
            "unionid": contact.unionid,
        },
        follow_user=contact.follow_users,
    )


@wechat_view(bp, "/cgi-bin/externalcontact/groupchat/list", methods=("POST",))
def groupchat_list(world: World, agent: Agent) -> dict:
    body = json_body()
    corp = _corp(world, agent)
    limit = _limit(body.get("limit"), 100, GROUPCHAT_LIST_MAX)
    status = int(body.get("status_filter") or 0)
    owners = set(((body.get("owner_filter") or {}).get("userid_list")) or [])
    chats = [c for c in corp.group_chats.values() if c.status == status and (not owners or c.owner in owners)]
    offset = _cursor(body.get("cursor"))
    page = chats[offset : offset + limit]
    answer = ok(group_chat_list=[{"chat_id": c.chat_id, "status": c.status} for c in page])
    cursor = _next_cursor(offset + len(page), len(chats))
    if cursor:
        answer["next_cursor"] = cursor
    return answer


@wechat_view(bp, "/cgi-bin/externalcontact/groupchat/get", methods=("POST",))
def groupchat_get(world: World, agent: Agent) -> dict:
    body = json_body()
    corp = _corp(world, agent)
    chat = corp.group_chats.get(body.get("chat_id") or "")
    if chat is None:
        raise WxError(40050)
    members = [dict(m) for m in chat.members]
    if body.get("need_name"):
        for m in members:
            person = corp.members.get(m["userid"]) or corp.external_contacts.get(m["userid"])
            m["name"] = person.name if person else ""
    return ok(
        group_chat={
            "chat_id": chat.chat_id,
            "name": chat.name,
            "owner": chat.owner,
            "create_time": chat.create_time,
            "notice": chat.notice,
            "member_list": members,
            "admin_list": chat.admin_list,
        }
    )


# --------------------------------------------------------------------------- group robots (no access token)


def _robot(world: World):
    robot = world.robots.get(request.args.get("key") or "")
    if robot is None:
        raise WxError(93000)
    return robot


@wechat_view(bp, "/cgi-bin/webhook/send", methods=("POST",), auth=False)
def webhook_send(world: World) -> dict:
    """20 messages a minute per robot: the 21st inside 60 s answers 45009."""
    robot = _robot(world)
    body = json_body()
    now = world.clock.now()
    while robot.sent and now - robot.sent[0] >= ROBOT_WINDOW:
        robot.sent.popleft()
    if len(robot.sent) >= ROBOT_LIMIT:
        raise WxError(45009, "robot sends at most 20 messages a minute")
    msgtype = body.get("msgtype")
    if msgtype not in ROBOT_MSG_TYPES or not isinstance(body.get(msgtype), dict):
        raise WxError(40008)
    if msgtype in ("text", "markdown"):
        require(body[msgtype], "content")
    if msgtype in ("file", "voice") and body[msgtype].get("media_id") not in robot.media:
        raise WxError(40007)
    robot.sent.append(now)
    world.deliver(robot.label, "robot", robot.key, msgtype, body)
    return ok()


@wechat_view(bp, "/cgi-bin/webhook/upload_media", methods=("POST",), auth=False)
def webhook_upload_media(world: World) -> dict:
    robot = _robot(world)
    media_type = request.args.get("type")
    if media_type not in ROBOT_MEDIA_LIMITS:
        raise WxError(40004)
    upload = request.files.get("media")
    if upload is None:
        raise WxError(41005)
    data = upload.read()
    if not data or len(data) > ROBOT_MEDIA_LIMITS[media_type]:
        raise WxError(40006 if media_type == "file" else 40010)
    now = int(world.clock.now())
    media = Media(secrets.token_urlsafe(48), media_type, upload.filename or "upload", upload.mimetype, data, now)
    robot.media[media.media_id] = media
    return ok(type=media_type, media_id=media.media_id, created_at=str(now))


# --------------------------------------------------------------------------- OAuth


def _take_code(world: World, agent: Agent) -> Member:
    corp = _corp(world, agent)
    code = corp.oauth_codes.get(request.args.get("code") or "")
    if code is None or code.used or code.expires_at < world.clock.now():
        raise WxError(40029)
    code.used = True
    return corp.members[code.subject]


@wechat_view(bp, "/cgi-bin/auth/getuserinfo")
def auth_getuserinfo(world: World, agent: Agent) -> dict:
    code_scope = _corp(world, agent).oauth_codes.get(request.args.get("code") or "")
    member = _take_code(world, agent)
    answer = ok(userid=member.userid)
    if code_scope and code_scope.scope == "snsapi_privateinfo":
        answer["user_ticket"] = secrets.token_urlsafe(32)
        answer["expires_in"] = 1800
    return answer


@wechat_view(bp, "/cgi-bin/user/getuserinfo")
def user_getuserinfo(world: World, agent: Agent) -> dict:
    """The older path wechatpy 1.8 calls; same codes, older field names."""
    member = _take_code(world, agent)
    return ok(UserId=member.userid, DeviceId="")
