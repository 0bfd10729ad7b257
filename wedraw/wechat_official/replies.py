"""Auto-reply matching and passive reply XML (pure functions, no database).

Rules are tried in priority order (higher first, then older first): on subscribe the
subscribe rules; for a text message (or a menu CLICK's key) the keyword rules, exact,
contains or regex; when nothing matches, the default rule.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wedraw.wechat.callbacks import build_xml

TRIGGERS = ("subscribe", "keyword", "default")
MATCH_TYPES = ("exact", "contains", "regex")
REPLY_TYPES = ("text", "image", "news", "transfer_customer_service")
# WeChat: one article when answering a user's message, up to 8 for events.
MAX_ARTICLES = 8
# Admin regexes run on every text message: bounded pattern and input keep a bad one cheap.
MAX_PATTERN = 200
MAX_MATCH_INPUT = 2048


@dataclass(frozen=True)
class Rule:
    """What matching needs of an AutoReply row (so rules can be cached and tested without a database)."""

    id: int
    trigger: str
    match_type: str | None
    keywords: tuple[str, ...]
    priority: int
    reply_type: str
    content: str | None = None
    media_id: str | None = None
    articles: tuple[dict, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, row: Any) -> Rule:
        return cls(
            row.id,
            row.trigger,
            row.match_type,
            tuple(row.keywords),
            row.priority,
            row.reply_type,
            row.content,
            row.media_id,
            tuple(row.articles),
        )


def compile_keyword(pattern: str) -> re.Pattern:
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"at most {MAX_PATTERN} characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def keyword_matches(rule: Rule, text: str) -> bool:
    text = text.strip()[:MAX_MATCH_INPUT]
    for keyword in rule.keywords:
        if rule.match_type == "exact" and text.casefold() == keyword.strip().casefold():
            return True
        if rule.match_type == "contains" and keyword.casefold() in text.casefold():
            return True
        if rule.match_type == "regex" and compile_keyword(keyword).search(text):
            return True
    return False


def _ordered(rules: Iterable[Rule], trigger: str) -> list[Rule]:
    return sorted((r for r in rules if r.trigger == trigger), key=lambda r: (-r.priority, r.id))


def pick(rules: Iterable[Rule], *, event: str | None = None, text: str | None = None) -> Rule | None:
    """The rule that answers: a subscribe event, a text (or a click key), or anything else (default)."""
    rules = list(rules)
    if event == "subscribe":
        found = _ordered(rules, "subscribe")
        return found[0] if found else None
    if text is not None:
        for rule in _ordered(rules, "keyword"):
            if keyword_matches(rule, text):
                return rule
    found = _ordered(rules, "default")
    return found[0] if found else None


def reply_fields(
    rule: Rule, *, to_user: str, from_user: str, answering_message: bool, now: float | None = None
) -> dict[str, Any]:
    """The passive reply of `rule` as WeChat's reply fields (for build_xml)."""
    base: dict[str, Any] = {
        "ToUserName": to_user,
        "FromUserName": from_user,
        "CreateTime": int(time.time() if now is None else now),
    }
    if rule.reply_type == "text":
        return {**base, "MsgType": "text", "Content": rule.content or ""}
    if rule.reply_type == "image":
        return {**base, "MsgType": "image", "Image": {"MediaId": rule.media_id or ""}}
    if rule.reply_type == "news":
        articles = list(rule.articles)[: 1 if answering_message else MAX_ARTICLES]
        return {
            **base,
            "MsgType": "news",
            "ArticleCount": len(articles),
            "Articles": [
                {
                    "Title": a.get("title", ""),
                    "Description": a.get("description", ""),
                    "PicUrl": a.get("picurl", ""),
                    "Url": a.get("url", ""),
                }
                for a in articles
            ],
        }
    return {**base, "MsgType": "transfer_customer_service"}


def reply_xml(rule: Rule, message: Mapping[str, Any], now: float | None = None) -> str:
    """The passive reply to `message` (swapping sender and receiver)."""
    fields = reply_fields(
        rule,
        to_user=str(message.get("FromUserName", "")),
        from_user=str(message.get("ToUserName", "")),
        answering_message=message.get("MsgType") != "event",
        now=now,
    )
    return build_xml(fields)


def summary(rule: Rule) -> str:
    """A short text of what was answered, for the message log."""
    if rule.reply_type == "text":
        return rule.content or ""
    if rule.reply_type == "image":
        return f"[image] {rule.media_id or ''}"
    if rule.reply_type == "news":
        return "[news] " + " | ".join(a.get("title", "") for a in rule.articles)
    return "[transfer to customer service]"
