"""Fan sync: make the local fan table match WeChat's followers.

- full: every `user/get` page (10,000 openids each), then every profile by `user/info/batchget`
  (100 a call, a few calls in flight at once), written in chunks of 1,000;
- incremental: the same follower list, but profiles only for fans that are new, came back,
  or have never had their profile fetched.

Both mark fans missing from the follower list as unsubscribed. A fan's row is written only
when its profile hash changed, so a second sync of an unchanged account writes nothing.
Progress is committed on the job row after every chunk, for the console to poll.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, insert, select, update

from wedraw.core.db import utcnow
from wedraw.core.store import LockNotAcquired, lock, store_for
from wedraw.wechat import Final
from wedraw.wechat_official.models import Account, Fan, FanSyncJob, db
from wedraw.wechat_official.services import RetryLater, _profile_values, client

log = logging.getLogger("wedraw.wechat_official.sync")

BATCHGET = 100
CHUNK = 1000
FETCHERS = 4


@dataclass
class Known:
    id: int
    hash: str | None
    subscribed: bool
    synced_at: datetime | None


class SyncFailed(Exception):
    pass


def _fail_or_retry(result, what: str):
    if isinstance(result, Final):
        raise SyncFailed(f"{what}: {result.errcode} {result.meaning}")
    raise RetryLater(f"{what}: {result.meaning}", result.retry_after or 30)


def _existing(account_id: int) -> dict[str, Known]:
    rows = db.session.execute(
        select(Fan.openid, Fan.id, Fan.profile_hash, Fan.subscribed, Fan.profile_synced_at).where(
            Fan.account_id == account_id
        )
    )
    return {r.openid: Known(r.id, r.profile_hash, r.subscribed, r.profile_synced_at) for r in rows}


def _fetch(oa, pool: ThreadPoolExecutor, openids: list[str]):
    """Futures of the profiles of `openids`, 100 per call."""
    return [
        pool.submit(oa.call, oa.api.user.get_batch, openids[i : i + BATCHGET]) for i in range(0, len(openids), BATCHGET)
    ]


def _apply(job: FanSyncJob, known: dict[str, Known], profiles: list[dict]) -> None:
    now = utcnow()
    inserts, updates = [], []
    for info in profiles:
        openid = info.get("openid")
        if not openid:
            continue
        values = _profile_values(info, now)
        existing = known.get(openid)
        if existing is None:
            inserts.append(
                {
                    "account_id": job.account_id,
                    "openid": openid,
                    "created_at": now,
                    "updated_at": now,
                    "last_interaction_at": None,
                    "qr_scene": None,
                    **values,
                }
            )
            known[openid] = Known(0, values["profile_hash"], values["subscribed"], now)
        elif existing.hash != values["profile_hash"] or existing.synced_at is None:
            updates.append({"id": existing.id, "updated_at": now, **values})
            existing.hash, existing.subscribed, existing.synced_at = values["profile_hash"], values["subscribed"], now
        else:
            job.unchanged += 1
    # Core executemany: the ORM's bulk paths cost more per row than the database does.
    if inserts:
        db.session.execute(insert(Fan.__table__), inserts)
    for row in updates:
        row["_id"] = row.pop("id")
    groups: dict[tuple, list[dict]] = {}
    for row in updates:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    table = Fan.__table__
    for keys, rows in groups.items():
        stmt = update(table).where(table.c.id == bindparam("_id")).values({k: bindparam(k) for k in keys if k != "_id"})
        db.session.execute(stmt, rows)
    job.inserted += len(inserts)
    job.updated += len(updates)
    job.processed += len(profiles)


def _mark_unfollowed(job: FanSyncJob, known: dict[str, Known], followers: set[str]) -> None:
    gone = [k.id for openid, k in known.items() if k.subscribed and k.id and openid not in followers]
    now = utcnow()
    for start in range(0, len(gone), CHUNK):
        ids = gone[start : start + CHUNK]
        db.session.execute(
            update(Fan).where(Fan.id.in_(ids)).values(subscribed=False, tag_ids=",", updated_at=now, profile_hash=None)
        )
    job.unsubscribed = len(gone)


def run(job_id: int) -> str:
    """Run one sync job to its end (or raise RetryLater for the task to retry)."""
    job = db.session.get(FanSyncJob, job_id)
    if job is None:
        return "missing"
    if job.status in ("succeeded", "failed"):
        return job.status
    store = store_for(current_app.config["WEDRAW_SETTINGS"])
    try:
        with lock(store, f"wechat:fan-sync-run:{job.account_id}", ttl=3 * 3600):
            return _run(job)
    except LockNotAcquired:
        return "busy"  # a redelivered copy of a job that is running elsewhere


def _run(job: FanSyncJob) -> str:
    account = db.session.get(Account, job.account_id)
    job.status, job.started_at, job.error = "running", job.started_at or utcnow(), None
    job.processed = job.inserted = job.updated = job.unchanged = job.unsubscribed = 0
    db.session.commit()
    try:
        oa = client(account, background=True)
        followers = oa.followers()
        if not followers.ok:
            _fail_or_retry(followers, "user/get")
        openids: list[str] = list(dict.fromkeys(followers.data))
        known = _existing(account.id)
        if job.kind == "full":
            wanted = openids
        else:
            wanted = [o for o in openids if (k := known.get(o)) is None or not k.subscribed or k.synced_at is None]
        job.total = len(wanted)
        db.session.commit()
        with ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="fan-sync") as pool:
            chunks = [wanted[i : i + CHUNK] for i in range(0, len(wanted), CHUNK)]
            pending = _fetch(oa, pool, chunks[0]) if chunks else []
            for index in range(len(chunks)):
                results = [f.result() for f in pending]
                # Fetch the next chunk while this one is written.
                pending = _fetch(oa, pool, chunks[index + 1]) if index + 1 < len(chunks) else []
                profiles = []
                for result in results:
                    if not result.ok:
                        for future in pending:
                            future.cancel()
                        _fail_or_retry(result, "user/info/batchget")
                    profiles.extend(result.data)
                _apply(job, known, profiles)
                db.session.commit()
        _mark_unfollowed(job, known, set(openids))
        job.status, job.finished_at = "succeeded", utcnow()
        db.session.commit()
        log.info(
            "fan sync %s done",
            job.id,
            extra={
                "fields": {
                    "account": account.appid,
                    "kind": job.kind,
                    "total": job.total,
                    "inserted": job.inserted,
                    "updated": job.updated,
                    "unchanged": job.unchanged,
                    "unsubscribed": job.unsubscribed,
                }
            },
        )
        return job.status
    except SyncFailed as exc:
        db.session.rollback()
        fail(job.id, str(exc))
        return "failed"
    except RetryLater as exc:
        db.session.rollback()
        job = db.session.get(FanSyncJob, job.id)
        job.error = f"waiting to retry: {exc}"[:255]
        db.session.commit()
        raise


def fail(job_id: int, error: str) -> None:
    job = db.session.get(FanSyncJob, job_id)
    if job is not None and job.status not in ("succeeded", "failed"):
        job.status, job.error, job.finished_at = "failed", error[:255], utcnow()
        db.session.commit()
