"""The WeCom group-robot webhook, which wechatpy 1.8 lacks.

A robot is addressed by its webhook key alone (no access token). WeCom allows 20
messages a minute per robot: the 21st answers 45009, which the call policy reports as
retryable after the minute; 93000 (unknown key) is final and means the robot is broken.
"""

from __future__ import annotations

from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from wedraw.wechat.policy import CallPolicy, CallResult
from wedraw.wechat.transport import Timeout, call_timeout

WEBHOOK_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
UPLOAD_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/upload_media"


class GroupRobot:
    def __init__(self, key: str, http: requests.Session, policy: CallPolicy, timeout: Timeout):
        self.key = key
        self.http = http
        self.policy = policy
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"GroupRobot(key={self.key[:8]}…)"

    def _result(self, response: requests.Response) -> dict[str, Any]:
        try:
            response.raise_for_status()
        except requests.HTTPError:
            raise WeChatClientException(None, None, request=response.request, response=response) from None
        result = response.json()
        if int(result.get("errcode", 0)) != 0:
            raise WeChatClientException(
                int(result["errcode"]), result.get("errmsg", ""), request=response.request, response=response
            )
        return result

    def _run(self, fn, timeout: Timeout | None) -> CallResult:
        def attempt():
            with call_timeout(timeout):
                return fn()

        return self.policy.run(attempt, label=f"robot {self.key[:8]}")

    def send(self, message: dict[str, Any], *, timeout: Timeout | None = None) -> CallResult:
        """Send a message body as WeCom documents it: {"msgtype": "text", "text": {...}}."""
        return self._run(
            lambda: self._result(
                self.http.post(WEBHOOK_URL, params={"key": self.key}, json=message, timeout=self.timeout)
            ),
            timeout,
        )

    def send_text(
        self,
        content: str,
        *,
        mentioned_list: list[str] | None = None,
        mentioned_mobile_list: list[str] | None = None,
        timeout: Timeout | None = None,
    ) -> CallResult:
        text: dict[str, Any] = {"content": content}
        if mentioned_list:
            text["mentioned_list"] = mentioned_list
        if mentioned_mobile_list:
            text["mentioned_mobile_list"] = mentioned_mobile_list
        return self.send({"msgtype": "text", "text": text}, timeout=timeout)

    def send_markdown(self, content: str, *, timeout: Timeout | None = None) -> CallResult:
        return self.send({"msgtype": "markdown", "markdown": {"content": content}}, timeout=timeout)

    def upload_media(
        self, filename: str, data: bytes, media_type: str = "file", *, timeout: Timeout | None = None
    ) -> CallResult:
        """Upload a file (≤20 MB) or voice (≤2 MB); Ok.data holds the media_id for `send_file`."""
        return self._run(
            lambda: self._result(
                self.http.post(
                    UPLOAD_URL,
                    params={"key": self.key, "type": media_type},
                    files={"media": (filename, data)},
                    timeout=self.timeout,
                )
            ),
            timeout,
        )

    def send_file(self, media_id: str, *, timeout: Timeout | None = None) -> CallResult:
        return self.send({"msgtype": "file", "file": {"media_id": media_id}}, timeout=timeout)
