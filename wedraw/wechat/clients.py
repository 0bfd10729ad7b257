"""WeChat clients: wechatpy 1.8.18 under one shared token, one transport and one call policy.

    oa = official_account(settings, demo_official_account(settings))
    result = oa.call(oa.api.user.get, openid)          # Ok(data) | Retryable(...) | Final(...)

`oa.api` is a wechatpy `WeChatClient` (WeCom: `wechatpy.enterprise.WeChatClient`) built
with `auto_retry=False`, whose access token is the shared one, whose session goes
through `WeChatTransport` (sandbox host rewrite, a timeout on every request, metrics)
and which adds the calls wechatpy lacks or gets wrong. `call()` runs any of its methods
under the policy. Clients are built lazily, once per process (and again after a fork).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any

import requests
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.client.api.qrcode import WeChatQRCode
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.exceptions import WeChatClientException

from wedraw.core.config import Settings
from wedraw.core.store import store_for
from wedraw.wechat.accounts import MiniProgramConfig, OfficialAccountConfig, WeComAppConfig
from wedraw.wechat.callbacks import CallbackCodec
from wedraw.wechat.policy import CallPolicy, CallResult, Ok
from wedraw.wechat.robot import GroupRobot
from wedraw.wechat.tokens import REFRESH_AHEAD, SharedAccessToken, SharedSessionStorage, TokenFetchError
from wedraw.wechat.transport import (
    DEFAULT_TIMEOUT,
    Timeout,
    WeChatSession,
    call_timeout,
    host_map,
    mount,
    rewrite_url,
)

PAGE_LIMIT = 10_000


class _SharedTokenClient:
    """Mixin for wechatpy clients: the access token is the app's shared token (tokens.py)."""

    credential_url: str
    shared_token: SharedAccessToken
    _http: requests.Session
    timeout: Timeout

    def _attach(self, shared_token: SharedAccessToken) -> None:
        self.shared_token = shared_token
        self._local = threading.local()

    @property
    def access_token(self) -> str:
        token = self.shared_token.current()
        self._local.token = token  # remembered so a 40001 replaces exactly this token
        return token

    @property
    def last_token(self) -> str | None:
        return getattr(self._local, "token", None)

    def fetch_access_token(self) -> dict:
        """wechatpy's hook: replace the token this thread last used (or adopt a newer shared one)."""
        return {"access_token": self.shared_token.refresh(stale=self.last_token)}

    def token_params(self) -> dict[str, str]:
        raise NotImplementedError

    def request_token(self) -> dict:
        """One request to WeChat's token endpoint, with a timeout (wechatpy's own fetch has none)."""
        response = self._http.get(self.credential_url, params=self.token_params(), timeout=self.timeout)
        if response.status_code != 200:
            raise TokenFetchError(None, f"HTTP {response.status_code}")
        try:
            result = response.json()
        except ValueError:
            raise TokenFetchError(None, "token endpoint answered no JSON") from None
        errcode = int(result.get("errcode") or 0)
        if errcode or not result.get("access_token"):
            raise TokenFetchError(errcode or None, str(result.get("errmsg", "no access_token in the answer")))
        return result


class WeChatApiClient(_SharedTokenClient, WeChatClient):
    """Official Account / Mini Program client (api.weixin.qq.com)."""

    credential_url = "https://api.weixin.qq.com/cgi-bin/token"

    def token_params(self) -> dict[str, str]:
        return {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}

    def iter_followers(self, first_openid: str | None = None):
        """Every follower's openid (wechatpy's version fails when the last page has no next_openid)."""
        next_openid = first_openid
        while True:
            page = self.user.get_followers(next_openid)
            openids = (page.get("data") or {}).get("openid") or []
            yield from openids
            next_openid = page.get("next_openid")
            if not openids or not next_openid:
                return

    def send_mass(
        self,
        message: dict[str, Any],
        *,
        tag_id: int | None = None,
        is_to_all: bool = False,
        client_msg_id: str | None = None,
        send_ignore_reprint: int = 0,
    ) -> dict:
        """message/mass/sendall by tag_id or to everyone (wechatpy sends the retired filter.group_id).

        `message` is the msgtype part: {"msgtype": "text", "text": {"content": "..."}}.
        """
        if (tag_id is None) == (not is_to_all):
            raise ValueError("give either tag_id or is_to_all=True")
        criteria: dict[str, Any] = {"is_to_all": is_to_all}
        if tag_id is not None:
            criteria["tag_id"] = tag_id
        data = {"filter": criteria, **message, "send_ignore_reprint": send_ignore_reprint}
        if client_msg_id:
            data["clientmsgid"] = client_msg_id
        return self.post("message/mass/sendall", data=data)

    def send_subscribe_message(
        self,
        touser: str,
        template_id: str,
        data: dict,
        *,
        page: str | None = None,
        miniprogram_state: str = "formal",
        lang: str = "zh_CN",
    ) -> dict:
        """Mini Program subscribe message with the fields wechatpy's version leaves out."""
        body = {
            "touser": touser,
            "template_id": template_id,
            "data": data,
            "miniprogram_state": miniprogram_state,
            "lang": lang,
        }
        if page:
            body["page"] = page
        return self.post("message/subscribe/send", data=body)

    def code_to_session(self, js_code: str) -> dict:
        """sns/jscode2session, without the access token wechatpy's `wxa.code_to_session` fetches first."""
        response = self._http.get(
            "https://api.weixin.qq.com/sns/jscode2session",
            timeout=self.timeout,
            params={"appid": self.appid, "secret": self.secret, "js_code": js_code, "grant_type": "authorization_code"},
        )
        if response.status_code != 200:
            raise WeChatClientException(None, None, client=self, request=response.request, response=response)
        return self._handle_result(response)

    def qrcode_image(self, ticket: str | dict) -> bytes:
        """The QR image for a ticket through this session (wechatpy's `qrcode.show` bypasses it)."""
        response = self._http.get(WeChatQRCode.get_url(ticket), timeout=self.timeout)
        if response.status_code != 200:
            raise WeChatClientException(None, None, client=self, request=response.request, response=response)
        return response.content


class WeComApiClient(_SharedTokenClient, WeComClient):
    """WeCom client (qyapi.weixin.qq.com) for one agent."""

    credential_url = "https://qyapi.weixin.qq.com/cgi-bin/gettoken"

    def __init__(self, corp_id: str, secret: str, agent_id: int, **kwargs: Any):
        super().__init__(corp_id, secret, **kwargs)
        self.agent_id = agent_id

    def token_params(self) -> dict[str, str]:
        return {"corpid": self.corp_id, "corpsecret": self.secret}

    def list_user_ids(self, cursor: str | None = None, limit: int = PAGE_LIMIT) -> dict:
        """user/list_id: every member's userid and department, by cursor (wechatpy lacks it)."""
        data: dict[str, Any] = {"limit": limit}
        if cursor:
            data["cursor"] = cursor
        return self.post("user/list_id", data=data)

    def user_by_code(self, code: str) -> dict:
        """auth/getuserinfo: the member behind an OAuth code (wechatpy calls the older user/getuserinfo)."""
        return self.get("auth/getuserinfo", params={"code": code})


def invalid_recipients(result: dict) -> dict[str, list[str]]:
    """WeCom's message/send answers errcode 0 on partial failure: who did not get it."""
    return {
        key: [v for v in str(result.get(key) or "").split("|") if v]
        for key in ("invaliduser", "invalidparty", "invalidtag", "unlicenseduser")
    }


# --------------------------------------------------------------------------- apps: a client under the policy


class WeChatApp:
    def __init__(self, name: str, api: WeChatApiClient | WeComApiClient, policy: CallPolicy, settings: Settings):
        self.name = name
        self.api = api
        self.policy = policy
        self.mapping = host_map(settings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"

    def call(
        self, fn: Callable[..., Any], /, *args: Any, call_timeout: Timeout | None = None, **kwargs: Any
    ) -> CallResult:
        """Run `fn(*args, **kwargs)` (a method of `self.api`) under the call policy."""
        return self._run(lambda: fn(*args, **kwargs), call_timeout, refresh=True, label=getattr(fn, "__name__", ""))

    def _run(self, fn: Callable[[], Any], timeout: Timeout | None, *, refresh: bool, label: str) -> CallResult:
        def attempt():
            with call_timeout(timeout):
                return fn()

        refresh_token = (lambda: self.api.shared_token.refresh(stale=self.api.last_token)) if refresh else None
        return self.policy.run(attempt, refresh_token=refresh_token, label=f"{self.name} {label}".strip())

    def refresh_token_ahead(self, min_remaining: float = REFRESH_AHEAD) -> bool:
        """For the scheduled job: refresh the shared token before it runs out."""
        return self.api.shared_token.refresh_ahead(min_remaining)

    def browser_url(self, url: str) -> str:
        """A WeChat URL a browser is sent to (OAuth, QR images), pointed at the sandbox when configured."""
        return rewrite_url(url, self.mapping)


class OfficialAccount(WeChatApp):
    def __init__(self, config: OfficialAccountConfig, *args: Any):
        super().__init__(config.appid, *args)
        self.config = config

    def followers(self, *, call_timeout: Timeout | None = None) -> CallResult:
        """All follower openids, one policy-guarded call per page of 10,000."""
        openids: list[str] = []
        next_openid: str | None = None
        while True:
            result = self.call(self.api.user.get_followers, next_openid, call_timeout=call_timeout)
            if not result.ok:
                return result
            page = result.data
            batch = (page.get("data") or {}).get("openid") or []
            openids.extend(batch)
            next_openid = page.get("next_openid")
            if not batch or not next_openid:
                return Ok(openids)

    def _oauth(self, redirect_uri: str = "", scope: str = "snsapi_base", state: str = "") -> WeChatOAuth:
        # A fresh instance per call: WeChatOAuth keeps the last user's token on itself.
        oauth = WeChatOAuth(self.config.appid, self.config.secret, redirect_uri, scope, state)
        mount(oauth._http, self.mapping, self.api.timeout)
        return oauth

    def oauth_authorize_url(self, redirect_uri: str, scope: str = "snsapi_base", state: str = "") -> str:
        """Where to send the browser for web login (the sandbox's page when configured)."""
        return self.browser_url(self._oauth(redirect_uri, scope, state).authorize_url)

    def oauth_login(self, code: str, *, call_timeout: Timeout | None = None) -> CallResult:
        """Exchange a web-login code for the user's openid and OAuth token (single-use codes)."""
        return self._run(
            lambda: self._oauth().fetch_access_token(code), call_timeout, refresh=False, label="oauth_login"
        )

    def oauth_userinfo(self, access_token: str, openid: str, *, call_timeout: Timeout | None = None) -> CallResult:
        return self._run(
            lambda: self._oauth().get_user_info(openid, access_token),
            call_timeout,
            refresh=False,
            label="oauth_userinfo",
        )

    def qrcode_url(self, ticket: str | dict) -> str:
        return self.browser_url(WeChatQRCode.get_url(ticket))

    def callback_codec(self, require_encryption: bool = False) -> CallbackCodec:
        return self.config.callback_codec(require_encryption)


class MiniProgram(WeChatApp):
    def __init__(self, config: MiniProgramConfig, *args: Any):
        super().__init__(config.appid, *args)
        self.config = config

    def code_to_session(self, js_code: str, *, call_timeout: Timeout | None = None) -> CallResult:
        """wx.login code → openid, session_key, unionid. Codes are single-use: never retried on 40163."""
        return self._run(
            lambda: self.api.code_to_session(js_code), call_timeout, refresh=False, label="code_to_session"
        )


class WeComApp(WeChatApp):
    def __init__(self, config: WeComAppConfig, *args: Any):
        super().__init__(f"{config.corp_id}/{config.agent_id}", *args)
        self.config = config

    def oauth_authorize_url(self, redirect_uri: str, state: str | None = None) -> str:
        return self.browser_url(self.api.oauth.authorize_url(redirect_uri, state))

    def callback_codec(self) -> CallbackCodec:
        return self.config.callback_codec()


# --------------------------------------------------------------------------- building, once per process

_apps: dict[tuple, Any] = {}
_apps_lock = threading.Lock()


def _cache_key(settings: Settings, kind: str, ident: str, secret: str, timeout: Timeout, policy: Any) -> tuple:
    secret_id = hashlib.sha256(secret.encode()).hexdigest()
    return (
        kind,
        ident,
        secret_id,
        settings.redis_url or str(settings.var_dir),
        settings.wechat_api_base,
        settings.wecom_api_base,
        timeout,
        policy,
    )


def _cached(key: tuple, build: Callable[[], Any]) -> Any:
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = build()
        return app


def _with_shared_token(api: WeChatApiClient | WeComApiClient, settings: Settings, label: str, timeout: Timeout):
    """Route the client through the transport and give it its app's shared token."""
    api._http = mount(WeChatSession(), host_map(settings), timeout)
    api._attach(SharedAccessToken(api.session, api.request_token, label))
    return api


def _wechat_api(settings: Settings, appid: str, secret: str, timeout: Timeout) -> WeChatApiClient:
    storage = SharedSessionStorage(store_for(settings), f"app:{appid}")
    api = WeChatApiClient(appid, secret, session=storage, timeout=timeout, auto_retry=False)
    return _with_shared_token(api, settings, appid, timeout)


def official_account(
    settings: Settings,
    config: OfficialAccountConfig,
    *,
    timeout: Timeout = DEFAULT_TIMEOUT,
    policy: CallPolicy | None = None,
) -> OfficialAccount:
    def build() -> OfficialAccount:
        api = _wechat_api(settings, config.appid, config.secret, timeout)
        return OfficialAccount(config, api, policy or CallPolicy(), settings)

    return _cached(_cache_key(settings, "official", config.appid, config.secret, timeout, policy), build)


def mini_program(
    settings: Settings,
    config: MiniProgramConfig,
    *,
    timeout: Timeout = DEFAULT_TIMEOUT,
    policy: CallPolicy | None = None,
) -> MiniProgram:
    def build() -> MiniProgram:
        api = _wechat_api(settings, config.appid, config.secret, timeout)
        return MiniProgram(config, api, policy or CallPolicy(), settings)

    return _cached(_cache_key(settings, "miniprogram", config.appid, config.secret, timeout, policy), build)


def wecom_app(
    settings: Settings, config: WeComAppConfig, *, timeout: Timeout = DEFAULT_TIMEOUT, policy: CallPolicy | None = None
) -> WeComApp:
    label = f"{config.corp_id}/{config.agent_id}"
    # WeCom issues one token per secret (each agent, the contacts app, customer contact...),
    # so the shared token is namespaced by the secret's fingerprint, never by the agent alone.
    fingerprint = hashlib.sha256(config.secret.encode()).hexdigest()[:16]

    def build() -> WeComApp:
        storage = SharedSessionStorage(store_for(settings), f"wecom:{config.corp_id}:{fingerprint}")
        api = WeComApiClient(
            config.corp_id, config.secret, config.agent_id, session=storage, timeout=timeout, auto_retry=False
        )
        return WeComApp(config, _with_shared_token(api, settings, label, timeout), policy or CallPolicy(), settings)

    return _cached(_cache_key(settings, "wecom", label, config.secret, timeout, policy), build)


def group_robot(
    settings: Settings, key: str, *, timeout: Timeout = DEFAULT_TIMEOUT, policy: CallPolicy | None = None
) -> GroupRobot:
    def build() -> GroupRobot:
        return GroupRobot(key, mount(WeChatSession(), host_map(settings), timeout), policy or CallPolicy(), timeout)

    return _cached(_cache_key(settings, "robot", key, key, timeout, policy), build)


def refresh_tokens_ahead(apps: list[WeChatApp], min_remaining: float = REFRESH_AHEAD) -> dict[str, str]:
    """The scheduled refresh: for each app, "refreshed", "fresh" or the error that stopped it."""
    outcome: dict[str, str] = {}
    for app in apps:
        try:
            outcome[app.name] = "refreshed" if app.refresh_token_ahead(min_remaining) else "fresh"
        except Exception as exc:  # one app's failure must not stop the others' refresh
            outcome[app.name] = f"{type(exc).__name__}: {exc}"
    return outcome


def reset_clients() -> None:
    """Forget every built client (tests; and in a forked child, whose sockets are the parent's)."""
    with _apps_lock:
        _apps.clear()


os.register_at_fork(after_in_child=reset_clients)
