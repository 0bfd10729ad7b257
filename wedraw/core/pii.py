"""Masking of personal fields for callers without the `pii:personal:read` permission."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email
    name, domain = email.split("@", 1)
    shown = name[:1] if len(name) <= 2 else name[:2]
    return f"{shown}***@{domain}"
