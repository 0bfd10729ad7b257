"""What `api.weixin.qq.com` serves (Official Account and Mini Program), on the sandbox's first port.

Paths are WeChat's own, so any SDK reaches them by base URL alone. Rules and error codes
follow WeChat's documentation; each view says which rule it enforces.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, redirect, request

from wedraw.sandbox.errors import WxError
from wedraw.sandbox.http import current_world, json_body, ok, require, wechat_view, wx_json
from wedraw.sandbox.png import qrcode_png
from wedraw.sandbox.world import (
    CODE_TTL,
    MAX_TAGS,
    MAX_TAGS_PER_FAN,
    MINIPROGRAM,
    OFFICIAL,
    TEMP_MEDIA_TTL,
    TOKEN_TTL,
    Account,
    Code,
    MassJob,
    Material,
    Media,
    QrCode,
    SnsToken,
    Tag,
    Template,
    User,
    World,
    beijing_day,
    beijing_month,
    person_profile,
)

bp = Blueprint("sandbox_official", __name__)

PAGE_SIZE = 10_000
BATCHGET_MAX = 100
TAGGING_MAX = 50
BLACKLIST_MAX = 20  # openids per batchblacklist / batchunblacklist call
MASS_MIN, MASS_MAX = 2, 10_000
MASS_PER_MONTH = 4
CUSTOM_WINDOW = 48 * 3600
MEDIA_LIMITS = {
    "image": (10 << 20, 40009),
    "voice": (2 << 20, 40010),
    "video": (10 << 20, 40011),
    "thumb": (64 << 10, 40012),
}
MATERIAL_TYPES = ("image", "voice", "video", "thumb")
CONTENT_TYPES = {"image": "image/jpeg", "thumb": "image/jpeg", "voice": "audio/amr", "video": "video/mp4"}
CUSTOM_TYPES = (
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "mpnewsarticle",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
)
MASS_TYPES = ("text", "mpnews", "image", "voice", "mpvideo", "wxcard")
BUTTON_TYPES = (
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "view_limited",
    "article_id",
    "article_view_limited",
    "miniprogram",
)
KEYED_TYPES = (
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
)
QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
OFFICIAL_ONLY = (OFFICIAL,)
MP_ONLY = (MINIPROGRAM,)


# --------------------------------------------------------------------------- helpers


def _fan(account: Account, openid: str | None) -> User:
    if not openid:
        raise WxError(40003, "openid missing")
    user = account.users.find(openid)
    if user is None:
        raise WxError(40003)
    return user


def _profile(world: World, account: Account, user: User) -> dict[str, Any]:
    profile = person_profile(world.params.seed, user.person)
    if not user.subscribed:
        return {"subscribe": 0, "openid": user.openid, "unionid": profile["unionid"]}
    return {
        "subscribe": 1,
        "openid": user.openid,
        "nickname": profile["nickname"],
        "sex": profile["sex"],
        "language": profile["language"],
        "city": profile["city"],
        "province": profile["province"],
        "country": profile["country"],
        "headimgurl": profile["headimgurl"],
        "subscribe_time": user.subscribe_time,
        "unionid": profile["unionid"],
        "remark": user.remark,
        "groupid": 0,
        "tagid_list": sorted(t for t in user.tags if t in account.tags),
        "subscribe_scene": user.subscribe_scene,
        "qr_scene": 0,
        "qr_scene_str": "",
    }


def _page_of_openids(account: Account, positions, next_openid: str | None) -> dict[str, Any]:
    """One `user/get`-style page: up to 10,000 openids and the last one as the cursor."""
    page = list(itertools.islice(positions, PAGE_SIZE))
    if not page:
        return {"count": 0, "next_openid": ""}
    openids = [account.users.openids[i] for i in page]
    return {"count": len(openids), "data": {"openid": openids}, "next_openid": openids[-1]}


def _start_after(account: Account, next_openid: str | None) -> int:
    if not next_openid:
        return 0
    position = account.users.index.get(next_openid)
    if position is None:
        raise WxError(40003, "invalid next_openid")
    return position + 1


def _check_template_data(template: Template, data: Any, *, strict_types: bool = False) -> None:
    """47003 when a placeholder has no value (and, for subscribe messages, when a value breaks its type's rule)."""
    if not isinstance(data, dict):
        raise WxError(47003, "data missing")
    for name in template.fields():
        entry = data.get(name)
        value = entry.get("value") if isinstance(entry, dict) else None
        optional = not strict_types and name in ("first", "remark")
        if (value is None or str(value) == "") and not optional:
            raise WxError(47003, f"data.{name}.value empty")
        if strict_types and name.startswith("thing") and len(str(value)) > 20:
            raise WxError(47003, f"data.{name}.value longer than 20 characters")
        if strict_types and name.startswith("number") and not str(value).replace(".", "", 1).isdigit():
            raise WxError(47003, f"data.{name}.value is not a number")


def _known_media(account: Account, media_id: str | None, news: bool = False) -> None:
    if not media_id:
        raise WxError(40007, "media_id missing")
    material = account.materials.get(media_id)
    if news:
        if material is None or material.type != "news":
            raise WxError(40007)
        return
    if material is None and media_id not in account.media:
        raise WxError(40007)


def _push_job_event(world: World, account: Account, fields: dict[str, Any]) -> None:
    """WeChat reports mass and template jobs to the callback URL when they finish."""
    if account.job_events and account.callback_url:
        message = {
            "ToUserName": account.original_id,
            "FromUserName": "mphelper",
            "CreateTime": int(world.clock.now()),
            "MsgType": "event",
            **fields,
        }
        world.pusher.push(world.push_target(account), message, wait=False)


# --------------------------------------------------------------------------- token


@wechat_view(bp, "/cgi-bin/token", auth=False)
def token(world: World) -> dict:
    """client_credential: each call issues a new token; the previous one works 5 more minutes."""
    args = request.args
    world.token_calls[args.get("appid") or "?"] += 1
    if args.get("grant_type") != "client_credential":
        raise WxError(40002)
    appid, secret = args.get("appid"), args.get("secret")
    if not appid:
        raise WxError(41002)
    if not secret:
        raise WxError(41004)
    account = world.account(appid)
    if not secrets.compare_digest(secret, account.secret):
        raise WxError(40125)
    issued = world.issue_official_token(account)
    return {"access_token": issued.value, "expires_in": TOKEN_TTL}


# --------------------------------------------------------------------------- users


@wechat_view(bp, "/cgi-bin/user/get", kinds=OFFICIAL_ONLY)
def user_get(world: World, account: Account) -> dict:
    """Pages of up to 10,000 followers; after the last one, a page without `data`."""
    next_openid = request.args.get("next_openid")
    positions = account.users.subscribed_from(_start_after(account, next_openid))
    return {"total": account.users.subscribed_count, **_page_of_openids(account, positions, next_openid)}


@wechat_view(bp, "/cgi-bin/user/info", kinds=OFFICIAL_ONLY)
def user_info(world: World, account: Account) -> dict:
    return _profile(world, account, _fan(account, request.args.get("openid")))


@wechat_view(bp, "/cgi-bin/user/info/batchget", methods=("POST",), kinds=OFFICIAL_ONLY)
def user_info_batch(world: World, account: Account) -> dict:
    wanted = json_body().get("user_list")
    if not isinstance(wanted, list) or not 1 <= len(wanted) <= BATCHGET_MAX:
        raise WxError(40032, f"user_list must hold 1 to {BATCHGET_MAX} users")
    users = [_fan(account, item.get("openid") if isinstance(item, dict) else None) for item in wanted]
    return {"user_info_list": [_profile(world, account, u) for u in users]}


@wechat_view(bp, "/cgi-bin/user/info/updateremark", methods=("POST",), kinds=OFFICIAL_ONLY)
def user_update_remark(world: World, account: Account) -> dict:
    """A follower's remark, at most 30 characters."""
    body = json_body()
    user = _fan(account, body.get("openid"))
    remark = body.get("remark")
    if not isinstance(remark, str) or len(remark) > 30:
        raise WxError(40035, "remark must be a string of at most 30 characters")
    user.remark = remark
    return ok()


# --------------------------------------------------------------------------- tags


def _tag(account: Account, tag_id: Any, *, modifiable: bool = False) -> Tag:
    try:
        tag = account.tags.get(int(tag_id))
    except (TypeError, ValueError):
        tag = None
    if tag is None:
        raise WxError(45159)
    if modifiable and tag.system:
        raise WxError(45058)
    return tag


def _check_tag_name(account: Account, name: Any, exclude: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise WxError(45157, "name missing")
    if len(name) > 30:
        raise WxError(45158)
    if any(t.name == name and t.id != exclude for t in account.tags.values()):
        raise WxError(45157, "tag name already exists")
    return name


def _tag_count(account: Account, tag_id: int) -> int:
    users = account.users
    return sum(1 for i in range(len(users)) if users.is_subscribed(i) and tag_id in users.tags_of(i))


@wechat_view(bp, "/cgi-bin/tags/get", kinds=OFFICIAL_ONLY)
def tags_get(world: World, account: Account) -> dict:
    return {"tags": [{"id": t.id, "name": t.name, "count": _tag_count(account, t.id)} for t in account.tags.values()]}


@wechat_view(bp, "/cgi-bin/tags/create", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_create(world: World, account: Account) -> dict:
    name = _check_tag_name(account, (json_body().get("tag") or {}).get("name"))
    if sum(1 for t in account.tags.values() if not t.system) >= MAX_TAGS:
        raise WxError(45056)
    tag = Tag(account.next_tag_id, name)
    account.next_tag_id += 1
    account.tags[tag.id] = tag
    return {"tag": {"id": tag.id, "name": tag.name}}


@wechat_view(bp, "/cgi-bin/tags/update", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_update(world: World, account: Account) -> dict:
    body = json_body().get("tag") or {}
    tag = _tag(account, body.get("id"), modifiable=True)
    tag.name = _check_tag_name(account, body.get("name"), exclude=tag.id)
    return ok()


@wechat_view(bp, "/cgi-bin/tags/delete", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_delete(world: World, account: Account) -> dict:
    tag = _tag(account, (json_body().get("tag") or {}).get("id"), modifiable=True)
    if _tag_count(account, tag.id) > 100_000:
        raise WxError(45057)
    del account.tags[tag.id]
    account.users.forget_tag(tag.id)
    return ok()


def _openid_list(body: dict, maximum: int) -> list:
    """`openid_list` of a batch call: 1 to `maximum` entries, else 40032."""
    openids = body.get("openid_list")
    if not isinstance(openids, list) or not 1 <= len(openids) <= maximum:
        raise WxError(40032, f"openid_list must hold 1 to {maximum} openids")
    return openids


def _tagging(account: Account, add: bool) -> dict:
    body = json_body()
    openids = _openid_list(body, TAGGING_MAX)
    tag = _tag(account, body.get("tagid"), modifiable=True)
    users = [_fan(account, openid) for openid in openids]
    for user in users:
        if add and tag.id not in user.tags and len(user.tags) >= MAX_TAGS_PER_FAN:
            raise WxError(45059)
    for user in users:
        (user.tags.add if add else user.tags.discard)(tag.id)
    return ok()


@wechat_view(bp, "/cgi-bin/tags/members/batchtagging", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_batch_tagging(world: World, account: Account) -> dict:
    return _tagging(account, add=True)


@wechat_view(bp, "/cgi-bin/tags/members/batchuntagging", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_batch_untagging(world: World, account: Account) -> dict:
    return _tagging(account, add=False)


@wechat_view(bp, "/cgi-bin/tags/getidlist", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_id_list(world: World, account: Account) -> dict:
    user = _fan(account, json_body().get("openid"))
    return {"tagid_list": sorted(t for t in user.tags if t in account.tags)}


@wechat_view(bp, "/cgi-bin/user/tag/get", methods=("POST",), kinds=OFFICIAL_ONLY)
def tag_users(world: World, account: Account) -> dict:
    body = json_body()
    tag = _tag(account, body.get("tagid"))
    users = account.users
    start = _start_after(account, body.get("next_openid"))
    positions = (i for i in users.subscribed_from(start) if tag.id in users.tags_of(i))
    return _page_of_openids(account, positions, body.get("next_openid"))


def _blacklisting(account: Account, add: bool) -> dict:
    users = [_fan(account, openid) for openid in _openid_list(json_body(), BLACKLIST_MAX)]  # one unknown: no change
    for user in users:
        user.blacklisted = add
    return ok()


@wechat_view(bp, "/cgi-bin/tags/members/batchblacklist", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_batch_blacklist(world: World, account: Account) -> dict:
    return _blacklisting(account, add=True)


@wechat_view(bp, "/cgi-bin/tags/members/batchunblacklist", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_batch_unblacklist(world: World, account: Account) -> dict:
    return _blacklisting(account, add=False)


@wechat_view(bp, "/cgi-bin/tags/members/getblacklist", methods=("POST",), kinds=OFFICIAL_ONLY)
def tags_get_blacklist(world: World, account: Account) -> dict:
    """Pages of up to 10,000 blacklisted openids after `begin_openid`, with the total."""
    begin = json_body().get("begin_openid")
    users = account.users
    total = sum(1 for _ in users.blacklisted_from(0))
    return {"total": total, **_page_of_openids(account, users.blacklisted_from(_start_after(account, begin)), begin)}


# --------------------------------------------------------------------------- menu


def _check_button(button: Any, sub: bool) -> None:
    type_code, name_code, key_code, url_code, domain_code = (
        (40024, 40025, 40026, 40027, 40054) if sub else (40017, 40018, 40019, 40020, 40055)
    )
    if not isinstance(button, dict):
        raise WxError(47001)
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode()) > (60 if sub else 16):
        raise WxError(name_code)
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise WxError(type_code)
    if kind in KEYED_TYPES:
        key = button.get("key")
        if not isinstance(key, str) or not 1 <= len(key.encode()) <= 128:
            raise WxError(key_code)
    if kind in ("view", "miniprogram"):
        url = button.get("url")
        if not isinstance(url, str) or not url or len(url.encode()) > 1024:
            raise WxError(url_code)
        if not url.startswith(("http://", "https://")):
            raise WxError(domain_code)
    if kind == "miniprogram":
        require(button, "appid")
        require(button, "pagepath")
    if kind in ("media_id", "view_limited"):
        require(button, "media_id")
    if kind in ("article_id", "article_view_limited"):
        require(button, "article_id")


def validate_menu(menu: dict[str, Any]) -> None:
    """At most 3 buttons, at most 5 sub-buttons each, known types with what each type needs."""
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise WxError(40016)
    for button in buttons:
        subs = button.get("sub_button") if isinstance(button, dict) else None
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                raise WxError(40023)
            name = button.get("name")
            if not isinstance(name, str) or not name or len(name.encode()) > 16:
                raise WxError(40018)
            for sub in subs:
                _check_button(sub, sub=True)
        else:
            _check_button(button, sub=False)


def menu_click_keys(menu: dict[str, Any] | None) -> set[str]:
    keys = set()
    for button in (menu or {}).get("button", []):
        for leaf in button.get("sub_button") or [button]:
            if leaf.get("type") == "click":
                keys.add(leaf["key"])
    return keys


@wechat_view(bp, "/cgi-bin/menu/create", methods=("POST",), kinds=OFFICIAL_ONLY)
def menu_create(world: World, account: Account) -> dict:
    body = json_body()
    validate_menu(body)
    account.menu = {"button": body["button"], "menuid": world.next_id()}
    return ok()


@wechat_view(bp, "/cgi-bin/menu/get", kinds=OFFICIAL_ONLY)
def menu_get(world: World, account: Account) -> dict:
    if account.menu is None:
        raise WxError(46003)
    return {"menu": account.menu}


@wechat_view(bp, "/cgi-bin/menu/delete", kinds=OFFICIAL_ONLY)
def menu_delete(world: World, account: Account) -> dict:
    account.menu = None
    return ok()


# --------------------------------------------------------------------------- messages


@wechat_view(bp, "/cgi-bin/message/custom/send", methods=("POST",), kinds=OFFICIAL_ONLY)
def custom_send(world: World, account: Account) -> dict:
    """Customer-service message: only within 48 h of the fan's last interaction, limited in count."""
    body = json_body()
    msgtype = body.get("msgtype")
    if msgtype not in CUSTOM_TYPES or not isinstance(body.get(msgtype), dict):
        raise WxError(40008)
    user = _fan(account, body.get("touser"))
    if not user.subscribed:
        raise WxError(43004)
    if user.blacklisted:
        raise WxError(43019)
    if world.clock.now() - user.last_interaction > CUSTOM_WINDOW:
        raise WxError(45015)
    if user.custom_sent >= account.custom_per_interaction:
        raise WxError(45047)
    user.custom_sent += 1
    world.deliver(account.appid, "custom", user.openid, msgtype, body)
    return ok()


def _mass_job(world: World, account: Account, body: dict, recipients: list[str]) -> dict:
    msgtype = body.get("msgtype")
    if msgtype not in MASS_TYPES or not isinstance(body.get(msgtype), dict):
        raise WxError(40008)
    if msgtype in ("image", "voice", "mpvideo", "mpnews"):
        _known_media(account, body[msgtype].get("media_id"), news=msgtype == "mpnews")
    client_msg_id = body.get("clientmsgid")
    if client_msg_id and client_msg_id in account.client_msg_ids:
        raise WxError(45065, msg_id=account.client_msg_ids[client_msg_id])
    month = beijing_month(world.clock.now())
    job = MassJob(msg_id=world.next_msg_id(), msg_data_id=world.next_msg_id(), msgtype=msgtype, recipients=[])
    sent = errors = filtered = 0
    for openid in recipients:
        user = account.users.find(openid)
        if user is None or not user.subscribed:
            errors += 1
            continue
        if user.mass_by_month.get(month, 0) >= MASS_PER_MONTH:
            filtered += 1  # a service account's fan receives at most 4 mass messages a month
            continue
        user.mass_by_month[month] = user.mass_by_month.get(month, 0) + 1
        job.recipients.append(openid)
        world.deliver(account.appid, "mass", openid, msgtype, body, job.msg_id)
        sent += 1
    job.counts = {
        "TotalCount": len(recipients),
        "FilterCount": len(recipients) - filtered,
        "SentCount": sent,
        "ErrorCount": errors,
    }
    account.mass_jobs[job.msg_id] = job
    if client_msg_id:
        account.client_msg_ids[client_msg_id] = job.msg_id
    _push_job_event(
        world, account, {"Event": "MASSSENDJOBFINISH", "MsgID": job.msg_id, "Status": "send success", **job.counts}
    )
    answer = {"errcode": 0, "errmsg": "send job submission success", "msg_id": job.msg_id}
    if msgtype == "mpnews":
        answer["msg_data_id"] = job.msg_data_id
    return answer


@wechat_view(bp, "/cgi-bin/message/mass/send", methods=("POST",), kinds=OFFICIAL_ONLY)
def mass_send(world: World, account: Account) -> dict:
    """Mass send to 2–10,000 openids; a repeated `clientmsgid` answers 45065."""
    body = json_body()
    touser = body.get("touser")
    if not isinstance(touser, list) or not MASS_MIN <= len(touser) <= MASS_MAX:
        raise WxError(40130)
    return _mass_job(world, account, body, [str(o) for o in touser])


@wechat_view(bp, "/cgi-bin/message/mass/sendall", methods=("POST",), kinds=OFFICIAL_ONLY)
def mass_send_all(world: World, account: Account) -> dict:
    """Mass send by `filter.tag_id` or to everyone with `filter.is_to_all` (the old group_id is not accepted)."""
    body = json_body()
    criteria = body.get("filter") or {}
    users = account.users
    if criteria.get("is_to_all") is True:
        positions = users.subscribed_from(0)
    elif criteria.get("tag_id") is not None:
        tag = _tag(account, criteria["tag_id"])
        positions = (i for i in users.subscribed_from(0) if tag.id in users.tags_of(i))
    else:
        raise WxError(40035, "filter needs is_to_all or tag_id")
    return _mass_job(world, account, body, [users.openids[i] for i in positions])


def _job(account: Account, msg_id: Any) -> MassJob:
    try:
        job = account.mass_jobs.get(int(msg_id))
    except (TypeError, ValueError):
        job = None
    if job is None:
        raise WxError(40035, "unknown msg_id")
    return job


@wechat_view(bp, "/cgi-bin/message/mass/get", methods=("POST",), kinds=OFFICIAL_ONLY)
def mass_get(world: World, account: Account) -> dict:
    job = _job(account, json_body().get("msg_id"))
    return {"msg_id": job.msg_id, "msg_status": "DELETE" if job.deleted else job.status}


@wechat_view(bp, "/cgi-bin/message/mass/delete", methods=("POST",), kinds=OFFICIAL_ONLY)
def mass_delete(world: World, account: Account) -> dict:
    _job(account, json_body().get("msg_id")).deleted = True
    return ok()


@wechat_view(bp, "/cgi-bin/message/template/send", methods=("POST",), kinds=OFFICIAL_ONLY)
def template_send(world: World, account: Account) -> dict:
    body = json_body()
    template = account.templates.get(body.get("template_id") or "")
    if template is None:
        raise WxError(40037)
    user = _fan(account, body.get("touser"))
    if not user.subscribed:
        raise WxError(43004)
    if user.blacklisted:
        raise WxError(43019)
    _check_template_data(template, body.get("data"))
    mini = body.get("miniprogram")
    if mini:
        target = world.accounts.get(mini.get("appid") or "")
        if target is None or target.kind != MINIPROGRAM:
            raise WxError(40013, "miniprogram.appid")
        if mini.get("pagepath") and mini["pagepath"].split("?", 1)[0] not in target.pages:
            raise WxError(41030)
    if not world.take_quota(account, ("template", beijing_day(world.clock.now())), account.template_daily_quota):
        raise WxError(45009)
    msgid = world.next_msg_id()
    world.deliver(account.appid, "template", user.openid, "template", body, msgid)
    _push_job_event(
        world,
        account,
        {"FromUserName": user.openid, "Event": "TEMPLATESENDJOBFINISH", "MsgID": msgid, "Status": "success"},
    )
    return ok(msgid=msgid)


@wechat_view(bp, "/cgi-bin/template/get_all_private_template", kinds=OFFICIAL_ONLY)
def templates_all(world: World, account: Account) -> dict:
    return {
        "template_list": [
            {
                "template_id": t.template_id,
                "title": t.title,
                "primary_industry": t.primary_industry,
                "deputy_industry": t.deputy_industry,
                "content": t.content,
                "example": t.example,
            }
            for t in account.templates.values()
        ]
    }


# --------------------------------------------------------------------------- media and materials


def _upload(media_type: str) -> tuple[str, str, bytes]:
    upload = request.files.get("media")
    if upload is None:
        raise WxError(41005)
    data = upload.read()
    limit, code = MEDIA_LIMITS[media_type]
    if not data or len(data) > limit:
        raise WxError(code)
    content_type = upload.mimetype if upload.mimetype not in ("", "application/octet-stream") else None
    return upload.filename or f"{media_type}.bin", content_type or CONTENT_TYPES[media_type], data


def _file_response(filename: str, content_type: str, data: bytes) -> Response:
    response = Response(data, mimetype=content_type)
    # Headers are Latin-1: a name like 欢迎图.jpg goes as RFC 5987 `filename*`, with an ASCII fallback.
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f'attachment; filename="{fallback}"'
    if fallback != filename:
        disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
    response.headers["Content-Disposition"] = disposition
    return response


@wechat_view(bp, "/cgi-bin/media/upload", methods=("POST",))
def media_upload(world: World, account: Account) -> dict:
    media_type = request.args.get("type")
    if media_type not in MEDIA_LIMITS:
        raise WxError(40004)
    filename, content_type, data = _upload(media_type)
    now = int(world.clock.now())
    media = Media(secrets.token_urlsafe(48), media_type, filename, content_type, data, now)
    account.media[media.media_id] = media
    key = "thumb_media_id" if media_type == "thumb" else "media_id"
    return {"type": media_type, key: media.media_id, "created_at": now}


@wechat_view(bp, "/cgi-bin/media/get")
def media_get(world: World, account: Account) -> Response | dict:
    """Temporary media lives three days."""
    media = account.media.get(request.args.get("media_id") or "")
    if media is None or world.clock.now() - media.created_at > TEMP_MEDIA_TTL:
        raise WxError(40007)
    if media.type == "video":
        return {"video_url": f"http://sandbox.video.weixin.qq.com/{media.media_id}.mp4"}
    return _file_response(media.filename, media.content_type, media.data)


@wechat_view(bp, "/cgi-bin/material/add_material", methods=("POST",), kinds=OFFICIAL_ONLY)
def material_add(world: World, account: Account) -> dict:
    media_type = request.args.get("type") or request.form.get("type")
    if media_type not in MATERIAL_TYPES:
        raise WxError(40004)
    description = None
    if media_type == "video":
        try:
            description = json.loads(request.values.get("description") or "")
        except ValueError:
            description = None
        if not isinstance(description, dict) or not description.get("title"):
            raise WxError(40035, "video needs description with title and introduction")
    filename, content_type, data = _upload(media_type)
    media_id = secrets.token_urlsafe(32)
    url = f"http://mmbiz.qpic.cn/sandbox/{media_id}/0" if media_type in ("image", "thumb") else ""
    account.materials[media_id] = Material(
        media_id, media_type, filename, int(world.clock.now()), data, content_type, url, description
    )
    return {"media_id": media_id, "url": url} if url else {"media_id": media_id}


@wechat_view(bp, "/cgi-bin/material/add_news", methods=("POST",), kinds=OFFICIAL_ONLY)
def material_add_news(world: World, account: Account) -> dict:
    articles = json_body().get("articles")
    if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
        raise WxError(40035, "articles must hold 1 to 8 articles")
    for article in articles:
        require(article, "title")
        require(article, "content")
        thumb = account.materials.get(article.get("thumb_media_id") or "")
        if thumb is None or thumb.type not in ("image", "thumb"):
            raise WxError(40007, "thumb_media_id")
    media_id = secrets.token_urlsafe(32)
    account.materials[media_id] = Material(
        media_id, "news", articles[0]["title"], int(world.clock.now()), articles=[dict(a) for a in articles]
    )
    return {"media_id": media_id}


def _material(account: Account, media_id: Any) -> Material:
    material = account.materials.get(media_id or "") if isinstance(media_id, str) or media_id is None else None
    if material is None:
        raise WxError(40007)
    return material


@wechat_view(bp, "/cgi-bin/material/get_material", methods=("POST",), kinds=OFFICIAL_ONLY)
def material_get(world: World, account: Account) -> Response | dict:
    material = _material(account, json_body().get("media_id"))
    if material.type == "news":
        return {
            "news_item": material.articles,
            "create_time": material.update_time,
            "update_time": material.update_time,
        }
    if material.type == "video":
        return {
            "title": material.description.get("title", ""),
            "description": material.description.get("introduction", ""),
            "down_url": f"http://sandbox.video.weixin.qq.com/{material.media_id}.mp4",
        }
    return _file_response(material.name, material.content_type, material.data)


@wechat_view(bp, "/cgi-bin/material/del_material", methods=("POST",), kinds=OFFICIAL_ONLY)
def material_delete(world: World, account: Account) -> dict:
    del account.materials[_material(account, json_body().get("media_id")).media_id]
    return ok()


@wechat_view(bp, "/cgi-bin/material/batchget_material", methods=("POST",), kinds=OFFICIAL_ONLY)
def material_batch_get(world: World, account: Account) -> dict:
    body = json_body()
    media_type = body.get("type")
    if media_type not in ("image", "video", "voice", "news"):
        raise WxError(40004)
    try:
        offset, count = int(body.get("offset", 0)), int(body.get("count", 20))
    except (TypeError, ValueError):
        raise WxError(40035, "offset and count must be integers") from None
    if offset < 0 or not 1 <= count <= 20:
        raise WxError(40035, "count must be 1 to 20")
    # "image" lists thumbs too: both are images in the material library.
    types = ("image", "thumb") if media_type == "image" else (media_type,)
    matching = sorted((m for m in account.materials.values() if m.type in types), key=lambda m: -m.update_time)
    page = matching[offset : offset + count]
    if media_type == "news":
        items = [
            {
                "media_id": m.media_id,
                "content": {"news_item": m.articles, "create_time": m.update_time, "update_time": m.update_time},
                "update_time": m.update_time,
            }
            for m in page
        ]
    else:
        items = [{"media_id": m.media_id, "name": m.name, "update_time": m.update_time, "url": m.url} for m in page]
    return {"total_count": len(matching), "item_count": len(items), "item": items}


@wechat_view(bp, "/cgi-bin/material/get_materialcount", kinds=OFFICIAL_ONLY)
def material_count(world: World, account: Account) -> dict:
    counts = {"voice_count": 0, "video_count": 0, "image_count": 0, "news_count": 0}
    for material in account.materials.values():
        counts[("image" if material.type == "thumb" else material.type) + "_count"] += 1
    return counts


# --------------------------------------------------------------------------- QR codes


@wechat_view(bp, "/cgi-bin/qrcode/create", methods=("POST",), kinds=OFFICIAL_ONLY)
def qrcode_create(world: World, account: Account) -> dict:
    body = json_body()
    action = body.get("action_name")
    if action not in QR_ACTIONS:
        raise WxError(40035, "invalid action_name")
    scene_info = ((body.get("action_info") or {}).get("scene")) or {}
    if "STR" in action:
        scene = scene_info.get("scene_str")
        if not isinstance(scene, str) or not 1 <= len(scene) <= 64:
            raise WxError(40035, "scene_str must be 1 to 64 characters")
    else:
        scene = scene_info.get("scene_id")
        upper = 100_000 if action == "QR_LIMIT_SCENE" else 2**32 - 1
        if not isinstance(scene, int) or not 1 <= scene <= upper:
            raise WxError(40035, f"scene_id must be 1 to {upper}")
    temporary = "LIMIT" not in action
    expire_seconds = min(int(body.get("expire_seconds") or 60), 2_592_000) if temporary else None
    ticket = "gQ" + secrets.token_urlsafe(40)
    url = f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}"
    expires_at = world.clock.now() + expire_seconds if temporary else None
    account.qrcodes[ticket] = QrCode(ticket, action, str(scene), expires_at, url)
    answer = {"ticket": ticket, "url": url}
    if temporary:
        answer["expire_seconds"] = expire_seconds
    return answer


@bp.route("/cgi-bin/showqrcode", methods=["GET"])
def showqrcode() -> Response:
    """The QR image for a ticket (served by mp.weixin.qq.com in production); no access token."""
    world, ticket = current_world(), request.args.get("ticket", "")
    with world.lock:
        code = next((a.qrcodes[ticket] for a in world.accounts.values() if ticket in a.qrcodes), None)
        live = code is not None and (code.expires_at is None or code.expires_at > world.clock.now())
    if not live:
        return Response("ticket not found or expired", status=404, mimetype="text/plain")
    return Response(qrcode_png(code.url), mimetype="image/png")


# --------------------------------------------------------------------------- Mini Program


@wechat_view(bp, "/sns/jscode2session", auth=False)
def jscode2session(world: World) -> dict:
    """wx.login codes are single-use (40163 on reuse) and live five minutes.

    Accepts (and ignores) an `access_token` parameter: wechatpy sends one.
    """
    args = request.args
    account = world.account(args.get("appid"), MINIPROGRAM)
    if not secrets.compare_digest(args.get("secret") or "", account.secret):
        raise WxError(40125)
    if args.get("grant_type") != "authorization_code":
        raise WxError(40002)
    code_value = args.get("js_code")
    if not code_value:
        raise WxError(41008)
    minute = int(world.clock.now() // 60)
    if not world.take_quota(account, ("code2session", minute), account.code2session_per_minute):
        raise WxError(45011)
    code = account.login_codes.get(code_value)
    if code is None or code.expires_at < world.clock.now():
        raise WxError(40029)
    if code.used:
        raise WxError(40163)
    code.used = True
    user = account.users.find(code.subject)
    if user.risky:
        raise WxError(40226)
    # WeChat's session_key: base64 of 16 random bytes (the AES-128 key of the user's encrypted data).
    user.session_key = base64.b64encode(secrets.token_bytes(16)).decode()
    return {
        "openid": user.openid,
        "session_key": user.session_key,
        "unionid": person_profile(world.params.seed, user.person)["unionid"],
    }


@wechat_view(bp, "/cgi-bin/message/subscribe/send", methods=("POST",), kinds=MP_ONLY)
def subscribe_send(world: World, account: Account) -> dict:
    """One send per user grant (43101 without one)."""
    body = json_body()
    template = account.templates.get(body.get("template_id") or "")
    if template is None:
        raise WxError(40037)
    user = _fan(account, body.get("touser"))
    page = body.get("page")
    if page and page.split("?", 1)[0] not in account.pages:
        raise WxError(41030)
    if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
        raise WxError(40035, "miniprogram_state")
    _check_template_data(template, body.get("data"), strict_types=True)
    if user.grants[template.template_id] < 1:
        raise WxError(43101)
    user.grants[template.template_id] -= 1
    msgid = world.next_msg_id()
    world.deliver(account.appid, "subscribe", user.openid, "subscribe", body, msgid)
    return ok(msgid=msgid)


# --------------------------------------------------------------------------- OAuth web login and JS-SDK


@bp.route("/connect/oauth2/authorize", methods=["GET"])
def oauth_authorize() -> Response:
    """The page a browser is sent to; the sandbox user consents at once and is redirected with a code.

    Sandbox extension: `openid` (Official Account) or `userid` (WeCom, when `appid` is a
    corp id) picks who logs in; by default the first follower or the first active member.
    """
    args = request.args
    redirect_uri = args.get("redirect_uri")
    if not redirect_uri or args.get("response_type") != "code":
        return wx_json(WxError(40035, "redirect_uri and response_type=code are required").body("official"))
    world = current_world()
    try:
        with world.lock:
            code = mint_oauth_code(
                world, args.get("appid"), args.get("openid") or args.get("userid"), args.get("scope") or "snsapi_base"
            )
    except WxError as exc:
        return wx_json(exc.body("official"))
    parts = urlsplit(redirect_uri)
    query = "&".join(p for p in (parts.query, urlencode({"code": code.code, "state": args.get("state", "")})) if p)
    return redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), code=302)


def mint_oauth_code(world: World, appid: str | None, subject: str | None, scope: str) -> Code:
    """An OAuth code for an Official Account follower or, when `appid` is a corp id, a WeCom member.

    The authorize page serves both (WeCom's is on open.weixin.qq.com too). The caller holds the lock.
    """
    account = world.accounts.get(appid or "")
    if account is not None and account.kind == OFFICIAL:
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            raise WxError(40035, "scope must be snsapi_base or snsapi_userinfo")
        if subject:
            user = _fan(account, subject)
        else:
            first = next(account.users.subscribed_from(0), None)
            if first is None:
                raise WxError(40003, "the account has no followers to log in")
            user = account.users.at(first)
        code = Code(secrets.token_hex(16), user.openid, world.clock.now() + CODE_TTL, scope)
        account.oauth_codes[code.code] = code
        return code
    corp = world.corps.get(appid or "")
    if corp is None:
        raise WxError(40013)
    if scope not in ("snsapi_base", "snsapi_privateinfo", "snsapi_userinfo"):
        raise WxError(40035, "scope")
    userid = subject or next((m.userid for m in corp.members.values() if m.active), None)
    if userid not in corp.members:
        raise WxError(60111)
    code = Code(secrets.token_hex(16), userid, world.clock.now() + CODE_TTL, scope)
    corp.oauth_codes[code.code] = code
    return code


@wechat_view(bp, "/sns/oauth2/access_token", auth=False)
def oauth_access_token(world: World) -> dict:
    args = request.args
    account = world.account(args.get("appid"), OFFICIAL)
    if not secrets.compare_digest(args.get("secret") or "", account.secret):
        raise WxError(40125)
    if args.get("grant_type") != "authorization_code":
        raise WxError(40002)
    code = account.oauth_codes.get(args.get("code") or "")
    if code is None or code.expires_at < world.clock.now():
        raise WxError(40029)
    if code.used:
        raise WxError(40163)
    code.used = True
    sns = SnsToken(
        secrets.token_urlsafe(64), secrets.token_urlsafe(64), code.subject, code.scope, world.clock.now() + TOKEN_TTL
    )
    account.sns_tokens[sns.access_token] = sns
    answer = {
        "access_token": sns.access_token,
        "expires_in": TOKEN_TTL,
        "refresh_token": sns.refresh_token,
        "openid": sns.openid,
        "scope": sns.scope,
        "is_snapshotuser": 0,
    }
    if sns.scope == "snsapi_userinfo":
        user = account.users.find(sns.openid)
        answer["unionid"] = person_profile(world.params.seed, user.person)["unionid"]
    return answer


@wechat_view(bp, "/sns/userinfo", auth=False)
def oauth_userinfo(world: World) -> dict:
    """Needs a user token from the snsapi_userinfo scope (48001 for snsapi_base)."""
    token_value = request.args.get("access_token")
    if not token_value:
        raise WxError(41001)
    found = next(((a, a.sns_tokens[token_value]) for a in world.accounts.values() if token_value in a.sns_tokens), None)
    if found is None:
        raise WxError(40001)
    account, sns = found
    if sns.expires_at < world.clock.now():
        raise WxError(42001)
    if request.args.get("openid") != sns.openid:
        raise WxError(40003)
    if sns.scope != "snsapi_userinfo":
        raise WxError(48001)
    user = account.users.find(sns.openid)
    profile = person_profile(world.params.seed, user.person)
    return {
        "openid": user.openid,
        "nickname": profile["nickname"],
        "sex": profile["sex"],
        "province": profile["province"],
        "city": profile["city"],
        "country": profile["country"],
        "headimgurl": profile["headimgurl"],
        "privilege": [],
        "unionid": profile["unionid"],
    }


@wechat_view(bp, "/cgi-bin/ticket/getticket", kinds=OFFICIAL_ONLY)
def get_ticket(world: World, account: Account) -> dict:
    """JS-SDK tickets: the same ticket while it is valid (7200 s)."""
    kind = request.args.get("type", "jsapi")
    if kind not in ("jsapi", "wx_card"):
        raise WxError(40035, "type must be jsapi or wx_card")
    now = world.clock.now()
    value, expires_at = account.jsapi_tickets.get(kind, ("", 0.0))
    if expires_at <= now:
        value, expires_at = secrets.token_urlsafe(64), now + TOKEN_TTL
        account.jsapi_tickets[kind] = (value, expires_at)
    return ok(ticket=value, expires_in=int(expires_at - now))
