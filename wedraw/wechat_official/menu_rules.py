"""The custom menu's rules, as WeChat's `menu/create` checks them (so nothing invalid is ever sent).

`menu_problems(buttons)` lists every broken rule as (path, message); the API answers 422
with them. Names and lengths are WeChat's: a top-level name at most 16 bytes, a
sub-button name at most 60 bytes (UTF-8, so a Chinese character is 3 bytes), keys at
most 128 bytes, URLs at most 1024 bytes.
"""

from __future__ import annotations

from typing import Any

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024

BUTTON_TYPES = (
    "click",
    "view",
    "miniprogram",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "article_id",
    "article_view_limited",
    "view_limited",
)
# Types whose events carry the button's key back to the callback.
KEYED_TYPES = (
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
)
BUTTON_FIELDS = ("name", "type", "key", "url", "appid", "pagepath", "media_id", "article_id")


def _bytes(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else 0


def _leaf_problems(button: dict, path: str, limit: int) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    name = button.get("name")
    if not name:
        problems.append((f"{path}.name", "Every button needs a name."))
    elif _bytes(name) > limit:
        level = "Top-level button" if limit == TOP_NAME_BYTES else "Sub-button"
        rule = f"{level} names are at most {limit} bytes (UTF-8); this one has {_bytes(name)}."
        problems.append((f"{path}.name", rule))
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        problems.append((f"{path}.type", f"Button type must be one of {', '.join(BUTTON_TYPES)}."))
        return problems
    if kind in KEYED_TYPES:
        key = button.get("key")
        if not key:
            problems.append((f"{path}.key", f"A {kind} button needs a key."))
        elif _bytes(key) > KEY_BYTES:
            problems.append((f"{path}.key", f"Button keys are at most {KEY_BYTES} bytes."))
    if kind in ("view", "miniprogram"):
        url = button.get("url")
        if not url:
            needs = "a url" if kind == "view" else "a url (shown by WeChat versions without Mini Programs)"
            problems.append((f"{path}.url", f"A {kind} button needs {needs}."))
        elif _bytes(url) > URL_BYTES:
            problems.append((f"{path}.url", f"Button URLs are at most {URL_BYTES} bytes."))
        elif not url.startswith(("http://", "https://")):
            problems.append((f"{path}.url", "Button URLs start with http:// or https://."))
    if kind == "miniprogram":
        for field in ("appid", "pagepath"):
            if not button.get(field):
                problems.append((f"{path}.{field}", f"A miniprogram button needs {field}."))
    if kind in ("media_id", "view_limited") and not button.get("media_id"):
        problems.append((f"{path}.media_id", f"A {kind} button needs a media_id."))
    if kind in ("article_id", "article_view_limited") and not button.get("article_id"):
        problems.append((f"{path}.article_id", f"An {kind} button needs an article_id."))
    return problems


def menu_problems(buttons: list[dict]) -> list[tuple[str, str]]:
    """Every rule the menu breaks, as (field path, rule); empty when WeChat would accept it."""
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        count = len(buttons) if isinstance(buttons, list) else 0
        return [("button", f"A menu has 1 to {MAX_BUTTONS} top-level buttons; this one has {count}.")]
    problems: list[tuple[str, str]] = []
    for i, button in enumerate(buttons):
        path = f"button[{i}]"
        subs = button.get("sub_button") or []
        if not subs:
            problems.extend(_leaf_problems(button, path, TOP_NAME_BYTES))
            continue
        name = button.get("name")
        if not name:
            problems.append((f"{path}.name", "Every button needs a name."))
        elif _bytes(name) > TOP_NAME_BYTES:
            problems.append(
                (
                    f"{path}.name",
                    f"Top-level button names are at most {TOP_NAME_BYTES} bytes (UTF-8); this one has {_bytes(name)}.",
                )
            )
        if len(subs) > MAX_SUB_BUTTONS:
            problems.append(
                (f"{path}.sub_button", f"A button has at most {MAX_SUB_BUTTONS} sub-buttons; this one has {len(subs)}.")
            )
        for j, sub in enumerate(subs):
            problems.extend(_leaf_problems(sub, f"{path}.sub_button[{j}]", SUB_NAME_BYTES))
    return problems


def to_wechat(buttons: list[dict]) -> dict:
    """The `menu/create` body: only the fields WeChat knows, none empty."""

    def leaf(button: dict) -> dict:
        return {k: button[k] for k in BUTTON_FIELDS if button.get(k) not in (None, "")}

    out = []
    for button in buttons:
        subs = button.get("sub_button") or []
        if subs:
            out.append({"name": button["name"], "sub_button": [leaf(s) for s in subs]})
        else:
            out.append(leaf(button))
    return {"button": out}


def from_wechat(menu: dict | None) -> list[dict]:
    """Buttons of a menu WeChat returned (`menu/get`), in the editor's shape."""
    buttons = []
    for button in (menu or {}).get("button", []):
        subs = button.get("sub_button")
        if isinstance(subs, dict):  # menu/get wraps them: {"sub_button": {"list": [...]}}
            subs = subs.get("list", [])
        entry = {k: button[k] for k in BUTTON_FIELDS if button.get(k) not in (None, "")}
        if subs:
            entry["sub_button"] = [{k: s[k] for k in BUTTON_FIELDS if s.get(k) not in (None, "")} for s in subs]
        buttons.append(entry)
    return buttons
