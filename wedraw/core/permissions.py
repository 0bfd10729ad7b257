"""The platform's permission catalogue and built-in roles.

Permissions are named `<area>:<thing>:<read|write>`. Every protected route declares one
of these; a test proves no route names a permission missing from this catalogue.
"""

from __future__ import annotations

AREAS = {
    "user": "User center",
    "wechat": "Official Account",
    "wecom": "WeCom",
    "miniprogram": "Mini Program",
    "points": "Points mall",
    "message": "Message center",
    "analytics": "Data analysis",
    "pii": "Personal data",
}

_THINGS: dict[str, dict[str, str]] = {
    "user": {"users": "admin users", "roles": "roles", "audit": "audit log", "sessions": "login log and sessions"},
    "wechat": {
        "accounts": "Official Accounts",
        "fans": "fans",
        "tags": "tags",
        "menus": "menus",
        "replies": "auto-replies",
        "qrcodes": "QR codes",
        "materials": "materials",
        "messages": "message log and customer-service messages",
    },
    "wecom": {
        "corp": "corp configuration",
        "contacts": "contacts",
        "groups": "customer groups and app chats",
        "robots": "group robots",
        "messages": "app messages",
    },
    "miniprogram": {"members": "members", "settings": "Mini Program settings"},
    "points": {
        "accounts": "points accounts and ledger",
        "rules": "earning rules",
        "products": "products and categories",
        "orders": "exchange orders",
    },
    "message": {
        "templates": "templates",
        "campaigns": "campaigns",
        "sends": "send log",
        "workers": "workers and queues",
    },
    "analytics": {"dashboard": "dashboard", "reports": "reports"},
}

PII_READ = "pii:personal:read"


def _catalogue() -> dict[str, str]:
    perms: dict[str, str] = {}
    for area, things in _THINGS.items():
        for thing, label in things.items():
            perms[f"{area}:{thing}:read"] = f"Read {label}"
            perms[f"{area}:{thing}:write"] = f"Change {label}"
    perms[PII_READ] = "See personal data (phone numbers, e-mail) unmasked"
    return perms


PERMISSIONS: dict[str, str] = _catalogue()

BUILTIN_ROLES: dict[str, dict] = {
    "super_admin": {"description": "Everything, including personal data", "permissions": sorted(PERMISSIONS)},
    "operator": {
        "description": "Runs the WeChat estate; cannot manage admin users or roles",
        "permissions": sorted(p for p in PERMISSIONS if not p.startswith("user:") and p != PII_READ)
        + ["user:audit:read"],
    },
    "read_only": {
        "description": "Reads everything it is granted, changes nothing",
        "permissions": sorted(p for p in PERMISSIONS if p.endswith(":read") and p != PII_READ),
    },
}


def describe(code: str) -> dict:
    return {"code": code, "area": code.split(":", 1)[0], "description": PERMISSIONS.get(code, code)}
