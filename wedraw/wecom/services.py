"""WeCom use cases shared by the rest of the service: corps and apps, their WeCom clients, the check.

WeCom is reached only through `wedraw.wechat` (shared token, call policy). A console request
uses a short policy (one quick retry, 5 s timeout); tasks use the default one. WeCom's
answers become API errors here: a final refusal is 409 with code `wecom_<errcode>` and the
problem in plain words; WeCom unreachable or busy is 424 `wecom_unavailable`.

Which secret reaches which API: the contacts secret (通讯录同步) reads the whole organisation;
the customer-contact secret (客户联系) reads customers and customer groups; an app's secret
sends app messages and owns app chats, and stands in for the other two when they are not
configured (it then sees only the app's visible range).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from wedraw.core.crypto import cipher_for
from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.core.pagination import paginate
from wedraw.wechat import CallPolicy, Final, WeComApp, WeComAppConfig, wecom_app
from wedraw.wechat.callbacks import CallbackCodec, MessageCrypto
from wedraw.wecom.models import App, Corp, db

QUEUE = "wecom"
INTERACTIVE_POLICY = CallPolicy(max_retries=1, backoff=0.05, backoff_cap=0.5)
INTERACTIVE_TIMEOUT = 5.0
BACKGROUND_POLICY = CallPolicy()
BACKGROUND_TIMEOUT = 15.0
# A callback must answer fast, broker or not: publishing gets one quick retry.
HAND_ON_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The pseudo agent ids of the corp-level secrets (they are not apps): labels in logs and metrics.
CONTACTS_AGENT = 0
CUSTOMER_AGENT = 0

# WeCom's errcodes an operator meets when configuring a corp, in plain words.
PLAIN_WORDS: dict[int, tuple[str, str]] = {
    60020: (
        "WeCom refused the call from this server's IP address (not a trusted IP).",
        "Add this server's public IP to the app's trusted IPs (应用管理 → 企业可信IP) in the WeCom admin console.",
    ),
    48002: (
        "This secret is not allowed to call the API (permission missing).",
        "Grant the permission in the admin console: read access for the contacts secret (通讯录同步 → 权限), "
        "or the app's access to the customer-contact API (客户联系 → 可调用接口的应用).",
    ),
    60011: (
        "The app may not see this part of the organisation (outside its visible range).",
        "Add the departments or members to the app's visible range (应用管理 → 可见范围).",
    ),
    40001: (
        "WeCom does not accept this secret.",
        "Copy the secret again from the admin console (it changes when it is reset).",
    ),
    40013: ("WeCom does not know this corp id.", "The corp id is on 我的企业 → 企业信息 (it starts with ww)."),
    40056: ("WeCom does not know this agent id in the corp.", "Check the AgentId on the app's page in 应用管理."),
    40091: ("WeCom does not accept this secret.", "Copy the secret again from the admin console."),
    301002: (
        "This secret may not call the API (it belongs to another kind of app).",
        "Use the contacts secret (通讯录同步) for contacts, the customer-contact secret for customers.",
    ),
    45009: ("WeCom's call frequency limit was reached.", "Wait a minute and try again."),
    84061: ("The member has no customers.", ""),
}


def _settings():
    return current_app.config["WEDRAW_SETTINGS"]


def _cipher():
    return cipher_for(_settings())


def hint(value: str | None) -> str | None:
    if not value:
        return None
    return "****" + value[-4:] if len(value) > 8 else "****"


def commit(conflict: str | None = None) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if conflict is None:
            raise
        raise ApiError(409, conflict, "conflict") from None


def dialect() -> str:
    return db.session.get_bind().dialect.name


# ---------------------------------------------------------------- WeCom results


def plain_words(errcode: int | None, meaning: str) -> tuple[str, str]:
    """(problem, advice) for a WeCom errcode."""
    if errcode in PLAIN_WORDS:
        return PLAIN_WORDS[errcode]
    if errcode is None:
        return (f"WeCom could not be reached or answered badly ({meaning}).", "Try again in a minute.")
    return (f"WeCom answered {errcode}: {meaning}.", "")


def wecom_error(result, action: str) -> ApiError:
    """The API error for a failed WeCom call (Final → 409, Retryable → 424)."""
    if isinstance(result, Final):
        problem, advice = plain_words(result.errcode, result.meaning)
        code = f"wecom_{result.errcode}" if result.errcode is not None else "wecom_error"
        detail = f" ({result.errmsg.split(',')[0]})" if result.errmsg and result.errcode not in PLAIN_WORDS else ""
        text = f"WeCom refused to {action}: {problem}{detail}" + (f" {advice}" if advice else "")
        return ApiError(409, f"{text} (errcode {result.errcode}).", code)
    return ApiError(
        424, f"WeCom could not {action} now ({result.meaning}); try again in a minute.", "wecom_unavailable"
    )


def ok_or_raise(result, action: str):
    if not result.ok:
        raise wecom_error(result, action)
    return result.data


# ---------------------------------------------------------------- clients


def _secret(value_enc: str | None) -> str | None:
    return _cipher().decrypt(value_enc) if value_enc else None


def _client(corp_id: str, agent_id: int, secret: str, background: bool, token=None, aes_key=None) -> WeComApp:
    return wecom_app(
        _settings(),
        WeComAppConfig(corp_id, agent_id, secret, token, aes_key),
        timeout=BACKGROUND_TIMEOUT if background else INTERACTIVE_TIMEOUT,
        policy=BACKGROUND_POLICY if background else INTERACTIVE_POLICY,
    )


def app_client(corp: Corp, app: App, *, background: bool = False) -> WeComApp:
    """The app's WeCom client (built once per process and credentials)."""
    return _client(corp.corp_id, app.agent_id, _secret(app.secret_enc), background)


def default_app(corp: Corp, app_id: int | None = None, *, field: str = "app_id") -> App:
    """The app a request names (by our id), or the corp's default (else its first enabled) app."""
    if app_id is not None:
        app = db.session.get(App, app_id)
        if app is None or app.corp_ref != corp.id:
            raise ApiError(422, f"No app {app_id} in this corp.", errors={field: ["Unknown app."]})
        if not app.enabled:
            raise ApiError(409, f"App {app.name} is disabled.", "app_disabled")
        return app
    apps = (
        db.session.execute(
            select(App)
            .where(App.corp_ref == corp.id, App.enabled.is_(True))
            .order_by(App.is_default.desc(), App.id)
            .limit(1)
        )
        .scalars()
        .all()
    )
    if not apps:
        raise ApiError(409, "This corp has no enabled app: add one (agent id and secret) first.", "no_app")
    return apps[0]


def contacts_client(corp: Corp, *, background: bool = False) -> tuple[WeComApp, str]:
    """The client that reads contacts and which secret it uses ("contacts" or "app <agent id>")."""
    if corp.contacts_secret_enc:
        return _client(corp.corp_id, CONTACTS_AGENT, _secret(corp.contacts_secret_enc), background), "contacts"
    app = default_app(corp)
    return app_client(corp, app, background=background), f"app {app.agent_id}"


def customer_client(corp: Corp, *, background: bool = False) -> tuple[WeComApp, str]:
    if corp.customer_secret_enc:
        return _client(corp.corp_id, CUSTOMER_AGENT, _secret(corp.customer_secret_enc), background), "customer"
    app = default_app(corp)
    return app_client(corp, app, background=background), f"app {app.agent_id}"


def app_credentials(corp: Corp, app: App) -> dict[str, Any]:
    """What the message center needs to send as the app (see internal_wecom in the message center)."""
    return {"corp_id": corp.corp_id, "agent_id": app.agent_id, "secret": _secret(app.secret_enc), "name": app.name}


# ---------------------------------------------------------------- corps


def _check_callback_keys(token: str | None, aes_key: str | None, receiver: str, prefix: str = "") -> None:
    if bool(token) != bool(aes_key):
        missing = f"{prefix}aes_key" if token else f"{prefix}token"
        raise ApiError(
            422,
            "A WeCom callback needs both its Token and its EncodingAESKey.",
            errors={missing: ["Required together with the other."]},
        )
    if aes_key:
        try:
            MessageCrypto(token, aes_key, receiver)
        except ValueError:
            raise ApiError(
                422,
                "The EncodingAESKey must be 43 characters of base64.",
                errors={f"{prefix}aes_key": ["Not an EncodingAESKey."]},
            ) from None


def _set_secret(obj, field: str, value: str | None) -> None:
    setattr(obj, f"{field}_enc", _cipher().encrypt(value) if value else None)
    setattr(obj, f"{field}_hint", hint(value) if value else None)


def bump_config(corp_id: int) -> None:
    """Tell every process's callback cache that the corp or one of its apps changed."""
    db.session.execute(update(Corp).where(Corp.id == corp_id).values(config_version=Corp.config_version + 1))


def list_corps(args: dict) -> dict:
    stmt = select(Corp).order_by(Corp.id)
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(or_(Corp.corp_id.like(like), Corp.name.like(like)))
    if args.get("enabled") is not None:
        stmt = stmt.where(Corp.enabled.is_(args["enabled"]))
    return paginate(db.session, stmt, args["page"], args["page_size"])


def get_corp(corp_ref: int) -> Corp:
    corp = db.session.get(Corp, corp_ref)
    if corp is None:
        raise ApiError(404, f"No WeCom corp {corp_ref}.")
    return corp


def create_corp(data: dict) -> Corp:
    """The corp and its apps; everything is checked before the corp is stored, so a bad app leaves no corp."""
    _check_callback_keys(data.get("contacts_token"), data.get("contacts_aes_key"), data["corp_id"], "contacts_")
    for app in data.get("apps") or []:
        _check_callback_keys(app.get("token"), app.get("aes_key"), data["corp_id"])
    corp = Corp(corp_id=data["corp_id"], name=data["name"], enabled=data.get("enabled", True))
    for field in ("contacts_secret", "customer_secret", "contacts_token", "contacts_aes_key"):
        _set_secret(corp, field, data.get(field))
    db.session.add(corp)
    commit(f"A corp with corp id {data['corp_id']} already exists.")
    for app in data.get("apps") or []:
        create_app(corp.id, app)
    return corp


def update_corp(corp_ref: int, data: dict) -> Corp:
    corp = get_corp(corp_ref)
    token = data.get("contacts_token", _secret(corp.contacts_token_enc))
    aes_key = data.get("contacts_aes_key", _secret(corp.contacts_aes_key_enc))
    _check_callback_keys(token, aes_key, corp.corp_id, "contacts_")
    for field in ("name", "enabled"):
        if field in data:
            setattr(corp, field, data[field])
    # A secret given as null (or "") is removed; an absent one is kept.
    for field in ("contacts_secret", "customer_secret", "contacts_token", "contacts_aes_key"):
        if field in data:
            _set_secret(corp, field, data[field])
    corp.updated_at = utcnow()
    corp.config_version += 1
    db.session.commit()
    return corp


def delete_corp(corp_ref: int) -> None:
    """Deletes the corp and everything stored for it (contacts, customers, events, app chats...)."""
    corp = get_corp(corp_ref)
    db.session.delete(corp)
    db.session.commit()


# ---------------------------------------------------------------- apps


def list_apps(corp_ref: int, page: int, page_size: int) -> dict:
    get_corp(corp_ref)
    stmt = select(App).where(App.corp_ref == corp_ref).order_by(App.agent_id)
    return paginate(db.session, stmt, page, page_size)


def get_app(corp_ref: int, app_id: int) -> App:
    app = db.session.get(App, app_id)
    if app is None or app.corp_ref != corp_ref:
        raise ApiError(404, f"No app {app_id} in corp {corp_ref}.")
    return app


def _only_default(corp_ref: int, app: App) -> None:
    if app.is_default:
        db.session.execute(
            update(App)
            .where(App.corp_ref == corp_ref, App.id != app.id, App.is_default.is_(True))
            .values(is_default=False)
        )


def create_app(corp_ref: int, data: dict) -> App:
    corp = get_corp(corp_ref)
    _check_callback_keys(data.get("token"), data.get("aes_key"), corp.corp_id)
    has_apps = db.session.execute(select(App.id).where(App.corp_ref == corp_ref).limit(1)).first() is not None
    app = App(
        corp_ref=corp_ref,
        agent_id=data["agent_id"],
        name=data["name"],
        is_default=data.get("is_default", not has_apps),
        enabled=data.get("enabled", True),
    )
    _set_secret(app, "secret", data["secret"])
    _set_secret(app, "token", data.get("token"))
    _set_secret(app, "aes_key", data.get("aes_key"))
    db.session.add(app)
    conflict = f"Agent {data['agent_id']} is already configured in this corp."
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, conflict, "conflict") from None
    _only_default(corp_ref, app)
    bump_config(corp_ref)
    commit(conflict)
    return app


def update_app(corp_ref: int, app_id: int, data: dict) -> App:
    corp = get_corp(corp_ref)
    app = get_app(corp_ref, app_id)
    token = data.get("token", _secret(app.token_enc))
    aes_key = data.get("aes_key", _secret(app.aes_key_enc))
    _check_callback_keys(token, aes_key, corp.corp_id)
    for field in ("name", "is_default", "enabled"):
        if field in data:
            setattr(app, field, data[field])
    if data.get("secret"):
        _set_secret(app, "secret", data["secret"])
    for field in ("token", "aes_key"):
        if field in data:
            _set_secret(app, field, data[field])
    app.updated_at = utcnow()
    _only_default(corp_ref, app)
    bump_config(corp_ref)
    db.session.commit()
    return app


def delete_app(corp_ref: int, app_id: int) -> None:
    app = get_app(corp_ref, app_id)
    db.session.delete(app)
    bump_config(corp_ref)
    db.session.commit()


# ---------------------------------------------------------------- check


def _token_step(client: WeComApp) -> Any:
    shared = client.api.shared_token

    def fetch() -> str:
        record = shared.record()
        return shared.refresh(stale=record.token if record else None)

    return client.policy.run(fetch, label=f"{client.name} check")


def _item(target: str, label: str, step: str, result=None, *, problem: str | None = None, detail: str | None = None):
    item: dict[str, Any] = {
        "target": target,
        "label": label,
        "step": step,
        "ok": problem is None and (result is None or result.ok),
        "errcode": None,
        "problem": problem,
        "advice": None,
        "detail": detail,
    }
    if result is not None and not result.ok:
        item["errcode"] = result.errcode
        item["problem"], advice = plain_words(result.errcode, result.meaning)
        item["advice"] = advice or None
    return item


def _check_secret(items: list, target: str, label: str, client: WeComApp, probe) -> None:
    """Fetch a token (secret, corp id, trusted IP), then one read that needs the secret's permission."""
    token = _token_step(client)
    items.append(_item(target, label, "token", token))
    if token.ok:
        probe(items, client)


def _probe_visibility(target: str, label: str):
    def probe(items: list, client: WeComApp) -> None:
        result = client.call(client.api.department.get)
        if not result.ok:
            items.append(_item(target, label, "visibility", result))
            return
        count = len(result.data or [])
        if count == 0:
            items.append(
                _item(
                    target,
                    label,
                    "visibility",
                    problem="The app's visible range is empty: it sees no department and no member.",
                )
            )
            items[-1]["advice"] = PLAIN_WORDS[60011][1]
        else:
            items.append(_item(target, label, "visibility", detail=f"sees {count} department(s)"))

    return probe


def _probe_customers(target: str, label: str):
    def probe(items: list, client: WeComApp) -> None:
        result = client.call(client.api.post, "externalcontact/groupchat/list", data={"status_filter": 0, "limit": 1})
        items.append(
            _item(target, label, "customers", result, detail="customer groups readable" if result.ok else None)
        )

    return probe


def check_corp(corp_ref: int) -> Corp:
    """Prove every configured secret: a token (corp id, secret, trusted IP), then what it is for
    (an app's visible range, contacts read access, the customer-contact API)."""
    corp = get_corp(corp_ref)
    items: list[dict] = []
    apps = db.session.execute(select(App).where(App.corp_ref == corp.id).order_by(App.agent_id)).scalars().all()
    for app in apps:
        if not app.enabled:
            continue
        label = f"{app.name} (agent {app.agent_id})"
        target = f"app:{app.agent_id}"
        _check_secret(items, target, label, app_client(corp, app), _probe_visibility(target, label))
    if corp.contacts_secret_enc:
        client = _client(corp.corp_id, CONTACTS_AGENT, _secret(corp.contacts_secret_enc), False)
        _check_secret(
            items, "contacts", "Contacts secret (通讯录同步)", client, _probe_visibility("contacts", "Contacts")
        )
    if corp.customer_secret_enc:
        client = _client(corp.corp_id, CUSTOMER_AGENT, _secret(corp.customer_secret_enc), False)
        _check_secret(
            items, "customer", "Customer-contact secret (客户联系)", client, _probe_customers("customer", "Customers")
        )
    elif any(a.enabled for a in apps):
        app = default_app(corp)
        label = f"{app.name} (agent {app.agent_id}) for customers"
        client = app_client(corp, app)
        _probe_customers(f"app:{app.agent_id}", label)(items, client)
    if not items:
        items.append(
            _item("corp", corp.name, "config", problem="Nothing to check: add an app (agent id and secret) first.")
        )
    now = utcnow()
    corp.last_check_at, corp.last_check_ok = now, all(i["ok"] for i in items)
    corp.last_check = {"ok": corp.last_check_ok, "checked_at": now.isoformat() + "Z", "items": items}
    db.session.commit()
    return corp


# ---------------------------------------------------------------- callback targets


class CallbackTarget:
    """What a callback endpoint needs, cached per process until the corp or its apps change."""

    def __init__(self, corp: Corp, receiver: str, codec: CallbackCodec):
        self.corp_ref = corp.id
        self.corp_id = corp.corp_id
        self.version = corp.config_version
        self.receiver = receiver
        self.codec = codec


_targets: dict[tuple[str, str], CallbackTarget] = {}
_targets_lock = threading.Lock()


def callback_target(corp_id: str, receiver: str) -> CallbackTarget:
    """The endpoint behind `/callback/<corp_id>/<agent id | contacts>`: 404 for an unknown or disabled one."""
    row = db.session.execute(select(Corp.id, Corp.config_version, Corp.enabled).where(Corp.corp_id == corp_id)).first()
    if row is None or not row.enabled:
        raise ApiError(404, "No enabled WeCom corp has this corp id.")
    key = (corp_id, receiver)
    with _targets_lock:
        target = _targets.get(key)
    if target is not None and target.corp_ref == row.id and target.version == row.config_version:
        return target
    corp = db.session.get(Corp, row.id)
    if receiver == "contacts":
        token, aes_key = _secret(corp.contacts_token_enc), _secret(corp.contacts_aes_key_enc)
    else:
        app = None
        if receiver.isdigit() and len(receiver) <= 10:
            app = db.session.execute(
                select(App).where(App.corp_ref == corp.id, App.agent_id == int(receiver))
            ).scalar_one_or_none()
        if app is None or not app.enabled:
            raise ApiError(404, "No enabled app of this corp has this agent id.")
        token, aes_key = _secret(app.token_enc), _secret(app.aes_key_enc)
    if not (token and aes_key):
        raise ApiError(404, "This endpoint has no callback configured (Token and EncodingAESKey).")
    target = CallbackTarget(corp, receiver, CallbackCodec("wecom", token, aes_key, corp.corp_id))
    with _targets_lock:
        _targets[key] = target
    return target


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RetryLater(Exception):
    """WeCom was busy or unreachable: the task retries after `countdown` seconds."""

    def __init__(self, message: str, countdown: float):
        super().__init__(message)
        self.countdown = countdown


class SyncFailed(Exception):
    """WeCom refused for good (a configuration problem): the job fails with this message."""


def fail_or_retry(result, what: str):
    """Raise SyncFailed for a final answer (in plain words), RetryLater for a passing one."""
    if isinstance(result, Final):
        problem, advice = plain_words(result.errcode, result.meaning)
        raise SyncFailed(f"{what}: errcode {result.errcode}: {problem} {advice}".strip())
    raise RetryLater(f"{what}: {result.meaning}", result.retry_after or 30)
