"""gunicorn settings shared by every WeDraw service (Supervisor passes --bind and --name)."""

import multiprocessing
import os

workers = int(os.environ.get("WEDRAW_GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEDRAW_GUNICORN_THREADS", "1"))
timeout = 30  # a request that takes longer than this is a bug: the worker is replaced
graceful_timeout = 30  # SIGTERM/HUP: finish in-flight requests first
keepalive = 5
# Recycle workers now and then, staggered, so slow leaks never add up.
max_requests = 2000
max_requests_jitter = 200
# Each service logs JSON lines itself; gunicorn's access log would duplicate them.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("WEDRAW_LOG_LEVEL", "info").lower()
# No preload: each worker builds its app (and its database pools) after the fork.
preload_app = False
forwarded_allow_ips = "127.0.0.1"
