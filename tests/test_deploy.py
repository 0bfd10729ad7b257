"""The committed deploy/ files are exactly what the registry renders, and real Nginx,
Supervisor and logrotate accept and act on them."""

from __future__ import annotations

import getpass
import re
import shutil
import ssl
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, require_tier
from tests.tls import self_signed
from wedraw.core.registry import SERVICES, WEB_SERVICES, all_queues, callback_prefixes
from wedraw.deploy import (
    DEPLOY_DIR,
    Layout,
    find_nginx,
    render_cron,
    render_logrotate,
    render_nginx,
    render_nginx_https,
    render_prometheus,
    render_supervisor,
)


def test_committed_configs_equal_a_fresh_render():
    expected = {
        "supervisor/wedraw.conf": render_supervisor(),
        "nginx/wedraw.conf": render_nginx(),
        "nginx/wedraw-https.conf": render_nginx_https(),
        "logrotate/wedraw": render_logrotate(),
        "prometheus/wedraw-scrape.yml": render_prometheus(),
        "cron/wedraw-backup": render_cron(),
    }
    for name, text in expected.items():
        assert (DEPLOY_DIR / name).read_text() == text, (
            f"deploy/{name} is stale: run `python -m wedraw.cli deploy render`"
        )


def test_every_service_has_a_program_and_every_queue_a_worker():
    conf = render_supervisor()
    programs = set(re.findall(r"^\[program:([\w-]+)\]", conf, re.M))
    assert {f"wedraw-{name}" for name in WEB_SERVICES} <= programs
    assert {f"wedraw-worker-{queue}" for queue in all_queues()} <= programs
    assert "wedraw-beat" in programs
    for name in WEB_SERVICES:
        assert f"--bind 127.0.0.1:{SERVICES[name].port} " in conf
    # Each program has a metrics directory of its own; a service's page also reads its workers'.
    for queue, owner in all_queues().items():
        block = re.search(rf"\[program:wedraw-{owner}\]\n(.*?)\n\n", conf, re.S).group(1)
        assert f"/var/lib/wedraw/metrics/wedraw-worker-{queue}" in block
    assert "--scheduler wedraw.core.metrics:HeartbeatScheduler" in conf
    # Supervisor expands %(...)s: Celery's %h must reach Celery as %h.
    assert "@%%h" in conf and "@%h" not in conf.replace("%%h", "")


def test_every_prefix_has_a_location_and_callbacks_are_not_rate_limited():
    conf = render_nginx(Layout(listen="8000"))
    assert "listen 8000;" in conf
    for name in WEB_SERVICES:
        for prefix in SERVICES[name].prefixes:
            assert re.search(rf"location {re.escape(prefix)} \{{[^}}]*proxy_pass http://wedraw_{name};", conf), prefix
        assert f"location = /metrics/{name} {{" in conf
    for prefix in callback_prefixes():
        block = re.search(rf"location {re.escape(prefix)} \{{([^}}]*)\}}", conf).group(1)
        assert "limit_req" not in block
    api_block = re.search(r"location /api/users \{([^}]*)\}", conf).group(1)
    assert "limit_req zone=wedraw_api" in api_block


def test_more_upstream_hosts_are_listed_in_every_upstream():
    conf = render_nginx(Layout(more_upstream_hosts=("10.0.0.12", "10.0.0.13")))
    for name in WEB_SERVICES:
        block = re.search(rf"upstream wedraw_{name} \{{([^}}]*)\}}", conf).group(1)
        port = SERVICES[name].port
        assert re.findall(r"server ([\d.]+):(\d+)", block) == [
            (h, str(port)) for h in ("127.0.0.1", "10.0.0.12", "10.0.0.13")
        ]


def test_supervisor_parses_the_programs():
    from supervisor.options import ServerOptions

    with _tmpdir() as tmp:
        layout = Layout(user=getpass.getuser(), app_root=str(tmp), log_dir=str(tmp))
        (tmp / "programs.conf").write_text(render_supervisor(layout))
        (tmp / "main.conf").write_text(
            f"[supervisord]\nlogfile={tmp}/s.log\npidfile={tmp}/s.pid\n[include]\nfiles={tmp}/programs.conf\n"
        )
        options = ServerOptions()
        options.realize(args=["-c", str(tmp / "main.conf")])
        commands = {p.name: p.command for g in options.process_group_configs for p in g.process_configs}
    assert set(commands) == set(re.findall(r"^\[program:([\w-]+)\]", render_supervisor(), re.M))
    for queue in all_queues():
        assert f"-n {queue}@%h " in commands[f"wedraw-worker-{queue}"]


@contextmanager
def _tmpdir():
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="wedraw-deploy-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- real Nginx


def _nginx_or_skip() -> str:
    nginx = find_nginx()
    if not nginx:
        require_tier("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    return nginx


@contextmanager
def run_nginx(tmp: Path, site: str):
    nginx = _nginx_or_skip()
    for sub in ("temp", "logs", "log/nginx"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    (tmp / "site.conf").write_text(site)
    user = "user root;\n" if getpass.getuser() == "root" else ""
    (tmp / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  client_body_temp_path {tmp}/temp/body;\n"
        f"  proxy_temp_path {tmp}/temp/proxy;\n  include {tmp}/site.conf;\n}}\n"
    )
    argv = [nginx, "-p", f"{tmp}/", "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "logs" / "error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(argv, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)
        assert process.poll() is None, process.stderr.read().decode()
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def _session(source_ip: str = "127.0.0.1") -> requests.Session:
    from requests.adapters import HTTPAdapter

    class SourceAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (source_ip, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", SourceAdapter())
    return session


def _frontends(root: Path) -> None:
    console = root / "frontend" / "admin" / "dist"
    (console / "assets").mkdir(parents=True)
    (console / "index.html").write_text("<p>console</p>")
    (console / "assets" / "app.3f2a.js").write_text("console()")
    points = root / "frontend" / "points-h5" / "dist"
    (points / "assets").mkdir(parents=True)
    (points / "index.html").write_text("<p>points</p>")
    (points / "assets" / "p.91c.js").write_text("points()")


def test_nginx_serves_the_layout(tmp_path):
    """Console and H5 apps with SPA fallback, JSON errors, the metrics allow list and the API limit."""
    _frontends(tmp_path)
    port = free_port()
    down = {name: free_port() for name in WEB_SERVICES}  # nothing listens: upstreams are down
    layout = Layout(
        app_root=str(tmp_path), log_dir=str(tmp_path / "log"), listen=f"127.0.0.1:{port}", ports=tuple(down.items())
    )
    base = f"http://127.0.0.1:{port}"
    with run_nginx(tmp_path, render_nginx(layout)):
        web = _session()
        page = web.get(f"{base}/")
        assert page.text == "<p>console</p>" and page.headers["Cache-Control"] == "no-cache"
        assert web.get(f"{base}/users/42/edit").text == "<p>console</p>"  # SPA fallback
        asset = web.get(f"{base}/assets/app.3f2a.js")
        assert asset.text == "console()" and "immutable" in asset.headers["Cache-Control"]
        assert web.get(f"{base}/assets/missing.js").status_code == 404

        moved = web.get(f"{base}/h5/points", allow_redirects=False)
        assert moved.status_code == 301 and moved.headers["Location"] == "/h5/points/"
        assert web.get(f"{base}/h5/points/").text == "<p>points</p>"
        assert web.get(f"{base}/h5/points/orders/7").text == "<p>points</p>"
        h5_asset = web.get(f"{base}/h5/points/assets/p.91c.js")
        assert h5_asset.text == "points()" and "immutable" in h5_asset.headers["Cache-Control"]
        assert web.get(f"{base}/h5/wechat/anything").status_code == 404  # not built: no loop, no 500

        missing = web.get(f"{base}/api/nothing-owns-this")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        unavailable = web.get(f"{base}/health")
        assert unavailable.status_code == 503 and unavailable.json()["code"] == "service_unavailable"
        assert unavailable.headers["Retry-After"] == "5"

        assert web.get(f"{base}/metrics/user_center").status_code == 503  # allowed through (upstream down)
        assert _session("127.0.0.2").get(f"{base}/metrics/user_center").status_code == 403
        assert web.get(f"{base}/metrics").status_code == 403

        # 60 API requests from one address pass, the 61st is Nginx's 429; callbacks are never limited.
        client = _session("127.0.0.9")
        statuses = [client.get(f"{base}/api/users").status_code for _ in range(61)]
        assert statuses[:60] == [503] * 60, statuses
        limited = client.get(f"{base}/api/roles")
        assert statuses[60] == 429 and limited.status_code == 429
        assert limited.json()["code"] == "rate_limited" and limited.headers["Retry-After"] == "60"
        callbacks = [client.post(f"{base}/api/wechat/callback/wx1", data="<xml/>").status_code for _ in range(30)]
        assert 429 not in callbacks
        # Another address has its own allowance.
        assert _session("127.0.0.10").get(f"{base}/api/users").status_code == 503

        access = (tmp_path / "log" / "nginx" / "access.log").read_text().splitlines()
        assert any('"status":429' in line and '"ip":"127.0.0.9"' in line for line in access)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_https_template_redirects_and_speaks_only_modern_tls(tmp_path):
    _frontends(tmp_path)
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    layout = Layout(
        app_root=str(tmp_path),
        log_dir=str(tmp_path / "log"),
        listen=f"127.0.0.1:{http_port}",
        https_listen=f"127.0.0.1:{https_port}",
        tls_certificate=str(cert),
        tls_certificate_key=str(key),
    )
    with run_nginx(tmp_path, render_nginx_https(layout)):
        moved = requests.get(f"http://127.0.0.1:{http_port}/users?page=2", allow_redirects=False, timeout=5)
        assert moved.status_code == 301 and moved.headers["Location"] == "https://127.0.0.1/users?page=2"

        page = requests.get(f"https://127.0.0.1:{https_port}/", verify=str(cert), timeout=5)
        assert page.text == "<p>console</p>"
        assert page.headers["Strict-Transport-Security"] == "max-age=63072000"
        asset = requests.get(f"https://127.0.0.1:{https_port}/assets/app.3f2a.js", verify=str(cert), timeout=5)
        assert "immutable" in asset.headers["Cache-Control"] and "Strict-Transport-Security" in asset.headers

        import socket

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", https_port)) as raw, context.wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.3"
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", https_port)) as raw, pytest.raises(ssl.SSLError):
            old.wrap_socket(raw)


def test_logrotate_accepts_the_rendered_rules(tmp_path):
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not Path(logrotate).exists():
        require_tier("logrotate is not installed (apt-get install logrotate)")
    layout = Layout(log_dir=str(tmp_path / "log"), supervisor_pidfile=str(tmp_path / "none.pid"))
    (tmp_path / "log" / "nginx").mkdir(parents=True)
    (tmp_path / "log" / "wedraw-gateway.log").write_text("line\n")
    (tmp_path / "rules").write_text(render_logrotate(layout))
    result = subprocess.run(
        [logrotate, "-d", "-s", str(tmp_path / "state"), str(tmp_path / "rules")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
