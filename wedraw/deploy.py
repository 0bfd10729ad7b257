"""The bare-metal layout, made from the service registry: configuration, databases, a local trial.

- `render_*`: Supervisor programs, Nginx (HTTP and HTTPS), logrotate, the Prometheus
  scrape list and the backup cron entry. `python -m wedraw.cli deploy render` writes them;
  the copies committed under deploy/ are the defaults, and a test proves they equal a
  fresh render, so they cannot drift from the registry.
- `ProvisionPlan`: each service's database and its own account with rights on that
  database only (`python -m wedraw.cli db provision`).
- `local_up` / `local_down`: the whole production layout on this machine under a
  temporary root, against the local MariaDB and Redis (`make prod-up` / `make prod-down`).
"""

from __future__ import annotations

import contextlib
import getpass
import grp
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wedraw.core.config import PROJECT_ROOT
from wedraw.core.registry import DATABASE_SERVICES, SERVICES, WEB_SERVICES, callback_prefixes
from workers.programs import worker_programs

DEPLOY_DIR = PROJECT_ROOT / "deploy"
GENERATED = "Generated from wedraw/core/registry.py by `python -m wedraw.cli deploy render`. Do not edit."


@dataclass(frozen=True)
class Layout:
    """Where and how one installation runs. The defaults are the documented install."""

    app_root: str = "/opt/wedraw"
    user: str = "wedraw"
    log_dir: str = "/var/log/wedraw"
    env_file: str = "/etc/wedraw/wedraw.env"
    server_name: str = "_"
    listen: str = "80"
    # The address every gunicorn binds to, and the first server of every upstream.
    upstream_host: str = "127.0.0.1"
    # Further application hosts running the same programs: every upstream lists them too.
    more_upstream_hosts: tuple[str, ...] = ()
    # prometheus_client's per-process files, one directory per program.
    metrics_dir: str = "/var/lib/wedraw/metrics"
    # Who may read /metrics/<service> through Nginx (Prometheus); everyone else gets 403.
    metrics_allow: tuple[str, ...] = ("127.0.0.1",)
    # Per client IP on /api/ (callbacks exempt): a burst of 60, then one a second.
    api_rate: str = "60r/m"
    api_burst: int = 59
    https_listen: str = "443"
    tls_certificate: str = "/etc/ssl/wedraw/fullchain.pem"
    tls_certificate_key: str = "/etc/ssl/wedraw/privkey.pem"
    supervisor_pidfile: str = "/var/run/supervisord.pid"
    nginx_pidfile: str = "/run/nginx.pid"
    backup_dir: str = "/var/backups/wedraw"
    # Owner and group of the log files logrotate creates.
    log_owner: str = "root adm"
    # None: gunicorn.conf.py's default (2 x cores + 1).
    gunicorn_workers: int | None = None
    # (service, port) where a service listens elsewhere than its registry port.
    ports: tuple[tuple[str, int], ...] = ()

    @property
    def python(self) -> str:
        return f"{self.app_root}/.venv/bin/python"

    @property
    def nginx_log_dir(self) -> str:
        return f"{self.log_dir}/nginx"

    def port(self, service: str) -> int:
        return dict(self.ports).get(service, SERVICES[service].port)

    def metrics_path(self, program: str) -> str:
        return f"{self.metrics_dir}/{program}"


# --- Supervisor


def _supervisor_value(value: str) -> str:
    # Supervisor expands %(name)s in commands and environments: a literal % must be doubled.
    return value.replace("%", "%%")


def _program(name: str, command: str, layout: Layout, environment: dict[str, str], stopwait: int, **extra) -> str:
    env = ",".join(f'{k}="{_supervisor_value(v)}"' for k, v in environment.items())
    lines = [
        f"[program:{name}]",
        f"command={_supervisor_value(command)}",
        f"directory={layout.app_root}",
        f"environment={env}",
        f"user={layout.user}",
        "autostart=true",
        "autorestart=true",
        "startsecs=5",
        "startretries=5",
        f"stopsignal={extra.pop('stopsignal', 'TERM')}",
        f"stopwaitsecs={stopwait}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={layout.log_dir}/{name}.log",
        # Rotation is logrotate's (deploy/logrotate/), which tells supervisord to reopen.
        "stdout_logfile_maxbytes=0",
        "stdout_logfile_backups=0",
    ]
    return "\n".join(lines) + "\n"


def web_program(service: str) -> str:
    return f"wedraw-{service}"


def render_supervisor(layout: Layout = Layout()) -> str:
    # The env file holds secrets; programs read it through WEDRAW_ENV_FILE, not the command line.
    base_env = {"WEDRAW_PROFILE": "production", "WEDRAW_ENV_FILE": layout.env_file, "WEDRAW_PROXY_COUNT": "1"}
    workers = worker_programs()
    blocks = [f"; {GENERATED}"]
    web = []
    for name in WEB_SERVICES:
        program = web_program(name)
        web.append(program)
        command = (
            f"{layout.app_root}/.venv/bin/gunicorn --config {layout.app_root}/deploy/gunicorn.conf.py "
            f"--bind {layout.upstream_host}:{layout.port(name)} --name {program} wsgi:app"
        )
        env = {**base_env, "WEDRAW_SERVICE": name, "PROMETHEUS_MULTIPROC_DIR": layout.metrics_path(program)}
        worker_dirs = [layout.metrics_path(f"wedraw-{w.name}") for w in workers if w.service == name]
        if worker_dirs:
            # The service's /metrics adds up its workers' task counts too.
            env["WEDRAW_METRICS_EXTRA_DIRS"] = ",".join(worker_dirs)
        if layout.gunicorn_workers:
            env["WEDRAW_GUNICORN_WORKERS"] = str(layout.gunicorn_workers)
        blocks.append(_program(program, command, layout, env, 35))
    worker_names = []
    for worker in workers:
        program = f"wedraw-{worker.name}"
        worker_names.append(program)
        # --include: the task metrics' signal handlers are connected before the first task.
        command = " ".join([*worker.argv(layout.python), "--include", "wedraw.core.metrics"])
        env = {**base_env, "WEDRAW_SERVICE": worker.service, "PROMETHEUS_MULTIPROC_DIR": layout.metrics_path(program)}
        blocks.append(_program(program, command, layout, env, 600))
    beat = "wedraw-beat"
    command = f"{layout.python} -m celery -A workers.beat beat --scheduler wedraw.core.metrics:HeartbeatScheduler"
    blocks.append(_program(beat, f"{command} --loglevel INFO", layout, base_env, 30))
    blocks.append(f"[group:wedraw-web]\nprograms={','.join(web)}\n")
    blocks.append(f"[group:wedraw-workers]\nprograms={','.join([*worker_names, beat])}\n")
    return "\n".join(blocks)


# --- Nginx


def _upstreams(layout: Layout) -> str:
    hosts = (layout.upstream_host, *layout.more_upstream_hosts)
    blocks = []
    for name in WEB_SERVICES:
        servers = "".join(f"    server {h}:{layout.port(name)} max_fails=3 fail_timeout=10s;\n" for h in hosts)
        blocks.append(f"upstream wedraw_{name} {{\n{servers}    keepalive 16;\n}}")
    return "\n".join(blocks)


def _http_context(layout: Layout) -> str:
    return f"""limit_req_zone $binary_remote_addr zone=wedraw_api:10m rate={layout.api_rate};
limit_req_status 429;

map $http_x_request_id $wedraw_request_id {{
    default $http_x_request_id;
    ""      $request_id;
}}

log_format wedraw_json escape=json '{{"ts":"$time_iso8601","ip":"$remote_addr","method":"$request_method",'
    '"uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,"ms":"$request_time",'
    '"upstream":"$upstream_addr","upstream_s":"$upstream_response_time","request_id":"$wedraw_request_id",'
    '"ua":"$http_user_agent"}}';

{_upstreams(layout)}
"""


def _spa(mount: str, directory: str, extra_headers: str) -> str:
    """A built single-page app at `mount`: hashed assets cached for a year, index.html otherwise.

    The fallback is an internal redirect to an exact location that serves index.html (or
    404 while the app is not built), never a file test: try_files' file tests do not
    follow `alias`, and a redirect back into the same location would loop.
    """
    return f"""    location = {mount.rstrip("/")} {{
        return 301 {mount};
    }}
    location = {mount}index.html {{
        alias {directory}/index.html;
        add_header Cache-Control "no-cache";{extra_headers}
    }}
    location {mount} {{
        alias {directory}/;
        add_header Cache-Control "no-cache";{extra_headers}
        try_files $uri {mount}index.html;
        location {mount}assets/ {{
            add_header Cache-Control "public, max-age=31536000, immutable";{extra_headers}
            try_files $uri =404;
        }}
    }}"""


_RATE_LIMITED_JSON = '{"code": "rate_limited", "message": "Too many requests.", "request_id": "$wedraw_request_id"}'
_UNAVAILABLE_JSON = (
    '{"code": "service_unavailable", "message": "Service unavailable, retry shortly.", '
    '"request_id": "$wedraw_request_id"}'
)


def _server_body(layout: Layout, extra_headers: str = "") -> str:
    from wedraw.frontdoor import H5_APPS

    locations = []
    for prefix in callback_prefixes():
        owner = next(n for n in WEB_SERVICES if any(prefix.startswith(p) for p in SERVICES[n].prefixes))
        locations.append(
            f"    # WeChat calls back from few IPs at volume: no per-IP limit; verified by signature.\n"
            f"    location {prefix} {{\n        client_max_body_size 64k;\n"
            f"        proxy_pass http://wedraw_{owner};\n    }}"
        )
    for name in WEB_SERVICES:
        for prefix in SERVICES[name].prefixes:
            limited = prefix.startswith("/api/")
            body = f"        limit_req zone=wedraw_api burst={layout.api_burst} nodelay;\n" if limited else ""
            locations.append(f"    location {prefix} {{\n{body}        proxy_pass http://wedraw_{name};\n    }}")
    allow = "".join(f"        allow {address};\n" for address in layout.metrics_allow)
    metrics = [
        f"    location = /metrics/{name} {{\n{allow}        deny all;\n"
        f"        proxy_pass http://wedraw_{name}/metrics;\n    }}"
        for name in WEB_SERVICES
    ]
    h5 = [
        _spa(mount, f"{layout.app_root}/{root.relative_to(PROJECT_ROOT)}", extra_headers)
        for mount, root in H5_APPS.items()
    ]
    nl = "\n"
    return f"""    server_tokens off;
    absolute_redirect off;
    access_log {layout.nginx_log_dir}/access.log wedraw_json;
    error_log {layout.nginx_log_dir}/error.log warn;

    client_max_body_size 1m;
    gzip on;
    gzip_vary on;
    gzip_min_length 1024;
    gzip_types application/json application/javascript text/css text/plain image/svg+xml;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Request-ID $wedraw_request_id;
    proxy_read_timeout 60s;

    # Errors Nginx makes itself answer in the API's JSON format.
    error_page 429 = @wedraw_rate_limited;
    error_page 502 503 504 = @wedraw_unavailable;
    location @wedraw_rate_limited {{
        default_type application/json;
        add_header Retry-After 60 always;
        add_header X-Request-ID $wedraw_request_id always;
        return 429 '{_RATE_LIMITED_JSON}';
    }}
    location @wedraw_unavailable {{
        default_type application/json;
        add_header Retry-After 5 always;
        add_header X-Request-ID $wedraw_request_id always;
        return 503 '{_UNAVAILABLE_JSON}';
    }}

{nl.join(locations)}

    location /api/ {{
        default_type application/json;
        return 404 '{{"code": "not_found", "message": "Not found.", "request_id": "$wedraw_request_id"}}';
    }}

    # Prometheus reads each service here (or on the service's own port); nobody else may.
{nl.join(metrics)}
    location /metrics {{
        deny all;
    }}

    # The H5 apps, each a single-page app of its own.
{nl.join(h5)}

    # The admin console: hashed assets cached for a year, everything else falls back to the SPA.
    root {layout.app_root}/frontend/admin/dist;
    location /assets/ {{
        add_header Cache-Control "public, max-age=31536000, immutable";{extra_headers}
        try_files $uri =404;
    }}
    location / {{
        add_header Cache-Control "no-cache";{extra_headers}
        try_files $uri /index.html =404;
    }}
"""


def render_nginx(layout: Layout = Layout()) -> str:
    return f"""# {GENERATED}
# Plain HTTP (behind a TLS terminator, or for a trial). For HTTPS use wedraw-https.conf
# instead of this file, never both: each declares the same zone, map and upstreams.
{_http_context(layout)}
server {{
    listen {layout.listen};
    server_name {layout.server_name};

{_server_body(layout)}}}
"""


# Mozilla's "intermediate" profile: TLS 1.3 and 1.2 with AEAD ciphers only. "Modern" (1.3 only)
# would shut out the older Android WebViews that WeChat's in-app browser still runs on.
_TLS_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
_HSTS = '\n        add_header Strict-Transport-Security "max-age=63072000" always;'


def render_nginx_https(layout: Layout = Layout()) -> str:
    return f"""# {GENERATED}
# HTTPS with HTTP redirected to it. Use this file instead of wedraw.conf, never both.
# Put the certificate chain and key where ssl_certificate(_key) say (e.g. from certbot:
# `certbot certonly --webroot -w /var/www/letsencrypt -d <name>`), set server_name with
# `deploy render --server-name`, then `nginx -t && systemctl reload nginx`.
{_http_context(layout)}
server {{
    listen {layout.listen};
    server_name {layout.server_name};
    server_tokens off;

    location /.well-known/acme-challenge/ {{
        root /var/www/letsencrypt;
    }}
    location / {{
        return 301 https://$host$request_uri;
    }}
}}

server {{
    listen {layout.https_listen} ssl http2;
    server_name {layout.server_name};

    ssl_certificate {layout.tls_certificate};
    ssl_certificate_key {layout.tls_certificate_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {_TLS_CIPHERS};
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:wedraw_tls:10m;
    ssl_session_tickets off;
    # Sent from every location that sets headers of its own (add_header is not inherited then).
    add_header Strict-Transport-Security "max-age=63072000" always;

{_server_body(layout, extra_headers=_HSTS)}}}
"""


# --- logrotate, Prometheus, cron


def render_logrotate(layout: Layout = Layout()) -> str:
    return f"""# {GENERATED}
#
# Why not copytruncate: it copies a log and then empties it, and whatever a program writes
# between the two is lost. Instead each log is renamed and its writer told to reopen:
# - Supervisor writes every program's output itself (stdout_logfile), so one signal to
#   supervisord, SIGUSR2, makes it reopen all of them; the programs never notice.
# - Nginx reopens its logs on SIGUSR1.
# A line written between the rename and the reopen lands in the renamed file, which
# delaycompress leaves uncompressed until the next rotation, so no line is lost.
{layout.log_dir}/*.log {{
    daily
    rotate 30
    maxage 30
    missingok
    notifempty
    compress
    delaycompress
    dateext
    dateformat -%Y%m%d-%s
    create 0640 {layout.log_owner}
    sharedscripts
    postrotate
        [ ! -s {layout.supervisor_pidfile} ] || kill -USR2 "$(cat {layout.supervisor_pidfile})"
    endscript
}}

{layout.nginx_log_dir}/*.log {{
    daily
    rotate 30
    maxage 30
    missingok
    notifempty
    compress
    delaycompress
    dateext
    dateformat -%Y%m%d-%s
    create 0640 {layout.log_owner}
    sharedscripts
    postrotate
        [ ! -s {layout.nginx_pidfile} ] || kill -USR1 "$(cat {layout.nginx_pidfile})"
    endscript
}}
"""


def render_prometheus(layout: Layout = Layout()) -> str:
    """Prometheus scrape jobs, one per service; paste under `scrape_configs:`."""
    hosts = (layout.upstream_host, *layout.more_upstream_hosts)
    jobs = []
    for name in WEB_SERVICES:
        targets = ", ".join(f'"{h}:{layout.port(name)}"' for h in hosts)
        jobs.append(
            f"  - job_name: wedraw-{name}\n"
            f"    metrics_path: /metrics\n"
            f"    static_configs:\n"
            f"      - targets: [{targets}]\n"
            f"        labels:\n"
            f"          wedraw_service: {name}"
        )
    return f"""# {GENERATED}
# Each service's /metrics on its own port (bound to {layout.upstream_host}: run Prometheus on
# this host, or scrape through Nginx at /metrics/<service> from an address in its allow list).
scrape_configs:
{chr(10).join(jobs)}

rule_files:
  - /etc/prometheus/wedraw-alerts.yml
"""


def render_cron(layout: Layout = Layout()) -> str:
    return f"""# {GENERATED}
# Install as /etc/cron.d/wedraw-backup. Daily dumps of every service database, 30 days kept.
SHELL=/bin/bash
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WEDRAW_ENV_FILE={layout.env_file}

17 2 * * * root {layout.app_root}/scripts/backup-db.sh -o {layout.backup_dir} -k 30 >> {layout.log_dir}/backup.log 2>&1
"""


def render_all(out: Path = DEPLOY_DIR, layout: Layout = Layout()) -> list[Path]:
    files = {
        out / "supervisor" / "wedraw.conf": render_supervisor(layout),
        out / "nginx" / "wedraw.conf": render_nginx(layout),
        out / "nginx" / "wedraw-https.conf": render_nginx_https(layout),
        out / "logrotate" / "wedraw": render_logrotate(layout),
        out / "prometheus" / "wedraw-scrape.yml": render_prometheus(layout),
        out / "cron" / "wedraw-backup": render_cron(layout),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


# --- Database provisioning

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ACCOUNT_HOST = re.compile(r"^[A-Za-z0-9.%_:-]{1,255}$")
# What a service's migrations and queries need on its own database, and nothing else:
# no GRANT OPTION, no global privilege, no other database.
SERVICE_GRANTS = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, "
    "CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW"
)
# What `mysqldump --single-transaction --routines --triggers --events` needs, read only.
BACKUP_GRANTS = "SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT"
BACKUP_KEY = "__backup__"


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _grant_target(database: str) -> str:
    # In GRANT, _ and % in a database name are wildcards: escape them so the grant is for
    # this one database, not every name the pattern happens to match.
    return "`" + database.replace("_", "\\_").replace("%", "\\%") + "`.*"


@dataclass(frozen=True)
class ProvisionPlan:
    """Each service's database and account names, from the registry and two prefixes."""

    database_prefix: str = ""
    account_prefix: str = "wedraw_"
    account_host: str = "127.0.0.1"
    backup_account: str | None = None
    services: tuple[str, ...] = DATABASE_SERVICES

    def __post_init__(self):
        for service in self.services:
            if service not in DATABASE_SERVICES:
                raise ValueError(f"{service!r} has no database; services with one: {', '.join(DATABASE_SERVICES)}")
            for name in (self.database(service), self.account(service)):
                if not _IDENTIFIER.match(name):
                    raise ValueError(f"{name!r} is not a safe database or account name (letters, digits, _)")
        if self.backup_account is not None and not _IDENTIFIER.match(self.backup_account):
            raise ValueError(f"{self.backup_account!r} is not a safe account name")
        if not _ACCOUNT_HOST.match(self.account_host):
            raise ValueError(f"{self.account_host!r} is not an account host (an address, name or pattern)")
        if len({self.account(s) for s in self.services}) != len(self.services):
            raise ValueError("two services would share an account")

    def database(self, service: str) -> str:
        return self.database_prefix + SERVICES[service].database

    def account(self, service: str) -> str:
        return self.account_prefix + service

    def _who(self, account: str) -> str:
        return f"{_sql_string(account)}@{_sql_string(self.account_host)}"

    def new_passwords(self, known: dict[str, str] | None = None) -> dict[str, str]:
        """A password per account: the known ones kept, the others made (URL- and SQL-safe)."""
        keys = [*self.services, *([BACKUP_KEY] if self.backup_account else [])]
        known = known or {}
        return {key: known.get(key) or secrets.token_urlsafe(24) for key in keys}

    def statements(self, passwords: dict[str, str]) -> list[str]:
        sql = []
        for service in self.services:
            database, who = self.database(service), self._who(self.account(service))
            sql += [
                f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY {_sql_string(passwords[service])}",
                # Re-running keeps account and password in step with the env file.
                f"ALTER USER {who} IDENTIFIED BY {_sql_string(passwords[service])}",
                f"GRANT {SERVICE_GRANTS} ON {_grant_target(database)} TO {who}",
            ]
        if self.backup_account:
            who = self._who(self.backup_account)
            sql += [
                f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY {_sql_string(passwords[BACKUP_KEY])}",
                f"ALTER USER {who} IDENTIFIED BY {_sql_string(passwords[BACKUP_KEY])}",
            ]
            sql += [f"GRANT {BACKUP_GRANTS} ON {_grant_target(self.database(s))} TO {who}" for s in self.services]
        return sql

    def drop_statements(self) -> list[str]:
        sql = []
        for service in self.services:
            sql.append(f"DROP DATABASE IF EXISTS `{self.database(service)}`")
            sql.append(f"DROP USER IF EXISTS {self._who(self.account(service))}")
        if self.backup_account:
            sql.append(f"DROP USER IF EXISTS {self._who(self.backup_account)}")
        return sql

    def env(self, passwords: dict[str, str], host: str = "127.0.0.1", port: int = 3306) -> dict[str, str]:
        """WEDRAW_<SERVICE>_DATABASE_URL for each service, as the env file holds them."""
        return {
            f"WEDRAW_{service.upper()}_DATABASE_URL": (
                f"mysql+pymysql://{self.account(service)}:{passwords[service]}@{host}:{port}/"
                f"{self.database(service)}?charset=utf8mb4"
            )
            for service in self.services
        }

    def known_passwords(self, env: dict[str, str]) -> dict[str, str]:
        """Passwords of this plan's accounts found in an env file's database URLs."""
        from sqlalchemy.engine import make_url

        found = {}
        for service in self.services:
            raw = env.get(f"WEDRAW_{service.upper()}_DATABASE_URL")
            if raw:
                url = make_url(raw)
                if url.username == self.account(service) and url.password:
                    found[service] = url.password
        if self.backup_account and env.get("WEDRAW_BACKUP_DB_PASSWORD"):
            found[BACKUP_KEY] = env["WEDRAW_BACKUP_DB_PASSWORD"]
        return found


def run_sql(admin_url: str, statements: Iterable[str]) -> None:
    """Run statements as the database administrator (a SQLAlchemy URL, no database needed)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(admin_url).set(database=None), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def write_env_file(path: Path, values: dict[str, str], header: str = "") -> None:
    """Set `values` in an env file, keeping its other lines, its mode and its owner; a new
    file is readable by its owner only."""
    lines = path.read_text().splitlines() if path.is_file() else [f"# {header}"] if header else []
    pending = dict(values)
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if key in pending and not line.lstrip().startswith("#"):
            lines[i] = f"{key}={pending.pop(key)}"
    lines += [f"{k}={v}" for k, v in pending.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    if not existed:
        path.chmod(0o600)


# --- A production layout on this machine (make prod-up / make prod-down)

LOCAL_ROOT = PROJECT_ROOT / "var" / "prod"
DEFAULT_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
SANDBOX_MAIN = PROJECT_ROOT / "wedraw" / "sandbox" / "__main__.py"


class LayoutError(SystemExit):
    """The local layout could not be brought up (the message says why and what to do)."""


def _pinned(package: str) -> str:
    for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines():
        if line.lower().startswith(package.lower() + "=="):
            return line.strip()
    return package


def _venv_bin(name: str) -> Path:
    return Path(sys.executable).with_name(name)


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def ensure_nginx(echo: Callable[[str], None] = print) -> str:
    """Nginx's binary, installing Debian's package first when it is missing (as root)."""
    found = find_nginx()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise LayoutError("nginx is not installed: run `sudo apt-get install nginx` (or make prod-up as root)")
    echo("installing nginx (Debian package)...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # The package must not start a system nginx of its own: this layout runs its own, and
    # prod-down must leave nothing running. A policy-rc.d saying 101 forbids the start.
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\n# written by WeDraw's prod-up while installing nginx\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"], check=True, env=env)
    except subprocess.CalledProcessError as exc:
        raise LayoutError(f"installing nginx failed ({exc}); install it with `apt-get install nginx`") from None
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    found = find_nginx()
    if not found:
        raise LayoutError("nginx did not install")
    return found


def ensure_supervisor(echo: Callable[[str], None] = print) -> Path:
    """supervisord in this virtualenv, installed from PyPI (the pinned version) when missing."""
    supervisord = _venv_bin("supervisord")
    if not supervisord.exists():
        echo("installing supervisor into the virtualenv...")
        try:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _pinned("supervisor")], check=True)
        except subprocess.CalledProcessError as exc:
            raise LayoutError(f"installing supervisor failed ({exc})") from None
    if not supervisord.exists():
        raise LayoutError("supervisor did not install")
    return supervisord


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


@dataclass
class LocalStack:
    """A production layout under `root` on this machine; `state.json` remembers it."""

    root: Path
    nginx_port: int
    ports: dict[str, int]
    admin_url: str
    redis_url: str
    database_prefix: str
    account_prefix: str
    admin_password: str
    sandbox: bool = False
    gunicorn_workers: int = 2
    programs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def env_file(self) -> Path:
        return self.path("etc", "wedraw.env")

    @property
    def supervisor_conf(self) -> Path:
        return self.path("etc", "supervisord.conf")

    @property
    def plan(self) -> ProvisionPlan:
        return ProvisionPlan(database_prefix=self.database_prefix, account_prefix=self.account_prefix)

    def layout(self, **overrides) -> Layout:
        user = getpass.getuser()
        service_ports = tuple((n, p) for n, p in self.ports.items() if n in WEB_SERVICES)
        return Layout(
            app_root=str(PROJECT_ROOT),
            user=user,
            log_dir=str(self.path("log")),
            env_file=str(self.env_file),
            listen=f"127.0.0.1:{self.nginx_port}",
            metrics_dir=str(self.path("metrics")),
            supervisor_pidfile=str(self.path("run", "supervisord.pid")),
            nginx_pidfile=str(self.path("run", "nginx.pid")),
            backup_dir=str(self.path("backups")),
            log_owner=f"{user} {grp.getgrgid(os.getgid()).gr_name}",
            gunicorn_workers=self.gunicorn_workers,
            ports=service_ports,
            **overrides,
        )

    def supervisorctl(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(_venv_bin("supervisorctl")), "-c", str(self.supervisor_conf), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def supervisord_pid(self) -> int | None:
        try:
            pid = int(self.path("run", "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def status(self) -> dict[str, str]:
        """Program name -> Supervisor state (RUNNING, STARTING, BACKOFF, FATAL, ...)."""
        result = self.supervisorctl("status")
        states = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("wedraw-"):
                states[parts[0].split(":")[-1]] = parts[1]
        return states

    def save(self) -> None:
        data = asdict(self)
        data["root"] = str(self.root)
        data.pop("admin_password")  # the env file keeps secrets; state.json is not secret
        self.path("state.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> LocalStack | None:
        try:
            data = json.loads((root / "state.json").read_text())
        except (OSError, ValueError):
            return None
        data["root"] = Path(data["root"])
        env = read_env_file(Path(data["root"]) / "etc" / "wedraw.env")
        return cls(admin_password=env.get("WEDRAW_ADMIN_PASSWORD", ""), **data)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not running: it only waits for its parent to reap it.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _local_programs(stack: LocalStack, nginx: str) -> str:
    """Programs only the local trial runs under its supervisord: Nginx and the WeChat sandbox."""
    layout = stack.layout()
    env = {"WEDRAW_PROFILE": "production", "WEDRAW_ENV_FILE": str(stack.env_file)}
    blocks = [
        "; The local trial's own programs (make prod-up); a real install runs Nginx as a system service.",
        _program(
            "wedraw-nginx",
            f"{nginx} -p {stack.path('nginx')}/ -c {stack.path('etc', 'nginx', 'nginx.conf')} "
            f"-e {stack.path('log', 'nginx', 'error.log')}",
            layout,
            env,
            30,
            stopsignal="QUIT",
        ),
    ]
    if stack.sandbox:
        command = (
            f"{layout.python} -m wedraw.sandbox --official-port {stack.ports['sandbox']} "
            f"--wecom-port {stack.ports['sandbox_wecom']} --callback-base {stack.url}"
        )
        blocks.append(_program("wedraw-sandbox", command, layout, env, 15))
    return "\n".join(blocks)


def _supervisord_conf(stack: LocalStack) -> str:
    run, log, etc = stack.path("run"), stack.path("log"), stack.path("etc", "supervisor")
    return f"""; The local trial's supervisord (make prod-up). A real install uses Debian's supervisor
; package and puts deploy/supervisor/wedraw.conf in /etc/supervisor/conf.d/.
[unix_http_server]
file={run}/supervisor.sock
chmod=0700

[supervisord]
logfile={log}/supervisord.log
logfile_maxbytes=0
pidfile={run}/supervisord.pid
childlogdir={log}
identifier=wedraw-local

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{run}/supervisor.sock

[include]
files = {etc}/wedraw.conf {etc}/local.conf
"""


def _nginx_conf(stack: LocalStack) -> str:
    prefix = stack.path("nginx")
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").is_file() else ""
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/temp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# The local trial's nginx.conf (make prod-up); a real install includes the site file from
# /etc/nginx/sites-enabled/ in Debian's own nginx.conf.
{user}daemon off;
worker_processes auto;
pid {stack.path("run", "nginx.pid")};
error_log {stack.path("log", "nginx", "error.log")} warn;

events {{
    worker_connections 1024;
}}

http {{
    {mime}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
{temp}
    include {stack.path("etc", "nginx", "wedraw.conf")};
}}
"""


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment our children start from: no WEDRAW_* of the caller's shell leaks in."""
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


def _run_python(stack: LocalStack, what: str, *args: str) -> None:
    """Run `python *args` with the layout's settings (a step such as migrations)."""
    env = _clean_env({"WEDRAW_ENV_FILE": str(stack.env_file), "WEDRAW_PROFILE": "production"})
    result = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise LayoutError(f"{what} failed:\n{result.stdout}{result.stderr}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _health(url: str, timeout: float = 3.0) -> tuple[int, dict]:
    import requests

    try:
        response = requests.get(f"{url}/health", timeout=timeout)
        return response.status_code, response.json()
    except (requests.RequestException, ValueError):
        return 0, {}


def wait_ready(stack: LocalStack, timeout: float = 150.0) -> None:
    """Until every program is RUNNING and /health through Nginx says every service is ok."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    body: dict = {}
    while time.monotonic() < deadline:
        states = stack.status()
        failed = {n: s for n, s in states.items() if s in ("FATAL", "EXITED", "STOPPED")}
        if failed:
            raise LayoutError(_diagnose(stack, failed))
        if states and set(states) >= set(stack.programs) and all(s == "RUNNING" for s in states.values()):
            status, body = _health(stack.url)
            if status == 200 and body.get("status") == "ok":
                return
        time.sleep(0.5)
    waiting = {n: s for n, s in states.items() if s != "RUNNING"} or {"(health)": json.dumps(body) or "no answer"}
    raise LayoutError("the layout did not come up in time:\n" + _diagnose(stack, waiting))


def _diagnose(stack: LocalStack, problems: dict[str, str]) -> str:
    parts = []
    for program, state in problems.items():
        log = stack.path("log", f"{program}.log")
        parts.append(f"{program}: {state}\n  last lines of {log}:\n{_tail(log)}")
    parts.append(f"supervisord: {_tail(stack.path('log', 'supervisord.log'), 8)}")
    return "\n".join(parts)


def local_up(
    root: Path = LOCAL_ROOT,
    nginx_port: int | None = None,
    free_ports: bool = False,
    admin_url: str = DEFAULT_ADMIN_URL,
    redis_url: str = DEFAULT_REDIS_URL,
    database_prefix: str = "wedraw_prod_",
    account_prefix: str = "wedraw_prod_",
    gunicorn_workers: int = 2,
    api_rate: str = "60r/m",
    api_burst: int = 59,
    app_rate_limit: str = "60/minute",
    timeout: float = 150.0,
    echo: Callable[[str], None] = print,
) -> LocalStack:
    """Bring the production layout up under `root`; raise LayoutError (after cleaning up) if it fails."""
    from sqlalchemy.engine import make_url

    root = Path(root).resolve()
    running = LocalStack.load(root)
    if running is not None and running.supervisord_pid():
        echo(f"already running: {running.url}/ (make prod-down stops it)")
        return running

    nginx = ensure_nginx(echo)
    supervisord = ensure_supervisor(echo)

    sandbox = SANDBOX_MAIN.is_file()
    names = [*WEB_SERVICES, *(["sandbox", "sandbox_wecom"] if sandbox else [])]
    if free_ports:
        picked = _free_ports(len(names) + (0 if nginx_port else 1))
        ports = dict(zip(names, picked, strict=False))
        nginx_port = nginx_port or picked[-1]
    else:
        nginx_port = nginx_port or int(os.environ.get("WEDRAW_NGINX_PORT", "8000"))
        ports = {n: SERVICES[n].port for n in WEB_SERVICES}
        if sandbox:
            ports.update(sandbox=SERVICES["sandbox"].port, sandbox_wecom=SERVICES["sandbox"].extra_ports[0])
    busy = sorted(p for p in [nginx_port, *ports.values()] if not _port_free(p))
    if busy:
        raise LayoutError(
            f"ports in use: {', '.join(map(str, busy))} (is `make run` running?). Stop what uses them, "
            "set WEDRAW_NGINX_PORT, or run `python -m wedraw.cli deploy up --free-ports`."
        )

    for sub in ("etc/nginx", "etc/supervisor", "log/nginx", "run", "metrics", "var", "nginx/temp", "backups"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    env_file = root / "etc" / "wedraw.env"
    previous = read_env_file(env_file)
    admin_password = previous.get("WEDRAW_ADMIN_PASSWORD") or secrets.token_urlsafe(12) + "7a"
    stack = LocalStack(
        root=root,
        nginx_port=nginx_port,
        ports=ports,
        admin_url=admin_url,
        redis_url=redis_url,
        database_prefix=database_prefix,
        account_prefix=account_prefix,
        admin_password=admin_password,
        sandbox=sandbox,
        gunicorn_workers=gunicorn_workers,
    )

    echo(f"provisioning MariaDB databases {database_prefix}<service>_db ...")
    server = make_url(admin_url)
    plan = stack.plan
    passwords = plan.new_passwords(plan.known_passwords(previous))
    run_sql(admin_url, plan.statements(passwords))
    values = {
        "WEDRAW_PROFILE": "production",
        "WEDRAW_JWT_SECRET": previous.get("WEDRAW_JWT_SECRET") or secrets.token_urlsafe(48),
        "WEDRAW_DATA_KEY": previous.get("WEDRAW_DATA_KEY") or secrets.token_urlsafe(48),
        "WEDRAW_ADMIN_PASSWORD": admin_password,
        "WEDRAW_REDIS_URL": redis_url,
        "WEDRAW_VAR_DIR": str(root / "var"),
        "WEDRAW_LOG_DIR": str(root / "log"),
        "WEDRAW_PROXY_COUNT": "1",
        "WEDRAW_RATE_LIMIT": app_rate_limit,
        **plan.env(passwords, server.host or "127.0.0.1", server.port or 3306),
        **{f"WEDRAW_{n.upper()}_URL": f"http://127.0.0.1:{ports[n]}" for n in WEB_SERVICES},
    }
    if sandbox:
        values.update(
            WEDRAW_SANDBOX_URL=f"http://127.0.0.1:{ports['sandbox']}",
            WEDRAW_WECHAT_API_BASE=f"http://127.0.0.1:{ports['sandbox']}",
            WEDRAW_WECOM_API_BASE=f"http://127.0.0.1:{ports['sandbox_wecom']}",
        )
    write_env_file(env_file, values, header="The local production trial (make prod-up). Secrets: keep private.")

    echo("migrating every service database and seeding ...")
    _run_python(stack, "migrations", "-m", "wedraw.cli", "db", "upgrade")
    _run_python(stack, "seeding", "-c", "from wedraw.seed import seed_all; seed_all()")

    layout = stack.layout(api_rate=api_rate, api_burst=api_burst)
    programs_conf = render_supervisor(layout)
    local_conf = _local_programs(stack, nginx)
    stack.programs = re.findall(r"^\[program:([\w-]+)\]", programs_conf + local_conf, re.M)
    (root / "etc" / "supervisor" / "wedraw.conf").write_text(programs_conf)
    (root / "etc" / "supervisor" / "local.conf").write_text(local_conf)
    stack.supervisor_conf.write_text(_supervisord_conf(stack))
    (root / "etc" / "nginx" / "wedraw.conf").write_text(render_nginx(layout))
    (root / "etc" / "nginx" / "nginx.conf").write_text(_nginx_conf(stack))
    (root / "etc" / "logrotate.conf").write_text(render_logrotate(layout))
    check = subprocess.run(
        [nginx, "-t", "-q", "-p", f"{root / 'nginx'}/", "-c", str(root / "etc" / "nginx" / "nginx.conf"),
         "-e", str(root / "log" / "nginx" / "error.log")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if check.returncode != 0:
        raise LayoutError(f"nginx rejected the rendered configuration:\n{check.stderr}")
    stack.save()

    echo(f"starting supervisord: {len(stack.programs)} programs ...")
    started = subprocess.run(
        [str(supervisord), "-c", str(stack.supervisor_conf)], env=_clean_env(), capture_output=True, text=True
    )
    if started.returncode != 0:
        raise LayoutError(f"supervisord did not start:\n{started.stdout}{started.stderr}")
    try:
        wait_ready(stack, timeout)
    except BaseException:
        local_down(root, echo=lambda _m: None)
        raise
    return stack


def banner(stack: LocalStack) -> str:
    ctl = f".venv/bin/supervisorctl -c {stack.supervisor_conf}"
    return "\n".join(
        [
            "",
            "WeDraw is running (production layout: Nginx, Supervisor, gunicorn, Celery, MariaDB, Redis)",
            f"  Console   {stack.url}/",
            f"  API docs  {stack.url}/docs",
            f"  Health    {stack.url}/health",
            f"  Metrics   {stack.url}/metrics/<service> (from 127.0.0.1 only)",
            f"  Login     admin / {stack.admin_password}",
            f"  Programs  {ctl} status",
            f"  Logs      {stack.path('log')}",
            "  Stop      make prod-down",
            "",
        ]
    )


def _leftovers(root: Path) -> list[int]:
    """Processes this layout started that are still alive (found by their env file or config paths)."""
    marker = f"WEDRAW_ENV_FILE={root / 'etc' / 'wedraw.env'}".encode()
    needle = str(root).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if (marker in environ.split(b"\0") or needle + b"/" in cmdline) and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def local_down(root: Path = LOCAL_ROOT, purge: bool = False, echo: Callable[[str], None] = print) -> bool:
    """Stop everything the layout under `root` runs; with `purge`, drop its databases and files too."""
    root = Path(root).resolve()
    stack = LocalStack.load(root)
    if stack is None:
        echo(f"no production layout under {root}")
        return False
    pid = stack.supervisord_pid()
    if pid:
        echo("stopping supervisord and every program ...")
        stack.supervisorctl("shutdown", timeout=180)
        deadline = time.monotonic() + 120
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    stragglers = _leftovers(root)
    if stragglers:
        echo(f"ending {len(stragglers)} leftover process(es) ...")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in stragglers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, sig)
            deadline = time.monotonic() + 10
            while any(_alive(p) for p in stragglers) and time.monotonic() < deadline:
                time.sleep(0.2)
            stragglers = [p for p in stragglers if _alive(p)]
            if not stragglers:
                break
    if purge:
        echo("dropping the layout's databases and accounts ...")
        with contextlib.suppress(Exception):
            run_sql(stack.admin_url, stack.plan.drop_statements())
        shutil.rmtree(root, ignore_errors=True)
    echo("stopped: nothing of the production layout is running")
    return True
