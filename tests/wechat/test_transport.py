"""The transport: host rewrite by configuration, a timeout on every request, metrics, the direct path."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import free_port
from tests.tls import self_signed
from wedraw.core.config import load_settings
from wedraw.wechat import demo_official_account, metrics
from wedraw.wechat.transport import WeChatSession, endpoint_name, host_map, mount, rewrite_url

MAPPING = {"api.weixin.qq.com": "http://127.0.0.1:3100", "qyapi.weixin.qq.com": "http://10.0.0.5:8000/wecom/"}


def test_rewrite_keeps_path_and_query_and_honours_a_base_path():
    assert (
        rewrite_url("https://api.weixin.qq.com/cgi-bin/token?appid=a", MAPPING)
        == "http://127.0.0.1:3100/cgi-bin/token?appid=a"
    )
    assert (
        rewrite_url("https://qyapi.weixin.qq.com/cgi-bin/gettoken", MAPPING)
        == "http://10.0.0.5:8000/wecom/cgi-bin/gettoken"
    )
    assert rewrite_url("https://example.com/x", MAPPING) == "https://example.com/x"


def test_host_map_from_settings(tmp_path):
    sandboxed = load_settings(environ={"WEDRAW_VAR_DIR": str(tmp_path)}, profile="embedded")
    assert host_map(sandboxed) == {
        "api.weixin.qq.com": "http://127.0.0.1:3100",
        "mp.weixin.qq.com": "http://127.0.0.1:3100",
        "open.weixin.qq.com": "http://127.0.0.1:3100",
        "qyapi.weixin.qq.com": "http://127.0.0.1:3101",
    }
    real = load_settings(environ={"WEDRAW_VAR_DIR": str(tmp_path)}, profile="test")
    real.wechat_api_base = real.wecom_api_base = None
    assert host_map(real) == {}
    with pytest.raises(RuntimeError, match="only in the sandbox"):
        demo_official_account(real)


def test_endpoint_labels():
    assert endpoint_name("https://api.weixin.qq.com/cgi-bin/user/get?x=1") == "wechat:cgi-bin/user/get"
    assert endpoint_name("https://qyapi.weixin.qq.com/cgi-bin/user/get") == "wecom:cgi-bin/user/get"


def test_every_request_through_the_session_has_a_timeout(sandbox):
    sandbox.control.fault("/cgi-bin/user/get", delay=3, times=1)
    session = mount(requests.Session(), host_map(sandbox.settings), timeout=0.3)
    with pytest.raises(requests.Timeout):
        session.get("https://api.weixin.qq.com/cgi-bin/user/get")  # no timeout given: the transport's applies
    assert metrics.snapshot()["api_calls"]["wechat:cgi-bin/user/get"] == {"timeout": 1}


def test_a_proxy_for_wechat_is_not_used_for_the_sandbox(sandbox, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    session = mount(requests.Session(), host_map(sandbox.settings))
    assert session.get("https://api.weixin.qq.com/health").json()["host"] == "official"


def test_metrics_count_calls_by_endpoint_and_errcode(sandbox, oa):
    openid = sandbox.control.users(sandbox.demo.official.appid, 0, 1)["users"][0]["openid"]
    oa.call(oa.api.user.get, openid)
    oa.call(oa.api.user.get, "o" + "q" * 27)
    snapshot = metrics.snapshot()
    assert snapshot["api_calls"]["wechat:cgi-bin/user/info"] == {"0": 1, "40003": 1}
    assert snapshot["token_fetches"] == {sandbox.demo.official.appid: {"ok": 1}}
    assert snapshot["api_ms"]["wechat:cgi-bin/user/info"] > 0
    assert metrics.token_fetch_count(sandbox.demo.official.appid) == 1


def test_clients_are_built_once_per_process(sandbox, oa):
    from wedraw.wechat import official_account

    assert (
        official_account(sandbox.settings, demo_official_account(sandbox.settings), timeout=5.0, policy=oa.policy) is oa
    )
    assert oa.api.auto_retry is False and oa.api.timeout == 5.0


def test_the_environment_proxy_is_read_once_per_host_and_still_applies(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "localhost")
    session = mount(requests.Session(), {})
    assert session.trust_env is False  # requests no longer walks the environment on every call
    adapter = session.get_adapter("http://wechat.example/")
    assert adapter.environment_proxies("http://wechat.example/a")["http"] == "http://127.0.0.1:9"
    assert "http" not in adapter.environment_proxies("http://localhost:1/")  # NO_PROXY
    with pytest.raises(requests.exceptions.ProxyError):
        session.get("http://wechat.example/cgi-bin/token", timeout=2)  # went to the proxy
    monkeypatch.delenv("HTTP_PROXY")
    assert adapter.environment_proxies("http://wechat.example/b")["http"] == "http://127.0.0.1:9"  # read once


def _echo(environ, start_response):
    """What arrived: method, path, query, the headers a WeChat call carries, and the body."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    seen = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ.get("QUERY_STRING", ""),
        "content_type": environ.get("CONTENT_TYPE", ""),
        "content_length": environ.get("CONTENT_LENGTH", ""),
        "accept": environ.get("HTTP_ACCEPT", ""),
        "user_agent": environ.get("HTTP_USER_AGENT", ""),
        "x_extra": environ.get("HTTP_X_EXTRA"),
        "body": body.decode("utf-8"),
    }
    payload = json.dumps(seen, ensure_ascii=False).encode("utf-8")
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(payload)))]
    start_response("200 OK", headers)
    return [payload]


def _forbid_requests_path(monkeypatch) -> None:
    """From here on, a call that takes requests' per-call path fails the test."""

    def not_here(*_args, **_kwargs):
        raise AssertionError("a plain WeChat API call took requests' per-call path")

    monkeypatch.setattr(requests.Session, "send", not_here)


CALLS = [
    ("GET", "/cgi-bin/user/get", {"params": {"access_token": "T", "next_openid": None}}),
    ("GET", "/cgi-bin/user/info?lang=zh_CN", {"params": {"access_token": "T", "openid": "o 1+/"}}),
    ("GET", "/cgi-bin/tags/get", {"params": {"ids": [1, 2], "name": "会员"}}),
    ("POST", "/cgi-bin/message/template/send", {"params": {"access_token": "T"}, "data": '{"a": "你好"}'.encode()}),
    ("POST", "/cgi-bin/message/custom/send", {"json": {"touser": "o1", "text": {"content": "你好"}}}),
    ("POST", "/cgi-bin/webhook/send", {"json": {"k": 1}, "headers": {"Content-Type": "text/plain", "X-Extra": "1"}}),
    ("POST", "/cgi-bin/menu/delete", {"headers": {"User-Agent": None}}),
]


def test_a_wechat_session_sends_what_requests_sends_without_requests_per_call_path(serve, monkeypatch):
    mapping = {"api.weixin.qq.com": serve(_echo)}
    expected = [
        mount(requests.Session(), mapping).request(method, "https://api.weixin.qq.com" + path, **kwargs).json()
        for method, path, kwargs in CALLS
    ]
    _forbid_requests_path(monkeypatch)
    session = mount(WeChatSession(), mapping)
    for (method, path, kwargs), wanted in zip(CALLS, expected, strict=True):
        response = session.request(method, "https://api.weixin.qq.com" + path, **kwargs)
        assert response.status_code == 200 and response.encoding == "utf-8"
        assert response.json() == wanted, (method, path)
        assert response.request.method == method and response.url.startswith(mapping["api.weixin.qq.com"])
    snapshot = metrics.snapshot()["api_calls"]
    assert snapshot["wechat:cgi-bin/user/info"] == {"0": 2}  # counted on both paths
    with pytest.raises(AssertionError, match="per-call path"):  # not a WeChat API host: requests' path
        session.get("http://127.0.0.1:9/cgi-bin/token")


def test_a_wechat_session_fails_as_requests_fails(sandbox, monkeypatch):
    sandbox.control.fault("/cgi-bin/user/get", delay=3, times=1)
    session = mount(WeChatSession(), host_map(sandbox.settings), timeout=0.3)
    with pytest.raises(requests.ReadTimeout):
        session.get("https://api.weixin.qq.com/cgi-bin/user/get")
    assert session.get("https://api.weixin.qq.com/cgi-bin/user/get").json()["errcode"] == 41001  # no token
    closed = mount(WeChatSession(), {"api.weixin.qq.com": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(requests.ConnectionError):
        closed.post("https://api.weixin.qq.com/cgi-bin/message/template/send", json={})
    assert metrics.snapshot()["api_calls"]["wechat:cgi-bin/user/get"] == {"timeout": 1, "41001": 1}
    assert metrics.snapshot()["api_calls"]["wechat:cgi-bin/message/template/send"] == {"connection_error": 1}

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy for the host: requests' path, via the proxy
    proxied = mount(WeChatSession(), {"api.weixin.qq.com": "http://wechat.example"})
    with pytest.raises(requests.exceptions.ProxyError):
        proxied.get("https://api.weixin.qq.com/cgi-bin/token", timeout=2)


def test_a_wechat_session_verifies_tls_on_the_direct_path(tmp_path, monkeypatch):
    """WeChat is reached over HTTPS: the direct path checks the certificate as requests does."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mapping = {"api.weixin.qq.com": f"https://127.0.0.1:{server.server_address[1]}"}
        _forbid_requests_path(monkeypatch)
        trusted = mount(WeChatSession(), mapping)
        trusted.verify = str(cert)  # as REQUESTS_CA_BUNDLE would set it
        assert trusted.get("https://api.weixin.qq.com/cgi-bin/get_api_domain_ip").json() == {
            "errcode": 0,
            "errmsg": "ok",
        }
        with pytest.raises(requests.exceptions.SSLError):  # the default CA bundle does not know it
            mount(WeChatSession(), mapping).get("https://api.weixin.qq.com/cgi-bin/get_api_domain_ip")
    finally:
        server.shutdown()
        server.server_close()
