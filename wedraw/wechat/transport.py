"""The one transport every WeChat request goes through: host rewrite, timeout, metrics.

wechatpy builds URLs from several bases and some absolute URLs (the token fetch,
customservice, media, `WeChatWxa`), and its token fetch sends no timeout. A requests
adapter mounted on the client's session sees every one of them, so pointing at the
sandbox is configuration (`Settings.wechat_api_base` / `wecom_api_base`) and not a
patched code path, and no request can go out without a timeout.

`mount` also stops requests from reading the environment on every call (its proxy lookup
walks all of `os.environ` three times a request, a quarter of a push worker's CPU): the
transport reads the proxy for each host from the environment once, and the CA bundle
variables are read when the session is mounted.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from wedraw.wechat.metrics import WeChatMetrics, metrics

# WeChat's hosts and which setting replaces each. OAuth's authorize page and showqrcode
# live on open./mp.weixin.qq.com; the sandbox serves them on the Official Account host.
WECHAT_HOSTS = ("api.weixin.qq.com", "mp.weixin.qq.com", "open.weixin.qq.com")
WECOM_HOSTS = ("qyapi.weixin.qq.com",)
HOST_LABELS = {
    "api.weixin.qq.com": "wechat",
    "mp.weixin.qq.com": "mp",
    "open.weixin.qq.com": "open",
    "qyapi.weixin.qq.com": "wecom",
}
DEFAULT_TIMEOUT = 10.0

Timeout = float | tuple[float, float]
_call_timeout: contextvars.ContextVar[Timeout | None] = contextvars.ContextVar("wechat_call_timeout", default=None)


def host_map(settings) -> dict[str, str]:
    """WeChat host → replacement base URL, from the settings (empty for the real hosts)."""
    mapping: dict[str, str] = {}
    if settings.wechat_api_base:
        mapping.update(dict.fromkeys(WECHAT_HOSTS, settings.wechat_api_base))
    if settings.wecom_api_base:
        mapping.update(dict.fromkeys(WECOM_HOSTS, settings.wecom_api_base))
    return mapping


def rewrite_url(url: str, mapping: Mapping[str, str]) -> str:
    """The URL with a mapped WeChat host replaced by its base (scheme, host, port and path prefix)."""
    parts = urlsplit(url)
    base = mapping.get(parts.hostname or "")
    if not base:
        return url
    target = urlsplit(base)
    return urlunsplit((target.scheme, target.netloc, target.path.rstrip("/") + parts.path, parts.query, parts.fragment))


@contextmanager
def call_timeout(timeout: Timeout | None) -> Iterator[None]:
    """Override the timeout of every request made inside the block (None keeps the default)."""
    token = _call_timeout.set(timeout)
    try:
        yield
    finally:
        _call_timeout.reset(token)


def endpoint_name(url: str) -> str:
    """A metrics label: host label and path, e.g. "wechat:cgi-bin/user/get"."""
    parts = urlsplit(url)
    return f"{HOST_LABELS.get(parts.hostname or '', parts.hostname)}:{parts.path.lstrip('/')}"


def _errcode_of(response: requests.Response) -> int | str:
    if response.status_code != 200:
        return f"http_{response.status_code}"
    if not response.content.startswith(b"{"):
        return 0  # media and images come back as bytes
    try:
        return int(json.loads(response.content).get("errcode", 0))
    except (ValueError, TypeError, AttributeError):
        return "bad_json"


class WeChatTransport(HTTPAdapter):
    def __init__(
        self,
        mapping: Mapping[str, str] | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        registry: WeChatMetrics | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mapping = dict(mapping or {})
        self.timeout = timeout
        self.metrics = registry or metrics
        self._env_proxies: dict[str, dict[str, str]] = {}
        self._env_lock = threading.Lock()

    def environment_proxies(self, url: str) -> dict[str, str]:
        """The proxies the environment gives for this URL's host (honouring NO_PROXY), read once per host."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._env_proxies.get(key)
        if found is None:
            with self._env_lock:
                found = self._env_proxies[key] = get_environ_proxies(url)
        return found

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout=None,
        verify=True,
        cert=None,
        proxies=None,
    ) -> requests.Response:
        endpoint = endpoint_name(request.url)
        rewritten = rewrite_url(request.url, self.mapping)
        if rewritten != request.url:
            request.url = rewritten
        # The host actually called (a replacement too) decides its proxy, and NO_PROXY applies to
        # it; proxies set on the session or the call still win.
        proxies = {**self.environment_proxies(request.url), **(proxies or {})}
        override = _call_timeout.get()
        effective = override if override is not None else (timeout if timeout is not None else self.timeout)
        started = time.perf_counter()
        try:
            response = super().send(
                request, stream=stream, timeout=effective, verify=verify, cert=cert, proxies=proxies
            )
        except requests.Timeout:
            self.metrics.api_called(endpoint, "timeout", (time.perf_counter() - started) * 1000)
            raise
        except requests.ConnectionError:
            self.metrics.api_called(endpoint, "connection_error", (time.perf_counter() - started) * 1000)
            raise
        self.metrics.api_called(endpoint, _errcode_of(response), (time.perf_counter() - started) * 1000)
        return response


def mount(
    session: requests.Session,
    mapping: Mapping[str, str],
    timeout: Timeout = DEFAULT_TIMEOUT,
    registry: WeChatMetrics | None = None,
) -> requests.Session:
    """Route every request of `session` through a WeChatTransport (which reads proxies from the
    environment once per host, so the session no longer reads the environment per request)."""
    if session.trust_env:
        session.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle and session.verify is True:
            session.verify = bundle
    adapter = WeChatTransport(mapping, timeout, registry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
