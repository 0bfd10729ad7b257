"""The in-process server (sandbox, embedded runner, tests): stopping it lets running requests answer."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
import requests

from wedraw.core.serving import start_server, stop_server


class SlowApp:
    """Answers once the test lets it; tells the test when a request is inside."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ, start_response):
        self.entered.set()
        self.release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]


def test_stopping_lets_a_running_request_answer_and_logs_no_error(caplog):
    app = SlowApp()
    server = start_server(app, port=0, threads=2)
    url = f"http://127.0.0.1:{server.effective_port}/"
    answers: list[object] = []

    def call():
        try:
            answers.append(requests.get(url, timeout=10).text)
        except requests.RequestException as exc:
            answers.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert app.entered.wait(5)
    stopper = threading.Thread(target=stop_server, args=(server,))
    with caplog.at_level(logging.WARNING):
        stopper.start()
        stopper.join(0.3)
        assert stopper.is_alive()  # it waits for the running request
        with pytest.raises(ConnectionRefusedError):  # but no longer accepts new connections
            socket.create_connection(("127.0.0.1", server.effective_port), timeout=1).close()
        app.release.set()
        stopper.join(10)
        caller.join(10)
    assert not stopper.is_alive()
    assert answers == ["finished"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_kept_alive_connection_does_not_outlive_the_server():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = start_server(app, port=0, threads=2)
    session = requests.Session()
    url = f"http://127.0.0.1:{server.effective_port}/"
    assert session.get(url, timeout=5).text == "ok"  # the connection stays in the session's pool
    stop_server(server)
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=5)
