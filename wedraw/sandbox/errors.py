"""WeChat's error answers: always HTTP 200 with `{"errcode", "errmsg"}`.

The messages are WeChat's own English texts, so a client that logs or matches on them
sees what it would see in production. WeChat appends a request id (`rid`) to each
message; WeCom appends a hint and a link to its error lookup page.
"""

from __future__ import annotations

import secrets
import time

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40029: "invalid code",
    40032: "invalid openid list size",
    40035: "invalid args",
    40037: "invalid template_id",
    40050: "invalid chatid",
    40054: "invalid sub button url domain",
    40055: "invalid button url domain",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40096: "invalid external userid",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40163: "code been used",
    40226: "high risk user",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41008: "missing code",
    41009: "missing openid",
    41030: "invalid page",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43019: "require remove blacklist",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45056: "too many tags",
    45057: "can't delete the tag that has too many fans",
    45058: "can't modify sys tag",
    45059: "fans tag count over limit",
    45065: "clientmsgid exist",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    60111: "userid not found",
    60123: "invalid party id",
    81013: "user & party & tag all invalid",
    84061: "not exist external contact",
    86001: "invalid chatid",
    86003: "chatid not found",
    86004: "invalid chat name",
    86005: "invalid chat owner",
    86006: "chat member count out of range",
    86007: "invalid chat member",
    86215: "chatid exists",
    86216: "invalid chat member userid",
    93000: "invalid webhook url",
}


class WxError(Exception):
    """A WeChat error answer. `detail` refines the standard message (as WeChat's hints do)."""

    def __init__(self, errcode: int, detail: str | None = None, **extra):
        self.errcode = errcode
        self.detail = detail
        self.extra = extra
        super().__init__(f"{errcode} {self.message}")

    @property
    def message(self) -> str:
        base = ERRMSG.get(self.errcode, "error")
        return f"{base}: {self.detail}" if self.detail else base

    def body(self, host: str, client_ip: str | None = None) -> dict:
        now = int(time.time())
        if host == "wecom":
            hint = f"[{now}_{secrets.token_hex(4)}]"
            errmsg = (
                f"{self.message}, hint: {hint}, from ip: {client_ip or '127.0.0.1'}, "
                f"more info at https://open.work.weixin.qq.com/devtool/query?e={self.errcode}"
            )
        else:
            errmsg = f"{self.message} rid: {now:x}-{secrets.token_hex(4)}"
        return {"errcode": self.errcode, "errmsg": errmsg, **self.extra}
