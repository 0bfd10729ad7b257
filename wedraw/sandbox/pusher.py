"""The callback pusher: WeChat calling the developer's server.

Builds the message XML, signs it, encrypts it as the account is configured (plain,
compatible or safe mode; WeCom always encrypts), POSTs it to the callback URL and
behaves as WeChat does: no answer within the timeout (5 s) → drop and retry, three
tries in all. Every attempt and the (decrypted) reply are recorded, and a valid
passive reply is "delivered" to the user through the outbox.
"""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

import requests
from defusedxml import ElementTree as SafeET

from wedraw.sandbox import wxcrypto

if TYPE_CHECKING:
    from wedraw.sandbox.world import World

DEFAULT_TIMEOUT = 5.0
DEFAULT_ATTEMPTS = 3
MODES = ("plain", "compatible", "safe")
REPLY_TYPES = ("text", "image", "voice", "video", "music", "news", "transfer_customer_service", "update_button")
MAX_RECORDS = 10_000


@dataclass
class PushTarget:
    """Where and how to push: an Official Account or a WeCom agent."""

    kind: str  # official | wecom
    app: str  # appid, or "corp_id/agent_id"
    url: str | None
    token: str
    aes_key: str
    receiver_id: str  # appid or corp id: the tail of every encrypted plaintext
    to_user: str  # ToUserName of the envelope: the account's gh_ id or the corp id
    mode: str = "safe"
    agent_id: int | None = None


@dataclass
class Attempt:
    number: int
    started_at: float
    elapsed_ms: float
    status_code: int | None = None
    error: str | None = None
    body: str | None = None


@dataclass
class PushRecord:
    id: int
    app: str
    kind: str
    mode: str
    url: str | None
    message: dict[str, Any]
    xml: str
    created_at: float
    status: str = "pending"  # pending | acked | replied | invalid_reply | http_error | no_answer | no_callback_url
    attempts: list[Attempt] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    reply_xml: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def user_sees_error(self) -> bool:
        """WeChat shows the user "该公众号暂时无法提供服务" for an answer it cannot use."""
        return self.kind == "official" and self.status in ("invalid_reply", "http_error", "no_answer")

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "app": self.app,
            "kind": self.kind,
            "mode": self.mode,
            "url": self.url,
            "message": self.message,
            "xml": self.xml,
            "created_at": self.created_at,
            "status": self.status,
            "attempts": [a.__dict__ for a in self.attempts],
            "reply": self.reply,
            "reply_xml": self.reply_xml,
            "error": self.error,
            "user_sees_error": self.user_sees_error,
            "done": self.done.is_set(),
        }


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: dict[str, Any], root: str = "xml") -> str:
    """WeChat's message XML: numbers bare, strings in CDATA, dicts nested, lists repeated as <item>."""
    parts = [f"<{root}>"]
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, dict):
            parts.append(build_xml(value, key))
        elif isinstance(value, list):
            parts.append(f"<{key}>" + "".join(build_xml(v, "item") for v in value) + f"</{key}>")
        elif isinstance(value, bool):
            parts.append(f"<{key}>{int(value)}</{key}>")
        elif isinstance(value, (int, float)):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}>{cdata(str(value))}</{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def _to_dict(element: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        out[child.tag] = _to_dict(child) if len(child) else (child.text or "")
    return out


def parse_xml(text: str | bytes) -> dict[str, Any]:
    return _to_dict(SafeET.fromstring(text, forbid_dtd=True))


class Pusher:
    """Pushes callbacks for one world; async pushes run on a small thread pool."""

    def __init__(self, world: World):
        self.world = world
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sandbox-push")
            return self._executor

    def shutdown(self) -> None:
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    def push(
        self,
        target: PushTarget,
        message: dict[str, Any],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        wait: bool = True,
    ) -> PushRecord:
        """Push one message; with wait=False it runs in the background (see `record.done`)."""
        if target.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if target.kind == "wecom":
            target.mode = "safe"
        with self.world.lock:
            record = PushRecord(
                id=self.world.next_id(),
                app=target.app,
                kind=target.kind,
                mode=target.mode,
                url=target.url,
                message=message,
                xml=build_xml(message),
                created_at=self.world.clock.now(),
            )
            self.world.pushes.append(record)
            del self.world.pushes[:-MAX_RECORDS]
        if not target.url:
            record.status = "no_callback_url"
            record.done.set()
        elif wait:
            self._run(target, record, timeout, attempts)
        else:
            self._pool().submit(self._run, target, record, timeout, attempts)
        return record

    def _run(self, target: PushTarget, record: PushRecord, timeout: float, attempts: int) -> None:
        try:
            with requests.Session() as http:
                http.trust_env = False  # callbacks go to local services: no proxy from the environment
                for number in range(1, max(1, attempts) + 1):
                    params, body = self._envelope(target, record)
                    started = time.monotonic()
                    attempt = Attempt(number=number, started_at=time.time(), elapsed_ms=0.0)
                    record.attempts.append(attempt)
                    try:
                        response = http.post(
                            target.url,
                            params=params,
                            data=body.encode(),
                            timeout=timeout,
                            headers={"Content-Type": "text/xml; charset=utf-8"},
                        )
                    except requests.RequestException as exc:  # no answer: WeChat drops it and tries again
                        attempt.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
                        attempt.error = type(exc).__name__
                        continue
                    attempt.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
                    attempt.status_code = response.status_code
                    attempt.body = response.content.decode("utf-8", errors="replace")[:8192]
                    self._judge(target, record, response.status_code, attempt.body)
                    return
                record.status = "no_answer"
                record.error = f"no answer within {timeout} s in {len(record.attempts)} attempts"
        except Exception as exc:  # the pusher must never die silently inside a pool thread
            record.status = "no_answer"
            record.error = f"{type(exc).__name__}: {exc}"
        finally:
            record.done.set()

    def _envelope(self, target: PushTarget, record: PushRecord) -> tuple[dict[str, str], str]:
        timestamp, nonce = str(int(self.world.clock.now())), secrets.token_hex(5)
        if target.kind == "wecom":
            encrypted = wxcrypto.encrypt(target.aes_key, target.receiver_id, record.xml.encode())
            params = {
                "msg_signature": wxcrypto.sha1_signature(target.token, timestamp, nonce, encrypted),
                "timestamp": timestamp,
                "nonce": nonce,
            }
            body = build_xml({"ToUserName": target.to_user, "AgentID": target.agent_id, "Encrypt": encrypted})
            return params, body
        params = {
            "signature": wxcrypto.sha1_signature(target.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        sender = record.message.get("FromUserName")
        if sender:
            params["openid"] = str(sender)
        if target.mode == "plain":
            return params, record.xml
        encrypted = wxcrypto.encrypt(target.aes_key, target.receiver_id, record.xml.encode())
        params.update(
            encrypt_type="aes", msg_signature=wxcrypto.sha1_signature(target.token, timestamp, nonce, encrypted)
        )
        if target.mode == "safe":
            return params, build_xml({"ToUserName": target.to_user, "Encrypt": encrypted})
        return params, build_xml({**record.message, "Encrypt": encrypted})

    def _judge(self, target: PushTarget, record: PushRecord, status: int, text: str) -> None:
        """Decide what WeChat makes of the developer's answer."""
        if status != 200:
            record.status, record.error = "http_error", f"HTTP {status}"
            return
        text = text.strip()
        if text in ("", "success"):
            record.status = "acked"
            return
        try:
            reply = parse_xml(text)
            if "Encrypt" in reply:
                if target.mode == "plain":
                    raise wxcrypto.ReplyError("encrypted reply to a plain-mode account")
                expected = wxcrypto.sha1_signature(
                    target.token, reply.get("TimeStamp", ""), reply.get("Nonce", ""), reply["Encrypt"]
                )
                if reply.get("MsgSignature") != expected:
                    raise wxcrypto.ReplyError("MsgSignature does not match")
                record.reply_xml = wxcrypto.decrypt(target.aes_key, target.receiver_id, reply["Encrypt"]).decode()
                reply = parse_xml(record.reply_xml)
            elif target.mode == "safe":
                raise wxcrypto.ReplyError("plaintext reply in safe mode")
            else:
                record.reply_xml = text
            self._check_reply(record, reply)
        except (wxcrypto.ReplyError, SafeET.ParseError, ValueError, UnicodeDecodeError) as exc:
            record.status, record.error = "invalid_reply", str(exc) or type(exc).__name__
            return
        record.reply, record.status = reply, "replied"
        with self.world.lock:
            self.world.deliver(record.app, "passive_reply", reply["ToUserName"], reply["MsgType"], reply)

    @staticmethod
    def _check_reply(record: PushRecord, reply: dict[str, Any]) -> None:
        missing = [k for k in ("ToUserName", "FromUserName", "CreateTime", "MsgType") if not reply.get(k)]
        if missing:
            raise wxcrypto.ReplyError(f"reply lacks {', '.join(missing)}")
        if reply["ToUserName"] != record.message.get("FromUserName"):
            raise wxcrypto.ReplyError("reply is not addressed to the sender of the message")
        if reply["MsgType"] not in REPLY_TYPES:
            raise wxcrypto.ReplyError(f"unknown reply MsgType {reply['MsgType']!r}")

    def verify_url(self, target: PushTarget, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The GET WeChat sends when a callback URL is saved: does the server echo correctly?"""
        if not target.url:
            return {"ok": False, "error": "no callback url"}
        timestamp, nonce, echo = str(int(self.world.clock.now())), secrets.token_hex(5), secrets.token_hex(8)
        if target.kind == "wecom":
            echostr = wxcrypto.encrypt(target.aes_key, target.receiver_id, echo.encode())
            params = {
                "msg_signature": wxcrypto.sha1_signature(target.token, timestamp, nonce, echostr),
                "timestamp": timestamp,
                "nonce": nonce,
                "echostr": echostr,
            }
        else:
            params = {
                "signature": wxcrypto.sha1_signature(target.token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "echostr": echo,
            }
        try:
            with requests.Session() as http:
                http.trust_env = False
                response = http.get(target.url, params=params, timeout=timeout)
        except requests.RequestException as exc:
            return {"ok": False, "error": type(exc).__name__}
        body = response.content.decode("utf-8", errors="replace")
        # WeCom wants the plaintext exactly: no quotes, BOM or newline.
        return {
            "ok": response.status_code == 200 and body == echo,
            "status_code": response.status_code,
            "expected": echo,
            "body": body[:512],
        }
