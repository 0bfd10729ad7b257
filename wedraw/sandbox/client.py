"""A small client for the sandbox's /__sandbox/ control endpoints (tests, e2e, scripts).

It speaks only to the control surface; WeChat's own endpoints are reached through the
WeChat client layer, as production code reaches WeChat.
"""

from __future__ import annotations

from typing import Any

import requests


class SandboxControlError(RuntimeError):
    def __init__(self, status: int, body: Any):
        super().__init__(f"sandbox control answered HTTP {status}: {body}")
        self.status = status
        self.body = body


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/") + "/__sandbox"
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None) -> Any:
        response = self.http.request(method, self.base_url + path, json=json, params=params, timeout=self.timeout)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise SandboxControlError(response.status_code, body)
        return response.json() if response.content else None

    @staticmethod
    def _clean(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}

    # world
    def summary(self) -> dict:
        return self._call("GET", "/")

    def reset(self, **params: Any) -> dict:
        return self._call("POST", "/reset", json=params)

    def advance_clock(self, seconds: float) -> dict:
        return self._call("POST", "/clock", json={"advance": seconds})

    def stats(self) -> dict:
        return self._call("GET", "/stats")

    def clear_stats(self) -> dict:
        return self._call("DELETE", "/stats")

    def token_calls(self, app_id: str) -> int:
        return self.stats()["token_calls"].get(app_id, 0)

    # faults and tokens
    def fault(
        self,
        path: str,
        *,
        errcode: int | None = None,
        delay: float | None = None,
        times: int | None = 1,
        host: str | None = None,
        appid: str | None = None,
        http_status: int | None = None,
    ) -> dict:
        body = self._clean(
            {"path": path, "errcode": errcode, "delay": delay, "host": host, "appid": appid, "http_status": http_status}
        )
        body["times"] = times
        return self._call("POST", "/faults", json=body)

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def expire_tokens(
        self, appid: str | None = None, *, token: str | None = None, agent_id: int | None = None, errcode: int = 42001
    ) -> int:
        body = self._clean({"appid": appid, "token": token, "agent_id": agent_id, "errcode": errcode})
        return self._call("POST", "/tokens/expire", json=body)["expired"]

    # deliveries and pushes
    def outbox(
        self, *, app: str | None = None, channel: str | None = None, to: str | None = None, limit: int = 1000
    ) -> dict:
        return self._call(
            "GET", "/outbox", params=self._clean({"app": app, "channel": channel, "to": to, "limit": limit})
        )

    def clear_outbox(self) -> None:
        self._call("DELETE", "/outbox")

    def push(self, message: dict, **options: Any) -> dict:
        """Push a message/event: options are appid or corp_id/agent_id, mode, timeout, attempts, wait."""
        return self._call("POST", "/push", json={"message": message, **self._clean(options)})

    def verify_url(self, **options: Any) -> dict:
        return self._call("POST", "/push/verify", json=self._clean(options))

    def pushes(self, app: str | None = None) -> list[dict]:
        return self._call("GET", "/pushes", params=self._clean({"app": app}))["pushes"]

    def push_record(self, push_id: int, wait: float | None = None) -> dict:
        return self._call("GET", f"/pushes/{push_id}", params=self._clean({"wait": wait}))

    def act(self, action: str, **fields: Any) -> dict:
        """A user acts: follow, unfollow, text, click, scan (Official Account) or text, click (WeCom)."""
        return self._call("POST", f"/actions/{action}", json=self._clean(fields))

    # logins and grants
    def wxlogin(
        self, appid: str | None = None, *, openid: str | None = None, risky: bool | None = None, new: bool = False
    ) -> dict:
        return self._call(
            "POST", "/wxlogin", json=self._clean({"appid": appid, "openid": openid, "risky": risky, "new": new or None})
        )

    def oauth_code(self, appid: str, subject: str | None = None, scope: str = "snsapi_base") -> dict:
        return self._call("POST", "/oauth/code", json=self._clean({"appid": appid, "openid": subject, "scope": scope}))

    def grant_subscribe(self, openid: str, template_id: str, count: int = 1, appid: str | None = None) -> dict:
        return self._call(
            "POST",
            "/subscribe-grants",
            json=self._clean({"appid": appid, "openid": openid, "template_id": template_id, "count": count}),
        )

    def users(self, appid: str, offset: int = 0, limit: int = 50) -> dict:
        return self._call("GET", f"/users/{appid}", params={"offset": offset, "limit": limit})

    # registration
    def register_account(self, appid: str, secret: str, **fields: Any) -> dict:
        return self._call("POST", "/accounts", json={"appid": appid, "secret": secret, **fields})

    def update_account(self, appid: str, **fields: Any) -> dict:
        return self._call("PATCH", f"/accounts/{appid}", json=fields)

    def register_corp(self, corp_id: str, **fields: Any) -> dict:
        return self._call("POST", "/corps", json={"corp_id": corp_id, **fields})

    def register_agent(self, corp_id: str, agent_id: int, secret: str, **fields: Any) -> dict:
        return self._call("POST", f"/corps/{corp_id}/agents", json={"agent_id": agent_id, "secret": secret, **fields})

    def update_agent(self, corp_id: str, agent_id: int, **fields: Any) -> dict:
        return self._call("PATCH", f"/corps/{corp_id}/agents/{agent_id}", json=fields)

    def register_robot(self, corp_id: str | None = None, key: str | None = None, name: str | None = None) -> dict:
        return self._call("POST", "/robots", json=self._clean({"corp_id": corp_id, "key": key, "name": name}))
