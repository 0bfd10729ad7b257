"""The worker fleet as the console sees it: which workers and beat are alive, and how long each queue is.

Liveness comes from the heartbeats every worker and beat write into the shared store
(wedraw.core.celery_app). Queue lengths come from the broker: Redis lists (one per
priority step, as kombu lays them out) in production, the kombu_message table of the
SQLite broker in the embedded profile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from wedraw.core.celery_app import BEAT_HEARTBEAT_KEY, HEARTBEAT_TTL, worker_heartbeat_key
from wedraw.core.registry import all_queues
from wedraw.core.store import store_for

log = logging.getLogger("wedraw.message_center.fleet")

REDIS_PRIORITY_SEP = "\x06\x16"
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)

_engines: dict[str, object] = {}
_redis: dict[str, object] = {}
_lock = threading.Lock()


def _when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def queue_lengths(settings, queues: list[str]) -> tuple[dict[str, int | None], int | None, str]:
    """({queue: waiting messages}, unacknowledged messages, broker kind); None where the broker cannot tell."""
    url = settings.celery_broker_url
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            return _redis_lengths(url, queues)
        if url.startswith("sqla+"):
            return _sql_lengths(url.removeprefix("sqla+"), queues)
    except Exception as exc:  # the broker being down is what the console must show, not an error
        log.warning("queue lengths unavailable: %s", type(exc).__name__)
        return dict.fromkeys(queues), None, "unreachable"
    return dict.fromkeys(queues), None, url.split(":", 1)[0]


def _redis_lengths(url: str, queues: list[str]):
    import redis

    with _lock:
        client = _redis.get(url)
        if client is None:
            client = _redis[url] = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    pipe = client.pipeline()
    for queue in queues:
        for step in REDIS_PRIORITY_STEPS:
            pipe.llen(queue if step == 0 else f"{queue}{REDIS_PRIORITY_SEP}{step}")
    pipe.hlen("unacked")
    values = pipe.execute()
    lengths = {}
    for i, queue in enumerate(queues):
        lengths[queue] = sum(values[i * len(REDIS_PRIORITY_STEPS) : (i + 1) * len(REDIS_PRIORITY_STEPS)])
    return lengths, int(values[-1]), "redis"


def _sql_lengths(url: str, queues: list[str]):
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_engine(
                url, connect_args={"timeout": 10} if url.startswith("sqlite") else {}
            )
    lengths = dict.fromkeys(queues, 0)
    with engine.connect() as conn:
        tables = {
            row[0]
            for row in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
                if url.startswith("sqlite")
                else text("SHOW TABLES")
            )
        }
        if not {"kombu_queue", "kombu_message"} <= tables:
            return lengths, 0, "sqlalchemy"
        rows = conn.execute(
            text(
                "SELECT q.name, m.visible, COUNT(*) FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id "
                "GROUP BY q.name, m.visible"
            )
        ).all()
    for name, visible, count in rows:
        if name in lengths and visible:
            lengths[name] = int(count)
    # Delivered messages stay in the table with visible = 0 until purged: they are not "unacked".
    return lengths, None, "sqlalchemy"


def status(settings) -> dict:
    from workers.programs import worker_programs
    from workers.schedule import PERIODIC_JOBS

    store = store_for(settings)
    now = time.time()
    queues = all_queues()
    lengths, unacked, broker = queue_lengths(settings, list(queues))
    programs = {p.queue: p for p in worker_programs()}
    rows = []
    for queue, service in queues.items():
        try:
            nodes = json.loads(store.get(worker_heartbeat_key(queue)) or "{}")
        except Exception:
            nodes = {}
        workers = [
            {
                "node": node,
                "hostname": info.get("hostname"),
                "pid": info.get("pid"),
                "pool": info.get("pool"),
                "concurrency": info.get("concurrency"),
                "last_seen": _when(info.get("at")),
                "age_seconds": round(now - info.get("at", 0), 1),
                "alive": now - info.get("at", 0) < HEARTBEAT_TTL,
            }
            for node, info in sorted(nodes.items())
        ]
        program = programs.get(queue)
        rows.append(
            {
                "queue": queue,
                "service": service,
                "program": f"wedraw-{program.name}" if program else None,
                "pool": program.pool if program else None,
                "concurrency": program.concurrency if program else None,
                "length": lengths.get(queue),
                "workers": workers,
                "alive": sum(1 for w in workers if w["alive"]),
            }
        )
    try:
        beat = json.loads(store.get(BEAT_HEARTBEAT_KEY) or "null")
    except Exception:
        beat = None
    return {
        "broker": broker,
        "unacked": unacked,
        "queues": rows,
        "beat": {
            "alive": bool(beat) and now - beat.get("at", 0) < HEARTBEAT_TTL,
            "last_seen": _when(beat.get("at")) if beat else None,
            "hostname": beat.get("hostname") if beat else None,
            "pid": beat.get("pid") if beat else None,
        },
        "periodic_jobs": [
            {"name": name, "task": task, "queue": queue, "schedule": str(schedule)}
            for name, (task, queue, schedule) in PERIODIC_JOBS.items()
        ],
        "heartbeat_ttl": HEARTBEAT_TTL,
    }


def push_queue_length(settings) -> int | None:
    lengths, _, _ = queue_lengths(settings, ["wechat_push"])
    return lengths.get("wechat_push")
