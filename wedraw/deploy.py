"""Renders the bare-metal layout's Supervisor and Nginx configuration from the registry.

`python -m wedraw.cli deploy render` writes them; the copies committed under deploy/ are
the defaults, and a test proves they equal a fresh render, so they cannot drift from
the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wedraw.core.registry import SERVICES, WEB_SERVICES, callback_prefixes
from workers.programs import worker_programs

DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy"


@dataclass(frozen=True)
class Layout:
    app_root: str = "/opt/wedraw"
    user: str = "wedraw"
    log_dir: str = "/var/log/wedraw"
    env_file: str = "/etc/wedraw/wedraw.env"
    server_name: str = "_"
    listen: str = "80"
    upstream_host: str = "127.0.0.1"

    @property
    def python(self) -> str:
        return f"{self.app_root}/.venv/bin/python"


def _program(name: str, command: str, layout: Layout, environment: dict[str, str], stopwait: int) -> str:
    env = ",".join(f'{k}="{v}"' for k, v in environment.items())
    return f"""[program:{name}]
command={command}
directory={layout.app_root}
environment={env}
user={layout.user}
autostart=true
autorestart=true
startsecs=5
startretries=5
stopsignal=TERM
stopwaitsecs={stopwait}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={layout.log_dir}/{name}.log
stdout_logfile_maxbytes=0
"""


def render_supervisor(layout: Layout = Layout()) -> str:
    # The env file holds secrets; programs read it through WEDRAW_ENV_FILE, not the command line.
    base_env = {"WEDRAW_PROFILE": "production", "WEDRAW_ENV_FILE": layout.env_file, "WEDRAW_PROXY_COUNT": "1"}
    blocks = ["; Generated from wedraw/core/registry.py by `python -m wedraw.cli deploy render`. Do not edit."]
    web = []
    for name in WEB_SERVICES:
        spec = SERVICES[name]
        program = f"wedraw-{name}"
        web.append(program)
        command = (
            f"{layout.app_root}/.venv/bin/gunicorn --config {layout.app_root}/deploy/gunicorn.conf.py "
            f"--bind {layout.upstream_host}:{spec.port} --name {program} wsgi:app"
        )
        blocks.append(_program(program, command, layout, {**base_env, "WEDRAW_SERVICE": name}, 35))
    workers = []
    for worker in worker_programs():
        program = f"wedraw-{worker.name}"
        workers.append(program)
        command = " ".join(worker.argv(layout.python))
        blocks.append(_program(program, command, layout, {**base_env, "WEDRAW_SERVICE": worker.service}, 600))
    beat = "wedraw-beat"
    blocks.append(
        _program(beat, f"{layout.python} -m celery -A workers.beat beat --loglevel INFO", layout, base_env, 30)
    )
    blocks.append(f"[group:wedraw-web]\nprograms={','.join(web)}\n")
    blocks.append(f"[group:wedraw-workers]\nprograms={','.join([*workers, beat])}\n")
    return "\n".join(blocks)


def render_nginx(layout: Layout = Layout()) -> str:
    upstreams = "\n".join(
        f"upstream wedraw_{name} {{\n"
        f"    server {layout.upstream_host}:{SERVICES[name].port} max_fails=3 fail_timeout=10s;\n"
        f"    keepalive 16;\n}}"
        for name in WEB_SERVICES
    )
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
            body = "        limit_req zone=wedraw_api burst=20 nodelay;\n" if limited else ""
            locations.append(f"    location {prefix} {{\n{body}        proxy_pass http://wedraw_{name};\n    }}")
    location_text = "\n".join(locations)
    return f"""# Generated from wedraw/core/registry.py by `python -m wedraw.cli deploy render`. Do not edit.
limit_req_zone $binary_remote_addr zone=wedraw_api:10m rate=60r/m;
limit_req_status 429;

map $http_x_request_id $wedraw_request_id {{
    default $http_x_request_id;
    ""      $request_id;
}}

{upstreams}

server {{
    listen {layout.listen};
    server_name {layout.server_name};

    client_max_body_size 1m;
    gzip on;
    gzip_types application/json application/javascript text/css text/plain image/svg+xml;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Request-ID $wedraw_request_id;
    proxy_read_timeout 60s;

{location_text}

    location /api/ {{
        default_type application/json;
        return 404 '{{"code": "not_found", "message": "Not found.", "request_id": "$wedraw_request_id"}}';
    }}

    # The admin console: hashed assets cached for a year, everything else falls back to the SPA.
    root {layout.app_root}/frontend/admin/dist;
    location /assets/ {{
        expires 1y;
        add_header Cache-Control "public, immutable";
        try_files $uri =404;
    }}
    location / {{
        add_header Cache-Control "no-cache";
        try_files $uri /index.html;
    }}
}}
"""


def render_all(out: Path = DEPLOY_DIR, layout: Layout = Layout()) -> list[Path]:
    files = {
        out / "supervisor" / "wedraw.conf": render_supervisor(layout),
        out / "nginx" / "wedraw.conf": render_nginx(layout),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
