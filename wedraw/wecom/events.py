"""WeCom callbacks: store once, answer at once, apply in a worker.

The callback (api.py) verifies the signature and timestamp and decrypts (wedraw.wechat's
`CallbackCodec`), then `handle_callback` stores the event in one statement: its unique
dedupe key makes WeCom's retries and concurrent duplicates no-ops. Events that change
what we hold (contacts, customers, customer groups) are handed on to `wecom.process_event`
after the commit; the rest (members' messages, menu clicks, entering the app) are only logged.
When the broker refuses, the row keeps `handed_on_at` NULL and the minute's sweep hands it on.

Contact changes are applied in the order they arrived, one writer per corp at a time (a
full sync holds the same lock): a worker drains the corp's open contact events in id order.
Each change asks WeCom for the current state of what it names, so an event applied late,
twice, or after the full sync that already saw it still leaves the rows where WeCom is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.store import LockNotAcquired, lock, store_for
from wedraw.wechat.callbacks import Incoming, dedupe_key
from wedraw.wecom import contacts, customers
from wedraw.wecom.models import Corp, Event, db
from wedraw.wecom.services import (
    HAND_ON_RETRY,
    QUEUE,
    CallbackTarget,
    RetryLater,
    SyncFailed,
    contacts_client,
    customer_client,
)

log = logging.getLogger("wedraw.wecom.events")

PROCESS_EVENT_TASK = "wecom.process_event"
# Events that change what this service holds; everything else is logged only.
WORK_EVENTS = ("change_contact", "change_external_contact", "change_external_chat")
DRAIN_BATCH = 200


def _ts(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return datetime.utcfromtimestamp(min(seconds, 4_102_444_800))  # noqa: DTZ004 - naive UTC is what we store


def event_key(message: dict) -> str:
    """The shared dedupe key, made exact for events: two different changes in one second never share it,
    while WeCom's retry of one callback (the same message) always does."""
    key = dedupe_key(message)
    if not (message.get("MsgId") or message.get("MsgID")):
        canonical = json.dumps(message, sort_keys=True, ensure_ascii=False, default=str)
        key += ":" + hashlib.sha256(canonical.encode()).hexdigest()[:24]
    return key if len(key) <= 191 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _subject(message: dict) -> str | None:
    for name in ("NewUserID", "UserID", "Id", "TagId", "ExternalUserID", "ChatId", "EventKey"):
        value = message.get(name)
        if isinstance(value, (str, int)) and str(value):
            return str(value)[:128]
    return None


def handle_callback(target: CallbackTarget, incoming: Incoming) -> bool:
    """Store one verified callback (once); False for a repeat. Slow work is handed on after the commit."""
    message = incoming.message
    now = utcnow()
    msg_type = str(message.get("MsgType") or "unknown")[:32]
    event = str(message.get("Event"))[:64] if msg_type == "event" and message.get("Event") else None
    work = event in WORK_EVENTS
    content = message.get("Content") if isinstance(message.get("Content"), str) else None
    values = {
        "corp_ref": target.corp_ref,
        "receiver": target.receiver,
        "dedupe_key": event_key(message),
        "msg_type": msg_type,
        "event": event,
        "change_type": str(message.get("ChangeType"))[:64] if message.get("ChangeType") else None,
        "from_user": str(message.get("FromUserName") or "")[:64] or None,
        "subject": _subject(message),
        "content": content,
        "payload": json.dumps(message, ensure_ascii=False, separators=(",", ":")),
        "wecom_time": min(_ts(message.get("CreateTime")) or now, now),
        "received_at": now,
        # Marked in this transaction to save a write per callback; cleared below if the broker refuses.
        "handed_on_at": now,
        "hand_on_attempts": 1 if work else 0,
        "processed_at": None if work else now,
        "status": "received" if work else "logged",
    }
    try:
        # Core, not the ORM unit of work: this is the hot path of every callback.
        event_id = db.session.execute(insert(Event.__table__).values(**values)).inserted_primary_key[0]
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False  # a retry or a concurrent duplicate: already stored and answered once
    if work:
        hand_on([event_id], marked=True)
    return True


def hand_on(event_ids: list[int], marked: bool = False) -> int:
    """Queue the follow-up of each event and record which the broker took. Never raises."""
    if not event_ids:
        return 0
    celery = current_app.extensions["celery"]
    sent: list[int] = []
    for event_id in event_ids:
        try:
            celery.send_task(PROCESS_EVENT_TASK, args=[event_id], queue=QUEUE, retry=True, retry_policy=HAND_ON_RETRY)
        except Exception as exc:  # broker down: the rows wait for the sweep
            log.warning("broker unavailable, %d event(s) left for the sweep: %s", len(event_ids) - len(sent), exc)
            break
        sent.append(event_id)
    unsent = [i for i in event_ids if i not in set(sent)]
    try:
        if marked and unsent:
            db.session.execute(update(Event).where(Event.id.in_(unsent)).values(handed_on_at=None))
        elif not marked and sent:
            db.session.execute(
                update(Event)
                .where(Event.id.in_(sent))
                .values(handed_on_at=utcnow(), hand_on_attempts=Event.hand_on_attempts + 1)
            )
        db.session.commit()
    except Exception:  # if the mark is lost, the stale-row sweep still finds the event unprocessed
        db.session.rollback()
        log.exception("could not record which events were handed on")
    return len(sent)


def sweep_unhanded(grace_seconds: int = 30, stale_seconds: int = 900, limit: int = 1000) -> int:
    """Hand on events the broker never took, and ones still unprocessed long after (a lost task)."""
    now = utcnow()
    ids = list(
        db.session.execute(
            select(Event.id)
            .where(Event.handed_on_at.is_(None), Event.received_at <= now - timedelta(seconds=grace_seconds))
            .order_by(Event.id)
            .limit(limit)
        ).scalars()
    )
    if len(ids) < limit:
        ids += list(
            db.session.execute(
                select(Event.id)
                .where(Event.processed_at.is_(None), Event.handed_on_at <= now - timedelta(seconds=stale_seconds))
                .order_by(Event.id)
                .limit(limit - len(ids))
            ).scalars()
        )
    db.session.rollback()
    return hand_on(ids)


# ---------------------------------------------------------------- applying (worker)


def _finish(row: Event, status: str, error: str | None = None) -> None:
    db.session.execute(
        update(Event)
        .where(Event.id == row.id, Event.processed_at.is_(None))
        .values(processed_at=utcnow(), status=status, error=error[:255] if error else None)
    )
    db.session.commit()


def apply_contact_change(corp: Corp, client, message: dict) -> str:
    change = message.get("ChangeType")
    if change in ("create_user", "update_user"):
        userid = str(message.get("UserID") or "")
        new = str(message.get("NewUserID") or "")
        if new and new != userid:
            contacts.rename_member(corp, userid, new)
            userid = new
        return contacts.refresh_member(corp, client, userid) if userid else "ignored"
    if change == "delete_user":
        return "deleted" if contacts.remove_member(corp, str(message.get("UserID") or "")) else "absent"
    if change in ("create_party", "update_party"):
        return contacts.refresh_department(corp, client, int(message.get("Id") or 0))
    if change == "delete_party":
        return contacts.remove_department(corp, client, int(message.get("Id") or 0))
    if change == "update_tag":
        return contacts.apply_tag_change(corp, client, message)
    return "ignored"


def drain_contacts(corp: Corp) -> int:
    """Apply the corp's open contact events in arrival order (the caller holds the write lock)."""
    client, _ = contacts_client(corp, background=True)
    applied = 0
    while True:
        rows = (
            db.session.execute(
                select(Event)
                .where(Event.corp_ref == corp.id, Event.event == "change_contact", Event.processed_at.is_(None))
                .order_by(Event.id)
                .limit(DRAIN_BATCH)
            )
            .scalars()
            .all()
        )
        if not rows:
            return applied
        for row in rows:
            try:
                outcome = apply_contact_change(corp, client, row.data)
            except SyncFailed as exc:  # WeCom refuses for good (outside the visible range, say): recorded, skipped
                db.session.rollback()
                _finish(row, "failed", str(exc))
                continue
            except (ValueError, TypeError) as exc:  # a malformed event
                db.session.rollback()
                _finish(row, "failed", f"malformed event: {exc}")
                continue
            db.session.commit()
            _finish(row, "ignored" if outcome == "ignored" else "processed")
            applied += 1
        if len(rows) < DRAIN_BATCH:
            return applied


def process_event(event_id: int) -> str:
    """The follow-up of one event; idempotent (a redelivery finds it processed). RetryLater when WeCom is busy."""
    row = db.session.get(Event, event_id)
    if row is None:
        return "missing"
    if row.processed_at is not None:
        return "already processed"
    corp = db.session.get(Corp, row.corp_ref)
    try:
        return _process(row, corp)
    except ApiError as exc:  # the corp has no usable secret (no app, say): recorded, not retried
        db.session.rollback()
        _finish(row, "failed", exc.description)
        return "failed"


def _process(row: Event, corp: Corp) -> str:
    if row.event == "change_contact":
        store = store_for(current_app.config["WEDRAW_SETTINGS"])
        try:
            with lock(store, contacts.write_lock_name(corp.id), ttl=600, wait=10):
                drain_contacts(corp)
        except LockNotAcquired:
            raise RetryLater("a contacts sync or another drain holds the corp", 15) from None
        return "processed"
    message = row.data
    try:
        if row.event == "change_external_contact" and message.get("ExternalUserID"):
            client, _ = customer_client(corp, background=True)
            outcome = customers.refresh_customer(corp, client, str(message["ExternalUserID"]))
        elif row.event == "change_external_chat" and message.get("ChatId"):
            client, _ = customer_client(corp, background=True)
            outcome = customers.refresh_group(corp, client, str(message["ChatId"]))
        else:
            outcome = "ignored"
    except SyncFailed as exc:
        db.session.rollback()
        _finish(row, "failed", str(exc))
        return "failed"
    db.session.commit()
    _finish(row, "processed" if outcome != "ignored" else "ignored")
    return outcome


def list_events(corp_ref: int, args: dict) -> dict:
    from wedraw.core.pagination import paginate
    from wedraw.wecom.services import get_corp

    get_corp(corp_ref)
    stmt = select(Event).where(Event.corp_ref == corp_ref).order_by(Event.id.desc())
    for name in ("msg_type", "event", "change_type", "status", "receiver"):
        if args.get(name):
            stmt = stmt.where(getattr(Event, name) == args[name])
    if args.get("subject"):
        stmt = stmt.where(Event.subject == args["subject"])
    return paginate(db.session, stmt, args["page"], args["page_size"])
