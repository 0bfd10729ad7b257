"""Encryption at rest for secrets kept in service databases (WeChat app secrets, tokens, AES keys).

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) under a key derived from
`settings.data_key` with HKDF, so the configured value can be any long random string.
`WEDRAW_DATA_KEY_PREVIOUS` (comma-separated old keys) keeps values written under a
retired key readable while they are re-encrypted; new values always use the current key.

    cipher = cipher_for(settings)
    stored = cipher.encrypt("app-secret")
    cipher.decrypt(stored) == "app-secret"
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"wedraw-data-key"
_INFO = b"wedraw fernet v1"


class DecryptionError(ValueError):
    """A stored value could not be decrypted (wrong or rotated-away data key, or tampering)."""


def derive_key(secret: str) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) derived from a configured secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


class DataCipher:
    def __init__(self, key: str, previous: Sequence[str] = ()):
        if not key:
            raise ValueError("a data key is required")
        self._fernet = MultiFernet([Fernet(derive_key(k)) for k in (key, *[p for p in previous if p])])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise DecryptionError("stored value cannot be decrypted with the configured data key") from None

    def rotate(self, token: str) -> str:
        """The same value re-encrypted under the current key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise DecryptionError("stored value cannot be decrypted with the configured data key") from None


_ciphers: dict[tuple, DataCipher] = {}
_lock = threading.Lock()


def cipher_for(settings) -> DataCipher:
    """The process's cipher for these settings (key derivation runs once per key)."""
    previous = tuple(p.strip() for p in (settings.extra.get("WEDRAW_DATA_KEY_PREVIOUS") or "").split(",") if p.strip())
    cache_key = (settings.data_key, previous)
    with _lock:
        cipher = _ciphers.get(cache_key)
        if cipher is None:
            cipher = _ciphers[cache_key] = DataCipher(settings.data_key, previous)
        return cipher
