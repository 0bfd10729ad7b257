"""gunicorn settings shared by every WeDraw service (Supervisor passes --bind and --name).

Reload gracefully with `supervisorctl signal HUP wedraw-<service>`: gunicorn starts new
workers (which import the code afresh, since nothing is preloaded) and lets the old ones
finish their requests; the listening socket never closes, so no request is refused.
"""

import multiprocessing
import os
from pathlib import Path

workers = int(os.environ.get("WEDRAW_GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEDRAW_GUNICORN_THREADS", "1"))
timeout = 30  # a request that takes longer than this is a bug: the worker is replaced
graceful_timeout = 30  # SIGTERM/HUP: finish in-flight requests first
keepalive = 5
# Recycle workers now and then, staggered, so slow leaks never add up. Not often: a new worker
# builds its app afresh (nothing is preloaded), about 0.9 s of CPU. Every 2,000 requests that was
# 0.45 ms per request, and a long callback run lost 15% of its throughput and tripled its p99.
max_requests = 20000
max_requests_jitter = 2000
# Each service logs JSON lines itself; gunicorn's access log would duplicate them.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("WEDRAW_LOG_LEVEL", "info").lower()
# No preload: each worker builds its app (and its database pools) after the fork.
preload_app = False
# Nginx's address(es); X-Forwarded-* from anyone else is ignored.
forwarded_allow_ips = os.environ.get("WEDRAW_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Worker heartbeats on tmpfs: a slow or full disk must not make gunicorn kill healthy workers.
# (gunicorn makes its files there with mkstemp, private to the worker.)
SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = SHM if os.path.isdir(SHM) else None
# Supervisor controls the processes; gunicorn's own control socket (one path per user by
# default) would be fought over by the eight services of one host.
control_socket_disable = True


def on_starting(server):
    """A fresh start begins with no metric files: a dead process's files would count forever."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    """Drop a dead worker's live gauges (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def post_fork(server, worker):
    """A worker stops gracefully when its master dies (Linux parent-death signal).

    Without this, the workers of a master killed with SIGKILL live on holding the listening
    socket: the master Supervisor starts again cannot bind its port until they notice, which a
    sync worker under steady traffic never does. With it they get SIGTERM at once, finish the
    request in hand, and free the port for the new master.
    """
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the worker notices a new parent on its own
        return
    if os.getppid() != worker.ppid:  # the master died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
