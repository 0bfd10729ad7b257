"""Where a campaign's recipients come from: one `AudienceSource` per audience kind.

A source counts an audience (the wizard shows the size before sending) and pages through
it with a resumable cursor (a campaign's recipients are inserted page by page, so a
restarted start task continues where it stopped). Sources of people owned by other
services ask the owner's internal API; they never read its tables.

- `fans`: every subscribed fan of the sender's Official Account (Official Account service)
- `tag`:  the subscribed fans with one WeChat tag (Official Account service)
- `list`: an uploaded list of openids or WeCom userids (ours)
- `members`: Mini Program members by filter (miniprogram service), their openids in the sender's app
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from wedraw.core.errors import ApiError
from wedraw.core.internal import call_service
from wedraw.message_center.models import AudienceList, AudienceListItem, Sender, db

PAGE = 5000


@dataclass(frozen=True)
class Page:
    recipients: list[tuple[str, str | None]]  # (target, unionid)
    cursor: str | None  # where the next page starts; None after the last


class AudienceSource:
    kind: str
    # The channels' target kinds this source yields (openids of an Official Account, userids...).
    target_kind: str
    sender_kinds: tuple[str, ...]

    def describe(self, spec: dict) -> str:
        raise NotImplementedError

    def check(self, spec: dict, sender: Sender) -> None:
        """422 when the spec is incomplete or does not fit the sender."""

    def count(self, spec: dict, sender: Sender, settings) -> int:
        raise NotImplementedError

    def measure(self, spec: dict, sender: Sender, settings) -> tuple[int, dict]:
        """The audience's size now, and what the stored spec should also say for people to read."""
        return self.count(spec, sender, settings), {}

    def page(self, spec: dict, sender: Sender, cursor: str | None, settings) -> Page:
        raise NotImplementedError

    def pages(self, spec: dict, sender: Sender, cursor: str | None, settings) -> Iterator[Page]:
        while True:
            page = self.page(spec, sender, cursor, settings)
            yield page
            if page.cursor is None:
                return
            cursor = page.cursor


def _official(settings, method: str, path: str, **kwargs):
    """Ask the Official Account service; it being down is a 424 (the request depended on it)."""
    try:
        return call_service("wechat_official", method, path, settings=settings, caller="message_center", **kwargs)
    except ApiError as exc:
        if exc.code in (404, 409, 422):
            raise
        raise ApiError(
            424, "The Official Account service is unavailable; try again shortly.", "upstream_unavailable"
        ) from None


class OfficialFans(AudienceSource):
    kind = "fans"
    target_kind = "openid"
    sender_kinds = ("official_account",)
    internal_kind = "subscribed"

    def describe(self, spec: dict) -> str:
        return "all subscribed fans"

    def _params(self, spec: dict, sender: Sender) -> dict:
        return {"appid": sender.app_key, "kind": self.internal_kind}

    def count(self, spec, sender, settings) -> int:
        return int(
            _official(settings, "GET", "/internal/wechat/audience/count", params=self._params(spec, sender))["count"]
        )

    def page(self, spec, sender, cursor, settings) -> Page:
        params = {**self._params(spec, sender), "after": int(cursor or 0), "limit": PAGE}
        body = _official(settings, "GET", "/internal/wechat/audience", params=params, timeout=30)
        recipients = [(f["openid"], f.get("unionid")) for f in body["fans"]]
        return Page(recipients, str(body["next"]) if body.get("next") else None)


class OfficialTag(OfficialFans):
    kind = "tag"
    internal_kind = "tag"

    def describe(self, spec: dict) -> str:
        name = spec.get("tag_name")
        return (
            f"subscribed fans with tag {name} ({spec.get('tag_id')})"
            if name
            else f"subscribed fans with tag {spec.get('tag_id')}"
        )

    def measure(self, spec, sender, settings) -> tuple[int, dict]:
        found = _official(settings, "GET", "/internal/wechat/audience/count", params=self._params(spec, sender))
        return int(found["count"]), {"tag_name": found.get("tag_name")}

    def check(self, spec, sender) -> None:
        if spec.get("tag_id") is None:
            raise ApiError(
                422, "A tag audience needs tag_id (WeChat's tag id).", errors={"audience.tag_id": ["Required."]}
            )

    def _params(self, spec, sender) -> dict:
        return {**super()._params(spec, sender), "tag_id": int(spec["tag_id"])}


class UploadedList(AudienceSource):
    kind = "list"
    target_kind = "any"
    sender_kinds = ("official_account", "mini_program", "wecom_app")

    def describe(self, spec: dict) -> str:
        return f"uploaded list {spec.get('list_id')}"

    def _list(self, spec: dict) -> AudienceList:
        audience = db.session.get(AudienceList, int(spec.get("list_id") or 0))
        if audience is None:
            raise ApiError(
                422, f"No audience list {spec.get('list_id')}.", errors={"audience.list_id": ["Unknown list."]}
            )
        return audience

    def check(self, spec, sender) -> None:
        audience = self._list(spec)
        wanted = "userid" if sender.kind == "wecom_app" else "openid"
        if audience.target_kind != wanted:
            raise ApiError(
                422,
                f"List {audience.id} holds {audience.target_kind}s; a {sender.kind} sender sends to {wanted}s.",
                errors={"audience.list_id": [f"Needs a list of {wanted}s."]},
            )

    def count(self, spec, sender, settings) -> int:
        audience = self._list(spec)
        return db.session.execute(
            select(func.count()).select_from(AudienceListItem).where(AudienceListItem.list_id == audience.id)
        ).scalar_one()

    def page(self, spec, sender, cursor, settings) -> Page:
        audience = self._list(spec)
        rows = db.session.execute(
            select(AudienceListItem.id, AudienceListItem.target, AudienceListItem.unionid)
            .where(AudienceListItem.list_id == audience.id, AudienceListItem.id > int(cursor or 0))
            .order_by(AudienceListItem.id)
            .limit(PAGE)
        ).all()
        return Page([(r.target, r.unionid) for r in rows], str(rows[-1].id) if len(rows) == PAGE else None)


class MiniProgramMembers(AudienceSource):
    """Mini Program members by filter (the miniprogram service owns them): their openids in the sender's app."""

    kind = "members"
    target_kind = "openid"
    sender_kinds = ("mini_program",)

    def describe(self, spec: dict) -> str:
        conditions = ", ".join(f"{k}={v}" for k, v in sorted((spec.get("filter") or {}).items()))
        return f"Mini Program members ({conditions or 'all'})"

    def _params(self, spec: dict, sender: Sender) -> dict:
        params = {"appid": sender.app_key}
        for name, value in (spec.get("filter") or {}).items():
            params[name] = ("true" if value else "false") if isinstance(value, bool) else value
        return params

    def _call(self, settings, path: str, params: dict, **kwargs):
        try:
            return call_service(
                "miniprogram", "GET", path, params=params, settings=settings, caller="message_center", **kwargs
            )
        except ApiError as exc:
            if exc.code == 404:
                raise ApiError(
                    422,
                    f"The miniprogram service does not know the app {params['appid']}.",
                    errors={"sender_id": ["Not a Mini Program of the miniprogram service."]},
                ) from None
            if exc.code == 422:
                raise ApiError(422, exc.description, errors={"audience.filter": [exc.description]}) from None
            raise ApiError(
                424, "The Mini Program service is unavailable; try again shortly.", "upstream_unavailable"
            ) from None

    def count(self, spec, sender, settings) -> int:
        return int(self._call(settings, "/internal/miniprogram/audience/count", self._params(spec, sender))["count"])

    def page(self, spec, sender, cursor, settings) -> Page:
        params = {**self._params(spec, sender), "after": int(cursor or 0), "limit": PAGE}
        body = self._call(settings, "/internal/miniprogram/audience", params, timeout=30)
        recipients = [(m["openid"], m.get("unionid")) for m in body["members"]]
        return Page(recipients, str(body["next"]) if body.get("next") else None)


SOURCES: dict[str, AudienceSource] = {
    s.kind: s for s in (OfficialFans(), OfficialTag(), UploadedList(), MiniProgramMembers())
}


def source_for(spec: dict) -> AudienceSource:
    kind = (spec or {}).get("kind")
    if kind not in SOURCES:
        raise ApiError(
            422, f"Unknown audience kind {kind!r}.", errors={"audience.kind": [f"Must be one of {', '.join(SOURCES)}."]}
        )
    return SOURCES[kind]
