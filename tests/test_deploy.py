"""The committed Supervisor and Nginx configuration is exactly what the registry renders."""

from __future__ import annotations

import re

from wedraw.core.registry import SERVICES, WEB_SERVICES, all_queues, callback_prefixes
from wedraw.deploy import DEPLOY_DIR, Layout, render_nginx, render_supervisor


def test_committed_configs_equal_a_fresh_render():
    assert (DEPLOY_DIR / "supervisor" / "wedraw.conf").read_text() == render_supervisor(), (
        "deploy/ is stale: run `python -m wedraw.cli deploy render`"
    )
    assert (DEPLOY_DIR / "nginx" / "wedraw.conf").read_text() == render_nginx()


def test_every_service_has_a_program_and_every_queue_a_worker():
    conf = render_supervisor()
    programs = set(re.findall(r"^\[program:([\w-]+)\]", conf, re.M))
    assert {f"wedraw-{name}" for name in WEB_SERVICES} <= programs
    assert {f"wedraw-worker-{queue}" for queue in all_queues()} <= programs
    assert "wedraw-beat" in programs
    for name in WEB_SERVICES:
        assert f"--bind 127.0.0.1:{SERVICES[name].port} " in conf


def test_every_prefix_has_a_location_and_callbacks_are_not_rate_limited():
    conf = render_nginx(Layout(listen="8000"))
    assert "listen 8000;" in conf
    for name in WEB_SERVICES:
        for prefix in SERVICES[name].prefixes:
            assert re.search(rf"location {re.escape(prefix)} \{{[^}}]*proxy_pass http://wedraw_{name};", conf), prefix
    for prefix in callback_prefixes():
        block = re.search(rf"location {re.escape(prefix)} \{{([^}}]*)\}}", conf).group(1)
        assert "limit_req" not in block
    api_block = re.search(r"location /api/users \{([^}]*)\}", conf).group(1)
    assert "limit_req zone=wedraw_api" in api_block
