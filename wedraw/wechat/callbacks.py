"""Callback helpers shared by the Official Account and WeCom services.

- signatures: SHA-1 of the sorted parts, compared in constant time, with the timestamp
  inside ±300 s of our clock (wechatpy's `check_signature` does neither);
- encryption: AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16],
  plaintext = 16 random bytes + big-endian length + XML + receiver id (appid / corp id),
  PKCS#7 padding to 32-byte blocks; decryption checks padding, length and receiver;
- parsing with defusedxml (no DTDs, no entities: a callback body is untrusted input);
- a dedupe key, because WeChat retries a callback it thinks went unanswered.

`CallbackCodec` puts these together for one account's callback endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

SIGNATURE_WINDOW = 300
AES_BLOCK = 32
MAX_XML_BYTES = 256 * 1024


class CallbackError(ValueError):
    """A callback request we must refuse (answer 403/400 and let WeChat retry or give up)."""


class InvalidSignature(CallbackError):
    pass


class StaleTimestamp(CallbackError):
    pass


class DecryptError(CallbackError):
    pass


class BadXml(CallbackError):
    pass


def sha1_signature(*parts: str | int) -> str:
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()  # noqa: S324 - the protocol


def _same(expected: str, given: str | None) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").encode())


def check_timestamp(timestamp: str | int | None, *, now: float | None = None, window: int = SIGNATURE_WINDOW) -> int:
    """The timestamp as an int, if within `window` seconds of now (a replayed callback is not)."""
    try:
        value = int(str(timestamp))
    except ValueError:
        raise StaleTimestamp("timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - value) > window:
        raise StaleTimestamp(f"timestamp is {int(current - value)} s away from now")
    return value


def check_signature(
    token: str,
    signature: str | None,
    timestamp: str | None,
    nonce: str | None,
    *,
    now: float | None = None,
    window: int = SIGNATURE_WINDOW,
) -> None:
    """The plain `signature` of an Official Account callback (GET and POST)."""
    check_timestamp(timestamp, now=now, window=window)
    if not _same(sha1_signature(token, timestamp or "", nonce or ""), signature):
        raise InvalidSignature("signature does not match")


def check_msg_signature(
    token: str,
    msg_signature: str | None,
    timestamp: str | None,
    nonce: str | None,
    encrypted: str,
    *,
    now: float | None = None,
    window: int = SIGNATURE_WINDOW,
) -> None:
    """The `msg_signature` over the encrypted payload (safe/compatible mode and WeCom)."""
    check_timestamp(timestamp, now=now, window=window)
    if not _same(sha1_signature(token, timestamp or "", nonce or "", encrypted), msg_signature):
        raise InvalidSignature("msg_signature does not match")


class MessageCrypto:
    """Encrypt and decrypt callback payloads for one receiver (an appid or a corp id)."""

    def __init__(self, token: str, encoding_aes_key: str, receiver_id: str):
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("EncodingAESKey must be 43 base64 characters decoding to 32 bytes")
        self.token = token
        self.key = key
        self.receiver_id = receiver_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: bytes | str) -> str:
        data = message.encode() if isinstance(message, str) else message
        plain = os.urandom(16) + struct.pack(">I", len(data)) + data + self.receiver_id.encode()
        pad = AES_BLOCK - len(plain) % AES_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("payload is not base64") from None
        if not raw or len(raw) % 16:
            raise DecryptError("payload is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= AES_BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise DecryptError("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise DecryptError("payload too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receiver = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length:
            raise DecryptError("declared length exceeds the payload")
        if not hmac.compare_digest(receiver, self.receiver_id.encode()):
            raise DecryptError("payload is for another receiver id")
        return message

    def encrypted_reply(self, reply_xml: str, *, timestamp: str | None = None, nonce: str | None = None) -> str:
        """The safe-mode reply envelope: Encrypt, MsgSignature, TimeStamp, Nonce."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        encrypted = self.encrypt(reply_xml)
        return build_xml(
            {
                "Encrypt": encrypted,
                "MsgSignature": sha1_signature(self.token, timestamp, nonce, encrypted),
                "TimeStamp": int(timestamp),
                "Nonce": nonce,
            }
        )


# --------------------------------------------------------------------------- XML


def _element_value(element: Element) -> Any:
    if len(element) == 0:
        return element.text or ""
    out: dict[str, Any] = {}
    for child in element:
        value = _element_value(child)
        if child.tag in out:  # repeated children (e.g. <item>) become a list
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    return out


def parse_xml(data: bytes | str) -> dict[str, Any]:
    """A callback body as a dict of its elements; refuses DTDs, entities and oversized bodies."""
    if len(data) > MAX_XML_BYTES:
        raise BadXml("body too large")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise BadXml(f"not acceptable XML: {type(exc).__name__}") from None
    value = _element_value(root)
    if not isinstance(value, dict):
        raise BadXml("empty document")
    return value


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: Mapping[str, Any], root: str = "xml") -> str:
    """WeChat-style XML: numbers bare, text in CDATA, mappings nested, lists as repeated <item>."""
    out = [f"<{root}>"]
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            out.append(build_xml(value, key))
        elif isinstance(value, list):
            out.append(f"<{key}>" + "".join(build_xml(item, "item") for item in value) + f"</{key}>")
        elif isinstance(value, int) and not isinstance(value, bool):
            out.append(f"<{key}>{value}</{key}>")
        else:
            out.append(f"<{key}>{_cdata(str(value))}</{key}>")
    out.append(f"</{root}>")
    return "".join(out)


def text_reply(message: Mapping[str, Any], content: str, *, now: float | None = None) -> str:
    """A passive text reply to the sender of `message`."""
    return build_xml(
        {
            "ToUserName": message.get("FromUserName", ""),
            "FromUserName": message.get("ToUserName", ""),
            "CreateTime": int(time.time() if now is None else now),
            "MsgType": "text",
            "Content": content,
        }
    )


def dedupe_key(message: Mapping[str, Any]) -> str:
    """A key that is the same for WeChat's retries of one callback and differs between callbacks.

    Messages carry MsgId (job-finish events MsgID); other events are told apart by sender,
    time and event, plus the fields that distinguish two events of one user in one second
    (a menu key, a contact change's subject).
    """
    to = message.get("ToUserName", "")
    msg_id = message.get("MsgId") or message.get("MsgID")
    if msg_id:
        return f"{to}:msg:{msg_id}"
    key = f"{to}:event:{message.get('FromUserName', '')}:{message.get('CreateTime', '')}:{message.get('Event', '')}"
    extras = [
        f"{name}={message[name]}"
        for name in ("EventKey", "ChangeType", "UserID", "ExternalUserID", "ChatId", "Ticket", "AgentID")
        if message.get(name)
    ]
    if extras:
        key += ":" + hashlib.sha256("|".join(extras).encode()).hexdigest()[:16]
    return key


# --------------------------------------------------------------------------- one endpoint


@dataclass(frozen=True)
class Incoming:
    """A verified, decrypted, parsed callback."""

    message: dict[str, Any]
    xml: str
    mode: str  # plain | compatible | safe

    @property
    def encrypted(self) -> bool:
        return self.mode != "plain"

    @property
    def dedupe_key(self) -> str:
        return dedupe_key(self.message)


class CallbackCodec:
    """The callback endpoint of one Official Account (kind "official") or WeCom agent ("wecom").

    `verify_url(args)` answers WeChat's GET; `open(args, body)` checks and decrypts a POST;
    `seal(incoming, reply)` encrypts a passive reply when the callback came encrypted.
    """

    def __init__(
        self,
        kind: str,
        token: str,
        aes_key: str | None = None,
        receiver_id: str | None = None,
        *,
        require_encryption: bool = False,
        window: int = SIGNATURE_WINDOW,
        clock: Callable[[], float] = time.time,
    ):
        if kind not in ("official", "wecom"):
            raise ValueError("kind must be official or wecom")
        if (kind == "wecom" or require_encryption) and not (aes_key and receiver_id):
            raise ValueError("encrypted callbacks need an EncodingAESKey and a receiver id")
        self.kind = kind
        self.token = token
        self.crypto = MessageCrypto(token, aes_key, receiver_id) if aes_key and receiver_id else None
        self.require_encryption = require_encryption or kind == "wecom"
        self.window = window
        self.clock = clock

    def verify_url(self, args: Mapping[str, str]) -> str:
        """The exact body to answer a GET verification with."""
        now = self.clock()
        if self.kind == "wecom":
            echostr = args.get("echostr", "")
            check_msg_signature(
                self.token,
                args.get("msg_signature"),
                args.get("timestamp"),
                args.get("nonce"),
                echostr,
                now=now,
                window=self.window,
            )
            return self.crypto.decrypt(echostr).decode()
        check_signature(
            self.token, args.get("signature"), args.get("timestamp"), args.get("nonce"), now=now, window=self.window
        )
        return args.get("echostr", "")

    def open(self, args: Mapping[str, str], body: bytes | str) -> Incoming:
        now = self.clock()
        if self.kind == "official":
            check_signature(
                self.token, args.get("signature"), args.get("timestamp"), args.get("nonce"), now=now, window=self.window
            )
            if args.get("encrypt_type", "raw") != "aes":
                if self.require_encryption:
                    raise CallbackError("this account only accepts encrypted callbacks")
                xml = body.decode() if isinstance(body, bytes) else body
                return Incoming(parse_xml(xml), xml, "plain")
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise BadXml("no Encrypt element")
        if self.crypto is None:
            raise CallbackError("encrypted callback but no EncodingAESKey configured")
        check_msg_signature(
            self.token,
            args.get("msg_signature"),
            args.get("timestamp"),
            args.get("nonce"),
            encrypted,
            now=now,
            window=self.window,
        )
        xml = self.crypto.decrypt(encrypted).decode()
        # Compatible mode repeats the fields in plaintext beside Encrypt; only the signed copy counts.
        mode = "compatible" if self.kind == "official" and len(envelope) > 2 else "safe"
        return Incoming(parse_xml(xml), xml, mode)

    def seal(self, incoming: Incoming, reply_xml: str) -> str:
        """The body to answer with: the reply, encrypted if the callback was."""
        if not incoming.encrypted:
            return reply_xml
        return self.crypto.encrypted_reply(reply_xml, timestamp=str(int(self.clock())))
