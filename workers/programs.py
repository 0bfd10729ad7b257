"""Worker programs: one per queue, each running its owning service's Celery app.

Supervisor programs and the embedded runner are made from this list, and a test proves
every queue in the registry has exactly one program.
"""

from __future__ import annotations

from dataclasses import dataclass

from wedraw.core.registry import SERVICES


@dataclass(frozen=True)
class WorkerProgram:
    name: str
    service: str
    queue: str
    pool: str
    concurrency: int

    def argv(self, python: str = "python") -> list[str]:
        return [
            python,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "-Q",
            self.queue,
            "-n",
            f"{self.queue}@%h",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]


# Per-queue pool and concurrency where the default (4 threads, for I/O-bound tasks) does
# not fit. gevent is avoided: with Redis and acks_late it has known redelivery bugs.
_POOLS: dict[str, tuple[str, int]] = {
    # WeChat pushes wait on the network: threads (measured by bench/campaign.py against prefork;
    # more than 8 threads only contend for the GIL and a WeChat client's 10 pooled connections).
    "wechat_push": ("threads", 8),
    # Report files are long and CPU-bound (openpyxl): two at a time, each with its own memory.
    "reports": ("threads", 2),
}


def worker_programs() -> list[WorkerProgram]:
    programs = []
    for spec in SERVICES.values():
        for queue in spec.queues:
            pool, concurrency = _POOLS.get(queue, ("threads", 4))
            programs.append(WorkerProgram(f"worker-{queue}", spec.name, queue, pool, concurrency))
    return programs
