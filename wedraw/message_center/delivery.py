"""The delivery engine (worker side): claim recipients, respect limits, send, record, retry, complete.

Every send goes through the same steps, whatever the channel:

1. claim: one conditional UPDATE moves due rows (pending / failed_retrying whose time has
   come, or sending rows whose owner's lease ran out) to `sending` under this run's claim
   token and a lease. A redelivered or duplicated task finds nothing left to claim: that
   state guard is what makes every task idempotent.
2. limit: permits from the shared limiter (per app and channel). A short wait is slept
   out; a longer one releases the rows and re-queues the task with that countdown.
3. send through the channel, one WeChat call per `per_call` recipients.
4. record each outcome (guarded by the claim token), in small transactions: sent;
   failed_retrying with a bounded, jittered back-off; failed_final with WeChat's meaning;
   or pending again through the campaign's fallback channel.
5. re-queue the batch for its earliest retry; complete the campaign when nothing is open.

A worker killed mid-batch leaves rows in `sending`: when their lease runs out the sweeper
(and any task of the same batch) takes them again. Those rows are the only ones that can
be sent twice (the kill came between WeChat's answer and our commit). Mass sends carry a
clientmsgid, so even those are not sent twice.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import TextClause, and_, bindparam, case, func, or_, select, text, update

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.internal import call_service
from wedraw.core.store import store_for
from wedraw.message_center import credentials, facts
from wedraw.message_center.channels import CHANNELS, FINAL, QUOTA, RETRY, SENT, Outcome
from wedraw.message_center.config import message_settings
from wedraw.message_center.limits import limiter_for
from wedraw.message_center.models import (
    CAMPAIGN_CANCELLED,
    CANCELLED,
    COMPLETED,
    FAILED,
    FAILED_FINAL,
    FAILED_RETRYING,
    OPEN_STATES,
    PAUSED,
    PENDING,
    PREPARING,
    RUNNING,
    SENDING,
    Campaign,
    Delivery,
    MassJob,
    Sender,
    db,
)

log = logging.getLogger("wedraw.message_center.delivery")

QUEUE = "message_center"
PUSH_QUEUE = "wechat_push"
PUSH_BATCH_TASK = "message_center.push_batch"
PUSH_ONE_TASK = "message_center.push_one"
PUSH_MASS_TASK = "message_center.push_mass"
START_TASK = "message_center.start_campaign"

CHUNK = 50  # calls per permit request and per results transaction
RECORD_ROWS = 100  # rows per results statement
RECORD_SECONDS = 0.5  # results are recorded at least this often, so a killed worker leaves few unrecorded sends
SHORT_WAIT = 1.0  # a rate-limit wait up to this long is slept out inside the task
TASK_BUDGET = 240.0  # seconds a push task sends before handing the rest to a fresh task
STATUS_SECONDS = 0.5  # how often a push task looks at its campaign's status (pause / cancel)
FACTS_SECONDS = 5.0  # final outcomes go to data analysis at least this often (and per facts.BATCH)

_t = Delivery.__table__
_RECORD = (
    update(_t)
    .where(_t.c.id == bindparam("b_id"), _t.c.claim == bindparam("b_claim"), _t.c.status == SENDING)
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        errcode=bindparam("b_errcode"),
        errmsg=bindparam("b_errmsg"),
        category=bindparam("b_category"),
        msgid=bindparam("b_msgid"),
        sent_at=bindparam("b_sent_at"),
        next_attempt_at=bindparam("b_next"),
        fallback_channel=bindparam("b_fallback_channel"),
        fallback_target=bindparam("b_fallback_target"),
        detail_json=bindparam("b_detail"),
        lease_until=None,
        claim=None,
        updated_at=bindparam("b_now"),
    )
)


@lru_cache(maxsize=RECORD_ROWS)
def _record_sent(count: int) -> TextClause:
    """The common results write, `count` rows simply sent, as one statement: each row's msgid by a CASE.

    Written out once per row count and kept: a statement object built per write (the ORM's, or
    Core's with a CASE of varying values) is compiled or at least keyed anew every time, which cost
    a push worker about 4x the CPU of this one per recorded row.
    """
    whens = " ".join(f"WHEN :id{i} THEN :msgid{i}" for i in range(count))
    ids = ", ".join(f":id{i}" for i in range(count))
    # Built from the table's name and numbered placeholders only; every value is a bound parameter.
    return text(
        f"UPDATE {_t.name} SET status = :sent, attempts = attempts + :attempted, msgid = CASE id {whens} END, "  # noqa: S608
        "sent_at = :now, next_attempt_at = :now, lease_until = NULL, claim = NULL, updated_at = :now "
        f"WHERE id IN ({ids}) AND claim = :claim AND status = :sending"
    ).bindparams(bindparam("now", type_=_t.c.sent_at.type))  # stored as the models store datetimes


# --------------------------------------------------------------------------- context and dispatch


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _ms():
    return message_settings(_settings())


def _celery():
    return current_app.extensions["celery"]


def dispatch(task: str, args: list, *, countdown: float | None = None, queue: str = PUSH_QUEUE) -> None:
    options: dict[str, Any] = {"queue": queue}
    if countdown and countdown > 0:
        options["countdown"] = round(countdown, 3)
    _celery().send_task(task, args=args, **options)


def dispatch_batch(campaign_id: int, batch_no: int, countdown: float | None = None) -> None:
    dispatch(PUSH_BATCH_TASK, [campaign_id, batch_no], countdown=countdown)


def dispatch_one(delivery_id: int, countdown: float | None = None) -> None:
    dispatch(PUSH_ONE_TASK, [delivery_id], countdown=countdown)


def dispatch_mass(job_id: int, countdown: float | None = None) -> None:
    dispatch(PUSH_MASS_TASK, [job_id], countdown=countdown)


def dispatch_start(campaign_id: int) -> None:
    dispatch(START_TASK, [campaign_id], queue=QUEUE)


def backoff(attempts: int) -> float:
    """Exponential back-off from WEDRAW_MESSAGE_BACKOFF_SECONDS, capped, with jitter (half to full)."""
    ms = _ms()
    return min(ms.backoff_cap_seconds, ms.backoff_seconds * 2 ** max(0, attempts - 1)) * (0.5 + random.random() / 2)


# --------------------------------------------------------------------------- claiming


def _claimable(now: datetime):
    return or_(
        and_(Delivery.status.in_((PENDING, FAILED_RETRYING)), Delivery.next_attempt_at <= now),
        and_(Delivery.status == SENDING, Delivery.lease_until < now),
    )


@dataclass
class Row:
    id: int
    target: str
    unionid: str | None
    attempts: int
    errcode: int | None
    errmsg: str | None
    category: str | None
    fallback_channel: str | None
    fallback_target: str | None


def _claim(where: list) -> tuple[str, list[Row]]:
    now = utcnow()
    token = uuid.uuid4().hex
    db.session.execute(
        update(Delivery)
        .where(*where, _claimable(now))
        .values(status=SENDING, claim=token, lease_until=now + timedelta(seconds=_ms().lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.target,
            Delivery.unionid,
            Delivery.attempts,
            Delivery.errcode,
            Delivery.errmsg,
            Delivery.category,
            Delivery.fallback_channel,
            Delivery.fallback_target,
        )
        .where(Delivery.claim == token, Delivery.status == SENDING)
        .order_by(Delivery.id)
    ).all()
    db.session.commit()
    return token, [Row(*r) for r in rows]


def _release(token: str, ids: list[int], next_at: datetime, status: str | None = None) -> None:
    """Give claimed, unsent rows back (they keep their attempts) for a later run."""
    if not ids:
        return
    values: dict[str, Any] = {
        "claim": None,
        "lease_until": None,
        "next_attempt_at": next_at,
        "updated_at": utcnow(),
        "status": status or case((Delivery.attempts > 0, FAILED_RETRYING), else_=PENDING),
    }
    for start in range(0, len(ids), 500):
        db.session.execute(
            update(Delivery)
            .where(Delivery.claim == token, Delivery.status == SENDING, Delivery.id.in_(ids[start : start + 500]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()


def _renew(token: str) -> set[int]:
    """Extend the lease of the rows this run still holds, and say which those are.

    A run that stalled (a store or network outage) longer than its lease may have lost rows
    to another run; it must not send them too.
    """
    db.session.execute(
        update(Delivery)
        .where(Delivery.claim == token, Delivery.status == SENDING)
        .values(lease_until=utcnow() + timedelta(seconds=_ms().lease_seconds))
        .execution_options(synchronize_session=False)
    )
    held = set(
        db.session.execute(select(Delivery.id).where(Delivery.claim == token, Delivery.status == SENDING)).scalars()
    )
    db.session.commit()
    return held


# --------------------------------------------------------------------------- one run over claimed rows


@dataclass
class Route:
    """One way the claimed rows go out: a channel, its sender and the message (primary or fallback)."""

    channel: Any
    sender: Sender
    message: dict
    rows: list[Row]
    fallback: dict | None = None  # the campaign's fallback spec, for rows that may still fall back
    to_fallback_target: bool = False  # rows already falling back go to their fallback target

    def target(self, row: Row) -> str:
        return (row.fallback_target or row.target) if self.to_fallback_target else row.target


@dataclass
class Run:
    token: str
    campaign_id: int | None
    redispatch: Callable[[float | None], None]
    started: float = field(default_factory=time.monotonic)
    renewed: float = field(default_factory=time.monotonic)
    next_due: datetime | None = None
    unsubscribed: dict[str, set[str]] = field(default_factory=dict)
    stopped: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    final_ids: list[int] = field(default_factory=list)  # recorded final outcomes not yet reported
    reported: float = field(default_factory=time.monotonic)

    def due(self, when: datetime) -> None:
        if self.next_due is None or when < self.next_due:
            self.next_due = when

    def finished(self, delivery_ids: list[int]) -> None:
        """Recorded final outcomes, reported to data analysis in batches rather than per results write."""
        self.final_ids.extend(delivery_ids)
        if len(self.final_ids) >= facts.BATCH or time.monotonic() - self.reported > FACTS_SECONDS:
            self.report()

    def report(self) -> None:
        ids, self.final_ids, self.reported = self.final_ids, [], time.monotonic()
        facts.report_outcomes(ids)


def _campaign_status(campaign_id: int | None) -> str | None:
    if campaign_id is None:
        return None
    status = db.session.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar_one_or_none()
    db.session.commit()
    return status


def _limit_key(sender: Sender, channel) -> str:
    return f"{sender.kind}:{sender.app_key}:{channel.name}"


def _run_route(run: Run, route: Route) -> None:
    settings, ms = _settings(), _ms()
    channel, sender = route.channel, route.sender
    pending = list(route.rows)
    if sender.status == "broken":
        _finalise(run, pending, f"sender broken: {sender.broken_reason or 'WeChat refused its key'}", "robot", 93000)
        return
    try:
        app = credentials.app_for(settings, sender)
    except credentials.SenderGone as exc:
        _finalise(run, pending, str(exc)[:255], "config", None)
        return
    except credentials.CredentialsUnavailable as exc:
        log.warning("credentials of sender %s unavailable: %s", sender.id, exc)
        wait = backoff(1)
        _release(run.token, [r.id for r in pending], utcnow() + timedelta(seconds=wait))
        run.due(utcnow() + timedelta(seconds=wait))
        return
    limiter = limiter_for(store_for(settings))
    limit = channel.limit(ms, sender.rate_limits)
    key = _limit_key(sender, channel)
    looked = time.monotonic()
    while pending:
        if run.stopped:
            break
        if sender.status == "broken":  # WeChat just refused the key (93000): the rest cannot go either
            _finalise(run, pending, f"sender broken: {sender.broken_reason}"[:255], "robot", 93000)
            return
        if run.campaign_id is not None and time.monotonic() - looked > STATUS_SECONDS:
            looked = time.monotonic()
            status = _campaign_status(run.campaign_id)
            if status != RUNNING:
                run.stopped = status or "missing"
                break
        if time.monotonic() - run.started > TASK_BUDGET:
            run.stopped = "budget"
            break
        calls = [
            pending[i : i + channel.per_call]
            for i in range(0, min(len(pending), CHUNK * channel.per_call), channel.per_call)
        ]
        grant = limiter.acquire(key, limit, len(calls))
        if grant.granted == 0:
            if grant.wait <= SHORT_WAIT:
                time.sleep(grant.wait)
                continue
            wait_until = utcnow() + timedelta(seconds=grant.wait + random.random() * 0.05)
            _release(run.token, [r.id for r in pending], wait_until)
            run.due(wait_until)
            run.counts["waiting"] = run.counts.get("waiting", 0) + len(pending)
            return
        results: list[tuple[Row, Outcome]] = []
        done: set[int] = set()
        quota = False
        held: set[int] | None = None
        flushed = time.monotonic()
        try:
            for call in calls[: grant.granted]:
                if time.monotonic() - run.renewed > ms.lease_seconds / 4:
                    held = _renew(run.token)
                    run.renewed = time.monotonic()
                sendable = call if held is None else [r for r in call if r.id in held]  # lost rows stay unsent
                if not sendable:
                    continue
                outcomes = channel.send(app, route.message, [route.target(r) for r in sendable])
                results.extend((row, outcomes[route.target(row)]) for row in sendable)
                if any(outcomes[route.target(row)].status == QUOTA for row in sendable):
                    quota = True  # WeChat said stop (45009/45011): the rest of the chunk waits too
                    break
                if time.monotonic() - flushed > RECORD_SECONDS:  # slow calls: record as we go
                    _record(run, route, results)
                    done.update(row.id for row, _ in results)
                    results, flushed = [], time.monotonic()
        finally:
            # Whatever went wrong mid-chunk (the store or the network down), what WeChat accepted is
            # recorded now: only rows without a recorded answer can ever be sent twice.
            _record(run, route, results)
        done.update(row.id for row, _ in results)
        pending = [r for r in pending if r.id not in done and (held is None or r.id in held)]
        if quota:
            limiter.block(key, ms.quota_pause_seconds)


def _finalise(run: Run, rows: list[Row], errmsg: str, category: str, errcode: int | None) -> None:
    """Rows that cannot be sent at all (no WeChat call made, so no attempt counted)."""
    outcome = Outcome(FINAL, errcode, errmsg, category)
    _write(run, [(row, outcome, FAILED_FINAL) for row in rows], attempted=False)


def _record(run: Run, route: Route, results: list[tuple[Row, Outcome]]) -> None:
    """Turn outcomes into row states (retries, fallbacks, final errors) and write them in one transaction."""
    ms = _ms()
    writes: list[tuple[Row, Outcome, str]] = []
    fallback_candidates: list[tuple[Row, Outcome]] = []
    for row, outcome in results:
        attempts = row.attempts + 1
        if outcome.status == SENT:
            writes.append((row, outcome, "sent"))
        elif outcome.status == FINAL:
            if route.fallback and not row.fallback_channel and outcome.errcode in route.channel.fallback_on:
                fallback_candidates.append((row, outcome))
                continue
            writes.append((row, outcome, FAILED_FINAL))
            if outcome.errcode == 43004 and route.sender.kind == "official_account":
                run.unsubscribed.setdefault(route.sender.app_key, set()).add(
                    row.fallback_target if row.fallback_channel else row.target
                )
            if outcome.category == "robot":
                _mark_broken(route.sender, outcome)
        elif outcome.status == QUOTA:
            writes.append((row, outcome, FAILED_RETRYING))
        elif attempts >= ms.max_attempts:
            gave_up = Outcome(
                FINAL, outcome.errcode, f"gave up after {attempts} attempts: {outcome.errmsg}"[:255], outcome.category
            )
            writes.append((row, gave_up, FAILED_FINAL))
        else:
            writes.append((row, outcome, FAILED_RETRYING))
    if fallback_candidates:
        writes.extend(_fall_back(route, fallback_candidates))
    _write(run, writes)


def _fall_back(route: Route, candidates: list[tuple[Row, Outcome]]) -> list[tuple[Row, Outcome, str]]:
    """Rows the primary channel refused for good: send them through the fallback channel instead."""
    spec = route.fallback
    fallback_sender = db.session.get(Sender, spec["sender_id"])
    targets: dict[int, str | None] = {}
    if route.sender.kind == fallback_sender.kind and route.sender.app_key == fallback_sender.app_key:
        targets = {row.id: row.target for row, _ in candidates}
    else:
        # Another app (Mini Program → Official Account): the same person by unionid.
        unionids = sorted({row.unionid for row, _ in candidates if row.unionid})
        try:
            found = (
                call_service(
                    "wechat_official",
                    "POST",
                    "/internal/wechat/fans/by-unionid",
                    json={"appid": fallback_sender.app_key, "unionids": unionids},
                    settings=_settings(),
                    caller="message_center",
                    timeout=10,
                )["openids"]
                if unionids
                else {}
            )
        except ApiError as exc:
            retry = Outcome(RETRY, None, f"fallback lookup failed: {exc.description}"[:255], "transient")
            return [(row, retry, FAILED_RETRYING) for row, _ in candidates]
        targets = {row.id: found.get(row.unionid) if row.unionid else None for row, _ in candidates}
    writes = []
    for row, outcome in candidates:
        target = targets.get(row.id)
        if target:
            row.fallback_channel, row.fallback_target = spec["channel"], target
            writes.append((row, outcome, "fallback"))
        else:
            final = Outcome(
                FINAL,
                outcome.errcode,
                f"{outcome.errmsg}; no {fallback_sender.kind.replace('_', ' ')} recipient to fall back to"[:255],
                outcome.category,
            )
            writes.append((row, final, FAILED_FINAL))
    return writes


def _write(run: Run, writes: list[tuple[Row, Outcome, str]], *, attempted: bool = True) -> None:
    if not writes:
        return
    now = utcnow()
    params = []
    for row, outcome, state in writes:
        attempts = row.attempts + (1 if attempted else 0)
        next_at = now
        status = state
        if state == FAILED_RETRYING:
            # WeChat's quota (45009/45011): the whole key waits; other errors back off per recipient.
            delay = _ms().quota_pause_seconds if outcome.status == QUOTA else backoff(attempts)
            next_at = now + timedelta(seconds=delay)
            run.due(next_at)
        elif state == "fallback":
            status = PENDING
            run.due(now)
        run.counts[status] = run.counts.get(status, 0) + 1
        failed = outcome.status != SENT
        params.append(
            {
                "b_id": row.id,
                "b_claim": run.token,
                "b_status": status,
                "b_attempts": attempts,
                "b_errcode": outcome.errcode if failed else row.errcode,
                "b_errmsg": outcome.errmsg if (failed or outcome.errmsg) else row.errmsg,
                "b_category": outcome.category if failed else row.category,
                "b_msgid": outcome.msgid,
                "b_sent_at": now if status == "sent" else None,
                "b_next": next_at,
                "b_fallback_channel": row.fallback_channel,
                "b_fallback_target": row.fallback_target,
                "b_detail": json.dumps(outcome.detail, ensure_ascii=False) if outcome.detail else None,
                "b_now": now,
            }
        )
    # The common case, every row simply sent, is one statement; the rest one statement per row.
    plain = [
        p
        for p in params
        if p["b_status"] == "sent" and p["b_errmsg"] is None and p["b_errcode"] is None and p["b_detail"] is None
    ]
    others = [p for p in params if p not in plain] if len(plain) < len(params) else []
    recorded = 0
    for start in range(0, len(plain), RECORD_ROWS):
        part = plain[start : start + RECORD_ROWS]
        values: dict[str, Any] = {
            "sent": "sent",
            "sending": SENDING,
            "attempted": 1 if attempted else 0,
            "now": now,
            "claim": run.token,
        }
        for i, p in enumerate(part):
            values[f"id{i}"], values[f"msgid{i}"] = p["b_id"], p["b_msgid"]
        # On the session's connection (same transaction), without the ORM's per-statement work.
        recorded += db.session.connection().execute(_record_sent(len(part)), values).rowcount
    if others:
        result = db.session.execute(_RECORD, others)
        recorded += result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(others)
    db.session.commit()
    run.finished([p["b_id"] for p in params if p["b_status"] in ("sent", FAILED_FINAL)])
    lost = len(params) - recorded
    if lost > 0:
        log.warning("%d result(s) not recorded: their lease ran out and another run took them", lost)


def _mark_broken(sender: Sender, outcome: Outcome) -> None:
    reason = f"WeChat refused the robot key ({outcome.errcode}: {outcome.errmsg})"[:255]
    db.session.execute(
        update(Sender)
        .where(Sender.id == sender.id, Sender.status != "broken")
        .values(status="broken", broken_reason=reason, broken_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    sender.status, sender.broken_reason = "broken", reason
    log.warning("sender %s marked broken: %s", sender.id, reason)


def _notify_unsubscribed(run: Run) -> None:
    """Tell the Official Account service which fans WeChat says are not subscribed (43004)."""
    for appid, openids in run.unsubscribed.items():
        try:
            call_service(
                "wechat_official",
                "POST",
                "/internal/wechat/fans/unsubscribed",
                json={"appid": appid, "openids": sorted(openids)},
                settings=_settings(),
                caller="message_center",
                timeout=10,
            )
        except ApiError as exc:  # the sends are recorded; the fans' state catches up at the next fan sync
            log.info("could not report %d unsubscribed fan(s) of %s: %s", len(openids), appid, exc.description)


def _routes(rows: list[Row], channel, sender: Sender, message: dict, fallback: dict | None) -> list[Route]:
    primary = [r for r in rows if not r.fallback_channel]
    secondary = [r for r in rows if r.fallback_channel]
    routes = []
    if primary:
        routes.append(Route(channel, sender, message, primary, fallback))
    if secondary and fallback:
        fallback_sender = db.session.get(Sender, fallback["sender_id"])
        routes.append(Route(CHANNELS[fallback["channel"]], fallback_sender, fallback["message"], secondary, None, True))
    return routes


def _push(
    where: list,
    *,
    campaign: Campaign | None,
    channel,
    sender: Sender,
    message: dict,
    fallback: dict | None,
    redispatch: Callable[[float | None], None],
) -> dict:
    """Claim and send until nothing is due; a retry due within SHORT_WAIT is waited for here, a later one is
    re-queued with its countdown."""
    started = time.monotonic()
    summary: dict[str, Any] = {"claimed": 0}
    while True:
        token, rows = _claim(where)
        if not rows:
            return summary
        run = Run(token, campaign.id if campaign else None, redispatch, started=started)
        try:
            for route in _routes(rows, channel, sender, message, fallback):
                if run.stopped:
                    break
                _run_route(run, route)
        finally:
            run.report()  # what was recorded is reported, even when the run ends in an error
        # Rows this run claimed but did not finish (paused, cancelled, out of budget).
        left = (
            db.session.execute(select(Delivery.id).where(Delivery.claim == token, Delivery.status == SENDING))
            .scalars()
            .all()
        )
        db.session.commit()
        if left:
            if run.stopped == CAMPAIGN_CANCELLED:
                _release(token, list(left), utcnow(), status=CANCELLED)
            else:
                _release(token, list(left), utcnow())
                if run.stopped == "budget":
                    run.due(utcnow())
        if run.unsubscribed:
            _notify_unsubscribed(run)
        summary["claimed"] += len(rows)
        for name, count in run.counts.items():
            summary[name] = summary.get(name, 0) + count
        if run.stopped:
            summary["stopped"] = run.stopped
        if run.next_due is None or run.stopped in (PAUSED, CAMPAIGN_CANCELLED, "missing"):
            return summary
        delay = max(0.0, (run.next_due - utcnow()).total_seconds())
        if delay > SHORT_WAIT or run.stopped == "budget" or time.monotonic() - started > TASK_BUDGET:
            redispatch(delay)
            return summary
        time.sleep(delay)


# --------------------------------------------------------------------------- tasks' bodies


def push_batch(campaign_id: int, batch_no: int) -> dict:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return {"skipped": "no such campaign"}
    if campaign.status == CAMPAIGN_CANCELLED:
        cancel_open(campaign_id)
        return {"skipped": "cancelled"}
    if campaign.status != RUNNING:
        return {"skipped": campaign.status}
    channel = CHANNELS[campaign.channel]
    if channel.name == "oa_mass":
        return {"skipped": "mass sends go through mass jobs"}
    sender = db.session.get(Sender, campaign.sender_id)
    result = _push(
        [Delivery.campaign_id == campaign_id, Delivery.batch_no == batch_no],
        campaign=campaign,
        channel=channel,
        sender=sender,
        message=campaign.message,
        fallback=campaign.fallback,
        redispatch=lambda countdown: dispatch_batch(campaign_id, batch_no, countdown),
    )
    maybe_complete(campaign_id)
    return result


def push_one(delivery_id: int) -> dict:
    row = db.session.get(Delivery, delivery_id)
    if row is None:
        return {"skipped": "no such delivery"}
    if row.campaign_id is not None:
        return push_batch(row.campaign_id, row.batch_no)
    sender = db.session.get(Sender, row.sender_id)
    return _push(
        [Delivery.id == delivery_id],
        campaign=None,
        channel=CHANNELS[row.channel],
        sender=sender,
        message=row.payload or {},
        fallback=None,
        redispatch=lambda countdown: dispatch_one(delivery_id, countdown),
    )


def push_mass(job_id: int) -> dict:
    """One mass-send call (with its clientmsgid) and the state of the recipients it covers."""
    job = db.session.get(MassJob, job_id)
    if job is None:
        return {"skipped": "no such job"}
    campaign = db.session.get(Campaign, job.campaign_id)
    if campaign.status == CAMPAIGN_CANCELLED:
        cancel_open(campaign.id)
        return {"skipped": "cancelled"}
    if campaign.status != RUNNING:
        return {"skipped": campaign.status}
    settings, ms = _settings(), _ms()
    now = utcnow()
    token = uuid.uuid4().hex
    claimed = db.session.execute(
        update(MassJob)
        .where(
            MassJob.id == job_id,
            or_(
                and_(MassJob.status.in_((PENDING, FAILED_RETRYING)), MassJob.next_attempt_at <= now),
                and_(MassJob.status == SENDING, MassJob.lease_until < now),
            ),
        )
        .values(status=SENDING, claim=token, lease_until=now + timedelta(seconds=ms.lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    batch_rows = [Delivery.campaign_id == campaign.id, Delivery.batch_no == job.batch_no]
    if claimed:
        db.session.execute(
            update(Delivery)
            .where(*batch_rows, Delivery.status.in_((PENDING, FAILED_RETRYING)))
            .values(status=SENDING, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    if not claimed:
        return {"skipped": "not due or already taken"}
    db.session.refresh(job)
    sender = db.session.get(Sender, campaign.sender_id)
    channel = CHANNELS["oa_mass"]

    def settle(status: str, outcome: Outcome, delay: float | None = None) -> None:
        now = utcnow()
        attempts = job.attempts + (1 if outcome.status != "waiting" else 0)
        job_values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "claim": None,
            "lease_until": None,
            "updated_at": now,
        }
        row_values: dict[str, Any] = {"updated_at": now}
        if status == "sent":
            job_values.update(msg_id=outcome.msgid, submitted_at=now, errcode=outcome.errcode, errmsg=outcome.errmsg)
            row_values.update(status="sent", sent_at=now, msgid=outcome.msgid, attempts=Delivery.attempts + 1)
        elif status == FAILED_FINAL:
            job_values.update(errcode=outcome.errcode, errmsg=outcome.errmsg)
            row_values.update(
                status=FAILED_FINAL,
                errcode=outcome.errcode,
                errmsg=outcome.errmsg,
                category=outcome.category,
                attempts=Delivery.attempts + 1,
            )
        else:
            next_at = now + timedelta(seconds=delay or 0)
            job_values.update(next_attempt_at=next_at, errcode=outcome.errcode, errmsg=outcome.errmsg)
            row_values.update(status=PENDING if status == PENDING else FAILED_RETRYING, next_attempt_at=next_at)
            if status != PENDING:
                row_values.update(errcode=outcome.errcode, errmsg=outcome.errmsg, attempts=Delivery.attempts + 1)
        db.session.execute(
            update(MassJob)
            .where(MassJob.id == job.id, MassJob.claim == token)
            .values(**job_values)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Delivery)
            .where(*batch_rows, Delivery.status == SENDING)
            .values(**row_values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if status in ("sent", FAILED_FINAL):
            facts.report_outcomes(
                list(db.session.execute(select(Delivery.id).where(*batch_rows, Delivery.status == status)).scalars())
            )
        if status in (PENDING, FAILED_RETRYING):
            dispatch_mass(job.id, delay)

    try:
        app = credentials.app_for(settings, sender)
    except credentials.SenderGone as exc:
        settle(FAILED_FINAL, Outcome(FINAL, None, str(exc)[:255], "config"))
        maybe_complete(campaign.id)
        return {"status": FAILED_FINAL}
    except credentials.CredentialsUnavailable as exc:
        settle(PENDING, Outcome("waiting", None, str(exc)[:255]), backoff(1))
        return {"status": "waiting"}
    limiter = limiter_for(store_for(settings))
    grant = limiter.acquire(_limit_key(sender, channel), channel.limit(ms, sender.rate_limits), 1)
    if not grant.granted:
        settle(PENDING, Outcome("waiting", None, None), grant.wait)
        return {"status": "waiting", "wait": grant.wait}
    if job.size:
        openids = list(db.session.execute(select(Delivery.target).where(*batch_rows).order_by(Delivery.id)).scalars())
        db.session.commit()
        outcome = channel.send_job(app, campaign.message, openids=openids, tag_id=None, clientmsgid=job.clientmsgid)
    else:
        audience = campaign.audience
        tag_id = int(audience["tag_id"]) if audience.get("kind") == "tag" else None
        outcome = channel.send_job(app, campaign.message, openids=None, tag_id=tag_id, clientmsgid=job.clientmsgid)
    if outcome.status == SENT:
        settle("sent", outcome)
    elif outcome.status == FINAL:
        settle(FAILED_FINAL, outcome)
    elif outcome.status == QUOTA:
        limiter.block(_limit_key(sender, channel), ms.quota_pause_seconds)
        settle(FAILED_RETRYING, outcome, ms.quota_pause_seconds)
    elif job.attempts + 1 >= ms.max_attempts:
        settle(
            FAILED_FINAL,
            Outcome(
                FINAL,
                outcome.errcode,
                f"gave up after {job.attempts + 1} attempts: {outcome.errmsg}"[:255],
                outcome.category,
            ),
        )
    else:
        settle(FAILED_RETRYING, outcome, backoff(job.attempts + 1))
    maybe_complete(campaign.id)
    return {"status": outcome.status, "msg_id": outcome.msgid}


# --------------------------------------------------------------------------- campaigns: start, cancel, complete


def cancel_open(campaign_id: int) -> int:
    """Every open recipient (and mass job) of a cancelled campaign becomes cancelled; in-flight ones finish."""
    now = utcnow()
    count = db.session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status.in_((PENDING, FAILED_RETRYING)))
        .values(status=CANCELLED, updated_at=now, claim=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        update(MassJob)
        .where(MassJob.campaign_id == campaign_id, MassJob.status.in_((PENDING, FAILED_RETRYING)))
        .values(status=CANCELLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return count


def maybe_complete(campaign_id: int) -> bool:
    """A running campaign whose recipients (and mass jobs) are all final is completed."""
    open_row = db.session.execute(
        select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.status.in_(OPEN_STATES)).limit(1)
    ).first()
    open_job = db.session.execute(
        select(MassJob.id)
        .where(MassJob.campaign_id == campaign_id, MassJob.status.in_((PENDING, SENDING, FAILED_RETRYING)))
        .limit(1)
    ).first()
    if open_row or open_job:
        db.session.commit()
        return False
    done = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == RUNNING, Campaign.materialized.is_(True))
        .values(status=COMPLETED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if done:
        facts.report_campaign(campaign_id)
    return bool(done)


def dispatch_open(campaign_id: int) -> int:
    """Queue a push for every batch (or mass job) of the campaign that still has work."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign.channel == "oa_mass":
        jobs = (
            db.session.execute(
                select(MassJob.id).where(
                    MassJob.campaign_id == campaign_id, MassJob.status.in_((PENDING, SENDING, FAILED_RETRYING))
                )
            )
            .scalars()
            .all()
        )
        db.session.commit()
        for job_id in jobs:
            dispatch_mass(job_id)
        return len(jobs)
    batches = (
        db.session.execute(
            select(Delivery.batch_no)
            .where(Delivery.campaign_id == campaign_id, Delivery.status.in_(OPEN_STATES))
            .group_by(Delivery.batch_no)
            .order_by(Delivery.batch_no)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    for batch_no in batches:
        dispatch_batch(campaign_id, batch_no)
    return len(batches)


def _insert_recipients(
    campaign: Campaign, recipients: list[tuple[str, str | None]], start_index: int, batch_size: int
) -> int:
    """Insert one page of recipients (a repeat of the page inserts nothing: unique per campaign)."""
    now = utcnow()
    values = [
        {
            "campaign_id": campaign.id,
            "batch_no": (start_index + i) // batch_size,
            "channel": campaign.channel,
            "sender_id": campaign.sender_id,
            "target": target,
            "unionid": unionid,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for i, (target, unionid) in enumerate(recipients)
    ]
    if not values:
        return 0
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(Delivery).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.mysql import insert

        stmt = insert(Delivery).prefix_with("IGNORE")
    db.session.execute(stmt, values)
    return len(values)


def _to_running(campaign: Campaign) -> None:
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == PREPARING)
        .values(status=RUNNING, started_at=func.coalesce(Campaign.started_at, utcnow()))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(campaign)


def start_campaign(campaign_id: int) -> dict:
    """Store the audience page by page (resumable) while sending what is stored; then mass jobs. Idempotent.

    The campaign runs from the first page on: each batch is queued as soon as it is stored
    complete, so sending overlaps with storing a large audience.
    """
    from wedraw.message_center.audiences import source_for

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return {"skipped": "no such campaign"}
    if campaign.status not in (PREPARING, RUNNING, PAUSED):
        return {"skipped": campaign.status}
    if campaign.materialized:
        _to_running(campaign)
        dispatched = dispatch_open(campaign.id) if campaign.status == RUNNING else 0
        return {"status": campaign.status, "dispatched": dispatched}
    settings, ms = _settings(), _ms()
    _to_running(campaign)
    sender = db.session.get(Sender, campaign.sender_id)
    audience = campaign.audience
    mass = campaign.channel == "oa_mass"
    by_filter = mass and audience.get("kind") in ("fans", "tag")
    batch_size = ms.mass_batch_size if mass else ms.batch_size
    dispatched = 0  # batches [0, dispatched) are queued
    if not by_filter:
        source = source_for(audience)
        for page in source.pages(audience, sender, campaign.audience_cursor, settings):
            seen: dict[str, str | None] = {}
            for target, unionid in page.recipients:
                seen.setdefault(target, unionid)
            _insert_recipients(campaign, list(seen.items()), campaign.total, batch_size)
            campaign.total = db.session.execute(
                select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
            ).scalar_one()
            campaign.audience_cursor = page.cursor
            db.session.commit()
            db.session.refresh(campaign)
            if campaign.status == CAMPAIGN_CANCELLED:
                cancel_open(campaign.id)
                return {"skipped": "cancelled while preparing"}
            if not mass and campaign.status == RUNNING:
                complete = campaign.total // batch_size
                for batch_no in range(dispatched, complete):
                    dispatch_batch(campaign.id, batch_no)
                dispatched = max(dispatched, complete)
    if mass:
        _create_mass_jobs(campaign, by_filter, batch_size)
    campaign.materialized = True
    db.session.commit()
    db.session.refresh(campaign)
    if campaign.total == 0 and not by_filter:
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id, Campaign.status.in_((PREPARING, RUNNING, PAUSED)))
            .values(
                status=FAILED, error="The audience had no recipients when the campaign started.", finished_at=utcnow()
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return {"status": FAILED, "total": 0}
    if campaign.status != RUNNING:
        return {"status": campaign.status, "total": campaign.total}
    if mass:
        return {"status": RUNNING, "total": campaign.total, "dispatched": dispatch_open(campaign.id)}
    last = (campaign.total - 1) // batch_size
    for batch_no in range(dispatched, last + 1):
        dispatch_batch(campaign.id, batch_no)
    return {"status": RUNNING, "total": campaign.total, "dispatched": max(dispatched, last + 1)}


def _create_mass_jobs(campaign: Campaign, by_filter: bool, batch_size: int) -> None:
    """One job per WeChat call; a list never ends in a batch of one (WeChat needs 2 to 10,000)."""
    now = utcnow()
    if by_filter:
        jobs = [(0, 0)]
    else:
        sizes = dict(
            db.session.execute(
                select(Delivery.batch_no, func.count())
                .where(Delivery.campaign_id == campaign.id)
                .group_by(Delivery.batch_no)
            ).all()
        )
        last = max(sizes) if sizes else 0
        if sizes.get(last) == 1 and last > 0:
            lone = db.session.execute(
                select(Delivery.id).where(Delivery.campaign_id == campaign.id, Delivery.batch_no == last)
            ).scalar_one()
            db.session.execute(
                update(Delivery)
                .where(Delivery.id == lone)
                .values(batch_no=last - 1)
                .execution_options(synchronize_session=False)
            )
            sizes[last - 1] += 1
            del sizes[last]
        jobs = sorted(sizes.items())
    for batch_no, size in jobs:
        db.session.add(
            MassJob(
                campaign_id=campaign.id,
                sender_id=campaign.sender_id,
                batch_no=batch_no,
                clientmsgid=f"wd{campaign.uid}-{batch_no}",
                size=size,
                status=PENDING,
                next_attempt_at=now,
            )
        )
