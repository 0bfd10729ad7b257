"""Callback signing and encryption as WeChat's servers do it.

Deliberately independent of `wedraw.wechat.callbacks`: this module is WeChat's side of
the wire. If both shared one implementation, a bug in it would make them agree with
each other and still disagree with WeChat; two implementations written from the
protocol description check each other in the round-trip tests.

Protocol: key = base64(EncodingAESKey + "="); IV = key[:16]; AES-256-CBC over
16 random bytes + big-endian uint32 length + message + receiver id (appid or corp id),
padded PKCS#7-style to a multiple of 32 bytes; the result is base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class ReplyError(ValueError):
    """A reply from the developer's server that WeChat would reject."""


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the parts sorted as strings and concatenated."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()  # noqa: S324 - the protocol


def _key(aes_key: str) -> bytes:
    key = base64.b64decode(aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def encrypt(aes_key: str, receiver_id: str, message: bytes, random16: bytes | None = None) -> str:
    key = _key(aes_key)
    body = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message + receiver_id.encode()
    pad = BLOCK - len(body) % BLOCK
    body += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def decrypt(aes_key: str, receiver_id: str, ciphertext: str) -> bytes:
    """Decrypt a developer's encrypted reply; raise ReplyError for anything WeChat would refuse."""
    key = _key(aes_key)
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except ValueError as exc:
        raise ReplyError("Encrypt is not base64") from exc
    if not raw or len(raw) % 16:
        raise ReplyError("ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise ReplyError("bad padding")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise ReplyError("plaintext too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length:
        raise ReplyError("declared length exceeds the plaintext")
    if tail.decode(errors="replace") != receiver_id:
        raise ReplyError(f"reply is for {tail.decode(errors='replace')!r}, not {receiver_id!r}")
    return message
