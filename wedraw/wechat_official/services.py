"""Official Account use cases: one transaction each. Views and tasks call these and nothing else.

WeChat is reached only through `wedraw.wechat` (shared token, call policy). A console
request uses a short policy (one quick retry, 5 s timeout); tasks use the default one.
WeChat's answers become API errors here: a final refusal is 409 with code
`wechat_<errcode>` and WeChat's meaning; WeChat unreachable or busy is 424
`wechat_unavailable` (the request depended on WeChat, which failed; try again later).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.crypto import cipher_for
from wedraw.core.db import naive_utc, utcnow
from wedraw.core.errors import ApiError
from wedraw.core.handoff import BatchHandOff, handoff_for
from wedraw.core.pagination import paginate
from wedraw.wechat import CallPolicy, Final, OfficialAccount, OfficialAccountConfig, official_account
from wedraw.wechat.callbacks import CallbackCodec, Incoming, MessageCrypto
from wedraw.wechat_official import menu_rules, replies
from wedraw.wechat_official.models import (
    Account,
    AutoReply,
    Fan,
    FanSyncJob,
    Material,
    Menu,
    Message,
    QrCode,
    Tag,
    db,
)

log = logging.getLogger("wedraw.wechat_official")

QUEUE = "wechat_official"
PROCESS_MESSAGE_TASK = "wechat_official.process_message"  # one message (and its retries)
PROCESS_MESSAGES_TASK = "wechat_official.process_messages"  # a batch handed on together
HAND_ON_BATCH = 200
SYNC_FANS_TASK = "wechat_official.sync_fans"
# Tasks of other services, sent by name to their owner's queue.
AWARD_SUBSCRIBE_TASK, POINTS_QUEUE = "points_mall.award_subscribe", "points"
RECORD_FACT_TASK, ANALYTICS_QUEUE = "data_analysis.record_fact", "analytics"
JOB_FINISHED_TASK, MESSAGE_CENTER_QUEUE = "message_center.job_finished", "message_center"

INTERACTIVE_POLICY = CallPolicy(max_retries=1, backoff=0.05, backoff_cap=0.5)
INTERACTIVE_TIMEOUT = 5.0
BACKGROUND_POLICY = CallPolicy()
BACKGROUND_TIMEOUT = 10.0
# A callback must answer well inside WeChat's 5 s, broker or not: publishing gets one quick retry.
HAND_ON_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CS_WINDOW = timedelta(hours=48)
TAG_BATCH = 50
BLACKLIST_BATCH = 20  # WeChat's batchblacklist / batchunblacklist take 20 openids a call
MAX_TAG_BATCH_REQUEST = 1000
JOB_EVENTS = ("TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH")
# Events that open WeChat's 48-hour customer-service window (besides any message).
INTERACTION_EVENTS = ("subscribe", "SCAN", "CLICK", "scancode_push", "scancode_waitmsg")
MEDIA_LIMITS = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "thumb": 64 << 10}


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _cipher():
    return cipher_for(_settings())


def _commit(conflict: str | None = None) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if conflict is None:
            raise
        raise ApiError(409, conflict, "conflict") from None


def _ts(value: Any) -> datetime | None:
    """A WeChat unix time as naive UTC (None when absent or nonsense)."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return datetime.utcfromtimestamp(min(seconds, 4_102_444_800))  # noqa: DTZ004 - naive UTC is what we store


def _hint(value: str | None) -> str | None:
    if not value:
        return None
    return "****" + value[-4:] if len(value) > 8 else "****"


# ---------------------------------------------------------------- WeChat results


def wechat_error(result, action: str) -> ApiError:
    """The API error for a failed WeChat call (Final → 409, Retryable → 424)."""
    if isinstance(result, Final):
        if result.errcode == 45015:
            return ApiError(
                409,
                "This fan last interacted with the account more than 48 hours ago: WeChat accepts customer-service "
                "messages only within 48 hours of the fan's last message, click, scan or follow (errcode 45015). "
                "Send a template message instead, or wait until the fan interacts again.",
                "wechat_45015",
            )
        code = f"wechat_{result.errcode}" if result.errcode is not None else "wechat_error"
        return ApiError(409, f"WeChat refused to {action}: {result.meaning} (errcode {result.errcode}).", code)
    return ApiError(
        424, f"WeChat could not {action} now ({result.meaning}); try again in a minute.", "wechat_unavailable"
    )


def _ok(result, action: str):
    if not result.ok:
        raise wechat_error(result, action)
    return result.data


# ---------------------------------------------------------------- accounts


def _config(account: Account) -> OfficialAccountConfig:
    cipher = _cipher()
    return OfficialAccountConfig(
        account.appid,
        cipher.decrypt(account.secret_enc),
        cipher.decrypt(account.token_enc),
        cipher.decrypt(account.aes_key_enc) if account.aes_key_enc else None,
    )


def client(account: Account, *, background: bool = False) -> OfficialAccount:
    """The account's WeChat client (built once per process and credentials)."""
    return official_account(
        _settings(),
        _config(account),
        timeout=BACKGROUND_TIMEOUT if background else INTERACTIVE_TIMEOUT,
        policy=BACKGROUND_POLICY if background else INTERACTIVE_POLICY,
    )


def _check_credentials(mode: str, aes_key: str | None, appid: str, token: str) -> None:
    if mode != "plain" and not aes_key:
        raise ApiError(
            422,
            f"The {mode} message mode needs an EncodingAESKey.",
            errors={"aes_key": [f"Required for the {mode} message mode."]},
        )
    if aes_key:
        try:
            MessageCrypto(token, aes_key, appid)
        except ValueError:
            raise ApiError(
                422,
                "The EncodingAESKey must be 43 characters of base64.",
                errors={"aes_key": ["Not an EncodingAESKey."]},
            ) from None


def _set_secret(account: Account, field: str, value: str | None) -> None:
    cipher = _cipher()
    setattr(account, f"{field}_enc", cipher.encrypt(value) if value else None)
    setattr(account, f"{field}_hint", _hint(value) if value else (None if field == "aes_key" else ""))


def list_accounts(q: str | None, enabled: bool | None, page: int, page_size: int) -> dict:
    stmt = select(Account).order_by(Account.id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Account.appid.like(like), Account.name.like(like)))
    if enabled is not None:
        stmt = stmt.where(Account.enabled.is_(enabled))
    return paginate(db.session, stmt, page, page_size)


def get_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise ApiError(404, f"No Official Account {account_id}.")
    return account


def create_account(data: dict) -> Account:
    _check_credentials(data["message_mode"], data.get("aes_key"), data["appid"], data["token"])
    account = Account(
        appid=data["appid"],
        name=data["name"],
        original_id=data.get("original_id"),
        message_mode=data["message_mode"],
        enabled=data.get("enabled", True),
    )
    for field in ("secret", "token", "aes_key"):
        _set_secret(account, field, data.get(field))
    db.session.add(account)
    _commit(f"An account with appid {data['appid']} already exists.")
    return account


def update_account(account_id: int, data: dict) -> Account:
    account = get_account(account_id)
    config = _config(account)
    token = data.get("token") or config.token
    aes_key = data.get("aes_key", config.aes_key)
    mode = data.get("message_mode", account.message_mode)
    _check_credentials(mode, aes_key, account.appid, token)
    for field in ("name", "original_id", "message_mode", "enabled"):
        if field in data:
            setattr(account, field, data[field])
    for field in ("secret", "token"):
        if data.get(field):
            _set_secret(account, field, data[field])
    if "aes_key" in data:
        _set_secret(account, "aes_key", data["aes_key"])
    account.updated_at = utcnow()
    account.config_version = account.config_version + 1
    db.session.commit()
    forget_callback_targets()
    return account


def delete_account(account_id: int) -> None:
    account = get_account(account_id)
    db.session.delete(account)
    db.session.commit()
    forget_callback_targets()


def check_account(account_id: int) -> Account:
    """Fetch a token with the stored credentials: proves appid and secret (and the IP allow-list)."""
    account = get_account(account_id)
    oa = client(account)
    shared = oa.api.shared_token

    def fetch() -> str:
        record = shared.record()
        return shared.refresh(stale=record.token if record else None)

    result = oa.policy.run(fetch, label=f"{account.appid} check")
    account.last_check_at = utcnow()
    account.last_check_ok = result.ok
    account.last_check_error = None if result.ok else f"{result.errcode}: {result.meaning}"[:255]
    db.session.commit()
    return account


# ---------------------------------------------------------------- callbacks


class CallbackTarget:
    """What a callback needs of its account, cached per process until the account or its replies change."""

    def __init__(self, account: Account, codec: CallbackCodec, rules: list[replies.Rule]):
        self.checked_at = time.monotonic()
        self.id = account.id
        self.appid = account.appid
        self.version = account.config_version
        self.original_id = account.original_id
        self.codec = codec
        self.rules = rules


_targets: dict[str, CallbackTarget] = {}
_targets_lock = threading.Lock()


# How long a process trusts its cached callback target before asking the database for the account's
# config_version again: a change made in another process takes effect within this time, one made in
# this process at once. It saves a database round trip on nearly every callback.
TARGET_RECHECK_SECONDS = 1.0
ACCOUNT_CHANGED = "account_changed"


def bump_config(account_id: int) -> None:
    """Tell every process's callback cache that the account or its auto-replies changed."""
    db.session.execute(
        update(Account).where(Account.id == account_id).values(config_version=Account.config_version + 1)
    )
    forget_callback_targets()


def forget_callback_targets() -> None:
    """This process looks its callback targets up afresh (another process's within TARGET_RECHECK_SECONDS)."""
    with _targets_lock:
        _targets.clear()


def callback_target(appid: str) -> CallbackTarget:
    """The enabled account behind a callback URL (404 for an unknown or disabled one)."""
    with _targets_lock:
        target = _targets.get(appid)
    if target is not None and time.monotonic() - target.checked_at < TARGET_RECHECK_SECONDS:
        return target
    row = db.session.execute(
        select(Account.id, Account.config_version, Account.enabled).where(Account.appid == appid)
    ).first()
    if row is None or not row.enabled:
        with _targets_lock:
            _targets.pop(appid, None)
        raise ApiError(404, "No enabled Official Account has this appid.")
    if target is not None and target.id == row.id and target.version == row.config_version:
        target.checked_at = time.monotonic()
        return target
    account = db.session.get(Account, row.id)
    config = _config(account)
    codec = CallbackCodec(
        "official",
        config.token,
        config.aes_key,
        account.appid if config.aes_key else None,
        require_encryption=account.message_mode == "safe",
    )
    target = CallbackTarget(account, codec, _rules(account.id))
    with _targets_lock:
        _targets[appid] = target
    return target


def _rules(account_id: int) -> list[replies.Rule]:
    rows = db.session.execute(
        select(AutoReply).where(AutoReply.account_id == account_id, AutoReply.enabled.is_(True))
    ).scalars()
    return [replies.Rule.of(r) for r in rows]


def _text_of(message: dict) -> str | None:
    """What a message says, for the log: text, voice recognition, a link title, a location label."""
    for key in ("Content", "Recognition", "Title", "Label"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _dedupe_key(incoming: Incoming) -> str:
    key = incoming.dedupe_key
    return key if len(key) <= 191 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _dialect() -> str:
    return db.session.get_bind().dialect.name


_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _upsert_statement(dialect: str, columns: tuple[str, ...]):
    """INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE for these changed columns, built once and reused: the
    values travel as bound parameters, so SQLAlchemy's compiled cache serves every callback after the first."""
    key = (dialect, columns)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        table = Fan.__table__
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert

            base = dialect_insert(table)
            stmt = base.on_conflict_do_update(
                index_elements=["account_id", "openid"], set_={c: base.excluded[c] for c in columns}
            )
        else:
            from sqlalchemy.dialects.mysql import insert as dialect_insert

            base = dialect_insert(table)
            stmt = base.on_duplicate_key_update({c: base.inserted[c] for c in columns})
        _UPSERTS[key] = stmt
    return stmt


def _upsert_fan(insert_values: dict, changes: dict) -> None:
    """One statement: insert the fan or change the existing row (safe against concurrent callbacks).

    `insert_values` holds every changed column with its new value, so the update takes them from the row
    the statement tried to insert."""
    dialect = "sqlite" if _dialect() == "sqlite" else "mysql"
    db.session.execute(_upsert_statement(dialect, tuple(sorted(changes))), insert_values)


def _qr_scene(message: dict) -> str | None:
    key = message.get("EventKey")
    if message.get("Event") == "subscribe" and isinstance(key, str) and key.startswith("qrscene_"):
        return key.removeprefix("qrscene_")
    if message.get("Event") == "SCAN" and isinstance(key, str) and key:
        return key
    return None


def _apply_to_fan(account_id: int, message: dict, when: datetime, now: datetime) -> None:
    """What a callback changes on its fan: follow state, last interaction, location."""
    msg_type, event, openid = message.get("MsgType"), message.get("Event"), message.get("FromUserName")
    if not isinstance(openid, str) or not openid or event in JOB_EVENTS:
        return
    if msg_type == "event" and event not in (
        "subscribe",
        "unsubscribe",
        "SCAN",
        "CLICK",
        "VIEW",
        "LOCATION",
        "scancode_push",
        "scancode_waitmsg",
        "location_select",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
    ):
        return  # an event we do not know: stored, not interpreted
    changes: dict[str, Any] = {"updated_at": now}
    if event == "subscribe":
        changes.update(subscribed=True, subscribe_time=when)
        scene = _qr_scene(message)
        if scene:
            changes.update(qr_scene=scene[:64], subscribe_scene="ADD_SCENE_QR_CODE")
    elif event == "unsubscribe":
        changes.update(subscribed=False, unsubscribe_time=when, tag_ids=",")  # WeChat drops an unfollower's tags
    elif event == "LOCATION":
        with contextlib.suppress(TypeError, ValueError):
            changes.update(
                latitude=float(message.get("Latitude")), longitude=float(message.get("Longitude")), location_at=when
            )
    if msg_type != "event" or event in INTERACTION_EVENTS:
        changes["last_interaction_at"] = when
        if msg_type != "event":
            changes["subscribed"] = True  # only followers can message the account
    _upsert_fan(
        {
            "account_id": account_id,
            "openid": openid[:64],
            "subscribed": event != "unsubscribe",
            "tag_ids": ",",
            "remark": "",
            "created_at": now,
            **changes,
        },
        changes,
    )


# Values as bound parameters: compiled once per process, not per callback.
_INSERT_MESSAGE = insert(Message.__table__)


def handle_callback(target: CallbackTarget, incoming: Incoming) -> str | None:
    """Store one verified callback (once) and answer it: the reply XML, or None for `success`.

    One transaction: the message row (its unique dedupe key makes WeChat's retries and
    concurrent duplicates no-ops) and the fan's state. Slow work is handed on after it.
    """
    message = incoming.message
    now = utcnow()
    when = min(_ts(message.get("CreateTime")) or now, now)
    msg_type = str(message.get("MsgType") or "unknown")[:32]
    event = message.get("Event") if msg_type == "event" else None
    event = str(event)[:64] if event else None
    rule = None
    if msg_type == "event" and event == "subscribe":
        rule = replies.pick(target.rules, event="subscribe")
    elif msg_type == "event" and event == "CLICK":
        key = message.get("EventKey")
        rule = replies.pick([r for r in target.rules if r.trigger == "keyword"], text=str(key or ""))
    elif msg_type in ("text", "image", "voice", "video", "shortvideo", "location", "link"):
        rule = replies.pick(target.rules, text=_text_of(message) if msg_type in ("text", "voice") else None)
    reply = replies.reply_xml(rule, message) if rule else None
    msg_id = message.get("MsgId") or message.get("MsgID")
    event_key = message.get("EventKey")
    values = {
        "account_id": target.id,
        "dedupe_key": _dedupe_key(incoming),
        "direction": "in",
        "openid": str(message.get("FromUserName") or "")[:64] or None,
        "msg_type": msg_type,
        "event": event,
        "event_key": str(event_key)[:255] if isinstance(event_key, str) and event_key else None,
        "msg_id": str(msg_id)[:32] if msg_id else None,
        "content": _text_of(message),
        "payload": json.dumps(message, ensure_ascii=False, separators=(",", ":")),
        "reply_type": rule.reply_type if rule else None,
        "reply_content": replies.summary(rule) if rule else None,
        "auto_reply_id": rule.id if rule else None,
        "wechat_time": when,
        "received_at": now,
        "handed_on_at": None,  # set when the hand-off's batch reaches the broker
        "hand_on_attempts": 0,
        "status": "received",
    }
    try:
        # Core, not the ORM unit of work: this is the hot path of every callback.
        message_id = db.session.execute(_INSERT_MESSAGE, values).inserted_primary_key[0]
    except IntegrityError as exc:
        db.session.rollback()
        stored = db.session.execute(select(Message.id).where(Message.dedupe_key == values["dedupe_key"])).first()
        if stored is not None:
            return None  # a retry or a concurrent duplicate: already stored and answered once
        # Not a duplicate: the cached account is gone (deleted, or re-created under a new id within
        # TARGET_RECHECK_SECONDS). Nothing was stored, so WeChat must not be told `success`.
        forget_callback_targets()
        raise ApiError(
            503, "The account changed while this callback arrived; WeChat's retry will be taken.", ACCOUNT_CHANGED
        ) from exc
    _apply_to_fan(target.id, message, when, now)
    if target.original_id is None and isinstance(message.get("ToUserName"), str):
        db.session.execute(
            update(Account)
            .where(Account.id == target.id, Account.original_id.is_(None))
            .values(original_id=message["ToUserName"][:32])
        )
    db.session.commit()
    callback_handoff().submit(message_id)
    return reply


def callback_handoff() -> BatchHandOff:
    """This app's hand-off of stored callbacks: their follow-up tasks go to the broker in batches."""
    return handoff_for(current_app._get_current_object(), "wechat_official.callbacks", hand_on)


def hand_on(message_ids: list[int]) -> int:
    """Queue the follow-up of these messages (one task per HAND_ON_BATCH) and record which the broker took.

    Never raises: rows the broker did not take keep no `handed_on_at`, and the sweep finds them.
    """
    if not message_ids:
        return 0
    celery = current_app.extensions["celery"]
    sent: list[int] = []
    for start in range(0, len(message_ids), HAND_ON_BATCH):
        batch = message_ids[start : start + HAND_ON_BATCH]
        try:
            celery.send_task(PROCESS_MESSAGES_TASK, args=[batch], queue=QUEUE, retry=True, retry_policy=HAND_ON_RETRY)
        except Exception as exc:  # broker down: the rows wait for the sweep
            log.warning(
                "broker unavailable, %d message(s) left for the sweep: %s",
                len(message_ids) - len(sent),
                type(exc).__name__,
            )
            break
        sent.extend(batch)
    if sent:
        try:
            db.session.execute(
                update(Message)
                .where(Message.id.in_(sent))
                .values(handed_on_at=utcnow(), hand_on_attempts=Message.hand_on_attempts + 1)
            )
            db.session.commit()
        except Exception:  # if the mark is lost, the sweep hands them on again (the task is idempotent)
            db.session.rollback()
            log.exception("could not record which messages were handed on")
    return len(sent)


def sweep_unhanded(grace_seconds: int = 30, stale_seconds: int = 900, limit: int = 1000) -> int:
    """Hand on stored messages the broker never took, and ones still unprocessed long after (a lost task,
    or a process that died between its commit and its publish). The task tolerates a second delivery."""
    now = utcnow()
    fresh = now - timedelta(seconds=grace_seconds)
    stale = now - timedelta(seconds=stale_seconds)
    ids = list(
        db.session.execute(
            select(Message.id)
            .where(Message.direction == "in", Message.handed_on_at.is_(None), Message.received_at <= fresh)
            .order_by(Message.id)
            .limit(limit)
        ).scalars()
    )
    if len(ids) < limit:
        ids += list(
            db.session.execute(
                select(Message.id)
                .where(Message.direction == "in", Message.processed_at.is_(None), Message.handed_on_at <= stale)
                .order_by(Message.id)
                .limit(limit - len(ids))
            ).scalars()
        )
    db.session.rollback()
    return hand_on(ids)


# ---------------------------------------------------------------- follow-up work (worker)


class RetryLater(Exception):
    def __init__(self, message: str, countdown: float):
        super().__init__(message)
        self.countdown = countdown


def _profile_values(info: dict, now: datetime) -> dict:
    """Fan columns from a `user/info` answer."""
    subscribed = int(info.get("subscribe") or 0) == 1
    values: dict[str, Any] = {
        "unionid": info.get("unionid") or None,
        "subscribed": subscribed,
        "profile_synced_at": now,
    }
    if subscribed:
        tag_list = sorted(int(t) for t in info.get("tagid_list") or [])
        qr = info.get("qr_scene_str") or (str(info["qr_scene"]) if info.get("qr_scene") else None)
        values.update(
            nickname=(info.get("nickname") or None),
            sex=info.get("sex"),
            language=info.get("language") or None,
            city=info.get("city") or None,
            province=info.get("province") or None,
            country=info.get("country") or None,
            headimgurl=info.get("headimgurl") or None,
            subscribe_time=_ts(info.get("subscribe_time")),
            remark=(info.get("remark") or "")[:64],
            subscribe_scene=info.get("subscribe_scene") or None,
            qr_scene=qr,
            tag_ids="," + "".join(f"{t}," for t in tag_list),
        )
    else:
        values["tag_ids"] = ","
    for name in ("nickname", "city", "province", "country"):
        if isinstance(values.get(name), str):
            values[name] = values[name][: 128 if name == "nickname" else 64]
    values["profile_hash"] = profile_hash(values)
    if not values.get("qr_scene"):
        # WeChat reports the QR scene only for some follows: keep the one the subscribe callback recorded.
        values.pop("qr_scene", None)
    return values


HASHED_FIELDS = (
    "unionid",
    "subscribed",
    "nickname",
    "sex",
    "language",
    "city",
    "province",
    "country",
    "headimgurl",
    "subscribe_time",
    "remark",
    "subscribe_scene",
    "qr_scene",
    "tag_ids",
)


def profile_hash(values: dict) -> str:
    text = "\x1f".join(str(values.get(name)) for name in HASHED_FIELDS)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _refresh_profile(account: Account, fan: Fan) -> None:
    result = client(account, background=True).call(client(account, background=True).api.user.get, fan.openid)
    if not result.ok:
        if isinstance(result, Final):
            log.warning("profile of %s not fetched: %s %s", fan.openid, result.errcode, result.meaning)
            return
        raise RetryLater(f"profile fetch: {result.meaning}", result.retry_after or 10)
    now = utcnow()
    values = _profile_values(result.data, now)
    if not values["subscribed"] and fan.subscribed:
        values.pop("subscribed")  # the callback said subscribed; a racing unfollow is for its own event
    for name, value in values.items():
        setattr(fan, name, value)
    fan.updated_at = now
    db.session.commit()


def process_message(message_id: int) -> str:
    """The follow-up of one inbound message; idempotent (a redelivery finds it processed)."""
    row = db.session.get(Message, message_id)
    if row is None:
        return "missing"
    if row.processed_at is not None:
        return "already processed"
    account = db.session.get(Account, row.account_id)
    message = row.data
    fan = None
    if row.openid and row.event not in JOB_EVENTS:
        fan = db.session.execute(
            select(Fan).where(Fan.account_id == row.account_id, Fan.openid == row.openid)
        ).scalar_one_or_none()
        if fan is not None and (row.event == "subscribe" or fan.profile_synced_at is None):
            _refresh_profile(account, fan)
    celery = current_app.extensions["celery"]
    event_id = f"wechat_official:{account.appid}:{row.id}"
    occurred_at = (row.wechat_time or row.received_at).isoformat() + "Z"
    unionid = fan.unionid if fan else None
    if row.event in JOB_EVENTS:
        celery.send_task(
            JOB_FINISHED_TASK,
            kwargs={
                "job": {
                    "event_id": event_id,
                    "appid": account.appid,
                    "kind": "template" if row.event == "TEMPLATESENDJOBFINISH" else "mass",
                    "msg_id": row.msg_id,
                    "status": message.get("Status"),
                    "openid": row.openid,
                    "counts": {
                        k: int(message[k])
                        for k in ("TotalCount", "FilterCount", "SentCount", "ErrorCount")
                        if str(message.get(k, "")).isdigit()
                    },
                    "finished_at": occurred_at,
                }
            },
            queue=MESSAGE_CENTER_QUEUE,
        )
    else:
        if row.event == "subscribe":
            celery.send_task(
                AWARD_SUBSCRIBE_TASK,
                kwargs={
                    "event": {
                        "event_id": event_id,
                        "appid": account.appid,
                        "openid": row.openid,
                        "unionid": unionid,
                        "subscribed_at": occurred_at,
                        "qr_scene": _qr_scene(message),
                    }
                },
                queue=POINTS_QUEUE,
            )
        celery.send_task(
            RECORD_FACT_TASK,
            kwargs={
                "fact": {
                    "event_id": event_id,
                    "source": "wechat_official",
                    "kind": f"wechat.{(row.event or row.msg_type).lower()}",
                    "appid": account.appid,
                    "openid": row.openid,
                    "unionid": unionid,
                    "occurred_at": occurred_at,
                    "data": {
                        "event_key": row.event_key,
                        "qr_scene": _qr_scene(message),
                        "auto_reply_id": row.auto_reply_id,
                    },
                }
            },
            queue=ANALYTICS_QUEUE,
        )
    # Claim the row and count its effects in one transaction, so counters move exactly once.
    claimed = db.session.execute(
        update(Message)
        .where(Message.id == row.id, Message.processed_at.is_(None))
        .values(processed_at=utcnow(), status="processed")
    ).rowcount
    if claimed:
        scene = _qr_scene(message)
        if scene:
            subscribe = 1 if row.event == "subscribe" else 0
            db.session.execute(
                update(QrCode)
                .where(QrCode.account_id == row.account_id, QrCode.scene == scene)
                .values(scan_count=QrCode.scan_count + 1, subscribe_count=QrCode.subscribe_count + subscribe)
            )
        if row.auto_reply_id:
            db.session.execute(
                update(AutoReply).where(AutoReply.id == row.auto_reply_id).values(hit_count=AutoReply.hit_count + 1)
            )
    db.session.commit()
    return "processed" if claimed else "already processed"


def list_messages(account_id: int, args: dict) -> dict:
    get_account(account_id)
    stmt = select(Message).where(Message.account_id == account_id).order_by(Message.id.desc())
    for name in ("direction", "msg_type", "event", "openid"):
        if args.get(name):
            stmt = stmt.where(getattr(Message, name) == args[name])
    if args.get("start"):
        stmt = stmt.where(Message.received_at >= naive_utc(args["start"]))
    if args.get("end"):
        stmt = stmt.where(Message.received_at < naive_utc(args["end"]))
    if args.get("q"):
        stmt = stmt.where(Message.content.like(f"%{args['q']}%"))
    return paginate(db.session, stmt, args["page"], args["page_size"])


# ---------------------------------------------------------------- auto-replies


def _check_reply(data: dict) -> None:
    trigger = data["trigger"]
    errors: dict[str, list[str]] = {}
    if trigger == "keyword":
        if not data.get("match_type"):
            errors["match_type"] = ["Keyword rules need a match type (exact, contains or regex)."]
        if not data.get("keywords"):
            errors["keywords"] = ["Keyword rules need at least one keyword."]
        if data.get("match_type") == "regex":
            for keyword in data.get("keywords") or []:
                try:
                    replies.compile_keyword(keyword)
                except ValueError as exc:
                    errors.setdefault("keywords", []).append(f"{keyword!r}: {exc}")
    kind = data["reply_type"]
    if kind == "text" and not (data.get("content") or "").strip():
        errors["content"] = ["A text reply needs content."]
    if kind == "image" and not data.get("media_id"):
        errors["media_id"] = ["An image reply needs the media_id of an image material."]
    if kind == "news" and not data.get("articles"):
        errors["articles"] = ["A news reply needs 1 to 8 articles."]
    if errors:
        raise ApiError(
            422, "Invalid auto-reply: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors=errors
        )


def list_replies(account_id: int, args: dict) -> dict:
    get_account(account_id)
    stmt = (
        select(AutoReply)
        .where(AutoReply.account_id == account_id)
        .order_by(AutoReply.trigger, AutoReply.priority.desc(), AutoReply.id)
    )
    if args.get("trigger"):
        stmt = stmt.where(AutoReply.trigger == args["trigger"])
    if args.get("enabled") is not None:
        stmt = stmt.where(AutoReply.enabled.is_(args["enabled"]))
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(AutoReply.name.like(like), AutoReply.keywords_json.like(like)))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_reply(account_id: int, reply_id: int) -> AutoReply:
    reply = db.session.get(AutoReply, reply_id)
    if reply is None or reply.account_id != account_id:
        raise ApiError(404, f"No auto-reply {reply_id} in account {account_id}.")
    return reply


def _fill_reply(reply: AutoReply, data: dict) -> None:
    for name in ("name", "trigger", "match_type", "priority", "reply_type", "content", "media_id", "enabled"):
        if name in data:
            setattr(reply, name, data[name])
    if "keywords" in data:
        reply.keywords = data["keywords"]
    if "articles" in data:
        reply.articles = data["articles"]
    if reply.trigger != "keyword":
        reply.match_type, reply.keywords = None, []


def create_reply(account_id: int, data: dict) -> AutoReply:
    get_account(account_id)
    _check_reply(data)
    reply = AutoReply(account_id=account_id)
    _fill_reply(reply, data)
    db.session.add(reply)
    bump_config(account_id)
    db.session.commit()
    return reply


def update_reply(account_id: int, reply_id: int, data: dict) -> AutoReply:
    reply = get_reply(account_id, reply_id)
    merged = {
        "trigger": reply.trigger,
        "match_type": reply.match_type,
        "keywords": reply.keywords,
        "reply_type": reply.reply_type,
        "content": reply.content,
        "media_id": reply.media_id,
        "articles": reply.articles,
        **data,
    }
    _check_reply(merged)
    _fill_reply(reply, data)
    bump_config(account_id)
    db.session.commit()
    return reply


def delete_reply(account_id: int, reply_id: int) -> None:
    db.session.delete(get_reply(account_id, reply_id))
    bump_config(account_id)
    db.session.commit()


def preview_reply(account_id: int, data: dict) -> dict:
    """Which enabled rule would answer, and the reply XML a fan would get."""
    account = get_account(account_id)
    rules = _rules(account_id)
    fake = {
        "ToUserName": account.original_id or "gh_preview",
        "FromUserName": data.get("openid") or "o_preview",
        "CreateTime": int(time.time()),
    }
    if data["kind"] == "subscribe":
        message = {**fake, "MsgType": "event", "Event": "subscribe", "EventKey": ""}
        rule = replies.pick(rules, event="subscribe")
    elif data["kind"] == "click":
        message = {**fake, "MsgType": "event", "Event": "CLICK", "EventKey": data.get("text") or ""}
        rule = replies.pick([r for r in rules if r.trigger == "keyword"], text=data.get("text") or "")
    else:
        message = {**fake, "MsgType": "text", "Content": data.get("text") or ""}
        rule = replies.pick(rules, text=data.get("text") or "")
    if rule is None:
        return {"matched": False, "rule": None, "reply_type": None, "summary": None, "xml": None}
    return {
        "matched": True,
        "rule": db.session.get(AutoReply, rule.id),
        "reply_type": rule.reply_type,
        "summary": replies.summary(rule),
        "xml": replies.reply_xml(rule, message),
    }


# ---------------------------------------------------------------- fans


def list_fans(account_id: int, args: dict) -> dict:
    get_account(account_id)
    stmt = select(Fan).where(Fan.account_id == account_id)
    if args.get("subscribed") is not None:
        stmt = stmt.where(Fan.subscribed.is_(args["subscribed"]))
    if args.get("blacklisted") is not None:
        stmt = stmt.where(Fan.blacklisted.is_(args["blacklisted"]))
    if args.get("tag_id") is not None:
        stmt = stmt.where(Fan.tag_ids.like(f"%,{int(args['tag_id'])},%"))
    if args.get("scene"):
        stmt = stmt.where(Fan.subscribe_scene == args["scene"])
    if args.get("qr_scene"):
        stmt = stmt.where(Fan.qr_scene == args["qr_scene"])
    if args.get("subscribed_from"):
        stmt = stmt.where(Fan.subscribe_time >= naive_utc(args["subscribed_from"]))
    if args.get("subscribed_to"):
        stmt = stmt.where(Fan.subscribe_time < naive_utc(args["subscribed_to"]))
    if args.get("q"):
        q = args["q"].strip()
        like = f"%{q}%"
        stmt = stmt.where(or_(Fan.openid == q, Fan.unionid == q, Fan.remark.like(like), Fan.nickname.like(like)))
    order = {"subscribe_time": Fan.subscribe_time, "last_interaction": Fan.last_interaction_at, "id": Fan.id}
    column = order[args.get("sort") or "subscribe_time"]
    stmt = stmt.order_by(column.desc() if args.get("order", "desc") == "desc" else column.asc(), Fan.id.desc())
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_fan(account_id: int, fan_id: int) -> Fan:
    fan = db.session.get(Fan, fan_id)
    if fan is None or fan.account_id != account_id:
        raise ApiError(404, f"No fan {fan_id} in account {account_id}.")
    return fan


def tag_names(account_id: int) -> dict[int, str]:
    return dict(db.session.execute(select(Tag.wechat_id, Tag.name).where(Tag.account_id == account_id)).all())


def fan_detail(account_id: int, fan_id: int) -> dict:
    fan = get_fan(account_id, fan_id)
    names = tag_names(account_id)
    recent = (
        db.session.execute(
            select(Message)
            .where(Message.account_id == account_id, Message.openid == fan.openid)
            .order_by(Message.id.desc())
            .limit(20)
        )
        .scalars()
        .all()
    )
    return {
        "fan": fan,
        "tags": [{"id": t, "name": names.get(t, str(t))} for t in fan.tag_id_list],
        "recent_messages": recent,
    }


def fan_messages(account_id: int, fan_id: int, page: int, page_size: int) -> dict:
    fan = get_fan(account_id, fan_id)
    stmt = (
        select(Message)
        .where(Message.account_id == account_id, Message.openid == fan.openid)
        .order_by(Message.id.desc())
    )
    return paginate(db.session, stmt, page, page_size)


def set_remark(account_id: int, fan_id: int, remark: str) -> Fan:
    fan = get_fan(account_id, fan_id)
    account = get_account(account_id)
    oa = client(account)
    _ok(oa.call(oa.api.user.update_remark, fan.openid, remark), "set the remark")
    fan.remark = remark
    fan.updated_at = utcnow()
    db.session.commit()
    return fan


def send_customer_message(account_id: int, fan_id: int, data: dict) -> Message:
    """A customer-service message; WeChat allows it within 48 h of the fan's last interaction."""
    fan = get_fan(account_id, fan_id)
    account = get_account(account_id)
    oa = client(account)
    kind = data["msgtype"]
    needs = {"text": "content", "image": "media_id", "news": "articles"}[kind]
    if not data.get(needs):
        raise ApiError(422, f"A {kind} message needs {needs}.", errors={needs: [f"Required for {kind} messages."]})
    if kind == "text":
        body, summary = {"text": {"content": data["content"]}}, data["content"]
    elif kind == "image":
        body, summary = {"image": {"media_id": data["media_id"]}}, f"[image] {data['media_id']}"
    else:
        articles = [{k: a.get(k, "") for k in ("title", "description", "url", "picurl")} for a in data["articles"]]
        body, summary = {"news": {"articles": articles[:1]}}, "[news] " + articles[0]["title"]
    payload = {"touser": fan.openid, "msgtype": kind, **body}
    _ok(oa.call(oa.api.post, "message/custom/send", data=payload), "send the customer-service message")
    now = utcnow()
    row = Message(
        account_id=account_id,
        dedupe_key=f"out:{uuid.uuid4().hex}",
        direction="out",
        openid=fan.openid,
        msg_type=kind,
        content=summary,
        received_at=now,
        handed_on_at=now,
        processed_at=now,
        status="sent",
        wechat_time=now,
    )
    row.data = payload
    db.session.add(row)
    db.session.commit()
    return row


# ---------------------------------------------------------------- fan sync jobs

ACTIVE_SYNC = ("pending", "running")
STUCK_AFTER = timedelta(hours=2)


def start_fan_sync(account_id: int, kind: str, requested_by: str | None) -> FanSyncJob:
    """Create a sync job and queue it; one active job per account (a stuck one is replaced)."""
    from wedraw.core.store import LockNotAcquired, lock, store_for

    account = get_account(account_id)
    try:
        with lock(store_for(_settings()), f"wechat:fan-sync-start:{account_id}", ttl=30, wait=5):
            active = (
                db.session.execute(
                    select(FanSyncJob).where(FanSyncJob.account_id == account_id, FanSyncJob.status.in_(ACTIVE_SYNC))
                )
                .scalars()
                .all()
            )
            now = utcnow()
            for job in active:
                if now - (job.started_at or job.created_at) < STUCK_AFTER:
                    raise ApiError(
                        409, f"Fan sync {job.id} is still {job.status}; wait for it to finish.", "sync_in_progress"
                    )
                job.status, job.error, job.finished_at = "failed", "abandoned: no progress for 2 hours", now
            job = FanSyncJob(account_id=account.id, kind=kind, status="pending", requested_by=requested_by)
            db.session.add(job)
            db.session.commit()
    except LockNotAcquired:
        raise ApiError(409, "Another fan sync is being started for this account.", "sync_in_progress") from None
    try:
        current_app.extensions["celery"].send_task(
            SYNC_FANS_TASK, args=[job.id], queue=QUEUE, retry=True, retry_policy=HAND_ON_RETRY
        )
    except Exception as exc:
        job.status, job.error, job.finished_at = "failed", f"could not queue: {type(exc).__name__}", utcnow()
        db.session.commit()
        raise ApiError(
            424, "The task queue is unavailable; the fan sync was not started.", "queue_unavailable"
        ) from None
    return job


def list_sync_jobs(account_id: int, page: int, page_size: int) -> dict:
    get_account(account_id)
    stmt = select(FanSyncJob).where(FanSyncJob.account_id == account_id).order_by(FanSyncJob.id.desc())
    return paginate(db.session, stmt, page, page_size)


def get_sync_job(account_id: int, job_id: int) -> FanSyncJob:
    job = db.session.get(FanSyncJob, job_id)
    if job is None or job.account_id != account_id:
        raise ApiError(404, f"No fan sync {job_id} in account {account_id}.")
    return job


def queue_incremental_syncs() -> list[int]:
    """The nightly job: an incremental sync for every enabled account without one running."""
    started = []
    for account in db.session.execute(select(Account).where(Account.enabled.is_(True))).scalars().all():
        try:
            started.append(start_fan_sync(account.id, "incremental", "schedule").id)
        except ApiError as exc:
            log.info("incremental sync of %s not started: %s", account.appid, exc.description)
    return started


# ---------------------------------------------------------------- tags


def list_tags(account_id: int, q: str | None, page: int, page_size: int) -> dict:
    get_account(account_id)
    stmt = select(Tag).where(Tag.account_id == account_id).order_by(Tag.wechat_id)
    if q:
        stmt = stmt.where(Tag.name.like(f"%{q}%"))
    return paginate(db.session, stmt, page, page_size)


def get_tag(account_id: int, tag_id: int) -> Tag:
    tag = db.session.get(Tag, tag_id)
    if tag is None or tag.account_id != account_id:
        raise ApiError(404, f"No tag {tag_id} in account {account_id}.")
    return tag


def sync_tags(account_id: int) -> list[Tag]:
    """Make the local tags exactly WeChat's (names, counts; tags gone from WeChat removed)."""
    account = get_account(account_id)
    oa = client(account)
    remote = _ok(oa.call(oa.api.tag.get), "list the tags")
    now = utcnow()
    local = {t.wechat_id: t for t in db.session.execute(select(Tag).where(Tag.account_id == account_id)).scalars()}
    seen = set()
    for item in remote:
        wechat_id = int(item["id"])
        seen.add(wechat_id)
        tag = local.get(wechat_id) or Tag(account_id=account_id, wechat_id=wechat_id)
        tag.name, tag.fan_count, tag.system, tag.synced_at = (
            item["name"][:64],
            int(item.get("count") or 0),
            wechat_id < 100,
            now,
        )
        db.session.add(tag)
    for wechat_id, tag in local.items():
        if wechat_id not in seen:
            db.session.delete(tag)
    db.session.commit()
    return list(db.session.execute(select(Tag).where(Tag.account_id == account_id).order_by(Tag.wechat_id)).scalars())


def create_tag(account_id: int, name: str) -> Tag:
    account = get_account(account_id)
    oa = client(account)
    created = _ok(oa.call(oa.api.tag.create, name), "create the tag")
    tag = Tag(account_id=account_id, wechat_id=int(created["id"]), name=created.get("name", name)[:64])
    db.session.add(tag)
    _commit(f"Tag {created['id']} already exists locally; sync the tags.")
    return tag


def rename_tag(account_id: int, tag_id: int, name: str) -> Tag:
    tag = get_tag(account_id, tag_id)
    oa = client(get_account(account_id))
    _ok(oa.call(oa.api.tag.update, tag.wechat_id, name), "rename the tag")
    tag.name, tag.synced_at = name, utcnow()
    db.session.commit()
    return tag


def delete_tag(account_id: int, tag_id: int) -> None:
    tag = get_tag(account_id, tag_id)
    oa = client(get_account(account_id))
    _ok(oa.call(oa.api.tag.delete, tag.wechat_id), "delete the tag")
    marker = f",{tag.wechat_id},"
    db.session.execute(
        update(Fan)
        .where(Fan.account_id == account_id, Fan.tag_ids.like(f"%{marker}%"))
        .values(tag_ids=func.replace(Fan.tag_ids, marker, ","))
    )
    db.session.delete(tag)
    db.session.commit()


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _in_batches(openids: list[str], size: int, call: Callable[[list[str]], Any], mirror: Callable[[list[str]], None]):
    """Send `openids` (once each) to WeChat `size` at a time; `mirror` applies and commits each batch WeChat
    accepted. The result reports every batch, so a partial failure shows which fans were not changed."""
    openids = list(dict.fromkeys(openids))
    batches, succeeded = [], 0
    for batch in _batches(openids, size):
        result = call(batch)
        entry: dict[str, Any] = {"size": len(batch), "ok": result.ok, "errcode": None, "message": None}
        if result.ok:
            succeeded += len(batch)
            mirror(batch)
            db.session.commit()
        else:
            entry["errcode"], entry["message"] = result.errcode, result.meaning
        batches.append(entry)
    return {"requested": len(openids), "succeeded": succeeded, "failed": len(openids) - succeeded, "batches": batches}


def tag_fans(account_id: int, tag_id: int, openids: list[str], add: bool) -> dict:
    """Tag or untag fans in WeChat's batches of 50; each batch that WeChat accepts is mirrored locally."""
    tag = get_tag(account_id, tag_id)
    oa = client(get_account(account_id))
    call = oa.api.tag.tag_user if add else oa.api.tag.untag_user
    marker = f",{tag.wechat_id},"

    def mirror(batch: list[str]) -> None:
        fans = db.session.execute(select(Fan).where(Fan.account_id == account_id, Fan.openid.in_(batch))).scalars()
        for fan in fans:
            has = marker in fan.tag_ids
            if add and not has:
                fan.tag_ids = fan.tag_ids + f"{tag.wechat_id},"
            elif not add and has:
                fan.tag_ids = fan.tag_ids.replace(marker, ",")
            fan.updated_at = utcnow()

    return _in_batches(openids, TAG_BATCH, lambda batch: oa.call(call, tag.wechat_id, batch), mirror)


def blacklist_fans(account_id: int, openids: list[str], add: bool) -> dict:
    """Blacklist (or release) fans in WeChat's batches of 20; each batch WeChat accepts is mirrored locally."""
    oa = client(get_account(account_id))
    call = oa.api.tag.batch_black_list if add else oa.api.tag.batch_unblack_list

    def mirror(batch: list[str]) -> None:
        db.session.execute(
            update(Fan)
            .where(Fan.account_id == account_id, Fan.openid.in_(batch), Fan.blacklisted.is_(not add))
            .values(blacklisted=add, updated_at=utcnow())
        )

    return _in_batches(openids, BLACKLIST_BATCH, lambda batch: oa.call(call, batch), mirror)


def sync_blacklist(account_id: int) -> dict:
    """Read WeChat's blacklist (all pages) and make the local flags match it: fans on it are marked,
    every other fan of the account is not. Fans not stored yet are counted, and come with the next sync."""
    oa = client(get_account(account_id))
    listed: list[str] = []
    begin: str | None = None
    while True:
        page = _ok(oa.call(oa.api.tag.get_black_list, begin), "read the blacklist")
        openids = (page.get("data") or {}).get("openid") or []
        listed.extend(openids)
        begin = page.get("next_openid") or None
        if not openids or not begin or len(listed) >= int(page.get("total") or 0):
            break
    now = utcnow()
    marked = 0
    for batch in _batches(listed, 1000):
        marked += db.session.execute(
            update(Fan)
            .where(Fan.account_id == account_id, Fan.openid.in_(batch), Fan.blacklisted.is_(False))
            .values(blacklisted=True, updated_at=now)
        ).rowcount
    on_list = set(listed)
    stale = [
        fan_id
        for fan_id, openid in db.session.execute(
            select(Fan.id, Fan.openid).where(Fan.account_id == account_id, Fan.blacklisted.is_(True))
        )
        if openid not in on_list
    ]
    for batch in _batches(stale, 1000):
        db.session.execute(update(Fan).where(Fan.id.in_(batch)).values(blacklisted=False, updated_at=now))
    db.session.commit()
    stored = db.session.scalar(
        select(func.count()).select_from(Fan).where(Fan.account_id == account_id, Fan.blacklisted.is_(True))
    )
    return {"total": len(on_list), "stored": stored, "marked": marked, "released": len(stale)}


# ---------------------------------------------------------------- menus


def check_menu(buttons: list[dict]) -> None:
    problems = menu_rules.menu_problems(buttons)
    if problems:
        errors: dict[str, list[str]] = {}
        for path, rule in problems:
            errors.setdefault(path, []).append(rule)
        raise ApiError(422, f"Invalid menu: {problems[0][0]}: {problems[0][1]}", "invalid_menu", errors=errors)


def list_menus(account_id: int, page: int, page_size: int) -> dict:
    get_account(account_id)
    stmt = select(Menu).where(Menu.account_id == account_id).order_by(Menu.id.desc())
    return paginate(db.session, stmt, page, page_size)


def get_menu(account_id: int, menu_id: int) -> Menu:
    menu = db.session.get(Menu, menu_id)
    if menu is None or menu.account_id != account_id:
        raise ApiError(404, f"No menu {menu_id} in account {account_id}.")
    return menu


def create_menu(account_id: int, data: dict) -> Menu:
    get_account(account_id)
    check_menu(data["buttons"])
    menu = Menu(account_id=account_id, name=data["name"])
    menu.buttons = data["buttons"]
    db.session.add(menu)
    db.session.commit()
    return menu


def update_menu(account_id: int, menu_id: int, data: dict) -> Menu:
    menu = get_menu(account_id, menu_id)
    if "buttons" in data:
        check_menu(data["buttons"])
        menu.buttons = data["buttons"]
        menu.status = "draft"  # an edited menu is a draft until published again
    if "name" in data:
        menu.name = data["name"]
    db.session.commit()
    return menu


def delete_menu(account_id: int, menu_id: int) -> None:
    db.session.delete(get_menu(account_id, menu_id))
    db.session.commit()


def publish_menu(account_id: int, menu_id: int) -> Menu:
    menu = get_menu(account_id, menu_id)
    check_menu(menu.buttons)
    oa = client(get_account(account_id))
    _ok(oa.call(oa.api.post, "menu/create", data=menu_rules.to_wechat(menu.buttons)), "publish the menu")
    now = utcnow()
    db.session.execute(
        update(Menu)
        .where(Menu.account_id == account_id, Menu.id != menu.id, Menu.status == "published")
        .values(status="draft")
    )
    menu.status, menu.published_at = "published", now
    db.session.commit()
    return menu


def live_menu(account_id: int) -> dict:
    oa = client(get_account(account_id))
    data = _ok(oa.call(oa.api.menu.get), "read the live menu")
    if not data:  # 46003: no menu
        return {"exists": False, "buttons": []}
    return {"exists": True, "buttons": menu_rules.from_wechat(data.get("menu"))}


def delete_live_menu(account_id: int) -> None:
    oa = client(get_account(account_id))
    _ok(oa.call(oa.api.menu.delete), "delete the live menu")
    db.session.execute(
        update(Menu).where(Menu.account_id == account_id, Menu.status == "published").values(status="draft")
    )
    db.session.commit()


def menu_stats(account_id: int, start: datetime | None, end: datetime | None) -> list[dict]:
    """Menu clicks (CLICK keys and VIEW urls) from the message log, most used first."""
    get_account(account_id)
    stmt = (
        select(
            Message.event,
            Message.event_key,
            func.count().label("clicks"),
            func.count(func.distinct(Message.openid)).label("fans"),
        )
        .where(
            Message.account_id == account_id,
            Message.direction == "in",
            Message.event.in_(("CLICK", "VIEW", "scancode_push", "scancode_waitmsg", "location_select")),
        )
        .group_by(Message.event, Message.event_key)
        .order_by(func.count().desc())
    )
    if start:
        stmt = stmt.where(Message.received_at >= naive_utc(start))
    if end:
        stmt = stmt.where(Message.received_at < naive_utc(end))
    return [
        {"event": r.event, "key": r.event_key or "", "clicks": r.clicks, "fans": r.fans}
        for r in db.session.execute(stmt)
    ]


# ---------------------------------------------------------------- QR codes


def list_qrcodes(account_id: int, args: dict) -> dict:
    get_account(account_id)
    stmt = select(QrCode).where(QrCode.account_id == account_id).order_by(QrCode.id.desc())
    if args.get("channel"):
        stmt = stmt.where(QrCode.channel == args["channel"])
    if args.get("kind"):
        stmt = stmt.where(QrCode.kind == args["kind"])
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(QrCode.name.like(like), QrCode.scene.like(like)))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_qrcode(account_id: int, qrcode_id: int) -> QrCode:
    code = db.session.get(QrCode, qrcode_id)
    if code is None or code.account_id != account_id:
        raise ApiError(404, f"No QR code {qrcode_id} in account {account_id}.")
    return code


def create_qrcode(account_id: int, data: dict) -> QrCode:
    account = get_account(account_id)
    taken = db.session.execute(
        select(QrCode.id).where(QrCode.account_id == account_id, QrCode.scene == data["scene"])
    ).first()
    if taken:
        raise ApiError(409, f"Scene {data['scene']!r} already has a QR code ({taken.id}).", "conflict")
    temporary = data["kind"] == "temporary"
    body: dict[str, Any] = {
        "action_name": "QR_STR_SCENE" if temporary else "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": data["scene"]}},
    }
    if temporary:
        body["expire_seconds"] = data.get("expire_seconds") or 2_592_000
    oa = client(account)
    created = _ok(oa.call(oa.api.qrcode.create, body), "create the QR code")
    now = utcnow()
    expire = created.get("expire_seconds") if temporary else None
    code = QrCode(
        account_id=account_id,
        name=data["name"],
        channel=data.get("channel") or "",
        kind=data["kind"],
        scene=data["scene"],
        ticket=created["ticket"],
        url=created.get("url", "")[:255],
        expire_seconds=expire,
        expires_at=now + timedelta(seconds=int(expire)) if expire else None,
        created_at=now,
    )
    db.session.add(code)
    _commit(f"Scene {data['scene']!r} already has a QR code.")
    return code


def update_qrcode(account_id: int, qrcode_id: int, data: dict) -> QrCode:
    code = get_qrcode(account_id, qrcode_id)
    for name in ("name", "channel"):
        if name in data:
            setattr(code, name, data[name])
    db.session.commit()
    return code


def delete_qrcode(account_id: int, qrcode_id: int) -> None:
    """Forget a code locally (WeChat has no delete: a permanent code keeps working, unattributed)."""
    db.session.delete(get_qrcode(account_id, qrcode_id))
    db.session.commit()


def qrcode_image(account_id: int, qrcode_id: int) -> bytes:
    code = get_qrcode(account_id, qrcode_id)
    if code.expires_at and code.expires_at <= utcnow():
        raise ApiError(409, "This temporary QR code has expired.", "qrcode_expired")
    oa = client(get_account(account_id))
    return _ok(oa.call(oa.api.qrcode_image, code.ticket), "fetch the QR code image")


# ---------------------------------------------------------------- materials


def list_materials(account_id: int, args: dict) -> dict:
    get_account(account_id)
    stmt = select(Material).where(Material.account_id == account_id).order_by(Material.id.desc())
    if args.get("type"):
        stmt = stmt.where(Material.type == args["type"])
    if args.get("q"):
        stmt = stmt.where(Material.name.like(f"%{args['q']}%"))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_material(account_id: int, material_id: int) -> Material:
    material = db.session.get(Material, material_id)
    if material is None or material.account_id != account_id:
        raise ApiError(404, f"No material {material_id} in account {account_id}.")
    return material


def upload_material(account_id: int, kind: str, upload, title: str | None, introduction: str | None) -> Material:
    account = get_account(account_id)
    data = upload.read()
    limit = MEDIA_LIMITS[kind]
    if not data:
        raise ApiError(422, "The file is empty.", errors={"file": ["Empty file."]})
    if len(data) > limit:
        raise ApiError(
            413, f"WeChat takes {kind} files of at most {limit // 1024} KB; this one has {len(data) // 1024} KB."
        )
    if kind == "video" and not title:
        raise ApiError(422, "A video needs a title.", errors={"title": ["Required for videos."]})
    name = (upload.filename or f"{kind}.bin")[:255]
    content_type = upload.mimetype or "application/octet-stream"
    oa = client(account)
    import io

    def add():
        media = io.BytesIO(data)
        media.name = name
        return oa.api.material.add(kind, media, title=title, introduction=introduction)

    created = _ok(
        oa.policy.run(
            add,
            refresh_token=lambda: oa.api.shared_token.refresh(stale=oa.api.last_token),
            label=f"{account.appid} material add",
        ),
        "upload the material",
    )
    material = Material(
        account_id=account_id,
        media_id=created["media_id"],
        type=kind,
        name=name,
        url=created.get("url") or None,
        content_type=content_type[:64],
        size=len(data),
        title=title,
        introduction=introduction,
    )
    db.session.add(material)
    db.session.commit()
    return material


def material_content(account_id: int, material_id: int) -> tuple[bytes, str] | dict:
    """The file of an image/voice/thumb (bytes and content type), or a video's title and download URL."""
    material = get_material(account_id, material_id)
    oa = client(get_account(account_id))
    answer = _ok(oa.call(oa.api.material.get, material.media_id), "fetch the material")
    if material.type == "video" or isinstance(answer, dict):
        answer = answer if isinstance(answer, dict) else {}
        return {
            "title": answer.get("title", material.title or ""),
            "description": answer.get("description", ""),
            "down_url": answer.get("down_url", ""),
        }
    return answer.content, material.content_type or answer.headers.get("Content-Type", "application/octet-stream")


def delete_material(account_id: int, material_id: int) -> None:
    material = get_material(account_id, material_id)
    oa = client(get_account(account_id))
    result = oa.call(oa.api.material.delete, material.media_id)
    if not result.ok and not (isinstance(result, Final) and result.errcode == 40007):  # already gone in WeChat
        raise wechat_error(result, "delete the material")
    db.session.delete(material)
    db.session.commit()
