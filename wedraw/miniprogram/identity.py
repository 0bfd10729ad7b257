"""One member across channels: where the identity lives, the member key, member tokens, WeChat's encrypted data.

Where the identity lives (the decision)
---------------------------------------
- The **miniprogram service owns members** (`Member`): one row per person, with the
  Mini Program identities (`MpUser`: appid + openid + session_key) that log in as them,
  their profile, bound phone and subscribe-message grants. It issues member tokens.
- The **points mall owns points accounts**, keyed by the same **member key**, and never
  reads this service's tables. It learns the key of a member from the member token (claim
  `mkey`) and computes it for an Official Account fan (subscribe event) by the same rule.
- The **member key** is `unionid:<unionid>` whenever WeChat gives a unionid. WeChat gives
  the same unionid to one person in every app bound to the company's Open Platform account
  (the Official Account, the Mini Program, WeCom external contacts), so that is what links
  an Official Account fan, a Mini Program user and (later) a WeCom contact to one member and
  one points account. Without a unionid (an app not bound to the Open Platform) the person
  is known to that app only: `mp:<appid>:<openid>`, `oa:<appid>:<openid>`, `wecom:<corp>:<id>`.
- A key is never changed once given out: a member first seen without a unionid who later
  gets one keeps the old key (the unionid is recorded on the member; merging two accounts
  would be an operator's correction, not an automatic one).
- **Created once, never two**: unique constraints (`mp_members.member_key`,
  `mp_members.unionid`, `mp_users (app_id, openid)`; in the points mall
  `points_accounts.member_key`) and a get-or-create that inserts and, when a concurrent
  request won the race (a unique violation), reads the winner's row.
- Services talk by named task or internal route (`/internal/miniprogram/...`), never by
  importing each other; the key rule below is the contract (a test keeps the points mall's
  copy of it equal to this one).

Member tokens
-------------
A short-lived JWT signed with the platform's secret: `kind` "member", `aud` "wedraw-member",
`sub` the member id, `mkey` the member key, `appid`/`openid` of the Mini Program login and
`sid` "member-<id>-<token_version>" (disabling a member revokes that session id everywhere
through the shared revocation list, and bumps the version). `wedraw.core.auth` refuses it on
every admin route (403); admin tokens are refused on member routes (403).

WeChat's encrypted data (phone number)
--------------------------------------
AES-128-CBC, PKCS#7 padding; key = base64-decode(session_key) (16 bytes), iv =
base64-decode(iv), ciphertext = base64-decode(encryptedData); the plaintext is JSON whose
`watermark.appid` must be the Mini Program's appid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import timedelta

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask_jwt_extended import create_access_token

from wedraw.core.auth import MEMBER, MEMBER_AUDIENCE

CHANNELS = ("mp", "oa", "wecom")
DEFAULT_TOKEN_HOURS = 2


def member_key(unionid: str | None, channel: str, appid: str, openid: str) -> str:
    """The key naming one person across channels (see the module docstring)."""
    if unionid:
        return f"unionid:{unionid}"
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return f"{channel}:{appid}:{openid}"


def member_sid(member_id: int, token_version: int) -> str:
    return f"member-{member_id}-{token_version}"


def token_lifetime(settings) -> timedelta:
    raw = settings.extra.get("WEDRAW_MEMBER_TOKEN_HOURS") or ""
    hours = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_TOKEN_HOURS
    return timedelta(hours=hours)


def issue_member_token(settings, member, appid: str, openid: str) -> tuple[str, int]:
    """(token, seconds it lives) for a member logged in through one Mini Program."""
    lifetime = token_lifetime(settings)
    claims = {
        "kind": MEMBER,
        "aud": MEMBER_AUDIENCE,
        "mkey": member.member_key,
        "sid": member_sid(member.id, member.token_version),
        "appid": appid,
        "openid": openid,
    }
    if member.unionid:
        claims["unionid"] = member.unionid
    token = create_access_token(identity=str(member.id), additional_claims=claims, expires_delta=lifetime)
    return token, int(lifetime.total_seconds())


class DecryptError(ValueError):
    """WeChat's encrypted data could not be read with this session key."""


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError(f"{what} is not base64") from None


def decrypt_wechat_data(session_key: str, encrypted_data: str, iv: str, appid: str) -> dict:
    """The JSON WeChat encrypted for this user (getPhoneNumber, getUserInfo...), watermark checked."""
    key = _b64(session_key, "session_key")
    if len(key) != 16:
        raise DecryptError("the session key is not 16 bytes")
    iv_bytes = _b64(iv, "iv")
    if len(iv_bytes) != 16:
        raise DecryptError("iv is not 16 bytes")
    data = _b64(encrypted_data, "encryptedData")
    if not data or len(data) % 16:
        raise DecryptError("encryptedData is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv_bytes)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        payload = json.loads(plain.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        # Wrong key (the session_key changed since the data was encrypted) or tampered data.
        raise DecryptError("the data does not decrypt with this session key") from None
    if not isinstance(payload, dict):
        raise DecryptError("the decrypted data is not a JSON object")
    watermark = payload.get("watermark") or {}
    if watermark.get("appid") != appid:
        raise DecryptError("the data was encrypted for another Mini Program (watermark)")
    return payload


def phone_hash(settings, phone: str) -> str:
    """A keyed hash of a phone number: finds a member by number without storing it in clear."""
    key = hashlib.sha256(("wedraw-phone:" + settings.data_key).encode()).digest()
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()
