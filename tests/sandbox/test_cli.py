"""`python -m wedraw.sandbox` serves both hosts until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import free_port
from wedraw.sandbox.__main__ import parse_args


def test_serves_both_hosts_until_sigterm(tmp_path):
    official, wecom = free_port(), free_port()
    env = {
        **os.environ,
        "WEDRAW_VAR_DIR": str(tmp_path),
        "WEDRAW_LOG_LEVEL": "INFO",
        "WEDRAW_DEMO_WECHAT_APPID": "wxclitest000000001",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wedraw.sandbox",
            "--official-port",
            str(official),
            "--wecom-port",
            str(wecom),
            "--fans",
            "12",
            "--members",
            "6",
            "--departments",
            "2",
            "--seed",
            "3",
            "--callback-base",
            "",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                summary = requests.get(f"http://127.0.0.1:{official}/__sandbox/", timeout=1).json()
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
        assert requests.get(f"http://127.0.0.1:{wecom}/health", timeout=2).json()["host"] == "wecom"
        assert summary["demo"]["official"]["appid"] == "wxclitest000000001"
        assert summary["accounts"][0]["subscribed"] == 12 and summary["accounts"][0]["callback_url"] is None
        assert summary["params"]["seed"] == 3 and summary["corps"][0]["departments"] == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "WeChat sandbox ready" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_a_taken_port_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "wedraw.sandbox", "--official-port", str(port), "--wecom-port", str(free_port())],
            env={**os.environ, "WEDRAW_VAR_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1 and "cannot listen" in result.stderr


def test_arguments_are_validated():
    assert parse_args([]).official_port == 3100 and parse_args([]).wecom_port == 3101
    with pytest.raises(SystemExit):
        parse_args(["--fans", "-1"])
    with pytest.raises(SystemExit):
        parse_args(["--departments", "0"])
