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

WeDraw's clients use a `WeChatSession`: a plain call to WeChat's API hosts (a JSON or bytes
body, no files, cookies, auth, hooks, proxy or streaming) goes from it straight to the
transport's connection pool, skipping requests' per-call preparation, which cost as much
CPU as the HTTP exchange itself. Everything else takes requests' own path, through the
same transport.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from json import dumps as _json_dumps
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, get_environ_proxies
from urllib3.exceptions import ConnectTimeoutError as _ConnectTimeout
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import ProxyError as _ProxyError
from urllib3.exceptions import ReadTimeoutError as _ReadTimeout
from urllib3.exceptions import SSLError as _SSLError
from urllib3.util import Timeout as _PoolTimeout

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
# WeChat's JSON API hosts, which a WeChatSession calls directly (they answer, never redirect).
DIRECT_HOSTS = frozenset(("api.weixin.qq.com", "qyapi.weixin.qq.com"))
DEFAULT_TIMEOUT = 10.0

Timeout = float | tuple[float, float]
_call_timeout: contextvars.ContextVar[Timeout | None] = contextvars.ContextVar("wechat_call_timeout", default=None)


def _query(params: dict | None) -> str:
    """A query string as requests encodes one: sequences repeat the name, None values are left out."""
    if not params:
        return ""
    pairs = []
    for name, values in params.items():
        for value in values if isinstance(values, (list, tuple)) else (values,):
            if value is not None:
                pairs.append((name, value))
    return urlencode(pairs)


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

    def _timeout(self, timeout: Timeout | None) -> Timeout:
        override = _call_timeout.get()
        return override if override is not None else (timeout if timeout is not None else self.timeout)

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
        started = time.perf_counter()
        try:
            response = super().send(
                request, stream=stream, timeout=self._timeout(timeout), verify=verify, cert=cert, proxies=proxies
            )
        except requests.RequestException as exc:
            self._failed(endpoint, exc, started)
            raise
        self.metrics.api_called(endpoint, _errcode_of(response), (time.perf_counter() - started) * 1000)
        return response

    def _failed(self, endpoint: str, exc: requests.RequestException, started: float) -> None:
        if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
            outcome = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
            self.metrics.api_called(endpoint, outcome, (time.perf_counter() - started) * 1000)

    def direct(
        self,
        method: str,
        url: str,
        query: str,
        body: bytes | None,
        headers: CaseInsensitiveDict,
        timeout: Timeout | None,
        verify: bool | str,
    ) -> requests.Response | None:
        """Send a plain request straight through the connection pool; None if it must take requests' path
        (a proxy applies to the host). What it returns and raises is what requests would."""
        target = rewrite_url(url, self.mapping)
        if self.environment_proxies(target):
            return None
        if query:
            target += ("&" if "?" in target else "?") + query
        request = PreparedRequest()
        request.method, request.url, request.headers, request.body = method, target, headers, body
        if body is not None:
            headers["Content-Length"] = str(len(body))
        elif method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        endpoint = endpoint_name(url)
        started = time.perf_counter()
        try:
            response = self._urlopen(request, self._timeout(timeout), verify)
        except requests.RequestException as exc:
            self._failed(endpoint, exc, started)
            raise
        self.metrics.api_called(endpoint, _errcode_of(response), (time.perf_counter() - started) * 1000)
        return response

    def _urlopen(self, request: PreparedRequest, timeout: Timeout, verify: bool | str) -> requests.Response:
        """urllib3's answer, read whole, as a requests Response; urllib3's errors as requests' (as HTTPAdapter.send)."""
        try:
            conn = self.get_connection_with_tls_context(request, verify)
            self.cert_verify(conn, request.url, verify, None)
            pool_timeout = (
                _PoolTimeout(connect=timeout[0], read=timeout[1])
                if isinstance(timeout, tuple)
                else _PoolTimeout(connect=timeout, read=timeout)
            )
            raw = conn.urlopen(
                method=request.method,
                url=self.request_url(request, {}),
                body=request.body,
                headers=request.headers,
                redirect=False,
                assert_same_host=False,
                preload_content=True,
                decode_content=True,
                retries=self.max_retries,
                timeout=pool_timeout,
            )
        except MaxRetryError as exc:
            if isinstance(exc.reason, _ConnectTimeout) and not isinstance(exc.reason, NewConnectionError):
                raise requests.ConnectTimeout(exc, request=request) from exc
            if isinstance(exc.reason, _ProxyError):
                raise requests.exceptions.ProxyError(exc, request=request) from exc
            if isinstance(exc.reason, _SSLError):
                raise requests.exceptions.SSLError(exc, request=request) from exc
            raise requests.ConnectionError(exc, request=request) from exc
        except _ReadTimeout as exc:
            raise requests.ReadTimeout(exc, request=request) from exc
        except _SSLError as exc:
            raise requests.exceptions.SSLError(exc, request=request) from exc
        except (OSError, _Urllib3Error) as exc:  # ProtocolError, ClosedPoolError, refused connections
            raise requests.ConnectionError(exc, request=request) from exc
        response = requests.Response()
        response.status_code = raw.status
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw, response.reason, response.url = raw, raw.reason, request.url
        response._content, response._content_consumed = raw.data, True
        response.request, response.connection = request, self
        return response


class WeChatSession(requests.Session):
    """A requests session whose plain calls to WeChat's API hosts skip requests' per-call preparation.

    Plain: the host is one of DIRECT_HOSTS, a transport is mounted, the body is bytes, JSON or
    none, the query a dict, and there are no files, cookies, auth, hooks, proxies, certificates
    or streaming (WeChat's API sets no cookies and never redirects). Anything else, and a host
    with a proxy, goes through `requests.Session.request`.
    """

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params=None,
        data=None,
        headers=None,
        cookies=None,
        files=None,
        auth=None,
        timeout=None,
        allow_redirects: bool = True,
        proxies=None,
        hooks=None,
        stream=None,
        verify=None,
        cert=None,
        json=None,
    ) -> requests.Response:
        plain = (
            not (files or cookies or auth or hooks or proxies or stream or cert)
            and not (self.auth or self.cert or self.proxies or self.params or self.cookies or self.hooks["response"])
            and (data is None or isinstance(data, bytes))
            and (params is None or isinstance(params, dict))
            and url.isascii()
            and not any(c.isspace() for c in url)
            and urlsplit(url).hostname in DIRECT_HOSTS
        )
        adapter = self.get_adapter(url) if plain else None
        response = None
        if isinstance(adapter, WeChatTransport):
            merged = CaseInsensitiveDict(self.headers)
            merged.update(headers or {})
            for name in [name for name, value in merged.items() if value is None]:
                del merged[name]
            body = data
            if not data and json is not None:  # as requests: JSON only without data
                body = _json_dumps(json, allow_nan=False).encode("utf-8")
                if "Content-Type" not in merged:
                    merged["Content-Type"] = "application/json"
            verify = self.verify if verify is None else verify
            response = adapter.direct(method.upper(), url, _query(params), body, merged, timeout, verify)
        if response is not None:
            return response
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            cookies=cookies,
            files=files,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
            proxies=proxies,
            hooks=hooks,
            stream=stream,
            verify=verify,
            cert=cert,
            json=json,
        )


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
